"""A Feishu chat of the app bot and a group's custom-bot webhook, as Destinations (handlers/delivery.py).

Exactly once in an app chat: every send carries the Tag's `uuid`, which Feishu dedupes for an hour, so a resend
after a crash or a dropped connection returns the message sent first. A webhook cannot be read back nor deduped:
at least once there.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from typing import Any

import requests

from core.models import Digest
from digest import rollup_view
from digest.render import feishu as render
from digest.render import rollup as render_rollup
from digest.rollup import Rollup
from handlers.delivery import DestinationGone, Part, Rendered, SendFailed, Tag
from handlers.feishu.openapi import RATE_LIMITED, TIMEOUT, FeishuError, Gate, OpenApi, backoff

GONE = {
    230002: "the bot is not in this Feishu chat: add the bot to the group again",
    232009: "the Feishu chat was dissolved: subscribe another chat",
    230006: "the app's bot capability is off: enable Bot in the Feishu developer console",
    19001: "the Feishu webhook URL is not valid (custom bot removed or its URL reset): update FEISHU_WEBHOOK_URL",
}
WEBHOOK_HINTS = {
    19021: "the webhook signature was refused: check FEISHU_WEBHOOK_SECRET and this machine's clock",
    19022: "the webhook refuses this machine's IP address: check the custom bot's IP allowlist",
    19024: "the webhook requires a keyword the card does not contain: remove the custom bot's keyword rule",
    19036: "the card was too large for the webhook",
    9499: "Feishu called the request malformed (9499)",
}


def _gone_or_failed(err: FeishuError) -> Exception:
    if err.code in GONE:
        return DestinationGone(GONE[err.code])
    if err.code == 230001 and "receive_id" in str(err):
        return DestinationGone("the Feishu chat id is unknown to the app: check FEISHU_CHAT_ID or the subscription")
    if err.code == 230025:
        return SendFailed("Feishu refused the card as too large (230025)")
    return SendFailed(str(err))


class AppDestination:
    """A chat of the app bot: a summary card, detail cards in its thread, cards edited in place."""

    platform = "feishu"
    can_find = False  # the uuid makes a resend return the first message instead
    can_edit = True

    def __init__(self, api: OpenApi, chat_id: str, gate: Gate) -> None:
        self.api = api
        self.channel = chat_id
        self.gate = gate

    def render(self, digest: Digest, *, late: bool) -> Rendered:
        return _rendered(digest, late, app=True)

    def render_rollup(self, rolled: Rollup, *, late: bool = False) -> Rendered:
        return _rolled(rolled, app=True)

    def render_commits(self, digest: Digest, shas: tuple[str, ...], *, note: str | None = None) -> tuple[Part, ...]:
        return _commit_parts(digest, shas, note, app=True)

    def send(self, part: Part, *, tag: Tag, thread: str | None) -> str:
        self.gate.wait(self.channel)
        try:
            if thread is None:
                return self.api.send(self.channel, part.payload["card"], tag.uuid)
            return self.api.reply(thread, part.payload["card"], tag.uuid, in_thread=True)
        except FeishuError as err:
            raise _gone_or_failed(err) from None

    def find(self, tag: Tag, thread: str | None) -> str | None:
        return None

    def update(self, message_id: str, part: Part) -> None:
        try:
            self.api.patch(message_id, part.payload["card"])
        except FeishuError as err:
            raise _gone_or_failed(err) from None


def _commit_parts(digest: Digest, shas: tuple[str, ...], note: str | None, *, app: bool) -> tuple[Part, ...]:
    """Cards showing exactly these commits (a detail card re-rendered, or a follow-up), or just the note."""
    wanted = set(shas)
    entries = [e for e in digest.entries if e.commit.sha in wanted]
    if not entries:
        return (Part({"card": render.notice_card(note or "", digest.lang)}),) if note else ()
    cards = render.detail_cards(digest, app=app, entries=entries, intro=note)
    return tuple(Part({"card": c}, group) for c, group in cards)


def _rendered(digest: Digest, late: bool, *, app: bool) -> Rendered:
    (top, shown), details = render.digest_cards(digest, late=late, app=app)
    return Rendered(Part({"card": top}, shown), tuple(Part({"card": c}, shas) for c, shas in details))


def _rolled(rolled: Rollup, *, app: bool) -> Rendered:
    """A roll-up in one card: with a button per day in an app chat, the command to type in a webhook's."""
    return Rendered(Part({"card": render_rollup.feishu_card(rollup_view.build(rolled), zone=rolled.zone,
                                                             branch=rolled.branch, app=app)}))


def webhook_sign(timestamp: int, secret: str) -> str:
    """Feishu's custom-bot signature: base64(HMAC-SHA256(key = f"{timestamp}\\n{secret}", message = empty))."""
    return base64.b64encode(hmac.new(f"{timestamp}\n{secret}".encode("utf-8"), b"", hashlib.sha256).digest()).decode()


class WebhookDestination:
    """A group's custom bot: post-only, no edits, no threads, buttons open GitHub. At least once: a crash between
    sending and saving repeats a card, since a webhook cannot be read back."""

    platform = "webhook"
    channel = "webhook"
    can_find = False
    can_edit = False

    def __init__(self, url: str, secret: str | None, gate: Gate, *, timeout: float = TIMEOUT, attempts: int = 5,
                 sleep: Callable[[float], None] = time.sleep, now: Callable[[], float] = time.time) -> None:
        self._url = url
        self._secret = secret
        self.gate = gate
        self.timeout = timeout
        self.attempts = attempts
        self.sleep = sleep
        self.now = now

    def render(self, digest: Digest, *, late: bool) -> Rendered:
        return _rendered(digest, late, app=False)

    def render_rollup(self, rolled: Rollup, *, late: bool = False) -> Rendered:
        return _rolled(rolled, app=False)

    def post(self, card: dict[str, Any]) -> None:
        last = ""
        for attempt in range(self.attempts):
            self.gate.wait(self.channel)
            body: dict[str, Any] = {"msg_type": "interactive", "card": card}
            if self._secret:
                stamp = int(self.now())
                body.update(timestamp=str(stamp), sign=webhook_sign(stamp, self._secret))
            try:
                resp = requests.post(self._url, data=json.dumps(body, ensure_ascii=False).encode("utf-8"),
                                     headers={"Content-Type": "application/json; charset=utf-8"},
                                     timeout=self.timeout)
                data = resp.json()
            except (requests.RequestException, ValueError) as err:  # may have been posted: retried later, not now
                raise SendFailed(f"the Feishu webhook did not answer ({type(err).__name__})") from None
            code = int(data.get("code", data.get("StatusCode", -1)) or 0)
            if code == 0 and resp.status_code == 200:
                return
            if code in RATE_LIMITED or resp.status_code == 429:
                last = f"rate limited by the Feishu webhook ({code})"
                self.sleep(backoff(attempt))
                continue
            if code in GONE:
                raise DestinationGone(GONE[code])
            hint = WEBHOOK_HINTS.get(code, f"the Feishu webhook refused the card: {data.get('msg')}")
            raise SendFailed(f"{hint} ({code})" if code not in (9499,) else hint)
        raise SendFailed(f"{last}; gave up after {self.attempts} attempts")

    def render_commits(self, digest: Digest, shas: tuple[str, ...], *, note: str | None = None) -> tuple[Part, ...]:
        return _commit_parts(digest, shas, note, app=False)

    def send(self, part: Part, *, tag: Tag, thread: str | None) -> str:
        self.post(part.payload["card"])
        return f"webhook:{tag.uuid}"  # a webhook answers no message id

    def find(self, tag: Tag, thread: str | None) -> str | None:
        return None

    def update(self, message_id: str, part: Part) -> None:
        """A webhook card cannot be edited: the late analyses go out as a follow-up card (render.followup_cards)."""
        raise SendFailed("a Feishu webhook card cannot be edited; send render.followup_cards instead")

    def follow_up(self, digest: Digest, shas: list[str] | tuple[str, ...]) -> int:
        """Send the late analyses of a posted digest as follow-up cards; how many were sent."""
        cards = render.followup_cards(digest, shas, app=False)
        for card, _ in cards:
            self.post(card)
        return len(cards)
