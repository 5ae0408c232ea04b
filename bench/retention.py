"""Retention: a year of a busy repository (90 commits a day, 8 files, 48 KB of diff per commit: a 94-commit day of
sglang stored 4.5 MB of patches) written into a real SQLite file, the retention job run after each day as `bot.py
run` does. Prints the file's size every quarter, against the patches written, from one run.

    .venv/bin/python bench/retention.py [--days 365] [--commits 90] [--patch-kb 48]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from storage import retention  # noqa: E402
from storage.db import open_db  # noqa: E402
from tests.busyyear import busy_year  # noqa: E402


def size(path: Path) -> float:
    return sum(os.path.getsize(f"{path}{end}") for end in ("", "-wal") if os.path.exists(f"{path}{end}")) / 1e6


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--days", type=int, default=365)
    ap.add_argument("--commits", type=int, default=90)
    ap.add_argument("--patch-kb", type=float, default=48)
    args = ap.parse_args()
    keep = retention.Retention()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "year.db"
        db = open_db(path)
        written = 0.0
        started = time.perf_counter()
        print(f"{args.commits} commits a day, {args.patch_kb:g} KB of diff each; kept: patches {keep.patch_days} days,"
              f" events {keep.event_days}, cached answers {keep.http_cache_days}")
        print("day   patches written  file")
        for first in range(0, args.days, 91):
            days = min(91, args.days - first)
            written += busy_year(db, days=days, commits=args.commits, patch_bytes=int(args.patch_kb * 1000),
                                 keep=keep, first_day=first, seed=first) / 1e6
            print(f"{first + days:>3}   {written:>10.0f} MB  {size(path):>6.0f} MB")
        print(f"a year: {written:.0f} MB of patches written, the file {size(path):.0f} MB"
              f" ({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
