"""Issue 8 measured: a generated day of 100 commits with 25 merges of same-day branches, digested as before
(every merge analysed from its diff against the first parent) and as now (a merge with nothing of its own is
told through its commits). Prints LLM calls, LLM input tokens and breaking-change lines shown, before and after.

Both runs read the same git clone through the local OpenAI-compatible server. "Before" is the engine with its
source told that no merge brings anything in (a wrapper of our own CommitSource interface), which is exactly
how merges were handled before.

    python bench/merges.py [--branches 25] [--commits-per-branch 3] [--removals 5]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from collections.abc import Sequence
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from digest.analysis.llm import LLMAnalyser, LLMConfig  # noqa: E402
from core.models import Commit, Digest  # noqa: E402
from digest.render import text as render_text  # noqa: E402
from digest.service import DigestService  # noqa: E402
from digest.sources.git import GitSource, describe_clone  # noqa: E402
from storage.db import open_db  # noqa: E402
from tests.gitrepo import GitRepo  # noqa: E402
from tests.servers.openai import OpenAIServer  # noqa: E402

DAY = date(2026, 1, 11)


def answer(request: dict) -> str:
    """A model that reports a removed public function as breaking, in its own words for a merge."""
    user = request["messages"][1]["content"]
    merge = "(merge commit" in user
    removed = re.findall(r"^-def (remove_me_\d+)\(", user, flags=re.M)
    breaking = [f"Removes `{n}()`" if merge else f"public `{n}` removed" for n in removed]
    data: dict[str, Any] = {"change_type": "refactor", "importance": "high" if breaking else "low",
                            "importance_reason": "bench", "summary": "A benchmark change.", "impact_scope": [],
                            "breaking_changes": breaking}
    if "deep analysis" in request["messages"][0]["content"]:
        data.update({"insights": {"architecture": "", "performance": "", "security": "", "maintainability": ""},
                     "risks": [], "suggestions": []})
    return json.dumps(data)


def build(root: Path, branches: int, per_branch: int, removals: int) -> GitRepo:
    repo = GitRepo(root / "repo")
    api = "".join(f"def remove_me_{i}():\n    return {i}\n\n\n" + "# spacer\n" * 8 for i in range(removals))
    repo.commit("Initial import", {"pkg/api.py": api}, datetime(2026, 1, 10, 12, tzinfo=timezone.utc))
    when = datetime(2026, 1, 11, 0, 5, tzinfo=timezone.utc)
    for b in range(branches):
        name = f"feature-{b}"
        repo.git("checkout", "-q", "-b", name)
        for k in range(per_branch):
            when += timedelta(minutes=2)
            files = {f"pkg/feature_{b}/part_{k}.py": "".join(f"def step_{k}_{j}(x):\n    return x + {j}\n"
                                                              for j in range(30))}
            if k == 1 and b < removals:
                api = api.replace(f"def remove_me_{b}():\n    return {b}\n\n\n", "")
                files["pkg/api.py"] = api
            repo.commit(f"feature {b}: part {k}", files, when)
        repo.git("checkout", "-q", "main")
        when += timedelta(minutes=2)
        repo.merge(name, f"Merge pull request #{600 + b} from octo/{name}", when)
    return repo


class BeforeIssue8:
    """The source as the engine saw it before issue 8: no merge brings anything in, so every merge is read whole."""

    def __init__(self, source: GitSource) -> None:
        self.source = source
        self.repo = source.repo
        self.detail_workers = source.detail_workers

    def __getattr__(self, name: str) -> Any:
        return getattr(self.source, name)

    def merged_commits(self, merge: Commit, listed: Sequence[Commit]) -> tuple[str, ...]:
        return ()


def run(repo: GitRepo, db_path: Path, before: bool) -> tuple[Digest, int, int, int]:
    with OpenAIServer(responder=answer) as server:
        llm = LLMAnalyser(LLMConfig(base_url=server.url + "/v1", api_key="test-key", model="test-model",
                                    max_retries=0))
        db = open_db(db_path)
        service = DigestService(db, (lambda r: BeforeIssue8(GitSource(r))) if before else GitSource, llm,
                                concurrency=8)
        digest = service.build_digest(describe_clone(repo.path, "bench/merges"), DAY, "UTC")
        calls = len(server.requests)
    usage = next(iter(db.query("SELECT count(*) AS n, sum(tokens_in) AS t FROM llm_usage WHERE ok = 1")))
    shown = render_text.render_digest(digest)
    lines = [line for line in shown.splitlines() if "💥" in line and "are listed under" not in line]
    return digest, calls, usage["t"] or 0, len(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--branches", type=int, default=25)
    ap.add_argument("--commits-per-branch", type=int, default=3)
    ap.add_argument("--removals", type=int, default=5, help="branches whose second commit removes a public function")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        repo = build(root, args.branches, args.commits_per_branch, args.removals)
        old, old_calls, old_tokens, old_lines = run(repo, root / "before.db", before=True)
        new, new_calls, new_tokens, new_lines = run(repo, root / "after.db", before=False)
        merges = old.stats.merges
        merge_calls_before = sum(1 for e in old.entries if e.commit.is_merge) + sum(
            1 for e in old.entries if e.commit.is_merge and e.deep)
        merge_calls_after = sum(1 for e in new.entries if e.commit.is_merge and e.analysed) + sum(
            1 for e in new.entries if e.commit.is_merge and e.deep)
        print(f"commits={old.stats.total} merges={merges} (branches of {args.commits_per_branch} same-day commits,"
              f" {args.removals} removing a public function)")
        print(f"LLM calls                     : before {old_calls:4d}   after {new_calls:4d}   "
              f"({new_calls / old_calls:.2f}x)")
        print(f"  of them for merges          : before {merge_calls_before:4d}   after {merge_calls_after:4d}")
        print(f"LLM input tokens              : before {old_tokens:6d} after {new_tokens:6d} "
              f"({new_tokens / old_tokens:.2f}x)")
        print(f"breaking-change lines shown   : before {old_lines:4d}   after {new_lines:4d}   "
              f"(distinct breaking changes: {new.stats.breaking})")


if __name__ == "__main__":
    main()
