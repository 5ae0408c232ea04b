"""The HTTP server as an attacker meets it: `bot.py run` processes on real sockets, the local Slack and Feishu
servers; forged Socket Mode requests, idle and slow-drip connections, bad lengths, malformed requests, /healthz."""

from __future__ import annotations

import json
import os
import resource
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from tests.conftest import ROOT
from tests.gitrepo import GitRepo
from tests.servers.feishu import FeishuServer
from tests.servers.slack import SlackServer, signed_headers, slash_command_body
from tests.test_slack import REPO, SECRET, day_of_commits, make_bot, post_signed, settings_env

STARTUP = 60.0


@dataclass
class Running:
    proc: subprocess.Popen
    url: str
    port: int
    log: Path

    def listening_on(self) -> set[str]:
        """The addresses listening on our port, as `ss -ltn` shows them."""
        return {c.laddr.ip for c in psutil.net_connections(kind="tcp")
                if c.status == psutil.CONN_LISTEN and c.laddr.port == self.port}

    def rss(self) -> int:
        return psutil.Process(self.proc.pid).memory_info().rss


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, timeout: float = 5) -> tuple[int, bytes, dict[str, str], float]:
    started = time.monotonic()
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, resp.read(), dict(resp.headers), time.monotonic() - started
    except urllib.error.HTTPError as err:
        return err.code, err.read(), dict(err.headers), time.monotonic() - started


@contextmanager
def bot_run(env: dict[str, str], tmp: Path) -> Iterator[Running]:
    """`bot.py run` in its own process on a free port, once it answers /healthz (healthy or not)."""
    port = free_port()
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("LLM_", "GITHUB_", "GIT_CLONES", "DIGEST_", "SLACK_", "FEISHU_", "HOST"))}
    log = tmp / f"bot-{port}.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, str(ROOT / "bot.py"), "run", "-v"], cwd=ROOT, stdout=out,
                                stderr=subprocess.STDOUT, env={**base, **env, "PORT": str(port)})
    running = Running(proc, f"http://127.0.0.1:{port}", port, log)
    try:
        deadline = time.monotonic() + STARTUP
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                get(running.url + "/healthz", timeout=2)
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.05)
        yield running
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def http_bot(tmp_path_factory) -> Iterator[tuple[Running, SlackServer]]:
    """HTTP mode, with a subscription of C1 to REPO (which /healthz must not show)."""
    tmp = tmp_path_factory.mktemp("web")
    repo = GitRepo(tmp / "upstream")
    day_of_commits(repo, 2)
    with SlackServer(channels=["C1"]) as slack:
        with bot_run(settings_env(tmp, slack, repo, DIGEST_REPOS=REPO), tmp) as running:
            assert healthz_until(running.url, 200)[0] == 200, running.log.read_text()
            yield running, slack


def healthz_until(url: str, status: int, timeout: float = 20) -> tuple[int, bytes]:
    """/healthz's answer once it has `status`, or its last answer after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        answer = get(url + "/healthz")
        if answer[0] == status or time.monotonic() > deadline:
            return answer[0], answer[1]
        time.sleep(0.1)


def raw(port: int, request: bytes, wait: float = 3.0) -> bytes:
    """What the server answers to `request`, sent as is, within `wait` seconds (b"" if nothing)."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as s:
        s.sendall(request)
        try:
            return s.recv(4096)
        except TimeoutError:
            return b""


def test_socket_mode_mounts_no_http_route_and_listens_on_loopback_only(tmp_path):
    repo = GitRepo(tmp_path / "upstream")
    day_of_commits(repo, 2)
    with SlackServer(channels=["C1"]) as slack:
        env = settings_env(tmp_path, slack, repo, SLACK_APP_TOKEN=slack.app_token)
        del env["SLACK_SIGNING_SECRET"]  # the README's no-public-URL set-up
        with bot_run(env, tmp_path) as bot:
            slack.socket.wait_connected(10)
            body = slash_command_body("/digest", "subscribe sgl-project/sglang", user_id="UEVIL",
                                      response_url=slack.response_url())
            for secret in ("socket-mode-unused", ""):  # the constant it used, and Bolt's empty default
                assert post_signed(bot.url + "/slack/events", body, secret=secret)[0] == 404
            assert bot.listening_on() == {"127.0.0.1"}
            assert get(bot.url + "/healthz")[0] == 200
        assert "subscribed" not in json.dumps([r.body for r in slack.responses])


def test_http_mode_listens_on_every_interface_and_host_can_say_otherwise(http_bot, tmp_path):
    bot, slack = http_bot
    assert bot.listening_on() == {"0.0.0.0"}
    repo = GitRepo(tmp_path / "upstream")
    with bot_run(settings_env(tmp_path, slack, repo, HOST="127.0.0.1"), tmp_path) as local:
        assert local.listening_on() == {"127.0.0.1"}


def test_healthz_says_only_whether_the_bot_is_healthy(http_bot):
    bot, _ = http_bot
    status, body, headers, _ = get(bot.url + "/healthz")
    assert status == 200 and json.loads(body) == {"ok": True}
    assert b"C1" not in body and REPO.encode() not in body
    assert headers.get("Server") == "commit-radar"  # no server name and version to look vulnerabilities up by


def test_healthz_is_503_while_the_database_cannot_be_written(http_bot):
    bot, _ = http_bot
    db_path = next(Path(p.path) for p in psutil.Process(bot.proc.pid).open_files() if p.path.endswith("bot.db"))
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        status, body, _, took = get(bot.url + "/healthz")
        assert status == 503 and took < 3
        problems = json.loads(body)["problems"]
        assert len(problems) == 1 and "database cannot be written: database is locked" in problems[0]
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert get(bot.url + "/healthz")[0] == 200


def answers_at_once(bot, slack) -> None:
    """/healthz and a signed command, three times each, every answer within a second."""
    for _ in range(3):
        status, _, _, took = get(bot.url + "/healthz", timeout=10)
        assert status == 200 and took < 1.0, took
        body = slash_command_body("/digest", "help", response_url=slack.response_url())
        status, _, took = post_signed(bot.url + "/slack/events", body)
        assert status == 200 and took < 1.0, took


def test_idle_and_slow_drip_clients_do_not_delay_healthz_or_a_command(http_bot):
    bot, slack = http_bot
    idle = [socket.create_connection(("127.0.0.1", bot.port)) for _ in range(60)]
    drip = [socket.create_connection(("127.0.0.1", bot.port)) for _ in range(10)]
    stop = threading.Event()

    def dribble() -> None:  # 1 byte a second on each: a request that never ends
        request = b"POST /slack/events HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 1000
        for byte in request:
            for s in drip:
                s.send(bytes([byte]))
            if stop.wait(1.0):
                return

    dripping = threading.Thread(target=dribble, daemon=True)
    dripping.start()
    try:
        time.sleep(1.5)
        answers_at_once(bot, slack)
    finally:
        stop.set()
        dripping.join()
        for s in idle + drip:
            s.close()


def test_a_full_connection_table_still_answers_healthz_and_a_command_at_once(http_bot):
    """1,100 connections held open (a few idle, most dripping a request): before, past the 1,000 connections the
    server keeps, new ones waited in the listen backlog until the idle ones timed out, and Slack's 3 s ack failed."""
    bot, slack = http_bot
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(soft, 4096), hard), hard))
    held: list[socket.socket] = []
    try:
        for i in range(1100):
            held.append(socket.create_connection(("127.0.0.1", bot.port), timeout=5))
            if i % 10:  # a request begun and never finished, kept alive by a byte now and then
                held[-1].send(b"POST /slack/events HTTP/1.1\r\nHost: x\r\n")
        time.sleep(0.5)
        answers_at_once(bot, slack)
    finally:
        for s in held:
            s.close()
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_a_full_connection_table_leaves_file_descriptors_for_the_work_under_a_1024_limit(tmp_path):
    """Under the common `ulimit -n` of 1024, 1,000 held connections left the bot 14 descriptors for its SQLite
    connections (one or more per worker thread), git's pipes and its outgoing HTTP."""
    repo = GitRepo(tmp_path / "upstream")
    day_of_commits(repo, 2)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    held: list[socket.socket] = []
    with SlackServer(channels=["C1"]) as slack:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard))  # what `bot.py run` inherits
        try:
            with bot_run(settings_env(tmp_path, slack, repo), tmp_path) as bot:
                resource.setrlimit(resource.RLIMIT_NOFILE, (min(max(soft, 4096), hard), hard))
                for _ in range(1100):
                    held.append(socket.create_connection(("127.0.0.1", bot.port), timeout=5))
                time.sleep(1.0)
                assert psutil.Process(bot.proc.pid).num_fds() <= 1024 - 200
                assert get(bot.url + "/healthz")[0] == 200
        finally:
            for s in held:
                s.close()
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_negative_missing_and_oversized_lengths_are_refused_at_once(http_bot):
    bot, _ = http_bot
    head = b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    before = bot.rss()
    with socket.create_connection(("127.0.0.1", bot.port), timeout=3) as s:
        s.sendall(head + b"Content-Length: -1\r\n\r\n")
        sent = 0
        try:  # 64 MiB follow: a server that reads to EOF would hold them all
            chunk = b"x" * (1 << 16)
            s.settimeout(0.5)
            while sent < 64 << 20:
                sent += s.send(chunk)
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass
        s.settimeout(3)
        try:
            answer = s.recv(4096)
        except ConnectionResetError:  # refused and closed while our bytes were still arriving
            answer = b"reset"
    assert answer.startswith(b"HTTP/1.1 400") or answer == b"reset", answer
    assert sent < 32 << 20  # refused long before the 64 MiB were taken in
    assert bot.rss() - before < 16 << 20
    assert raw(bot.port, head + b"\r\n").startswith(b"HTTP/1.1 411")  # no length at all
    assert raw(bot.port, head + b"Content-Length: 2097152\r\n\r\n").startswith(b"HTTP/1.1 413")  # no body sent
    chunked = head + b"Transfer-Encoding: chunked\r\n\r\n" + (b"10000\r\n" + b"x" * 0x10000 + b"\r\n") * 17
    assert raw(bot.port, chunked).startswith(b"HTTP/1.1 413")
    assert get(bot.url + "/healthz")[0] == 200


def test_malformed_slack_requests_get_a_fixed_answer_and_one_warning_a_minute(http_bot):
    bot, slack = http_bot
    url = bot.url + "/slack/events"
    body = slash_command_body("/digest", "help", response_url=slack.response_url())

    def post(data: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        req = urllib.request.Request(url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    bad_stamp = {**signed_headers(SECRET, body), "X-Slack-Request-Timestamp": "abc"}
    answers = {post(body, bad_stamp) for _ in range(20)}
    assert answers == {(400, b"Slack request without a valid X-Slack-Request-Timestamp\n")}
    as_json = json.dumps({"type": "event_callback", "token": "x"}).encode()
    assert post(as_json, {"Content-Type": "application/json"})[0] == 401
    assert post(as_json, {**signed_headers(SECRET, as_json), "Content-Type": "application/json"})[0] == 400
    assert post(b"{", {**signed_headers(SECRET, b"{"), "Content-Type": "application/json"})[0] == 400
    garbled = b"payload=%7B"
    assert post(garbled, signed_headers(SECRET, garbled))[0] == 400
    time.sleep(0.2)
    log = bot.log.read_text()
    assert "Traceback" not in log and " ERROR " not in log and "ERROR:" not in log
    assert sum("X-Slack-Request-Timestamp" in line for line in log.splitlines()) == 1  # 20 refused, one line


def test_healthz_is_503_once_the_scheduler_has_stopped(tmp_path):
    repo = GitRepo(tmp_path / "upstream")
    with SlackServer(channels=["C1"]) as slack:
        bot = make_bot(settings_env(tmp_path, slack, repo))
        server = bot.start()
        try:
            url = f"http://127.0.0.1:{server.port}/healthz"
            assert get(url)[0] == 200
            bot.schedule.shutdown()
            status, body, _, _ = get(url)
            assert status == 503 and json.loads(body) == {
                "ok": False, "problems": ["the scheduler is not running: no daily post will be made"]}
        finally:
            bot.stop()


def test_healthz_is_503_when_the_feishu_long_connection_failed(tmp_path):
    with FeishuServer(app_id="cli_health", app_secret="the-right-secret", chats=["oc_1"]) as feishu:
        env = {"DATABASE_PATH": str(tmp_path / "bot.db"), "FEISHU_APP_ID": "cli_health",
               "FEISHU_APP_SECRET": "a-wrong-secret", "FEISHU_BASE_URL": feishu.url, "FEISHU_EVENT_MODE": "ws"}
        with bot_run(env, tmp_path) as bot:
            status, body = healthz_until(bot.url, 503)
            assert status == 503
            assert "the Feishu long connection failed" in json.loads(body)["problems"][0]
            assert "a-wrong-secret" not in body.decode()
            assert bot.listening_on() == {"127.0.0.1"}  # the long connection dials out: nothing to serve outside


def test_a_route_that_raises_answers_500_with_a_fixed_text_logged_once(caplog):
    from handlers.web import Health, Response, Server

    def broken(body: bytes, headers: dict[str, str], query: str) -> Response:
        raise KeyError(f"secret-{body.decode()}")

    def failing_health() -> Health:
        raise sqlite3.OperationalError("disk I/O error")

    server = Server(0, {"/hook": broken}, failing_health)
    server.start()
    try:
        url = f"http://127.0.0.1:{server.port}"
        answers = set()
        for i in range(10):
            req = urllib.request.Request(url + "/hook", data=f"{i}".encode(), method="POST")
            try:
                urllib.request.urlopen(req, timeout=5)
            except urllib.error.HTTPError as err:
                answers.add((err.code, err.read()))
        assert answers == {(500, b"internal error\n")}  # the exception's text never reaches the client
        status, body, _, _ = get(url + "/healthz")
        assert status == 503 and json.loads(body)["problems"] == ["the health check failed (OperationalError)"]
        assert get(url + "/nowhere")[0] == 404 and get(url + "/hook")[0] == 405
    finally:
        server.stop()
    logged = [r for r in caplog.records if r.name == "handlers.web" and "/hook failed" in r.getMessage()]
    assert len(logged) == 1 and logged[0].exc_info is not None  # the traceback once, for the operator
