"""The long-lived bot, assembled from settings: ChatOps, the schedule, Slack (Socket Mode or HTTP), Feishu, the
HTTP server. `bot.py run` and `bot.py post` call these; nothing runs at import."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from typing import Any

from digest.config import Settings
from digest.labels import counted
from core.errors import BadInput
from digest.service import DigestService
from handlers.chat import ChatOps, ChatSettings
from handlers.delivery import Destination, Poster
from handlers.schedule import Schedule
from handlers.web import Health, Route, Server
from storage import llm as llm_store
from storage import outages
from storage import subscriptions as subs
from storage.db import unwritable
from storage.subscriptions import Subscription

log = logging.getLogger(__name__)

DestinationFactory = Callable[[str], Destination]


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


def sync_env_subscriptions(db: Any, settings: Settings, now: datetime) -> list[Subscription]:
    """DIGEST_REPOS x the configured destinations, re-created at each start; those it no longer names removed."""
    hh, mm = settings.digest_time.split(":")
    made, keep = [], set()
    for platform, channel in configured_destinations(settings):
        for repo in settings.digest_repos:
            existing = subs.get(db, platform, channel, repo)
            if existing is not None and existing.source == "chat":
                continue  # a subscription made in chat wins over the environment
            made.append(subs.save(db, Subscription(platform=platform, channel=channel, repo=repo,
                                                   at=time(int(hh), int(mm)), zone=settings.digest_tz,
                                                   lang=settings.digest_lang, source="env"), now))
            keep.add((platform, channel, repo))
    subs.drop_env(db, keep)
    return made


@dataclass
class Bot:
    settings: Settings
    service: DigestService
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
    factories: dict[str, DestinationFactory] = field(default_factory=dict)
    ops: ChatOps = field(init=False)
    schedule: Schedule = field(init=False)
    stopping: threading.Event = field(default_factory=threading.Event)
    closers: list[Callable[[], None]] = field(default_factory=list)
    feishu: Any = field(init=False, default=None)

    def __post_init__(self) -> None:
        poster = Poster(db=lambda: self.service.db, clock=self.clock)
        self.ops = ChatOps(self.service, poster, chat_settings(self.settings), self.destination, clock=self.clock,
                           private=lambda ref: self.service.source_for(ref).is_private(), health=self.health_lines)
        self.schedule = Schedule(self.ops, clock=self.clock, keep=self.settings.retention)
        self.ops.next_runs = self.schedule.next_runs
        self.ops.on_subscriptions_changed = self.schedule.sync
        if self.settings.slack_enabled:
            from handlers import slack

            pacer = slack.Pacer(self.settings.slack_post_interval)
            self.factories["slack"] = slack.destination_factory(self.settings.slack_bot_token or "",
                                                                self.settings.slack_api_url, pacer)

        if self.settings.feishu_app_enabled or self.settings.feishu_webhook_url:
            from handlers import feishu

            self.feishu = feishu.Feishu(self.settings, clock=self.clock)
            self.factories.update(self.feishu.factories())

    def destination(self, platform: str, channel: str) -> Destination:
        factory = self.factories.get(platform)
        if factory is None:
            raise BadInput(f"{platform} is not configured: set its variables (see .env.example)")
        return factory(channel)

    def health_lines(self, lang: str) -> list[str]:
        db = self.service.db
        lines = []
        if self.service.llm is None:
            lines.append("LLM: turned off with --no-llm (offline rules analysis)" if self.service.llm_off
                         else "LLM: not configured (offline rules analysis)")
        else:
            health = self.service.llm.health()
            pending = db.execute("SELECT count(*) FROM pending").fetchone()[0]
            state = health.state
            if state == "ok" and health.failures:  # suspect: new calls wait for those in flight
                state = f"failing ({counted(health.failures, 'failed call', 'failed calls')} in a row, new calls held)"
            if state != "ok":
                since = f" since {health.since:%Y-%m-%d %H:%M} UTC" if health.since else ""
                state = f"{state}{since}: {health.last_error}"
            if health.models_down:
                state += f"; models not found: {', '.join(health.models_down)}"
            lines.append(f"LLM {self.service.llm.config.model}: {state}; {counted(pending, 'analysis', 'analyses')} "
                         "queued for a retry")
            week = llm_store.tokens_by_day(db, self.clock() - timedelta(days=7))
            cap = f" (cap {self.service.token_cap} a day)" if self.service.token_cap else ""
            lines.append(f"LLM cost, last 7 days: {week[0]} tokens in, {week[1]} out, "
                         f"{counted(week[2], 'call', 'calls')}{cap}")
            if (outage := outages.current(db, self.service.llm.config.endpoint)) is not None:
                lines.append(f"⚠️ LLM outage since {outage.started_at:%Y-%m-%d %H:%M} UTC: {outage.error}")
        lines.append("GitHub: " + ("token set (5000 requests/h)" if self.settings.github_token
                                   else "no GITHUB_TOKEN (60 requests/h)"))
        return lines

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
        slack.register(app, self.ops)
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
