"""A 300-file commit: files read in full or summarised, LLM calls, tokens sent; against one budget-bound call.

A real git repository and the local OpenAI-compatible server (which answers map calls with one summary per
file shown). "Before" is what a single call within the same budget reads: the first source files that fit.

    python bench/large_diff.py [--source 120] [--vendored 100] [--lockfiles 80]
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from digest.analysis import budget  # noqa: E402
from digest.analysis.llm import LLMAnalyser, LLMConfig  # noqa: E402
from digest.service import DigestService  # noqa: E402
from digest.sources.git import GitSource, describe_clone  # noqa: E402
from storage.db import open_db  # noqa: E402
from tests.gitrepo import GitRepo  # noqa: E402
from tests.servers.openai import OpenAIServer  # noqa: E402


def answer(request: dict) -> str:
    user = request["messages"][1]["content"]
    if "summarise part" in request["messages"][0]["content"]:
        paths = re.findall(r"^### (\S+)", user, re.M)
        return json.dumps({"summaries": [{"path": p, "summary": "reworks its request handlers"} for p in paths]})
    return json.dumps({"change_type": "refactor", "importance": "high", "importance_reason": "touches every handler",
                       "summary": "Reworks the request handlers.", "impact_scope": [], "breaking_changes": [],
                       "insights": {"architecture": "", "performance": "", "security": "", "maintainability": ""},
                       "risks": [], "suggestions": []})


def handlers(i: int) -> str:
    return "".join(f"def handler_{i}_{j}(request):\n    return request.value + {j}\n" for j in range(8 + i % 40))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--source", type=int, default=120)
    ap.add_argument("--vendored", type=int, default=100)
    ap.add_argument("--lockfiles", type=int, default=80)
    ap.add_argument("--budget", type=int, default=24000, help="diff tokens of a deep analysis (LLMConfig.deep_budget)")
    args = ap.parse_args()
    files: dict[str, str | bytes | None] = {f"python/pkg{i // 10}/mod{i}.py": handlers(i) for i in range(args.source)}
    files |= {f"third_party/lib{i}/gen.c": "int x;\n" * 50 for i in range(args.vendored)}
    files |= {f"web/app{i}/package-lock.json": '{"lockfileVersion": 3}\n' * 30 for i in range(args.lockfiles)}
    total = len(files)
    with tempfile.TemporaryDirectory() as tmp, OpenAIServer(responder=answer) as server:
        repo = GitRepo(Path(tmp) / "repo")
        sha = repo.commit("refactor: rework every handler", files, datetime(2026, 1, 11, 3, tzinfo=timezone.utc))
        config = LLMConfig(base_url=server.url + "/v1", api_key="test-key", model="test-model", max_retries=0,
                           deep_budget=args.budget)
        service = DigestService(open_db(Path(tmp) / "b.db"), GitSource, LLMAnalyser(config))
        report = service.analyze(describe_clone(repo.path, "bench/repo"), sha)
        before = budget.select(report.commit, config.deep_budget)
        sent = sum(budget.estimate_tokens(m["content"]) for r in server.requests for m in r["messages"])
        a = report.analysis
        cov = a.diff_coverage
        assert a.source == "llm", a.note
        if cov is None:
            print(f"the whole diff fits the budget: {len(a.read_files)} files read in one call")
            return
        source_seen = set(a.read_files)
        for r in server.requests[:-1]:
            source_seen |= set(re.findall(r"^### (\S+)", r["messages"][1]["content"], re.M))
        source_seen = {p for p in source_seen if p.startswith("python/")}
        print(f"files={total} (source {args.source}, vendored {args.vendored}, lockfiles {args.lockfiles}), "
              f"deep budget {config.deep_budget} tokens, map budget {config.map_budget}")
        print(f"before: one call reads {len(before.read_files)} files in full, "
              f"{sum(1 for s in before.skipped if s.reason in ('budget', 'clipped'))} source files unread or clipped")
        print(f"now   : read {cov.read}/{cov.files} in full, {cov.summarised} summarised "
              f"({cov.generated} generated or lockfiles, listed), {cov.condensed} condensed")
        print(f"source files the LLM saw (in full or in a map call): {len(source_seen)}/{args.source}")
        print(f"LLM calls: {cov.calls} (bound 1 + ceil({total}/50) = {1 + math.ceil(total / 50)})")
        print(f"tokens sent: {sent} estimated ({a.tokens_in} as the server counted), answers {a.tokens_out}")


if __name__ == "__main__":
    main()
