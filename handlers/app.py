"""The long-lived bot, assembled from settings in order: the destinations (Slack, Feishu), the Publisher, the
schedule, the chat commands, the HTTP server. `bot.py run`, `post` and `backfill` call these; nothing runs at
import."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timezone
from typing import Any

from core.errors import BadInput
from core.models import RepoRef
from handlers.config import EnvRepo, Settings
from digest.repos import resolve_repo
from digest.service import DigestService
from handlers import subscriptions as subscribing
from handlers.chat import ChatOps
from handlers.commands import Subscribe
from handlers.checks import ChatSettings, Checks
from handlers.post_button import PostButton
from handlers.publisher import Destinations, Publisher
from handlers.schedule import Schedule
from handlers.status import health_lines
from handlers.web import Health, Route, Server
from storage import subscriptions as subs
from storage import watches as env_watches
from storage.db import unwritable
from storage.subscriptions import Subscription

log = logging.getLogger(__name__)


def chat_settings(settings: Settings) -> ChatSettings:
    hh, mm = settings.digest_time.split(":")
    return ChatSettings(digest_tz=settings.digest_tz, digest_lang=settings.digest_lang, digest_time=time(int(hh), int(mm)),
                        allowed_repos=settings.allowed_repos, costly_per_hour=settings.costly_per_hour,
                        admins={"slack": frozenset(settings.slack_admins), "feishu": frozenset(settings.feishu_admins)},
                        git_clones=settings.git_clones, github_api_url=settings.github_api_url)


def configured_destinations(settings: Settings) -> list[tuple[str, str]]:
    """The default destinations: SLACK_CHANNEL, FEISHU_CHAT_ID, FEISHU_WEBHOOK_URL."""
    found = []
    if settings.slack_enabled and settings.slack_channel:
        found.append(("slack", settings.slack_channel))
    if settings.feishu_app_enabled and settings.feishu_chat_id:
        found.append(("feishu", settings.feishu_chat_id))
    if settings.feishu_webhook_url:
        found.append(("webhook", "webhook"))
    return found


def _chat(platform: str) -> str:
    """The chat a destination's mentions belong to: a Feishu webhook is in Feishu."""
    return "feishu" if platform == "webhook" else platform


def sync_env_subscriptions(db: Any, settings: Settings, now: datetime) -> list[Subscription]:
    """DIGEST_REPOS x the configured destinations, re-created at each start; those it no longer names removed."""
    made, keep, defaults = [], set(), chat_settings(settings)
    options = {o.repo: o for o in settings.repo_options}
    for platform, channel in configured_destinations(settings):
        for repo in settings.digest_repos:
            existing = subs.get(db, platform, channel, repo)
            if existing is not None and existing.source == "chat":
                continue  # a subscription made in chat wins over the environment
            said = options.get(repo) or EnvRepo(repo, Subscribe(repo))  # Settings built in code may name repos only
            made.append(subscribing.subscribe(db, said.subscribe, platform, channel, None, defaults, now, source="env"))
            keep.add((platform, channel, repo))
            env_watches.replace_env(db, platform, channel, repo, [  # a mention notifies on its own platform only
                (w.kind, w.pattern, w.mention if w.mention and w.mention.platform == _chat(platform) else None)
                for w in said.watches], now)
    subs.drop_env(db, keep)
    return made


@dataclass
class Bot:
    settings: Settings
    service: DigestService
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
    destinations: Destinations = field(init=False)
    publisher: Publisher = field(init=False)
    schedule: Schedule = field(init=False)
    checks: Checks = field(init=False)
    ops: ChatOps = field(init=False)
    post_button: PostButton = field(init=False)
    stopping: threading.Event = field(default_factory=threading.Event)
    closers: list[Callable[[], None]] = field(default_factory=list)
    feishu: Any = field(init=False, default=None)

    def __post_init__(self) -> None:
        """Each part built once its parts are: nothing is patched in afterwards."""
        self.destinations = Destinations()
        if self.settings.slack_enabled:
            from handlers import slack

            pacer = slack.Pacer(self.settings.slack_post_interval)
            self.destinations.factories["slack"] = slack.destination_factory(self.settings.slack_bot_token or "",
                                                                             self.settings.slack_api_url, pacer)
        if self.settings.feishu_app_enabled or self.settings.feishu_webhook_url:
            from handlers import feishu

            self.feishu = feishu.Feishu(self.settings, clock=self.clock)
            self.destinations.factories.update(self.feishu.factories())
        self.publisher = Publisher(self.service, self.destinations, self.repo_ref, clock=self.clock)
        self.schedule = Schedule(self.service, self.publisher, clock=self.clock, keep=self.settings.retention)
        chat = chat_settings(self.settings)
        self.checks = Checks(self.service, chat, self.repo_ref, clock=self.clock,
                             private=lambda ref: self.service.source_for(ref).is_private())
        self.ops = ChatOps(self.service, self.checks, chat, next_runs=self.schedule.next_runs,
                           on_subscriptions_changed=self.schedule.sync, health=self.health_lines, clock=self.clock)
        self.post_button = PostButton(self.service, self.publisher, self.checks, clock=self.clock)

    def repo_ref(self, name: str) -> RepoRef:
        """Where a repository named in chat or on the command line is read from: a GIT_CLONES clone, else GitHub."""
        return resolve_repo(name, None, self.settings.git_clones, self.settings.github_api_url)

    def health_lines(self, lang: str, zone: str) -> list[str]:
        return health_lines(self.service, bool(self.settings.github_token), self.clock(), lang, zone)

    def health(self) -> Health:
        """Healthy, or why not: what /healthz answers (the details stay in /digest status, per channel)."""
        problems = []
        if not self.schedule.scheduler.running:
            problems.append("the scheduler is not running: no daily post will be made")
        connection = self.feishu.connection if self.feishu is not None else None
        if connection is not None and connection.failed is not None:
            problems.append(f"the Feishu long connection failed ({type(connection.failed).__name__}): check "
                            "FEISHU_APP_ID, FEISHU_APP_SECRET and FEISHU_BASE_URL, then restart")
        if (why := unwritable(self.settings.database_path)) is not None:
            problems.append(f"the database cannot be written: {why}")
        return Health(tuple(problems))

    # -- run -----------------------------------------------------------------------------------------------

    def start(self) -> Server:
        sync_env_subscriptions(self.service.db, self.settings, self.clock())
        routes: dict[str, Route] = {}
        if self.settings.slack_enabled:
            self._start_slack(routes)
        if self.feishu is not None:
            self.closers.extend(self.feishu.start(self.ops, routes))
        # only an HTTP route needs the outside; Socket Mode and the Feishu long connection dial out
        host = self.settings.host or ("0.0.0.0" if routes else "127.0.0.1")
        server = Server(self.settings.port, routes, self.health, host=host)
        server.start()
        self.closers.append(server.stop)
        self.schedule.start()
        self.closers.append(self.schedule.shutdown)
        return server

    def _start_slack(self, routes: dict[str, Route]) -> None:
        from handlers import slack

        app = slack.build_app(self.settings.slack_bot_token or "", self.settings.slack_signing_secret,
                              self.settings.slack_api_url)
        slack.register(app, self.ops, self.post_button)
        if self.settings.slack_app_token:  # Socket Mode: Slack sends nothing over HTTP, so no route is mounted
            from slack_bolt.adapter.socket_mode import SocketModeHandler

            handler = SocketModeHandler(app, self.settings.slack_app_token)
            handler.connect()  # returns once connected; the client keeps its own threads
            self.closers.append(handler.close)
            log.info("Slack: Socket Mode connected")
        elif not self.settings.slack_signing_secret:
            raise BadInput("Slack over HTTP needs SLACK_SIGNING_SECRET (or set SLACK_APP_TOKEN for Socket Mode)")
        else:
            routes["/slack/events"] = slack.http_route(app, self.settings.slack_signing_secret)

    def stop(self) -> None:
        for close in reversed(self.closers):
            try:
                close()
            except Exception:  # stopping: one closer failing must not keep the others from running
                log.warning("error while stopping", exc_info=True)
