"""The Feishu Open API through lark-oapi: our own tenant token, retries that know Feishu's codes, and the pacing of
sends (Gate)."""

from __future__ import annotations

import functools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import requests

if TYPE_CHECKING:  # lark-oapi takes seconds to import: only the app bot loads it, a webhook never does
    from lark_oapi.core.model import BaseResponse, RequestOption

TOKEN_PATH = "/open-apis/auth/v3/tenant_access_token/internal"
TOKEN_REFRESH_LEFT = 1800  # seconds: Feishu hands out a new token once under 30 minutes are left
TOKEN_INVALID = {99991661, 99991663, 99991668}  # missing, invalid, expired
RATE_LIMITED = {99991400, 11232, 11233, 230020}
HOLD_SECONDS = 5  # Feishu's advice: do not send at exactly :00 or :30
TIMEOUT = 15


class FeishuError(Exception):
    def __init__(self, code: int, message: str, status: int = 0) -> None:
        super().__init__(f"Feishu error {code}: {message}" if code else message)
        self.code = code
        self.status = status


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


def backoff(attempt: int, reset: str | None = None) -> float:
    """Seconds before the next attempt: Feishu's x-ogw-ratelimit-reset when it sent one, else doubling to 30."""
    try:
        return min(max(float(reset), 0.5), 60.0) if reset else min(2.0 ** attempt, 30.0)
    except ValueError:
        return min(2.0 ** attempt, 30.0)


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
                self.sleep(backoff(attempt))
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
                self.sleep(backoff(attempt, reset))
                continue
            if status >= 500:
                last = f"{what}: Feishu answered HTTP {status} ({code})"
                self.sleep(backoff(attempt))
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
