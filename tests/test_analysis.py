"""The rules analyser, the diff budget and the token estimate: plain input, plain output."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from digest.analysis import budget, rules
from digest.analysis.llm import parse_answer
from core.models import Commit, FileChange

WHEN = datetime(2026, 1, 11, tzinfo=timezone.utc)


def commit(title: str, *files: FileChange, message: str = "") -> Commit:
    return Commit(repo="o/r", sha="a" * 40, title=title, message=message or title, author="A", committed_at=WHEN,
                  files=files, files_total=len(files), additions=sum(f.additions for f in files),
                  deletions=sum(f.deletions for f in files))


def change(path: str, added: int = 10, deleted: int = 0, patch: str | None = None, **kw) -> FileChange:
    return FileChange(path=path, status=kw.pop("status", "modified"), additions=added, deletions=deleted,
                      patch=patch if patch is not None else "\n".join(["@@ -1 +1 @@"] + ["+x"] * added), **kw)


@pytest.mark.parametrize("title, files, kind, level", [
    ("[CI] reapply max-parallel (#16906)", [change(".github/workflows/pr.yml", 5, 3)], "ci", "low"),
    ("[Diffusion] Docs for Diffusers backend", [change("docs/cli.md", 80)], "docs", "low"),
    ("[Tiny] fix hicache comparison", [change("python/sglang/srt/hicache.py", 1, 1)], "fix", "low"),
    ("[BugFix] fix launch failure", [change("python/sglang/srt/mxfp4.py", 30, 10)], "fix", "medium"),
    ("[Feature] Support JIT set kv cache", [change("python/sglang/jit/kvcache.py", 300)], "feature", "high"),
    ("feat(gateway): redis backend", [change(f"gw/src/m{i}.rs", 30) for i in range(16)], "feature", "high"),
    ("Bump torch to 2.9", [change("pyproject.toml", 1, 1)], "build", "medium"),
    ("fix: CVE-2026-1234 path traversal", [change("src/files.py", 3, 1)], "fix", "high"),
    ("Revert \"something\"", [change("src/a.py", 5, 5)], "revert", "medium"),
    ("update tests", [change("tests/test_a.py", 50)], "test", "low"),
])
def test_rules_type_and_importance_with_a_reason(title, files, kind, level):
    a = rules.analyse(commit(title, *files))
    assert (a.change_type, a.importance) == (kind, level)
    assert a.importance_reason and a.source == "rules" and a.summary


def test_rules_find_breaking_changes_in_the_diff():
    patch = "\n".join(["@@ -1,5 +1,2 @@", '-    parser.add_argument("--load-balance-method", choices=["x"])',
                       '-def dispatch_old(req):', '-    return os.environ.get("SGLANG_OLD_FLAG")',
                       '+    parser.add_argument("--enable-x")', "+def dispatch(req):"])
    a = rules.analyse(commit("[dpc]: unify DP controller", change("python/sglang/srt/server_args.py", 2, 3, patch)),
                      "zh", "deep")
    assert a.importance == "high"
    assert any("--load-balance-method" in b for b in a.breaking_changes)
    assert any("dispatch_old" in b for b in a.breaking_changes)
    assert any("SGLANG_OLD_FLAG" in b for b in a.breaking_changes)
    assert a.risks and a.risks[0].point == "破坏性变更" and a.insights is not None


def test_summary_keeps_whole_sentences_and_drops_trailers():
    body = ("Add Redis support.\n\nThis adds a Redis history backend. " + "It is long. " * 60
            + "\n\nSigned-off-by: A <a@x>")
    a = rules.analyse(commit("Add Redis support (#16300)", change("src/redis.py", 50), message=body))
    assert "Signed-off-by" not in a.summary and "(#16300)" not in a.summary
    assert a.summary.rstrip().endswith(".") and "It is long. It" in a.summary
    assert len(a.summary) < 500


def test_token_estimate_counts_cjk_separately():
    assert budget.estimate_tokens("中文字符") == 4
    assert budget.estimate_tokens("a" * 35) == 10
    assert budget.estimate_tokens("中" * 10 + "b" * 7) == 12


def test_budget_reads_source_first_and_records_what_it_skipped():
    big = change("src/core.py", 3000)
    files = [change("package-lock.json", 5000), change("docs/a.md", 10), change("tests/test_core.py", 20), big,
             change("assets/logo.png", 0, 0, binary=True, patch=None),
             FileChange("src/huge.py", "modified", 9, 9, None, note="patch not provided by GitHub (too large)")]
    files[4] = FileChange("assets/logo.png", "added", 0, 0, None, binary=True)
    sel = budget.select(commit("x", *files), 2000)
    assert sel.text.index("### src/core.py") < sel.text.index("### tests/test_core.py") < sel.text.index("### docs/a.md")
    reasons = {s.path: s.reason for s in sel.skipped}
    assert reasons == {"package-lock.json": "generated", "assets/logo.png": "binary", "src/huge.py": "unavailable",
                       "src/core.py": "clipped"}
    assert "more lines of this file not shown" in sel.text and sel.tokens <= 2000
    assert sel.read_files == ["tests/test_core.py", "docs/a.md"]


def test_a_3mb_diff_is_bounded():
    huge = change("src/gen.py", 100_000, 0, "\n".join(["@@ -0,0 +1,100000 @@"] + ["+value = 'padding text'"] * 100_000))
    sel = budget.select(commit("big", huge), 6000)
    assert budget.estimate_tokens(sel.text) <= 6000 and sel.skipped[0].reason == "clipped"


def test_parse_answer_rejects_what_is_not_a_valid_object():
    good = ('{"change_type":"fix","importance":"low","importance_reason":"r","summary":"s","impact_scope":[],'
            '"breaking_changes":[]}')
    assert parse_answer(f"<think>x</think>```json\n{good}\n```", "brief").change_type == "fix"
    for bad in ("", "no json here", '{"change_type": "fix"', good.replace('"low"', '"urgent"')):
        with pytest.raises(ValueError):
            parse_answer(bad, "brief")
    with pytest.raises(ValueError):
        parse_answer(good, "deep")  # a deep answer must carry insights, risks and suggestions


def test_images_are_assets_not_source():
    a = rules.analyse(commit("Update logo", change("assets/logo.png", 0, 0, patch=None, binary=True)))
    assert a.importance == "low" and "asset" in a.importance_reason


@pytest.mark.parametrize("path, kind", [
    ("python/sglang/srt/managers/scheduler.py", "source"), ("test/srt/test_x.py", "test"), ("docs/a.md", "docs"),
    (".github/workflows/pr.yml", "ci"), (".ci/run", "ci"), (".gitignore", "build"), ("pyproject.toml", "build"),
    ("uv.lock", "generated"), ("third_party/x/y.c", "generated"), ("assets/logo.png", "asset"),
])
def test_file_kinds(path, kind):
    from digest.analysis.paths import file_kind

    assert file_kind(path) == kind
