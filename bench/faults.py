"""Faults: a 100-commit day with 0%, 10% and 30% of LLM calls failing (timeouts and 429s), and a full outage
followed by recovery and the backfill. Prints, from one run, the wall time against the fault-free run, the
analyses lost, the placeholders left after the backfill and the LLM calls per commit.

    .venv/bin/python bench/faults.py [--commits 100] [--latency 0.05] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_digest import DAY, answer, build  # noqa: E402
from digest.analysis.llm import LLMAnalyser, LLMConfig  # noqa: E402
from digest.service import DigestService  # noqa: E402
from digest.sources.git import GitSource, describe_clone  # noqa: E402
from storage import analyses as stored_analyses  # noqa: E402
from storage.db import open_db  # noqa: E402
from tests.servers.openai import Fault, OpenAIServer  # noqa: E402


def service(db_path: Path, server: OpenAIServer, concurrency: int) -> DigestService:
    llm = LLMAnalyser(LLMConfig(base_url=server.url + "/v1", api_key="test-key", model="test-model", timeout=0.5,
                                max_retries=2, breaker_pause=0.2))
    return DigestService(open_db(db_path), GitSource, llm, concurrency=concurrency)


def placeholders(digest) -> int:  # noqa: ANN001
    return sum(1 for e in digest.entries for a in (e.analysis, e.deep) if a is not None and a.source == "rules")


def run(repo, root: Path, name: str, server: OpenAIServer, args, *, rate: float = 0.0,  # noqa: ANN001
        outage: bool = False) -> tuple[float, int, int, int, int]:
    """(seconds, commits, placeholders after the digest, after the backfill, calls)."""
    server.requests.clear()
    if rate:
        server.random_faults(rate, 11, Fault("timeout", delay=1.0), Fault("status", status=429,
                                                                          headers={"Retry-After": "0"}))
    if outage:
        server.outage(Fault("status", status=503))
    svc = service(root / f"{name}.db", server, args.concurrency)
    ref = describe_clone(repo.path, "bench/repo")
    started = time.perf_counter()
    digest = svc.build_digest(ref, DAY, "UTC")
    seconds = time.perf_counter() - started
    before = placeholders(digest)
    server.random_faults(0, 0)
    server.outage(None)
    time.sleep(0.25)  # the breaker's pause: its probe may go through
    after = before
    for _ in range(3):  # what `bot.py backfill` does: retries due at once, passes while they make progress
        stored_analyses.make_due(svc.db, svc.clock())
        left = placeholders(svc.build_digest(ref, DAY, "UTC"))
        if left in (0, after):
            after = left
            break
        after = left
    return seconds, len(digest.entries), before, after, len(server.requests)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--commits", type=int, default=100)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--concurrency", type=int, default=8)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, OpenAIServer(responder=answer, latency=args.latency) as server:
        root = Path(tmp)
        repo = build(args.commits, root)
        base = None
        print(f"commits={args.commits} concurrency={args.concurrency} latency={args.latency}s "
              "(faults: timeouts after 0.5 s and 429s, seeded)")
        print("case            wall/fault-free  lost  placeholders: after digest  after backfill  calls/commit")
        for name, rate, outage in (("0% failing", 0.0, False), ("10% failing", 0.1, False),
                                   ("30% failing", 0.3, False), ("full outage", 0.0, True)):
            seconds, n, before, after, calls = run(repo, root, name.split()[0].replace("%", ""), server, args,
                                                   rate=rate, outage=outage)
            base = base or seconds
            lost = args.commits - n
            print(f"{name:<15} {seconds / base:>15.2f}  {lost:>4}  {before:>26}  {after:>14}  {calls / n:>12.2f}")


if __name__ == "__main__":
    main()
