"""Slack under load: 50 concurrent /digest and /analyze commands while a 100-commit digest is being built.

The bot runs as its own process, as a user runs it (`bot.py run`, HTTP mode, on a free port); the local Slack and
OpenAI servers and the 50 clients run here. Prints figures from one run (the machine is shared and noisy): ack
latency p50/p99, the most LLM calls in flight against LLM_CONCURRENCY, the 50 final answers counted at the local
Slack server and the time to the last, and the time to the answer for a stored date under load beside the same
command on an idle bot. `--compare` adds the same figures with the bot in this process too.

    .venv/bin/python bench/slack_ack.py [--commits 100] [--latency 0.5] [--concurrency 8] [--commands 50] [--compare]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.gitrepo import GitRepo  # noqa: E402
from tests.servers.openai import OpenAIServer  # noqa: E402
from tests.servers.slack import ResponsePost, SlackServer, slash_command_body  # noqa: E402
from tests.test_llm import answer  # noqa: E402
from tests.test_slack import DAY, REPO, commits_of_day, make_bot, post_signed, settings_env  # noqa: E402

STORED = date(2026, 1, 5)
STARTUP = 60.0  # seconds for `bot.py run` to answer /healthz
DIGEST_DONE = "Post to channel"  # only a finished digest has the button; progress lines say "fetching commits"
REPORT_DONE = "Deep analysis of"


def respond(req: dict) -> str:
    """The tests' grounded answer; a plain one for prompts without a file list (map and combine calls)."""
    try:
        return answer(req)
    except StopIteration:
        return answer({**req, "messages": [req["messages"][0], {"content": "- README.md [modified]"}]})


class Answers:
    """The time each response_url got its final answer, read once per post as posts arrive at the Slack server."""

    def __init__(self, slack: SlackServer) -> None:
        self.slack = slack
        self.seen = 0
        self.wanted: dict[str, str] = {}  # response_url -> a word only its final answer contains
        self.final: dict[str, float] = {}

    def expect(self, url: str, word: str) -> None:
        self.wanted[url] = word

    def _scan(self) -> None:
        posts: list[ResponsePost] = self.slack.responses[self.seen:]
        self.seen += len(posts)
        for post in posts:
            word = self.wanted.get(post.url)
            if word and post.url not in self.final and word in json.dumps(post.body, ensure_ascii=False):
                self.final[post.url] = post.at

    def wait(self, urls: list[str], timeout: float) -> dict[str, float]:
        deadline = time.monotonic() + timeout
        while True:
            self._scan()
            if all(u in self.final for u in urls) or time.monotonic() > deadline:
                return {u: self.final[u] for u in urls if u in self.final}
            time.sleep(0.02)


@dataclass
class Sent:
    url: str
    at: float  # wall clock, comparable with the Slack server's ResponsePost.at
    ack: float  # seconds until the HTTP answer (the ack) came back


def command(slack: SlackServer, base: str, name: str, text: str, user: str) -> Sent:
    url = slack.response_url("C1", user)
    body = slash_command_body(name, text, user_id=user, response_url=url)
    at = time.time()
    status, _, ack = post_signed(base + "/slack/events", body)
    assert status == 200, status
    return Sent(url, at, ack)


def stored_answer_time(slack: SlackServer, answers: Answers, base: str, user: str) -> float:
    sent = command(slack, base, "/digest", f"{STORED} {REPO}", user)
    answers.expect(sent.url, DIGEST_DONE)
    return answers.wait([sent.url], 60)[sent.url] - sent.at


@dataclass
class Figures:
    acks: list[float]
    max_in_flight: int
    answered: int
    last: float
    idle: float
    under_load: list[float]

    def lines(self, commands: int, concurrency: int) -> list[str]:
        acks = sorted(self.acks)
        return [
            f"ack latency p50 / p99                : {statistics.median(acks) * 1000:.0f} ms / "
            f"{acks[round(0.99 * (len(acks) - 1))] * 1000:.0f} ms  (target p99 < 300 ms)",
            f"most LLM calls in flight             : {self.max_in_flight}  (LLM_CONCURRENCY = {concurrency})",
            f"final answers at the Slack server    : {self.answered}/{commands}, the last {self.last:.1f} s "
            "after it was sent",
            f"stored date, idle bot (p50)          : {self.idle * 1000:.0f} ms",
            f"stored date, under load (p50)        : {statistics.median(self.under_load) * 1000:.0f} ms  "
            "(target < 150 ms)",
        ]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(base: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + STARTUP
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"bot.py run exited with {proc.returncode}:\n{log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            time.sleep(0.05)
    raise TimeoutError(f"bot.py run did not answer /healthz within {STARTUP:.0f} s")


@contextmanager
def bot_process(env: dict[str, str], tmp: Path, profile: Path | None = None) -> Iterator[str]:
    """`bot.py run` in its own process on a free port, up once /healthz answers; stopped with SIGTERM.
    With `profile`, py-spy (pip install py-spy) samples its busy threads into that file, as collapsed stacks."""
    port = free_port()
    inherited = {k: v for k, v in os.environ.items()
                 if not k.startswith(("LLM_", "GITHUB_", "GIT_CLONES", "DIGEST_", "SLACK_", "FEISHU_"))}
    log = tmp / "bot.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, str(ROOT / "bot.py"), "run"], cwd=tmp, stdout=out,
                                stderr=subprocess.STDOUT, env={**inherited, **env, "PORT": str(port)})
    base = f"http://127.0.0.1:{port}"
    spy = None
    try:
        wait_healthy(base, proc, log)
        if profile is not None:
            spy_bin = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
            spy = subprocess.Popen([spy_bin, "record", "--pid", str(proc.pid), "--format", "raw", "--threads",
                                    "--rate", "100", "-o", str(profile)], stdout=subprocess.DEVNULL)
            time.sleep(1)  # py-spy attaches
        yield base
    finally:
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=30)
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        if code != 0:
            raise RuntimeError(f"bot.py run ended with {code} after SIGTERM:\n{log.read_text(errors='replace')}")


@contextmanager
def bot_in_process(env: dict[str, str], tmp: Path) -> Iterator[str]:
    bot = make_bot(env)
    server = bot.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        bot.stop()


def measure(run_bot: Callable, repo: GitRepo, shas: list[str], tmp: Path, args: argparse.Namespace) -> Figures:
    tmp.mkdir(parents=True)
    with SlackServer(channels=["C1"]) as slack, OpenAIServer(responder=respond, latency=args.latency) as llm:
        env = settings_env(tmp, slack, repo, LLM_BASE_URL=llm.url + "/v1", LLM_MODEL="test-model",
                           LLM_API_KEY="test-key", LLM_CONCURRENCY=str(args.concurrency))
        answers = Answers(slack)
        with run_bot(env, tmp) as base:
            stored_answer_time(slack, answers, base, "UWARM")  # builds and stores the small day
            idle = statistics.median(stored_answer_time(slack, answers, base, f"UIDLE{i}") for i in range(5))
            big = command(slack, base, "/digest", f"{DAY.isoformat()} {REPO}", "UBIG")
            answers.expect(big.url, DIGEST_DONE)
            slack.wait_for(lambda: llm.in_flight > 0, timeout=60)
            jobs = [("/digest", f"{STORED} {REPO}") if i % 2 == 0 else ("/analyze", f"{shas[i][:10]} {REPO}")
                    for i in range(args.commands)]
            go = threading.Barrier(args.commands)

            def one(i: int) -> Sent:
                name, text = jobs[i]
                go.wait()  # all at once: a burst, not a ramp
                return command(slack, base, name, text, f"U{i}")

            with ThreadPoolExecutor(max_workers=args.commands) as pool:
                sent = list(pool.map(one, range(args.commands)))
            for s, (name, _) in zip(sent, jobs):
                answers.expect(s.url, DIGEST_DONE if name == "/digest" else REPORT_DONE)
            finals = answers.wait([s.url for s in sent], 600)
            under_load = [finals[s.url] - s.at for s, (name, _) in zip(sent, jobs)
                          if name == "/digest" and s.url in finals]
            if big.url not in answers.wait([big.url], 900):
                raise TimeoutError("the 100-commit digest was not answered")
        return Figures(acks=[s.ack for s in sent], max_in_flight=llm.max_in_flight, answered=len(finals),
                       last=max(finals[s.url] - s.at for s in sent if s.url in finals), idle=idle,
                       under_load=under_load)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commits", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--commands", type=int, default=50)
    parser.add_argument("--compare", action="store_true", help="also measure with the bot in this process")
    parser.add_argument("--profile", type=Path, help="py-spy the bot process into this file (collapsed stacks)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-slack-"))
    repo = GitRepo(tmp / "upstream")
    shas = repo.bulk(commits_of_day(6, STORED) + commits_of_day(args.commits, DAY))[6:]
    print(f"commands                             : {args.commands} at once, during a {args.commits}-commit digest "
          f"(L = {args.latency} s, C = {args.concurrency})")
    runs: list[tuple[str, Callable]] = [
        ("bot.py run in its own process", lambda env, tmp: bot_process(env, tmp, args.profile))]
    if args.compare:
        runs.append(("everything in one process", bot_in_process))
    for i, (title, run_bot) in enumerate(runs):
        figures = measure(run_bot, repo, shas, tmp / f"run{i}", args)
        print(f"-- {title}")
        print("\n".join(figures.lines(args.commands, args.concurrency)))


if __name__ == "__main__":
    main()
