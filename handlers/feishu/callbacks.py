"""Feishu's HTTP callbacks at /feishu/events: signature, age, decryption and verification token checked before
anything runs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from handlers.feishu import lark_internals
from handlers.warnings import RateLimitedWarnings
from handlers.web import Response, Route

if TYPE_CHECKING:
    import lark_oapi as lark

log = logging.getLogger(__name__)

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
            result = lark_internals.dispatch(handler, callback.plain)
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
