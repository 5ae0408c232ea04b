"""The LLM pool: lower priority numbers first, first come first served within one, standard futures, no thread
left behind."""

from __future__ import annotations

import gc
import threading
import time

from digest.pool import PriorityPool


def test_one_worker_runs_the_urgent_call_next_and_keeps_order_within_a_priority():
    pool = PriorityPool(1, "order")
    started = threading.Event()
    gate = threading.Event()
    ran: list[str] = []
    pool.submit(lambda: (started.set(), gate.wait(5)))
    assert started.wait(5)
    futures = [pool.submit(ran.append, name, priority=1) for name in ("brief 1", "brief 2", "brief 3")]
    futures.append(pool.submit(ran.append, "deep", priority=0))
    gate.set()
    for future in futures:
        future.result(5)
    assert ran == ["deep", "brief 1", "brief 2", "brief 3"]
    pool.shutdown()


def test_queued_calls_can_be_cancelled_and_errors_reach_the_caller():
    pool = PriorityPool(1, "cancel")
    gate = threading.Event()
    pool.submit(gate.wait, 5)
    queued = pool.submit(lambda: "never")
    failing = pool.submit(lambda: 1 / 0)
    assert queued.cancel() and queued.cancelled()
    gate.set()
    try:
        failing.result(5)
        raise AssertionError("the error was lost")
    except ZeroDivisionError:
        pass
    pool.shutdown(cancel_futures=True)


def test_threads_start_as_needed_and_end_with_the_pool():
    pool = PriorityPool(8, "leak")
    assert [t for t in threading.enumerate() if t.name.startswith("leak_")] == []  # none before a call
    for future in [pool.submit(time.sleep, 0.05) for _ in range(3)]:
        future.result(5)
    assert 1 <= len([t for t in threading.enumerate() if t.name.startswith("leak_")]) <= 3
    del pool, future
    gc.collect()
    deadline = time.monotonic() + 5
    while any(t.name.startswith("leak_") for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not any(t.name.startswith("leak_") for t in threading.enumerate()), "a pool nobody holds ends its threads"


def test_submitters_at_once_never_run_more_calls_than_workers():
    """The pool is shared by the scheduler, Slack and Feishu threads: LLM_CONCURRENCY holds when they submit at once."""
    import sys

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: the race shows within a few rounds
    try:
        worst = 0
        for _ in range(60):
            pool = PriorityPool(2, "race")
            running = [0, 0]  # now, peak
            lock = threading.Lock()

            def job() -> None:
                with lock:
                    running[0] += 1
                    running[1] = max(running[1], running[0])
                time.sleep(0.005)
                with lock:
                    running[0] -= 1

            go = threading.Barrier(12)
            submitters = [threading.Thread(target=lambda: (go.wait(), pool.submit(job))) for _ in range(12)]
            for t in submitters:
                t.start()
            for t in submitters:
                t.join()
            pool.shutdown(wait=True)
            worst = max(worst, running[1])
    finally:
        sys.setswitchinterval(interval)
    assert worst <= 2
