"""The README is tested: its set-up commands are the ones CI runs, it documents every option, command and chat example,\nand its links to docs/ lead somewhere (the variables: tests/test_env_example.py)."""

from __future__ import annotations

import re
import subprocess
import sys

from tests.conftest import ROOT
from tests.test_cli import run

README = (ROOT / "README.md").read_text(encoding="utf-8")


def first_block() -> list[str]:
    return re.search(r"```sh\n(.*?)```", README, re.S).group(1).strip().splitlines()


def test_the_readme_opens_with_the_two_set_up_commands_and_ci_runs_the_second():
    main_job, tests = first_block()
    assert main_job.endswith("bot.py digest --git . --date latest") and "requirements.txt" in main_job
    assert tests.endswith("-m pytest -q")
    assert tests in (ROOT / ".ci" / "run").read_text(encoding="utf-8")


def test_the_main_job_runs_on_embedded_defaults(tmp_path):
    """The first command, on this checkout: no token, no LLM, the rules, a SQLite file, the terminal."""
    out = run("digest", "--git", str(ROOT), "--date", "latest", "--db", str(tmp_path / "radar.db"), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert re.search(r"\d+ commits \| 🔴 high \d+ \| 🟡 medium \d+ \| 🟢 low \d+", out.stdout)
    assert "commits analysed by offline rules" in out.stdout and (tmp_path / "radar.db").exists()


def test_every_option_is_documented():
    """The README names every option; docs/cli.md, the command line's reference, explains each."""
    reference = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    for command in ("digest", "analyze", "run", "post", "backfill", "doctor", "prune"):
        options = set(re.findall(r"(--[a-z][a-z-]+)", run(command, "--help").stdout)) - {"--help"}
        for page, text in (("README.md", README), ("docs/cli.md", reference)):
            missing = {o for o in options if not re.search(rf"`{o}\b", text)}
            assert not missing, f"{command} options missing from {page}: {missing}"


def test_every_command_is_in_the_readme():
    listed = re.search(r"\{([a-z,]+)\}", run("--help").stdout).group(1).split(",")
    assert "doctor" in listed
    missing = [c for c in listed if f"python bot.py {c}" not in README]
    assert not missing, f"commands missing from the README: {missing}"


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_link_between_the_readme_and_docs_leads_somewhere():
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    assert len(pages) >= 6, "the reference lives in docs/"
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            if not linked.exists():
                broken.append(f"{page.name}: {target}")
            elif anchor and anchor not in {_slug(h) for h in re.findall(r"^#+ (.+)$", linked.read_text(), re.M)}:
                broken.append(f"{page.name}: {target} (no such heading)")
    assert not broken, broken


def test_the_readme_chat_examples_are_understood_by_the_grammar():
    """Every concrete command the README shows parses (placeholders such as SHA or owner/name are the usage)."""
    from handlers.commands import Help, parse

    examples = re.findall(r"`(?:@Commit Radar )?(/(?:digest|analyze) [^`]+)`", README)  # a bare name is no example
    concrete = [e for e in examples if not re.search(r"[A-Z]{2,}|\[|owner/name|\|", e)]
    assert len(concrete) >= 5, concrete
    for example in concrete:
        command, _, text = example.partition(" ")
        parsed = parse(command, text)
        assert not (isinstance(parsed, Help) and parsed.unknown), f"{example}: {parsed}"


def test_the_benchmark_runs_and_prints_ratios():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_digest.py"), "--commits", "6", "--latency",
                          "0.05", "--concurrency", "3"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert re.search(r"digest / ideal ceil\(calls/C\)\*L\s+: \d+\.\d\d", out.stdout)


def test_the_github_benchmark_runs():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_github.py"), "--commits", "6", "--latency", "0.02"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert re.search(r"rebuild requests: 2 \(2 answered 304, 0 downloaded\)", out.stdout)


def test_the_merges_benchmark_runs_and_merges_cost_no_call():
    out = subprocess.run([sys.executable, str(ROOT / "bench" / "merges.py"), "--branches", "4", "--removals", "2"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert re.search(r"of them for merges\s+: before\s+6\s+after\s+0", out.stdout)  # 4 briefs + 2 deep before
    assert re.search(r"breaking-change lines shown\s+: before\s+4\s+after\s+2", out.stdout)
