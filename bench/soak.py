"""Soak: an hour of a busy team's work, compressed into a few minutes, against a real `bot.py run` process (Slack
over HTTP, signed requests) and the local Slack and OpenAI servers: /digest of many days (built, then read back),
/analyze, Deep analysis and Post to channel buttons, the backfill (inside `run`), 30% LLM faults and an outage.
Samples the bot's RSS, threads and open files; prints the figures after warm-up and the growth an hour.

    .venv/bin/python bench/soak.py [--minutes 8] [--rate 4] [--patch-kb 48] [--bot-root PATH] [--tracemalloc]

--bot-root runs another checkout's bot.py (the code before a fix) with this same load. --tracemalloc prints the
allocations that grew most between the end of warm-up and the end (they slow the bot: figures are then not
comparable).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import date, timedelta
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.gitrepo import GitRepo  # noqa: E402
from tests.servers.openai import Fault, OpenAIServer  # noqa: E402
from tests.servers.slack import SlackServer, block_action_body, signed_headers, slash_command_body  # noqa: E402
from bench.bench_digest import answer  # noqa: E402
from tests.test_slack import commits_of_day  # noqa: E402

SECRET = "soak-signing-secret"
REPO = "soak/upstream"
FIRST = date(2026, 1, 1)
DAYS = 30
WORKERS = 4  # requests in flight from the load generator

TRACE = """
import runpy, signal, sys, tracemalloc
tracemalloc.start(1)
first, target = [], sys.argv[1]
def dump(*_):
    snap = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
    if not first:
        first.append(snap)
        return
    with open(target, "w") as out:
        for stat in snap.compare_to(first[0], "lineno")[:15]:
            out.write(f"{stat.size_diff / 1e6:+.2f} MB {stat.count_diff:+d} blocks\\n")
            out.write("".join(f"    {line}\\n" for line in stat.traceback.format()[-2:]))
signal.signal(signal.SIGUSR1, dump)
sys.argv = [sys.argv[2], *sys.argv[3:]]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_repo(path: Path, patch_kb: float) -> list[str]:
    """DAYS days of 12 to 31 commits, each with about `patch_kb` KB of diff (sglang: 48 KB a commit)."""
    commits = []
    for n in range(DAYS):
        for i, (title, files, when) in enumerate(commits_of_day(12 + (n * 7) % 20, FIRST + timedelta(days=n))):
            line = f"    value_{n}_{i} = compute(value_{n}_{i} + 1)  # a realistic line of code\n"
            big = {f"python/sglang/srt/big_{n}_{i}.py": line * int(patch_kb * 1000 / len(line))} if patch_kb else {}
            commits.append((title, {**files, **big}, when))
    return GitRepo(path).bulk(commits)


class Load:
    """Signed Slack requests to the bot, from a few threads, until stopped."""

    def __init__(self, port: int, slack: SlackServer, shas: list[str], rate: float, seed: int = 5) -> None:
        self.slack = slack
        self.url = f"http://127.0.0.1:{port}/slack/events"
        self.shas = shas
        self.rate = rate
        self.rng = random.Random(seed)
        self.stop = threading.Event()
        self.sent = {"digest": 0, "analyze": 0, "deep": 0, "post": 0}
        self.failed = 0
        self.lock = threading.Lock()
        self.n = 0

    def request(self) -> tuple[str, bytes]:
        with self.lock:
            self.n += 1
            n, roll = self.n, self.rng.random()
            day = FIRST + timedelta(days=self.rng.randrange(DAYS))
            sha = self.rng.choice(self.shas)
            user = f"U{self.rng.randrange(40)}"
        channel = f"C{n % 60}"
        url = self.slack.response_url(channel, user)
        if roll < 0.55:
            return "digest", slash_command_body("/digest", f"{day.isoformat()} {REPO}", channel, user, url)
        if roll < 0.70:
            return "analyze", slash_command_body("/analyze", f"{sha[:10]} {REPO}", channel, user, url)
        if roll < 0.85:
            value = json.dumps({"repo": REPO, "sha": sha, "lang": "en"})
            return "deep", block_action_body(f"deep_analysis:{sha[:7]}", value, channel_id=channel, user_id=user,
                                             message_ts=f"{n}.0", response_url=url)
        value = json.dumps({"repo": REPO, "day": day.isoformat(), "zone": "UTC", "lang": "en", "branch": None})
        return "post", block_action_body("post_to_channel", value, channel_id=channel, user_id=user,
                                         message_ts=f"{n}.0", response_url=url)

    def run(self) -> None:
        while not self.stop.is_set():
            kind, body = self.request()
            req = urllib.request.Request(self.url, data=body, headers=signed_headers(SECRET, body), method="POST")
            try:
                with urllib.request.urlopen(req, timeout=10) as resp:
                    resp.read()
                with self.lock:
                    self.sent[kind] += 1
            except OSError:
                with self.lock:
                    self.failed += 1
            self.stop.wait(WORKERS / self.rate)


def sample(proc: psutil.Process) -> tuple[float, int, int]:
    return proc.memory_info().rss / 1e6, proc.num_threads(), proc.num_fds()


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares growth per second."""
    n = len(points)
    mx, my = sum(p[0] for p in points) / n, sum(p[1] for p in points) / n
    den = sum((x - mx) ** 2 for x, _ in points) or 1.0
    return sum((x - mx) * (y - my) for x, y in points) / den


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=8.0, help="length of the run (the work of about an hour)")
    ap.add_argument("--rate", type=float, default=4.0, help="requests a second")
    ap.add_argument("--bot-root", type=Path, default=ROOT, help="the checkout whose bot.py runs")
    ap.add_argument("--patch-kb", type=float, default=48, help="KB of diff per commit")
    ap.add_argument("--tracemalloc", action="store_true")
    ap.add_argument("--log", type=Path, help="keep the bot's log there")
    args = ap.parse_args()
    seconds = args.minutes * 60
    with tempfile.TemporaryDirectory() as tmp, OpenAIServer(responder=answer, latency=0.05) as llm, \
            SlackServer(channels=["C1", *(f"C{i}" for i in range(60))]) as slack:
        root = Path(tmp)
        shas = make_repo(root / "upstream", args.patch_kb)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "GITHUB_", "GIT_CLONES", "DIGEST_",
                                                                         "SLACK_", "FEISHU_", "RETAIN_"))}
        env.update({"DATABASE_PATH": str(root / "bot.db"), "SLACK_BOT_TOKEN": slack.bot_token,
                    "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": slack.api_url, "SLACK_CHANNEL": "C1",
                    "GIT_CLONES": f"{REPO}={root / 'upstream'}", "SLACK_POST_INTERVAL": "0", "PORT": str(port),
                    "LLM_BASE_URL": llm.url + "/v1", "LLM_API_KEY": "test-key", "LLM_MODEL": "test-model",
                    "LLM_TIMEOUT": "5", "DIGEST_USER_LIMIT": "10000"})
        bot = [str(args.bot_root / "bot.py"), "run"]
        if args.tracemalloc:
            bot = ["-c", TRACE, str(root / "grew.txt"), *bot]
        proc = subprocess.Popen([sys.executable, *bot], env=env, cwd=args.bot_root, stdout=subprocess.DEVNULL,
                                stderr=open(root / "bot.log", "w"))
        for _ in range(1200):  # slow to start under --tracemalloc
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        bot_proc = psutil.Process(proc.pid)
        start_figures = sample(bot_proc)
        load = Load(port, slack, shas, args.rate)
        workers = [threading.Thread(target=load.run, daemon=True) for _ in range(WORKERS)]
        for w in workers:
            w.start()
        samples: list[tuple[float, float, int, int]] = []
        started = time.monotonic()
        warm = seconds * 0.3
        traced = False
        while (elapsed := time.monotonic() - started) < seconds:
            phase = int(elapsed // 60) % 4  # a minute each: healthy, 30% faults, healthy, 30% faults + 20 s outage
            llm.random_faults(0.3 if phase in (1, 3) else 0.0, int(elapsed), Fault("status", status=502),
                              Fault("status", status=429, headers={"Retry-After": "0"}), Fault("timeout", delay=6))
            llm.outage(Fault("status", status=503) if phase == 3 and elapsed % 60 < 20 else None)
            rss, threads, fds = sample(bot_proc)
            samples.append((elapsed, rss, threads, fds))
            if args.tracemalloc and not traced and elapsed >= warm:
                proc.send_signal(signal.SIGUSR1)
                traced = True
            time.sleep(5)
        if args.tracemalloc:
            proc.send_signal(signal.SIGUSR1)
            for _ in range(120):  # a snapshot of a large heap takes a while
                time.sleep(1)
                if (root / "grew.txt").exists() and (root / "grew.txt").stat().st_size:
                    time.sleep(1)
                    break
        load.stop.set()
        for w in workers:
            w.join(timeout=15)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        after = [s for s in samples if s[0] >= warm]
        grow = slope([(s[0], s[1]) for s in after])
        print(f"soak: {args.minutes:g} min, {sum(load.sent.values())} requests ({load.sent}), {load.failed} failed,"
              f" {len(llm.requests)} LLM requests, {len(slack.requests)} Slack API calls")
        print(f"at start: RSS {start_figures[0]:.0f} MB, {start_figures[1]} threads, {start_figures[2]} open files")
        print(f"after warm-up ({warm / 60:.1f} min): RSS {after[0][1]:.0f} MB, {after[0][2]} threads, {after[0][3]} fds")
        print(f"at the end: RSS {samples[-1][1]:.0f} MB, {samples[-1][2]} threads, {samples[-1][3]} open files;"
              f" max {max(s[2] for s in samples)} threads, {max(s[3] for s in samples)} open files")
        print(f"RSS growth after warm-up: {after[-1][1] - after[0][1]:+.1f} MB in {(after[-1][0] - after[0][0]) / 60:.1f}"
              f" min; trend {grow * 3600:+.1f} MB an hour of wall time, {grow * seconds:+.1f} MB for this run's"
              f" hour of work (target < 10)")
        if args.log:
            args.log.write_bytes((root / "bot.log").read_bytes())
        log = (root / "bot.log").read_text(encoding="utf-8", errors="replace").splitlines()
        print(f"bot log: {len(log)} lines, {sum(' ERROR ' in line or 'Traceback' in line for line in log)} errors;"
              " last:", *log[-5:], sep="\n  ")
        if args.tracemalloc and (root / "grew.txt").exists():
            print("grew most after warm-up (tracemalloc):")
            print((root / "grew.txt").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
