"""When a subscription's weekly roll-up is due, and which weeks are owed (issue 14). Pure: the clock is a parameter.

`weekly mon 09:00` posts the last full week (Monday to Sunday, in the subscription's zone) at the first Monday
09:00 after it ends; a week missed while the bot was down is caught up at start (CATCH_UP_WEEKS back at most).
A weekly post is claimed under its ISO week (`2026-W02`), as a daily one is under its day.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from core.ranges import DayRange
from core.window import parse_zone

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CATCH_UP_WEEKS = 2


def parse_weekly(value: str) -> tuple[int, time]:
    """"mon 09:00" -> (0, 09:00)."""
    day, _, at = value.partition(" ")
    hh, _, mm = at.partition(":")
    return WEEKDAYS.index(day), time(int(hh), int(mm))


def week_of(day: date) -> DayRange:
    monday = day - timedelta(days=day.weekday())
    return DayRange(monday, monday + timedelta(days=6))


def due_at(weekly: str, zone: str, week: DayRange) -> datetime:
    """The first `weekly` moment (weekday and time, in `zone`) after the week has ended, in UTC."""
    weekday, at = parse_weekly(weekly)
    after = week.last + timedelta(days=1)  # the Monday that follows
    day = after + timedelta(days=(weekday - after.weekday()) % 7)
    return datetime.combine(day, at, tzinfo=parse_zone(zone)).astimezone(timezone.utc)


def owed_weeks(weekly: str, zone: str, now: datetime, posted: set[str], created_at: datetime | None,
               back: int = CATCH_UP_WEEKS) -> list[DayRange]:
    """Weeks due by `now`, not yet posted, due after the subscription was made; oldest first."""
    today = now.astimezone(parse_zone(zone)).date()
    this = week_of(today)
    owed = []
    for n in range(back, 0, -1):
        week = week_of(this.first - timedelta(days=7 * n))
        due = due_at(weekly, zone, week)
        if due <= now and (created_at is None or due >= created_at) and week.key not in posted:
            owed.append(week)
    return owed


def last_due(weekly: str, zone: str, now: datetime) -> DayRange:
    """The week the job that fired at `now` posts: the last full week before now in `zone`."""
    today = now.astimezone(parse_zone(zone)).date()
    return week_of(today - timedelta(days=today.weekday() + 1))
