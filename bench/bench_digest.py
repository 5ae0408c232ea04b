"""Digest wall time against the ideal ceil(N/C)·L, and the speed-up of concurrency, in one run.

A real git repository of N commits and the local OpenAI-compatible server with latency L per request; prints
ratios (these machines are shared and noisy, so absolute seconds mean little).

    python bench/bench_digest.py [--commits 40] [--latency 0.25] [--concurrency 8] [--high]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
import tracemalloc
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from digest.analysis.llm import LLMAnalyser, LLMConfig  # noqa: E402
from digest.service import DigestService  # noqa: E402
from digest.sources.git import GitSource, describe_clone  # noqa: E402
from storage.db import open_db  # noqa: E402
from tests.gitrepo import GitRepo  # noqa: E402
from tests.servers.openai import OpenAIServer  # noqa: E402

DAY = date(2026, 1, 11)


HIGH_EVERY = 5  # --high: one commit in five is high importance (src/m0.py, m5, ...) and gets a deep analysis


def answer(request: dict) -> str:
    user = request["messages"][1]["content"]
    deep = "commit_analysis_deep" in json.dumps(request.get("response_format", {})) \
        or "deep analysis" in request["messages"][0]["content"]
    high = HIGH and any(f"src/m{i}.py" in user for i in range(0, 10_000, HIGH_EVERY))
    data = {"change_type": "feature", "importance": "high" if high else "medium", "importance_reason": "bench",
            "summary": "A benchmark commit.", "impact_scope": [], "breaking_changes": []}
    if deep:
        data.update(insights={"architecture": "a", "performance": "p", "security": "", "maintainability": "m"},
                    risks=[{"point": "p", "description": "d", "consequence": "c", "mitigation": "m"}],
                    suggestions=["s"])
    return json.dumps(data)


HIGH = False


def build(commits: int, root: Path) -> GitRepo:
    repo = GitRepo(root / "repo")
    start = datetime(2026, 1, 11, tzinfo=timezone.utc)
    for i in range(commits):
        repo.commit(f"feat: module {i}", {f"src/m{i}.py": "def f():\n    return 1\n" * 20},
                    start + timedelta(minutes=10 * i))
    return repo


def timed_digest(repo: GitRepo, server: OpenAIServer, db_path: Path, concurrency: int) -> float:
    llm = LLMAnalyser(LLMConfig(base_url=server.url + "/v1", api_key="test-key", model="test-model", max_retries=0))
    service = DigestService(open_db(db_path), GitSource, llm, concurrency=concurrency)
    started = time.perf_counter()
    digest = service.build_digest(describe_clone(repo.path, "bench/repo"), DAY, "UTC")
    elapsed = time.perf_counter() - started
    assert digest.coverage.llm == len(digest.entries), "every analysis must come from the LLM"
    return elapsed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--commits", type=int, default=40)
    ap.add_argument("--latency", type=float, default=0.25)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--high", action="store_true", help="one commit in five is high (a deep call each)")
    args = ap.parse_args()
    global HIGH
    HIGH = args.high
    with tempfile.TemporaryDirectory() as tmp, OpenAIServer(responder=answer, latency=args.latency) as server:
        root = Path(tmp)
        repo = build(args.commits, root)
        calls = args.commits + (len(range(0, args.commits, HIGH_EVERY)) if args.high else 0)
        ideal = math.ceil(calls / args.concurrency) * args.latency
        concurrent = timed_digest(repo, server, root / "c.db", args.concurrency)
        tracemalloc.start()  # in a run of its own: tracing every allocation slows the run it traces
        timed_digest(repo, server, root / "m.db", args.concurrency)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        serial = timed_digest(repo, server, root / "s.db", 1)
        rebuild_started = time.perf_counter()
        timed_digest(repo, server, root / "c.db", args.concurrency)
        rebuild = time.perf_counter() - rebuild_started
        print(f"commits={args.commits} concurrency={args.concurrency} latency={args.latency}s")
        print(f"LLM calls (brief + deep)            : {calls}")
        print(f"digest / ideal ceil(calls/C)*L      : {concurrent / ideal:.2f}  (1.00 is perfect)")
        print(f"speed-up concurrency {args.concurrency} vs 1          : {serial / concurrent:.2f}x "
              f"(at most {args.concurrency})")
        print(f"rebuild (all stored) / first digest : {rebuild / concurrent:.3f}  (no LLM call on rebuild)")
        print(f"max requests in flight              : {server.max_in_flight}")
        print(f"peak traced memory per commit       : {peak / args.commits / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
