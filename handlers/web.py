"""One HTTP server for /slack/events, /feishu/events and /healthz: a pool of threads each blocked in accept(), so a
burst of commands is accepted and acknowledged in parallel (Bolt's `app.start()` serves one request at a time)."""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, HTTPServer

log = logging.getLogger(__name__)

MAX_BODY = 1 << 20  # Slack and Feishu send a few KB; anything larger is not from them
ACCEPTORS = 32  # connections handled at once; a request takes a few ms, the work runs later on other pools
CLIENT_TIMEOUT = 10  # seconds a connection may take to send its request


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()


Route = Callable[[bytes, dict[str, str], str], Response]  # (body, headers lower-cased, query) -> response


class _Pooled(HTTPServer):
    """Every acceptor thread waits in accept() itself. One accept loop that starts a thread per connection (the
    standard ThreadingHTTPServer) took 0.3 to 0.7 s to take in a burst of 50 commands while the bot was busy: each
    accept and thread start waited its turn for the GIL, one after another."""

    request_queue_size = 128  # the default 5 makes a burst of commands wait in SYN retries (1 s, 3 s)

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], acceptors: int) -> None:
        super().__init__(address, handler)
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._accept, name=f"http-{i}", daemon=True) for i in range(acceptors)]

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, address = self.socket.accept()
            except OSError:  # the listening socket was shut down (stopping), or out of file descriptors
                self.stopping.wait(0.01)
                continue
            try:
                conn.settimeout(CLIENT_TIMEOUT)
                self.finish_request(conn, address)
            except Exception:  # one broken connection must not end this acceptor
                log.warning("HTTP connection from %s failed", address[0], exc_info=True)
            finally:
                self.shutdown_request(conn)

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.stopping.set()
        try:
            self.socket.shutdown(socket.SHUT_RDWR)  # wakes every thread blocked in accept()
        except OSError:
            pass
        for thread in self.threads:
            thread.join(timeout=CLIENT_TIMEOUT + 1)
        self.server_close()


class Server:
    def __init__(self, port: int, routes: dict[str, Route], health: Callable[[], dict],
                 host: str = "0.0.0.0", acceptors: int = ACCEPTORS) -> None:
        self.routes = routes
        self.health = health
        self.httpd = _Pooled((host, port), self._handler(), acceptors)

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def start(self) -> None:
        self.httpd.start()

    def stop(self) -> None:
        self.httpd.stop()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # one request per connection: an idle keep-alive would hold an acceptor
            disable_nagle_algorithm = True  # the body is not held back for the caller's delayed ACK (~40 ms)

            def log_message(self, fmt: str, *args: object) -> None:  # request lines can carry tokens: not logged
                pass

            def _answer(self, resp: Response) -> None:
                self.send_response(resp.status)
                for name, value in resp.headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(resp.body)))
                self.end_headers()
                self.wfile.write(resp.body)

            def do_GET(self) -> None:  # noqa: N802
                if self.path.split("?")[0] == "/healthz":
                    body = json.dumps(server.health(), default=str).encode()
                    self._answer(Response(200, body, (("Content-Type", "application/json"),)))
                else:
                    self._answer(Response(404, b"not found"))

            def do_POST(self) -> None:  # noqa: N802
                path, _, query = self.path.partition("?")
                route = server.routes.get(path)
                length = int(self.headers.get("Content-Length") or 0)
                if route is None or length > MAX_BODY:
                    self._answer(Response(404 if route is None else 413, b""))
                    return
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    resp = route(body, headers, query)
                except Exception:
                    log.exception("%s failed", path)
                    resp = Response(500, b"")
                self._answer(resp)

        return Handler
