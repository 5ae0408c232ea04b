"""What the bot says, as a user reads it: `/analyze … tz ZONE`, messages that name only what the user asked for,
counts with their noun, and the line `bot.py run` starts with."""

from __future__ import annotations

import json

from handlers.config import Settings
from handlers import commands as cmd
from tests.servers.slack import slash_command_body
from tests.test_cli import run
from tests.test_slack import REPO, post_signed, running_bot


def test_analyze_takes_a_zone_like_digest_and_shows_the_commit_time_in_it(tmp_path):
    """`/analyze SHA owner/name tz Asia/Shanghai`: the report's commit time is Shanghai's, its zone named (the
    words `tz Asia/Shanghai` were taken for a second SHA)."""
    assert cmd.parse("/analyze", f"d112f6a {REPO} tz Asia/Shanghai") == cmd.AnalyzeCommand(
        "d112f6a", REPO, zone="Asia/Shanghai")
    with running_bot(tmp_path) as (bot, slack, llm, url, shas):
        response_url = slack.response_url("C1", "U1")
        post_signed(url + "/slack/events", slash_command_body("/analyze", f"{shas[0][:8]} {REPO} tz Asia/Shanghai",
                                                              response_url=response_url))
        answers = slack.wait_for(lambda: [r for r in slack.responses_to(response_url)
                                          if "Deep analysis" in json.dumps(r.body)], timeout=30)
        shown = json.dumps(answers[-1].body, ensure_ascii=False)
        assert "Committed: 2026-01-11 08:00:01 Asia/Shanghai" in shown  # 00:00:01 UTC
        help_url = slack.response_url("C1", "U1")
        post_signed(url + "/slack/events", slash_command_body("/digest", "help", response_url=help_url))
        help_ = json.dumps(slack.wait_for(lambda: slack.responses_to(help_url), timeout=10)[-1].body)
        assert "/analyze d112f6a [owner/name] [tz Asia/Shanghai]" in help_


def test_cli_analyze_shows_the_commit_time_in_the_zone_asked_for(repo, tmp_path):
    from tests.conftest import sample_history

    shas = sample_history(repo)
    out = run("analyze", shas["feature"][:8], "--git", str(repo.path), "--tz", "Asia/Shanghai",
              "--db", str(tmp_path / "a.db"))
    assert out.returncode == 0, out.stderr
    assert "2026-01-11 09:34:09 Asia/Shanghai" in out.stdout  # 01:34:09 UTC
    bad = run("analyze", shas["feature"][:8], "--git", str(repo.path), "--tz", "Mars/Base", "--db",
              str(tmp_path / "a.db"))
    assert bad.returncode == 2 and "unknown time zone 'Mars/Base'" in bad.stderr


def test_the_coverage_line_says_why_the_rules_analysed_the_day(repo, tmp_path):
    """An LLM configured and `--no-llm` given: the rules were asked for, not forced by a missing LLM."""
    from tests.conftest import sample_history

    sample_history(repo)
    llm = {"LLM_BASE_URL": "http://127.0.0.1:9/v1", "LLM_MODEL": "test-model", "LLM_API_KEY": "k"}
    off = run("digest", "--git", str(repo.path), "--date", "2026-01-11", "--no-llm", "--db", str(tmp_path / "a.db"),
              env=llm)
    assert off.returncode == 0, off.stderr
    assert "analysed by offline rules (--no-llm)" in off.stdout and "no LLM configured" not in off.stdout
    none = run("digest", "--git", str(repo.path), "--date", "2026-01-11", "--db", str(tmp_path / "b.db"))
    assert "4 commits analysed by offline rules (no LLM configured)" in none.stdout


def test_a_future_day_is_refused_naming_only_the_zone_the_user_gave(tmp_path):
    from tests.test_slack import Recorder, day_of_commits, make_bot, settings_env
    from tests.servers.slack import SlackServer
    from tests.gitrepo import GitRepo

    repo = GitRepo(tmp_path / "upstream")
    day_of_commits(repo, 1)
    with SlackServer(channels=["C1"]) as slack:
        bot = make_bot(settings_env(tmp_path, slack, repo, DIGEST_USER_LIMIT="1"))
        say = Recorder()
        bot.ops.handle("slack", "C1", "U1", "/digest", f"2030-01-01 {REPO}", say)
        assert "2030-01-01 is in the future" in say.notices[-1] and "Kiritimati" not in say.notices[-1]
        bot.ops.handle("slack", "C1", "U1", "/digest", f"2030-01-01 {REPO} tz Asia/Shanghai", say)
        assert "2030-01-01 is in the future in Asia/Shanghai" in say.notices[-1]
        # counts with their noun: a limit of one command an hour
        bot.ops.handle("slack", "C1", "U1", "/digest", f"2026-01-10 {REPO}", say)
        bot.ops.handle("slack", "C1", "U1", "/digest", f"2026-01-09 {REPO}", say)
        assert "You have asked for 1 analysis in the last hour" in say.notices[-1]


def test_post_to_the_feishu_webhook_says_cards_not_thread_replies(repo, tmp_path):
    import uuid

    from tests.conftest import sample_history
    from tests.servers.feishu import FeishuServer

    sample_history(repo)
    with FeishuServer(app_id=f"cli_{uuid.uuid4().hex[:12]}", app_secret="s", webhook_token="hooktoken",
                      webhook_secret="hook-secret", chats=["oc_1"]) as feishu:
        env = {"FEISHU_WEBHOOK_URL": f"{feishu.url}/open-apis/bot/v2/hook/hooktoken",
               "FEISHU_WEBHOOK_SECRET": "hook-secret", "GIT_CLONES": f"{REPO}={repo.path}",
               "DATABASE_PATH": str(tmp_path / "cli.db")}
        out = run("post", REPO, "--date", "2026-01-11", "--to", "feishu:webhook", env=env)
        assert out.returncode == 0, out.stderr
        details = len(feishu.webhook_posts) - 1  # after the top card
        assert details >= 1
        said = f"{details} detail card" + ("s" if details > 1 else "")
        assert out.stdout == f"feishu:webhook {REPO} 2026-01-11: posted, {said}\n"


def started_line(env: dict[str, str], *args: str, timeout: float = 60.0) -> str:
    """The first line `bot.py run` prints on stderr that says it runs (the process is stopped after it)."""
    import queue
    import threading

    from tests.test_slack import bot_process

    proc = bot_process(env, "run", *args)
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for line in proc.stderr:
            lines.put(line)
        lines.put("")  # the end: the process stopped

    threading.Thread(target=pump, daemon=True).start()
    seen = ""
    try:
        while line := lines.get(timeout=timeout):
            seen += line
            if "running" in line:
                return line.strip()
        raise AssertionError(f"bot.py run stopped before saying it runs: {seen}")
    finally:  # the line is what is tested here; stopping is test_web's (SIGKILL: nothing left behind to wait for)
        proc.kill()
        proc.wait(timeout=30)


def test_the_start_line_says_what_runs(tmp_path):
    """Mode, subscriptions, the LLM or the rules and the address: what an operator checks after `bot.py run`."""
    import re

    from tests.gitrepo import GitRepo
    from tests.servers.slack import SlackServer
    from tests.test_slack import day_of_commits, settings_env

    repo = GitRepo(tmp_path / "upstream")
    day_of_commits(repo, 1)
    llm = {"LLM_BASE_URL": "http://127.0.0.1:9/v1", "LLM_MODEL": "test-model", "LLM_API_KEY": "k"}
    with SlackServer(channels=["C1"]) as slack:
        http = started_line({**settings_env(tmp_path, slack, repo, DIGEST_REPOS=REPO), **llm})
        assert re.fullmatch(r"commit radar running: Slack HTTP \(/slack/events\); 1 subscription "
                            rf"\({REPO}\); LLM test-model; listening on 0\.0\.0\.0:\d+ \(/healthz\); Ctrl-C to stop",
                            http), http
        env = {**settings_env(tmp_path, slack, repo, DIGEST_REPOS=f"{REPO},acme/open", SLACK_APP_TOKEN=slack.app_token,
                              DATABASE_PATH=str(tmp_path / "socket.db"), DIGEST_ALLOWED_REPOS=f"{REPO},acme/open"),
               **llm, "FEISHU_WEBHOOK_URL": "http://127.0.0.1:9/open-apis/bot/v2/hook/hooktoken"}
        socket = started_line(env, "--no-llm")
        assert socket.startswith("commit radar running: Slack Socket Mode · Feishu webhook (posts only); 4 "
                                 f"subscriptions (acme/open, {REPO}); offline rules (--no-llm); listening on "
                                 "127.0.0.1:"), socket  # nothing comes in over HTTP: local only


def test_the_start_line_names_the_feishu_event_mode():
    from handlers import startup

    app = {"FEISHU_APP_ID": "cli_x", "FEISHU_APP_SECRET": "s"}
    assert startup.modes(Settings.from_env(app)) == ["Feishu ws (long connection)"]
    assert startup.modes(Settings.from_env({**app, "FEISHU_ENCRYPT_KEY": "k"})) == [
        "Feishu ws (long connection, card callbacks at /feishu/events)"]
    assert startup.modes(Settings.from_env({**app, "FEISHU_EVENT_MODE": "http", "FEISHU_ENCRYPT_KEY": "k"})) == [
        "Feishu http (/feishu/events)"]


def test_counts_in_the_string_table_take_their_noun():
    from digest.labels import text

    assert text("en", "breaking_told", n=1, shas="abc1234") == "1 breaking change it carries is listed under abc1234"
    assert text("en", "recovered", n=1) == "✅ The LLM answers again: 1 analysis of this digest was updated."
    assert text("en", "coverage_rules_off", n=1) == "1 commit analysed by offline rules (--no-llm)"
    assert ": 2 generated files or lockfiles" == text("en", "diff_generated", n=2)
    assert text("zh", "recovered", n=1) == "✅ LLM 已恢复：本摘要更新了 1 个分析。"
