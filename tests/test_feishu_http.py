"""Feishu callbacks over HTTP against a real `bot.py run` process on a real port: only what Feishu signed and
encrypted runs; forgeries, replays and hostile URL checks get fixed answers and change nothing in the SQLite file."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.conftest import ROOT, sample_history
from tests.gitrepo import GitRepo
from tests.servers.feishu import FeishuServer, callback, message_event, signed_headers, url_verification

REPO = "sgl-project/sglang"
EK, VT = "encrypt-key-for-tests", "verification-token-for-tests"
ADMIN = "ou_admin"
UNSIGNED = "refused an unsigned Feishu callback"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bot_env(tmp_path: Path, feishu: FeishuServer, repo: GitRepo, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "GITHUB_", "GIT_CLONES", "DIGEST_",
                                                                     "SLACK_", "FEISHU_"))}
    return {**base, "DATABASE_PATH": str(tmp_path / "bot.db"), "GIT_CLONES": f"{REPO}={repo.path}",
            "FEISHU_APP_ID": feishu.app_id, "FEISHU_APP_SECRET": "app-secret", "FEISHU_BASE_URL": feishu.url,
            "FEISHU_ADMINS": ADMIN, "DIGEST_ALLOWED_REPOS": REPO, "PORT": str(free_port()), **extra}


@dataclass
class Running:
    proc: subprocess.Popen
    url: str
    db: Path
    log: Path

    def subscriptions(self) -> list[tuple[str, str, str]]:
        with sqlite3.connect(self.db) as conn:
            return conn.execute("SELECT platform, channel, repo FROM subscriptions ORDER BY channel").fetchall()

    def log_lines(self, text: str) -> list[str]:
        return [line for line in self.log.read_text("utf-8").splitlines() if text in line]


def start(env: dict[str, str], log: Path) -> Running:
    """`bot.py run -v` (WARNING lines shown), stderr into `log`; returned once /healthz answers."""
    with log.open("w") as err:
        proc = subprocess.Popen([sys.executable, str(ROOT / "bot.py"), "run", "-v"], env=env, cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=err, text=True)
    base = f"http://127.0.0.1:{env['PORT']}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"bot.py run exited {proc.returncode}: {log.read_text('utf-8')[-2000:]}")
        try:
            requests.get(base + "/healthz", timeout=1)
            return Running(proc, base + "/feishu/events", Path(env["DATABASE_PATH"]), log)
        except requests.ConnectionError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("bot.py run did not answer /healthz within 30 s")


def stop(running: Running) -> None:
    running.proc.terminate()
    try:
        running.proc.wait(10)
    except subprocess.TimeoutExpired:
        running.proc.kill()
        running.proc.wait(5)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[tuple[FeishuServer, Running]]:
    tmp = tmp_path_factory.mktemp("feishu_http")
    repo = GitRepo(tmp / "upstream")
    sample_history(repo)
    with FeishuServer(app_id=f"cli_{uuid.uuid4().hex[:12]}", app_secret="app-secret",
                      chats=["oc_real", "oc_forged", "oc_stale", "oc_plain"]) as feishu:
        running = start(bot_env(tmp, feishu, repo, FEISHU_EVENT_MODE="http", FEISHU_ENCRYPT_KEY=EK,
                                FEISHU_VERIFICATION_TOKEN=VT), tmp / "bot.log")
        try:
            yield feishu, running
        finally:
            stop(running)


def subscribe(feishu: FeishuServer, chat: str, user: str = ADMIN) -> dict:
    """An admin's `/digest subscribe` as Feishu delivers it (with the verification token a forger has seen)."""
    return feishu.incoming(message_event(f"@_user_1 /digest subscribe {REPO} at 09:00", chat, user, token=VT,
                                         app_id=feishu.app_id))


def answered(feishu: FeishuServer, event: dict) -> list:
    asked = event["event"]["message"]["message_id"]
    return [m for m in feishu.sent() if m.parent_id == asked]


# --------------------------------------------------------------------------- start


def test_http_mode_without_an_encrypt_key_refuses_to_start_and_says_what_to_set(tmp_path):
    repo = GitRepo(tmp_path / "upstream")
    sample_history(repo)
    with FeishuServer(app_id="cli_nokey", app_secret="app-secret", chats=["oc_1"]) as feishu:
        env = bot_env(tmp_path, feishu, repo, FEISHU_EVENT_MODE="http", FEISHU_VERIFICATION_TOKEN=VT)
        out = subprocess.run([sys.executable, str(ROOT / "bot.py"), "run"], env=env, cwd=ROOT, capture_output=True,
                             text=True, timeout=60)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: configuration: FEISHU_EVENT_MODE=http needs "
                                                   "FEISHU_ENCRYPT_KEY"), out.stderr
    assert VT not in out.stderr and "Traceback" not in out.stderr


def test_ws_mode_with_only_a_verification_token_mounts_no_forgeable_route(tmp_path):
    """The token alone used to open /feishu/events in ws mode too: a forged subscribe as an admin succeeded."""
    repo = GitRepo(tmp_path / "upstream")
    sample_history(repo)
    with FeishuServer(app_id="cli_ws", app_secret="app-secret", chats=["oc_forged"]) as feishu:
        running = start(bot_env(tmp_path, feishu, repo, FEISHU_EVENT_MODE="ws", FEISHU_VERIFICATION_TOKEN=VT),
                        tmp_path / "bot.log")
        try:
            forged = subscribe(feishu, "oc_forged")
            resp = requests.post(running.url, json=forged, timeout=5)
            assert resp.status_code == 404
            time.sleep(0.5)
            assert running.subscriptions() == [] and not answered(feishu, forged)
            assert not running.log_lines("lark-oapi")  # the pinned version: no word about it
        finally:
            stop(running)


# --------------------------------------------------------------------------- forgeries


def test_a_forged_unsigned_subscribe_as_an_admin_is_refused_and_changes_nothing(world):
    feishu, running = world
    forged = subscribe(feishu, "oc_forged")
    plain = json.dumps(forged).encode()
    attempts = [
        requests.post(running.url, data=plain, timeout=5),  # what the token-only set-up accepted
        requests.post(running.url, data=plain, timeout=5, headers={  # headers made up without the key
            "X-Lark-Request-Timestamp": str(int(time.time())), "X-Lark-Request-Nonce": "n",
            "X-Lark-Signature": "0" * 64}),
        requests.post(running.url, data=plain, timeout=5, headers=signed_headers(plain, VT, int(time.time()), "n")),
    ]
    for resp in attempts:
        assert resp.status_code == 401
        assert resp.text == "not a signed Feishu callback"  # a fixed text: nothing of lark's, nothing echoed
    time.sleep(0.5)
    assert ("feishu", "oc_forged", REPO) not in running.subscriptions()
    assert not answered(feishu, forged)


def test_a_signed_but_stale_callback_is_refused(world):
    feishu, running = world
    stale = subscribe(feishu, "oc_stale")
    raw, headers = callback(stale, EK, timestamp=time.time() - 600)  # a captured callback, replayed 10 minutes on
    resp = requests.post(running.url, data=raw, headers=headers, timeout=5)
    assert resp.status_code == 401 and resp.text == "not a signed Feishu callback"
    time.sleep(0.5)
    assert ("feishu", "oc_stale", REPO) not in running.subscriptions() and not answered(feishu, stale)


def test_a_signed_but_unencrypted_callback_is_refused(world):
    feishu, running = world
    plain_event = subscribe(feishu, "oc_plain")
    raw = json.dumps(plain_event).encode()
    resp = requests.post(running.url, data=raw, headers=signed_headers(raw, EK, int(time.time()), "n"), timeout=5)
    assert resp.status_code == 400 and resp.text == "bad request"
    time.sleep(0.5)
    assert ("feishu", "oc_plain", REPO) not in running.subscriptions() and not answered(feishu, plain_event)


def test_refused_callbacks_are_logged_once_a_minute_per_cause_without_their_content(world):
    feishu, running = world
    before = len(running.log_lines("Feishu callback"))
    for i in range(30):
        resp = requests.post(running.url, data=b'{"evil": "\\u001b[31m<script>' + str(i).encode() + b'"}',
                             timeout=5)
        assert resp.status_code == 401 and resp.text == "not a signed Feishu callback"
    time.sleep(0.3)
    log = running.log.read_text("utf-8")
    assert len(running.log_lines("Feishu callback")) - before <= 1  # 30 forgeries, at most one line
    assert running.log_lines(UNSIGNED) and all(line.startswith("WARNING") for line in running.log_lines(UNSIGNED))
    assert "<script>" not in log and "Traceback" not in log and EK not in log


# --------------------------------------------------------------------------- what Feishu sends


def test_the_url_check_is_answered_as_json_even_with_a_hostile_challenge(world):
    feishu, running = world
    hostile = 'ch"}, "msg": "x\\", \'</script> 挑战'
    raw, headers = callback(url_verification(hostile, VT), EK)
    for sent_headers in (headers, {"Content-Type": "application/json"}):  # signed, and unsigned as the docs allow
        resp = requests.post(running.url, data=raw, headers=sent_headers, timeout=5)
        assert resp.status_code == 200
        assert resp.headers["Content-Type"].startswith("application/json")
        assert resp.json() == {"challenge": hostile}
    unencrypted = requests.post(running.url, json=url_verification("ch-1", VT), timeout=5)
    assert unencrypted.status_code == 401  # neither signed nor encrypted: not Feishu's


def test_a_signed_encrypted_subscribe_from_the_admin_still_works(world):
    feishu, running = world
    real = subscribe(feishu, "oc_real")
    raw, headers = callback(real, EK)
    resp = requests.post(running.url, data=raw, headers=headers, timeout=5)
    assert resp.status_code == 200 and resp.json() == {"msg": "success"}
    feishu.wait_for(lambda: answered(feishu, real), timeout=20)
    assert ("feishu", "oc_real", REPO) in running.subscriptions()
    raw, headers = callback(subscribe(feishu, "oc_forged"), "another-apps-key")
    assert requests.post(running.url, data=raw, headers=headers, timeout=5).status_code == 401


def test_a_refusal_cause_is_logged_again_after_a_minute_with_how_many_were_left_out(caplog):
    import logging

    from handlers.warnings import RateLimitedWarnings

    now = [1000.0]
    warnings = RateLimitedWarnings(logging.getLogger("test.refusals"), clock=lambda: now[0])
    with caplog.at_level(logging.WARNING, logger="test.refusals"):
        written = [warnings.warn("cause A") for _ in range(50)] + [warnings.warn("cause B")]
        now[0] += 61
        written.append(warnings.warn("cause A"))
    assert written.count(True) == 3
    assert [r.getMessage() for r in caplog.records] == ["cause A", "cause B",
                                                        "cause A (and 49 more since the last such line)"]
