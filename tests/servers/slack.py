"""A local stand-in for Slack: the Web API, response_url and Socket Mode, standard library HTTP.

Drive it with the real clients::

    with SlackServer(bot_token="xoxb-test", app_token="xapp-test", channels=["C1", "C2"]) as slack:
        client = WebClient(token="xoxb-test", base_url=slack.api_url)
        client.chat_postMessage(channel="C1", text="hi")
        assert slack.messages("C1")[0].text == "hi"

Web API methods answer at ``POST /api/<method>`` (GET with a query string too), form-encoded or JSON,
like Slack: HTTP 200 with ``{"ok": false, "error": ...}`` for every API error, 429 + ``Retry-After``
when rate limited. Every message is checked against Block Kit's documented limits (``LIMITS``).
``response_url()`` hands out URLs at ``/response/<id>`` (5 uses within 30 minutes). Socket Mode runs on
a second loopback port that ``apps.connections.open`` hands out (``slack.socket``).
The limits below are copied from Slack's documentation, never imported from the code under test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any, Callable, Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve as ws_serve

from tests.servers import TrackedHandler, serve

__all__ = [
    "Edit", "LIMITS", "Message", "Request", "ResponsePost", "SlackServer", "SocketMode",
    "block_action_body", "block_action_payload", "check_message", "signed_headers",
    "slash_command_body", "slash_command_payload",
]

# --------------------------------------------------------------------------- documented limits
MAX_BLOCKS = 50                 # blocks per message (Block Kit "blocks" reference)
MAX_TEXT = 40_000               # chat.postMessage `text` (msg_too_long)
MAX_MARKDOWN_TOTAL = 12_000     # markdown block: cumulative per payload
MAX_BLOCKS_TEXT = 12_000        # undocumented msg_blocks_too_long (reported ~13.2k); we budget under it
RESPONSE_URL_USES = 5           # "up to 5 times within 30 minutes"
RESPONSE_URL_TTL = 30 * 60
BLOCK_TYPES = frozenset({
    "section", "header", "context", "actions", "divider", "markdown", "image", "rich_text",
    "input", "file", "video", "table", "context_actions",
})
# (where, path, limit): a path ending in [] counts items; otherwise characters.
# "where" is a block type or an element type ("button"); "*" is every block.
LIMITS: tuple[tuple[str, str, int], ...] = (
    ("section", "text.text", 3000),
    ("section", "fields[]", 10),
    ("section", "fields.*.text", 2000),
    ("header", "text.text", 150),
    ("context", "elements[]", 10),
    ("actions", "elements[]", 25),
    ("button", "text.text", 75),
    ("button", "value", 2000),
    ("button", "action_id", 255),
    ("button", "url", 3000),
    ("*", "block_id", 255),
)
TEXT_TYPES = ("plain_text", "mrkdwn")
HELLO_DEBUG = {"host": "applink-local", "build_number": 1, "approximate_connection_time": 18060}


# --------------------------------------------------------------------------- records
@dataclass
class Edit:
    """One change of a posted message (chat.update or a response_url replace_original)."""

    channel: str
    ts: str
    text: str
    blocks: list | None
    metadata: dict | None
    at: float
    via: str = "chat.update"


@dataclass
class Message:
    """A message as Slack stores it; its fields hold the current (last edited) content."""

    channel: str
    ts: str
    text: str
    blocks: list | None = None
    metadata: dict | None = None
    thread_ts: str | None = None
    user: str | None = None          # author; for an ephemeral message, the one user who sees it
    by_bot: bool = True
    ephemeral: bool = False
    deleted: bool = False
    edits: list[Edit] = field(default_factory=list)
    params: dict = field(default_factory=dict)   # everything the poster sent (unfurl_links, ...)

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts


@dataclass
class Request:
    """One Web API call as received (token removed from params)."""

    method: str
    params: dict
    at: float
    status: int = 0
    answer: dict | None = None


@dataclass
class ResponsePost:
    url: str
    body: Any
    at: float
    status: int = 0
    answer: dict | None = None


@dataclass
class _Fault:
    method: str
    kind: str
    times: int
    retry_after: int
    status: int
    seconds: float
    error: str = "internal_error"
    after: int = 0  # calls of `method` that pass untouched before this fault applies


@dataclass
class _ResponseUrl:
    id: str
    created: float
    channel: str
    user: str
    message_ts: str | None
    uses: int = 0
    last_ephemeral: Message | None = None


@dataclass
class _Channel:
    id: str
    state: str = "ok"   # ok | not_in_channel | channel_not_found | is_archived


class _ApiError(Exception):
    def __init__(self, error: str, status: int = 200, extra: dict | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(error)
        self.body = {"ok": False, "error": error, **(extra or {})}
        self.status = status
        self.headers = headers or {}


# --------------------------------------------------------------------------- Block Kit checks
def _pointer(*parts: object) -> str:
    return "/" + "/".join(str(p) for p in parts)


def _walk(obj: Any, path: list[str], at: str) -> Iterator[tuple[Any, str]]:
    """Values at `path` inside obj ("*" = every list item), with their JSON pointers."""
    if not path:
        yield obj, at
        return
    head, rest = path[0], path[1:]
    if head == "*":
        for i, item in enumerate(obj if isinstance(obj, list) else []):
            yield from _walk(item, rest, f"{at}/{i}")
    elif isinstance(obj, dict) and head in obj:
        yield from _walk(obj[head], rest, f"{at}/{head}")


def _check_limits(kinds: tuple[str, ...], obj: dict, at: str, problems: list[str]) -> None:
    for where, path, limit in LIMITS:
        if where not in kinds:
            continue
        items = path.endswith("[]")
        for value, ptr in _walk(obj, path.removesuffix("[]").split("."), at):
            if items and isinstance(value, list) and len(value) > limit:
                problems.append(f"no more than {limit} items allowed [json-pointer:{ptr}]")
            elif not items and isinstance(value, str) and len(value) > limit:
                problems.append(f"must be less than {limit + 1} characters [json-pointer:{ptr}]")


def _check_text(obj: Any, at: str, problems: list[str], types: tuple[str, ...] = TEXT_TYPES) -> None:
    if not isinstance(obj, dict):
        problems.append(f"must provide an object [json-pointer:{at}]")
        return
    if obj.get("type") not in types:
        problems.append(f"must be one of {', '.join(types)} [json-pointer:{at}/type]")
    text = obj.get("text")
    if not isinstance(text, str):
        problems.append(f"missing required field: text [json-pointer:{at}]")
    elif not text:
        problems.append(f"must be more than 0 characters [json-pointer:{at}/text]")


def _check_element(el: Any, at: str, action_ids: set[str], problems: list[str]) -> None:
    if not isinstance(el, dict) or not isinstance(el.get("type"), str):
        problems.append(f"missing required field: type [json-pointer:{at}]")
        return
    action_id = el.get("action_id")
    if isinstance(action_id, str):
        if action_id in action_ids:
            problems.append(f"duplicate action_id `{action_id}` [json-pointer:{at}/action_id]")
        action_ids.add(action_id)
    if el["type"] == "button":
        _check_text(el.get("text"), f"{at}/text", problems, ("plain_text",))
    _check_limits((el["type"],), el, at, problems)


def _check_block(block: Any, i: int, block_ids: set[str], problems: list[str]) -> None:
    at = _pointer("blocks", i)
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        problems.append(f"missing required field: type [json-pointer:{at}]")
        return
    kind = block["type"]
    if kind not in BLOCK_TYPES:
        problems.append(f"unsupported type: {kind} [json-pointer:{at}/type]")
        return
    block_id = block.get("block_id")
    if isinstance(block_id, str):
        if block_id in block_ids:
            problems.append(f"duplicate block_id `{block_id}` [json-pointer:{at}/block_id]")
        block_ids.add(block_id)
    action_ids: set[str] = set()  # documented: unique among the action_ids of the containing block
    if kind == "section":
        if "text" not in block and "fields" not in block:
            problems.append(f"must provide either text or fields [json-pointer:{at}]")
        if "text" in block:
            _check_text(block["text"], f"{at}/text", problems)
        for j, f in enumerate(block.get("fields") or []):
            _check_text(f, f"{at}/fields/{j}", problems)
        if "accessory" in block:
            _check_element(block["accessory"], f"{at}/accessory", action_ids, problems)
    elif kind == "header":
        _check_text(block.get("text"), f"{at}/text", problems, ("plain_text",))
    elif kind in ("context", "actions"):
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            problems.append(f"must provide at least 1 item [json-pointer:{at}/elements]")
        for j, el in enumerate(elements or []):
            ptr = f"{at}/elements/{j}"
            if kind == "context" and isinstance(el, dict) and el.get("type") in TEXT_TYPES:
                _check_text(el, ptr, problems)
            else:
                _check_element(el, ptr, action_ids, problems)
    elif kind == "markdown":
        if not isinstance(block.get("text"), str) or not block["text"]:
            problems.append(f"must be more than 0 characters [json-pointer:{at}/text]")
    _check_limits((kind, "*"), block, at, problems)


def block_text(value: Any) -> Iterator[str]:
    """Every string under a "text" key, at any depth (what Slack counts as the blocks' text)."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k == "text" and isinstance(v, str):
                yield v
            else:
                yield from block_text(v)
    elif isinstance(value, list):
        for v in value:
            yield from block_text(v)


def check_message(text: Any, blocks: Any) -> _ApiError | None:
    """The error Slack would answer for this message content, or None when it would be accepted."""
    if not text and not blocks:
        return _ApiError("no_text")
    if text is not None and not isinstance(text, str):
        return _ApiError("invalid_arguments")
    if text and len(text) > MAX_TEXT:
        return _ApiError("msg_too_long")
    if blocks is None:
        return None
    if not isinstance(blocks, list):
        return _ApiError("invalid_blocks_format")
    problems: list[str] = []
    if len(blocks) > MAX_BLOCKS:
        problems.append(f"no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]")
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        _check_block(block, i, block_ids, problems)
    markdown = sum(len(b.get("text") or "") for b in blocks if isinstance(b, dict) and b.get("type") == "markdown")
    if markdown > MAX_MARKDOWN_TOTAL:
        problems.append(f"markdown blocks must be less than {MAX_MARKDOWN_TOTAL + 1} characters in total "
                        "[json-pointer:/blocks]")
    if problems:
        return _ApiError("invalid_blocks", extra={
            "errors": problems, "response_metadata": {"messages": [f"[ERROR] {p}" for p in problems]}})
    if sum(len(t) for t in block_text(blocks)) > MAX_BLOCKS_TEXT:
        return _ApiError("msg_blocks_too_long")
    return None


# --------------------------------------------------------------------------- request signing helpers
def signed_headers(signing_secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Headers Slack sends with a request: v0 signature = HMAC-SHA256(secret, "v0:{ts}:{body}")."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    base = b"v0:" + ts.encode() + b":" + body
    digest = hmac.new(signing_secret.encode(), base, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
    }


def slash_command_payload(command: str, text: str, channel_id: str = "C1", user_id: str = "U1",
                          response_url: str = "", trigger_id: str = "1.2.trigger",
                          team_id: str = "T1") -> dict[str, str]:
    """The fields of a slash command invocation (HTTP form fields, or a Socket Mode payload)."""
    return {
        "token": "legacy-verification-token", "team_id": team_id, "team_domain": "test",
        "channel_id": channel_id, "channel_name": channel_id.lower(), "user_id": user_id,
        "user_name": user_id.lower(), "command": command, "text": text, "api_app_id": "A1",
        "is_enterprise_install": "false", "response_url": response_url, "trigger_id": trigger_id,
    }


def slash_command_body(command: str, text: str, channel_id: str = "C1", user_id: str = "U1",
                       response_url: str = "", trigger_id: str = "1.2.trigger") -> bytes:
    """A slash command as Slack POSTs it: form-encoded, UTF-8."""
    fields = slash_command_payload(command, text, channel_id, user_id, response_url, trigger_id)
    return urlencode(fields).encode("utf-8")


def block_action_payload(action_id: str, value: str = "", block_id: str = "b1", channel_id: str = "C1",
                         user_id: str = "U1", message_ts: str = "", response_url: str = "",
                         trigger_id: str = "1.2.trigger", action_type: str = "button") -> dict:
    """A block_actions interaction payload (a button click)."""
    return {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": "T1"},
        "api_app_id": "A1", "token": "legacy-verification-token",
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel_id,
                      "is_ephemeral": False},
        "trigger_id": trigger_id, "team": {"id": "T1", "domain": "test"},
        "channel": {"id": channel_id, "name": channel_id.lower()},
        "message": {"type": "message", "ts": message_ts},
        "response_url": response_url,
        "actions": [{"type": action_type, "action_id": action_id, "block_id": block_id, "value": value,
                     "action_ts": f"{time.time():.6f}"}],
    }


def block_action_body(action_id: str, value: str = "", block_id: str = "b1", channel_id: str = "C1",
                      user_id: str = "U1", message_ts: str = "", response_url: str = "",
                      trigger_id: str = "1.2.trigger") -> bytes:
    """A button click as Slack POSTs it: one form field `payload` holding JSON."""
    payload = block_action_payload(action_id, value, block_id, channel_id, user_id, message_ts,
                                   response_url, trigger_id)
    return urlencode({"payload": json.dumps(payload, ensure_ascii=False)}).encode("utf-8")


# --------------------------------------------------------------------------- Socket Mode
class SocketMode:
    """The WebSocket side: hello on connect, envelopes out, acks in (pings answered by websockets)."""

    def __init__(self, app_id: str, ticket_ok: Callable[[str], bool]) -> None:
        self.app_id = app_id
        self._ticket_ok = ticket_ok
        self._cond = threading.Condition()
        self._conn: ServerConnection | None = None
        self._server: Server | None = None
        self.connections = 0
        self.acks: dict[str, dict] = {}
        self.received: list[dict] = []
        self.port = 0

    def start(self) -> None:
        self._server = ws_serve(self._handle, "127.0.0.1", 0, process_request=self._check_ticket,
                                compression=None)
        self.port = self._server.socket.getsockname()[1]
        threading.Thread(target=self._server.serve_forever, name="fake-slack-ws", daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

    def url(self, ticket: str) -> str:
        return f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id={self.app_id}"

    def _check_ticket(self, conn: ServerConnection, request: Any) -> Any:
        query = dict(parse_qsl(urlsplit(request.path).query))
        if not urlsplit(request.path).path.startswith("/link") or not self._ticket_ok(query.get("ticket", "")):
            return conn.respond(403, "invalid ticket\n")
        return None

    def _handle(self, conn: ServerConnection) -> None:
        conn.send(json.dumps({"type": "hello", "num_connections": 1, "debug_info": HELLO_DEBUG,
                              "connection_info": {"app_id": self.app_id}}))
        with self._cond:
            self._conn = conn
            self.connections += 1
            self._cond.notify_all()
        try:
            for raw in conn:
                message = json.loads(raw)
                with self._cond:
                    self.received.append(message)
                    if isinstance(message, dict) and "envelope_id" in message:
                        self.acks[message["envelope_id"]] = message
                    self._cond.notify_all()
        except (ConnectionClosed, ValueError):
            pass  # the client went away or sent garbage: the connection ends, as Slack's would
        finally:
            with self._cond:
                if self._conn is conn:
                    self._conn = None
                self._cond.notify_all()

    def wait_connected(self, timeout: float = 5.0) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: self._conn is not None, timeout):
                raise TimeoutError("no Socket Mode client connected")

    def send(self, type: str, payload: dict, accepts_response_payload: bool = False,
             envelope_id: str | None = None, retry_attempt: int = 0, retry_reason: str = "") -> str:
        """Push one envelope to the connected client; its envelope_id."""
        eid = envelope_id or str(uuid.uuid4())
        envelope: dict[str, Any] = {"envelope_id": eid, "type": type, "payload": payload,
                                    "accepts_response_payload": accepts_response_payload}
        if type == "events_api":
            envelope.update(retry_attempt=retry_attempt, retry_reason=retry_reason)
        with self._cond:
            conn = self._conn
        if conn is None:
            raise RuntimeError("no Socket Mode client is connected")
        conn.send(json.dumps(envelope, ensure_ascii=False))
        return eid

    def wait_ack(self, envelope_id: str, timeout: float = 5.0) -> dict:
        with self._cond:
            if not self._cond.wait_for(lambda: envelope_id in self.acks, timeout):
                raise TimeoutError(f"no ack for envelope {envelope_id}")
            return self.acks[envelope_id]

    def disconnect(self, reason: str = "refresh_requested") -> None:
        """Ask the client to reconnect, as Slack does before recycling a connection, and close."""
        with self._cond:
            conn = self._conn
        if conn is not None:
            conn.send(json.dumps({"type": "disconnect", "reason": reason, "debug_info": HELLO_DEBUG}))
            conn.close()


# --------------------------------------------------------------------------- HTTP plumbing
class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    owner: "SlackServer"

    def handle_error(self, request: Any, client_address: Any) -> None:  # quiet: clients hang up on purpose
        pass


_DROP = object()  # answer nothing and close the connection


class _Handler(TrackedHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer


    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, out, body = self.server.owner._dispatch(self.command, self.path, headers, raw)
        if body is _DROP:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        for k, v in out.items():
            self.send_header(k, v)
        self.end_headers()
        try:
            self.wfile.write(payload)
        except OSError:
            self.close_connection = True

    do_GET = do_POST = _serve


def _parse_params(query: str, headers: dict[str, str], raw: bytes) -> dict[str, Any]:
    params: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
    ctype = headers.get("content-type", "")
    if raw and "json" in ctype:
        body = json.loads(raw.decode("utf-8"))
        if isinstance(body, dict):
            params.update(body)
    elif raw:
        params.update(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    for name in ("blocks", "metadata", "attachments"):  # JSON-encoded strings inside a form body
        if isinstance(params.get(name), str):
            try:
                params[name] = json.loads(params[name])
            except ValueError:
                pass  # left as sent; the method answers invalid_*_format
    return params


def _json_field(params: dict, name: str, error: str) -> Any:
    """blocks / metadata / attachments may arrive as JSON-encoded strings (form bodies)."""
    value = params.get(name)
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            return json.loads(value)
        except ValueError:
            raise _ApiError(error) from None
    return value


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() in ("true", "1")


def _micros(ts: str) -> int:
    """A Slack timestamp ("1767862800.000100" or "1767862800") in microseconds, compared exactly."""
    try:
        seconds, _, fraction = ts.partition(".")
        return int(seconds) * 1_000_000 + int((fraction + "000000")[:6])
    except ValueError:
        raise _ApiError("invalid_ts_oldest") from None


def _cursor(ts: str) -> str:
    return base64.b64encode(f"next_ts:{ts}".encode()).decode()


def _uncursor(cursor: str) -> str:
    try:
        text = base64.b64decode(cursor.encode(), validate=True).decode()
    except ValueError:
        raise _ApiError("invalid_cursor") from None
    if not text.startswith("next_ts:"):
        raise _ApiError("invalid_cursor")
    return text[len("next_ts:"):]


# --------------------------------------------------------------------------- the server
class SlackServer:
    """Local Slack (see module docstring). Thread-safe; every request and message is recorded."""

    def __init__(self, *, bot_token: str = "xoxb-test", app_token: str = "xapp-test",
                 channels: list[str] | dict[str, str] = ("C1",), team_id: str = "T1",
                 bot_user_id: str = "UBOT", bot_id: str = "B1", app_id: str = "A1",
                 rate_limit_per_channel: tuple[int, float] | None = None,
                 clock: Callable[[], float] = time.time,
                 scopes: tuple[str, ...] = ("chat:write", "commands", "channels:history", "groups:history")
                 ) -> None:
        self.bot_token = bot_token
        self.scopes = scopes  # granted to the bot token: Slack lists them in every answer's x-oauth-scopes
        self.app_token = app_token
        self.team_id, self.bot_user_id, self.bot_id, self.app_id = team_id, bot_user_id, bot_id, app_id
        self.rate_limit_per_channel = rate_limit_per_channel
        self.clock = clock  # response_url expiry reads it; tests may pass a fake
        states = channels if isinstance(channels, dict) else {c: "ok" for c in channels}
        self._channels = {c: _Channel(c, s) for c, s in states.items()}
        self.token_revoked = False
        self.requests: list[Request] = []
        self.updates: list[Edit] = []
        self.responses: list[ResponsePost] = []
        self._messages: list[Message] = []
        self._faults: list[_Fault] = []
        self._posts: dict[str, list[float]] = {}
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._tickets: set[str] = set()
        self._last_ts = 0
        self._lock = threading.Lock()
        self._open = threading.Event()
        self._open.set()
        self._stopping = threading.Event()
        self._conns: set[socket.socket] = set()
        self._httpd: _HTTPServer | None = None
        self.url = ""
        self.socket = SocketMode(app_id, self._ticket_ok)

    # -- lifecycle
    def start(self) -> "SlackServer":
        httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        httpd.owner = self
        self._httpd = httpd
        self.url, _ = serve(httpd, "fake-slack")
        self.socket.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._open.set()
        self.socket.stop()
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self) -> "SlackServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def api_url(self) -> str:
        return f"{self.url}/api/"

    # -- scripting
    def set_channel(self, channel: str, state: str) -> None:
        """state: ok | not_in_channel | channel_not_found | is_archived."""
        with self._lock:
            self._channels[channel] = _Channel(channel, state)

    def fail(self, method: str, kind: str, times: int = 1, retry_after: int = 1,
             status: int = 500, seconds: float = 5.0, error: str = "internal_error", after: int = 0) -> None:
        """Script the next `times` calls of `method` ("*" = any; "response_url" = response URL posts), once `after`
        calls of it have passed untouched.

        kind: "ratelimited" (429 + Retry-After), "server_error" (`status`, 500 or 503), "error" (HTTP 200 with
        `{"ok": false, "error": error}`, as Slack answers a method that failed, e.g. internal_error or
        fatal_error), "post_then_drop" (processed and recorded, then the connection closes unanswered),
        "post_then_hold" (processed and recorded, then the answer waits for release(): hold() first; a client
        killed meanwhile has posted without learning the ts), "post_then_hang" (processed and recorded, then no
        answer until the server stops: the client is to be killed meanwhile), "delay" (answered after
        `seconds`)."""
        if kind not in ("ratelimited", "server_error", "error", "post_then_drop", "post_then_hold", "post_then_hang",
                        "delay"):
            raise ValueError(f"unknown fault kind {kind!r}")
        with self._lock:
            self._faults.append(_Fault(method, kind, times, retry_after, status, seconds, error, after))

    def hold(self) -> None:
        """Block every Web API and response_url answer until release() (requests are still recorded)."""
        self._open.clear()

    def release(self) -> None:
        self._open.set()

    def post_user_message(self, channel: str, text: str, user: str = "U1", thread_ts: str | None = None) -> Message:
        """A message written by a person (the bot cannot update it)."""
        with self._lock:
            msg = Message(channel, self._next_ts(), text, thread_ts=thread_ts, user=user, by_bot=False)
            self._messages.append(msg)
        return msg

    def response_url(self, channel: str = "C1", user: str = "U1", message_ts: str | None = None) -> str:
        """A fresh response_url; message_ts binds it to the message a button was clicked on."""
        rid = uuid.uuid4().hex
        with self._lock:
            self._response_urls[rid] = _ResponseUrl(rid, self.clock(), channel, user, message_ts)
        return f"{self.url}/response/{rid}"

    # -- reading the records
    def messages(self, channel: str | None = None, top_level: bool | None = None) -> list[Message]:
        """Visible channel messages, oldest first (no ephemerals, nothing deleted)."""
        with self._lock:
            return [m for m in self._messages
                    if not m.ephemeral and not m.deleted and (channel is None or m.channel == channel)
                    and (top_level is None or top_level != m.is_reply)]

    def replies(self, ts: str) -> list[Message]:
        with self._lock:
            return [m for m in self._messages if m.is_reply and m.thread_ts == ts and not m.deleted]

    @property
    def ephemerals(self) -> list[Message]:
        with self._lock:
            return [m for m in self._messages if m.ephemeral and not m.deleted]

    def responses_to(self, url: str) -> list[ResponsePost]:
        with self._lock:
            return [r for r in self.responses if r.url == url]

    def calls(self, method: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.method == method]

    @staticmethod
    def all_text(message: Message) -> str:
        """The text field and every text inside the blocks, one per line."""
        return "\n".join([message.text or "", *block_text(message.blocks or [])])

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"condition not met within {timeout} s")
            time.sleep(0.01)

    # -- internals
    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            (self._conns.add if add else self._conns.discard)(conn)

    def _ticket_ok(self, ticket: str) -> bool:
        with self._lock:
            return ticket in self._tickets

    def _next_ts(self) -> str:
        micros = max(int(time.time() * 1_000_000), self._last_ts + 1)
        self._last_ts = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _take_fault(self, method: str) -> _Fault | None:
        with self._lock:
            for f in self._faults:
                if f.method in (method, "*"):
                    if f.after > 0:
                        f.after -= 1
                        return None
                    f.times -= 1
                    if f.times <= 0:
                        self._faults.remove(f)
                    return f
        return None

    def _wait_open(self) -> None:
        while not self._open.wait(0.05) and not self._stopping.is_set():
            pass

    def _dispatch(self, verb: str, target: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict, Any]:
        split = urlsplit(target)
        if split.path.startswith("/response/") and verb == "POST":
            return self._response_post(split.path[len("/response/"):], raw)
        if not split.path.startswith("/api/"):
            return 404, {}, {"ok": False, "error": "not_found"}
        method = split.path[len("/api/"):].strip("/")
        try:
            params = _parse_params(split.query, headers, raw)
        except (ValueError, UnicodeDecodeError):
            params = {}
        form_token = params.pop("token", None)
        rec = Request(method, params, time.time())
        with self._lock:
            self.requests.append(rec)
        fault = self._take_fault(method)
        if fault is None or fault.kind != "post_then_hold":
            self._wait_open()
        try:
            if fault is not None and fault.kind == "ratelimited":
                raise _ApiError("ratelimited", 429, headers={"Retry-After": str(fault.retry_after)})
            if fault is not None and fault.kind == "server_error":
                raise _ApiError("internal_error" if fault.status == 500 else "service_unavailable", fault.status)
            if fault is not None and fault.kind == "error":
                raise _ApiError(fault.error)
            if fault is not None and fault.kind == "delay":
                self._stopping.wait(fault.seconds)
            handler = self._methods().get(method)
            if handler is None:
                raise _ApiError("unknown_method")
            self._authorize(method, headers.get("authorization", ""), form_token)
            answer = {"ok": True, **handler(params)}
            status, out = 200, {}
            if method != "apps.connections.open":  # documented: the token's scopes, on every Web API answer
                out = {"x-oauth-scopes": ",".join(self.scopes)}
        except _ApiError as err:
            answer, status, out = err.body, err.status, err.headers
        rec.status, rec.answer = status, answer
        if fault is not None and fault.kind == "post_then_hold":
            self._wait_open()
        if fault is not None and fault.kind == "post_then_hang":
            self._stopping.wait()
        if fault is not None and fault.kind == "post_then_drop":
            return status, out, _DROP
        return status, out, answer

    def _authorize(self, method: str, header: str, form_token: str | None) -> None:
        bearer = header[7:].strip() if header.lower().startswith("bearer ") else None
        if method == "apps.connections.open":  # documented: app-level token, in the header only
            if bearer is None:
                raise _ApiError("not_authed")
            if bearer != self.app_token:
                raise _ApiError("invalid_auth")
            return
        token = bearer or form_token
        if not token:
            raise _ApiError("not_authed")
        if token != self.bot_token:
            raise _ApiError("invalid_auth")
        if self.token_revoked:
            raise _ApiError("token_revoked")

    def _methods(self) -> dict[str, Callable[[dict], dict]]:
        return {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.postEphemeral": self._post_ephemeral,
            "chat.getPermalink": self._permalink,
            "conversations.history": self._history,
            "conversations.replies": self._replies,
            "conversations.info": self._info,
            "apps.connections.open": self._connections_open,
        }

    def _channel(self, params: dict, allow: tuple[str, ...]) -> str:
        """The channel named in params; its state's error unless that state is allowed for the method."""
        channel = params.get("channel")
        with self._lock:
            state = self._channels[channel].state if channel in self._channels else "channel_not_found"
        if state not in ("ok", *allow):
            raise _ApiError(state)
        return channel

    def _content(self, params: dict) -> tuple[Any, Any, Any]:
        blocks = _json_field(params, "blocks", "invalid_blocks_format")
        metadata = _json_field(params, "metadata", "invalid_metadata_format")
        if metadata is not None and (not isinstance(metadata, dict) or not isinstance(metadata.get("event_type"), str)):
            raise _ApiError("invalid_metadata_format")
        return params.get("text"), blocks, metadata

    def _find(self, channel: str, ts: Any) -> Message:
        with self._lock:
            for m in self._messages:
                if m.channel == channel and m.ts == ts and not m.ephemeral and not m.deleted:
                    return m
        raise _ApiError("message_not_found")

    def _message_json(self, m: Message, with_metadata: bool = True) -> dict:
        out: dict[str, Any] = {"type": "message", "ts": m.ts, "text": m.text or ""}
        if m.by_bot:
            out.update(user=self.bot_user_id, bot_id=self.bot_id, app_id=self.app_id, team=self.team_id)
        else:
            out.update(user=m.user, team=self.team_id)
        if m.blocks:
            out["blocks"] = m.blocks
        if m.thread_ts:
            out["thread_ts"] = m.thread_ts
        replies = [r for r in self._messages if r.is_reply and r.thread_ts == m.ts and not r.deleted]
        if replies and not m.is_reply:
            out.update(thread_ts=m.ts, reply_count=len(replies), latest_reply=replies[-1].ts)
        if m.edits:
            out["edited"] = {"user": self.bot_user_id, "ts": f"{m.edits[-1].at:.6f}"}
        if with_metadata and m.metadata:
            out["metadata"] = m.metadata
        return out

    def _rate_check(self, channel: str) -> None:
        if self.rate_limit_per_channel is None:
            return
        burst, per = self.rate_limit_per_channel
        now = time.monotonic()
        with self._lock:
            recent = [t for t in self._posts.get(channel, []) if now - t < per]
            if len(recent) >= burst:
                self._posts[channel] = recent
                wait = max(1, int(per - (now - recent[0]) + 0.999))
                raise _ApiError("ratelimited", 429, headers={"Retry-After": str(wait)})
            self._posts[channel] = [*recent, now]

    # -- Web API methods
    def _auth_test(self, params: dict) -> dict:
        return {"url": "https://test.slack.com/", "team": "Test Team", "user": "commit-radar",
                "team_id": self.team_id, "user_id": self.bot_user_id, "bot_id": self.bot_id,
                "is_enterprise_install": False}

    def _post_message(self, params: dict) -> dict:
        channel = self._channel(params, allow=())
        text, blocks, metadata = self._content(params)
        err = check_message(text, blocks)
        if err is not None:
            raise err
        self._rate_check(channel)
        thread_ts = params.get("thread_ts") or None
        if thread_ts is not None:
            try:
                parent = self._find(channel, thread_ts)
            except _ApiError:
                raise _ApiError("thread_not_found") from None
            thread_ts = parent.thread_ts or parent.ts  # a reply's ts threads under its parent
        with self._lock:
            msg = Message(channel, self._next_ts(), text or "", blocks, metadata, thread_ts,
                          user=self.bot_user_id, params=dict(params))
            self._messages.append(msg)
            body = self._message_json(msg)
        return {"channel": channel, "ts": msg.ts, "message": body}

    def _update(self, params: dict) -> dict:
        channel = self._channel(params, allow=())
        msg = self._find(channel, params.get("ts"))
        if not msg.by_bot:
            raise _ApiError("cant_update_message")
        text, blocks, metadata = self._content(params)
        text = msg.text if text is None else text
        blocks = msg.blocks if "blocks" not in params else blocks
        err = check_message(text, blocks)
        if err is not None:
            raise err
        with self._lock:
            edit = Edit(channel, msg.ts, text, blocks, metadata or msg.metadata, time.time())
            msg.text, msg.blocks, msg.metadata = text, blocks, edit.metadata
            msg.edits.append(edit)
            self.updates.append(edit)
            body = self._message_json(msg)
        return {"channel": channel, "ts": msg.ts, "text": text, "message": body}

    def _post_ephemeral(self, params: dict) -> dict:
        channel = self._channel(params, allow=())
        if not params.get("user"):
            raise _ApiError("user_not_found")
        text, blocks, _ = self._content(params)
        err = check_message(text, blocks)
        if err is not None:
            raise err
        with self._lock:
            msg = Message(channel, self._next_ts(), text or "", blocks, None, params.get("thread_ts"),
                          user=params["user"], ephemeral=True, params=dict(params))
            self._messages.append(msg)
        return {"message_ts": msg.ts}

    def _permalink(self, params: dict) -> dict:
        channel = self._channel(params, allow=("is_archived",))
        msg = self._find(channel, params.get("message_ts"))
        link = f"https://test.slack.com/archives/{channel}/p{msg.ts.replace('.', '')}"
        if msg.is_reply:
            link += f"?thread_ts={msg.thread_ts}&cid={channel}"
        return {"channel": channel, "permalink": link}

    def _page(self, msgs: list[Message], params: dict, default_limit: int) -> dict:
        limit = max(1, min(int(params.get("limit") or default_limit), 999))
        if params.get("cursor"):
            start = _uncursor(params["cursor"])
            msgs = msgs[next((i for i, m in enumerate(msgs) if m.ts == start), len(msgs)):]
        page, rest = msgs[:limit], msgs[limit:]
        meta = _flag(params.get("include_all_metadata"))
        with self._lock:
            out = [self._message_json(m, with_metadata=meta) for m in page]
        return {"messages": out, "has_more": bool(rest),
                "response_metadata": {"next_cursor": _cursor(rest[0].ts) if rest else ""}}

    def _in_window(self, m: Message, params: dict) -> bool:
        """oldest < ts < latest; the bounds themselves only with inclusive."""
        inclusive = _flag(params.get("inclusive"))
        ts = _micros(m.ts)
        if params.get("oldest"):
            oldest = _micros(str(params["oldest"]))
            if ts < oldest or (ts == oldest and not inclusive):
                return False
        if params.get("latest"):
            latest = _micros(str(params["latest"]))
            if ts > latest or (ts == latest and not inclusive):
                return False
        return True

    def _history(self, params: dict) -> dict:
        channel = self._channel(params, allow=("is_archived",))
        msgs = [m for m in reversed(self.messages(channel, top_level=True)) if self._in_window(m, params)]
        return self._page(msgs, params, 100)

    def _replies(self, params: dict) -> dict:
        channel = self._channel(params, allow=("is_archived",))
        try:
            parent = self._find(channel, params.get("ts"))
        except _ApiError:
            raise _ApiError("thread_not_found") from None
        if parent.is_reply:
            parent = self._find(channel, parent.thread_ts)
        msgs = [m for m in [parent, *self.replies(parent.ts)] if self._in_window(m, params)]
        return self._page(msgs, params, 1000)

    def _info(self, params: dict) -> dict:
        channel = self._channel(params, allow=("is_archived", "not_in_channel"))
        with self._lock:
            state = self._channels[channel].state
        return {"channel": {"id": channel, "name": channel.lower(), "is_channel": True, "is_private": False,
                            "is_archived": state == "is_archived", "is_member": state != "not_in_channel",
                            "created": 1767225600}}

    def _connections_open(self, params: dict) -> dict:
        ticket = uuid.uuid4().hex
        with self._lock:
            self._tickets.add(ticket)
        return {"url": self.socket.url(ticket)}

    # -- response_url
    def _response_post(self, rid: str, raw: bytes) -> tuple[int, dict, Any]:
        url = f"{self.url}/response/{rid}"
        try:
            body = json.loads(raw.decode("utf-8")) if raw else {}
        except (ValueError, UnicodeDecodeError):
            body = None
        post = ResponsePost(url, body, time.time())
        with self._lock:
            self.responses.append(post)
            entry = self._response_urls.get(rid)
        self._wait_open()
        fault = self._take_fault("response_url")
        try:
            if fault is not None and fault.kind == "ratelimited":
                raise _ApiError("ratelimited", 429, headers={"Retry-After": str(fault.retry_after)})
            if fault is not None and fault.kind == "server_error":
                raise _ApiError("internal_error", fault.status)
            if fault is not None and fault.kind == "delay":
                self._stopping.wait(fault.seconds)
            self._respond(entry, body)
            status, out, answer = 200, {}, {"ok": True}
        except _ApiError as err:
            status, out, answer = err.status, err.headers, err.body
        post.status, post.answer = status, answer
        if fault is not None and fault.kind == "post_then_drop":
            return status, out, _DROP
        return status, out, answer

    def _respond(self, entry: _ResponseUrl | None, body: Any) -> None:
        if entry is None:
            raise _ApiError("no_service", 404)
        if self.clock() - entry.created > RESPONSE_URL_TTL:
            raise _ApiError("expired_url", 404)
        if entry.uses >= RESPONSE_URL_USES:
            raise _ApiError("used_url", 404)
        if not isinstance(body, dict):
            raise _ApiError("invalid_payload", 400)
        target: Message | None = None
        if _flag(body.get("replace_original")) or _flag(body.get("delete_original")):
            target = self._find(entry.channel, entry.message_ts) if entry.message_ts else entry.last_ephemeral
            if target is None:
                raise _ApiError("message_not_found", 404)
        if _flag(body.get("delete_original")):
            with self._lock:
                entry.uses += 1
                target.deleted = True
            return
        err = check_message(body.get("text"), body.get("blocks"))
        if err is not None:
            err.status = 400
            raise err
        text, blocks = body.get("text") or "", body.get("blocks")
        with self._lock:
            entry.uses += 1
            if target is not None:
                edit = Edit(target.channel, target.ts, text, blocks, target.metadata, time.time(), "response_url")
                target.text, target.blocks = text, blocks
                target.edits.append(edit)
                self.updates.append(edit)
            elif body.get("response_type") == "in_channel":
                self._messages.append(Message(entry.channel, self._next_ts(), text, blocks,
                                              body.get("metadata"), body.get("thread_ts"),
                                              user=self.bot_user_id, params=dict(body)))
            else:
                msg = Message(entry.channel, self._next_ts(), text, blocks, user=entry.user,
                              ephemeral=True, params=dict(body))
                self._messages.append(msg)
                entry.last_ephemeral = msg
