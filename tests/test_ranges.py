"""Ranges of days and the last full week, judged in the subscription's zone (issue 14)."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from core.errors import BadDate
from core.ranges import MAX_DAYS, DayRange, is_range, last_week, parse_range

NOW = datetime(2026, 1, 12, 20, 0, tzinfo=timezone.utc)  # Monday 20:00 UTC; Tuesday 04:00 in Shanghai


def test_a_range_lists_its_days_inclusive():
    r = parse_range("2026-01-05..2026-01-11", "UTC", NOW)
    assert r.days[0] == date(2026, 1, 5) and r.days[-1] == date(2026, 1, 11) and len(r.days) == 7
    assert r.key == "2026-W02" and r.label == "2026-01-05..2026-01-11"
    assert parse_range("2026-01-06..2026-01-08", "UTC", NOW).key == "2026-01-06..2026-01-08"


def test_week_is_the_last_full_week_monday_first_in_the_zone():
    assert last_week("UTC", NOW) == DayRange(date(2026, 1, 5), date(2026, 1, 11))
    # in Shanghai it is already Tuesday 13 January: the last full week is still 5..11
    assert last_week("Asia/Shanghai", NOW) == DayRange(date(2026, 1, 5), date(2026, 1, 11))
    sunday_late = datetime(2026, 1, 11, 23, 30, tzinfo=timezone.utc)  # Sunday in UTC, Monday 12th in Shanghai
    assert last_week("UTC", sunday_late) == DayRange(date(2025, 12, 29), date(2026, 1, 4))
    assert last_week("Asia/Shanghai", sunday_late) == DayRange(date(2026, 1, 5), date(2026, 1, 11))
    assert parse_range("week", "UTC", NOW) == last_week("UTC", NOW)


@pytest.mark.parametrize("text", ["2026-01-11..2026-01-05", "2025-11-01..2026-01-01", "2026-01-05..",
                                  "..2026-01-05", "2026-01-05..2026-01-06..2026-01-07", "2026-13-01..2026-13-05",
                                  "2026-01-05..2027-01-01", "latest..2026-01-05", "x" * 2000 + "..y"])
def test_bad_ranges_say_what_is_wrong(text):
    with pytest.raises(BadDate) as err:
        parse_range(text, "UTC", NOW)
    assert len(str(err.value)) < 200


def test_at_most_max_days():
    assert len(parse_range("2025-12-13..2026-01-12", "UTC", NOW).days) == MAX_DAYS
    with pytest.raises(BadDate, match=f"at most {MAX_DAYS} days"):
        parse_range("2025-12-12..2026-01-12", "UTC", NOW)


def test_is_range():
    assert is_range("2026-01-05..2026-01-11") and is_range("WEEK") and not is_range("2026-01-05")
