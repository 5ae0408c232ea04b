"""The GitHub path: a digest of N commits through the local GitHub REST server with a round-trip latency,
with details fetched one at a time vs a few at once, and what a rebuild costs. Prints ratios from one run.

    python bench/bench_github.py [--commits 40] [--latency 0.1]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.models import RepoRef  # noqa: E402
from digest.service import DigestService  # noqa: E402
from digest.sources.github import GitHubClient, GitHubSource  # noqa: E402
from storage.db import open_db  # noqa: E402
from tests.gitrepo import GitRepo  # noqa: E402
from tests.servers.github import GitHubServer  # noqa: E402

DAY = date(2026, 1, 11)
REPO = RepoRef(name="bench/repo", web_url="https://github.com/bench/repo")


def digest(server: GitHubServer, db_path: Path, workers: int) -> tuple[float, GitHubClient]:
    client = GitHubClient(open_db(db_path), api_url=server.url, token="bench-token")

    def source_for(ref: RepoRef) -> GitHubSource:
        source = GitHubSource(ref, client)
        source.detail_workers = workers
        return source

    service = DigestService(client.db, source_for)
    started = time.perf_counter()
    service.build_digest(REPO, DAY, "UTC")
    return time.perf_counter() - started, client


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--commits", type=int, default=40)
    ap.add_argument("--latency", type=float, default=0.1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        repo = GitRepo(root / "repo")
        start = datetime(2026, 1, 11, tzinfo=timezone.utc)
        repo.bulk([(f"feat: module {i}", {f"src/m{i}.py": "def f():\n    return 1\n" * 20},
                    start + timedelta(minutes=10 * i)) for i in range(args.commits)])
        with GitHubServer({"bench/repo": repo.path}, latency=args.latency) as server:
            one, _ = digest(server, root / "one.db", 1)
            four, _ = digest(server, root / "four.db", GitHubSource.detail_workers)
            before = len(server.requests)
            again, client = digest(server, root / "four.db", GitHubSource.detail_workers)
            rebuild = server.requests[before:]
        print(f"commits={args.commits} GitHub round trip={args.latency}s (rules analysis)")
        print(f"details 1 at a time / {GitHubSource.detail_workers} at a time     : {one / four:.2f}x faster")
        print(f"rebuild / first digest                  : {again / four:.2f}")
        print(f"rebuild requests: {len(rebuild)} ({sum(r.status == 304 for r in rebuild)} answered 304, "
              f"{client.calls} downloaded)")


if __name__ == "__main__":
    main()
