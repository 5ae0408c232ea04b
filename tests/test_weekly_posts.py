"""Weekly roll-ups are posted exactly once, like daily posts: claimed by their ISO week, caught up after a
missed week, resumed by a new process after a SIGKILL (issue 14)."""

from __future__ import annotations

import signal
from datetime import date, datetime, time, timedelta, timezone

from handlers.schedule import Schedule
from storage import posts
from storage import subscriptions as subs
from tests.gitrepo import GitRepo
from tests.servers.slack import SlackServer
from tests.test_publisher import publisher_alone
from tests.test_slack import REPO, bot_process, finish, settings_env

MONDAY = datetime(2026, 1, 12, 9, 30, tzinfo=timezone.utc)  # W03's Monday: W02 (5..11 January) is due


def week_of_commits(repo: GitRepo) -> None:
    """3 commits on each of Tuesday, Thursday and Sunday of W02, and 2 in W03."""
    days = (date(2026, 1, 6), date(2026, 1, 8), date(2026, 1, 11), date(2026, 1, 14))
    repo.bulk([(f"[Feature] change on {day} number {i} (#{day.day * 10 + i})", {f"python/pkg/m{day.day}_{i}.py":
                f"x = {i}\n"}, datetime(day.year, day.month, day.day, 10 + i, tzinfo=timezone.utc))
               for day in days for i in range(3 if day.day < 14 else 2)])


def test_a_weekly_subscription_posts_its_week_once_and_catches_up_a_missed_one(tmp_path):
    repo = GitRepo(tmp_path / "upstream")
    week_of_commits(repo)
    with SlackServer(channels=["C1"]) as slack:
        env = settings_env(tmp_path, slack, repo)
        publisher = publisher_alone(env)
        subs.save(publisher.service.db, subs.Subscription("slack", "C1", REPO, at=time(9), zone="UTC", lang="en",
                                                          weekly="mon 09:00", daily=False),
                  MONDAY - timedelta(days=30))
        schedule = Schedule(publisher.service, publisher, clock=lambda: MONDAY)
        schedule.sync()
        assert set(schedule.next_runs()) == {f"slack:C1|{REPO}|weekly"}  # weekly only: no daily job
        schedule.run_weekly("slack", "C1", REPO)
        schedule.run_weekly("slack", "C1", REPO)  # a second firing: the week is claimed
        tops = slack.messages("C1", top_level=True)
        assert len(tops) == 1 and "week 2026-W02" in slack.all_text(tops[0]) and "9 commits" in slack.all_text(tops[0])
        restarted = publisher_alone(env)  # a new process: the claim is in the database
        later = MONDAY + timedelta(days=8)  # Tuesday of W04: W03 was missed while the bot was down
        Schedule(restarted.service, restarted, clock=lambda: later).catch_up()
        Schedule(restarted.service, restarted, clock=lambda: later).catch_up()
        tops = slack.messages("C1", top_level=True)
        assert [("2026-W02" in slack.all_text(m), "2026-W03" in slack.all_text(m)) for m in tops] == [
            (True, False), (False, True)]
        assert posts.load(restarted.service.db, posts.PostKey("slack", "C1", REPO, "2026-W03")).state == "posted"
        assert posts.posted_digests(restarted.service.db) == []  # the backfill edits days, never a roll-up


def test_killed_while_posting_the_week_and_restarted_posts_it_once(tmp_path):
    repo = GitRepo(tmp_path / "upstream")
    week_of_commits(repo)
    with SlackServer(channels=["C1"]) as slack:
        env = settings_env(tmp_path, slack, repo)
        slack.hold()
        slack.fail("chat.postMessage", "post_then_hold", times=1)  # Slack keeps it; the answer never comes
        args = ("post", REPO, "--date", "2026-01-05..2026-01-11", "--to", "slack:C1")
        proc = bot_process(env, *args)
        slack.wait_for(lambda: slack.messages("C1"), timeout=60)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        slack.release()
        out = finish(bot_process(env, *args))
        assert "2026-W02: posted" in out
        assert len(slack.messages("C1", top_level=True)) == 1  # found by its tag, not posted again
        assert "2026-W02: already" in finish(bot_process(env, *args))
