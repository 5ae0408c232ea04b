"""A bounded thread pool that runs the lowest priority number first (first come, first served within one).

The LLM pool of a process is shared by every digest and command: a person's /analyze must not wait behind the
calls queued for a whole day's digest. (A digest's own deep calls keep their place: served first, they delay the
brief calls that lead to the last deep ones, and the digest ends later; bench_digest measured 1.20 against 1.05.)
concurrent.futures.ThreadPoolExecutor is strictly FIFO, hence this small pool; its futures are the standard
ones, so cancel(), wait() and as_completed() work as usual.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import weakref
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")


class _Queue:
    """What the workers share: the heap of waiting calls. It does not refer to the pool, so a pool nobody holds is
    collected, and closing its queue lets the workers end (as ThreadPoolExecutor does)."""

    def __init__(self) -> None:
        self.heap: list[tuple[int, int, Future[Any], Callable[[], Any]]] = []
        self.ready = threading.Condition()
        self.closed = False
        self.idle = 0

    def close(self, cancel: bool = False) -> None:
        with self.ready:
            self.closed = True
            if cancel:
                for _, _, future, _ in self.heap:
                    future.cancel()
                self.heap.clear()
            self.ready.notify_all()


def _work(queue: _Queue) -> None:
    while True:
        with queue.ready:
            queue.idle += 1
            while not queue.heap and not queue.closed:
                queue.ready.wait()
            queue.idle -= 1
            if not queue.heap:
                return  # closed and drained
            _, _, future, call = heapq.heappop(queue.heap)
        if not future.set_running_or_notify_cancel():
            continue  # cancelled while queued
        try:
            future.set_result(call())
        except BaseException as err:  # handed to whoever waits on the future, as ThreadPoolExecutor does
            future.set_exception(err)
        del future, call


class PriorityPool:
    """At most `workers` threads, started as calls arrive; they end when the pool is shut down or collected."""

    def __init__(self, workers: int, name: str = "pool") -> None:
        self.workers = max(1, workers)
        self.name = name
        self._queue = _Queue()
        self._order = itertools.count()
        self._threads: list[threading.Thread] = []
        weakref.finalize(self, self._queue.close)

    def submit(self, fn: Callable[..., T], *args: Any, priority: int = 1) -> Future[T]:
        future: Future[T] = Future()
        queue = self._queue
        with queue.ready:
            if queue.closed:
                raise RuntimeError("cannot submit to a pool that was shut down")
            heapq.heappush(queue.heap, (priority, next(self._order), future, lambda: fn(*args)))
            queue.ready.notify()
            thread = None
            if queue.idle < len(queue.heap) and len(self._threads) < self.workers:  # decided and counted at once:
                thread = threading.Thread(target=_work, args=(queue,), name=f"{self.name}_{len(self._threads)}",
                                          daemon=True)  # two submitters cannot both start the last thread
                self._threads.append(thread)
        if thread is not None:
            thread.start()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._queue.close(cancel_futures)
        if wait:
            for thread in self._threads:
                thread.join()
