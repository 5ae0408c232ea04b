"""Feishu (Lark) in and out: the Open API through lark-oapi (our own tenant token, retries that know Feishu's
codes), a chat and the custom-bot webhook as Destinations, events over the long connection or the HTTP callback,
answers as cards that are PATCHed in place. No decisions here: parsing, checks and posting rules live in
handlers/chat.py and handlers/delivery.py.

Exactly once in an app chat: every send carries the Tag's `uuid`, which Feishu dedupes for an hour, so a resend
after a crash or a dropped connection returns the message sent first. A webhook cannot be read back nor deduped:
at least once there.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import json
import logging
import threading
import time
import uuid as uuidlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import requests

from core.models import CommitReport, Digest
from digest.render import feishu as render
from handlers.chat import ChatOps
from handlers.delivery import DestinationGone, Part, Rendered, SendFailed, Tag
from handlers.warnings import RateLimitedWarnings
from handlers.web import Response, Route
from storage import events

if TYPE_CHECKING:  # lark-oapi takes seconds to import: only the app bot loads it, a webhook never does
    import lark_oapi as lark
    from lark_oapi.api.im.v1.model.p2_im_message_receive_v1 import P2ImMessageReceiveV1
    from lark_oapi.core.model import BaseResponse, RequestOption
    from lark_oapi.event.callback.model.p2_card_action_trigger import P2CardActionTrigger, P2CardActionTriggerResponse

log = logging.getLogger(__name__)

TOKEN_PATH = "/open-apis/auth/v3/tenant_access_token/internal"
TOKEN_REFRESH_LEFT = 1800  # seconds: Feishu hands out a new token once under 30 minutes are left
TOKEN_INVALID = {99991661, 99991663, 99991668}  # missing, invalid, expired
RATE_LIMITED = {99991400, 11232, 11233, 230020}
HOLD_SECONDS = 5  # Feishu's advice: do not send at exactly :00 or :30
TIMEOUT = 15
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


class FeishuError(Exception):
    def __init__(self, code: int, message: str, status: int = 0) -> None:
        super().__init__(f"Feishu error {code}: {message}" if code else message)
        self.code = code
        self.status = status


# -- pacing -------------------------------------------------------------------------------------------------


@dataclass
class Gate:
    """Spaces sends per destination, and holds a send due in the first seconds of :00 or :30 (Feishu's advice
    against its frequency limits) while the schedule itself stays exact."""

    interval: float = 0.25
    hold: float = HOLD_SECONDS
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(timezone.utc))
    sleep: Callable[[float], None] = time.sleep
    _next: dict[str, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wait(self, key: str) -> None:
        now = self.clock()
        if now.minute in (0, 30) and now.second + now.microsecond / 1e6 < self.hold:
            self.sleep(self.hold - now.second - now.microsecond / 1e6)
        with self._lock:
            at = max(time.monotonic(), self._next.get(key, 0.0))
            self._next[key] = at + self.interval
        if (delay := at - time.monotonic()) > 0:
            self.sleep(delay)


def _backoff(attempt: int, reset: str | None = None) -> float:
    try:
        return min(max(float(reset), 0.5), 60.0) if reset else min(2.0 ** attempt, 30.0)
    except ValueError:
        return min(2.0 ** attempt, 30.0)


# -- Open API -------------------------------------------------------------------------------------------------


class OpenApi:
    """send / reply / patch through lark-oapi with a tenant token we fetch, cache and refresh ourselves:
    lark's own cache is per app_id for the whole process and never drops a token Feishu rejected."""

    def __init__(self, app_id: str, app_secret: str, base_url: str, *, timeout: float = TIMEOUT,
                 attempts: int = 5, sleep: Callable[[float], None] = time.sleep) -> None:
        self.app_id = app_id
        self._secret = app_secret
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.attempts = attempts
        self.sleep = sleep
        self._token: str | None = None
        self._refresh_at = 0.0
        self._lock = threading.Lock()

    @functools.cached_property
    def client(self) -> Any:  # lark-oapi takes seconds to import: loaded by the first send, not by `bot.py doctor`
        import lark_oapi as lark

        return (lark.Client.builder().app_id(self.app_id).app_secret(self._secret).domain(self.base_url)
                .enable_set_token(True).timeout(int(self.timeout)).log_level(lark.LogLevel.ERROR).build())

    def token(self, *, renew: bool = False) -> str:
        with self._lock:
            if self._token and not renew and time.monotonic() < self._refresh_at:
                return self._token
            try:
                resp = requests.post(self.base_url + TOKEN_PATH, json={"app_id": self.app_id,
                                                                       "app_secret": self._secret},
                                     timeout=self.timeout)
                data = resp.json()
            except (requests.RequestException, ValueError) as err:
                raise FeishuError(0, f"Feishu token request failed ({type(err).__name__})") from None
            if data.get("code") != 0 or not data.get("tenant_access_token"):
                raise FeishuError(int(data.get("code") or -1),
                                  f"tenant_access_token refused: {data.get('msg')} (check FEISHU_APP_ID and "
                                  f"FEISHU_APP_SECRET)", resp.status_code)
            self._token = str(data["tenant_access_token"])
            expire = int(data.get("expire") or 0)
            self._refresh_at = time.monotonic() + max(expire - TOKEN_REFRESH_LEFT, min(expire / 2, 60))
            return self._token

    def call(self, what: str, do: Callable[[RequestOption], BaseResponse]) -> BaseResponse:
        """One Open API call: a rejected token renewed once (not in a loop); rate limits, 5xx and dropped
        connections retried with backoff (sends carry a uuid, so a retry never posts twice)."""
        renewed = False
        last = "no attempt"
        from lark_oapi.core.model import RequestOption

        for attempt in range(self.attempts):
            option = RequestOption.builder().tenant_access_token(self.token()).build()
            try:
                resp = do(option)
            except (requests.RequestException, ValueError, OSError) as err:
                last = f"{what}: Feishu did not answer ({type(err).__name__})"
                self.sleep(_backoff(attempt))
                continue
            if resp.success():
                return resp
            code, status = int(resp.code or 0), resp.raw.status_code if resp.raw else 0
            headers = resp.raw.headers if resp.raw and resp.raw.headers else {}
            if code in TOKEN_INVALID and not renewed:
                renewed = True
                self.token(renew=True)
                continue
            if code in RATE_LIMITED or status == 429:
                last = f"{what}: rate limited by Feishu ({code})"
                reset = next((v for k, v in headers.items() if k.lower() == "x-ogw-ratelimit-reset"), None)
                self.sleep(_backoff(attempt, reset))
                continue
            if status >= 500:
                last = f"{what}: Feishu answered HTTP {status} ({code})"
                self.sleep(_backoff(attempt))
                continue
            raise FeishuError(code, f"{what}: {resp.msg}", status)
        raise FeishuError(0, f"{last}; gave up after {self.attempts} attempts")

    def is_in_chat(self, chat_id: str) -> bool:
        """Whether the bot is a member of the chat (GET .../chats/:chat_id/members/is_in_chat); FeishuError if the
        chat is unknown or the app lacks the permission. One attempt: `bot.py doctor` reports, it does not retry."""
        try:
            resp = requests.get(f"{self.base_url}/open-apis/im/v1/chats/{quote(chat_id, safe='')}/members/is_in_chat",
                                headers={"Authorization": f"Bearer {self.token()}"}, timeout=self.timeout)
            data = resp.json()
        except (requests.RequestException, ValueError) as err:
            raise FeishuError(0, f"Feishu did not answer ({type(err).__name__})") from None
        if data.get("code") != 0:
            raise FeishuError(int(data.get("code") or -1), str(data.get("msg") or f"HTTP {resp.status_code}"),
                              resp.status_code)
        return bool((data.get("data") or {}).get("is_in_chat"))

    def send(self, chat_id: str, card: dict[str, Any], uuid: str | None = None) -> str:
        from lark_oapi.api.im.v1 import CreateMessageRequest, CreateMessageRequestBody

        body = (CreateMessageRequestBody.builder().receive_id(chat_id).msg_type("interactive")
                .content(json.dumps(card, ensure_ascii=False)))
        if uuid:
            body = body.uuid(uuid)
        req = CreateMessageRequest.builder().receive_id_type("chat_id").request_body(body.build()).build()
        resp = self.call("send", lambda o: self.client.im.v1.message.create(req, o))
        return str(resp.data.message_id)  # type: ignore[attr-defined]

    def reply(self, message_id: str, card: dict[str, Any], uuid: str | None = None, in_thread: bool = False) -> str:
        from lark_oapi.api.im.v1 import ReplyMessageRequest, ReplyMessageRequestBody

        body = (ReplyMessageRequestBody.builder().msg_type("interactive").reply_in_thread(in_thread)
                .content(json.dumps(card, ensure_ascii=False)))
        if uuid:
            body = body.uuid(uuid)
        req = ReplyMessageRequest.builder().message_id(message_id).request_body(body.build()).build()
        resp = self.call("reply", lambda o: self.client.im.v1.message.reply(req, o))
        return str(resp.data.message_id)  # type: ignore[attr-defined]

    def patch(self, message_id: str, card: dict[str, Any]) -> None:
        from lark_oapi.api.im.v1 import PatchMessageRequest, PatchMessageRequestBody

        body = PatchMessageRequestBody.builder().content(json.dumps(card, ensure_ascii=False)).build()
        req = PatchMessageRequest.builder().message_id(message_id).request_body(body).build()
        self.call("update", lambda o: self.client.im.v1.message.patch(req, o))


def _gone_or_failed(err: FeishuError) -> Exception:
    if err.code in GONE:
        return DestinationGone(GONE[err.code])
    if err.code == 230001 and "receive_id" in str(err):
        return DestinationGone("the Feishu chat id is unknown to the app: check FEISHU_CHAT_ID or the subscription")
    if err.code == 230025:
        return SendFailed("Feishu refused the card as too large (230025)")
    return SendFailed(str(err))


# -- destinations ---------------------------------------------------------------------------------------------


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
        (top, shown), details = render.digest_cards(digest, late=late, app=True)
        return Rendered(Part({"card": top}, shown), tuple(Part({"card": c}, shas) for c, shas in details))

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
        (top, shown), details = render.digest_cards(digest, late=late, app=False)
        return Rendered(Part({"card": top}, shown), tuple(Part({"card": c}, shas) for c, shas in details))

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
                self.sleep(_backoff(attempt))
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


# -- answers to commands and clicks ---------------------------------------------------------------------------


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
            self._reply(render.notice_card(render.text(lang, "deep_in_thread", sha=sha[:7]).rstrip(":："), lang),
                        to=message_id, in_thread=True)
        except FeishuError as err:
            log.warning("cannot answer in Feishu: %s", err)

    def notice(self, message: str) -> None:
        self._show(render.notice_card(message, self.lang))


# -- events ---------------------------------------------------------------------------------------------------


def strip_mentions(text: str, mention_keys: list[str]) -> str:
    """'@_user_1 /digest 2026-01-11' -> '/digest 2026-01-11' (Feishu writes each mention as its key)."""
    for key in sorted(mention_keys, key=len, reverse=True):
        text = text.replace(key, " ")
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
        return events.first_time(self.ops.service.db, "feishu", f"event:{event_id}", self.clock())

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
        addressed = msg.chat_type == "p2p" or bool(keys)  # groups deliver only messages that @-mention the bot
        stripped = strip_mentions(text, keys)
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
                                                          thread=thread))
        toast = CallBackToast()
        toast.type, toast.content = "info", "⏳ " + ("正在分析 " if lang == "zh" else "Analysing ") + sha[:7] + "…"
        resp.toast = toast
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


# -- events over HTTP -------------------------------------------------------------------------------------------

MAX_AGE = 300  # seconds: Feishu documents no window for X-Lark-Request-Timestamp, so Slack's 5 minutes
REFUSED = {400: b"bad request", 401: b"not a signed Feishu callback", 500: b"internal error"}
TEXT_TYPE = ("Content-Type", "text/plain; charset=utf-8")
JSON_TYPE = ("Content-Type", "application/json; charset=utf-8")


class Refused(Exception):
    """A callback not shown to be Feishu's: answered `status` with a fixed text; `cause` goes to the log."""

    def __init__(self, status: int, cause: str) -> None:
        super().__init__(cause)
        self.status = status
        self.cause = cause


@dataclass(frozen=True)
class Callback:
    data: dict[str, Any]  # the decrypted callback
    plain: bytes  # the same, as Feishu encoded it

    @property
    def is_url_check(self) -> bool:
        return self.data.get("type") == "url_verification"


def open_callback(body: bytes, headers: dict[str, str], encrypt_key: str, verification_token: str | None,
                  now: float) -> Callback:
    """The decrypted callback once it is shown to be Feishu's: signed (X-Lark-Signature = sha256 hex of timestamp,
    nonce, Encrypt Key and body) no more than MAX_AGE seconds off, encrypted with the Encrypt Key, and carrying the
    verification token when one is set. Only the URL check may come unsigned (Feishu's docs leave it out of the
    signature check): its encryption is the proof. Raises Refused."""
    stamp, nonce, signature = (headers.get(f"x-lark-{name}") for name in
                               ("request-timestamp", "request-nonce", "signature"))
    signed = stamp is not None or nonce is not None or signature is not None
    if signed:
        _check_signature(body, stamp or "", nonce or "", signature or "", encrypt_key, now)
    try:
        callback = _decrypt(body, encrypt_key)
    except Refused:
        if not signed:  # a forger without the key: the missing signature is what to report
            raise Refused(401, "refused an unsigned Feishu callback") from None
        raise
    if not signed and not callback.is_url_check:
        raise Refused(401, "refused an unsigned Feishu callback")
    if verification_token:
        header = callback.data.get("header")
        token = header.get("token") if isinstance(header, dict) else callback.data.get("token")
        if not isinstance(token, str) or not hmac.compare_digest(token.encode(), verification_token.encode()):
            raise Refused(401, "refused a Feishu callback: wrong verification token (check FEISHU_VERIFICATION_TOKEN)")
    return callback


def _check_signature(body: bytes, stamp: str, nonce: str, signature: str, encrypt_key: str, now: float) -> None:
    if not (stamp and nonce and signature):
        raise Refused(401, "refused a Feishu callback: X-Lark-Request-Timestamp, -Nonce or X-Lark-Signature missing")
    try:
        age = now - int(stamp)
    except ValueError:
        raise Refused(401, "refused a Feishu callback: X-Lark-Request-Timestamp is not a number") from None
    if abs(age) > MAX_AGE:
        raise Refused(401, f"refused a Feishu callback: timestamped more than {MAX_AGE // 60} minutes away from now "
                           f"(a replay, or this machine's clock is off)")
    expected = hashlib.sha256((stamp + nonce + encrypt_key).encode("utf-8") + body).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
        raise Refused(401, "refused a Feishu callback: bad X-Lark-Signature (forged, or FEISHU_ENCRYPT_KEY is not "
                           "the app's Encrypt Key)")


def _decrypt(body: bytes, encrypt_key: str) -> Callback:
    """{"encrypt": base64(IV + AES-256-CBC(PKCS7(callback)))}, key SHA-256(Encrypt Key): lark-oapi's cipher."""
    from lark_oapi.core.utils import AESCipher

    try:
        outer = json.loads(body)
    except (ValueError, RecursionError):
        raise Refused(400, "refused a Feishu callback: its body is not JSON") from None
    cipher = outer.get("encrypt") if isinstance(outer, dict) else None
    if not isinstance(cipher, str):
        raise Refused(400, "refused a Feishu callback: its body is not encrypted (with FEISHU_ENCRYPT_KEY set, "
                           "Feishu encrypts every callback)")
    try:
        plain = AESCipher(encrypt_key).decrypt(base64.b64decode(cipher, validate=True))
        data = json.loads(plain)
    except (ValueError, RecursionError):  # bad base64, length, padding, UTF-8 or JSON
        raise Refused(400, "refused a Feishu callback: it cannot be decrypted with FEISHU_ENCRYPT_KEY") from None
    if not isinstance(data, dict):
        raise Refused(400, "refused a Feishu callback: its decrypted body is not a JSON object")
    return Callback(data, plain)


def http_route(handler: lark.EventDispatcherHandler, encrypt_key: str, verification_token: str | None, *,
               clock: Callable[[], float] = time.time) -> Route:
    """/feishu/events: verified by open_callback, then the URL check answered or the callback dispatched. A refused
    callback runs nothing and gets a fixed text, never lark's; the log gets one line per cause a minute."""
    import lark_oapi as lark
    from lark_oapi.core.exception import EventException

    refusals = RateLimitedWarnings(log)

    def answer(data: Any) -> Response:
        return Response(200, json.dumps(data, ensure_ascii=False).encode("utf-8"), (JSON_TYPE,))

    def route(body: bytes, headers: dict[str, str], query: str) -> Response:
        try:
            callback = open_callback(body, headers, encrypt_key, verification_token, clock())
        except Refused as refused:
            refusals.warn(refused.cause)
            return Response(refused.status, REFUSED[refused.status], (TEXT_TYPE,))
        if callback.is_url_check:
            return answer({"challenge": callback.data.get("challenge")})
        try:
            result = handler._do_without_validation(callback.plain)
        except EventException:  # an event type the bot has no use for: taken, so that Feishu does not push it again
            log.debug("a Feishu callback of an unhandled type ignored")
            return answer({"msg": "success"})
        except Exception:  # our handler failed: the traceback in the log, a fixed text to Feishu
            log.exception("Feishu callback handling failed")
            return Response(500, REFUSED[500], (TEXT_TYPE,))
        if result is None:
            return answer({"msg": "success"})
        return Response(200, lark.JSON.marshal(result).encode("utf-8"), (JSON_TYPE,))

    return route


# -- the long connection ----------------------------------------------------------------------------------------


def _frame_header(frame: Any, key: str) -> str | None:
    return next((h.value for h in frame.headers if h.key == key), None)


class LongConnection:
    """lark.ws.Client in its own thread with its own event loop (lark-oapi takes a loop at import: #96, #119).
    Card clicks arrive as frames of type "card", which lark-oapi 1.7.5 drops unanswered (#126): this client
    hands them to the same dispatcher and answers them like events."""

    def __init__(self, app_id: str, app_secret: str, base_url: str, handler: lark.EventDispatcherHandler) -> None:
        import lark_oapi as lark
        import lark_oapi.ws.client as ws_client

        self._ws = ws_client
        self.client = _card_aware_client(ws_client)(app_id, app_secret, event_handler=handler, domain=base_url,
                                                    log_level=lark.LogLevel.ERROR)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="feishu-ws", daemon=True)
        self.failed: BaseException | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self._ws.loop = self.loop
        try:
            self.client.start()
        except RuntimeError:
            pass  # "Event loop stopped before Future completed": close() stopped it
        except Exception as err:  # wrong app secret and the like: visible in /healthz and the log
            self.failed = err
            log.error("Feishu long connection failed: %s", type(err).__name__)
        finally:
            self.loop.run_until_complete(self._cleanup())
            self.loop.close()

    async def _cleanup(self) -> None:
        me = asyncio.current_task()
        for _ in range(3):  # the SDK has no stop(): cancel its tasks (its ping loop sleeps in a finally)
            tasks = [t for t in asyncio.all_tasks() if t is not me and not t.done()]
            if not tasks:
                break
            for t in tasks:
                t.cancel()
            await asyncio.wait(tasks, timeout=0.2)
            if self.client._conn is not None:
                await self.client._conn.close()

    def start(self) -> "LongConnection":
        self.thread.start()
        return self

    def close(self) -> None:
        if self.thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)


def _card_aware_client(ws_client: Any) -> type:
    import lark_oapi as lark
    from lark_oapi.ws.model import Response as WsResponse

    class CardAwareClient(ws_client.Client):  # type: ignore[misc,name-defined]
        async def _handle_data_frame(self, frame: Any) -> None:
            if _frame_header(frame, "type") != "card":
                await super()._handle_data_frame(frame)
                return
            payload = frame.payload
            total, seq = int(_frame_header(frame, "sum") or 1), int(_frame_header(frame, "seq") or 0)
            if total > 1:
                payload = self._combine(_frame_header(frame, "message_id") or "", total, seq, payload)
                if payload is None:
                    return
            resp = WsResponse(code=200)
            try:
                result = self._event_handler._do_without_validation(payload)
                if result is not None:
                    resp.data = base64.b64encode(lark.JSON.marshal(result).encode("utf-8"))
            except Exception:  # the dispatcher raised: answer 500 like lark does for events
                log.exception("Feishu card callback failed")
                resp = WsResponse(code=500)
            frame.payload = lark.JSON.marshal(resp).encode("utf-8")
            await self._write_message(frame.SerializeToString())

    return CardAwareClient


# -- assembly ---------------------------------------------------------------------------------------------------


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
            from digest.config import FEISHU_HTTP_NEEDS_KEY
            from core.errors import BadInput

            raise BadInput(FEISHU_HTTP_NEEDS_KEY)
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
