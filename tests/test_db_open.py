"""Processes that open a new database file at the same moment: one migrates it, the others wait and find it done."""

from __future__ import annotations

import subprocess
import sys

from storage.db import MIGRATIONS, open_db
from tests.conftest import ROOT

OPEN = "import sys; from storage.db import open_db; sys.stdin.read(); open_db(sys.argv[1]); print('ok')"


def test_processes_opening_a_new_file_at_once_all_succeed_and_it_is_migrated_once(tmp_path):
    for round_ in range(5):
        path = tmp_path / f"new-{round_}.db"
        procs = [subprocess.Popen([sys.executable, "-c", OPEN, str(path)], cwd=ROOT, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(6)]
        for p in procs:  # each has imported and waits on its stdin: released together
            p.stdin.close()
        results = [(p.stdout.read(), p.stderr.read(), p.wait(timeout=120)) for p in procs]
        assert all(out.strip() == "ok" for out, _, _ in results), [err[-300:] for _, err, _ in results if err]
        db = open_db(path)
        assert db.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
        assert db.execute("SELECT count(*) FROM sqlite_master WHERE name = 'commits'").fetchone()[0] == 1
