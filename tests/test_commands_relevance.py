"""The words of issue 14 in the one chat grammar: watch, unwatch, watches, the subscription's filters, ranges."""

from __future__ import annotations

import pytest

from core.errors import BadInput
from core.watches import Mention
from handlers.config import Settings
from handlers.commands import (BadCommand, DigestCommand, ListWatches, Subscribe, Unwatch, WatchCommand, parse,
                               parse_mention)


def test_a_watch_with_a_slack_group_as_slack_sends_it():
    c = parse("/digest", "watch sgl-project/sglang path python/sglang/srt/layers/attention/ notify "
                         "<!subteam^S0ATT|@attention-team>")
    assert c == WatchCommand("sgl-project/sglang", "path", "python/sglang/srt/layers/attention/",
                             Mention("slack", "group", "S0ATT", "@attention-team"))


def test_keywords_and_authors_may_be_quoted_phrases():
    assert parse("/digest", 'watch a/b keyword “breaking change” notify <@U1AB|ann>').pattern == "breaking change"
    assert parse("/digest", 'watch a/b author "Bob Builder"').pattern == "Bob Builder"
    assert parse("/digest", "watch a/b flag --enable-*").pattern == "--enable-*"


@pytest.mark.parametrize("text", ["watch a/b path x notify <!channel>", "watch a/b path x notify @alice",
                                  "watch a/b path x notify <!here>", "watch a/b flag enable-x", "watch a/b color red",
                                  "watch a/b path a b", "watch a/b/c path x", "unwatch a/b two", "watches a/b c/d",
                                  "watch a/b path ../../etc/passwd"])
def test_bad_watches_are_refused_with_the_usage(text):
    with pytest.raises(BadCommand) as err:
        parse("/digest", text)
    assert err.value.topic == "watch" and "Traceback" not in str(err.value)


def test_only_a_platform_mention_notifies():
    assert parse_mention("<at:ou_7d8a6e6df7621556ce0d21922b676706|Ann>") == Mention(
        "feishu", "user", "ou_7d8a6e6df7621556ce0d21922b676706", "Ann")
    for word in ("<!channel>", "<!everyone>", "<@U1|x><!channel>", "<at user_id=\"all\">", "@all"):
        with pytest.raises(BadCommand):
            parse_mention(word)


def test_unwatch_and_listing():
    assert parse("/digest", "unwatch a/b 3") == Unwatch("a/b", 3)
    assert parse("/digest", "watches") == ListWatches() and parse("/digest", "watches a/b") == ListWatches("a/b")


def test_filters_and_roll_ups_of_a_subscription():
    c = parse("/digest", "subscribe a/b weekly Monday 09:00 daily off skip-authors dependabot[bot],pre-commit-ci[bot] "
                         "min high paths python/sglang/srt/**,docs/ quiet unless-watched")
    assert c == Subscribe("a/b", skip_authors=("dependabot[bot]", "pre-commit-ci[bot]"), min_level="high",
                          paths=("python/sglang/srt/**", "docs/"), weekly="mon 09:00", daily=False,
                          quiet="unless-watched")
    assert parse("/digest", "subscribe a/b skip-authors none weekly off") == Subscribe("a/b", skip_authors=(),
                                                                                        weekly="off")
    for bad in ("subscribe a/b weekly funday 09:00", "subscribe a/b weekly mon 25:00", "subscribe a/b min low",
                "subscribe a/b daily maybe", "subscribe a/b paths ../x", "subscribe a/b quiet sometimes"):
        with pytest.raises(BadCommand):
            parse("/digest", bad)


def test_ranges_and_the_week_are_days_of_a_digest_command():
    assert parse("/digest", "2026-01-05..2026-01-11 a/b") == DigestCommand(day="2026-01-05..2026-01-11", repo="a/b")
    assert parse("/digest", "week").day == "week"
    with pytest.raises(BadCommand):
        parse("/digest", "2026-01-05..2026-01-06 2026-01-07")


def test_digest_repos_carries_filters_and_watches_in_the_chat_words():
    s = Settings.from_env({"DIGEST_REPOS": "sgl-project/sglang min high skip-authors dependabot[bot] paths python/** "
                                           "watch path python/sglang/srt/layers/attention/ notify <!subteam^S0ATT> "
                                           "watch flag --enable-*; vllm-project/vllm"})
    assert s.digest_repos == ("sgl-project/sglang", "vllm-project/vllm")
    sglang = s.repo_options[0]
    assert sglang.subscribe.min_level == "high" and sglang.subscribe.skip_authors == ("dependabot[bot]",)
    assert [(w.kind, w.pattern, w.mention) for w in sglang.watches] == [
        ("path", "python/sglang/srt/layers/attention/", Mention("slack", "group", "S0ATT", "")),
        ("flag", "--enable-*", None)]
    assert Settings.from_env({"DIGEST_REPOS": "a/b, c/d"}).digest_repos == ("a/b", "c/d")  # names only, as before
    for bad in ("a/b min low", "a/b; a/b", "a/b watch path ../x", "a/b/c"):
        with pytest.raises(BadInput, match="DIGEST_REPOS"):
            Settings.from_env({"DIGEST_REPOS": bad})


def test_odd_numbers_and_a_subscription_that_would_never_post_are_refused():
    for text in ("unwatch a/b 99999999999999999999999", "unwatch a/b ²", "unwatch a/b -1",
                 "subscribe a/b daily off", "subscribe a/b daily off weekly off"):
        with pytest.raises(BadCommand):
            parse("/digest", text)
    assert parse("/digest", "subscribe a/b daily off weekly sun 18:00").daily is False


def test_quoted_names_with_spaces_are_one_word():
    c = parse("/digest", 'subscribe a/b skip-authors "Ada Lovelace,dependabot[bot]"')
    assert c.skip_authors == ("Ada Lovelace", "dependabot[bot]")
    assert parse("/digest", "watch a/b author “Bob Builder” notify <@U0ANN|ann>").pattern == "Bob Builder"
