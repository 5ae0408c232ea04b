"""A local stand-in for Feishu (Lark): Open API, custom-bot webhook, long connection, event builders.

Drive it with the real clients::

    with FeishuServer(app_id="cli_test", app_secret="secret", webhook_token="hooktoken",
                      webhook_secret=None, chats=["oc_1"]) as feishu:
        client = lark.Client.builder().app_id("cli_test").app_secret("secret").domain(feishu.url).build()
        requests.post(f"{feishu.url}/open-apis/bot/v2/hook/hooktoken", json={...}, timeout=5)
        lark.ws.Client("cli_test", "secret", event_handler=h, domain=feishu.url)  # in its own thread

Endpoints (every request is recorded in ``feishu.requests``):

* ``POST /open-apis/auth/v3/tenant_access_token/internal``
* ``POST /open-apis/im/v1/messages?receive_id_type=chat_id``
* ``POST /open-apis/im/v1/messages/{message_id}/reply``
* ``PATCH /open-apis/im/v1/messages/{message_id}``
* ``GET /open-apis/im/v1/chats/{chat_id}/members/is_in_chat`` (232006 unknown chat, 232009 dissolved)
* ``POST /open-apis/bot/v2/hook/{token}`` (custom bot)
* ``POST /callback/ws/endpoint`` (lark_oapi.ws.Client bootstrap) + a WebSocket of ``pbbp2.Frame``

Documented behaviour (Feishu Open Platform docs, 2024-2026 versions):

* Tokens: ``expire`` 7200 s; asking again with under 30 min left mints a new token, the old one stays
  valid until it expires; with 30 min or more left the same token comes back.  Wrong secret: HTTP 400
  ``{"code": 10014, "msg": "app secret invalid"}``.
* Open API errors are HTTP 400 with ``{"code", "msg", "error": {"log_id"}}``; the codes and texts are the
  ones in the send/reply/patch error tables (230001, 230002, 230011, 230025, 230031, 230099, 230110,
  232009).  Rate limit: HTTP 429, ``99991400``, headers ``x-ogw-ratelimit-limit`` / ``-reset``.
* ``uuid`` (<= 50 chars) dedupes a send/reply for 1 hour: the first message comes back, no new one.
* Cards: body <= 30 KB for cards, 150 KB for text (230025).  JSON 2.0 cards reject unsupported
  attributes (230099, sub-code 200621 "unknown property: X, path: [...]") and 1.0-only tags such as
  ``note`` / ``action`` (sub-code 200861); at most 200 components; ``update_multi`` defaults to true in
  2.0 and only true is supported.  PATCH needs an interactive message sent by the app, <= 14 days old.
* Webhook: always HTTP 200; success ``{"StatusCode": 0, "StatusMessage": "success", "code": 0,
  "data": {}, "msg": "success"}``; 19001 bad token, 19021 sign/timestamp, 19024 keyword missing,
  19002 bad msg_type, 9499 bad request, 11232 frequency (5/s, 100/min per bot).

Assumed where the docs are silent (chosen so that a bot passing here is safe either way):

* A card on PATCH that is not shared (1.0 without ``config.update_multi: true``) answers 230001; a
  non-card message answers 230001 "ext=This message is NOT a card" (as reported in go-lark/lark#48).
* Webhook bodies over 20 KiB (the documented limit) answer 19036; a webhook card that fails the card
  checks answers 9499.  Unknown ``chat_id``: 230001 "invalid receive_id".  Unknown app id: 10003.
* 2.0 element attributes are checked for the tags a digest uses (markdown, div, hr, column_set, column,
  collapsible_panel, button, img, person); other 2.0 tags (form, table, chart, inputs ...) are accepted
  with any attributes.  Button ``url`` / ``value`` / ``multi_url`` are rejected in 2.0 (use
  ``behaviors``), ``div.fields`` too.
* The long-connection bootstrap with a wrong secret answers code 10014 (the SDK raises ClientException).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import re
import socket
import threading
import time
import uuid as uuidlib
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qsl, urlsplit

from Crypto.Cipher import AES
from websockets.asyncio.server import Server, ServerConnection, serve as ws_serve
from websockets.exceptions import ConnectionClosed

from lark_oapi.ws.pb.pbbp2_pb2 import Frame
from tests.servers import serve

__all__ = [
    "FeishuServer", "Message", "WebhookPost", "Recorded", "FeishuWS", "card_problem",
    "message_event", "card_action_event", "url_verification", "encrypt", "signed_headers", "callback",
    "webhook_sign",
]

# -- documented limits (hard-coded from Feishu's docs, never imported from the code under test)
TOKEN_TTL = 7200
TOKEN_REUSE_MIN_LEFT = 1800  # >= 30 min left: the same token comes back
UUID_MAX = 50
UUID_WINDOW = 3600
CARD_BODY_MAX = 30 * 1024
TEXT_BODY_MAX = 150 * 1024
PATCH_MAX_AGE = 14 * 24 * 3600
CARD_MAX_COMPONENTS = 200
WEBHOOK_BODY_MAX = 20 * 1024
WEBHOOK_SIGN_WINDOW = 3600
WEBHOOK_PER_SECOND = 5
WEBHOOK_PER_MINUTE = 100

ENDPOINTS = ("token", "send", "reply", "patch", "webhook", "ws_endpoint")
FAULT_KINDS = ("frequency", "server_error", "bad_request", "sign", "send_then_drop")
CHAT_STATES = ("ok", "bot_removed", "dissolved")

MSG_INVALID_TOKEN = "Invalid access token for authorization. Please make a request with token attached."
MSG_MISSING_TOKEN = "Missing access token for authorization. Please make a request with token attached."
MSG_INVALID_PARAM = "Your request contains an invalid request parameter"
MSG_BOT_OUT = "The bot can not be outside the group."
MSG_DISSOLVED = "Your request specifies a chat which has already been dissolved."
MSG_BAD_CHAT = "Your request specifies a chat_id which is invalid."
MSG_TOO_LONG = "The length of the message content reaches its limit."
MSG_RECALLED = "The message is recalled."
MSG_DELETED = "Action unavailable as the message has been deleted."
MSG_TOO_OLD = "Message can only be modified within 14 days after sending."
MSG_CARD = "Failed to create card content"
MSG_RATE = "request trigger frequency limit"
SIGN_FAIL = "sign match fail or timestamp is not within one hour from current time"
WEBHOOK_OK = {"StatusCode": 0, "StatusMessage": "success", "code": 0, "data": {}, "msg": "success"}


# --------------------------------------------------------------------------- records


@dataclass
class Recorded:
    """One HTTP request as the server saw it; ``status`` and ``answer`` are what it sent back."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    status: int = 0
    answer: Any = None  # parsed JSON answer (None when the connection was dropped)
    time: float = field(default_factory=time.time)

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.body.decode("utf-8")) if self.body else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            return None


@dataclass
class Message:
    """A message in a chat: sent by the app (send/reply) or by a user (``feishu.incoming``)."""

    message_id: str
    chat_id: str
    msg_type: str
    content: Any  # parsed content: the card dict for interactive, {"text": ...} for text
    raw_content: str
    uuid: str | None = None
    root_id: str | None = None
    parent_id: str | None = None
    thread_id: str | None = None
    reply_in_thread: bool = False
    sender_type: str = "app"  # "app" | "user"
    create_time: float = field(default_factory=time.time)
    patches: list[Any] = field(default_factory=list)  # every content a PATCH set, in order
    deleted: bool = False
    recalled: bool = False

    @property
    def card(self) -> Any:
        return self.content if self.msg_type == "interactive" else None


@dataclass
class WebhookPost:
    """One accepted custom-bot post."""

    token: str
    msg_type: str
    body: dict[str, Any]
    card: Any = None
    text: str | None = None
    time: float = field(default_factory=time.time)


@dataclass
class _Fault:
    endpoint: str
    kind: str
    times: int
    reset: int


class _Answer(Exception):
    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


class _Drop(Exception):
    """Close the connection without answering (after the side effect happened)."""


def _log_id() -> str:
    return time.strftime("%Y%m%d%H%M%S") + uuidlib.uuid4().hex[:20].upper()


def _api_error(code: int, msg: str, status: int = 400, headers: dict[str, str] | None = None) -> _Answer:
    return _Answer(status, {"code": code, "msg": msg, "error": {"log_id": _log_id()}}, headers)


def _invalid(ext: str) -> _Answer:
    return _api_error(230001, f"{MSG_INVALID_PARAM}, ext={ext}")


def _card_error(detail: str) -> _Answer:
    return _api_error(230099, f"{MSG_CARD}, ext={detail}")


# --------------------------------------------------------------------------- cards (JSON 2.0)

_TEMPLATES = frozenset({"blue", "wathet", "turquoise", "green", "yellow", "orange", "red", "carmine",
                        "violet", "purple", "indigo", "grey", "default"})
_LAYOUT = frozenset({"direction", "padding", "horizontal_spacing", "horizontal_align",
                     "vertical_spacing", "vertical_align"})
_CARD_KEYS = frozenset({"schema", "config", "card_link", "header", "body"})
_CONFIG_KEYS = frozenset({"streaming_mode", "streaming_config", "summary", "locales", "enable_forward",
                          "update_multi", "width_mode", "use_custom_translation",
                          "enable_forward_interaction", "style"})
_HEADER_KEYS = frozenset({"title", "subtitle", "text_tag_list", "i18n_text_tag_list", "template", "icon",
                          "padding"})
_BODY_KEYS = frozenset({"elements"}) | _LAYOUT
_LINK_KEYS = frozenset({"url", "pc_url", "ios_url", "android_url"})
_TEXT_KEYS = frozenset({"tag", "content", "i18n_content", "text_size", "text_color", "text_align", "lines"})
_ICON_KEYS = frozenset({"tag", "token", "color", "img_key", "size"})
_COMMON = frozenset({"tag", "element_id", "margin"})
_ELEMENT_KEYS: dict[str, frozenset[str]] = {
    "markdown": _COMMON | {"content", "i18n_content", "text_align", "text_size", "icon"},
    "div": _COMMON | {"text", "icon", "width"},
    "hr": _COMMON,
    "column_set": _COMMON | {"flex_mode", "horizontal_spacing", "horizontal_align", "background_style",
                             "action", "columns"},
    "column": _COMMON | {"width", "weight", "background_style", "elements", "action", "padding"} | _LAYOUT,
    "collapsible_panel": _COMMON | {"expanded", "background_color", "border", "header", "elements"} | _LAYOUT,
    "button": _COMMON | {"type", "size", "width", "text", "i18n_text", "icon", "hover_tips", "disabled",
                         "disabled_tips", "confirm", "behaviors", "name", "form_action_type"},
    "img": _COMMON | {"img_key", "alt", "title", "corner_radius", "scale_type", "size", "transparent",
                      "preview", "mode"},
    "person": _COMMON | {"user_id", "user_id_type", "size", "show_avatar", "show_name", "style"},
}
_PANEL_HEADER_KEYS = frozenset({"title", "background_color", "vertical_align", "padding", "position",
                                "width", "icon", "icon_position", "icon_expanded_angle"})
_UNCHECKED_TAGS = frozenset({"form", "interactive_container", "table", "chart", "img_combination",
                             "person_list", "input", "select_static", "multi_select_static",
                             "select_person", "multi_select_person", "date_picker", "picker_time",
                             "picker_datetime", "select_img", "overflow", "checker", "audio", "text_tag"})
_V1_ONLY_TAGS = frozenset({"note", "action"})
_BUTTON_TYPES = frozenset({"default", "primary", "danger", "text", "primary_text", "danger_text",
                           "primary_filled", "danger_filled", "laser"})
_ELEMENT_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,19}$")


class _CardError(Exception):
    pass


def _parse_err(value: str) -> _CardError:
    return _CardError("ErrCode: 200621; ErrMsg: parse card json err, please check whether the card json is "
                      f"correct; ErrorValue: {value}; ")


def _keys(obj: Any, allowed: frozenset[str], path: str) -> dict:
    if not isinstance(obj, dict):
        raise _parse_err(f"expected object, path: [{path}]")
    for k in obj:
        if k not in allowed:
            raise _parse_err(f"unknown property: {k}, path: [{path}]")
    return obj


def _text(obj: Any, path: str, tags: frozenset[str] = frozenset({"plain_text", "lark_md"})) -> None:
    _keys(obj, _TEXT_KEYS, path)
    if obj.get("tag") not in tags:
        raise _parse_err(f"invalid text tag: {obj.get('tag')!r}, path: [{path}]")
    if not isinstance(obj.get("content", ""), str):
        raise _parse_err(f"content must be a string, path: [{path}]")


class _CardChecker:
    def __init__(self) -> None:
        self.components = 0
        self.ids: set[str] = set()

    def card(self, card: Any) -> None:
        _keys(card, _CARD_KEYS, "")
        config = card.get("config")
        if config is not None:
            _keys(config, _CONFIG_KEYS, "config")
            if "update_multi" in config and config["update_multi"] is not True:
                raise _parse_err("update_multi only supports true in schema 2.0, path: [config]")
        if "card_link" in card:
            _keys(card["card_link"], _LINK_KEYS, "card_link")
        if "header" in card:
            header = _keys(card["header"], _HEADER_KEYS, "header")
            if "title" not in header:
                raise _parse_err("header.title is required, path: [header]")
            _text(header["title"], "header -> title")
            if "subtitle" in header:
                _text(header["subtitle"], "header -> subtitle")
            if "template" in header and header["template"] not in _TEMPLATES:
                raise _parse_err(f"invalid template: {header['template']!r}, path: [header]")
            if "icon" in header:
                _keys(header["icon"], _ICON_KEYS, "header -> icon")
        body = card.get("body")
        if body is not None:
            _keys(body, _BODY_KEYS, "body")
            self.elements(body.get("elements", []), "body -> elements")
        if self.components > CARD_MAX_COMPONENTS:
            raise _parse_err(f"the card has {self.components} components, more than {CARD_MAX_COMPONENTS}")

    def elements(self, elements: Any, path: str) -> None:
        if not isinstance(elements, list):
            raise _parse_err(f"elements must be an array, path: [{path}]")
        for i, element in enumerate(elements):
            self.element(element, f"{path} -> [{i}]")

    def element(self, el: Any, path: str) -> None:
        if not isinstance(el, dict) or not isinstance(el.get("tag"), str):
            raise _parse_err(f"element without tag, path: [{path}]")
        tag = el["tag"]
        where = f"{path}(tag: {tag})"
        if tag in _V1_ONLY_TAGS:
            raise _CardError(f"ErrCode: 200861; ErrPath: {where}; ErrMsg: cards of schema V2 no longer "
                             f"support this capability; ErrorValue: unsupported tag {tag}; ")
        self.components += 1
        if "element_id" in el:
            eid = el["element_id"]
            if not isinstance(eid, str) or not _ELEMENT_ID.match(eid) or eid in self.ids:
                raise _parse_err(f"invalid or duplicate element_id: {eid!r}, path: [{where}]")
            self.ids.add(eid)
        if tag in _UNCHECKED_TAGS:
            return
        if tag not in _ELEMENT_KEYS or tag == "column":
            raise _parse_err(f"unknown tag: {tag}, path: [{where}]")
        _keys(el, _ELEMENT_KEYS[tag], where)
        if tag == "markdown":
            if not isinstance(el.get("content"), str) and "i18n_content" not in el:
                raise _parse_err(f"markdown needs content, path: [{where}]")
        elif tag == "div":
            if "text" in el:
                _text(el["text"], f"{where} -> text")
        elif tag == "column_set":
            columns = el.get("columns", [])
            if not isinstance(columns, list):
                raise _parse_err(f"columns must be an array, path: [{where}]")
            for j, col in enumerate(columns):
                cpath = f"{where} -> columns -> [{j}]"
                if not isinstance(col, dict) or col.get("tag") != "column":
                    raise _parse_err(f"a column_set holds columns, path: [{cpath}]")
                _keys(col, _ELEMENT_KEYS["column"], cpath)
                self.elements(col.get("elements", []), f"{cpath} -> elements")
        elif tag == "collapsible_panel":
            header = _keys(el.get("header", {}), _PANEL_HEADER_KEYS, f"{where} -> header")
            if "title" in header:
                _text(header["title"], f"{where} -> header -> title", frozenset({"plain_text", "markdown"}))
            self.elements(el.get("elements", []), f"{where} -> elements")
        elif tag == "button":
            if "text" in el:
                _text(el["text"], f"{where} -> text")
            if "type" in el and el["type"] not in _BUTTON_TYPES:
                raise _parse_err(f"invalid button type: {el['type']!r}, path: [{where}]")
            behaviors = el.get("behaviors", [])
            if not isinstance(behaviors, list):
                raise _parse_err(f"behaviors must be an array, path: [{where}]")
            for b in behaviors:
                kind = b.get("type") if isinstance(b, dict) else None
                if kind == "open_url":
                    _keys(b, frozenset({"type", "default_url", "pc_url", "ios_url", "android_url"}), where)
                elif kind == "callback":
                    _keys(b, frozenset({"type", "value"}), where)
                elif kind == "form_action":
                    _keys(b, frozenset({"type", "behavior"}), where)
                else:
                    raise _parse_err(f"invalid behavior type: {kind!r}, path: [{where}]")


def card_problem(card: Any) -> str | None:
    """Why Feishu would refuse this card (the ``ext=`` text of a 230099), or None if it is accepted.

    JSON 2.0 cards are checked strictly; 1.0 cards (no ``schema``) only need to be objects, since
    Feishu ignores unsupported attributes in 1.0.
    """
    if not isinstance(card, dict):
        return str(_parse_err("the card must be a JSON object"))
    if card.get("type") == "template":
        return None
    schema = card.get("schema")
    if schema is None:
        return None
    if schema != "2.0":
        return str(_parse_err(f"invalid schema: {schema!r}"))
    try:
        _CardChecker().card(card)
    except _CardError as e:
        return str(e)
    return None


def _is_shared(card: Any) -> bool:
    if not isinstance(card, dict):
        return False
    config = card.get("config") or {}
    if card.get("schema") == "2.0":
        return config.get("update_multi", True) is True
    return config.get("update_multi") is True


# --------------------------------------------------------------------------- event builders


def _ms(t: float | None = None) -> str:
    return str(int((time.time() if t is None else t) * 1000))


def _header(event_type: str, token: str, app_id: str, tenant_key: str, event_id: str | None) -> dict:
    return {
        "event_id": event_id or uuidlib.uuid4().hex,
        "event_type": event_type,
        "create_time": _ms(),
        "token": token,
        "app_id": app_id,
        "tenant_key": tenant_key,
    }


def message_event(
    text: str,
    chat_id: str,
    open_id: str,
    chat_type: str = "group",
    mentions: list[dict] | None = None,
    event_id: str | None = None,
    *,
    token: str = "",
    app_id: str = "cli_test",
    tenant_key: str = "tenant_test",
    message_id: str | None = None,
    root_id: str = "",
    parent_id: str = "",
) -> dict:
    """An ``im.message.receive_v1`` event (schema 2.0) as Feishu sends it.

    ``text`` is what the user typed, with mentions as ``@_user_N`` (e.g. ``"@_user_1 /digest 2026-01-11"``);
    ``mentions`` defaults to one mention of the bot when the text contains ``@_user_1``.
    """
    if mentions is None:
        mentions = []
        if "@_user_1" in text:
            mentions = [{"key": "@_user_1", "id": {"union_id": "on_bot", "user_id": "", "open_id": "ou_bot"},
                         "name": "Commit Radar", "tenant_key": tenant_key}]
    now = _ms()
    return {
        "schema": "2.0",
        "header": _header("im.message.receive_v1", token, app_id, tenant_key, event_id),
        "event": {
            "sender": {
                "sender_id": {"union_id": f"on_{open_id}", "user_id": f"u_{open_id}", "open_id": open_id},
                "sender_type": "user",
                "tenant_key": tenant_key,
            },
            "message": {
                "message_id": message_id or f"om_{uuidlib.uuid4().hex}",
                "root_id": root_id,
                "parent_id": parent_id,
                "create_time": now,
                "update_time": now,
                "chat_id": chat_id,
                "chat_type": chat_type,
                "message_type": "text",
                "content": json.dumps({"text": text}, ensure_ascii=False),
                "mentions": mentions,
                "user_agent": "Mozilla/5.0 Lark/7.30",
            },
        },
    }


def card_action_event(
    value: dict,
    open_id: str,
    message_id: str,
    chat_id: str,
    token: str,
    *,
    event_id: str | None = None,
    app_id: str = "cli_test",
    tenant_key: str = "tenant_test",
    tag: str = "button",
) -> dict:
    """A ``card.action.trigger`` callback (schema 2.0) for a button carrying ``value``.

    ``token`` is the verification token (``header.token``); ``event.token`` is a fresh ``c-`` token
    for a delayed card update, as Feishu sends.
    """
    return {
        "schema": "2.0",
        "header": _header("card.action.trigger", token, app_id, tenant_key, event_id),
        "event": {
            "operator": {"tenant_key": tenant_key, "user_id": f"u_{open_id}", "open_id": open_id,
                         "union_id": f"on_{open_id}"},
            "token": f"c-{uuidlib.uuid4().hex}",
            "action": {"value": value, "tag": tag},
            "host": "im_message",
            "context": {"open_message_id": message_id, "open_chat_id": chat_id},
        },
    }


def url_verification(challenge: str, token: str) -> dict:
    """The URL check Feishu sends when a callback address is saved (answer ``{"challenge": ...}``)."""
    return {"challenge": challenge, "token": token, "type": "url_verification"}


def encrypt(body: dict, encrypt_key: str) -> dict:
    """``{"encrypt": b64}``: AES-256-CBC, key = SHA-256(encrypt_key), random IV prepended, PKCS7."""
    plain = json.dumps(body, ensure_ascii=False).encode("utf-8")
    pad = AES.block_size - len(plain) % AES.block_size
    iv = os.urandom(AES.block_size)
    key = hashlib.sha256(encrypt_key.encode("utf-8")).digest()
    cipher = AES.new(key, AES.MODE_CBC, iv)
    data = iv + cipher.encrypt(plain + bytes([pad]) * pad)
    return {"encrypt": base64.b64encode(data).decode("ascii")}


def signed_headers(body_bytes: bytes, encrypt_key: str, timestamp: str | int, nonce: str) -> dict[str, str]:
    """Headers Feishu puts on a callback: signature = sha256(timestamp + nonce + encrypt_key + body)."""
    ts = str(timestamp)
    digest = hashlib.sha256((ts + nonce + encrypt_key).encode("utf-8") + body_bytes).hexdigest()
    return {
        "Content-Type": "application/json; charset=utf-8",
        "X-Lark-Request-Timestamp": ts,
        "X-Lark-Request-Nonce": nonce,
        "X-Lark-Signature": digest,
    }


def callback(event: dict, encrypt_key: str, *, timestamp: float | None = None,
             nonce: str | None = None) -> tuple[bytes, dict[str, str]]:
    """The HTTP request Feishu pushes to a request URL when the app has an Encrypt Key: the body
    ``{"encrypt": ...}`` and the headers signing it, ``X-Lark-Request-Timestamp`` in seconds (now unless given)
    and a fresh random ``X-Lark-Request-Nonce``. The URL check is sent the same way (encrypted and signed); the
    docs leave it out of the signature check, so a bot may also get it unsigned."""
    raw = json.dumps(encrypt(event, encrypt_key)).encode("utf-8")
    stamp = int(time.time() if timestamp is None else timestamp)
    return raw, signed_headers(raw, encrypt_key, stamp, nonce or uuidlib.uuid4().hex)


def webhook_sign(timestamp: int | str, secret: str) -> str:
    """Custom-bot signature: base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg=b""))."""
    key = f"{timestamp}\n{secret}".encode("utf-8")
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode("ascii")


# --------------------------------------------------------------------------- long connection


def _frame_header(frame: Frame, key: str) -> str | None:
    for h in frame.headers:
        if h.key == key:
            return h.value
    return None


class FeishuWS:
    """The WebSocket half of the long connection: speaks ``pbbp2.Frame`` like Feishu's gateway.

    Answers client pings with pongs, pushes data frames with ``send_event`` and collects the client's
    answers (``wait_ack``).  Runs an asyncio loop in its own thread.
    """

    def __init__(self, owner: "FeishuServer") -> None:
        self._owner = owner
        self.service_id = 7
        self.pings = 0
        self.connects = 0
        self.acks: dict[str, dict] = {}
        self.sent: list[dict] = []  # {"message_id", "type", "payload"}
        self._conns: list[ServerConnection] = []
        self._cond = threading.Condition()
        self._loop = asyncio.new_event_loop()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- lifecycle
    def start(self) -> None:
        ready = threading.Event()

        async def open_server() -> Server:
            return await ws_serve(self._handle, "127.0.0.1", 0, close_timeout=1)

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            try:
                self._server = self._loop.run_until_complete(open_server())
                self.port = self._server.sockets[0].getsockname()[1]
            finally:
                ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, name="feishu-ws", daemon=True)
        self._thread.start()
        if not ready.wait(5) or self._server is None:
            raise RuntimeError("the Feishu WebSocket server did not start")

    def stop(self) -> None:
        if self._thread is None:
            return

        async def shutdown() -> None:
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._thread = None
        self._loop.close()

    def url(self, device_id: str) -> str:
        return f"ws://127.0.0.1:{self.port}/ws?device_id={device_id}&service_id={self.service_id}"

    # -- test controls
    @property
    def connected(self) -> int:
        with self._cond:
            return len(self._conns)

    def wait_connected(self, timeout: float = 5.0, count: int = 1) -> None:
        """Wait until ``count`` connections were made in total (reconnects count)."""
        with self._cond:
            if not self._cond.wait_for(lambda: self.connects >= count and self._conns, timeout):
                raise AssertionError(f"no long connection after {timeout} s (connects={self.connects})")

    def send_event(self, event: dict, type: str = "event") -> str:
        """Push ``event`` as one data frame; returns the frame's message_id (for ``wait_ack``)."""
        with self._cond:
            if not self._conns:
                raise AssertionError("no client is connected to the long connection")
            conn = self._conns[-1]
        message_id = uuidlib.uuid4().hex
        frame = Frame()
        frame.SeqID = 0
        frame.LogID = 0
        frame.service = self.service_id
        frame.method = 1  # data
        for key, value in (("type", type), ("message_id", message_id), ("sum", "1"), ("seq", "0"),
                           ("trace_id", uuidlib.uuid4().hex)):
            h = frame.headers.add()
            h.key, h.value = key, value
        frame.payload = json.dumps(event, ensure_ascii=False).encode("utf-8")
        self._owner._note_incoming(event)
        with self._cond:
            self.sent.append({"message_id": message_id, "type": type, "payload": event})
        asyncio.run_coroutine_threadsafe(conn.send(frame.SerializeToString()), self._loop).result(5)
        return message_id

    def wait_ack(self, message_id: str, timeout: float = 5.0) -> dict:
        """The client's answer to a data frame: the parsed payload, e.g. ``{"code": 200, ...}``."""
        with self._cond:
            if not self._cond.wait_for(lambda: message_id in self.acks, timeout):
                raise AssertionError(f"no answer to frame {message_id} within {timeout} s")
            return self.acks[message_id]

    def close_connections(self) -> None:
        """Drop every client connection (the SDK then reconnects per its ClientConfig)."""
        with self._cond:
            conns = list(self._conns)
        for conn in conns:
            asyncio.run_coroutine_threadsafe(conn.close(), self._loop).result(5)

    # -- protocol
    async def _handle(self, conn: ServerConnection) -> None:
        if conn.request is None or not conn.request.path.startswith("/ws"):
            await conn.close(1008, "bad path")
            return
        with self._cond:
            self._conns.append(conn)
            self.connects += 1
            self._cond.notify_all()
        try:
            async for raw in conn:
                if isinstance(raw, str):
                    continue
                frame = Frame()
                frame.ParseFromString(raw)
                kind = _frame_header(frame, "type")
                if frame.method == 0 and kind == "ping":
                    with self._cond:
                        self.pings += 1
                    pong = Frame()
                    pong.SeqID, pong.LogID, pong.service, pong.method = 0, 0, frame.service, 0
                    h = pong.headers.add()
                    h.key, h.value = "type", "pong"
                    await conn.send(pong.SerializeToString())
                elif frame.method == 1:
                    mid = _frame_header(frame, "message_id") or ""
                    try:
                        answer = json.loads(frame.payload.decode("utf-8"))
                    except (UnicodeDecodeError, json.JSONDecodeError):
                        answer = {"raw": frame.payload.decode("utf-8", "replace")}
                    with self._cond:
                        self.acks[mid] = answer
                        self._cond.notify_all()
        except ConnectionClosed:
            pass  # the client went away; the finally block forgets the connection
        finally:
            with self._cond:
                if conn in self._conns:
                    self._conns.remove(conn)
                self._cond.notify_all()


# --------------------------------------------------------------------------- HTTP server


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64
    owner: "FeishuServer"

    def handle_error(self, request: Any, client_address: Any) -> None:  # quiet: dropped connections
        return


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # no delayed-ACK wait between headers and body, as real servers
    server: _HTTPServer
    timeout = 30

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        return

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            status, out_headers, payload = self.server.owner._handle(self.command, self.path, headers, body)
        except _Drop:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                self.close_connection = True  # already gone
            return
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for k, v in out_headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve


class FeishuServer:
    """Feishu Open API + custom bot + long connection, on 127.0.0.1 (see the module doc)."""

    def __init__(
        self,
        app_id: str = "cli_test",
        app_secret: str = "secret",
        webhook_token: str = "hooktoken",
        webhook_secret: str | None = None,
        chats: list[str] | tuple[str, ...] = ("oc_1",),
        *,
        token_ttl: int = TOKEN_TTL,
        tenant_key: str = "tenant_test",
        webhook_keywords: list[str] | None = None,
        webhook_rate_limit: bool = False,
        client_config: dict[str, int] | None = None,
    ) -> None:
        self.app_id = app_id
        self.app_secret = app_secret
        self.webhook_token = webhook_token
        self.webhook_secret = webhook_secret
        self.webhook_keywords = list(webhook_keywords or [])
        self.webhook_rate_limit = webhook_rate_limit
        self.token_ttl = token_ttl
        self.tenant_key = tenant_key
        # What /callback/ws/endpoint hands the SDK: fast reconnects, no jitter, for tests.
        self.client_config = {"ReconnectCount": -1, "ReconnectInterval": 1, "ReconnectNonce": 0,
                              "PingInterval": 120, **(client_config or {})}
        self.chats: dict[str, str] = {c: "ok" for c in chats}
        self.requests: list[Recorded] = []
        self.messages: list[Message] = []
        self.webhook_posts: list[WebhookPost] = []
        self.url = ""
        self.ws = FeishuWS(self)
        self._tokens: dict[str, float] = {}  # token -> expiry epoch
        self._uuids: dict[tuple[str, str], tuple[str, float]] = {}
        self._faults: list[_Fault] = []
        self._webhook_times: deque[float] = deque()
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._counter = 0
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle
    def start(self) -> "FeishuServer":
        if self._httpd is not None:
            return self
        self.ws.start()
        httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        httpd.owner = self
        self._httpd = httpd
        self.url, self._thread = serve(httpd, "feishu-double")
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(5)
        self.ws.stop()

    def __enter__(self) -> "FeishuServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test controls
    def fail(self, endpoint: str, kind: str, times: int = 1, reset: int = 1) -> None:
        """The next ``times`` requests to ``endpoint`` misbehave as ``kind``.

        ``endpoint``: token | send | reply | patch | webhook | ws_endpoint.  ``kind``: frequency (webhook
        11232; Open API HTTP 429 99991400 with ``x-ogw-ratelimit-reset: reset``), server_error (HTTP 500),
        bad_request (9499), sign (19021, webhook only), send_then_drop (the message is recorded, then the
        connection closes without an answer).
        """
        if endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; expected one of {ENDPOINTS}")
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {FAULT_KINDS}")
        if kind == "sign" and endpoint != "webhook":
            raise ValueError("the sign fault exists only on the webhook")
        with self._lock:
            self._faults.append(_Fault(endpoint, kind, times, reset))

    def set_chat(self, chat_id: str, state: str) -> None:
        """ok | bot_removed (230002) | dissolved (232009)."""
        if state not in CHAT_STATES:
            raise ValueError(f"unknown chat state {state!r}; expected one of {CHAT_STATES}")
        with self._lock:
            self.chats[chat_id] = state

    def invalidate_tokens(self) -> None:
        """Every token handed out so far answers 99991663 from now on."""
        with self._lock:
            self._tokens.clear()

    @property
    def token_requests(self) -> int:
        return len(self.calls("/tenant_access_token/internal"))

    def calls(self, path_contains: str = "", method: str | None = None) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests
                    if path_contains in r.path and (method is None or r.method == method)]

    def message(self, message_id: str) -> Message:
        with self._lock:
            for m in self.messages:
                if m.message_id == message_id:
                    return m
        raise KeyError(message_id)

    def sent(self, chat_id: str | None = None) -> list[Message]:
        """Messages the app sent or replied (in order), optionally in one chat."""
        with self._lock:
            return [m for m in self.messages
                    if m.sender_type == "app" and (chat_id is None or m.chat_id == chat_id)]

    def age_message(self, message_id: str, seconds: float) -> None:
        """Pretend the message was sent ``seconds`` earlier (for the 14-day edit limit)."""
        with self._lock:
            self.message(message_id).create_time -= seconds

    def delete_message(self, message_id: str) -> None:
        with self._lock:
            self.message(message_id).deleted = True

    def incoming(self, event: dict) -> dict:
        """Register the user message of an ``im.message.receive_v1`` event (so the app can reply to it)."""
        self._note_incoming(event)
        return event

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        """Wait until ``predicate()`` is truthy (re-checked whenever the server records something)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"condition not met within {timeout} s")
                self._cond.wait(min(left, 0.05))

    # -- internals
    def _note_incoming(self, event: dict) -> None:
        header = event.get("header") or {}
        if header.get("event_type") != "im.message.receive_v1":
            return
        msg = (event.get("event") or {}).get("message") or {}
        content = msg.get("content", "")
        with self._cond:
            if any(m.message_id == msg.get("message_id") for m in self.messages):
                return
            self.messages.append(Message(
                message_id=msg.get("message_id", ""), chat_id=msg.get("chat_id", ""),
                msg_type=msg.get("message_type", "text"), content=json.loads(content) if content else None,
                raw_content=content, root_id=msg.get("root_id") or None,
                parent_id=msg.get("parent_id") or None, sender_type="user",
            ))
            self._cond.notify_all()

    def _next_id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}_{self._counter:04d}{uuidlib.uuid4().hex[:24]}"

    def _take_fault(self, endpoint: str) -> _Fault | None:
        for f in self._faults:
            if f.endpoint == endpoint:
                f.times -= 1
                if f.times <= 0:
                    self._faults.remove(f)
                return f
        return None

    def _handle(self, method: str, target: str, headers: dict[str, str], body: bytes
                ) -> tuple[int, dict[str, str], bytes]:
        split = urlsplit(target)
        query = dict(parse_qsl(split.query, keep_blank_values=True))
        rec = Recorded(method, split.path, query, headers, body)
        with self._cond:
            self.requests.append(rec)
            self._cond.notify_all()
        try:
            answer = self._route(method, split.path, query, headers, body)
        except _Answer as a:
            answer = a
        except _Drop:
            with self._cond:
                rec.status = 0
                self._cond.notify_all()
            raise
        payload = json.dumps(answer.body, ensure_ascii=False).encode("utf-8")
        with self._cond:
            rec.status, rec.answer = answer.status, answer.body
            self._cond.notify_all()
        return answer.status, answer.headers, payload

    def _route(self, method: str, path: str, query: dict[str, str], headers: dict[str, str], body: bytes
               ) -> _Answer:
        if method == "POST" and path == "/open-apis/auth/v3/tenant_access_token/internal":
            return self._token(body)
        if method == "POST" and path == "/callback/ws/endpoint":
            return self._ws_endpoint(body)
        m = re.fullmatch(r"/open-apis/bot/v2/hook/([^/]+)", path)
        if m and method == "POST":
            return self._webhook(m.group(1), body)
        if method == "POST" and path == "/open-apis/im/v1/messages":
            self._authorize(headers)
            return self._send(query, body)
        m = re.fullmatch(r"/open-apis/im/v1/messages/([^/]+)/reply", path)
        if m and method == "POST":
            self._authorize(headers)
            return self._reply(m.group(1), body)
        m = re.fullmatch(r"/open-apis/im/v1/chats/([^/]+)/members/is_in_chat", path)
        if m and method == "GET":
            self._authorize(headers)
            return self._is_in_chat(m.group(1))
        m = re.fullmatch(r"/open-apis/im/v1/messages/([^/]+)", path)
        if m and method == "PATCH":
            self._authorize(headers)
            return self._patch(m.group(1), body)
        return _Answer(404, {"code": 404, "msg": "404 page not found"})

    @staticmethod
    def _json_body(body: bytes) -> dict:
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise _api_error(9499, "Bad Request")
        if not isinstance(data, dict):
            raise _api_error(9499, "Bad Request")
        return data

    def _open_api_fault(self, endpoint: str) -> _Fault | None:
        with self._lock:
            fault = self._take_fault(endpoint)
        if fault is None or fault.kind == "send_then_drop":
            return fault
        if fault.kind == "frequency":
            raise _api_error(99991400, MSG_RATE, 429, {"x-ogw-ratelimit-limit": "50",
                                                        "x-ogw-ratelimit-reset": str(fault.reset)})
        if fault.kind == "server_error":
            raise _api_error(1500, "internal error", 500)
        raise _api_error(9499, "Bad Request")

    # -- auth
    def _token(self, body: bytes) -> _Answer:
        fault = self._open_api_fault("token")
        data = self._json_body(body)
        if data.get("app_id") != self.app_id:
            raise _api_error(10003, "invalid param")
        if data.get("app_secret") != self.app_secret:
            raise _api_error(10014, "app secret invalid")
        now = time.time()
        with self._lock:
            live = [(exp, tok) for tok, exp in self._tokens.items() if exp > now]
            if live and max(live)[0] - now >= TOKEN_REUSE_MIN_LEFT:
                exp, token = max(live)
            else:
                token = f"t-g{uuidlib.uuid4().hex}"
                exp = now + self.token_ttl
                self._tokens[token] = exp
        if fault is not None:
            raise _Drop()
        return _Answer(200, {"code": 0, "msg": "ok", "tenant_access_token": token,
                             "expire": max(int(exp - now), 0)})

    def _authorize(self, headers: dict[str, str]) -> None:
        auth = headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _api_error(99991661, MSG_MISSING_TOKEN)
        with self._lock:
            exp = self._tokens.get(token.strip())
        if exp is None or exp <= time.time():
            raise _api_error(99991663, MSG_INVALID_TOKEN)

    # -- messages
    def _content(self, msg_type: Any, content: Any, raw_size: int) -> Any:
        if msg_type not in ("text", "interactive", "post"):
            raise _invalid(f"invalid msg_type: {msg_type!r}")
        if not isinstance(content, str):
            raise _invalid("content must be a JSON string")
        limit = TEXT_BODY_MAX if msg_type == "text" else CARD_BODY_MAX
        if raw_size > limit:
            raise _api_error(230025, MSG_TOO_LONG)
        try:
            parsed = json.loads(content)
        except json.JSONDecodeError:
            raise _invalid("invalid content: not a JSON string")
        if msg_type == "text" and not (isinstance(parsed, dict) and isinstance(parsed.get("text"), str)):
            raise _invalid("invalid content: text message needs {\"text\": ...}")
        if msg_type == "interactive":
            problem = card_problem(parsed)
            if problem:
                raise _card_error(problem)
        return parsed

    def _check_chat(self, chat_id: str) -> None:
        state = self.chats.get(chat_id)
        if state is None:
            raise _invalid("invalid receive_id")
        if state == "bot_removed":
            raise _api_error(230002, MSG_BOT_OUT)
        if state == "dissolved":
            raise _api_error(232009, MSG_DISSOLVED)

    def _is_in_chat(self, chat_id: str) -> _Answer:
        """Whether the caller (the app's bot, with a tenant token) is in the chat; codes as documented."""
        with self._lock:
            state = self.chats.get(chat_id)
        if state is None:
            raise _api_error(232006, MSG_BAD_CHAT)
        if state == "dissolved":
            raise _api_error(232009, MSG_DISSOLVED)
        return _Answer(200, {"code": 0, "msg": "success", "data": {"is_in_chat": state == "ok"}})

    def _dedupe(self, kind: str, uuid: Any) -> Message | None:
        if uuid is None:
            return None
        if not isinstance(uuid, str) or not 1 <= len(uuid) <= UUID_MAX:
            raise _invalid(f"uuid must be 1..{UUID_MAX} characters")
        seen = self._uuids.get((kind, uuid))
        if seen is not None and time.time() - seen[1] < UUID_WINDOW:
            return self.message(seen[0])
        return None

    def _message_data(self, m: Message) -> dict:
        data: dict[str, Any] = {
            "message_id": m.message_id,
            "msg_type": m.msg_type,
            "create_time": _ms(m.create_time),
            "update_time": _ms(m.create_time),
            "deleted": m.deleted,
            "updated": bool(m.patches),
            "chat_id": m.chat_id,
            "sender": {"id": self.app_id, "id_type": "app_id", "sender_type": "app",
                       "tenant_key": self.tenant_key},
            "body": {"content": m.raw_content},
        }
        if m.root_id:
            data["root_id"] = m.root_id
        if m.parent_id:
            data["parent_id"] = m.parent_id
        if m.thread_id:
            data["thread_id"] = m.thread_id
        return data

    def _store(self, m: Message) -> None:
        with self._cond:
            self.messages.append(m)
            if m.uuid is not None:
                self._uuids[("reply" if m.parent_id else "send", m.uuid)] = (m.message_id, time.time())
            self._cond.notify_all()

    def _send(self, query: dict[str, str], body: bytes) -> _Answer:
        fault = self._open_api_fault("send")
        if query.get("receive_id_type") != "chat_id":
            raise _invalid("receive_id_type must be chat_id here")
        data = self._json_body(body)
        with self._lock:
            first = self._dedupe("send", data.get("uuid"))
            if first is not None:
                return _Answer(200, {"code": 0, "msg": "success", "data": self._message_data(first)})
            chat_id = data.get("receive_id")
            if not isinstance(chat_id, str):
                raise _invalid("receive_id is required")
            self._check_chat(chat_id)
        parsed = self._content(data.get("msg_type"), data.get("content"), len(body))
        m = Message(message_id=self._next_id("om"), chat_id=chat_id, msg_type=data["msg_type"],
                    content=parsed, raw_content=data["content"], uuid=data.get("uuid"))
        self._store(m)
        if fault is not None:
            raise _Drop()
        return _Answer(200, {"code": 0, "msg": "success", "data": self._message_data(m)})

    def _reply(self, parent_id: str, body: bytes) -> _Answer:
        fault = self._open_api_fault("reply")
        data = self._json_body(body)
        with self._lock:
            first = self._dedupe("reply", data.get("uuid"))
            if first is not None:
                return _Answer(200, {"code": 0, "msg": "success", "data": self._message_data(first)})
            try:
                parent = self.message(parent_id)
            except KeyError:
                raise _invalid("invalid message_id")
            if parent.deleted:
                raise _api_error(230110, MSG_DELETED)
            if parent.recalled:
                raise _api_error(230011, MSG_RECALLED)
            self._check_chat(parent.chat_id)
        parsed = self._content(data.get("msg_type"), data.get("content"), len(body))
        in_thread = bool(data.get("reply_in_thread", False))
        root = parent.root_id or parent.message_id
        thread_id = parent.thread_id or (f"omt_{uuidlib.uuid4().hex[:12]}" if in_thread else None)
        m = Message(message_id=self._next_id("om"), chat_id=parent.chat_id, msg_type=data["msg_type"],
                    content=parsed, raw_content=data["content"], uuid=data.get("uuid"), root_id=root,
                    parent_id=parent.message_id, thread_id=thread_id, reply_in_thread=in_thread)
        self._store(m)
        if fault is not None:
            raise _Drop()
        return _Answer(200, {"code": 0, "msg": "success", "data": self._message_data(m)})

    def _patch(self, message_id: str, body: bytes) -> _Answer:
        fault = self._open_api_fault("patch")
        data = self._json_body(body)
        with self._lock:
            try:
                m = self.message(message_id)
            except KeyError:
                raise _invalid("invalid message_id")
            if m.deleted:
                raise _api_error(230110, MSG_DELETED)
            if m.recalled:
                raise _api_error(230011, MSG_RECALLED)
            if self.chats.get(m.chat_id) == "dissolved":
                raise _api_error(232009, MSG_DISSOLVED)
            if m.msg_type != "interactive":
                raise _invalid("This message is NOT a card")
            if m.sender_type != "app":
                raise _invalid("the message was not sent by this app")
            if time.time() - m.create_time > PATCH_MAX_AGE:
                raise _api_error(230031, MSG_TOO_OLD)
        parsed = self._content("interactive", data.get("content"), len(body))
        if not (_is_shared(m.content) and _is_shared(parsed)):
            raise _invalid("only shared cards can be updated: set config.update_multi to true before and after")
        with self._cond:
            m.patches.append(parsed)
            m.content, m.raw_content = parsed, data["content"]
            self._cond.notify_all()
        if fault is not None:
            raise _Drop()
        return _Answer(200, {"code": 0, "msg": "success", "data": {}})

    # -- custom bot
    def _webhook_answer(self, code: int, msg: str) -> _Answer:
        return _Answer(200, {"code": code, "data": {}, "msg": msg})

    def _webhook(self, token: str, body: bytes) -> _Answer:
        with self._lock:
            fault = self._take_fault("webhook")
        if fault is not None and fault.kind != "send_then_drop":
            if fault.kind == "frequency":
                raise self._webhook_answer(11232, f"frequency limited psm[lark.oapi.app_platform_runtime]"
                                                  f"appID[{self.app_id}]")
            if fault.kind == "server_error":
                raise _Answer(500, {"code": 1500, "msg": "internal error"})
            if fault.kind == "sign":
                raise self._webhook_answer(19021, SIGN_FAIL)
            raise self._webhook_answer(9499, "Bad Request")
        if token != self.webhook_token:
            raise self._webhook_answer(19001, "param invalid: incoming webhook access token invalid")
        if len(body) > WEBHOOK_BODY_MAX:
            raise self._webhook_answer(19036, "request body is too large")
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise self._webhook_answer(9499, "Bad Request")
        if not isinstance(data, dict):
            raise self._webhook_answer(9499, "Bad Request")
        if self.webhook_secret is not None:
            ts, sign = data.get("timestamp"), data.get("sign")
            try:
                fresh = abs(time.time() - int(str(ts))) <= WEBHOOK_SIGN_WINDOW
            except ValueError:
                fresh = False
            if not fresh or not isinstance(sign, str) or not hmac.compare_digest(
                    sign, webhook_sign(str(ts), self.webhook_secret)):
                raise self._webhook_answer(19021, SIGN_FAIL)
        msg_type = data.get("msg_type")
        card, text = None, None
        if msg_type == "interactive":
            card = data.get("card")
            problem = card_problem(card)
            if card is None or problem:
                raise self._webhook_answer(9499, f"Bad Request: {problem or 'card is required'}")
        elif msg_type == "text":
            text = (data.get("content") or {}).get("text") if isinstance(data.get("content"), dict) else None
            if not isinstance(text, str):
                raise self._webhook_answer(9499, "Bad Request: fail to parse content")
        elif msg_type != "post":
            raise self._webhook_answer(19002, "param invalid: msg_type")
        if self.webhook_keywords:
            blob = json.dumps(data, ensure_ascii=False)
            if not any(k in blob for k in self.webhook_keywords):
                raise self._webhook_answer(19024, "Key Words Not Found")
        if self.webhook_rate_limit:
            self._webhook_rate()
        with self._cond:
            self.webhook_posts.append(WebhookPost(token, msg_type, data, card, text))
            self._cond.notify_all()
        if fault is not None:
            raise _Drop()
        return _Answer(200, dict(WEBHOOK_OK))

    def _webhook_rate(self) -> None:
        now = time.monotonic()
        with self._lock:
            while self._webhook_times and now - self._webhook_times[0] > 60:
                self._webhook_times.popleft()
            last_second = sum(1 for t in self._webhook_times if now - t < 1)
            if last_second >= WEBHOOK_PER_SECOND or len(self._webhook_times) >= WEBHOOK_PER_MINUTE:
                raise self._webhook_answer(11232, f"frequency limited psm[lark.oapi.app_platform_runtime]"
                                                  f"appID[{self.app_id}]")
            self._webhook_times.append(now)

    # -- long connection bootstrap
    def _ws_endpoint(self, body: bytes) -> _Answer:
        with self._lock:
            fault = self._take_fault("ws_endpoint")
        if fault is not None:
            if fault.kind == "server_error":
                raise _Answer(500, {"code": 1000040343, "msg": "internal error"})
            if fault.kind == "frequency":
                raise _Answer(200, {"code": 1, "msg": "system busy"})
            raise _Answer(200, {"code": 9499, "msg": "Bad Request"})
        data = self._json_body(body)
        if data.get("AppID") != self.app_id or data.get("AppSecret") != self.app_secret:
            return _Answer(200, {"code": 10014, "msg": "app secret invalid"})
        return _Answer(200, {"code": 0, "msg": "ok", "data": {
            "URL": self.ws.url(uuidlib.uuid4().hex[:16]),
            "ClientConfig": dict(self.client_config),
        }})
