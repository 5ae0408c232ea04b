"""Retention (issue 12, item 16): old diffs, seen events, the command log and cached answers are dropped, the file
shrinks, and a commit whose diff was dropped is read again from its source (or the user is told it is gone)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta, timezone

from digest.analysis.llm import LLMAnalyser, LLMConfig
from core.errors import CommitNotFound
from storage import commits as stored_commits
from storage import events, retention
from storage.db import MIGRATIONS, open_db
from tests.busyyear import START, busy_year
from tests.conftest import ROOT, clone_ref, git_service, sample_history
from tests.servers.openai import OpenAIServer
from tests.test_llm import answer

import pytest

from storage.retention import Pruned

DAY = sample_history.__globals__["utc"](2026, 1, 11).date()


def file_size(path) -> int:  # noqa: ANN001
    return sum(os.path.getsize(f"{path}{end}") for end in ("", "-wal") if os.path.exists(f"{path}{end}"))


def test_a_year_of_busy_days_stays_under_25_mb(tmp_path):
    """365 days of 10 commits (2 files, 12 KB of diff each; bench/retention.py runs 90 commits of 48 KB), with
    their analyses, digests, LLM usage, events, command log and cached answers; pruned at the end, as `bot.py prune`
    does on a database that never had one. Analyses and digests are kept; the file gives the rest back."""
    path = tmp_path / "year.db"
    db = open_db(path)
    db.execute("PRAGMA synchronous = OFF")  # the test's speed only: the size is the same
    written = busy_year(db, commits=10, patch_bytes=12_000, files=2, keep=None)
    before = file_size(path)
    pruned = retention.prune(db, START + timedelta(days=365), retention.Retention())
    after = file_size(path)
    assert before > 60e6 and written > 40e6  # what the year weighs unpruned
    assert after < 25e6, f"{after / 1e6:.1f} MB"
    assert pruned.size_before >= before - 8e6 and pruned.size_after == os.path.getsize(path)
    assert pruned.commits == 3350 and 0.88 * written < pruned.patch_bytes <= written  # all but the last 30 days
    kept = db.execute("SELECT count(*), count(DISTINCT repo || sha) FROM patches").fetchone()
    assert kept[1] == 30 * 10 and db.execute("SELECT count(*) FROM analyses").fetchone()[0] == 365 * 11
    assert db.execute("SELECT count(*) FROM digests").fetchone()[0] == 365
    assert db.execute("SELECT min(seen_at) FROM seen_events").fetchone()[0] >= (START + timedelta(days=362)).isoformat()


def test_pruning_every_day_keeps_the_window_and_the_file_flat(tmp_path):
    path = tmp_path / "daily.db"
    db = open_db(path)
    db.execute("PRAGMA synchronous = OFF")
    busy_year(db, days=45, commits=10, patch_bytes=12_000, files=2)
    at_45 = file_size(path)
    busy_year(db, days=45, commits=10, patch_bytes=12_000, files=2, seed=13, first_day=45)
    assert db.execute("SELECT count(DISTINCT sha) FROM patches").fetchone()[0] == 30 * 10
    grown = file_size(path) - at_45
    assert grown < 2.5e6, grown  # freed pages were reused: 45 more days added about what is kept (analyses...)


def test_an_existing_database_switches_to_incremental_vacuum_once_and_keeps_its_rows(tmp_path):
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")
    for number, script in enumerate(MIGRATIONS[:4], start=1):
        conn.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")
    conn.execute("INSERT INTO commits VALUES ('o/r', 'abc', 't', 'm', 'a', NULL, '2026-01-01T00:00:00+00:00', '[]',"
                 " 0, NULL, 1, 0, 1, '2026-01-01T00:00:00+00:00')")
    conn.execute("INSERT INTO files VALUES ('o/r', 'abc', 0, 'a.py', 'modified', NULL, 1, 0, '+x', 0, NULL)")
    conn.commit()
    assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 0
    conn.close()
    db = open_db(path)
    assert db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2 and db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    commit = stored_commits.load_commit(db, "o/r", "abc")
    assert commit is not None and commit.files[0].patch == "+x"  # the patch moved to its table


def test_a_commit_whose_diff_was_pruned_is_read_again_from_its_source(repo, tmp_path):
    shas = sample_history(repo)
    db = open_db(tmp_path / "radar.db")
    service = git_service(db)
    ref = clone_ref(repo)
    first = service.build_digest(ref, DAY, "UTC")
    report = service.analyze(ref, shas["feature"])
    read = report.analysis.read_files
    assert read
    later = datetime.now(timezone.utc) + timedelta(days=31)  # fetched_at is the real time
    pruned = retention.prune(db, later, retention.Retention())
    assert pruned.commits >= 5 and pruned.patch_bytes > 1000
    assert db.execute("SELECT count(*) FROM patches").fetchone()[0] == 0
    shown = service.find_digest(ref, DAY, "UTC", "en")  # a stored digest still shows, with its file counts
    assert shown is not None and [e.commit.files_total for e in shown.entries] == [e.commit.files_total for e in first.entries]

    # the deep analysis of an old commit, asked anew: its diff is read again from the clone
    db.execute("DELETE FROM analyses WHERE sha = ? AND depth = 'deep'", [shas["feature"]])
    db.conn.commit()
    again = service.analyze(ref, shas["feature"])
    assert again.analysis.read_files == read and again.commit.files[0].patch
    assert not stored_commits.patches_pruned(db, ref.name, shas["feature"])  # stored again
    # the rules analysis of a rebuilt day reads the diffs again too
    db.execute("DELETE FROM analyses")
    db.conn.commit()
    rebuilt = service.build_digest(ref, DAY, "UTC")
    assert [e.analysis.importance for e in rebuilt.entries] == [e.analysis.importance for e in first.entries]
    assert [e.analysis.breaking_changes for e in rebuilt.entries] == [e.analysis.breaking_changes for e in first.entries]


def test_a_pruned_commit_the_source_no_longer_has_is_said_clearly(repo, tmp_path):
    shas = sample_history(repo)
    db = open_db(tmp_path / "radar.db")
    service = git_service(db)
    ref = clone_ref(repo)
    service.build_digest(ref, DAY, "UTC")
    retention.prune(db, datetime.now(timezone.utc) + timedelta(days=31), retention.Retention())
    db.execute("DELETE FROM analyses")
    db.conn.commit()
    repo.git("checkout", "-q", "--orphan", "gone")  # history rewritten: the old commits are unreachable, then removed
    repo.git("branch", "-D", "main")
    repo.commit("new root", {"a.txt": "a\n"}, sample_history.__globals__["utc"](2026, 1, 13))
    repo.git("branch", "-D", "side")
    repo.git("reflog", "expire", "--expire=now", "--all")
    repo.git("gc", "-q", "--prune=now")
    with pytest.raises(CommitNotFound, match="no longer stored"):
        service.analyze(ref, shas["feature"])


def test_events_and_the_command_log_are_kept_as_long_as_the_limits_need_them(tmp_path):
    db = open_db(tmp_path / "radar.db")
    now = START
    assert events.first_time(db, "slack", "Ev1", now - timedelta(hours=7))  # Feishu pushes again up to 6 h later
    assert events.first_time(db, "slack", "Ev0", now - timedelta(days=4))
    assert events.allow(db, "slack", "U1", now - timedelta(hours=20), 5)
    assert events.allow(db, "slack", "U1", now - timedelta(days=5), 5)
    pruned = retention.prune(db, now, retention.Retention())
    assert (pruned.events, pruned.commands) == (1, 1)
    assert not events.first_time(db, "slack", "Ev1", now)  # still a retry
    assert db.execute("SELECT count(*) FROM command_log").fetchone()[0] == 1


def test_bot_py_prune_prints_what_it_removed_and_the_size(tmp_path):
    path = tmp_path / "cli.db"
    db = open_db(path)
    db.execute("PRAGMA synchronous = OFF")
    today = (datetime.now(timezone.utc) - START).days
    busy_year(db, days=40, commits=5, patch_bytes=12_000, files=2, keep=None, first_day=today - 39)  # up to today
    db.conn.close()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "GITHUB_", "DIGEST_", "RETAIN_"))}
    out = subprocess.run([sys.executable, str(ROOT / "bot.py"), "prune", "--db", str(path)], capture_output=True,
                         text=True, env={**env, "RETAIN_PATCH_DAYS": "10"}, timeout=60)
    assert out.returncode == 0, out.stderr
    dropped = int(out.stdout.removeprefix("dropped the patches of ").split()[0])
    assert 145 <= dropped <= 155 and "400 seen events" not in out.stdout  # 5 a day, all but the last 10 days
    sizes = out.stdout.split("database ")[1].split(" -> ")
    assert float(sizes[0].split()[0]) > float(sizes[1].split()[0])


def test_run_prunes_every_day_with_the_settings(tmp_path):
    from tests.test_slack import make_bot

    env = {"DATABASE_PATH": str(tmp_path / "bot.db"), "SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": "s",
           "SLACK_API_URL": "http://127.0.0.1:9/api/", "RETAIN_PATCH_DAYS": "10"}
    bot = make_bot(env)
    db = bot.service.db
    today = (datetime.now(timezone.utc) - START).days
    busy_year(db, days=20, commits=3, patch_bytes=4_000, files=2, keep=None, first_day=today - 19)
    bot.schedule.start()
    try:
        job = bot.schedule.scheduler.get_job("prune")
        assert job is not None and (job.next_run_time.hour, job.next_run_time.minute) == (3, 17)
        assert job.next_run_time - datetime.now(timezone.utc) <= timedelta(days=1)
        assert bot.schedule.scheduler.get_job("trim-memory") is not None  # freed C heap pages go back every minute
        bot.schedule.prune()  # what the job runs
    finally:
        bot.schedule.shutdown()
    days_kept = db.execute("SELECT count(DISTINCT sha) FROM patches").fetchone()[0] / 3
    assert 9 <= days_kept <= 11


def test_the_prune_line_counts_with_its_nouns():
    one = Pruned(commits=1, patch_bytes=0, events=1, commands=2, cached=0, size_before=0, size_after=0).line()
    assert one.startswith("dropped the patches of 1 commit (") and "1 seen event," in one and "2 command log rows" in one
    assert "0 cached GitHub answers" in one
