"""The Slack bot for real: Bolt on a local port receiving signed requests, slack_sdk talking to the local Slack
server, real git repositories and SQLite files, `bot.py` subprocesses killed with SIGKILL."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from bot import make_service
from handlers.config import Settings
from digest.render import slack as render_slack
from handlers.app import Bot
from storage import posts
from storage import subscriptions as subs
from tests.conftest import ROOT, utc
from tests.gitrepo import GitRepo
from tests.servers.openai import OpenAIServer
from tests.servers.slack import SlackServer, block_action_body, signed_headers, slash_command_body
from tests.test_llm import answer

REPO = "sgl-project/sglang"
DAY = date(2026, 1, 11)
SECRET = "signing-secret-for-tests"


def day_of_commits(repo: GitRepo, n: int, day: date = DAY) -> list[str]:
    return repo.bulk(commits_of_day(n, day))


def commits_of_day(n: int, day: date = DAY) -> list[tuple[str, dict[str, str], datetime]]:
    """n commits spread over `day` (UTC): sources, tests and docs, and hostile messages."""
    start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    commits = []
    for i in range(n):
        kind = i % 5
        path = {0: f"python/sglang/srt/mod_{i}.py", 1: f"test/test_{i}.py", 2: f"docs/page_{i}.md",
                3: f"python/sglang/srt/layers/layer_{i}.py", 4: f".github/workflows/wf_{i}.yml"}[kind]
        body = "".join(f"def f_{i}_{j}(x):\n    return x + {j}\n" for j in range(3 + (i % 7) * 20))
        title = f"[Feature] change number {i} (#{1000 + i})"
        if i == 7:
            title = "<!channel> <https://evil.example|https://github.com> & friends (#77)"
        if i == 8:
            title = "修复 调度器 🚀 <@U123> ping"
        commits.append((title, {path: body}, start + timedelta(seconds=(86_000 * i) // max(n, 1) + 1)))
    return commits


def settings_env(tmp_path: Path, slack: SlackServer, repo: GitRepo, **extra: str) -> dict[str, str]:
    return {"DATABASE_PATH": str(tmp_path / "bot.db"), "SLACK_BOT_TOKEN": slack.bot_token,
            "SLACK_SIGNING_SECRET": SECRET, "SLACK_API_URL": slack.api_url, "SLACK_CHANNEL": "C1",
            "GIT_CLONES": f"{REPO}={repo.path}", "DIGEST_ALLOWED_REPOS": REPO, "SLACK_POST_INTERVAL": "0", "PORT": "0",
            **extra}


def llm_env(llm: OpenAIServer) -> dict[str, str]:
    """The LLM settings that point the bot at the local OpenAI server."""
    return {"LLM_BASE_URL": llm.url + "/v1", "LLM_MODEL": "test-model", "LLM_API_KEY": "test-key"}


def make_bot(env: dict[str, str], clock=None) -> Bot:
    settings = Settings.from_env(env)
    service = make_service(settings, settings.database_path)
    return Bot(settings, service, **({"clock": clock} if clock else {}))


def short_shas_in(text: str) -> list[str]:
    return re.findall(r"`([0-9a-f]{7})`", text)


def test_a_300_commit_day_posts_every_commit_once_inside_slack_limits(tmp_path):
    repo = GitRepo(tmp_path / "upstream")
    shas = day_of_commits(repo, 300)
    with SlackServer(channels=["C1"]) as slack:
        bot = make_bot(settings_env(tmp_path, slack, repo))
        outcome = bot.publisher.post("slack", "C1", REPO, DAY, "UTC", "en", None)
        assert outcome.status == "posted", outcome
        refused = [r.answer for r in slack.calls("chat.postMessage") if not (r.answer or {}).get("ok")]
        assert refused == []
        top = slack.messages("C1", top_level=True)
        assert len(top) == 1
        replies = slack.replies(top[0].ts)
        assert len(replies) == outcome.replies > 1
        seen = [s for m in replies for s in short_shas_in(slack.all_text(m))]
        assert sorted(seen) == sorted(s[:7] for s in shas)  # every commit exactly once in the thread
        # the top message can be read in a minute: well under Slack's limits, and it points to the thread
        assert render_slack.block_text_size(top[0].blocks) < 10_000 and len(top[0].blocks) <= 50
        from tests.test_view import visible

        assert len(visible(top[0].blocks)) <= 3000  # issue 13: read in a minute
        assert sum(len(visible(m.blocks)) for m in replies) / 300 <= 1000  # compact: every commit once
        assert "300 commits" in slack.all_text(top[0]) and "thread" in slack.all_text(top[0])
        everything = "\n".join(slack.all_text(m) for m in [top[0], *replies])
        assert "<!channel>" not in everything and "<@U123>" not in everything
        assert "&lt;!channel&gt;" in everything and "<https://evil.example|" not in everything
        assert "修复 调度器 🚀" in everything
        # posting again is a no-op: once per destination and day
        again = bot.publisher.post("slack", "C1", REPO, DAY, "UTC", "en", None)
        assert again.status == "already" and len(slack.messages("C1")) == 1 + len(replies)


def test_rate_limits_and_a_post_whose_answer_was_lost_still_post_once(tmp_path):
    repo = GitRepo(tmp_path / "upstream")
    day_of_commits(repo, 12)
    with SlackServer(channels=["C1"]) as slack:
        bot = make_bot(settings_env(tmp_path, slack, repo))
        slack.fail("chat.postMessage", "ratelimited", times=2, retry_after=1)
        slack.fail("chat.postMessage", "post_then_drop", times=1)  # posted, but the answer never came
        outcome = bot.publisher.post("slack", "C1", REPO, DAY, "UTC", "en", None)
        assert outcome.status == "posted"
        top = slack.messages("C1", top_level=True)
        assert len(top) == 1 and top[0].metadata["event_type"] == "commit_radar_post"
        assert posts.load(bot.service.db, posts.PostKey("slack", "C1", REPO, DAY.isoformat())).message_id == top[0].ts
        assert slack.calls("conversations.history")  # it looked before posting again


def test_a_lost_post_whose_look_up_fails_is_retried_later_and_never_posted_twice(tmp_path):
    """The answer to chat.postMessage is lost (it was posted) and the look-up that would find it fails once:
    whether it was posted is unknown, so the post waits for its retry instead of posting blind."""
    repo = GitRepo(tmp_path / "upstream")
    shas = day_of_commits(repo, 3)
    with SlackServer(channels=["C1"]) as slack:
        bot = make_bot(settings_env(tmp_path, slack, repo))
        slack.fail("chat.postMessage", "post_then_drop", times=1)
        slack.fail("conversations.history", "error", error="internal_error", times=1)
        first = bot.publisher.post("slack", "C1", REPO, DAY, "UTC", "en", None)
        assert first.status == "failed" and "cannot tell whether the message was posted" in first.detail
        assert len(slack.messages("C1", top_level=True)) == 1
        again = bot.publisher.post("slack", "C1", REPO, DAY, "UTC", "en", None)  # the retry job
        assert again.status == "posted"
        top = slack.messages("C1", top_level=True)
        assert len(top) == 1  # exactly one message in the channel, found and completed by the retry
        seen = [s for m in slack.replies(top[0].ts) for s in short_shas_in(slack.all_text(m))]
        assert sorted(seen) == sorted(s[:7] for s in shas)
        assert posts.load(bot.service.db, posts.PostKey("slack", "C1", REPO, DAY.isoformat())).message_id == top[0].ts


def test_a_channel_without_the_bot_pauses_its_subscription_and_status_says_how_to_fix_it(tmp_path):
    repo = GitRepo(tmp_path / "upstream")
    day_of_commits(repo, 3)
    with SlackServer(channels={"C1": "ok", "C9": "not_in_channel"}) as slack:
        bot = make_bot(settings_env(tmp_path, slack, repo, DIGEST_REPOS=REPO, SLACK_CHANNEL="C9"))
        from handlers.app import sync_env_subscriptions

        sync_env_subscriptions(bot.service.db, bot.settings, bot.clock())
        sub = subs.get(bot.service.db, "slack", "C9", REPO)
        outcome = bot.publisher.post_subscription(sub, DAY)
        assert outcome.status == "paused" and "invite" in outcome.detail
        assert subs.get(bot.service.db, "slack", "C9", REPO).paused
        reply = Recorder()
        bot.ops.handle("slack", "C9", "U1", "/digest", "status", reply)
        assert "invite it with /invite" in reply.notices[-1]
        bot.ops.handle("slack", "C1", "U1", "/digest", "status", reply)  # another channel sees no private name
        assert "1 other destination is paused" in reply.notices[-1] and REPO not in reply.notices[-1]


class Recorder:
    """A Reply that keeps what it was given (our own narrow interface: a hand-written fake is allowed)."""

    def __init__(self) -> None:
        self.progresses: list[str] = []
        self.digests: list = []
        self.reports: list = []
        self.notices: list[str] = []
        self.rollups: list = []

    def progress(self, line: str) -> None:
        self.progresses.append(line)

    def digest(self, digest) -> None:
        self.digests.append(digest)

    def rollup(self, rolled) -> None:
        self.rollups.append(rolled)

    def report(self, report) -> None:
        self.reports.append(report)

    def notice(self, message: str) -> None:
        self.notices.append(message)


def post_signed(url: str, body: bytes, secret: str = SECRET, timestamp: int | None = None) -> tuple[int, bytes, float]:
    request = urllib.request.Request(url, data=body, headers=signed_headers(secret, body, timestamp), method="POST")
    started = time.monotonic()
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, resp.read(), time.monotonic() - started
    except urllib.error.HTTPError as err:
        return err.code, err.read(), time.monotonic() - started


@contextmanager
def running_bot(tmp_path: Path, **extra: str):
    """`bot.py run`'s Bot in HTTP mode on a free port, with the local Slack and OpenAI servers, a day of 6 commits."""
    repo = GitRepo(tmp_path / "upstream")
    shas = day_of_commits(repo, 6)
    with SlackServer(channels=["C1"]) as slack, OpenAIServer(responder=answer) as llm:
        env = settings_env(tmp_path, slack, repo, **llm_env(llm), **extra)
        bot = make_bot(env)
        server = bot.start()
        try:
            yield bot, slack, llm, f"http://127.0.0.1:{server.port}", shas
        finally:
            llm.release()
            bot.stop()


@pytest.fixture
def running(tmp_path):
    with running_bot(tmp_path, LLM_CONCURRENCY="4") as bot:
        yield bot


def test_slash_commands_are_acked_at_once_and_answered_through_response_url(running):
    bot, slack, llm, url, shas = running
    response_url = slack.response_url("C1", "U1")
    body = slash_command_body("/digest", f"2026-01-11 {REPO}", response_url=response_url)
    status, _, _ = post_signed(url + "/slack/events", body)
    assert status == 200
    slack.wait_for(lambda: slack.responses_to(response_url), timeout=10)  # progress first
    assert "⏳" in json.dumps(slack.responses_to(response_url)[0].body, ensure_ascii=False)
    final = slack.wait_for(lambda: [r for r in slack.responses_to(response_url) if "commits" in json.dumps(r.body)],
                           timeout=30)
    text = json.dumps(final[-1].body, ensure_ascii=False)
    assert "6 commits" in text and "Post to channel" in text and len(slack.responses_to(response_url)) <= 5
    # a stored digest of a finished day is answered from storage: no new LLM call, no git
    calls = len(llm.requests)
    again = slack.response_url("C1", "U1")
    post_signed(url + "/slack/events", slash_command_body("/digest", f"2026-01-11 {REPO}", response_url=again))
    slack.wait_for(lambda: slack.responses_to(again), timeout=10)
    assert len(llm.requests) == calls and len(slack.responses_to(again)) == 1
    # "Post to channel" posts the full digest once, however often it is clicked
    button = next(b for b in final[-1].body["blocks"] if b["type"] == "actions")["elements"][0]
    for _ in range(2):
        post_signed(url + "/slack/events", block_action_body(button["action_id"], button["value"],
                                                             response_url=slack.response_url("C1", "U1")))
    top = slack.wait_for(lambda: slack.messages("C1", top_level=True), timeout=10)
    slack.wait_for(lambda: slack.replies(top[0].ts), timeout=10)
    time.sleep(0.3)
    assert len(slack.messages("C1", top_level=True)) == 1


def test_forged_and_stale_requests_are_refused(running):
    bot, slack, _, url, _ = running
    body = slash_command_body("/digest", "help", response_url=slack.response_url())
    assert post_signed(url + "/slack/events", body, secret="wrong")[0] == 401
    assert post_signed(url + "/slack/events", body, timestamp=int(time.time()) - 600)[0] == 401
    assert post_signed(url + "/slack/events", body)[0] == 200
    health = json.loads(urllib.request.urlopen(url + "/healthz", timeout=5).read())
    assert health == {"ok": True}


def test_bad_input_gets_a_clear_answer_never_a_traceback(running):
    bot, slack, _, url, _ = running
    cases = {
        "2026-13-45": "no such date",
        f"2026-01-11 {REPO}/extra": "not a repository name",
        "subscribe sgl-project/sglang at 25:00": "not a time of day",
        "frobnicate": "did not understand",
    }
    for text_, expected in cases.items():
        response_url = slack.response_url()
        post_signed(url + "/slack/events", slash_command_body("/digest", text_, response_url=response_url))
        answer_ = slack.wait_for(lambda: slack.responses_to(response_url), timeout=10)
        shown = json.dumps(answer_[-1].body, ensure_ascii=False)
        assert expected in shown and "Traceback" not in shown, (text_, shown)
    response_url = slack.response_url()
    post_signed(url + "/slack/events", slash_command_body("/analyze", "<!channel>", response_url=response_url))
    shown = json.dumps(slack.wait_for(lambda: slack.responses_to(response_url), timeout=10)[-1].body)
    assert "not a commit SHA" in shown and "<!channel>" not in shown


def test_a_burst_of_30_commands_is_acked_while_the_llm_is_held(running):
    bot, slack, llm, url, shas = running
    llm.hold()
    bodies = [slash_command_body("/analyze" if i % 2 else "/digest",
                                 f"{shas[i % 6][:8]} {REPO}" if i % 2 else f"2026-01-1{i % 2} {REPO}",
                                 user_id=f"U{i}", response_url=slack.response_url("C1", f"U{i}"))
              for i in range(30)]
    with ThreadPoolExecutor(max_workers=30) as pool:
        results = list(pool.map(lambda b: post_signed(url + "/slack/events", b), bodies))
    assert [status for status, _, _ in results] == [200] * 30  # every ack came back while no LLM call could end
    assert llm.max_in_flight <= 4
    llm.release()


def test_deep_analysis_button_posts_once_in_the_thread_and_runs_the_llm_once(running):
    bot, slack, llm, url, shas = running
    top = slack.post_user_message("C1", "a digest")  # stands for our digest message: the thread is what matters
    value = json.dumps({"repo": REPO, "sha": shas[0], "lang": "en"})
    before = len(llm.requests)
    for _ in range(3):  # a double (triple) click, and Slack's redelivery, carry the same message ts and value
        post_signed(url + "/slack/events", block_action_body("deep_analysis:x", value, message_ts=top.ts,
                                                             response_url=slack.response_url("C1", "U1", top.ts)))
    slack.wait_for(lambda: slack.replies(top.ts), timeout=20)
    time.sleep(0.5)
    assert len(slack.replies(top.ts)) == 1 and shas[0][:7] in slack.all_text(slack.replies(top.ts)[0])
    assert len(llm.requests) - before == 1


def test_deep_analysis_of_a_grouped_merge_answers_with_its_commits_and_no_llm_call(tmp_path):
    """Issue 8's day: the merge of #643 brings in three commits of the day and is told through them. Its Deep
    analysis button (in top messages posted before issue 13; the merge now takes no slot of its own) answers with
    those commits and their analyses, already made, instead of analysing the merge's whole diff."""
    from tests import test_merges

    repo = GitRepo(tmp_path / "upstream")
    s = test_merges.issue_day(repo)
    with SlackServer(channels=["C1"]) as slack, OpenAIServer(responder=test_merges.answer) as llm:
        env = settings_env(tmp_path, slack, repo, **llm_env(llm), LLM_CONCURRENCY="4")
        bot = make_bot(env)
        server = bot.start()
        try:
            assert bot.publisher.post("slack", "C1", REPO, DAY, "UTC", "en", None).status == "posted"
            top = slack.messages("C1", top_level=True)[0]
            buttons = [b["accessory"] for b in top.blocks
                       if b.get("accessory", {}).get("action_id", "").startswith("deep_analysis")]
            assert buttons and all(json.loads(b["value"])["sha"] != s["m643"] for b in buttons)  # no slot of its own
            # a top message posted before issue 13 still carries the merge's button: a click on it
            button = {"action_id": f"deep_analysis:{s['m643'][:7]}",
                      "value": json.dumps({"repo": REPO, "sha": s["m643"], "lang": "en"})}
            before = len(llm.requests)
            post_signed(f"http://127.0.0.1:{server.port}/slack/events", block_action_body(
                button["action_id"], button["value"], message_ts=top.ts,
                response_url=slack.response_url("C1", "U1", top.ts)))
            answer_ = slack.wait_for(lambda: [m for m in slack.replies(top.ts) if "Merge #643" in slack.all_text(m)],
                                     timeout=20)
            time.sleep(0.5)
            assert len(llm.requests) == before  # no LLM call for the click
            shown = slack.all_text(answer_[0])
            assert "Merge #643 (dataflow-up-32-engine-collapse): 3 commits" in shown
            assert all(f"`{s[k][:7]}`" in shown for k in ("feat1", "feat2", "feat3"))  # each commit, analysed
            assert "public `old_helper` removed" in shown  # feat2's breaking change, as the digest told it
        finally:
            bot.stop()


def test_socket_mode_acks_a_slash_command_envelope(tmp_path):
    repo = GitRepo(tmp_path / "upstream")
    day_of_commits(repo, 2)
    with SlackServer(channels=["C1"]) as slack:
        bot = make_bot(settings_env(tmp_path, slack, repo, SLACK_APP_TOKEN=slack.app_token))
        bot.start()
        try:
            slack.socket.wait_connected(10)
            response_url = slack.response_url()
            payload = {"command": "/digest", "text": "help", "channel_id": "C1", "user_id": "U1",
                       "response_url": response_url, "team_id": "T1", "api_app_id": "A1", "trigger_id": "t"}
            envelope = slack.socket.send("slash_commands", payload, accepts_response_payload=True)
            ack = slack.socket.wait_ack(envelope, 10)
            assert ack["envelope_id"] == envelope
            help_ = slack.wait_for(lambda: slack.responses_to(response_url), timeout=10)
            assert "/digest subscribe" in json.dumps(help_[-1].body)
        finally:
            bot.stop()


# -- crashes and races: real processes ---------------------------------------------------------------------

def bot_process(env: dict[str, str], *args: str) -> subprocess.Popen:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "GITHUB_", "GIT_CLONES", "DIGEST_",
                                                                     "SLACK_", "FEISHU_"))}
    return subprocess.Popen([sys.executable, str(ROOT / "bot.py"), *args], env={**base, **env}, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish(proc: subprocess.Popen) -> str:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    print(err[-3000:])
    return out


@pytest.mark.parametrize("crash", ["after_top_sent", "between_replies"])
def test_killed_mid_post_and_restarted_posts_everything_exactly_once(tmp_path, crash):
    repo = GitRepo(tmp_path / "upstream")
    shas = day_of_commits(repo, 90)
    with SlackServer(channels=["C1"]) as slack:
        env = settings_env(tmp_path, slack, repo)
        # Slack records the message, then the answer waits: the process is killed before it can save the ts
        slack.hold()
        if crash == "after_top_sent":
            slack.fail("chat.postMessage", "post_then_hold", times=1)
        else:
            for _ in range(3):
                slack.fail("chat.postMessage", "delay", times=1, seconds=0)
            slack.fail("chat.postMessage", "post_then_hold", times=1)
        proc = bot_process(env, "post", REPO, "--date", "2026-01-11", "--to", "slack:C1")
        wanted = 1 if crash == "after_top_sent" else 4
        if crash == "between_replies":
            slack.release()
            slack.wait_for(lambda: len(slack.calls("chat.postMessage")) >= 4, timeout=60)
            slack.hold()
        slack.wait_for(lambda: len(slack.messages("C1")) >= wanted, timeout=60)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        slack.release()
        out = finish(bot_process(env, "post", REPO, "--date", "2026-01-11", "--to", "slack:C1"))
        assert "posted" in out
        top = slack.messages("C1", top_level=True)
        assert len(top) == 1
        seen = [s for m in slack.replies(top[0].ts) for s in short_shas_in(slack.all_text(m))]
        assert sorted(seen) == sorted(s[:7] for s in shas)
        assert "already" in finish(bot_process(env, "post", REPO, "--date", "2026-01-11", "--to", "slack:C1"))


def test_killed_after_the_claim_while_building_and_restarted_posts_once(tmp_path):
    repo = GitRepo(tmp_path / "upstream")
    day_of_commits(repo, 5)
    with SlackServer(channels=["C1"]) as slack, OpenAIServer(responder=answer) as llm:
        env = settings_env(tmp_path, slack, repo, **llm_env(llm))
        llm.hold()
        proc = bot_process(env, "post", REPO, "--date", "2026-01-11", "--to", "slack:C1")
        llm_seen = lambda: llm.in_flight > 0 or llm.requests  # noqa: E731
        slack.wait_for(llm_seen, timeout=60)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        llm.release()
        assert "posted" in finish(bot_process(env, "post", REPO, "--date", "2026-01-11", "--to", "slack:C1"))
        assert len(slack.messages("C1", top_level=True)) == 1


def test_post_date_latest_posts_the_most_recent_day_with_commits(tmp_path):
    """`bot.py post --date latest`, as --help offers it: the last day with commits (in the destination's zone)."""
    repo = GitRepo(tmp_path / "upstream")
    day_of_commits(repo, 2, DAY)
    last = repo.commit("the latest commit", {"a.py": "x = 1\n"}, utc(2026, 1, 14, 23, 30))
    with SlackServer(channels=["C1"]) as slack:
        env = settings_env(tmp_path, slack, repo)
        out = finish(bot_process(env, "post", REPO, "--date", "latest", "--to", "slack:C1"))
        assert f"slack:C1 {REPO} 2026-01-14: posted" in out
        east = finish(bot_process({**env, "DATABASE_PATH": str(tmp_path / "east.db")}, "post", REPO, "--date",
                                  "latest", "--tz", "Asia/Shanghai", "--to", "slack:C1"))
        assert f"slack:C1 {REPO} 2026-01-15: posted" in east  # 23:30 UTC is the next morning in Shanghai
        tops = slack.messages("C1", top_level=True)
        assert [re.search(r"\d{4}-\d{2}-\d{2}", m.blocks[0]["text"]["text"]).group(0) for m in tops] == [
            "2026-01-14", "2026-01-15"]
        assert all(last[:7] in slack.all_text(m) for t in tops for m in slack.replies(t.ts))


def test_two_processes_racing_for_the_same_post_post_once_20_times(tmp_path):
    repo = GitRepo(tmp_path / "upstream")
    repo.bulk([("one commit", {"a.py": "x = 1\n"}, utc(2025, 12, 1, 12))])  # the 20 days raced are quiet
    with SlackServer(channels=["C1"]) as slack:
        env = settings_env(tmp_path, slack, repo)
        for i in range(20):
            day = (date(2026, 1, 1) + timedelta(days=i)).isoformat()
            pair = [bot_process(env, "post", REPO, "--date", day, "--to", "slack:C1") for _ in range(2)]
            outs = sorted(finish(p).split(": ", 1)[1].split()[0] for p in pair)
            assert outs in (["already", "posted"], ["busy", "posted"]), outs
        assert len(slack.messages("C1", top_level=True)) == 20


def test_catch_up_posts_missed_days_oldest_first_marked_late(tmp_path):
    repo = GitRepo(tmp_path / "upstream")
    day_of_commits(repo, 2, DAY)
    now = datetime(2026, 1, 14, 12, 0, tzinfo=timezone.utc)
    with SlackServer(channels=["C1"]) as slack:
        bot = make_bot(settings_env(tmp_path, slack, repo), clock=lambda: now)
        subs.save(bot.service.db, subs.Subscription("slack", "C1", REPO, at=datetime(2026, 1, 1, 9).time(),
                                                    zone="UTC", lang="en"), now - timedelta(days=10))
        bot.schedule.catch_up()
        tops = slack.messages("C1", top_level=True)
        days = [re.search(r"\d{4}-\d{2}-\d{2}", m.blocks[0]["text"]["text"]).group(0) for m in tops]
        assert days == ["2026-01-11", "2026-01-12", "2026-01-13"]
        assert all("Posted late" in slack.all_text(m) for m in tops)
        bot.schedule.catch_up()
        assert len(slack.messages("C1", top_level=True)) == 3


def test_admins_allowed_repositories_and_the_per_user_limit(tmp_path):
    from tests.servers.github import GitHubServer

    repo = GitRepo(tmp_path / "upstream")
    day_of_commits(repo, 2)
    with SlackServer(channels=["C1"]) as slack, GitHubServer({"acme/secret": repo.path, "acme/open": repo.path}) as gh:
        gh.private_repos.add("acme/secret")
        env = {**settings_env(tmp_path, slack, repo, SLACK_ADMINS="UADMIN", DIGEST_USER_LIMIT="2"),
               "GITHUB_API_URL": gh.url}
        bot = make_bot(env)
        say = Recorder()
        bot.ops.handle("slack", "C1", "UOTHER", "/digest", "subscribe acme/open", say)
        assert "Only the bot's admins" in say.notices[-1] and not subs.in_channel(bot.service.db, "slack", "C1")
        bot.ops.handle("slack", "C1", "UADMIN", "/digest", "subscribe acme/open at 08:30 tz Asia/Shanghai", say)
        assert "Subscribed to `acme/open`" in say.notices[-1] and "08:30 Asia/Shanghai" in say.notices[-1]
        bot.ops.handle("slack", "C1", "U3", "/digest", "2026-01-11 acme/secret", say)  # counted: GitHub was asked
        assert "is private; add it to DIGEST_ALLOWED_REPOS" in say.notices[-1] and not say.digests
        bot.ops.handle("slack", "C1", "U1", "/digest", "2026-01-11 acme/open", say)
        assert say.digests and say.digests[-1].repo == "acme/open"
        bot.ops.handle("slack", "C1", "U1", "/digest", "2026-01-11 acme/open", say)  # a stored day: free
        assert len(say.digests) == 2
        sha = say.digests[-1].entries[0].commit.sha
        bot.ops.handle("slack", "C1", "U1", "/analyze", f"{sha[:8]} acme/open", say)
        assert len(say.reports) == 1
        bot.ops.handle("slack", "C1", "U1", "/analyze", f"{sha[:8]} acme/open", say)
        assert "please wait" in say.notices[-1] and len(say.reports) == 1  # 2 costly commands an hour
        bot.ops.handle("slack", "C1", "U2", "/analyze", f"{sha[:8]} acme/open", say)
        assert len(say.reports) == 2  # another user is not limited by U1
        allowed = make_bot({**env, "DIGEST_ALLOWED_REPOS": "acme/*", "DATABASE_PATH": str(tmp_path / "b.db")})
        allowed.ops.handle("slack", "C1", "U1", "/digest", "2026-01-11 acme/secret", say)
        assert say.digests[-1].repo == "acme/secret"


def test_a_day_of_many_breaking_changes_keeps_the_top_message_short_and_shows_the_high_commits(tmp_path):
    repo = GitRepo(tmp_path / "upstream")
    big = "".join(f"def api_{j}(x):\n    return x\n" for j in range(40))
    before = [(f"add module {k}", {f"python/pkg/m{k}.py": big}, utc(2026, 1, 10, 8, k)) for k in range(10)]
    day = [(f"refactor module {k} (#{500 + k})", {f"python/pkg/m{k}.py": "def api_0(x):\n    return x\n"},
            utc(2026, 1, 11, 8, k)) for k in range(10)]
    repo.bulk(before + day)
    with SlackServer(channels=["C1"]) as slack:
        bot = make_bot(settings_env(tmp_path, slack, repo))
        assert bot.publisher.post("slack", "C1", REPO, DAY, "UTC", "en", None).status == "posted"
        top = slack.messages("C1", top_level=True)[0]
        text_ = slack.all_text(top)
        listed = text_.split("Breaking changes", 1)[1].split("High importance", 1)[0]
        assert listed.count("\n• ") == 5 and re.search(r"⚠️ \d{3} breaking changes", text_)  # hundreds, 5 lines
        assert re.search(r"\+\d{3} more: in the thread", text_)
        assert "High importance" in text_ and "refactor module" in text_.split("High importance", 1)[1]


def test_digest_of_a_day_in_the_zone_the_user_names(tmp_path):
    """`/digest DATE owner/name tz ZONE`: the day is that zone's (the subscription's zone otherwise); it was refused
    as a word the bot did not understand."""
    repo = GitRepo(tmp_path / "upstream")
    day_of_commits(repo, 4)
    with SlackServer(channels=["C1"]) as slack:
        bot = make_bot(settings_env(tmp_path, slack, repo))
        say = Recorder()
        bot.ops.handle("slack", "C1", "U1", "/digest", f"2026-01-11 {REPO} tz Asia/Shanghai", say)
        assert not [n for n in say.notices if "understand" in n], say.notices
        window = say.digests[-1].window
        assert window.zone == "Asia/Shanghai" and window.start == datetime(2026, 1, 10, 16, 0, tzinfo=timezone.utc)
        utc_day = Recorder()
        bot.ops.handle("slack", "C1", "U1", "/digest", f"2026-01-11 {REPO}", utc_day)
        assert utc_day.digests[-1].window.zone == "UTC"
