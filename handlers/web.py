"""One HTTP server for /slack/events, /feishu/events and /healthz: waitress, serving a small WSGI app.

waitress reads every request on one asynchronous loop and hands a worker thread only a complete request, so idle
or slow-drip clients hold a file descriptor, never a worker; it bounds headers and bodies, and refuses a negative
or oversized Content-Length before reading a byte of body. A route is a plain function (body, headers, query) ->
Response, so Bolt's and lark-oapi's request objects stay in their handlers."""

from __future__ import annotations

import json
import logging
import resource
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.server import TcpWSGIServer

from handlers.warnings import Throttle, left_out

log = logging.getLogger(__name__)

MAX_BODY = 1 << 20  # Slack and Feishu send a few KB; anything larger is not from them
MAX_HEADERS = 32 << 10  # their headers are under 2 KB; waitress allows 256 KB by default
THREADS = 16  # workers that run a complete request; a route takes a few ms (the work runs later on other pools)
CONNECTION_LIMIT = 1000  # open connections (file descriptors); past it the idlest one is closed for a new one
RESERVED_FILES = 256  # descriptors left under `ulimit -n` for SQLite connections, git's pipes and outgoing HTTP
CHANNEL_TIMEOUT = 15  # seconds an idle connection (nothing received, no request in progress) is kept open
ACCEPT_BATCH = 64  # connections taken in at most per turn of the loop
LOG_EVERY = 60.0  # seconds: at most one log line per cause of a refused or failed request in that time
TEXT = (("Content-Type", "text/plain; charset=utf-8"),)


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()


Route = Callable[[bytes, dict[str, str], str], Response]  # (body, headers lower-cased, query) -> response


@dataclass(frozen=True)
class Health:
    """What /healthz says: healthy, or the reasons it is not (never names a channel or a repository)."""

    problems: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems


class ThrottledRecords(logging.Filter):
    """A log filter: one record per message template per minute (waitress logs a line per queued task)."""

    def __init__(self, throttle: Throttle) -> None:
        super().__init__()
        self.throttle = throttle

    def filter(self, record: logging.LogRecord) -> bool:
        return self.throttle.allow(f"{record.name}:{record.msg}") is not None


_refusals = Throttle(LOG_EVERY)
_quiet = ThrottledRecords(Throttle(LOG_EVERY))


def refuse(status: int, reason: str) -> Response:
    """A fixed answer to a bad request; logged as one WARNING line per reason at most once a minute, so a flood
    cannot fill the log."""
    if (held := _refusals.allow(reason)) is not None:
        log.warning("refused an HTTP request (%d): %s%s", status, reason, left_out(held))
    return Response(status, f"{reason}\n".encode(), TEXT)


def _failed(path: str, err: Exception) -> Response:
    """A route raised: 500 with a fixed text; the traceback goes to the log once per cause a minute."""
    where = traceback.extract_tb(err.__traceback__)[-1] if err.__traceback__ else None
    cause = f"{path}:{type(err).__name__}:{where.filename}:{where.lineno}" if where else f"{path}:{type(err).__name__}"
    if (held := _refusals.allow(cause)) is not None:
        log.error("%s failed%s", path, left_out(held), exc_info=err)
    return Response(500, b"internal error\n", TEXT)


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    found = {key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")}
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            found[key.replace("_", "-").lower()] = environ[key]
    return found


def wsgi_app(routes: dict[str, Route], health: Callable[[], Health]) -> Callable[..., Iterable[bytes]]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        resp = _answer(environ)
        reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
                  411: "Length Required", 413: "Content Too Large", 500: "Internal Server Error",
                  503: "Service Unavailable"}.get(resp.status, "")
        start_response(f"{resp.status} {reason}".rstrip(), [*resp.headers, ("Content-Length", str(len(resp.body)))])
        return [resp.body]

    def _answer(environ: dict[str, Any]) -> Response:
        path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD", "")
        if path == "/healthz" and method in ("GET", "HEAD"):
            try:
                state = health()
            except Exception as err:  # a check that fails is itself a reason to be unhealthy
                _failed(path, err)
                state = Health((f"the health check failed ({type(err).__name__})",))
            body = {"ok": True} if state.ok else {"ok": False, "problems": list(state.problems)}
            return Response(200 if state.ok else 503, json.dumps(body, ensure_ascii=False).encode(),
                            (("Content-Type", "application/json; charset=utf-8"),))
        route = routes.get(path)
        if route is None:
            return Response(404, b"not found\n", TEXT)
        if method != "POST":
            return Response(405, b"use POST\n", (*TEXT, ("Allow", "POST")))
        length = environ.get("CONTENT_LENGTH")  # waitress sets it for a chunked body too, once it has read it
        if not length:
            return refuse(411, "a POST needs a Content-Length")
        body = environ["wsgi.input"].read(int(length))  # already in waitress' buffer, at most MAX_BODY
        try:
            return route(body, _headers(environ), environ.get("QUERY_STRING", ""))
        except Exception as err:
            return _failed(path, err)

    return app


def connection_limit() -> int:
    """CONNECTION_LIMIT, or fewer where `ulimit -n` would leave the bot's own work no descriptors."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return CONNECTION_LIMIT
    return max(16, min(CONNECTION_LIMIT, soft - RESERVED_FILES))


class _Listener(TcpWSGIServer):
    """waitress' server taking every waiting connection in one turn of its loop, not one per turn: under a burst
    each turn waits for the GIL (bench/slack_ack.py, 50 commands at once: ack p99 454-575 ms, then 144-694 ms
    on a loaded machine, like the old server's 189-681). At the connection limit it still accepts, closing the
    connection idle longest: waitress stops accepting there, so 1,000 sockets held open (a byte every few
    seconds defeats the idle timeout) kept /healthz and Slack's 3 s ack waiting in the listen backlog."""

    def readable(self) -> bool:
        now = time.time()
        if now >= self.next_channel_cleanup:  # waitress' own readable(): idle connections closed every few seconds
            self.next_channel_cleanup = now + self.adj.cleanup_interval
            self.maintenance(now)
        # at the limit, only while a connection can make room (else the loop would spin on a waiting one)
        return bool(self.accepting) and (len(self._map) < self.adj.connection_limit or any(self._idle()))

    def handle_accept(self) -> None:
        for _ in range(ACCEPT_BATCH):
            if len(self._map) >= self.adj.connection_limit and not self._close_idlest():
                return
            before = len(self._map)
            super().handle_accept()
            if len(self._map) == before:  # nothing was waiting
                return

    def _idle(self) -> Iterator[Any]:
        """Connections with no request being answered and nothing left to send."""
        return (c for c in self.active_channels.values() if not c.requests and not c.total_outbufs_len)

    def _close_idlest(self) -> bool:
        """Close the connection idle longest; False when every one is busy."""
        idlest = min(self._idle(), key=lambda c: c.last_activity, default=None)
        if idlest is None:
            return False
        idlest.handle_close()
        return True


class Server:
    """waitress on `host`:`port` (the first address `host` resolves to), its loop in a thread of its own; stop()
    closes it from that thread."""

    def __init__(self, port: int, routes: dict[str, Route], health: Callable[[], Health],
                 host: str = "127.0.0.1", threads: int = THREADS) -> None:
        for name in ("waitress", "waitress.queue"):
            logging.getLogger(name).addFilter(_quiet)  # the same filter object is added once
        adj = Adjustments(
            host=host, port=port, threads=threads, connection_limit=connection_limit(),
            channel_timeout=CHANNEL_TIMEOUT, cleanup_interval=5, max_request_body_size=MAX_BODY,
            max_request_header_size=MAX_HEADERS, ident="commit-radar", expose_tracebacks=False,
            asyncore_use_poll=True)  # select() cannot watch a descriptor numbered past 1023
        self.httpd = _Listener(wsgi_app(routes, health), adj=adj)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, name="http", daemon=True)

    @property
    def host(self) -> str:
        return str(self.httpd.effective_host)

    @property
    def port(self) -> int:
        return int(self.httpd.effective_port)

    def start(self) -> None:
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            wasyncore.loop(timeout=1.0, map=self.httpd._map, use_poll=True, count=1)
        self._close()

    def _close(self) -> None:
        self.httpd.task_dispatcher.shutdown(timeout=5)  # requests in progress finish; queued ones are dropped
        wasyncore.close_all(self.httpd._map, ignore_all=True)  # the listening socket and every connection

    def stop(self) -> None:
        self.stopping.set()
        if self.thread.is_alive():
            self.httpd.trigger.pull_trigger()  # wakes the loop at once
            self.thread.join(timeout=10)
        elif self.thread.ident is None:  # never started
            self._close()
