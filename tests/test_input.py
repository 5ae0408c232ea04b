"""Bad input gets one clear error, never a crash: dates, zones, repository names, SHAs, configuration."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from handlers.config import Settings
from core.errors import BadDate, BadInput, BadRepo, BadSha
from core.models import parse_repo_name
from digest.service import parse_sha
from core.window import day_window, parse_day

NOW = datetime(2026, 1, 12, 1, 0, tzinfo=timezone.utc)  # already Jan 12 in Shanghai, still Jan 11 in New York


@pytest.mark.parametrize("text, message", [
    ("2026-13-45", "no such date"), ("2026-02-30", "no such date"), ("tomorrow", "not a date"),
    ("'; DROP TABLE commits; --", "not a date"), ("2026-1-5", "not a date"), ("", "not a date"),
    ("2027-01-01", "in the future"),
])
def test_bad_dates(text, message):
    with pytest.raises(BadDate, match=message):
        parse_day(text, "UTC", NOW)


def test_today_and_the_future_are_judged_in_the_zone():
    assert parse_day("today", "Asia/Shanghai", NOW) == date(2026, 1, 12)
    assert parse_day("today", "America/New_York", NOW) == date(2026, 1, 11)
    assert parse_day("yesterday", "America/New_York", NOW) == date(2026, 1, 10)
    assert parse_day("2026-01-12", "Asia/Shanghai", NOW) == date(2026, 1, 12)
    with pytest.raises(BadDate, match="future"):
        parse_day("2026-01-12", "America/New_York", NOW)
    assert parse_day("latest", "UTC", NOW) == "latest"


def test_window_of_a_day_in_a_zone():
    w = day_window(date(2026, 1, 11), "Asia/Shanghai")
    assert (w.start.isoformat(), w.end.isoformat()) == ("2026-01-10T16:00:00+00:00", "2026-01-11T16:00:00+00:00")
    spring = day_window(date(2026, 3, 8), "America/New_York")
    assert (spring.end - spring.start).total_seconds() == 23 * 3600
    with pytest.raises(BadDate, match="time zone"):
        day_window(date(2026, 1, 11), "Mars/Olympus")
    with pytest.raises(BadDate, match="time zone"):
        day_window(date(2026, 1, 11), "../../etc/passwd")


@pytest.mark.parametrize("name", ["a/b/c", "../x", "a b", "owner", "/x", "a/", "a/b c", "<!channel>/x", "a/..", ""])
def test_bad_repository_names(name):
    with pytest.raises(BadRepo, match="owner/name"):
        parse_repo_name(name)


def test_good_repository_names():
    assert parse_repo_name("sgl-project/sglang") == "sgl-project/sglang"
    assert parse_repo_name(" vllm-project/vllm.git ") == "vllm-project/vllm"


@pytest.mark.parametrize("sha", ["xyz1234", "abc12", "d112f6a" * 6, "d112f6a;rm", "<!here>"])
def test_bad_shas(sha):
    with pytest.raises(BadSha):
        parse_sha(sha)


def test_configuration_is_checked():
    assert Settings.from_env({}).llm_enabled is False
    s = Settings.from_env({"GIT_CLONES": "a/b=/tmp/x, c/d=/tmp/y", "LLM_BASE_URL": "http://x/v1", "LLM_MODEL": "m"})
    assert set(s.git_clones) == {"a/b", "c/d"} and s.llm_enabled
    for env in ({"LLM_CONCURRENCY": "lots"}, {"LLM_CONCURRENCY": "0"}, {"DIGEST_TZ": "Nowhere/City"},
                {"DIGEST_LANG": "fr"}, {"GIT_CLONES": "a/b/c=/x"}, {"GIT_CLONES": "a/b"}):
        with pytest.raises(BadInput):
            Settings.from_env(env)
