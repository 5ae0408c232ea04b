"""When weekly roll-ups are due and which are owed, in the subscription's zone (issue 14)."""

from __future__ import annotations

from datetime import date, datetime, timezone

from core.ranges import DayRange
from handlers.weekly import due_at, last_due, owed_weeks, week_of

W02 = DayRange(date(2026, 1, 5), date(2026, 1, 11))


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


def test_a_week_is_due_at_the_first_chosen_moment_after_it_ends():
    assert due_at("mon 09:00", "UTC", W02) == utc(2026, 1, 12, 9)
    assert due_at("mon 09:00", "Asia/Shanghai", W02) == utc(2026, 1, 12, 1)
    assert due_at("fri 17:30", "UTC", W02) == utc(2026, 1, 16, 17, 30)
    assert week_of(date(2026, 1, 11)) == W02 and W02.key == "2026-W02"


def test_owed_weeks_skip_posted_ones_and_those_due_before_the_subscription():
    now = utc(2026, 1, 20, 12)  # Tuesday of W04: W02 and W03 are both due
    assert [w.key for w in owed_weeks("mon 09:00", "UTC", now, set(), None)] == ["2026-W02", "2026-W03"]
    assert [w.key for w in owed_weeks("mon 09:00", "UTC", now, {"2026-W03"}, None)] == ["2026-W02"]
    assert owed_weeks("mon 09:00", "UTC", now, set(), created_at=utc(2026, 1, 19, 10)) == []
    assert [w.key for w in owed_weeks("mon 09:00", "UTC", utc(2026, 1, 19, 8), set(), None)] == ["2026-W02"]


def test_the_job_posts_the_last_full_week():
    assert last_due("mon 09:00", "UTC", utc(2026, 1, 12, 9)) == W02
    assert last_due("mon 09:00", "Asia/Shanghai", utc(2026, 1, 12, 1)) == W02
