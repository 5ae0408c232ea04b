"""bench/readability.py measures what issue 13 asks: these check the measures themselves on messages written by
hand (what a reader sees, counted independently), then run them on a tiny real day through the real renderers."""

from __future__ import annotations

import json
from pathlib import Path

from bench import readability as rb
from bench.readability import Known, Message
from tests import gitdays
from tests.gitdays import Branch

M, C1, C2 = "c" * 40, "a" * 40, "b" * 40
KNOWN = Known({M: "Merge pull request #7 from octo/b", C1: "fix(sched): make checkpoint reload atomic",
               C2: "feat(router): add a least-load mode"}, frozenset({M}))
SAID_TWICE = "Changes 3 files, mostly in pkg/scheduler."


def url(sha: str) -> str:
    return f"https://github.com/octo/r/commit/{sha}"


def section(text: str, button: bool = False) -> dict:
    block = {"type": "section", "text": {"type": "mrkdwn", "text": text}}
    if button:
        block["accessory"] = {"type": "button", "text": {"type": "plain_text", "text": "Deep analysis"},
                              "action_id": "deep_analysis:x", "value": "{}"}
    return block


def context(text: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def slack_top(order: tuple[str, ...] = (M, C1, C2)) -> Message:
    """A top message: a merge alone in a slot, a high commit whose summary restates its title, a medium line;
    one sentence said twice."""
    lines = {M: section(f"*<{url(M)}|Merge #7 (b): 2 commits>*", button=True),
             C1: section(f"*<{url(C1)}|fix(sched): make checkpoint reload atomic>*\n"
                         f"fix(sched): make checkpoint reload atomic. {SAID_TWICE}"),
             C2: context(f"• <{url(C2)}|feat(router): add a least-load mode> — {SAID_TWICE}")}
    blocks = [{"type": "header", "text": {"type": "plain_text", "text": "octo/r · 2026-01-11"}},
              section("*🔴 High importance*")] + [lines[s] for s in order]
    return Message({"text": "octo/r: 3 commits", "blocks": blocks})


def feishu_top(order: tuple[str, ...]) -> Message:
    md = {M: f"**[Merge &#35;7 (b): 2 commits]({url(M)})** `ccccccc`",
          C1: f"**[fix(sched): make checkpoint reload atomic]({url(C1)})** `aaaaaaa`\nOne sentence of its own.",
          C2: f"- [feat(router): add a least-load mode]({url(C2)})"}
    card = {"schema": "2.0", "header": {"title": {"tag": "plain_text", "content": "octo/r · 2026-01-11"}},
            "body": {"elements": [{"tag": "markdown", "content": md[s]} for s in order]}}
    return Message({"card": card})


def test_visible_characters_are_what_a_reader_sees():
    assert len(rb.slack_visible("<https://x|a&amp;b>")) == 3
    assert rb.slack_visible("*<https://github.com/o/r/commit/abc1234|fix &lt;x&gt;>* in `pkg/a_b.py`") == \
        "fix <x> in pkg/a_b.py"
    assert rb.slack_visible("<!here> <https://example.com> _it_ ~gone~") == "@here https://example.com it gone"
    assert rb.feishu_visible("**[a&#42;b](https://x)**") == "a*b"
    assert rb.feishu_visible("<at id=all></at> <font color='red'>red</font> &#96;code&#96; `kept`") == \
        "@all red `code` kept"


def test_the_top_message_measures_on_a_message_written_by_hand():
    top = slack_top()
    units = rb.slack_units(top.payload)
    seen = ["octo/r · 2026-01-11", "🔴 High importance", "Merge #7 (b): 2 commits", "Deep analysis",
            "fix(sched): make checkpoint reload atomic", f"fix(sched): make checkpoint reload atomic. {SAID_TWICE}",
            f"• feat(router): add a least-load mode — {SAID_TWICE}"]
    assert rb.visible_chars(units) == sum(len(s) for s in seen)
    # the title said again as the summary's first sentence is said twice too
    assert rb.repeated_sentences(units) == sorted([rb._norm(SAID_TWICE), rb._norm(KNOWN.titles[C1])])
    slots = rb.top_segments(units, KNOWN)
    assert [sha for sha, _ in slots] == [M, C1, C2]
    assert [rb.restates_title(text, KNOWN.titles[sha]) for sha, text in slots] == [False, True, False]


def test_the_order_is_read_from_the_links_of_both_platforms():
    slack = rb.slack_units(slack_top().payload)
    same = rb.feishu_units(rb.feishu_card(feishu_top((M, C1, C2))))
    swapped = rb.feishu_units(rb.feishu_card(feishu_top((M, C2, C1))))
    assert rb.order(slack, KNOWN) == rb.order(same, KNOWN) == [M, C1, C2]
    assert rb.order(swapped, KNOWN) == [M, C2, C1]
    assert rb.visible_chars(same) == len("octo/r · 2026-01-11") + len("Merge #7 (b): 2 commits ccccccc") + len(
        "fix(sched): make checkpoint reload atomic aaaaaaa") + len("One sentence of its own.") + len(
        "- feat(router): add a least-load mode")


def test_thread_characters_are_counted_per_commit_a_merge_listing_its_commits_included():
    merge_head = f"🔴 *<{url(M)}|Merge #7 (b): 2 commits>*  `ccccccc`\n↳ <{url(C1)}|fix(sched): make it atomic>"
    c1_head = f"🔴 *<{url(C1)}|fix(sched): make checkpoint reload atomic>*  `aaaaaaa`\nMakes the reload atomic."
    replies = [Message({"blocks": [context("Details 1/2"), section(merge_head), {"type": "divider"},
                                   section(c1_head, button=True), context("Ada · +3 −1")]}, (M, C1)),
               Message({"blocks": [context("Details 2/2"), section(f"🟡 *<{url(C2)}|feat(router): add it>*")]},
                       (C2,))]
    parts = rb.thread_segments(replies, lambda m: rb.slack_units(m.payload), KNOWN)
    assert parts.started == [M, C1, C2]
    assert parts.chars == {M: len("🔴 Merge #7 (b): 2 commits  ccccccc") + len("↳ fix(sched): make it atomic"),
                           C1: len("🔴 fix(sched): make checkpoint reload atomic  aaaaaaa")
                           + len("Makes the reload atomic.") + len("Deep analysis") + len("Ada · +3 −1"),
                           C2: len("🟡 feat(router): add it")}
    assert parts.overhead == 2 * len("Details 1/2")
    assert parts.per_commit == (sum(parts.chars.values()) + parts.overhead) / 3


def test_commits_sharing_a_panel_or_a_list_are_each_counted():
    """A Feishu panel holding several commits, and a Slack list of one line per commit."""
    panel = {"tag": "collapsible_panel", "header": {"title": {"tag": "markdown", "content": "🟡 Medium (2)"}},
             "elements": [{"tag": "markdown", "content": f"🟡 **[fix it]({url(C1)})** `aaaaaaa`\nWhy."},
                          {"tag": "button", "text": {"tag": "plain_text", "content": "Deep analysis"},
                           "behaviors": [{"type": "callback", "value": {"sha": C1}}]},
                          {"tag": "markdown", "content": f"🟡 **[add it]({url(C2)})** `bbbbbbb`"}]}
    card = Message({"card": {"header": {"title": {"tag": "plain_text", "content": "details 1/1"}},
                             "body": {"elements": [panel]}}}, (C1, C2))
    parts = rb.thread_segments([card], lambda m: rb.feishu_units(rb.feishu_card(m)), KNOWN)
    assert parts.chars == {C1: len("🟡 fix it aaaaaaa") + len("Why.") + len("Deep analysis"),
                           C2: len("🟡 add it bbbbbbb")}
    assert parts.overhead == len("details 1/1") + len("🟡 Medium (2)")
    one_text = Message({"card": {"body": {"elements": [{"tag": "markdown", "content":
                        f"🔴 **[fix it]({url(C1)}) ([&#35;7](https://github.com/octo/r/pull/7))** `aaaaaaa`\nWhy.\n\n"
                        f"🟡 **[add it]({url(C2)})**"}]}}}, (C1, C2))
    parts = rb.thread_segments([one_text], lambda m: rb.feishu_units(rb.feishu_card(m)), KNOWN)
    assert parts.chars == {C1: len("🔴 fix it (#7) aaaaaaa") + len("Why."), C2: len("🟡 add it")}
    listing = Message({"blocks": [section(f"*Low*\n• <{url(C2)}|add it> — one line\n• <{url(C1)}|fix it>")]},
                      (C1, C2))
    parts = rb.thread_segments([listing], lambda m: rb.slack_units(m.payload), KNOWN)
    assert parts.started == [C2, C1]
    assert parts.chars == {C2: len("• add it — one line"), C1: len("• fix it")}


def test_every_measure_from_messages_written_by_hand():
    top, app = slack_top(), feishu_top((M, C1, C2))
    reply = Message({"blocks": [section(f"*<{url(s)}|{KNOWN.titles[s]}>*\nIts own words.") for s in (M, C1, C2)]},
                    (M, C1, C2))
    detail = Message({"card": {"body": {"elements": [
        {"tag": "collapsible_panel", "header": {"title": {"tag": "markdown", "content": s[:7]}},
         "elements": [{"tag": "markdown", "content": f"[{KNOWN.titles[s]}]({url(s)})"}]} for s in (M, C1, C2)]}}},
        (M, C1, C2))
    f = rb.measure_messages(KNOWN, (top, [reply]), (app, [detail]), (app, [detail, detail]))
    assert (f.commits, f.merges, f.slack_replies, f.app_cards, f.webhook_messages) == (3, 1, 1, 2, 3)
    assert f.merges_alone_slack == f.merges_alone_feishu == 1
    assert f.restated_top == 1 and f.restated_top_feishu == 0 and f.restated_thread == 0
    assert f.same_top_order and f.same_thread_order and f.slack_thread_once
    assert len(f.repeats_slack) == 2 and f.repeats_feishu == []
    assert f.webhook_bytes[1] == len(json.dumps({"msg_type": "interactive", "card": rb.feishu_card(detail),
                                                 "timestamp": "1767225600", "sign": "s" * 44},
                                                ensure_ascii=False).encode())


def test_the_merge_day_plan_makes_the_issue_day():
    assert gitdays.planned(*gitdays.merge_day_plan()) == (94, 26)


def test_a_tiny_real_day_is_measured_through_the_real_renderers(tmp_path: Path):
    plan = ([Branch("b1", 2, "Merge pull request #7 from octo/b1",
                    (Branch("b1-o1", 1, "Merge branch 'b1-o1' into b1"),))], 1)
    repo = gitdays.merge_day(tmp_path, plan)
    digest = gitdays.digest_of(repo, "tiny", "en", tmp_path)
    assert (len(digest.entries), digest.stats.merges) == gitdays.planned(*plan) == (7, 2)
    f = rb.measure(digest)
    assert f.slack_thread_once and f.same_thread_order  # every commit once, in the same order on both platforms
    assert 0 < f.slack_top_chars < f.slack_top_block_text
    assert f.webhook_messages == len(f.webhook_bytes) >= 1
    known = Known.of(digest)
    assert set(f.slack_top_order) <= {s[:7] for s in known.titles}
    rows = rb.rows(f)
    assert {r.verdict for r in rows} <= {"PASS", "FAIL", ""}
    assert "Slack top: visible characters" in rb.table("tiny", f, 0.0)
