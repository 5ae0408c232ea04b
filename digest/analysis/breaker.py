"""A circuit breaker that recovers: closed -> suspect -> open -> half-open (one probe) -> closed or open again.

One breaker guards the endpoint (timeouts, connection errors, 5xx and 429 after the SDK's retries; 401/403 open
it at once), and one per model guards a model the endpoint does not serve (404).

- closed: calls go out freely.
- suspect (a call failed, fewer than `threshold` in a row): no new call starts while calls are in flight; they
  wait for those to tell (a success closes, enough failures open). With none in flight, one call goes at a
  time. So an outage costs the calls in flight when its first failure came back, not one more per commit,
  and a single transient failure costs a short wait, not a day of rules.
- open: no call goes out; after `pause` seconds exactly one caller is let through as the probe.

Every admitted call ends with exactly one `done()`; `success()` and `failure()` say what it learned.
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
    """Thread-safe. `admit()` before a call, then any of `success()` / `failure()`, then `done()` once."""

    def __init__(self, threshold: int, pause: float, clock: Callable[[], datetime] = utc_now) -> None:
        self.threshold = max(1, threshold)
        self.pause = timedelta(seconds=pause)
        self.clock = clock
        self._changed = threading.Condition()
        self._failures = 0
        self._opened_at: datetime | None = None
        self._since: datetime | None = None
        self._last_error: str | None = None
        self._prober: int | None = None  # the thread making the probe, if one is out (admit and done run in it)
        self._in_flight = 0

    def admit(self) -> bool:
        """May a call go out now? Suspect: waits for the calls in flight to tell. Open: False, except for the one
        probe let through once the pause is over."""
        with self._changed:
            while True:
                if self._opened_at is not None:
                    if self._prober is not None or self.clock() < self._opened_at + self.pause:
                        return False
                    self._prober = threading.get_ident()
                elif self._failures and self._in_flight:
                    self._changed.wait()
                    continue
                self._in_flight += 1
                return True

    def success(self) -> None:
        with self._changed:  # the endpoint works: closed, whoever answered (a running probe ends with done())
            self._failures, self._opened_at, self._since = 0, None, None
            self._last_error = None
            self._changed.notify_all()

    def failure(self, error: str, *, at_once: bool = False) -> int:
        """A failed call; `at_once` (a rejected key, a missing model) opens the breaker without waiting for more.
        Returns the failures in a row, this one included."""
        with self._changed:
            now = self.clock()
            self._failures += 1
            self._last_error = error
            if self._since is None:
                self._since = now
            probe = self._prober == threading.get_ident()  # not a slow call admitted before the breaker opened
            if at_once or probe or self._failures >= self.threshold:
                self._opened_at = now  # a failed probe re-opens: the pause starts again
            if probe:
                self._prober = None
            self._changed.notify_all()
            return self._failures

    def done(self) -> None:
        """An admitted call ended (whatever it told); a probe that told nothing lets another go."""
        with self._changed:
            self._in_flight = max(0, self._in_flight - 1)
            if self._prober == threading.get_ident():
                self._prober = None
            self._changed.notify_all()

    @property
    def is_open(self) -> bool:
        with self._changed:
            return self._opened_at is not None

    def health(self) -> LLMHealth:
        with self._changed:
            if self._opened_at is None:
                return LLMHealth("ok", self._since, self._last_error, self._failures)
            state: State = "half-open" if self._prober is not None or self.clock() >= self._opened_at + self.pause else "open"
            return LLMHealth(state, self._since, self._last_error, self._failures, self._opened_at + self.pause)
