"""`bot.py digest --date A..B` and `--date week` roll the days up (issue 14), as a user runs it."""

from __future__ import annotations

import json

from tests.conftest import sample_history
from tests.test_cli import run


def test_a_range_builds_the_missing_days_once_and_rolls_them_up(repo, tmp_path):
    shas = sample_history(repo)
    db = str(tmp_path / "cli.db")
    first = run("digest", "--git", str(repo.path), "--date", "2026-01-09..2026-01-12", "--db", db)
    assert first.returncode == 0, first.stderr
    assert first.stderr.splitlines()[:4] == [f"building {n} of 4 days: 2026-01-{8 + n:02d}" for n in range(1, 5)]
    out = first.stdout
    assert "7 commits · 🔴 2 high" in out and "Fri 01-09  no commits" in out and "Sun 01-11  5 commits · 🔴 2 · 💥 1" in out
    assert "--load-balance-method" in out and "/digest" not in out  # no chat command in a terminal
    again = run("digest", "--git", str(repo.path), "--date", "2026-01-09..2026-01-12", "--db", db, "--format", "json")
    assert again.returncode == 0 and "building" not in again.stderr  # every day was stored
    value = json.loads(again.stdout)
    assert [d["total"] for d in value["days"]] == [0, 1, 5, 1] and value["stats"]["breaking"] == 1
    assert shas["merge"] not in again.stdout  # a merge is told through its commits
    md = run("digest", "--git", str(repo.path), "--date", "2026-01-09..2026-01-12", "--db", db, "--format",
             "markdown", "--lang", "zh")
    assert md.returncode == 0 and "## 📅 每日" in md.stdout


def test_bad_ranges_are_one_line_and_exit_2(repo, tmp_path):
    sample_history(repo)
    for bad, said in (("2026-01-12..2026-01-09", "put the earlier day first"),
                      ("2025-11-01..2026-01-11", "at most 31 days"), ("2026-01-05..2030-01-01", "future")):
        done = run("digest", "--git", str(repo.path), "--date", bad, "--db", str(tmp_path / "x.db"))
        assert done.returncode == 2 and said in done.stderr and "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
