"""A bounded thread pool that runs the lowest priority number first (first come, first served within one).

The LLM pool of a process is shared by every digest and command: a deep analysis (a commit the brief one
called high, or a person's /analyze) must not wait behind the brief calls queued for a whole day.
concurrent.futures.ThreadPoolExecutor is strictly FIFO, hence this small pool; its futures are the standard
ones, so cancel(), wait() and as_completed() work as usual.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")


class PriorityPool:
    def __init__(self, workers: int, name: str = "pool") -> None:
        self._heap: list[tuple[int, int, Future[Any], Callable[[], Any]]] = []
        self._order = itertools.count()
        self._ready = threading.Condition()
        self._closed = False
        self._threads = [threading.Thread(target=self._work, name=f"{name}_{i}", daemon=True)
                         for i in range(max(1, workers))]
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Callable[..., T], *args: Any, priority: int = 1) -> Future[T]:
        future: Future[T] = Future()
        with self._ready:
            if self._closed:
                raise RuntimeError("cannot submit to a pool that was shut down")
            heapq.heappush(self._heap, (priority, next(self._order), future, lambda: fn(*args)))
            self._ready.notify()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._ready:
            self._closed = True
            if cancel_futures:
                for _, _, future, _ in self._heap:
                    future.cancel()
                self._heap.clear()
            self._ready.notify_all()
        if wait:
            for thread in self._threads:
                thread.join()

    def _work(self) -> None:
        while True:
            with self._ready:
                while not self._heap and not self._closed:
                    self._ready.wait()
                if not self._heap:
                    return  # closed and drained
                _, _, future, call = heapq.heappop(self._heap)
            if not future.set_running_or_notify_cancel():
                continue  # cancelled while queued
            try:
                future.set_result(call())
            except BaseException as err:  # handed to whoever waits on the future, as ThreadPoolExecutor does
                future.set_exception(err)
