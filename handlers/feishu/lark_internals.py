"""Every use of lark-oapi's private parts, in one place, and the check at start of the version they were read in.

The parts: EventDispatcherHandler._do_without_validation (both event paths hand it a callback already verified);
for the long connection, lark_oapi.ws.client's module-level `loop` (taken at import: #96, #119) and ws.Client's
_handle_data_frame, _combine, _write_message, _event_handler and _conn (card clicks come as frames of type "card",
which lark-oapi 1.7.5 drops unanswered: #126). A lark-oapi other than TESTED still runs, with one warning line; one
that lacks a part refuses to start the Feishu events, which would otherwise be lost without a word.
"""

from __future__ import annotations

import asyncio
import base64
import importlib
import logging
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from core.errors import BadInput

log = logging.getLogger(__name__)

TESTED = "1.7.5"  # the pin in requirements.txt (a test keeps them equal): the version these parts were read in
DISPATCH = ("EventDispatcherHandler._do_without_validation",)
LONG_CONNECTION = ("ws.client.loop", "ws.Client._handle_data_frame", "ws.Client._combine", "ws.Client._write_message",
                   "ws.Client._event_handler", "ws.Client._conn")


@dataclass(frozen=True)
class Verdict:
    """The installed lark-oapi (None: not installed) and the private parts it lacks."""

    installed: str | None
    missing: tuple[str, ...] = ()

    @property
    def tested(self) -> bool:
        return self.installed == TESTED and not self.missing

    @property
    def refuses(self) -> bool:
        return self.installed is None or bool(self.missing)

    @property
    def problem(self) -> str | None:
        if self.installed is None:
            return "lark-oapi is not installed"
        if self.missing:
            return f"lark-oapi {self.installed} lacks {', '.join(self.missing)}, which the Feishu events use"
        if self.installed != TESTED:
            return f"lark-oapi {self.installed} is installed, but the Feishu events were tested with {TESTED}"
        return None

    @property
    def fix(self) -> str:
        pin = f"pip install lark-oapi=={TESTED} (as requirements.txt pins it)"
        if self.refuses:
            return pin
        return (f"{pin}, or re-check the private parts handlers/feishu/lark_internals.py uses "
                f"({', '.join(DISPATCH + LONG_CONNECTION)}) against {self.installed} and set TESTED there")

    @property
    def line(self) -> str | None:
        """What to log or print: the problem and what to do, in one line; None for the tested version."""
        return f"{self.problem}: {self.fix}" if self.problem else None


def installed_version() -> str | None:
    """Read from the installed distribution's metadata, without importing lark-oapi (that takes seconds)."""
    try:
        return metadata.version("lark-oapi")
    except metadata.PackageNotFoundError:
        return None


def missing_parts(handler_class: type, ws_client: Any = None) -> tuple[str, ...]:
    """The private parts absent from this EventDispatcherHandler class and lark_oapi.ws.client module (None: the
    long connection is not used). Instance attributes are looked for among the names Client.__init__ uses."""
    found = {DISPATCH[0]: callable(getattr(handler_class, "_do_without_validation", None))}
    if ws_client is not None:
        client = getattr(ws_client, "Client", None)
        init = getattr(getattr(client, "__init__", None), "__code__", None)
        names = init.co_names if init is not None else ()
        found.update({
            "ws.client.loop": hasattr(ws_client, "loop"),
            "ws.Client._handle_data_frame": callable(getattr(client, "_handle_data_frame", None)),
            "ws.Client._combine": callable(getattr(client, "_combine", None)),
            "ws.Client._write_message": callable(getattr(client, "_write_message", None)),
            "ws.Client._event_handler": "_event_handler" in names,
            "ws.Client._conn": "_conn" in names,
        })
    return tuple(name for name, present in found.items() if not present)


def check_at_start(long_connection: bool) -> None:
    """The installed lark-oapi checked before the Feishu events start: BadInput when it lacks a part (or is not
    installed), one warning line when it is another version than TESTED."""
    try:
        import lark_oapi as lark

        ws_client = importlib.import_module("lark_oapi.ws.client") if long_connection else None
    except ImportError:
        raise BadInput(Verdict(None).line or "") from None
    verdict = Verdict(installed_version(), missing_parts(lark.EventDispatcherHandler, ws_client))
    if verdict.refuses:
        raise BadInput(verdict.line or "")
    if verdict.line:
        log.warning("%s", verdict.line)


# -- the private parts ------------------------------------------------------------------------------------------


def dispatch(handler: Any, payload: bytes) -> Any:
    """An event or card callback to the dispatcher's processors, without lark's own checks: ours ran already (the
    HTTP callback) or the connection is authenticated (the long connection)."""
    return handler._do_without_validation(payload)


def use_loop(loop: asyncio.AbstractEventLoop) -> None:
    """lark_oapi.ws.client runs on a loop it took at import: give it the connection thread's own."""
    import lark_oapi.ws.client as ws_client

    ws_client.loop = loop


async def close_socket(client: Any) -> None:
    """The SDK has no stop(): its WebSocket closed, so that nothing is left pending when the loop closes."""
    if client._conn is not None:
        await client._conn.close()


def _frame_header(frame: Any, key: str) -> str | None:
    return next((h.value for h in frame.headers if h.key == key), None)


def card_aware_client() -> type:
    """lark.ws.Client that hands card frames to the same dispatcher and answers them like events (#126)."""
    import lark_oapi as lark
    import lark_oapi.ws.client as ws_client
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
                result = dispatch(self._event_handler, payload)
                if result is not None:
                    resp.data = base64.b64encode(lark.JSON.marshal(result).encode("utf-8"))
            except Exception:  # the dispatcher raised: answer 500 like lark does for events
                log.exception("Feishu card callback failed")
                resp = WsResponse(code=500)
            frame.payload = lark.JSON.marshal(resp).encode("utf-8")
            await self._write_message(frame.SerializeToString())

    return CardAwareClient
