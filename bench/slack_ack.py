"""Slack under load: 50 concurrent /digest and /analyze commands while a 100-commit digest is being built.

Prints ratios and figures from one run (the machine is shared and noisy): ack latency p50/p99, the most LLM
calls in flight against LLM_CONCURRENCY, the 50 final answers counted at the local Slack server and the time to
the last, and the time to the answer for a stored date under load beside the same command on an idle bot.

    .venv/bin/python bench/slack_ack.py [--commits 100] [--latency 0.5] [--concurrency 8] [--commands 50]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.gitrepo import GitRepo  # noqa: E402
from tests.servers.openai import OpenAIServer  # noqa: E402
from tests.servers.slack import SlackServer, slash_command_body  # noqa: E402
from tests.test_llm import answer  # noqa: E402
from tests.test_slack import DAY, REPO, commits_of_day, make_bot, post_signed, settings_env  # noqa: E402

STORED = "2026-01-05"


def respond(req: dict) -> str:
    """The tests' grounded answer; a plain one for prompts without a file list (map and combine calls)."""
    try:
        return answer(req)
    except StopIteration:
        return answer({**req, "messages": [req["messages"][0], {"content": "- README.md [modified]"}]})


def answered(slack: SlackServer, url: str, word: str) -> float | None:
    for post in slack.responses_to(url):
        if word in json.dumps(post.body, ensure_ascii=False):
            return post.at
    return None


def command(slack: SlackServer, base: str, name: str, text: str, user: str) -> tuple[str, float, float]:
    url = slack.response_url("C1", user)
    sent = time.time()
    status, _, ack = post_signed(base + "/slack/events", slash_command_body(name, text, user_id=user, response_url=url))
    assert status == 200
    return url, sent, ack


def stored_answer_time(slack: SlackServer, base: str, user: str) -> float:
    url, sent, _ = command(slack, base, "/digest", f"{STORED} {REPO}", user)
    done = slack.wait_for(lambda: answered(slack, url, "commits"), timeout=60)
    return done - sent


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commits", type=int, default=100)
    parser.add_argument("--latency", type=float, default=0.5)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--commands", type=int, default=50)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-slack-"))
    repo = GitRepo(tmp / "upstream")
    from datetime import date

    shas = repo.bulk(commits_of_day(6, date.fromisoformat(STORED)) + commits_of_day(args.commits, DAY))[6:]
    with SlackServer(channels=["C1"]) as slack, OpenAIServer(responder=respond, latency=args.latency) as llm:
        env = settings_env(tmp, slack, repo, LLM_BASE_URL=llm.url + "/v1", LLM_MODEL="test-model",
                           LLM_API_KEY="test-key", LLM_CONCURRENCY=str(args.concurrency))
        bot = make_bot(env)
        server = bot.start()
        base = f"http://127.0.0.1:{server.port}"
        try:
            stored_answer_time(slack, base, "UWARM")  # builds and stores the small day
            idle = statistics.median(stored_answer_time(slack, base, f"UIDLE{i}") for i in range(5))
            big_url, _, _ = command(slack, base, "/digest", f"{DAY.isoformat()} {REPO}", "UBIG")
            slack.wait_for(lambda: llm.in_flight > 0, timeout=60)
            jobs = [("/digest", f"{STORED} {REPO}") if i % 2 == 0 else ("/analyze", f"{shas[i][:10]} {REPO}")
                    for i in range(args.commands)]
            started = time.time()
            with ThreadPoolExecutor(max_workers=args.commands) as pool:
                sent = list(pool.map(lambda ij: command(slack, base, ij[1][0], ij[1][1], f"U{ij[0]}"),
                                     enumerate(jobs)))
            acks = sorted(ack for _, _, ack in sent)
            finals = {}
            deadline = time.time() + 600
            while len(finals) < len(sent) and time.time() < deadline:
                for (url, at, _), (name, _) in zip(sent, jobs):
                    if url not in finals and (t := answered(slack, url, "commits" if name == "/digest" else "Deep")):
                        finals[url] = t - at
                time.sleep(0.05)
            stored_under_load = sorted(finals[url] for (url, _, _), (name, _) in zip(sent, jobs)
                                       if name == "/digest" and url in finals)
            slack.wait_for(lambda: answered(slack, big_url, "commits"), timeout=900)
            print(f"commands                             : {len(sent)} at once, during a {args.commits}-commit digest "
                  f"(L = {args.latency} s, C = {args.concurrency})")
            print(f"ack latency p50 / p99                : {statistics.median(acks) * 1000:.0f} ms / "
                  f"{acks[int(0.99 * (len(acks) - 1))] * 1000:.0f} ms  (target p99 < 300 ms)")
            print(f"most LLM calls in flight             : {llm.max_in_flight}  (LLM_CONCURRENCY = {args.concurrency})")
            print(f"final answers at the Slack server    : {len(finals)}/{len(sent)}, the last "
                  f"{max(finals.values()):.1f} s after it was sent")
            print(f"stored date, idle bot (p50)          : {idle * 1000:.0f} ms")
            print(f"stored date, under load (p50)        : {statistics.median(stored_under_load) * 1000:.0f} ms  "
                  f"(target < 150 ms)")
        finally:
            bot.stop()


if __name__ == "__main__":
    main()
