"""Per-user limits: the hourly command limit holds across processes, buttons count, a daily budget of LLM tokens
per user, and the tokens of failed LLM calls count toward LLM_DAILY_TOKEN_CAP."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest

from digest.analysis.llm import LLMAnalyser, LLMConfig
from digest.service import DigestService
from digest.sources.git import GitSource
from storage import llm as llm_store
from storage.db import open_db
from tests.conftest import NOW, ROOT, clone_ref, git_service, sample_history
from tests.gitrepo import GitRepo
from tests.servers.openai import INVALID_JSON_CONTENT, Fault, OpenAIServer
from tests.servers.slack import SlackServer, block_action_body
from tests.test_llm import answer
from tests.test_slack import (DAY, REPO, Recorder, day_of_commits, llm_env, make_bot, post_signed,
                              running_bot, settings_env)

RACER = """
import sys, time
from datetime import datetime, timezone
sys.path.insert(0, sys.argv[1])
from storage import events
from storage.db import open_db
db = open_db(sys.argv[2])
print("ready", flush=True)
start = float(sys.stdin.readline())
now = datetime(2026, 1, 12, 9, 0, tzinfo=timezone.utc)
passed = []
for user in range(int(sys.argv[4])):
    time.sleep(max(0.0, start + user * 0.04 - time.time()))  # every process asks for this user at the same instant
    passed += [user for _ in range(2) if events.allow(db, "slack", f"U{user}", now, 3)]
print(" ".join(map(str, passed)))
"""


def test_the_hourly_limit_holds_when_16_processes_ask_at_once(tmp_path):
    """12 processes ask for the same 40 users, one user at a time, each twice: 24 tries per user, 3 pass."""
    path = tmp_path / "bot.db"
    open_db(path)  # migrated once, before the race
    procs = [subprocess.Popen([sys.executable, "-c", RACER, str(ROOT), str(path), "", "40"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(12)]
    for proc in procs:
        assert proc.stdout.readline() == "ready\n", proc.stderr.read()
    start = time.time() + 0.2  # every process is up and waiting when the clock strikes
    for proc in procs:
        proc.stdin.write(f"{start}\n")
        proc.stdin.flush()
    passed: Counter[int] = Counter()
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        passed.update(int(user) for user in out.split())
    assert passed == {user: 3 for user in range(40)}
    rows = open_db(path).execute("SELECT count(*) FROM command_log").fetchone()[0]
    assert rows == 120


# -- buttons count: a running bot, signed block_actions requests through Bolt ---------------------------------

@pytest.fixture
def limited(tmp_path):
    """A running bot (HTTP mode) whose users may make 2 costly requests an hour."""
    with running_bot(tmp_path, DIGEST_USER_LIMIT="2") as (bot, slack, llm, url, shas):
        yield bot, slack, llm, url + "/slack/events", shas


def click(url: str, slack: SlackServer, action_id: str, value: dict, message_ts: str = "") -> list:
    """A signed button click by U1; what U1 was answered through its response_url (waited for)."""
    response_url = slack.response_url("C1", "U1", message_ts or None)
    status, _, _ = post_signed(url, block_action_body(action_id, json.dumps(value), message_ts=message_ts,
                                                      response_url=response_url))
    assert status == 200
    return response_url


def test_deep_analysis_and_post_to_channel_clicks_count_against_the_hourly_limit(limited):
    bot, slack, llm, url, shas = limited
    top = slack.post_user_message("C1", "a digest")
    for sha in shas[:2]:  # two new deep analyses: the 2 costly requests of the hour
        click(url, slack, f"deep_analysis:{sha[:7]}", {"repo": REPO, "sha": sha, "lang": "en"}, top.ts)
    slack.wait_for(lambda: len(slack.replies(top.ts)) == 2, timeout=30)
    calls = len(llm.requests)
    third = click(url, slack, f"deep_analysis:{shas[2][:7]}", {"repo": REPO, "sha": shas[2], "lang": "en"}, top.ts)
    refused = slack.wait_for(lambda: slack.responses_to(third), timeout=10)
    assert "2 analyses in the last hour" in json.dumps(refused[-1].body)
    # a button's value can name any day: one never built is a costly request too
    post = click(url, slack, "post_to_channel", {"repo": REPO, "day": "2026-01-11", "zone": "UTC", "lang": "en",
                                                 "branch": None})
    refused = slack.wait_for(lambda: slack.responses_to(post), timeout=10)
    assert "2 analyses in the last hour" in json.dumps(refused[-1].body)
    time.sleep(0.3)
    assert len(llm.requests) == calls and len(slack.replies(top.ts)) == 2
    assert [m.ts for m in slack.messages("C1", top_level=True)] == [top.ts]  # nothing posted to the channel
    # an analysis already made is free: clicking it on another message answers from storage
    other = slack.post_user_message("C1", "another digest")
    click(url, slack, f"deep_analysis:{shas[0][:7]}", {"repo": REPO, "sha": shas[0], "lang": "en"}, other.ts)
    slack.wait_for(lambda: slack.replies(other.ts), timeout=10)
    assert len(llm.requests) == calls


# -- a daily budget of LLM tokens per person ---------------------------------------------------------------------

def billed(request: dict, content: str) -> int:
    """The tokens the local OpenAI server reports for one answered request (its usage: 4 characters a token)."""
    prompt = "".join(m["content"] for m in request["messages"])
    return (len(prompt) + 3) // 4 + (len(content) + 3) // 4


def test_a_user_over_the_daily_token_budget_is_refused_with_what_they_used(tmp_path):
    repo = GitRepo(tmp_path / "upstream")
    shas = day_of_commits(repo, 6)
    with SlackServer(channels=["C1"]) as slack, OpenAIServer(responder=answer) as llm:
        env = settings_env(tmp_path, slack, repo, **llm_env(llm), DIGEST_USER_TOKENS="500")
        bot = make_bot(env)
        say = Recorder()
        bot.ops.handle("slack", "C1", "U1", "/analyze", f"{shas[0][:8]} {REPO}", say)
        assert say.reports[-1].analysis.source == "llm"
        used = sum(billed(r, answer(r)) for r in llm.requests)  # what the endpoint reported, counted for U1
        assert 500 < used < 1000  # one deep analysis
        assert bot.service.db.execute("SELECT sum(tokens_in + tokens_out) FROM llm_usage WHERE spender = ?",
                                      ["slack:U1"]).fetchone()[0] == used
        calls = len(llm.requests)
        bot.ops.handle("slack", "C1", "U1", "/analyze", f"{shas[1][:8]} {REPO}", say)
        assert say.notices[-1] == (f"⏳ You have used {used} of 500 LLM tokens today; resets at 00:00 UTC. "
                                   "Digests already built are still free to ask for.")
        bot.ops.handle("slack", "C1", "U1", "/digest", f"2026-01-11 {REPO} lang zh", say)
        assert say.notices[-1].startswith(f"⏳ 你今天已使用 {used} / 500 个 LLM token；额度于 00:00 UTC 重置")
        assert len(llm.requests) == calls and len(say.reports) == 1 and not say.digests
        bot.ops.handle("slack", "C1", "U2", "/analyze", f"{shas[1][:8]} {REPO}", say)  # another person's budget
        assert len(say.reports) == 2 and len(llm.requests) > calls
        # the schedule is charged to no one; the day it built is free to ask for, even with the budget spent
        assert bot.publisher.post("slack", "C1", REPO, DAY, "UTC", "en", None).status == "posted"
        bot.ops.handle("slack", "C1", "U1", "/digest", f"2026-01-11 {REPO}", say)
        assert say.digests and say.digests[-1].coverage.llm == 6


def test_a_budget_spent_during_a_digest_leaves_the_rest_to_the_rules_and_the_next_build_asks_again(tmp_path):
    repo = GitRepo(tmp_path / "upstream")
    day_of_commits(repo, 6)
    with SlackServer(channels=["C1"]) as slack, OpenAIServer(responder=answer) as llm:
        env = settings_env(tmp_path, slack, repo, **llm_env(llm), LLM_CONCURRENCY="1", DIGEST_USER_TOKENS="1")
        bot = make_bot(env)
        say = Recorder()
        bot.ops.handle("slack", "C1", "U1", "/digest", f"2026-01-11 {REPO}", say)
        digest = say.digests[-1]
        assert len(llm.requests) == 1  # the one call admitted while U1 had used nothing
        assert digest.coverage.llm == 1 and digest.coverage.rules == 5 and digest.coverage.fallbacks == 0
        assert ("Your daily budget of 1 LLM tokens ran out while this was built: 5 analyses show the offline rules "
                "instead. Ask again after 00:00 UTC.") in digest.notes
        assert not list(bot.service.db.query("SELECT * FROM pending"))  # nothing queued on U1's behalf
        # the scheduled post does not reuse the starved digest: it asks the LLM for the rest, charged to no one
        assert bot.publisher.post("slack", "C1", REPO, DAY, "UTC", "en", None).status == "posted"
        assert len(llm.requests) == 6
        assert bot.service.finished_digest(bot.repo_ref(REPO), DAY, "UTC", "en").coverage.llm == 6
        assert bot.service.db.execute("SELECT count(*) FROM llm_usage WHERE spender IS NULL").fetchone()[0] == 5


def test_concurrent_calls_of_one_person_cannot_spend_past_the_budget_together(tmp_path):
    """Calls running at once were each admitted while their tokens were not yet known: with 8 calls at a time,
    a budget of 1 token let all 6 analyses of a day through. A running call now holds its largest prompt and
    answer against the budget, so only the first is made."""
    repo = GitRepo(tmp_path / "upstream")
    day_of_commits(repo, 6)
    with SlackServer(channels=["C1"]) as slack, OpenAIServer(responder=answer) as llm:
        env = settings_env(tmp_path, slack, repo, **llm_env(llm), LLM_CONCURRENCY="8", DIGEST_USER_TOKENS="1")
        bot = make_bot(env)
        say = Recorder()
        llm.hold()  # every call admitted is waiting at the endpoint at once
        try:
            with ThreadPoolExecutor(1) as pool:
                asked = pool.submit(bot.ops.handle, "slack", "C1", "U1", "/digest", f"2026-01-11 {REPO}", say)
                time.sleep(2.0)
                llm.release()
                asked.result(timeout=30)
        finally:
            llm.release()
        assert len(llm.requests) == 1
        assert say.digests[-1].coverage.llm == 1 and say.digests[-1].coverage.rules == 5


def test_a_scheduled_post_that_joins_a_build_starved_by_someones_budget_posts_every_analysis(tmp_path):
    """The schedule asking for the day while a person's /digest of it is being built shares that build: it posted
    the person's rules stand-ins, never replaced (they are not queued), and their "Your daily budget ... ran out"
    note, to the channel."""
    repo = GitRepo(tmp_path / "upstream")
    day_of_commits(repo, 6)
    with SlackServer(channels=["C1"]) as slack, OpenAIServer(responder=answer) as llm:
        env = settings_env(tmp_path, slack, repo, **llm_env(llm), LLM_CONCURRENCY="4", DIGEST_USER_TOKENS="1")
        bot = make_bot(env)
        say = Recorder()
        llm.hold()
        try:
            with ThreadPoolExecutor(2) as pool:
                asked = pool.submit(bot.ops.handle, "slack", "C1", "U1", "/digest", f"2026-01-11 {REPO}", say)
                time.sleep(1.0)  # U1's build is running, its one admitted call held
                posted = pool.submit(bot.publisher.post, "slack", "C1", REPO, DAY, "UTC", "en",
                                     None)
                time.sleep(1.0)
                llm.release()
                asked.result(timeout=30)
                assert posted.result(timeout=30).status == "posted"
        finally:
            llm.release()
        assert say.digests[-1].coverage.rules == 5  # U1's own answer: what their budget allowed
        shown = "\n".join(slack.all_text(m) for m in slack.messages("C1"))
        assert "daily budget" not in shown and "offline rules" not in shown
        assert bot.service.finished_digest(bot.repo_ref(REPO), DAY, "UTC", "en").coverage.llm == 6


def test_asking_github_about_a_repository_not_allowed_here_counts_against_the_hourly_limit(tmp_path):
    """Whether a repository named in chat is private is asked of GitHub before anything is counted: 30 commands
    naming repositories that do not exist (or a stored day of one not subscribed here) made 30 requests, spending
    GITHUB_TOKEN's 5,000 an hour that the scheduled posts need, past DIGEST_USER_LIMIT."""
    from tests.servers.github import GitHubServer

    repo = GitRepo(tmp_path / "upstream")
    day_of_commits(repo, 2)
    with SlackServer(channels=["C1"]) as slack, GitHubServer({"acme/open": repo.path}, token="ghp_test") as gh:
        env = {**settings_env(tmp_path, slack, repo, DIGEST_USER_LIMIT="3", SLACK_ADMINS="UADMIN"),
               "GITHUB_API_URL": gh.url, "GITHUB_TOKEN": "ghp_test"}
        bot = make_bot(env)
        say = Recorder()
        before = len(gh.requests)
        for i in range(10):
            bot.ops.handle("slack", "C1", "U1", "/digest", f"2026-01-11 acme/nope{i}", say)
            bot.ops.handle("slack", "C1", "U1", "/analyze", f"deadbeef{i} acme/nope{i}", say)
        assert len(gh.requests) - before == 3
        assert sum("not found on GitHub" in n for n in say.notices) == 3
        assert "You have asked for 3 analyses in the last hour" in say.notices[-1]
        # a pattern in DIGEST_ALLOWED_REPOS allows names without end: asking GitHub for their branch counts too
        wide = make_bot({**env, "DIGEST_ALLOWED_REPOS": "acme/*", "DATABASE_PATH": str(tmp_path / "wide.db")})
        before = len(gh.requests)
        for i in range(10):
            wide.ops.handle("slack", "C1", "U1", "/digest", f"2026-01-11 acme/gone{i}", say)
        assert len(gh.requests) - before == 3
        # a repository subscribed here asks GitHub nothing about its visibility: a stored day stays free
        bot.ops.handle("slack", "C1", "UADMIN", "/digest", "subscribe acme/open", say)
        bot.ops.handle("slack", "C1", "UADMIN", "/digest", "2026-01-11 acme/open", say)
        for _ in range(5):
            bot.ops.handle("slack", "C1", "UADMIN", "/digest", "2026-01-11 acme/open", say)
        assert len(say.digests) == 6


# -- failed calls count toward LLM_DAILY_TOKEN_CAP -----------------------------------------------------------

def test_failed_and_retried_calls_count_toward_the_daily_token_cap(repo, db):
    shas = sample_history(repo)
    with OpenAIServer(responder=answer) as server:
        llm = LLMAnalyser(LLMConfig(base_url=server.url + "/v1", api_key="test-key", model="test-model",
                                    max_retries=1, timeout=0.5))
        service = git_service(db, llm)
        # answered twice with invalid JSON (the repair too): the usage the server reported counts
        server.fault(Fault("invalid_json"), Fault("invalid_json"))
        assert service.analyze(clone_ref(repo), shas["docs"]).analysis.source == "rules"
        first = list(db.query("SELECT ok, tokens_in, tokens_out FROM llm_usage"))
        assert len(server.requests) == 2 and len(first) == 1 and first[0]["ok"] == 0
        assert first[0]["tokens_in"] + first[0]["tokens_out"] == sum(billed(r, INVALID_JSON_CONTENT)
                                                                     for r in server.requests)
        # two 500s (the SDK's retry included) report no usage: each still counts its prompt
        server.fault(Fault("status", status=500), Fault("status", status=500))
        assert service.analyze(clone_ref(repo), shas["side"]).analysis.source == "rules"
        failed = list(db.query("SELECT tokens_in, tokens_out FROM llm_usage WHERE rowid > 1"))
        sent = server.requests[2:]
        assert len(sent) == 2 and failed[0]["tokens_out"] == 0
        assert failed[0]["tokens_in"] >= 0.8 * sum(billed(r, "") for r in sent)
        spent = llm_store.tokens_since(db, NOW - timedelta(days=1))
        assert spent == sum(r["tokens_in"] + r["tokens_out"] for r in first + failed)
        # a cap of what the failed calls cost is reached: the next analysis makes no call
        capped = DigestService(db, GitSource, llm, clock=lambda: NOW, token_cap=spent)
        report = capped.analyze(clone_ref(repo), shas["breaking"])
        assert len(server.requests) == 4 and "daily token cap" in report.analysis.note


def test_a_timed_out_call_counts_its_prompt_and_the_longest_answer_it_could_have_had(repo, db):
    shas = sample_history(repo)
    with OpenAIServer(responder=answer) as server:
        llm = LLMAnalyser(LLMConfig(base_url=server.url + "/v1", api_key="test-key", model="test-model",
                                    max_retries=0, timeout=0.3))
        server.fault(Fault("timeout", delay=1))
        assert git_service(db, llm).analyze(clone_ref(repo), shas["docs"]).analysis.source == "rules"
        row = next(db.query("SELECT tokens_in, tokens_out FROM llm_usage"))
        assert row["tokens_out"] == server.requests[0]["max_tokens"] and row["tokens_in"] > 0
