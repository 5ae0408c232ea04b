"""A roll-up of several days from their stored digests (issue 14): totals per day, high commits and breaking
changes by area, merges told through their commits."""

from __future__ import annotations

from datetime import date

from core.ranges import DayRange
from digest.range_build import digests_of
from digest.rollup import area_depth, area_of, roll_up
from tests.bigday import big_day
from tests.conftest import clone_ref, git_service, sample_history


def test_a_range_rolls_up_the_days_of_a_real_repository(repo, db):
    shas = sample_history(repo)
    service = git_service(db)
    span = DayRange(date(2026, 1, 10), date(2026, 1, 12))
    digests = [service.build_digest(clone_ref(repo), day, "UTC", "en") for day in span.days]
    r = roll_up("sgl-project/sglang", span, "UTC", "en", "main", digests)
    assert [d.day for d in r.days] == span.days
    assert [d.stats.total for d in r.days] == [d.stats.total for d in digests]
    assert r.total.total == sum(d.stats.total for d in digests)
    listed = [e.commit.sha for a in r.areas for e in (*a.high, *a.breaking)]
    assert shas["merge"] not in listed  # told through its commits
    breaking = [e.commit.sha for a in r.areas for e in a.breaking]
    assert breaking == [shas["breaking"]]  # the removed --load-balance-method flag, found by the rules
    assert {a.name for a in r.areas} <= {"python", "docs", "assets", ".github"}
    python_only = [e for d in digests for e in d.entries if e.commit.files
                   and all(f.path.startswith("python/sglang/") for f in e.commit.files)]
    depth = area_depth(python_only)
    assert depth == 3 and {area_of(e, depth) for e in python_only} >= {"python/sglang/srt", "python/sglang/jit_kernel"}


def test_areas_go_one_level_deeper_while_every_commit_shares_it():
    week = [big_day(40, day=date(2026, 1, d)) for d in range(5, 12)]
    entries = [e for d in week for e in d.entries]
    assert area_depth(entries) == 1  # big_day's commits carry no files: nothing to go deeper on
    r = roll_up("sgl-project/sglang", DayRange(date(2026, 1, 5), date(2026, 1, 11)), "UTC", "en", "main", week)
    assert r.total.total == 280 and len(r.days) == 7
    assert sum(len(a.high) for a in r.areas) == r.total.high


def test_a_range_builds_only_the_days_never_built_and_says_so(repo, db):
    sample_history(repo)
    service = git_service(db)
    span = DayRange(date(2026, 1, 9), date(2026, 1, 11))
    service.build_digest(clone_ref(repo), date(2026, 1, 10), "UTC", "en")
    heard: list[tuple[int, int, date]] = []
    first = digests_of(service, clone_ref(repo), span, "UTC", "en", progress=lambda *p: heard.append(p))
    assert heard == [(1, 2, date(2026, 1, 9)), (2, 2, date(2026, 1, 11))]
    assert [d.day for d in first] == span.days
    heard.clear()
    again = digests_of(git_service(db), clone_ref(repo), span, "UTC", "en", progress=lambda *p: heard.append(p))
    assert heard == [] and [d.stats for d in again] == [d.stats for d in first]
