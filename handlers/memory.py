"""Free C heap pages handed back to the system. Diffs are large strings, many alive at once while digests are
built; glibc keeps the pages they freed, so the bot's RSS kept growing while its Python allocations did not
(bench/soak.py --tracemalloc: Python's heap shrank by 10 MB while RSS grew by 126 MB)."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys


def trim() -> bool:
    """malloc_trim(0) where the C library is glibc; False elsewhere (nothing to do)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.malloc_trim(0))
    except (OSError, AttributeError):  # musl and others have no malloc_trim
        return False
