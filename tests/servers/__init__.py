"""Local servers that behave like GitHub's REST API, an OpenAI-compatible endpoint and Slack, for the tests."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def serve(httpd: ThreadingHTTPServer, name: str) -> tuple[str, threading.Thread]:
    """Serve `httpd` from a daemon thread; its base URL and the thread."""
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{httpd.server_address[1]}", thread


class TrackedHandler(BaseHTTPRequestHandler):
    """A quiet handler whose connections the server tracks (`server.owner._track`), so stop() can close them."""

    server: Any
    disable_nagle_algorithm = True  # headers and body go in two writes: without TCP_NODELAY the body waits for
    # the client's delayed ACK (about 40 ms a request), which real servers do not add

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        self.server.owner._track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:  # the client hung up first, often on purpose
            pass
        self.server.owner._track(self.connection, False)
