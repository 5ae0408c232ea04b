"""A circuit breaker that recovers: closed -> open after failures -> half-open (one probe) -> closed or open again.

One breaker guards the endpoint (timeouts, connection errors, 5xx and 429 after the SDK's retries; 401/403 open
it at once), and one per model guards a model the endpoint does not serve (404). While a breaker is open no call
goes out: after `pause` seconds exactly one caller is let through as the probe, and its outcome decides.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Literal

State = Literal["ok", "open", "half-open"]


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True)
class LLMHealth:
    """What `/digest status` and the outage alerts show. `since`: when the current run of failures began."""

    state: State
    since: datetime | None = None
    last_error: str | None = None
    failures: int = 0  # failed calls in a row (after the SDK's retries)
    probe_at: datetime | None = None  # when an open breaker lets its next probe through
    models_down: tuple[str, ...] = ()  # models the endpoint answered 404 for


class Breaker:
    """Thread-safe. `admit()` before a call; then exactly one of `success()`, `failure()` or `release()`."""

    def __init__(self, threshold: int, pause: float, clock: Callable[[], datetime] = utc_now) -> None:
        self.threshold = max(1, threshold)
        self.pause = timedelta(seconds=pause)
        self.clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: datetime | None = None
        self._since: datetime | None = None
        self._last_error: str | None = None
        self._probing = False

    def admit(self) -> bool:
        """May a call go out now? An open breaker whose pause is over admits one probe and no other call."""
        with self._lock:
            if self._opened_at is None:
                return True
            if self._probing or self.clock() < self._opened_at + self.pause:
                return False
            self._probing = True
            return True

    def success(self) -> None:
        with self._lock:
            self._failures, self._opened_at, self._since, self._probing = 0, None, None, False
            self._last_error = None

    def failure(self, error: str, *, at_once: bool = False) -> None:
        """A failed call; `at_once` (a rejected key, a missing model) opens the breaker without waiting for more."""
        with self._lock:
            now = self.clock()
            self._failures += 1
            self._last_error = error
            if self._since is None:
                self._since = now
            if at_once or self._probing or self._failures >= self.threshold:
                self._opened_at = now  # a failed probe re-opens: the pause starts again
            self._probing = False

    def release(self) -> None:
        """The call ended without telling anything about the endpoint (e.g. the caller stopped early)."""
        with self._lock:
            self._probing = False

    @property
    def is_open(self) -> bool:
        with self._lock:
            return self._opened_at is not None

    def health(self) -> LLMHealth:
        with self._lock:
            if self._opened_at is None:
                return LLMHealth("ok", self._since, self._last_error, self._failures)
            state: State = "half-open" if self._probing or self.clock() >= self._opened_at + self.pause else "open"
            return LLMHealth(state, self._since, self._last_error, self._failures, self._opened_at + self.pause)
