"""A roll-up of several days (a range or a week, issue 14): pure, from the days' digests; nothing re-analysed.

What a reader of a week wants: the totals of each day, the week's high-importance commits and breaking changes
grouped by area (the top-level path they touch; one level deeper while every commit shares it, so sglang's
`python/` becomes `python/sglang/srt`, …), and each day's digest one click away.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date

from core.models import Digest, Entry, Stats
from core.ranges import DayRange

MAX_AREA_DEPTH = 4
NO_AREA = "(no files)"


@dataclass(frozen=True)
class DayTotal:
    day: date
    stats: Stats


@dataclass(frozen=True)
class Area:
    name: str
    high: tuple[Entry, ...]  # the larger changes first
    breaking: tuple[Entry, ...]  # entries with breaking changes, high or not


@dataclass(frozen=True)
class Rollup:
    repo: str
    span: DayRange
    zone: str
    lang: str
    branch: str
    days: tuple[DayTotal, ...]
    areas: tuple[Area, ...]  # most high commits first
    web_url: str | None = None

    @property
    def shown_as(self) -> tuple[str, str, str]:
        """(zone, lang, branch): as a digest's, for the claim of its post."""
        return self.zone, self.lang, self.branch

    @property
    def empty(self) -> bool:
        return self.total.total == 0

    @property
    def total(self) -> Stats:
        entries = [s.stats for s in self.days]
        return Stats(total=sum(s.total for s in entries), high=sum(s.high for s in entries),
                     medium=sum(s.medium for s in entries), low=sum(s.low for s in entries),
                     breaking=sum(s.breaking for s in entries), merges=sum(s.merges for s in entries),
                     grouped=sum(s.grouped for s in entries))


def _told(e: Entry) -> bool:
    """A grouped merge with nothing of its own is told through its commits, never by itself."""
    return not (e.grouped and not e.analysed)


def _size(e: Entry) -> int:
    """The larger changes first: a week's reader sees the ones that matter most within each area."""
    return -(e.commit.additions + e.commit.deletions)


def _paths(e: Entry) -> list[str]:
    return [f.path for f in e.commit.files]


def area_depth(entries: list[Entry]) -> int:
    """How many path parts name an area: one more while every commit's files share the same first parts."""
    depth = 1
    while depth < MAX_AREA_DEPTH:
        prefixes = {"/".join(p.split("/")[:depth]) for e in entries for p in _paths(e) if p.count("/") >= depth}
        shallow = any(p.count("/") < depth for e in entries for p in _paths(e))
        if len(prefixes) != 1 or shallow:
            break
        depth += 1
    return depth


def area_of(e: Entry, depth: int) -> str:
    """The area where most of a commit's changed lines are (a file counts at least one line)."""
    lines: Counter[str] = Counter()
    for f in e.commit.files:
        p = f.path
        area = "/".join(p.split("/")[:depth]) if p.count("/") >= depth else p.rsplit("/", 1)[0] if "/" in p else "/"
        lines[area] += f.additions + f.deletions + 1
    return lines.most_common(1)[0][0] if lines else NO_AREA


def roll_up(repo: str, span: DayRange, zone: str, lang: str, branch: str, digests: list[Digest]) -> Rollup:
    """The days' digests (one per day of `span` that has one, any order) rolled into one view of the range."""
    by_day = {d.day: d for d in digests}
    ordered = [by_day[day] for day in span.days if day in by_day]
    entries = [e for d in reversed(ordered) for e in d.entries if _told(e)]  # newest day first
    depth = area_depth(entries)
    areas: dict[str, tuple[list[Entry], list[Entry]]] = {}
    for e in entries:
        high, breaking = areas.setdefault(area_of(e, depth), ([], []))
        if e.importance == "high":
            high.append(e)
        if e.breaking_changes:
            breaking.append(e)
    listed = sorted(((name, h, b) for name, (h, b) in areas.items() if h or b),
                    key=lambda a: (-len(a[1]), -len(a[2]), a[0]))
    return Rollup(
        repo=repo, span=span, zone=zone, lang=lang, branch=branch,
        days=tuple(DayTotal(d.day, d.stats) for d in ordered),
        areas=tuple(Area(name, tuple(sorted(h, key=_size)), tuple(b)) for name, h, b in listed),
        web_url=next((d.web_url for d in ordered if d.web_url), None),
    )
