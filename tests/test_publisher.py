"""The Publisher stands alone: the schedule, its retry job and the "Post to channel" button post through it with
no ChatOps built (no service locator behind them). Real SQLite, a real git clone, the local Slack server."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timezone

from bot import make_service
from handlers.config import Settings
from digest.repos import resolve_repo
from handlers import slack as slack_handlers
from handlers.checks import ChatSettings, Checks
from handlers.post_button import PostButton, PostClick
from handlers.publisher import Destinations, Publisher
from handlers.schedule import Schedule
from storage import posts
from storage import subscriptions as subs
from storage.subscriptions import Subscription
from tests.gitrepo import GitRepo
from tests.servers.slack import SlackServer
from tests.test_slack import DAY, REPO, Recorder, day_of_commits, settings_env

NOW = datetime(2026, 1, 12, 1, 30, tzinfo=timezone.utc)  # 09:30 in Shanghai on the day after DAY


def publisher_alone(env: dict[str, str]) -> Publisher:
    """A Publisher built from its own parts: the service, a Slack destination factory, the repository names."""
    settings = Settings.from_env(env)
    service = make_service(settings, settings.database_path)
    destinations = Destinations({"slack": slack_handlers.destination_factory(
        settings.slack_bot_token or "", settings.slack_api_url, slack_handlers.Pacer(0))})
    return Publisher(service, destinations,
                     lambda name: resolve_repo(name, None, settings.git_clones, settings.github_api_url),
                     clock=lambda: NOW)


def in_chinese(text: str) -> bool:
    return re.search(r"[\u4e00-\u9fff]", text) is not None


def top_texts(slack: SlackServer, channel: str) -> list[str]:
    return [slack.all_text(m) for m in slack.messages(channel, top_level=True)]


def test_the_daily_job_posts_yesterday_in_the_subscriptions_zone_through_the_publisher(tmp_path):
    repo = GitRepo(tmp_path / "upstream")
    day_of_commits(repo, 4)
    with SlackServer(channels=["C1"]) as slack:
        publisher = publisher_alone(settings_env(tmp_path, slack, repo))
        db = publisher.service.db
        subs.save(db, Subscription(platform="slack", channel="C1", repo=REPO, at=time(9, 0), zone="Asia/Shanghai",
                                   lang="zh"), datetime(2026, 1, 1, tzinfo=timezone.utc))
        schedule = Schedule(publisher.service, publisher, clock=lambda: NOW)
        schedule.run_daily("slack", "C1", REPO)
        schedule.run_daily("slack", "C1", REPO)  # a second firing (another process, a coalesced run): no post
        tops = top_texts(slack, "C1")
        assert len(tops) == 1 and "2026-01-11" in tops[0] and in_chinese(tops[0]), tops  # yesterday in Shanghai
        row = posts.load(db, posts.PostKey("slack", "C1", REPO, "2026-01-11"))
        assert (row.state, row.zone, row.lang) == ("posted", "Asia/Shanghai", "zh")


def test_the_retry_job_finishes_an_on_demand_post_with_the_zone_and_language_it_was_claimed_with(tmp_path):
    """`bot.py post --to slack:C2 --tz Asia/Shanghai --lang zh` whose send failed: C2 has no subscription, so the
    retry job posts it with the settings saved with its claim (zh), not the defaults (en)."""
    repo = GitRepo(tmp_path / "upstream")
    day_of_commits(repo, 4, day=date(2026, 1, 10))
    with SlackServer(channels=["C2"]) as slack:
        publisher = publisher_alone(settings_env(tmp_path, slack, repo))
        slack.fail("chat.postMessage", "error", error="internal_error", times=1)
        first = publisher.post("slack", "C2", REPO, date(2026, 1, 10), "Asia/Shanghai", "zh", None)
        assert first.status == "failed" and not slack.messages("C2")
        Schedule(publisher.service, publisher, clock=lambda: NOW).retry_failed()
        tops = top_texts(slack, "C2")
        assert len(tops) == 1 and "2026-01-10" in tops[0] and in_chinese(tops[0]), tops
        assert posts.load(publisher.service.db, posts.PostKey("slack", "C2", REPO, "2026-01-10")).state == "posted"


def test_the_post_button_posts_through_the_publisher_once_per_click(tmp_path):
    repo = GitRepo(tmp_path / "upstream")
    day_of_commits(repo, 4)
    with SlackServer(channels=["C1"]) as slack:
        publisher = publisher_alone(settings_env(tmp_path, slack, repo))
        checks = Checks(publisher.service, ChatSettings(allowed_repos=(REPO,)), publisher.repo_ref,
                        clock=lambda: NOW)
        button = PostButton(publisher.service, publisher, checks, clock=lambda: NOW)
        click = PostClick("slack", "C1", "U1", "post|C1|1.0|v", REPO, DAY, "UTC", "en")
        said = Recorder()
        assert button.click(click, said).status == "posted"
        assert button.click(click, said) is None  # the same click delivered twice: nothing more
        again = PostClick("slack", "C1", "U2", "post|C1|2.0|v", REPO, DAY, "UTC", "en")  # another click, same day
        assert button.click(again, said).status == "already" and "already in this channel" in said.notices[-1]
        assert len(top_texts(slack, "C1")) == 1
        today = PostClick("slack", "C1", "U1", "post|C1|3.0|v", REPO, date(2026, 1, 12), "UTC", "en")
        assert button.click(today, said) is None and "has not ended yet" in said.notices[-1]
