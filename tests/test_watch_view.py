"""The daily post opens with "Touches your watches" and its mentions exactly when a watch matched (issue 14)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from core.models import Relevance
from core.watches import Mention, Watch
from digest import view
from digest.render import feishu as render_feishu
from digest.render import slack as render_slack
from tests.conftest import clone_ref, git_service, sample_history, utc
from tests.servers.feishu import card_problem
from tests.servers.slack import check_message

TEAM = Mention("slack", "group", "S0ATT", "@attention-team")
ANN = Mention("feishu", "user", "ou_7d8a6e6df7621556ce0d21922b676706", "Ann")


@pytest.fixture
def day(repo, db):
    shas = sample_history(repo)
    shas["ping"] = repo.commit("<!channel> <!here> <@U999> <at id=all></at> fix attention mask", {
        "python/sglang/srt/layers/attention/mask.py": "def mask():\n    return 1\n"}, utc(2026, 1, 11, 15))
    return shas, git_service(db).build_digest(clone_ref(repo), "2026-01-11", "UTC", "en")


def watched(digest, *watches: Watch, min_level: str | None = None):
    return replace(digest, relevance=Relevance(watches=watches, min_level=min_level))


def test_a_matching_watch_notifies_once_and_every_other_ping_stays_escaped(day):
    shas, digest = day
    d = watched(digest, Watch(1, "path", "python/sglang/srt/layers/attention/", TEAM),
                Watch(2, "keyword", "attention", TEAM), Watch(3, "path", "docs/", ANN))
    blocks = render_slack.summary_blocks(d)
    assert check_message(render_slack.fallback_text(d), blocks) is None
    said = json.dumps(blocks, ensure_ascii=False)
    assert said.count("<!subteam^S0ATT>") == 1  # once per post, though two watches name it and both matched
    assert "Touches your watches (2)" in said  # the attention commit (two watches), the docs commit
    for ping in ("<!channel>", "<!here>", "<@U999>"):
        assert ping not in said
    assert "&lt;!channel&gt;" in said
    assert "Ann" in said and "<at" not in said  # a Feishu person is named, not pinged, in Slack

    card = render_feishu.summary_card(d)
    assert card_problem(card) is None
    body = json.dumps(card, ensure_ascii=False)
    assert body.count("<at id=ou_7d8a6e6df7621556ce0d21922b676706></at>") == 1
    assert "<at id=all>" not in body and "<!subteam" not in body


def test_no_match_no_section_and_no_mention(day):
    _, digest = day
    d = watched(digest, Watch(1, "path", "python/sglang/srt/layers/moe/", TEAM), Watch(2, "author", "nobody", ANN))
    said = json.dumps(render_slack.summary_blocks(d), ensure_ascii=False)
    assert "Touches your watches" not in said and "subteam" not in said
    assert "<at id=ou_" not in json.dumps(render_feishu.summary_card(d), ensure_ascii=False)


def test_a_matching_breaking_change_is_listed_first(day):
    shas, digest = day
    d = watched(digest, Watch(1, "path", "python/", TEAM))
    top = view.build(d).top
    first = top.watched[0]
    assert any(s.url and shas["breaking"] in s.url for s in first) and "💥" in view.as_text(first)


def test_min_medium_lists_medium_commits_after_the_high_ones(day):
    _, digest = day
    top = view.build(watched(digest, min_level="medium")).top
    levels = [i.importance for i in top.high]
    assert "medium" in levels and levels == sorted(levels, key=("high", "medium", "low").index)
    assert view.build(watched(digest, min_level="high")).top.high == view.build(digest).top.high
