"""A day in a time zone -> the half-open UTC window [start, end) of its commits.

Pure functions: the clock (`now`) is always a parameter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core.errors import BadDate

_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
EARLIEST_YEAR = 1970  # git dates are Unix timestamps


@dataclass(frozen=True)
class Window:
    day: date
    zone: str
    start: datetime  # aware, UTC
    end: datetime  # aware, UTC, exclusive


def parse_zone(name: str) -> ZoneInfo:
    if not name or len(name) > 64 or ".." in name or name.startswith("/"):
        raise BadDate(f"unknown time zone {name!r}: use an IANA name such as Asia/Shanghai or UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a zone folder such as "America"
        raise BadDate(f"unknown time zone {name!r}: use an IANA name such as Asia/Shanghai or UTC") from None


def local_today(now: datetime, zone: str) -> date:
    return now.astimezone(parse_zone(zone)).date()


def parse_day(text: str, zone: str, now: datetime, *, zone_named: bool = True) -> date | str:
    """`YYYY-MM-DD`, `today` or `yesterday` -> a date; `latest` is returned as is (the source resolves it).

    "today" and "the future" are judged in `zone`; a refusal names it only if the user did (`zone_named`).
    """
    value = text.strip().lower()
    today = local_today(now, zone)
    if value == "today":
        return today
    if value == "yesterday":
        return today - timedelta(days=1)
    if value == "latest":
        return "latest"
    if not _ISO_DAY.fullmatch(value):
        shown = text if len(text) <= 40 else text[:40] + "…"
        raise BadDate(f"not a date: {shown!r}; use YYYY-MM-DD, today, yesterday or latest")
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise BadDate(f"no such date: {text}; use a real calendar date as YYYY-MM-DD") from None
    if day > today:
        if zone_named:
            raise BadDate(f"{day.isoformat()} is in the future in {zone} (today is {today.isoformat()})")
        raise BadDate(f"{day.isoformat()} is in the future: ask for a day that has begun")
    if day.year < EARLIEST_YEAR:
        raise BadDate(f"{day.isoformat()} is before {EARLIEST_YEAR}: no commit can be dated then")
    return day


def day_window(day: date, zone: str) -> Window:
    """[00:00, next 00:00) of `day` in `zone`, as UTC instants; a DST day is 23 or 25 hours long."""
    tz = parse_zone(zone)
    start = datetime.combine(day, time(0), tzinfo=tz).astimezone(timezone.utc)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz).astimezone(timezone.utc)
    return Window(day=day, zone=zone, start=start, end=end)


def day_of(moment: datetime, zone: str) -> date:
    return moment.astimezone(parse_zone(zone)).date()
