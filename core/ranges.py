"""Ranges of days (`2026-01-05..2026-01-11`) and the last full week, in a zone (issue 14). Pure: the clock is a
parameter, as in core.window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from core.errors import BadDate
from core.window import local_today, parse_day

MAX_DAYS = 31  # days in one range: a month's roll-up, built at most once a day each


@dataclass(frozen=True)
class DayRange:
    first: date
    last: date  # inclusive

    @property
    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]

    @property
    def label(self) -> str:
        return f"{self.first.isoformat()}..{self.last.isoformat()}"

    @property
    def key(self) -> str:
        """What claims a posted roll-up: a week by its ISO week (`2026-W02`), any other range by its label."""
        year, week, weekday = self.first.isocalendar()
        if weekday == 1 and (self.last - self.first).days == 6:
            return f"{year}-W{week:02d}"
        return self.label


def is_range(text: str) -> bool:
    return ".." in text or text.strip().lower() == "week"


def parse_range(text: str, zone: str, now: datetime) -> DayRange:
    """`A..B` (each a day as `parse_day` reads it, `today`/`yesterday` included) or `week`; at most MAX_DAYS days,
    none in the future in `zone`."""
    value = text.strip()
    if value.lower() == "week":
        return last_week(zone, now)
    first_text, sep, last_text = value.partition("..")
    if not sep or not first_text or not last_text or ".." in last_text:
        shown = value if len(value) <= 40 else value[:40] + "…"
        raise BadDate(f"not a range of days: {shown!r}; use YYYY-MM-DD..YYYY-MM-DD or week")
    first, last = (parse_day(part, zone, now) for part in (first_text, last_text))
    if isinstance(first, str) or isinstance(last, str):
        raise BadDate("a range names its days: YYYY-MM-DD..YYYY-MM-DD (latest is for one day)")
    if last < first:
        raise BadDate(f"{last.isoformat()} is before {first.isoformat()}: put the earlier day first")
    if (last - first).days + 1 > MAX_DAYS:
        raise BadDate(f"a range is at most {MAX_DAYS} days; {first.isoformat()}..{last.isoformat()} is "
                      f"{(last - first).days + 1}")
    return DayRange(first, last)


def last_week(zone: str, now: datetime) -> DayRange:
    """Monday to Sunday of the last week that is over in `zone`."""
    today = local_today(now, zone)
    monday = today - timedelta(days=today.weekday() + 7)
    return DayRange(monday, monday + timedelta(days=6))


def span_of_key(key: str) -> DayRange:
    """A roll-up's claim key back to its days: `2026-W02` (Monday to Sunday) or `2026-01-05..2026-01-09`."""
    if ".." in key:
        first, _, last = key.partition("..")
        return DayRange(date.fromisoformat(first), date.fromisoformat(last))
    year, _, week = key.partition("-W")
    monday = date.fromisocalendar(int(year), int(week), 1)
    return DayRange(monday, monday + timedelta(days=6))
