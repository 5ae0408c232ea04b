"""Answers to a command or a click, as cards that are PATCHed in place."""

from __future__ import annotations

import logging
import threading
import time
import uuid as uuidlib
from typing import Any

from core.models import CommitReport, Digest
from digest.labels import text
from digest import rollup_view
from digest.render import feishu as render
from digest.render import rollup as render_rollup
from digest.rollup import Rollup
from handlers.feishu.openapi import FeishuError, OpenApi

log = logging.getLogger(__name__)


class CardReply:
    """Answers to one command or click: a card replying to `anchor` ("Generating …"), PATCHed with the result;
    what does not fit one card follows in its thread. Every reply has a uuid, so a retry never answers twice."""

    def __init__(self, api: OpenApi, anchor: str, lang: str, *, in_thread: bool = False,
                 progress_every: float = 2.0, chat: str = "", click: str = "") -> None:
        self.api = api
        self.anchor = anchor
        self.channel, self.message = chat, anchor  # a click's thread (handlers/deep.py)
        self.click = click  # a click on a card: its answers differ from another click's on the same card
        self.lang = lang
        self.in_thread = in_thread
        self.progress_every = progress_every
        self.card_id: str | None = None
        self.sent = 0
        self.last_progress = 0.0
        self._lock = threading.Lock()

    def _uuid(self, n: int) -> str:
        anchor = f"{self.anchor}|{self.click}" if self.click else self.anchor
        return uuidlib.uuid5(uuidlib.NAMESPACE_URL, f"feishu-answer|{anchor}|{n}").hex

    def _reply(self, card: dict[str, Any], to: str | None = None, in_thread: bool | None = None) -> str:
        with self._lock:
            self.sent += 1
            n = self.sent
        return self.api.reply(to or self.anchor, card, self._uuid(n),
                              self.in_thread if in_thread is None else in_thread)

    def _show(self, card: dict[str, Any]) -> str | None:
        try:
            if self.card_id is None:
                self.card_id = self._reply(card)
            else:
                self.api.patch(self.card_id, card)
            return self.card_id
        except FeishuError as err:
            log.warning("cannot answer in Feishu: %s", err)
            return None

    def progress(self, line: str) -> None:
        now = time.monotonic()
        if self.card_id is not None and now - self.last_progress < self.progress_every:
            return
        self.last_progress = now
        self._show(render.progress_card(line, self.lang))

    def digest(self, digest: Digest) -> None:
        (top, _), details = render.digest_cards(digest, app=True)
        top_id = self._show(top)
        try:
            for card, _ in details:
                self._reply(card, to=top_id or self.anchor, in_thread=True)
        except FeishuError as err:
            log.warning("cannot send the detail cards in Feishu: %s", err)

    def report(self, report: CommitReport) -> None:
        self._show(render.report_card(report))

    def post(self, report: CommitReport) -> str | None:
        return self._show(render.report_card(report))

    def point_to(self, message_id: str, sha: str, lang: str) -> None:
        """A reply to the thread's card that holds the deep analysis: Feishu shows which one it answers."""
        try:
            self._reply(render.notice_card(text(lang, "deep_in_thread", sha=sha[:7]).rstrip(":："), lang),
                        to=message_id, in_thread=True)
        except FeishuError as err:
            log.warning("cannot answer in Feishu: %s", err)

    def rollup(self, rolled: Rollup) -> None:
        view = rollup_view.build(rolled)
        self._show(render_rollup.feishu_card(view, zone=rolled.zone, branch=rolled.branch, app=True))

    def notice(self, message: str) -> None:
        self._show(render.notice_card(message, self.lang))
