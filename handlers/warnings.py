"""WARNING lines for refused requests, at most one per cause a minute: a flood of forged requests cannot fill the
log, and the next line says how many were left out. Causes are fixed texts chosen by the caller, never request
content, so the table stays small and nothing an attacker sent reaches the log."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

EVERY = 60.0  # seconds between two lines of one cause


@dataclass
class RateLimitedWarnings:
    logger: logging.Logger
    every: float = EVERY
    clock: Callable[[], float] = time.monotonic
    _last: dict[str, float] = field(default_factory=dict)
    _left_out: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def warn(self, cause: str) -> bool:
        """Log `cause` unless it was logged less than `every` seconds ago; whether a line was written."""
        with self._lock:
            now = self.clock()
            last = self._last.get(cause)
            if last is not None and now - last < self.every:
                self._left_out[cause] = self._left_out.get(cause, 0) + 1
                return False
            self._last[cause] = now
            left_out = self._left_out.pop(cause, 0)
        if left_out:
            self.logger.warning("%s (and %d more since the last such line)", cause, left_out)
        else:
            self.logger.warning("%s", cause)
        return True
