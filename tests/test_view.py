"""Issue 13's rules for what a reader gets, checked on the Slack and Feishu payloads the bot posts (validated by the
local servers' own checks) and on real digests of real repositories."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, timezone

import pytest

from core.models import Analysis, Commit, Digest, Entry, Grounding
from core.window import day_window
from digest import labels, view
from digest.labels import TEXT, text, thousands
from digest.render import feishu, slack
from tests.bigday import big_day
from tests.conftest import clone_ref, git_service, utc
from tests.servers.feishu import card_problem
from tests.servers.slack import check_message

DAY = date(2026, 1, 11)
REPO = "sgl-project/sglang"
WEB = f"https://github.com/{REPO}"


def visible(payload: object) -> str:
    """What a reader sees: every text of the payload, Slack links and Feishu links reduced to their labels,
    entities unescaped, emphasis marks dropped."""
    texts: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key in ("text", "content") and isinstance(value, str):
                    texts.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(payload)
    shown = "\n".join(texts)
    shown = re.sub(r"<https?://[^|>]+\|([^>]*)>", r"\1", shown)  # Slack splits at the first `|`
    shown = re.sub(r"\[([^\]]*)\]\(https?://[^)]+\)", r"\1", shown)
    shown = shown.replace("*", "")
    for entity, char in (("&#124;", "|"), ("&#35;", "#"), ("&#42;", "*"), ("&#95;", "_"), ("&#96;", "`"),
                         ("&#91;", "["), ("&#93;", "]"), ("&#126;", "~"), ("&#36;", "$"), ("&lt;", "<"),
                         ("&gt;", ">"), ("&amp;", "&")):
        shown = shown.replace(entity, char)
    return shown


def commit(i: int, title: str, *, lines: int = 40) -> Commit:
    sha = f"{i:07x}" + "ab" * 16 + "c"
    return Commit(repo=REPO, sha=sha, title=title, message=title, author="Ada Lovelace",
                  committed_at=datetime(2026, 1, 11, 8, i % 60, tzinfo=timezone.utc), parents=("0" * 40,),
                  url=f"{WEB}/commit/{sha}", additions=lines, deletions=1)


def analysis(level: str, summary: str, **kw: object) -> Analysis:
    return Analysis(change_type="fix", importance=level, importance_reason=kw.pop("reason", "changes runtime code"),
                    summary=summary, source="llm", model="test-model", **kw)  # type: ignore[arg-type]


def digest_of(*entries: Entry, lang: str = "en") -> Digest:
    return Digest(REPO, day_window(DAY, "UTC"), lang, "main", entries,
                  datetime(2026, 1, 12, 1, tzinfo=timezone.utc), web_url=WEB)


def slack_post(digest: Digest) -> tuple[list[dict], list[list[dict]]]:
    top = slack.summary_blocks(digest, thread_hint=True)
    replies = [blocks for blocks, _ in slack.detail_messages(digest)]
    assert check_message(slack.fallback_text(digest), top) is None
    assert all(check_message("reply", blocks) is None for blocks in replies)
    return top, replies


# -- the top message reads in a minute --------------------------------------------------------------------------

@pytest.mark.parametrize("lang", ["en", "zh"])
def test_the_top_message_of_a_300_commit_day_is_under_3000_visible_characters(lang):
    digest = big_day(300, lang)
    top, replies = slack_post(digest)
    (card, _), details = feishu.digest_cards(digest, app=True)
    assert card_problem(card) is None
    for shown in (visible(top), visible(card)):
        assert len(shown) <= 3000, len(shown)
    high = [b for b in top if b.get("accessory")]
    assert len(high) == 8  # the high commits that matter most; the rest counted
    assert ("🔴 22 more high · 🟡 90 medium · 🟢 180 low: in the thread" if lang == "en"
            else "🔴 另有 22 个高重要度 · 🟡 中 90 · 🟢 低 180：见讨论串") in visible(top)
    thread = "\n".join(visible(r) for r in replies)
    assert len(thread) / 300 <= 1000  # compact: the full analysis is one click away


def test_breaking_changes_are_five_lines_at_most_and_not_said_again_under_the_high_commits():
    change = "`--load-balance-method` removed from the server arguments"
    entries = tuple(Entry(commit(i, f"refactor: drop an old option {i} (#{700 + i})"),
                          analysis("high", f"{change}. The router picks the method itself now.",
                                   breaking_changes=[change if i == 0 else f"`--old-{i}` removed"]))
                    for i in range(7))
    top, _ = slack_post(digest_of(*entries))
    shown = visible(top)
    assert shown.count(change) == 1  # listed once, with the breaking changes
    assert "The router picks the method itself now." in shown  # the high commit says what its title does not
    assert len(re.findall(r"^• ", shown, re.M)) == 5 and "+2 more: in the thread" in shown


# -- a summary never restates its title --------------------------------------------------------------------------

def test_a_summary_never_restates_its_title(repo, db):
    """The rules' summary starts with the title: the digest shows the next useful sentence instead."""
    repo.commit("fix(peagle): make checkpoint reload robust\n\nReload no longer drops the optimizer state.",
                {"python/peagle/checkpoint.py": "def reload():\n    return 1\n" * 30}, utc(2026, 1, 11, 8))
    repo.commit("feat(router): add the cache-aware policy",
                {"python/router/policy.py": "def route():\n    return 2\n" * 60}, utc(2026, 1, 11, 9))
    digest = git_service(db).build_digest(clone_ref(repo), DAY, "UTC", "en")
    top, replies = slack_post(digest)
    (card, _), details = feishu.digest_cards(digest, app=True)
    for shown in (visible(top) + visible(replies), visible(card) + visible([c for c, _ in details])):
        assert shown.count("make checkpoint reload robust") == shown.count("fix(peagle): make checkpoint reload robust")
        assert "Reload no longer drops the optimizer state." in shown
        for title in ("fix(peagle): make checkpoint reload robust", "feat(router): add the cache-aware policy"):
            assert not re.search(re.escape(title) + r"[^\n]*\n[^\n]*" + re.escape(title), shown)
    from digest.render import markdown, text as render_text

    report = markdown.render_digest(digest)
    assert "**📋 Summary**：Reload no longer drops the optimizer state." in report
    assert "Summary**：fix" not in report and "Summary**：feat" not in report
    terminal = render_text.render_digest(digest)
    assert terminal.count("make checkpoint reload robust") == 1 and "Reload no longer drops" in terminal


@pytest.mark.parametrize("sentence, title, same", [
    ("fix(peagle): make checkpoint reload robust.", "fix(peagle): make checkpoint reload robust", True),
    ("Make checkpoint reload robust.", "fix(peagle): make checkpoint reload robust (#12)", True),
    ("Reload no longer drops the optimizer state.", "fix(peagle): make checkpoint reload robust", False),
    ("Make checkpoint reload robust by keeping the optimizer state.", "fix(peagle): make checkpoint reload robust",
     True),
    ("修复调度器的竞争条件。", "修复调度器的竞争条件", True),
])
def test_restates(sentence, title, same):
    assert view.restates(sentence, title) is same


# -- words -------------------------------------------------------------------------------------------------------

def test_the_string_tables_have_plurals_and_no_chat_markup():
    for lang in ("en", "zh"):
        for key, value in TEXT[lang].items():
            assert "(s)" not in value and "<#" not in value and not re.search(r"\*\w", value), (lang, key)
    assert TEXT["en"].keys() == TEXT["zh"].keys()
    assert text("en", "coverage_told", n=1) == " · 1 merge told through its commits"
    assert text("en", "coverage_told", n=26) == " · 26 merges told through their commits"
    assert text("zh", "coverage_told", n=26) == " · 26 个合并通过其提交展示"
    assert thousands(852804) == "852.8k" and thousands(717000) == "717k" and thousands(999) == "999"
    assert labels.text("en", "notify_details", repo="r", day="d", n=1) == "r d: 1 commit"


def test_notification_texts_are_in_the_readers_language():
    digest = big_day(20, "zh")
    top = slack.fallback_text(digest)
    reply = slack.details_fallback(digest, (digest.entries[0].commit.sha,))
    count = {level: sum(1 for e in digest.entries if e.importance == level) for level in ("high", "medium", "low")}
    assert top == "sgl-project/sglang 2026-01-11：20 个提交，高 {high}，中 {medium}，低 {low}".format(**count)
    assert reply == "sgl-project/sglang 2026-01-11：1 个提交"
    assert not re.search(r"commit|high|medium|low", top + reply)


def test_a_pipe_in_a_title_shows_as_typed_in_slack_and_feishu():
    e = Entry(commit(1, "perf: fuse a | b kernels (#801)"), analysis("high", "Halves the launch overhead."))
    top, replies = slack_post(digest_of(e))
    assert "¦" not in json.dumps([top, replies], ensure_ascii=False)
    assert "perf: fuse a | b kernels" in visible(top) and "perf: fuse a | b kernels" in visible(replies)
    (card, _), details = feishu.digest_cards(digest_of(e))
    assert "perf: fuse a | b kernels" in visible(card) and "perf: fuse a | b kernels" in visible(details[0][0])


def test_unverified_is_explained_in_the_message_where_it_appears():
    grounded = Grounding(cited=2, verified=1, unverified=["made_up_function"])
    plain = Entry(commit(2, "docs: the README (#803)", lines=3), analysis("low", "Explains the options."))
    for lang, note in (("en", "(unverified): a name the analysis cites"), ("zh", "（未验证）：分析引用的名称")):
        marked = Entry(commit(1, "fix: the scheduler race (#802)"),
                       analysis("high", "Rewrites made_up_function to lock once.", grounding=grounded, lang=lang))
        digest = digest_of(marked, plain, lang=lang)
        top, replies = slack_post(digest)
        assert text(lang, "unverified_mark") in visible(top) and note in visible(top)
        assert note in visible(replies[0])
        (card, _), details = feishu.digest_cards(digest)
        assert note in visible(card) and note in visible(details[0][0])
    unmarked = digest_of(plain)
    assert "(unverified)" not in visible(slack_post(unmarked)[0]) + visible(feishu.digest_cards(unmarked)[0][0])


# -- merges never take a slot by themselves ----------------------------------------------------------------------

def test_a_merge_heavy_day_with_nested_merges_lists_each_commit_once_in_the_same_order_everywhere(tmp_path):
    from tests.gitdays import digest_of as digest_of_day
    from tests.gitdays import merge_day

    repo = merge_day(tmp_path / "repo")
    digest = digest_of_day(repo, "merges", "en", tmp_path)
    told = [e for e in digest.entries if e.grouped and not e.analysed]
    assert len(told) >= 20 and any(e.merged_into for e in told)  # nested merges
    top, replies = slack_post(digest)
    parts = slack.detail_messages(digest)
    thread = "\n".join(visible(r) for r in replies)
    slack_order = re.findall(r"`([0-9a-f]{7})`", thread)
    assert len(slack_order) == len(set(slack_order))  # each commit once
    assert not {e.commit.short_sha for e in told} & set(slack_order)  # no merge alone
    assert sorted(s for _, shas in parts for s in shas) == sorted(e.commit.sha for e in digest.entries)
    assert "Merge " not in visible(top) and ": 7 commits" not in visible(top) + thread
    assert f"{len(told)} merges told through their commits" in visible(top)
    assert len(visible(top)) <= 3000 and len(replies) <= 12
    for app in (True, False):
        (card, _), details = feishu.digest_cards(digest, app=app)
        assert card_problem(card) is None and all(card_problem(c) is None for c, _ in details)
        cards = "\n".join(visible(c) for c, _ in details)
        assert re.findall(r"`([0-9a-f]{7})`", cards) == slack_order  # the same commits in the same order
        top_links = re.findall(r"/commit/([0-9a-f]{40})", json.dumps(card))
        assert top_links == re.findall(r"/commit/([0-9a-f]{40})", json.dumps(top))
    assert 1 + len(feishu.digest_cards(digest, app=False)[1]) <= 4
