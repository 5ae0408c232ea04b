"""Per-thread SQLite connections of threads that ended are closed (issue 12, item 21: file descriptors 22 -> 139 and
RSS growing in `bot.py run`, a connection per worker thread left to the garbage collector)."""

from __future__ import annotations

import threading

import psutil

from tests.conftest import git_service


def test_connections_of_threads_that_ended_are_closed(db):
    service = git_service(db)
    me = psutil.Process()

    def work() -> None:
        service.db.execute("SELECT count(*) FROM commits").fetchone()

    def wave() -> None:
        threads = [threading.Thread(target=work) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    wave()
    work_done = me.num_fds()
    for _ in range(5):  # 100 more threads came and went
        wave()
    assert me.num_fds() <= work_done + 3  # the last thread's connection at most (3 files: db, -wal, -shm)
    assert service._dbs.open_count() == 0
