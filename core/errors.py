"""Named exceptions raised by the core and turned into one clear line (CLI) or chat message at the edge.

`BadInput` and its subclasses mean the user asked for something that cannot exist (exit code 2);
`SourceError` and `LLMUnavailable` mean a service failed (exit code 1).
"""

from __future__ import annotations

from datetime import datetime


class CommitRadarError(Exception):
    """Base of every error the core raises on purpose; `str(err)` is safe to show to a user."""


class BadInput(CommitRadarError):
    """The request itself is wrong: a date, a repository name, a SHA."""


class BadDate(BadInput):
    pass


class BadRepo(BadInput):
    pass


class RepoNotFound(BadInput):
    pass


class BadSha(BadInput):
    pass


class CommitNotFound(BadInput):
    pass


class AmbiguousSha(BadInput):
    pass


class SourceError(CommitRadarError):
    """GitHub or git failed in a way that retrying now will not fix."""


class RateLimited(SourceError):
    def __init__(self, message: str, reset_at: datetime | None) -> None:
        super().__init__(message)
        self.reset_at = reset_at


class LLMUnavailable(CommitRadarError):
    """The LLM endpoint could not give a valid analysis; callers fall back to the rules analyser."""

    spent: tuple[int, int] = (0, 0)  # tokens (in, out) the failed requests cost: set by the analyser, counted in caps


class CallsPaused(LLMUnavailable):
    """The LLM's circuit breaker is open: no call was made (the outage it belongs to was told already)."""


class LLMOutage(LLMUnavailable):
    """The call failed and the endpoint's breaker is open (enough failures in a row, or a rejected key): an
    outage, told once, as opposed to one failed call that a retry heals."""
