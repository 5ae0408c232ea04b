"""The one chat grammar (Slack and Feishu), the schedule's times across DST, and the checks before a command runs."""

from __future__ import annotations

from datetime import date, datetime, time, timezone

import pytest

from handlers import commands as cmd
from handlers.schedule import due_at, next_fire, owed_days
from storage.subscriptions import Subscription


@pytest.mark.parametrize("command,text,expected", [
    ("/digest", "", cmd.DigestCommand()),
    ("/digest", "2026-01-11", cmd.DigestCommand(day="2026-01-11")),
    ("/digest", "yesterday sgl-project/sglang", cmd.DigestCommand(day="yesterday", repo="sgl-project/sglang")),
    ("/digest", "sgl-project/sglang 2026-01-11 lang zh", cmd.DigestCommand("2026-01-11", "sgl-project/sglang", "zh")),
    ("/digest", "2026-07-11 sgl-project/sglang tz Asia/Shanghai",
     cmd.DigestCommand("2026-07-11", "sgl-project/sglang", zone="Asia/Shanghai")),
    ("/digest", "subscribe sgl-project/sglang at 09:00 tz Asia/Shanghai lang zh branch main quiet skip",
     cmd.Subscribe("sgl-project/sglang", time(9, 0), "Asia/Shanghai", "zh", "main", "skip")),
    ("/digest", "unsubscribe sgl-project/sglang", cmd.Unsubscribe("sgl-project/sglang")),
    ("/digest", "list", cmd.ListSubscriptions()),
    ("/digest", "status lang zh", cmd.Status("zh")),
    ("/digest", "help", cmd.Help()),
    ("/digest", "frobnicate", cmd.Help(unknown="frobnicate")),
    ("/analyze", "D112F6A", cmd.AnalyzeCommand("d112f6a")),
    ("/analyze", "d112f6a sgl-project/sglang lang en", cmd.AnalyzeCommand("d112f6a", "sgl-project/sglang", "en")),
])
def test_commands_parse(command, text, expected):
    assert cmd.parse(command, text) == expected


@pytest.mark.parametrize("command,text,says", [
    ("/digest", "2026-01-11 2026-01-12", "two dates"),
    ("/digest", "a/b/c", "not a repository name"),
    ("/digest", "2026/01/11", "not a date"),
    ("/digest", "subscribe sgl-project/sglang at 9am", "not a time of day"),
    ("/digest", "subscribe sgl-project/sglang tz Mars/Olympus", "unknown time zone"),
    ("/digest", "2026-01-11 tz Mars/Olympus", "unknown time zone"),
    ("/digest", "subscribe sgl-project/sglang quiet loud", "quiet is skip"),
    ("/digest", "subscribe", "name one repository"),
    ("/digest", "lang fr", "unknown language"),
    ("/analyze", "", "give one commit SHA"),
    ("/analyze", "zzzzzzz", "not a commit SHA"),
    ("/analyze", "<!channel>", "not a commit SHA"),
    ("/digest", "x" * 600, "at most 500"),
])
def test_bad_commands_say_what_is_wrong(command, text, says):
    with pytest.raises(cmd.BadCommand) as err:
        cmd.parse(command, text)
    assert says in str(err.value)


def sub(at: time, zone: str, created: datetime | None = None) -> Subscription:
    return Subscription("slack", "C1", "a/b", at=at, zone=zone, lang="en", created_at=created)


def test_next_fire_times_in_several_zones_across_dst():
    # New York leaves DST on 2026-11-01: 09:00 local is 13:00 UTC before and 14:00 UTC after
    ny = sub(time(9, 0), "America/New_York")
    assert next_fire(ny, datetime(2026, 10, 31, 14, 0, tzinfo=timezone.utc)) == datetime(2026, 11, 1, 14, 0, tzinfo=timezone.utc)
    assert next_fire(ny, datetime(2026, 10, 30, 12, 0, tzinfo=timezone.utc)) == datetime(2026, 10, 30, 13, 0, tzinfo=timezone.utc)
    # Berlin enters DST on 2026-03-29: 09:00 local is 08:00 UTC before, 07:00 UTC after
    berlin = sub(time(9, 0), "Europe/Berlin")
    assert next_fire(berlin, datetime(2026, 3, 28, 9, 0, tzinfo=timezone.utc)) == datetime(2026, 3, 29, 7, 0, tzinfo=timezone.utc)
    shanghai = sub(time(9, 0), "Asia/Shanghai")  # no DST
    assert next_fire(shanghai, datetime(2026, 3, 28, 9, 0, tzinfo=timezone.utc)) == datetime(2026, 3, 29, 1, 0, tzinfo=timezone.utc)
    # 02:30 does not exist in New York on 2026-03-08: the run still happens that day
    ny_night = sub(time(2, 30), "America/New_York")
    fire = next_fire(ny_night, datetime(2026, 3, 8, 5, 0, tzinfo=timezone.utc))
    assert fire is not None and fire.date() == date(2026, 3, 8)


def test_catch_up_owes_only_missed_days_after_the_subscription_was_made():
    now = datetime(2026, 1, 14, 12, 0, tzinfo=timezone.utc)
    old = sub(time(9, 0), "UTC", datetime(2026, 1, 1, tzinfo=timezone.utc))
    assert owed_days(old, now, set()) == [date(2026, 1, 11), date(2026, 1, 12), date(2026, 1, 13)]
    assert owed_days(old, now, {"2026-01-12"}) == [date(2026, 1, 11), date(2026, 1, 13)]
    new = sub(time(9, 0), "UTC", datetime(2026, 1, 13, 10, 0, tzinfo=timezone.utc))
    assert owed_days(new, now, set()) == [date(2026, 1, 13)]  # due 2026-01-14 09:00, after it was made
    assert due_at(old, date(2026, 1, 13)) == datetime(2026, 1, 14, 9, 0, tzinfo=timezone.utc)
