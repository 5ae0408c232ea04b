"""Trusted analyses end to end: a day posted to the local Slack server while the LLM fails, then `bot.py
backfill` once it answers again. What a user ends up seeing, and that nothing is lost."""

from __future__ import annotations

import json

from tests.gitrepo import GitRepo
from tests.servers.openai import Fault, OpenAIServer
from tests.servers.slack import SlackServer
from tests.test_llm import answer
from tests.test_slack import bot_process, day_of_commits, finish, llm_env, settings_env

REPO = "sgl-project/sglang"
PLACEHOLDER = "offline rules analysis shown, queued for a retry"


def respond(req: dict) -> str:
    try:
        return answer(req)
    except StopIteration:  # a prompt without a file list (a map or combine call)
        return answer({**req, "messages": [req["messages"][0], {"content": "- README.md [modified]"}]})


def everything(slack: SlackServer) -> tuple[str, list[str]]:
    top = slack.messages("C1", top_level=True)
    assert len(top) == 1
    return slack.all_text(top[0]), [slack.all_text(m) for m in slack.replies(top[0].ts)]


def backfill_now(bot):  # noqa: ANN001, ANN201
    """What `bot.py backfill` runs: every queued retry now, posted messages updated through the Publisher."""
    from handlers.backfill import backfill

    return backfill(bot.service, bot.publisher, now=True)


def status(env: dict[str, str]) -> str:
    """What `/digest status` answers in the channel, from a bot on the same database."""
    from tests.test_slack import Recorder, make_bot

    say = Recorder()
    make_bot(env).ops.handle("slack", "C1", "U1", "/digest", "status", say)
    return say.notices[-1]


def told_in(replies: list[str], sha: str) -> str:
    """The part of the thread that tells one commit: from its line with `sha` to the next commit's."""
    import re

    thread = "\n".join(replies)
    start = thread.index(f"`{sha[:7]}`")
    after = re.search(r"\n[🔴🟡🟢] \*", thread[start:])
    return thread[start:start + after.start()] if after else thread[start:]


def run_day(tmp_path, outage: Fault | None, rate: float = 0.0) -> None:
    repo = GitRepo(tmp_path / "upstream")
    shas = day_of_commits(repo, 18)
    with SlackServer(channels=["C1"]) as slack, OpenAIServer(api_key="sk-a-key-that-never-shows", responder=respond) as llm:
        env = settings_env(tmp_path, slack, repo, LLM_BASE_URL=llm.url + "/v1", LLM_MODEL="test-model",
                           LLM_API_KEY="sk-a-key-that-never-shows", LLM_CONCURRENCY="4")
        if outage is not None:
            llm.outage(outage)
        if rate:
            llm.random_faults(rate, 7, Fault("status", status=500), Fault("status", status=502))
        out = finish(bot_process(env, "post", REPO, "--date", "2026-01-11", "--to", "slack:C1"))
        assert "posted" in out
        top, replies = everything(slack)
        assert sorted(s for r in replies for s in shas if s[:7] in r) == sorted(shas)  # nothing lost
        during = len(llm.chat_requests)
        if outage is not None:
            assert top.count("LLM unavailable since") == 1 and "403" in top  # one outage line, the real error
            assert sum(r.count(PLACEHOLDER) for r in replies) >= 18  # every analysis marked as a stand-in
            assert during <= 4 + 1  # the calls in flight when the first 403 came back, no more
            said = status(env)
            assert "LLM outage since" in said and "403 Forbidden" in said  # told in /digest status
        llm.outage(None)
        llm.random_faults(0, 0)
        line = finish(bot_process(env, "-v", "backfill"))
        top, replies = everything(slack)
        assert "LLM unavailable" not in top and not any(PLACEHOLDER in r for r in replies)  # no placeholder left
        assert "18/18 commits analysed by test-model" in top
        if outage is not None:
            assert "retried 18, 18 analysed by test-model, 0 still pending; 1 digest rebuilt" in line, line
            assert "18 after a retry" in top
            assert any("The LLM answers again" in r for r in replies)
            assert slack.updates  # the posted messages were edited in place, not posted again
        assert len(slack.messages("C1", top_level=True)) == 1
        said = status(env)
        assert "LLM outage" not in said and "0 analyses queued for a retry" in said
        assert "sk-a-key-that-never-shows" not in json.dumps([m.text for m in slack.messages()] + [line])


def test_a_day_posted_during_a_403_outage_is_repaired_by_the_backfill(tmp_path):
    run_day(tmp_path, Fault("status", status=403))


def test_a_day_posted_with_30_percent_of_calls_failing_ends_with_no_placeholder(tmp_path):
    run_day(tmp_path, None, rate=0.3)


def test_the_daily_token_cap_stops_new_calls_and_queues_the_rest_for_tomorrow(tmp_path):
    from datetime import datetime, timezone

    from storage import analyses as stored_analyses
    from tests.test_slack import make_bot

    repo = GitRepo(tmp_path / "upstream")
    day_of_commits(repo, 6)
    with SlackServer(channels=["C1"]) as slack, OpenAIServer(responder=respond) as llm:
        env = settings_env(tmp_path, slack, repo, **llm_env(llm), LLM_CONCURRENCY="1", LLM_DAILY_TOKEN_CAP="1")
        bot = make_bot(env)
        from datetime import date
        digest = bot.service.build_digest(bot.repo_ref(REPO), date(2026, 1, 11), "UTC", "en")
        assert len(llm.chat_requests) == 1  # the first call used the day's tokens; the queued ones were not made
        capped = [e for e in digest.entries if "daily token cap of 1 reached" in e.analysis.note]
        assert len(capped) >= 4 and len(capped) + len(llm.chat_requests) == 6
        tomorrow = datetime.now(timezone.utc).date().isoformat()
        assert all(r["next_at"] > tomorrow for r in stored_analyses.pending_rows(bot.service.db))
        say = __import__("tests.test_slack", fromlist=["Recorder"]).Recorder()
        bot.ops.handle("slack", "C1", "U1", "/digest", "status", say)
        assert "LLM cost, last 7 days:" in say.notices[-1] and "cap 1 a day" in say.notices[-1]


def test_the_backfill_moves_a_commit_now_high_gives_it_a_deep_analysis_and_appends_late_commits(tmp_path):
    """Posted during a 403 outage, a small kv-cache change is shown by the rules as low. Once the LLM answers, it
    calls it high: the backfill moves it to the high section of the top message and adds its deep analysis in
    place in the thread. Two commits pushed late into the same day follow in one reply that says so."""
    from datetime import datetime, timezone

    from tests.test_slack import DAY, make_bot

    repo = GitRepo(tmp_path / "upstream")
    shas = day_of_commits(repo, 6)
    hot = repo.commit("tweak the cache helper", {"python/sglang/srt/kvcache_util.py": "N = 1\n"},
                      datetime(2026, 1, 11, 12, 0, tzinfo=timezone.utc))
    with SlackServer(channels=["C1"]) as slack, OpenAIServer(responder=respond) as llm:
        env = settings_env(tmp_path, slack, repo, **llm_env(llm), LLM_CONCURRENCY="2")
        llm.outage(Fault("status", status=403))
        bot = make_bot(env)
        assert bot.publisher.post("slack", "C1", REPO, DAY, "UTC", "en", None).status == "posted"
        top, replies = everything(slack)
        high_part = top.split("High importance")[1].split("Medium importance")[0] if "High importance" in top else ""
        assert "tweak the cache helper" not in high_part  # the rules do not call it high
        assert "⚠️ Risk" not in told_in(replies, hot)

        llm.outage(None)
        late = [repo.commit(f"fix: late change {i}", {f"python/sglang/srt/late_{i}.py": f"x = {i}\n"},
                            datetime(2026, 1, 11, 22, 10 * i, tzinfo=timezone.utc)) for i in range(2)]
        report = backfill_now(make_bot(env))  # as `bot.py backfill`: a new process, a fresh breaker
        assert report.still_pending == 0 and report.analysed == 7, report

        top, replies = everything(slack)
        assert "tweak the cache helper" in top.split("High importance")[1].split("Medium importance")[0]
        assert "⚠️ Risk" in told_in(replies, hot)  # the deep analysis' main risk, where the commit was told
        late_replies = [r for r in replies if "2 commits added since this digest was posted" in r]
        assert len(late_replies) == 1 and all(s[:7] in late_replies[0] for s in late)
        told = [s for r in replies for s in shas + [hot] + late if f"`{s[:7]}`" in r]
        assert sorted(told) == sorted(shas + [hot] + late)  # every commit once in the thread, none lost or repeated
        assert len(slack.messages("C1", top_level=True)) == 1 and slack.updates
        notices = [m.text for m in slack.replies(slack.messages("C1", top_level=True)[0].ts)][-2:]
        assert "2 commits added since this digest was posted" in notices[0]  # what a notification shows
        assert "The LLM answers again: 7 analyses of this digest were updated" in notices[1]


def test_status_says_the_llm_is_failing_before_the_breaker_opens(tmp_path):
    from tests.test_slack import DAY, Recorder, make_bot

    repo = GitRepo(tmp_path / "upstream")
    day_of_commits(repo, 1)
    with SlackServer(channels=["C1"]) as slack, OpenAIServer(responder=respond) as llm:
        env = settings_env(tmp_path, slack, repo, **llm_env(llm), LLM_CONCURRENCY="1")
        bot = make_bot(env)
        llm.fault(*[Fault("status", status=502)] * 3)  # one call failed after the SDK's 2 retries: suspect, not paused
        bot.service.build_digest(bot.repo_ref(REPO), DAY, "UTC", "en")
        say = Recorder()
        bot.ops.handle("slack", "C1", "U1", "/digest", "status", say)
        assert "failing (1 failed call in a row, new calls held) since" in say.notices[-1]
        assert "HTTP 502" in say.notices[-1] and "1 analysis queued for a retry" in say.notices[-1]


def thread_of(slack: SlackServer, channel: str) -> tuple[str, list[str]]:
    top = slack.messages(channel, top_level=True)
    assert len(top) == 1, channel
    return slack.all_text(top[0]), [slack.all_text(m) for m in slack.replies(top[0].ts)]


def test_a_post_resumed_after_a_kill_is_brought_up_to_date_like_the_others(tmp_path):
    """During a 403 outage a day is posted to CA, and to CB by a process killed once CB's top message and first
    reply are in; CB's post is resumed by another process. A commit is pushed late for that day; once the LLM
    answers, `bot.py backfill` replaces every stand-in and adds the late commit once, in both channels."""
    import signal
    from datetime import datetime, timezone

    repo = GitRepo(tmp_path / "upstream")
    shas = day_of_commits(repo, 18)
    with SlackServer(channels=["CA", "CB"]) as slack, OpenAIServer(responder=respond) as llm:
        env = settings_env(tmp_path, slack, repo, **llm_env(llm), LLM_CONCURRENCY="4")
        llm.outage(Fault("status", status=403))
        assert "posted" in finish(bot_process(env, "post", REPO, "--date", "2026-01-11", "--to", "slack:CA"))
        slack.fail("chat.postMessage", "post_then_hang", after=1)  # CB's top passes; its first reply never answers
        killed = bot_process(env, "post", REPO, "--date", "2026-01-11", "--to", "slack:CB")
        slack.wait_for(lambda: len(slack.messages("CB")) >= 2, timeout=60)
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=10)
        assert "posted" in finish(bot_process(env, "post", REPO, "--date", "2026-01-11", "--to", "slack:CB"))
        for channel in ("CA", "CB"):
            _, replies = thread_of(slack, channel)
            assert sum(r.count(PLACEHOLDER) for r in replies) >= 18, channel  # every analysis a stand-in

        late = repo.commit("fix: pushed late for the day", {"python/sglang/srt/late.py": "x = 1\n"},
                           datetime(2026, 1, 11, 23, 0, tzinfo=timezone.utc))
        llm.outage(None)
        finish(bot_process(env, "backfill"))
        for channel in ("CA", "CB"):
            top, replies = thread_of(slack, channel)
            assert not any(PLACEHOLDER in r for r in replies) and "LLM unavailable" not in top, channel
            assert "19/19 commits analysed by test-model" in top, channel
            told = [s for r in replies for s in shas + [late] if f"`{s[:7]}`" in r]
            assert sorted(told) == sorted(shas + [late]), channel  # the late commit once; none lost or repeated


def test_posts_left_without_a_branch_by_older_code_are_brought_up_to_date_once(tmp_path):
    """A database written before the fix above holds resumed posts whose branch is NULL (the default branch):
    the backfill names it and updates them, once each, like the others."""
    from tests.test_slack import DAY, make_bot

    repo = GitRepo(tmp_path / "upstream")
    day_of_commits(repo, 4)
    with SlackServer(channels=["CA", "CB"]) as slack, OpenAIServer(responder=respond) as llm:
        env = settings_env(tmp_path, slack, repo, **llm_env(llm), LLM_CONCURRENCY="2")
        llm.outage(Fault("status", status=403))
        bot = make_bot(env)
        for channel in ("CA", "CB"):
            assert bot.publisher.post("slack", channel, REPO, DAY, "UTC", "en", None).status == "posted"
        with bot.service.db.conn:  # as the code before the fix left a resumed post
            bot.service.db.execute("UPDATE posts SET branch = NULL WHERE channel = 'CB'")
        llm.outage(None)
        report = backfill_now(make_bot(env))
        assert report.still_pending == 0, report
        for channel in ("CA", "CB"):
            _, replies = thread_of(slack, channel)
            assert not any(PLACEHOLDER in r for r in replies), channel
            assert sum("The LLM answers again" in r for r in replies) == 1, channel  # refreshed once, not twice
