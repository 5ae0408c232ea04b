"""The HTTP server under hostile clients: 200 idle and 50 slow-drip connections held open against `bot.py run`.

The bot runs as its own process (`bot.py run`, Slack HTTP mode, on a free loopback port) against the local Slack
server. While the connections are held (an idle one the server closes is opened again at once; a drip one sends one
byte of a never-ending header every few seconds), it measures /healthz and a signed slash command one at a time,
spread over 30 s so that the server closes idle connections and they are opened again (target < 1 s); the time to
refuse a negative, missing and oversized Content-Length and a chunked body past 1 MiB (with 64 MiB streamed behind
the negative one, and the bot's memory before and after); and the ack latency of a burst of 50 signed commands
(target p99 < 300 ms). Loopback only; bounded in connections and time. Prints figures from one run (the machine is
shared and noisy).

    .venv/bin/python bench/http_slow.py [--idle 200] [--drip 50] [--every 3] [--probes 20] [--hold 30]
                                 [--commands 50]
"""

from __future__ import annotations

import argparse
import select
import socket
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.slack_ack import bot_process  # noqa: E402
from tests.gitrepo import GitRepo  # noqa: E402
from tests.servers.slack import SlackServer, slash_command_body  # noqa: E402
from tests.test_slack import DAY, REPO, commits_of_day, post_signed, settings_env  # noqa: E402

HEAD = b"POST /slack/events HTTP/1.1\r\nHost: bench\r\nContent-Type: application/x-www-form-urlencoded\r\n"
STREAMED = 64 << 20  # bytes sent behind `Content-Length: -1`


class Holders:
    """`idle` connections that send nothing and `drip` ones that send one header byte every `every` seconds,
    kept open: one the server closes is opened again (as a scanner or a slow client would)."""

    def __init__(self, port: int, idle: int, drip: int, every: float) -> None:
        self.port, self.every = port, every
        self.idle = [self._open() for _ in range(idle)]
        self.drip = [self._open() for _ in range(drip)]
        for s in self.drip:
            s.sendall(b"POST /slack/events HTTP/1.1\r\nHost: bench\r\nX-Slow: ")
        self.reopened = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._hold, daemon=True)
        self.thread.start()

    def _open(self) -> socket.socket:
        s = socket.create_connection(("127.0.0.1", self.port))
        s.setblocking(False)
        return s

    def _closed(self, s: socket.socket) -> bool:
        try:
            return s.recv(4096) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True

    def _hold(self) -> None:
        while not self.stopping.wait(self.every):
            for pool in (self.idle, self.drip):
                for i, s in enumerate(pool):
                    if self._closed(s):
                        s.close()
                        pool[i] = self._open()
                        self.reopened += 1
            for s in self.drip:
                try:
                    s.send(b"a")
                except OSError:
                    pass  # closed by the server: opened again on the next round

    def close(self) -> None:
        self.stopping.set()
        self.thread.join()
        for s in self.idle + self.drip:
            s.close()


def timed_get(url: str) -> float:
    import urllib.request

    started = time.monotonic()
    with urllib.request.urlopen(url, timeout=30) as resp:
        resp.read()
        assert resp.status == 200, resp.status
    return time.monotonic() - started


def refusal(port: int, request: bytes, stream: int = 0) -> tuple[str, float]:
    """The status line answered to `request`, followed by up to `stream` bytes of body sent for as long as no
    answer has come, and the seconds until the answer came."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        started = time.monotonic()
        s.sendall(request)
        chunk, sent = b"x" * (1 << 16), 0
        while sent < stream and not select.select([s], [], [], 0)[0]:
            try:
                sent += s.send(chunk)
            except OSError:
                break  # closed by the server: its answer, if any, is waiting
        try:
            line = s.recv(4096).split(b"\r\n")[0].decode()
        except ConnectionResetError:
            line = "connection reset"
        took = time.monotonic() - started
        return f"{line!r} after {sent / (1 << 20):.1f} MiB sent" if stream else repr(line), took


def listener_pid(port: int) -> int:
    return next(c.pid for c in psutil.net_connections(kind="tcp")
                if c.status == psutil.CONN_LISTEN and c.laddr.port == port and c.pid)


def command(slack: SlackServer, base: str, text: str, user: str) -> float:
    body = slash_command_body("/digest", text, user_id=user, response_url=slack.response_url("C1", user))
    status, _, took = post_signed(base + "/slack/events", body)
    assert status == 200, status
    return took


def ms(values: list[float]) -> str:
    ordered = sorted(values)
    return (f"p50 {statistics.median(ordered) * 1000:.0f} ms, p99 "
            f"{ordered[round(0.99 * (len(ordered) - 1))] * 1000:.0f} ms, max {ordered[-1] * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--idle", type=int, default=200)
    parser.add_argument("--drip", type=int, default=50)
    parser.add_argument("--every", type=float, default=3.0, help="seconds between two bytes of a drip connection")
    parser.add_argument("--probes", type=int, default=20)
    parser.add_argument("--hold", type=float, default=30.0, help="seconds the probes are spread over")
    parser.add_argument("--commands", type=int, default=50)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-http-"))
    repo = GitRepo(tmp / "upstream")
    repo.bulk(commits_of_day(6, DAY))
    with SlackServer(channels=["C1"]) as slack, bot_process(settings_env(tmp, slack, repo), tmp) as base:
        port = int(base.rsplit(":", 1)[1])
        bot = psutil.Process(listener_pid(port))
        command(slack, base, f"{DAY} {REPO}", "UWARM")  # builds and stores the day: later ones read it
        holders = Holders(port, args.idle, args.drip, args.every)
        try:
            time.sleep(2 * args.every)  # a few drip rounds before measuring
            held = len([c for c in bot.net_connections(kind="tcp") if c.laddr.port == port and c.raddr])
            health, signed = [], []
            for i in range(args.probes):  # spread over --hold: idle ones are closed by the server and reopened
                health.append(timed_get(base + "/healthz"))
                signed.append(command(slack, base, f"{DAY} {REPO}", f"UPROBE{i}"))
                time.sleep(args.hold / args.probes)
            before = bot.memory_info().rss
            lengths = [
                ("Content-Length: -1, 64 MiB behind", refusal(port, HEAD + b"Content-Length: -1\r\n\r\n", STREAMED)),
                ("no Content-Length", refusal(port, HEAD + b"\r\n")),
                ("Content-Length: 2 MiB (not sent)", refusal(port, HEAD + b"Content-Length: 2097152\r\n\r\n")),
                ("chunked, 1.06 MiB", refusal(port, HEAD + b"Transfer-Encoding: chunked\r\n\r\n"
                                              + (b"10000\r\n" + b"x" * 0x10000 + b"\r\n") * 17)),
            ]
            grown = bot.memory_info().rss - before
            go = threading.Barrier(args.commands)

            def one(i: int) -> float:
                go.wait()  # all at once: a burst, not a ramp
                return command(slack, base, f"{DAY} {REPO}" if i % 2 else "help", f"U{i}")

            with ThreadPoolExecutor(max_workers=args.commands) as pool:
                acks = list(pool.map(one, range(args.commands)))
        finally:
            holders.close()
    print(f"held open                            : {args.idle} idle + {args.drip} drip (1 byte / {args.every:g} s); "
          f"{held} open at the bot, {holders.reopened} opened again after it closed them")
    print(f"/healthz, one at a time              : {ms(health)}  (target < 1 s)")
    print(f"signed /digest, one at a time        : {ms(signed)}  (target < 1 s)")
    for what, (line, took) in lengths:
        print(f"{what:<37}: {line} in {took * 1000:.0f} ms")
    print(f"bot memory across the four refusals  : {grown / (1 << 20):+.1f} MiB")
    print(f"ack of {args.commands} signed commands at once   : {ms(acks)}  (target p99 < 300 ms)")


if __name__ == "__main__":
    main()
