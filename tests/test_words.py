"""What the bot says, as a user reads it: `/analyze … tz ZONE`, messages that name only what the user asked for,
counts with their noun, and the line `bot.py run` starts with."""

from __future__ import annotations

import json

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
