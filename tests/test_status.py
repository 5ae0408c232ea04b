"""`/digest status` as a reader sees it: every time with its zone's IANA name (never a bare ISO time nor an
abbreviation such as CST), one number format for tokens, every word in the reader's language. Real SQLite, a
real post to the local Slack server, the local OpenAI server as the configured LLM."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from digest.labels import thousands
from storage import llm as llm_store
from storage import outages
from storage import subscriptions as subs
from tests.gitrepo import GitRepo
from tests.servers.openai import OpenAIServer
from tests.servers.slack import SlackServer
from tests.test_backfill import respond
from tests.test_slack import DAY, REPO, Recorder, day_of_commits, llm_env, make_bot, settings_env

NOW = datetime(2026, 1, 12, 1, 19, tzinfo=timezone.utc)  # 09:19 in Shanghai, the day after DAY


def status_of(tmp_path, lang: str) -> tuple[str, tuple[int, int, int]]:  # noqa: ANN001
    """The status answer, and the LLM tokens in, out and calls of the week (the post's calls and 852,804 more)."""
    repo = GitRepo(tmp_path / "upstream")
    day_of_commits(repo, 3)
    with SlackServer(channels=["C1"]) as slack, OpenAIServer(responder=respond) as llm:
        bot = make_bot(settings_env(tmp_path, slack, repo, **llm_env(llm), LLM_DAILY_TOKEN_CAP="2000000"),
                       clock=lambda: NOW)
        said = Recorder()
        bot.ops.handle("slack", "C1", "U1", "/digest", f"subscribe {REPO} at 09:00 tz Asia/Shanghai lang {lang}", said)
        assert said.notices[-1].startswith("✅") and "2026-01-13 09:00 Asia/Shanghai" in said.notices[-1], said.notices
        assert "CST" not in said.notices[-1]  # the next post's time, as the subscribe answer says it
        sub = subs.get(bot.service.db, "slack", "C1", REPO)
        assert bot.publisher.post_subscription(sub, DAY).status == "posted"
        llm_store.record_usage(bot.service.db, repo=REPO, sha="0" * 40, depth="brief", model="test-model",
                               mode="json", ok=True, tokens_in=852_804, tokens_out=71_700, seconds=1.0, error=None,
                               at=NOW - timedelta(days=1))
        outages.begin(bot.service.db, bot.service.llm.config.endpoint, "HTTP 403 Forbidden",
                      datetime(2026, 1, 11, 23, 5, tzinfo=timezone.utc))
        bot.ops.handle("slack", "C1", "U1", "/digest", "status", said)
        return said.notices[-1], llm_store.tokens_by_day(bot.service.db, NOW - timedelta(days=7))


def test_status_names_every_zone_and_reads_tokens_one_way_in_english(tmp_path):
    said, (tokens_in, tokens_out, calls) = status_of(tmp_path, "en")
    assert "last post 2026-01-11: posted 2026-01-12 09:19 Asia/Shanghai" in said, said  # the subscription's zone
    assert "next 2026-01-13 09:00 Asia/Shanghai" in said, said
    assert "LLM outage since 2026-01-12 07:05 Asia/Shanghai: HTTP 403 Forbidden" in said, said
    assert f"{thousands(tokens_in)} tokens in, {thousands(tokens_out)} out, {calls} calls (cap " \
           f"{thousands(2_000_000)} a day)" in said, said
    assert str(tokens_in) not in said and "CST" not in said
    assert not re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d", said), said  # no bare ISO time
    assert not re.search(r"\d\d:\d\d(?! (Asia/Shanghai|UTC))", said), said  # every time says its zone


def test_status_is_in_chinese_for_a_chinese_channel(tmp_path):
    said, (tokens_in, tokens_out, calls) = status_of(tmp_path, "zh")
    assert "Commit Radar 状态" in said
    assert "上次发送 2026-01-11：已于 2026-01-12 09:19 Asia/Shanghai 发送" in said, said
    assert "下次 2026-01-13 09:00 Asia/Shanghai" in said, said
    assert f"输入 {thousands(tokens_in)} tokens，输出 {thousands(tokens_out)}，{calls} 次调用" in said, said
    assert "LLM 自 2026-01-12 07:05 Asia/Shanghai 起不可用" in said, said
    assert "GitHub：未设置 GITHUB_TOKEN" in said
    english = [w for w in ("next", "last post", "posted", "tokens in", "queued", "outage", "requests/h")
               if w in said]
    assert not english, (english, said)
