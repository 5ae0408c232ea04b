"""Feishu put together for Bot: the destination factories, and for the app its event paths."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any

from handlers.chat import ChatOps
from handlers.feishu import lark_internals
from handlers.feishu.callbacks import http_route
from handlers.feishu.connection import LongConnection
from handlers.feishu.destinations import AppDestination, WebhookDestination
from handlers.feishu.events import Events
from handlers.feishu.openapi import Gate, OpenApi
from handlers.web import Route

log = logging.getLogger(__name__)


class Feishu:
    """What Bot needs from Feishu: destination factories, and (for the app) the event paths."""

    def __init__(self, settings: Any, *, clock: Callable[[], datetime] | None = None, workers: int = 16,
                 sleep: Callable[[float], None] = time.sleep, webhook_interval: float = 0.65) -> None:
        self.settings = settings
        self.gate = Gate(sleep=sleep)  # real time: the hold is about when Feishu receives a send
        self.webhook_gate = Gate(interval=webhook_interval, sleep=sleep)  # under 100 a minute
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.api = (OpenApi(settings.feishu_app_id, settings.feishu_app_secret, settings.feishu_base_url, sleep=sleep)
                    if settings.feishu_app_enabled else None)
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="feishu")
        self.sleep = sleep
        self.connection: LongConnection | None = None

    def factories(self) -> dict[str, Callable[[str], Any]]:
        found: dict[str, Callable[[str], Any]] = {}
        if self.api is not None:
            api = self.api
            found["feishu"] = lambda chat: AppDestination(api, chat, self.gate)
        if self.settings.feishu_webhook_url:
            url, secret = self.settings.feishu_webhook_url, self.settings.feishu_webhook_secret
            found["webhook"] = lambda _: WebhookDestination(url, secret, self.webhook_gate, sleep=self.sleep)
        return found

    def start(self, ops: ChatOps, routes: dict[str, Route]) -> list[Callable[[], None]]:
        """The app's event paths: /feishu/events when an Encrypt Key is set (card clicks can come that way in ws
        mode too), and the long connection in ws mode. Never a route that a verification token alone guards: the
        token travels in every plaintext callback, so whoever saw one could forge events as anyone."""
        if self.api is None:
            return []
        s = self.settings
        evts = Events(ops, self.api, self.pool, clock=self.clock)
        closers: list[Callable[[], None]] = [lambda: self.pool.shutdown(wait=False, cancel_futures=True)]
        if s.feishu_event_mode == "http" and not s.feishu_encrypt_key:
            from handlers.config import FEISHU_HTTP_NEEDS_KEY
            from core.errors import BadInput

            raise BadInput(FEISHU_HTTP_NEEDS_KEY)
        lark_internals.check_at_start(long_connection=s.feishu_event_mode == "ws")  # refuses, or warns once
        if s.feishu_encrypt_key:
            routes["/feishu/events"] = http_route(evts.handler(), s.feishu_encrypt_key, s.feishu_verification_token)
        elif s.feishu_verification_token:
            log.warning("Feishu: /feishu/events is not served: FEISHU_VERIFICATION_TOKEN alone cannot tell a forged "
                        "callback; set FEISHU_ENCRYPT_KEY to take callbacks over HTTP")
        if s.feishu_event_mode == "ws":
            self.connection = LongConnection(s.feishu_app_id, s.feishu_app_secret, s.feishu_base_url,
                                             evts.handler()).start()
            closers.append(self.connection.close)
            log.info("Feishu: long connection started")
        return closers
