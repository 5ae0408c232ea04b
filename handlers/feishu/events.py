"""Feishu events to ChatOps calls: which messages are commands, and the Deep analysis click. Both event paths (the
long connection and the HTTP callback) hand them to the same dispatcher."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from digest.render import feishu as render
from digest.render.rollup import DAY_ACTION
from handlers.chat import ChatOps
from handlers.feishu.openapi import OpenApi
from handlers.feishu.replies import CardReply

if TYPE_CHECKING:  # lark-oapi takes seconds to import: only the app bot loads it, a webhook never does
    import lark_oapi as lark
    from lark_oapi.api.im.v1.model.p2_im_message_receive_v1 import P2ImMessageReceiveV1
    from lark_oapi.event.callback.model.p2_card_action_trigger import P2CardActionTrigger, P2CardActionTriggerResponse

log = logging.getLogger(__name__)


def strip_mentions(text: str, mention_keys: list[str], people: dict[str, tuple[str, str]] | None = None) -> str:
    """'@_user_1 /digest 2026-01-11' -> '/digest 2026-01-11' (Feishu writes each mention as its key). A mention
    after `notify` (`people`: key -> (open_id, name)) names whom a watch notifies: it becomes `<at:ou_…|name>`,
    the form handlers/commands.py reads; every other mention (the bot's) is removed."""
    notify_at = text.lower().find("notify")
    for key in sorted(mention_keys, key=len, reverse=True):
        person = (people or {}).get(key)
        while (at := text.find(key)) != -1:
            if person and person[0].startswith("ou_") and notify_at != -1 and at > notify_at:
                name = "".join(ch for ch in person[1] if ch not in "<>|")[:80]
                word = f" <at:{person[0]}|{name}> "
            else:
                word = " "
            text = text[:at] + word + text[at + len(key):]
            notify_at = text.lower().find("notify")
    return " ".join(text.split())


def command_of(text: str) -> tuple[str, str] | None:
    """'/digest 2026-01-11' -> ('/digest', '2026-01-11'); the slash may be left out. None: not a command."""
    words = text.split(None, 1)
    if not words or words[0].lower().lstrip("/") not in ("digest", "analyze"):
        return None
    return "/" + words[0].lower().lstrip("/"), words[1] if len(words) > 1 else ""


@dataclass
class Events:
    """Turns Feishu events into ChatOps calls: acknowledged at once (work runs on the pool), each event_id once."""

    ops: ChatOps
    api: OpenApi
    pool: ThreadPoolExecutor
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(timezone.utc))
    progress_every: float = 2.0

    def _first(self, event_id: str | None) -> bool:
        if not event_id:
            return True
        return self.ops.first_event("feishu", f"event:{event_id}")

    def on_message(self, data: P2ImMessageReceiveV1) -> None:
        event, header = data.event, data.header
        if event is None or event.message is None or header is None:
            return
        if event.sender is not None and event.sender.sender_type not in (None, "user"):
            return  # another bot, or ourselves
        msg = event.message
        if msg.message_type != "text":
            return
        try:
            text = str(json.loads(msg.content or "{}").get("text", ""))
        except (ValueError, AttributeError):
            return
        keys = [m.key for m in (msg.mentions or []) if m.key]
        people = {m.key: (m.id.open_id or "", m.name or "") for m in (msg.mentions or []) if m.key and m.id}
        addressed = msg.chat_type == "p2p" or bool(keys)  # groups deliver only messages that @-mention the bot
        stripped = strip_mentions(text, keys, people)
        found = command_of(stripped)
        if not addressed and (found is None or not stripped.startswith("/")):
            return
        command, args = found or ("/digest", stripped or "help")
        if not self._first(header.event_id):
            log.info("duplicate Feishu event %s ignored", header.event_id)
            return
        user = (event.sender.sender_id.open_id or "") if event.sender and event.sender.sender_id else ""
        chat, message_id = msg.chat_id or "", msg.message_id or ""
        reply = CardReply(self.api, message_id, self.ops.settings.digest_lang, progress_every=self.progress_every)
        self.pool.submit(self._run, lambda: self.ops.handle("feishu", chat, user, command, args, reply))

    def on_card(self, data: P2CardActionTrigger) -> P2CardActionTriggerResponse:
        from lark_oapi.event.callback.model.p2_card_action_trigger import CallBackToast, P2CardActionTriggerResponse

        resp = P2CardActionTriggerResponse()
        event = data.event
        if event is None or event.action is None or event.context is None:
            return resp
        value = event.action.value or {}
        if value.get("action") == DAY_ACTION and self._first(data.header.event_id if data.header else None):
            return self._day(event, value, resp)
        if value.get("action") != render.DEEP_ACTION or not self._first(data.header.event_id if data.header else None):
            return resp
        message_id = event.context.open_message_id or ""
        repo, sha, lang = str(value.get("repo", "")), str(value.get("sha", "")), str(value.get("lang", "en"))
        lang = lang if lang in ("en", "zh") else "en"
        key = f"deep|{message_id}|{repo}|{sha}"
        click = (data.header.event_id or "") if data.header else ""
        reply = CardReply(self.api, message_id, lang, in_thread=True, progress_every=self.progress_every,
                          chat=event.context.open_chat_id or "", click=click)
        user = (event.operator.open_id or "") if event.operator else ""
        thread = reply if reply.channel and message_id else None
        self.pool.submit(self._run, lambda: self.ops.deep("feishu", key, repo, sha, lang, reply, user=user,
                                                          thread=thread, channel=event.context.open_chat_id or ""))
        toast = CallBackToast()
        toast.type, toast.content = "info", "⏳ " + ("正在分析 " if lang == "zh" else "Analysing ") + sha[:7] + "…"
        resp.toast = toast
        return resp

    def _day(self, event: Any, value: dict, resp: P2CardActionTriggerResponse) -> P2CardActionTriggerResponse:
        """A day's button of a roll-up card: that day's digest, answered under the card, as `/digest DAY` is
        (every word is parsed and checked again: the value comes back through the client)."""
        words = [str(value.get(k, "")) for k in ("day", "repo")] + [
            f"{k} {value[v]}" for k, v in (("tz", "zone"), ("lang", "lang")) if value.get(v)]
        lang = str(value.get("lang", "en")) if value.get("lang") in ("en", "zh") else "en"
        message_id = event.context.open_message_id or ""
        chat = event.context.open_chat_id or ""
        user = (event.operator.open_id or "") if event.operator else ""
        reply = CardReply(self.api, message_id, lang, in_thread=True, progress_every=self.progress_every)
        self.pool.submit(self._run, lambda: self.ops.handle("feishu", chat, user, "/digest", " ".join(words), reply))
        return resp

    @staticmethod
    def _run(work: Callable[[], object]) -> None:
        try:
            work()
        except Exception:  # a worker thread: the log gets the traceback, the pool goes on
            log.exception("Feishu event handling failed")

    def handler(self) -> lark.EventDispatcherHandler:
        """The dispatcher of both paths; it checks nothing: the long connection is authenticated when it opens,
        and http_route verifies a callback before handing it over."""
        import lark_oapi as lark

        return (lark.EventDispatcherHandler.builder("", "", lark.LogLevel.ERROR)
                .register_p2_im_message_receive_v1(self.on_message)
                .register_p2_card_action_trigger(self.on_card)
                .build())
