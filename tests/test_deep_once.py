"""Deep analysis once in the thread (issue 13): a click on a posted digest's "Deep analysis" posts it once in the
digest's thread; a later click on the same commit links to it; two clicks at once still post once. Through the
local Slack and Feishu servers, with the bot serving HTTP on a real socket (and two `bot.py run` processes)."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

from storage import deep_posts, posts
from tests.servers.slack import block_action_payload
from tests.test_feishu import feishu, running  # noqa: F401 (fixtures)
from tests.test_slack import DAY, REPO, post_signed, running_bot


def click_body(button: dict, user: str, message_ts: str, thread_ts: str | None, response_url: str) -> bytes:
    """A click on a button of a channel message, as Slack sends it: a reply's click names its thread."""
    payload = block_action_payload(button["action_id"], button["value"], user_id=user, message_ts=message_ts,
                                   response_url=response_url)
    if thread_ts:
        payload["message"]["thread_ts"] = payload["container"]["thread_ts"] = thread_ts
    return urlencode({"payload": json.dumps(payload)}).encode()


def deep_buttons(message) -> list[dict]:
    return [b["accessory"] for b in message.blocks or []
            if b.get("accessory", {}).get("action_id", "").startswith("deep_analysis")]


def deep_replies(slack, top_ts: str) -> list:
    return [m for m in slack.replies(top_ts) if "Deep analysis of" in slack.all_text(m)]


def test_deep_analysis_is_posted_once_in_the_digest_thread_and_later_clicks_link_to_it(tmp_path):
    with running_bot(tmp_path, LLM_CONCURRENCY="4") as (bot, slack, llm, url, shas):
        assert bot.publisher.post("slack", "C1", REPO, DAY, "UTC", "en", None).status == "posted"
        top = slack.messages("C1", top_level=True)[0]
        reply, button = next((m, b) for m in slack.replies(top.ts) for b in deep_buttons(m))
        sha = json.loads(button["value"])["sha"]
        llm_before = len(llm.requests)
        # two people click at once: one analysis, one post in the thread; each of them gets an answer
        urls = [slack.response_url("C1", user, reply.ts) for user in ("U1", "U2")]
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(lambda i: post_signed(url + "/slack/events", click_body(
                button, ("U1", "U2")[i], reply.ts, top.ts, urls[i])), range(2)))
        posted = slack.wait_for(lambda: deep_replies(slack, top.ts), timeout=30)
        assert len(posted) == 1 and sha[:7] in slack.all_text(posted[0])
        assert len(llm.requests) - llm_before == 1
        link = f"https://test.slack.com/archives/C1/p{posted[0].ts.replace('.', '')}"
        slack.wait_for(lambda: any(link in json.dumps(r.body) for u in urls for r in slack.responses_to(u)), timeout=10)
        row = deep_posts.load(bot.service.db, deep_posts.DeepKey("slack", "C1", top.ts, sha))
        assert row is not None and row.state == "posted" and row.message_id == posted[0].ts
        # a later click on the same commit, from the top message or the thread, links to the analysis posted
        later = slack.response_url("C1", "U3", reply.ts)
        post_signed(url + "/slack/events", click_body(button, "U3", reply.ts, top.ts, later))
        answer = slack.wait_for(lambda: slack.responses_to(later), timeout=10)[-1]
        shown = json.dumps(answer.body, ensure_ascii=False)
        assert f"The deep analysis of {sha[:7]} is already in this thread" in shown and link in shown
        assert answer.body.get("response_type") == "ephemeral"
        time.sleep(0.3)
        assert len(deep_replies(slack, top.ts)) == 1 and len(llm.requests) - llm_before == 1
        assert [c for c in slack.calls("chat.getPermalink") if c.params.get("message_ts") == posted[0].ts]


def test_two_bot_processes_clicked_at_once_post_the_deep_analysis_once(tmp_path):
    """Two `bot.py run` processes on one database, the same commit clicked in each at the same moment."""
    from tests.gitrepo import GitRepo
    from tests.servers.slack import SlackServer
    from tests.test_slack import day_of_commits, make_bot, settings_env
    from tests.test_web import bot_run

    repo = GitRepo(tmp_path / "upstream")
    day_of_commits(repo, 6)
    with SlackServer(channels=["C1"]) as slack:
        env = settings_env(tmp_path, slack, repo)
        bot = make_bot(env)
        assert bot.publisher.post("slack", "C1", REPO, DAY, "UTC", "en", None).status == "posted"
        top = slack.messages("C1", top_level=True)[0]
        reply, button = next((m, b) for m in slack.replies(top.ts) for b in deep_buttons(m))
        sha = json.loads(button["value"])["sha"]
        with bot_run(env, tmp_path) as one, bot_run(env, tmp_path) as two:
            urls = [slack.response_url("C1", user, reply.ts) for user in ("U1", "U2")]
            bodies = [click_body(button, user, reply.ts, top.ts, u) for user, u in zip(("U1", "U2"), urls)]
            with ThreadPoolExecutor(2) as pool:
                statuses = list(pool.map(lambda pair: post_signed(pair[0] + "/slack/events", pair[1])[0],
                                         [(one.url, bodies[0]), (two.url, bodies[1])]))
            assert statuses == [200, 200]
            # the click that posts it answers in the thread; the other is told where it is (or that it is coming)
            slack.wait_for(lambda: any(slack.responses_to(u) for u in urls) and deep_replies(slack, top.ts),
                           timeout=30)
            time.sleep(0.5)
        assert len(deep_replies(slack, top.ts)) == 1
        said = [json.dumps(slack.responses_to(u)[-1].body) for u in urls if slack.responses_to(u)]
        assert any("already in this thread" in s or "being posted" in s for s in said), said
        assert posts.thread_of(bot.service.db, "slack", "C1", reply.ts) == top.ts


def test_feishu_deep_analysis_is_posted_once_and_a_later_click_replies_to_it(feishu, running, db):
    from tests.servers.feishu import card_action_event
    from tests.test_feishu import VT, _walk, card_text, deliver, posted_once

    bot, url = running
    top = feishu.message(posted_once(feishu, bot).message_id)
    value = next(el for el in _walk(top.card) if el.get("tag") == "button")["behaviors"][0]["value"]

    def deep_cards() -> list:
        return [m for m in feishu.sent() if "Deep analysis of" in card_text(m.card)]

    deliver(url, card_action_event(value, "ou_bob", top.message_id, "oc_1", VT, app_id=feishu.app_id))
    first = feishu.wait_for(deep_cards, timeout=20)
    assert first[0].parent_id == top.message_id and first[0].reply_in_thread
    # another person, later, the same commit: a reply to the card already in the thread, no second analysis
    deliver(url, card_action_event(value, "ou_carol", top.message_id, "oc_1", VT, app_id=feishu.app_id))
    pointer = feishu.wait_for(lambda: [m for m in feishu.sent() if m.parent_id == first[0].message_id], timeout=10)
    assert f"The deep analysis of {value['sha'][:7]} is already in this thread" in card_text(pointer[0].card)
    time.sleep(0.3)
    assert len(deep_cards()) == 1
    row = deep_posts.load(db, deep_posts.DeepKey("feishu", "oc_1", top.message_id, value["sha"]))
    assert row is not None and row.message_id == first[0].message_id
