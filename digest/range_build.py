"""The digests of a range of days (issue 14): stored ones are read back, the days never built (or built before
their day ended) are built, one at a time, through the service's single flight and LLM limits."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from core.models import Digest, RepoRef
from core.ranges import DayRange
from digest.service import DigestService

RangeProgress = Callable[[int, int, date], None]  # (building this one, of that many, the day)


def digests_of(service: DigestService, repo: RepoRef, span: DayRange, zone: str, lang: str, *,
               branch: str | None = None, progress: RangeProgress | None = None,
               spender: str | None = None) -> list[Digest]:
    """One digest per day of `span`, in order; `progress` hears of each day that has to be built."""
    found = {day: service.finished_digest(repo, day, zone, lang, branch) for day in span.days}
    missing = [day for day, digest in found.items() if digest is None]
    for n, day in enumerate(missing, start=1):
        if progress is not None:
            progress(n, len(missing), day)
        found[day] = service.build_digest(repo, day, zone, lang, branch=branch, spender=spender)
    return [d for d in (found[day] for day in span.days) if d is not None]
