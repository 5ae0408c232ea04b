"""Whole-diff coverage: condensed deletions and renames, then map calls and one combining call, within a bound."""

from __future__ import annotations

import json
import math
import re
from datetime import date

from digest.analysis import budget
from digest.analysis.llm import LLMAnalyser, LLMConfig
from core.models import FileChange
from digest.render import text
from tests.conftest import clone_ref, git_service, utc
from tests.servers.openai import OpenAIServer
from tests.test_analysis import change, commit
from tests.test_secrets import map_or_answer

DAY = date(2026, 1, 11)


def source(i: int, lines: int = 60) -> str:
    return "".join(f"def handler_{i}_{j}(request):\n    return request.value + {j}\n" for j in range(lines // 2))


def test_deletion_only_hunks_become_one_line_naming_what_they_remove():
    patch = ("@@ -1,4 +1,0 @@\n-def old_api(x):\n-    return x\n-class Legacy:\n-    pass\n"
             "@@ -20,2 +16,3 @@\n context\n-a = 1\n+a = 2\n+b = 3\n")
    out = budget.condense_patch(patch)
    assert "[4 lines deleted: old_api, Legacy]" in out and "+b = 3" in out and "-def old_api" not in out


def test_removed_files_and_pure_renames_are_one_line():
    removed = FileChange("src/old.py", "removed", 0, 300, "@@ -1,300 +0,0 @@\n" + "-def gone():\n" * 300)
    moved = FileChange("src/new.py", "renamed", 0, 0, "", previous_path="src/was.py")
    assert budget.condense_file(removed)[0].patch == "[file deleted: 300 lines: gone]"
    assert budget.condense_file(moved)[0].patch == "[renamed from src/was.py, content unchanged]"


def test_a_300_file_plan_covers_every_source_file_within_the_call_bound():
    files = [change(f"src/pkg{i // 10}/m{i}.py", 60, patch="@@ -0,0 +1,60 @@\n" + "\n".join(
        f"+line {j} of module {i}" for j in range(60))) for i in range(120)]
    files += [change(f"vendor/lib{i}/x.js", 400) for i in range(100)] + [change(f"a{i}/package-lock.json", 900)
                                                                        for i in range(80)]
    plan = budget.plan(commit("huge", *files), 6000, 6000)
    assert plan.calls <= 1 + math.ceil(300 / 50)
    summarised = {p for c in plan.chunks for p in c.paths}
    read = set(plan.selection.read_files)
    assert read | summarised == {f.path for f in files[:120]} and not read & summarised
    assert plan.generated == 180 and plan.summarised == len(summarised) + 180
    for chunk in plan.chunks:  # each map call fits its budget, files of a directory together
        assert budget.estimate_tokens(chunk.text) <= 6000 + 50 * len(chunk.paths)
        assert chunk.paths == sorted(chunk.paths)


def test_a_300_file_commit_is_analysed_from_all_its_source_files(repo, db):
    files: dict[str, str] = {f"python/pkg{i // 10}/mod{i}.py": source(i) for i in range(120)}
    files |= {f"third_party/lib{i}/gen.c": "int x;\n" * 50 for i in range(100)}
    files |= {f"web/app{i}/package-lock.json": '{"lockfileVersion": 3}\n' * 30 for i in range(80)}
    sha = repo.commit("feat: rework every handler", files, utc(2026, 1, 11, 3, 0))
    with OpenAIServer(responder=map_or_answer) as server:
        llm = LLMAnalyser(LLMConfig(base_url=server.url + "/v1", api_key="test-key", model="test-model",
                                    max_retries=0))
        report = git_service(db, llm).analyze(clone_ref(repo), sha)
        requests = list(server.requests)
    a = report.analysis
    assert a.source == "llm" and a.diff_coverage is not None
    cov = a.diff_coverage
    assert cov.files == 300 and cov.generated == 180 and cov.read + cov.summarised == 300
    assert cov.calls == len(requests) <= 1 + math.ceil(300 / 50)
    maps = [r for r in requests if "summarise part" in r["messages"][0]["content"]]
    assert len(maps) == cov.calls - 1 >= 1
    shown_in_maps = {p for r in maps for p in re.findall(r"^### (\S+)", r["messages"][1]["content"], re.M)}
    final = requests[-1]["messages"][1]["content"]
    for i in range(120):  # every source file is read in full by the last call, or summarised for it
        path = f"python/pkg{i // 10}/mod{i}.py"
        assert path in shown_in_maps or f"### {path}" in final
    assert "Summaries of the files not shown above" in final
    assert a.tokens_in >= sum(len(json.dumps(r["messages"])) for r in requests) // 5  # every call is counted
    line = " ".join(text.render_report(report).split())
    assert f"Read {cov.read}/300 files in full, {cov.summarised} summarised: 180 generated files or lockfiles" in line
    assert f"({cov.calls} LLM calls)" in line


def test_a_diff_that_fits_once_condensed_takes_one_call(repo, db):
    repo.commit("base", {"src/big.py": source(1, 2000), "src/keep.py": "x = 1\n"}, utc(2026, 1, 10, 3, 0))
    sha = repo.commit("chore: drop the big module", {"src/big.py": None, "src/keep.py": "x = 2\n"},
                      utc(2026, 1, 11, 3, 0))
    with OpenAIServer(responder=map_or_answer) as server:
        llm = LLMAnalyser(LLMConfig(base_url=server.url + "/v1", api_key="test-key", model="test-model",
                                    max_retries=0, deep_budget=3000))
        report = git_service(db, llm).analyze(clone_ref(repo), sha)
        assert len(server.requests) == 1
        assert "[file deleted: 2000 lines: handler_1_0, handler_1_1" in server.requests[0]["messages"][1]["content"]
    assert report.analysis.diff_coverage.condensed == 1 and report.analysis.diff_coverage.calls == 1


def test_the_large_diff_benchmark_runs():
    import subprocess
    import sys

    from tests.conftest import ROOT
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "large_diff.py"), "--source", "30", "--vendored", "5",
                          "--lockfiles", "5", "--budget", "3000"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "source files the LLM saw (in full or in a map call): 30/30" in out.stdout
