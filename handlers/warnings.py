"""Log lines for refused and failed requests, at most one per cause a minute: a flood of forged requests cannot fill
the log, and the next line says how many were left out. Causes are fixed texts chosen by the caller, never request
content, so the table stays small and nothing an attacker sent reaches the log."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

EVERY = 60.0  # seconds between two lines of one cause


class Throttle:
    """Allows one event per cause per `every` seconds, and counts the ones it held back since the last."""

    def __init__(self, every: float = EVERY, clock: Callable[[], float] = time.monotonic) -> None:
        self.every = every
        self.clock = clock
        self._lock = threading.Lock()
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}

    def allow(self, cause: str) -> int | None:
        """None when `cause` was allowed less than `every` seconds ago; else how many were held back since."""
        with self._lock:
            now = self.clock()
            last = self._last.get(cause)
            if last is not None and now - last < self.every:
                self._held[cause] = self._held.get(cause, 0) + 1
                return None
            self._last[cause] = now
            return self._held.pop(cause, 0)


def left_out(n: int) -> str:
    return f" (and {n} more since the last such line)" if n else ""


class RateLimitedWarnings:
    """WARNING lines through a Throttle."""

    def __init__(self, logger: logging.Logger, every: float = EVERY,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self.throttle = Throttle(every, clock)

    def warn(self, cause: str) -> bool:
        """Log `cause` unless it was logged less than `every` seconds ago; whether a line was written."""
        if (held := self.throttle.allow(cause)) is None:
            return False
        self.logger.warning("%s%s", cause, left_out(held))
        return True
