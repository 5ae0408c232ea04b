"""One threaded HTTP server for /slack/events, /feishu/events and /healthz: each request on its own thread, so a
burst of commands is acknowledged in parallel (Bolt's `app.start()` serves one request at a time)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

log = logging.getLogger(__name__)

MAX_BODY = 1 << 20  # Slack and Feishu send a few KB; anything larger is not from them


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()


Route = Callable[[bytes, dict[str, str], str], Response]  # (body, headers lower-cased, query) -> response


class _Threading(ThreadingHTTPServer):
    request_queue_size = 128  # the default 5 makes a burst of commands wait in SYN retries (1 s, 3 s)
    daemon_threads = True


class Server:
    def __init__(self, port: int, routes: dict[str, Route], health: Callable[[], dict],
                 host: str = "0.0.0.0") -> None:
        self.routes = routes
        self.health = health
        handler = self._handler()
        self.httpd = _Threading((host, port), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="http", daemon=True)

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

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
