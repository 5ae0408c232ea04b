"""Single flight: concurrent requests for the same result share one computation; the others wait for it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")
Listener = Callable[[Any], None]


@dataclass
class _Call:
    done: threading.Event = field(default_factory=threading.Event)
    listeners: list[Listener] = field(default_factory=list)
    result: Any = None
    error: BaseException | None = None
    waiters: int = 0


class SingleFlight(Generic[T]):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._calls: dict[Hashable, _Call] = {}

    def in_flight(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._calls

    def run(self, key: Hashable, compute: Callable[[Listener], T], listener: Listener | None = None) -> T:
        """`compute(report)` once per key at a time; `report(x)` reaches every caller's `listener`."""
        with self._lock:
            call = self._calls.get(key)
            leader = call is None
            if call is None:
                call = self._calls[key] = _Call()
            else:
                call.waiters += 1
            if listener is not None:
                call.listeners.append(listener)
        if not leader:
            call.done.wait()
            if call.error is not None:
                raise call.error
            return call.result  # type: ignore[no-any-return]

        def report(value: Any) -> None:
            with self._lock:
                listeners = list(call.listeners)
            for each in listeners:
                try:
                    each(value)
                except Exception:  # a progress message that failed to show must not fail the digest
                    log.warning("progress listener failed", exc_info=True)

        try:
            call.result = compute(report)
            return call.result  # type: ignore[no-any-return]
        except BaseException as err:
            call.error = err
            raise
        finally:
            with self._lock:
                del self._calls[key]
            call.done.set()
