"""Per-user limits: the hourly command limit holds across processes, buttons count, a daily budget of LLM tokens
per user, and the tokens of failed LLM calls count toward LLM_DAILY_TOKEN_CAP."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timezone

from storage.db import open_db
from tests.conftest import ROOT

RACER = """
import sys, time
from datetime import datetime, timezone
sys.path.insert(0, sys.argv[1])
from storage import events
from storage.db import open_db
db = open_db(sys.argv[2])
print("ready", flush=True)
start = float(sys.stdin.readline())
now = datetime(2026, 1, 12, 9, 0, tzinfo=timezone.utc)
passed = []
for user in range(int(sys.argv[4])):
    time.sleep(max(0.0, start + user * 0.04 - time.time()))  # every process asks for this user at the same instant
    passed += [user for _ in range(2) if events.allow(db, "slack", f"U{user}", now, 3)]
print(" ".join(map(str, passed)))
"""


def test_the_hourly_limit_holds_when_16_processes_ask_at_once(tmp_path):
    """12 processes ask for the same 40 users, one user at a time, each twice: 24 tries per user, 3 pass."""
    path = tmp_path / "bot.db"
    open_db(path)  # migrated once, before the race
    procs = [subprocess.Popen([sys.executable, "-c", RACER, str(ROOT), str(path), "", "40"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(12)]
    for proc in procs:
        assert proc.stdout.readline() == "ready\n", proc.stderr.read()
    start = time.time() + 0.2  # every process is up and waiting when the clock strikes
    for proc in procs:
        proc.stdin.write(f"{start}\n")
        proc.stdin.flush()
    passed: Counter[int] = Counter()
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        passed.update(int(user) for user in out.split())
    assert passed == {user: 3 for user in range(40)}
    rows = open_db(path).execute("SELECT count(*) FROM command_log").fetchone()[0]
    assert rows == 120
