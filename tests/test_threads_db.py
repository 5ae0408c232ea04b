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

    def waves(n: int) -> int:
        for _ in range(n):
            wave()
        last = threading.Thread(target=work)  # the next thread to open one closes those of the threads that ended
        last.start()
        last.join()
        return me.num_fds()

    settled = waves(2)
    assert waves(6) <= settled + 12  # 120 more threads came and went (before: +28); SQLite may keep a closed file's descriptor
    assert service._dbs.open_count() == 0  # for reuse while another connection holds a lock, a few at most
