"""Issue 14 measured: a 31-day range of stored days answers in under a second.

Builds a real git clone with `--per-day` commits on each of 31 days, digests every day once with the offline rules
(as the daily schedule would have), then times the range read back (`digest/range_build.py`) and rolled up
(`digest/rollup.py`), cold (a new service) and warm. Prints the figures and the ratio to the 1-second target.

    python bench/ranges.py [--per-day 40] [--days 31]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.ranges import DayRange  # noqa: E402
from digest.range_build import digests_of  # noqa: E402
from digest.rollup import roll_up  # noqa: E402
from digest.service import DigestService  # noqa: E402
from digest.sources.git import GitSource, describe_clone  # noqa: E402
from storage.db import open_db  # noqa: E402
from tests.gitrepo import GitRepo  # noqa: E402

FIRST = date(2026, 1, 1)
TARGET_S = 1.0


def history(root: Path, days: int, per_day: int) -> GitRepo:
    repo = GitRepo(root / "repo")
    commits = []
    for d in range(days):
        start = datetime.combine(FIRST + timedelta(days=d), datetime.min.time(), tzinfo=timezone.utc)
        for i in range(per_day):
            area = ("python/sglang/srt/layers/attention", "python/sglang/srt/managers", "docs", "sgl-kernel/csrc")[i % 4]
            kind = ("fix", "feat", "docs", "perf", "refactor")[i % 5]
            commits.append((f"{kind}: change {d}-{i} in {area.rsplit('/', 1)[-1]} (#{10000 + d * per_day + i})",
                            {f"{area}/mod_{i % 9}.py": f"# day {d} change {i}\n" + "x = 1\n" * (i % 7 + 1)},
                            start + timedelta(minutes=20 * i + 1)))
    repo.bulk(commits)
    return repo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-day", type=int, default=40)
    parser.add_argument("--days", type=int, default=31)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        repo = history(root, args.days, args.per_day)
        ref = describe_clone(repo.path, "sgl-project/sglang")
        db = open_db(root / "radar.db")
        clock = datetime.combine(FIRST + timedelta(days=args.days + 1), datetime.min.time(), tzinfo=timezone.utc)

        def service() -> DigestService:
            return DigestService(db, lambda r: GitSource(r), None, clock=lambda: clock)

        span = DayRange(FIRST, FIRST + timedelta(days=args.days - 1))
        started = time.perf_counter()
        built = digests_of(service(), ref, span, "UTC", "en")
        build_s = time.perf_counter() - started
        timings = []
        for label, svc in (("cold", service()), ("warm", None)):
            svc = svc or service()
            started = time.perf_counter()
            stored = digests_of(svc, ref, span, "UTC", "en", progress=lambda *p: sys.exit(f"rebuilt {p}"))
            rolled = roll_up(ref.name, span, "UTC", "en", stored[0].branch, stored)
            timings.append((label, time.perf_counter() - started))
        print(f"{args.days} days x {args.per_day} commits = {sum(d.stats.total for d in built)} commits; "
              f"first build (rules) {build_s:.1f} s")
        print(f"roll-up: {rolled.total.total} commits, {len(rolled.areas)} areas")
        for label, seconds in timings:
            print(f"range of stored days, {label}: {seconds * 1000:.0f} ms = {seconds / TARGET_S:.2f}x the 1 s target "
                  f"({'PASS' if seconds < TARGET_S else 'FAIL'})")


if __name__ == "__main__":
    main()
