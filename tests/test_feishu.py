"""The Feishu bot end to end: a real Bot, real SQLite, a real git repository, lark-oapi and requests talking to
the local Feishu server (Open API, webhook, long connection) in tests/servers/feishu.py."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
import requests

from handlers.config import Settings
from digest.render import feishu as render
from handlers.app import Bot
from core.watches import Mention
from handlers.commands import parse
from handlers.feishu import Gate, command_of, strip_mentions
from storage import posts
from storage import subscriptions as subs
from tests.bigday import big_day
from tests.conftest import NOW, git_service, sample_history
from tests.servers.feishu import (FeishuServer, callback, card_action_event, card_problem, message_event,
                                  signed_headers, url_verification)

DAY = date(2026, 1, 11)
REPO = "sgl-project/sglang"
SECRET = "app-secret"
EK, VT = "encrypt-key-1", "verify-token-1"


@pytest.fixture
def feishu() -> Iterator[FeishuServer]:
    with FeishuServer(app_id=f"cli_{uuid.uuid4().hex[:12]}", app_secret=SECRET, webhook_token="hooktoken",
                      webhook_secret="hook-secret", chats=["oc_1", "oc_2"]) as server:
        yield server


def make_bot(feishu: FeishuServer, repo, db, *, mode: str = "http", webhook: bool = False, app: bool = True,
             admins: tuple[str, ...] = (), llm=None) -> Bot:
    settings = Settings(
        database_path=str(Path(db.conn.execute("PRAGMA database_list").fetchone()[2])), port=0,
        git_clones={REPO: repo.path}, digest_repos=(REPO,),
        feishu_app_id=feishu.app_id if app else None, feishu_app_secret=SECRET if app else None,
        feishu_base_url=feishu.url, feishu_chat_id="oc_1" if app else None, feishu_event_mode=mode,
        feishu_encrypt_key=EK, feishu_verification_token=VT, feishu_admins=admins,
        feishu_webhook_url=f"{feishu.url}/open-apis/bot/v2/hook/hooktoken" if webhook else None,
        feishu_webhook_secret="hook-secret" if webhook else None)
    bot = Bot(settings, git_service(db, llm), clock=lambda: NOW)
    bot.feishu.webhook_gate.interval = 0  # the 100-a-minute pacing is checked on its own below
    bot.feishu.sleep = bot.feishu.gate.sleep = lambda s: None
    if bot.feishu.api is not None:
        bot.feishu.api.sleep = lambda s: None
    return bot


@pytest.fixture
def running(feishu, repo, db) -> Iterator[tuple[Bot, str]]:
    sample_history(repo)
    bot = make_bot(feishu, repo, db)
    server = bot.start()
    yield bot, f"http://127.0.0.1:{server.port}/feishu/events"
    bot.stop()


def deliver(url: str, event: dict, *, key: str = EK, forge: bool = False) -> requests.Response:
    raw, headers = callback(event, key)
    if forge:  # encrypted with the key, signed without it
        headers = signed_headers(raw, "forged", headers["X-Lark-Request-Timestamp"], "n0nce")
    return requests.post(url, data=raw, headers=headers, timeout=5)


def user_says(feishu: FeishuServer, text: str, chat: str = "oc_1", user: str = "ou_alice", **kw) -> dict:
    return feishu.incoming(message_event(text, chat, user, token=VT, app_id=feishu.app_id, **kw))


def answers(feishu: FeishuServer, to: str) -> list:
    return [m for m in feishu.sent() if m.parent_id == to or m.root_id == to]


def card_text(card: dict) -> str:
    return json.dumps(card, ensure_ascii=False)


# --------------------------------------------------------------------------- cards


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_a_300_commit_day_fits_in_cards_every_commit_once_nothing_cut(lang):
    digest = big_day(300, lang)
    for app, limit in ((True, 30 * 1024), (False, 20 * 1024)):
        (top, shown), details = render.digest_cards(digest, app=app)
        cards = [top] + [c for c, _ in details]
        for c in cards:
            assert card_problem(c) is None
            as_json = json.dumps(c, ensure_ascii=False)
            size = len((json.dumps({"receive_id": "oc_1", "msg_type": "interactive", "content": as_json,
                                    "uuid": "u" * 32}, ensure_ascii=False) if app else
                        json.dumps({"msg_type": "interactive", "card": c, "timestamp": "1", "sign": "s" * 44},
                                   ensure_ascii=False)).encode())
            assert size <= limit
            assert "<at" not in as_json and "<font" not in as_json and "](https://evil" not in as_json
        listed = [sha for _, shas in details for sha in shas]
        assert sorted(listed) == sorted(e.commit.sha for e in digest.entries)  # each commit exactly once
        assert top["header"]["template"] == "red"
        body = card_text(top)
        assert ("300 commits" if lang == "en" else "共 300 个提交") in body
        buttons = [el for c in cards for el in _walk(c) if el.get("tag") == "button"]
        kinds = {b["behaviors"][0]["type"] for b in buttons}
        assert kinds <= ({"callback"} if app else {"open_url"})  # a webhook card cannot call back: its titles link
        assert (kinds == {"callback"}) == app


def _walk(node):
    if isinstance(node, dict):
        yield node
        for v in node.values():
            yield from _walk(v)
    elif isinstance(node, list):
        for v in node:
            yield from _walk(v)


def test_a_100_commit_day_reaches_a_webhook_group_in_4_cards_the_same_as_slack(feishu, repo, db):
    """Issue 13: no threads in a webhook group, so the top card and the details in collapsible panels, compact:
    at most 4 messages for a 100-commit day, each under the 20 KB the webhook takes, every commit once, in the
    order and words of the Slack thread."""
    import re

    from digest.render import slack as render_slack
    from tests.bigday import typical_day
    from tests.test_view import visible

    digest = typical_day(100)
    bot = make_bot(feishu, repo, db, webhook=True, app=False)
    dest = bot.destinations("webhook", "webhook")
    rendered = dest.render(digest, late=False)
    for part in (rendered.top, *rendered.replies):
        dest.post(part.payload["card"])  # refused by the local server past 20 KB
    posts = feishu.webhook_posts
    assert len(posts) <= 4 and all(len(json.dumps(p.card, ensure_ascii=False).encode()) < 20 * 1024 for p in posts)
    assert sorted(s for p in rendered.replies for s in p.shas) == sorted(e.commit.sha for e in digest.entries)
    cards = "\n".join(visible(p.card) for p in posts[1:])
    slack_thread = "\n".join(visible(b) for b, _ in render_slack.detail_messages(digest))
    assert re.findall(r"`([0-9a-f]{7})`", cards) == re.findall(r"`([0-9a-f]{7})`", slack_thread)
    said = [line for line in slack_thread.splitlines() if line.startswith(("Requests", "🎯", "⚠️"))]
    assert said and all(line in cards for line in said)  # the same words
    assert len(visible(posts[0].card)) <= 3000


def test_followup_card_carries_only_the_late_analyses():
    digest = big_day(30)
    late = [digest.entries[3].commit.sha, digest.entries[7].commit.sha]
    cards = render.followup_cards(digest, late)
    assert len(cards) == 1 and set(cards[0][1]) == set(late)
    assert "late analyses" in cards[0][0]["header"]["title"]["content"] and card_problem(cards[0][0]) is None


def test_mentions_are_stripped_and_commands_found():
    assert command_of(strip_mentions("@_user_1 /digest 2026-01-11", ["@_user_1"])) == ("/digest", "2026-01-11")
    assert command_of(strip_mentions("@_user_1  analyze d112f6a @_user_2", ["@_user_1", "@_user_2"])) == \
        ("/analyze", "d112f6a")
    assert command_of("hello there") is None


def test_a_person_mentioned_after_notify_becomes_the_watch_s_mention_and_the_bot_is_removed():
    people = {"@_user_1": ("ou_bot", "Commit Radar"), "@_user_2": ("ou_7d8a6e6df7621556ce0d21922b676706", "Ann <x>|")}
    said = strip_mentions("@_user_1 /digest watch a/b path srt/ notify @_user_2", ["@_user_1", "@_user_2"], people)
    assert said == "/digest watch a/b path srt/ notify <at:ou_7d8a6e6df7621556ce0d21922b676706|Ann x>"
    c = parse(*command_of(said))
    assert c.mention == Mention("feishu", "user", "ou_7d8a6e6df7621556ce0d21922b676706", "Ann x")
    # the bot's own mention after notify is no person; a mention before notify is the bot being addressed
    assert strip_mentions("@_user_2 /digest watch a/b path srt/ notify", ["@_user_2"], people) == \
        "/digest watch a/b path srt/ notify"


def test_sends_due_at_the_hour_or_half_hour_wait_a_few_seconds():
    slept: list[float] = []
    for moment, held in ((datetime(2026, 1, 12, 9, 0, 1, tzinfo=timezone.utc), 4.0),
                         (datetime(2026, 1, 12, 9, 30, 0, tzinfo=timezone.utc), 5.0),
                         (datetime(2026, 1, 12, 9, 1, 0, tzinfo=timezone.utc), 0.0)):
        slept.clear()
        Gate(interval=0, clock=lambda: moment, sleep=slept.append).wait("oc_1")
        assert sum(slept) == pytest.approx(held)


# --------------------------------------------------------------------------- posting


def test_webhook_posts_signed_cards_once_per_day(feishu, repo, db):
    sample_history(repo)
    bot = make_bot(feishu, repo, db, webhook=True, app=False)
    first = bot.publisher.post("webhook", "webhook", REPO, DAY, "UTC", "zh", None)
    assert first.status == "posted"
    posts = feishu.webhook_posts
    assert len(posts) == 1 + first.replies and posts[0].card["header"]["title"]["content"].endswith("2026-01-11")
    assert all("sign" in p.body for p in posts)  # the server checked each signature
    assert "破坏性变更" in card_text(posts[0].card)
    assert bot.publisher.post("webhook", "webhook", REPO, DAY, "UTC", "zh", None).status == "already"
    assert len(feishu.webhook_posts) == len(posts)


def test_webhook_frequency_limit_is_retried_and_a_bad_secret_reported(feishu, repo, db):
    sample_history(repo)
    bot = make_bot(feishu, repo, db, webhook=True, app=False)
    feishu.fail("webhook", "frequency", times=2)
    assert bot.publisher.post("webhook", "webhook", REPO, DAY, "UTC", "en", None).status == "posted"
    feishu.fail("webhook", "sign", times=1)
    outcome = bot.publisher.post("webhook", "webhook", REPO, date(2026, 1, 10), "UTC", "en", None)
    assert outcome.status == "failed" and "FEISHU_WEBHOOK_SECRET" in outcome.detail
    assert "hooktoken" not in outcome.detail


def test_app_post_is_exactly_once_even_when_the_answer_is_lost(feishu, repo, db):
    sample_history(repo)
    bot = make_bot(feishu, repo, db)
    feishu.fail("send", "send_then_drop")  # Feishu posts it, the answer never arrives
    feishu.fail("reply", "frequency", times=2)
    feishu.invalidate_tokens()
    outcome = bot.publisher.post("feishu", "oc_1", REPO, DAY, "UTC", "en", None)
    assert outcome.status == "posted"
    sent = feishu.sent("oc_1")
    tops = [m for m in sent if m.parent_id is None]
    assert len(tops) == 1 and outcome.message_id == tops[0].message_id  # the uuid made the resend a no-op
    assert len(sent) == 1 + outcome.replies and all(m.reply_in_thread for m in sent if m.parent_id)
    assert all(len(m.uuid or "") <= 50 for m in sent)
    buttons = [el for el in _walk(tops[0].card) if el.get("tag") == "button"]
    assert buttons and buttons[0]["behaviors"][0]["value"]["action"] == "deep_analysis"


def test_a_removed_bot_pauses_the_subscription_and_status_says_so(feishu, repo, db):
    sample_history(repo)
    bot = make_bot(feishu, repo, db)
    from handlers.app import sync_env_subscriptions

    sync_env_subscriptions(db, bot.settings, NOW)
    feishu.set_chat("oc_1", "bot_removed")
    sub = subs.get(db, "feishu", "oc_1", REPO)
    outcome = bot.publisher.post_subscription(sub, DAY)
    assert outcome.status == "paused" and "add the bot" in outcome.detail
    assert subs.get(db, "feishu", "oc_1", REPO).paused


# --------------------------------------------------------------------------- events over HTTP


def test_http_callback_verification_duplicates_and_forgeries(feishu, running, db):
    bot, url = running
    challenge = deliver(url, url_verification("ch-1", VT))
    assert challenge.json() == {"challenge": "ch-1"}

    forged_event = user_says(feishu, "@_user_1 /digest help")
    assert deliver(url, forged_event, forge=True).status_code == 401
    guessed = user_says(feishu, "@_user_1 /digest help")
    guessed["header"]["token"] = "guess"
    assert deliver(url, guessed).status_code == 401

    event = user_says(feishu, "@_user_1 /digest 2026-01-11 lang zh <at id=all></at>")
    assert deliver(url, event).status_code == 200
    assert deliver(url, event).status_code == 200  # Feishu pushes it again
    asked = event["event"]["message"]["message_id"]
    feishu.wait_for(lambda: answers(feishu, asked), timeout=10)
    time.sleep(0.3)
    assert len([m for m in feishu.sent() if m.parent_id == asked]) == 1  # one answer, one run
    refused = {forged_event["event"]["message"]["message_id"], guessed["event"]["message"]["message_id"]}
    assert not [m for m in feishu.sent() if m.root_id in refused]  # refused deliveries answered nothing


def test_digest_command_is_answered_with_a_card_updated_in_place(feishu, running, db):
    bot, url = running
    event = user_says(feishu, "@_user_1 /digest 2026-01-11")
    started = time.monotonic()
    assert deliver(url, event).status_code == 200
    assert time.monotonic() - started < 1.0  # acknowledged before any work
    asked = event["event"]["message"]["message_id"]
    answer = feishu.wait_for(lambda: [m for m in feishu.sent() if m.parent_id == asked], timeout=10)[0]
    feishu.wait_for(lambda: "2026-01-11" in feishu.message(answer.message_id).card["header"]["title"]["content"],
                    timeout=10)
    sent_first = [r for r in feishu.calls("/reply", "POST") if r.path.endswith(f"{asked}/reply")][0]
    assert "⏳" in sent_first.json["content"]  # "Generating …" first, then PATCHed with the digest
    assert feishu.message(answer.message_id).patches
    final = feishu.message(answer.message_id).card
    assert "5 commits" in card_text(final)
    details = feishu.wait_for(lambda: [m for m in feishu.sent() if m.parent_id == answer.message_id], timeout=5)
    assert details and all(m.reply_in_thread for m in details)

    # the same day again comes from storage, with no "Generating" card
    again = user_says(feishu, "@_user_1 /digest 2026-01-11")
    started = time.monotonic()
    deliver(url, again)
    asked2 = again["event"]["message"]["message_id"]
    second = feishu.wait_for(lambda: [m for m in feishu.sent() if m.parent_id == asked2], timeout=5)[0]
    assert time.monotonic() - started < 1.0
    assert "5 commits" in card_text(second.card) and not second.patches


def test_bad_input_and_admins_answered_like_slack(feishu, repo, db):
    sample_history(repo)
    bot = make_bot(feishu, repo, db, admins=("ou_admin",))
    server = bot.start()
    url = f"http://127.0.0.1:{server.port}/feishu/events"
    try:
        bad = user_says(feishu, "@_user_1 /digest 2026-13-45")
        deliver(url, bad)
        sub = user_says(feishu, "@_user_1 /digest subscribe sgl-project/sglang at 09:00 tz Asia/Shanghai lang zh",
                        user="ou_mallory")
        deliver(url, sub)
        p2p = user_says(feishu, "/digest help", chat="oc_2", chat_type="p2p", mentions=[])
        deliver(url, p2p)
        for event in (bad, sub, p2p):
            asked = event["event"]["message"]["message_id"]
            feishu.wait_for(lambda: [m for m in feishu.sent() if m.parent_id == asked], timeout=10)
        text_of = {e["event"]["message"]["message_id"]: card_text(
            [m for m in feishu.sent() if m.parent_id == e["event"]["message"]["message_id"]][0].card)
            for e in (bad, sub, p2p)}
        assert "⚠️" in text_of[bad["event"]["message"]["message_id"]]
        assert "只有机器人管理员" in text_of[sub["event"]["message"]["message_id"]]  # in the language asked for
        assert "/digest subscribe" in text_of[p2p["event"]["message"]["message_id"]]
        assert subs.get(db, "feishu", "oc_1", REPO) is None or subs.get(db, "feishu", "oc_1", REPO).source == "env"
    finally:
        bot.stop()


def test_deep_analysis_button_over_http_answers_at_once_and_replies_in_thread(feishu, running, db):
    bot, url = running
    outcome = posted_once(feishu, bot)
    top = feishu.message(outcome.message_id)
    button = next(el for el in _walk(top.card) if el.get("tag") == "button")
    value = button["behaviors"][0]["value"]
    click = card_action_event(value, "ou_bob", top.message_id, "oc_1", VT, app_id=feishu.app_id)
    started = time.monotonic()
    resp = deliver(url, click)
    assert time.monotonic() - started < 3.0 and resp.status_code == 200
    assert "Analysing" in resp.json()["toast"]["content"]
    deliver(url, click)  # pushed again: no second analysis
    report = feishu.wait_for(lambda: [m for m in feishu.sent() if m.parent_id == top.message_id
                                      and "Deep analysis" in card_text(m.card)], timeout=10)
    assert report[0].reply_in_thread
    time.sleep(0.3)
    reports = [m for m in feishu.sent() if m.parent_id == top.message_id and "Deep analysis of" in card_text(m.card)]
    assert len(reports) == 1


def posted_once(feishu, bot):
    """The day's post made by the catch-up that the started bot runs at once (its clock says the post of DAY is
    due), waited for until it is complete; then asking again answers "already" with its message."""
    from storage import posts

    key = posts.PostKey("feishu", "oc_1", REPO, DAY.isoformat())
    feishu.wait_for(lambda: (row := posts.load(bot.service.db, key)) is not None and row.state == "posted",
                    timeout=60)
    return bot.publisher.post("feishu", "oc_1", REPO, DAY, "UTC", "en", None)


# --------------------------------------------------------------------------- the long connection


def test_long_connection_delivers_a_command_and_a_card_click(feishu, repo, db):
    sample_history(repo)
    bot = make_bot(feishu, repo, db, mode="ws")
    bot.start()
    try:
        feishu.ws.wait_connected(timeout=5)
        event = message_event("@_user_1 /analyze " + _sha_of(repo, 1), "oc_1", "ou_carol", app_id=feishu.app_id)
        frame = feishu.ws.send_event(event)
        assert feishu.ws.wait_ack(frame, timeout=5)["code"] == 200
        asked = event["event"]["message"]["message_id"]
        feishu.wait_for(lambda: [m for m in feishu.sent() if m.parent_id == asked
                                 and "Deep analysis of" in card_text(m.card)], timeout=10)

        # the catch-up at start posts this day too (the clock says it is due): one of the two posts it, once
        outcome = posted_once(feishu, bot)
        top = feishu.message(outcome.message_id)
        value = next(el for el in _walk(top.card) if el.get("tag") == "button")["behaviors"][0]["value"]
        click = card_action_event(value, "ou_bob", top.message_id, "oc_1", "", app_id=feishu.app_id)
        card_frame = feishu.ws.send_event(click, type="card")  # lark-oapi 1.7.5 alone would drop this frame
        ack = feishu.ws.wait_ack(card_frame, timeout=5)
        assert ack["code"] == 200
        assert "Analysing" in json.loads(base64.b64decode(ack["data"]))["toast"]["content"]
        feishu.wait_for(lambda: [m for m in feishu.sent() if m.parent_id == top.message_id], timeout=10)
    finally:
        bot.stop()


def _sha_of(repo, back: int) -> str:
    return repo.git("rev-parse", f"HEAD~{back}").strip()[:9]


# --------------------------------------------------------------------------- the README's commands


def test_readme_post_to_the_webhook_runs_once_per_day(feishu, repo, tmp_path):
    from tests.test_cli import run

    sample_history(repo)
    env = {"FEISHU_WEBHOOK_URL": f"{feishu.url}/open-apis/bot/v2/hook/hooktoken", "FEISHU_WEBHOOK_SECRET": "hook-secret",
           "GIT_CLONES": f"{REPO}={repo.path}", "DATABASE_PATH": str(tmp_path / "cli.db")}
    args = ("post", REPO, "--date", "2026-01-11", "--to", "feishu:webhook")
    first = run(*args, env=env)
    assert first.returncode == 0, first.stderr
    assert "feishu:webhook sgl-project/sglang 2026-01-11: posted" in first.stdout
    posted = len(feishu.webhook_posts)
    assert posted >= 2 and "hooktoken" not in first.stdout + first.stderr
    again = run(*args, env=env)
    assert "already" in again.stdout and len(feishu.webhook_posts) == posted


def test_the_feishu_benchmark_runs():
    import subprocess
    import sys

    from tests.conftest import ROOT

    out = subprocess.run([sys.executable, str(ROOT / "bench" / "feishu.py"), "--events", "5"], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "every card under its limit: True" in out.stdout and "False" not in out.stdout


def test_the_backfill_patches_app_cards_and_follows_up_on_webhook_posts(feishu, repo, db):
    """Posted to the app chat and the webhook while the LLM answers 403; once it answers, the backfill edits the app
    cards in place (PATCH) and, as a webhook card cannot be edited, posts one follow-up card with the analyses."""
    from handlers.backfill import backfill
    from tests.servers.openai import Fault, OpenAIServer
    from tests.test_llm import analyser, answer

    sample_history(repo)
    with OpenAIServer(responder=answer) as llm:
        llm.outage(Fault("status", status=403))
        bot = make_bot(feishu, repo, db, webhook=True, llm=analyser(llm))
        for platform, channel in (("feishu", "oc_1"), ("webhook", "webhook")):
            assert bot.publisher.post(platform, channel, REPO, DAY, "UTC", "en", None).status == "posted"
        app_cards = feishu.sent("oc_1")
        webhook_before = len(feishu.webhook_posts)
        placeholder = "queued for a retry"
        assert "LLM unavailable since" in card_text(app_cards[0].card) and "403" in card_text(app_cards[0].card)
        assert any(placeholder in card_text(m.card) for m in app_cards)

        llm.outage(None)
        again = make_bot(feishu, repo, db, webhook=True, llm=analyser(llm))
        report = backfill(again.service, again.publisher, now=True)
        assert report.still_pending == 0 and report.analysed >= 3, report

        top = feishu.message(app_cards[0].message_id)
        assert top.patches and "LLM unavailable" not in card_text(top.card) and "after a retry" in card_text(top.card)
        app_now = [feishu.message(m.message_id) for m in feishu.sent("oc_1")]
        assert not any(placeholder in card_text(m.card) for m in app_now)  # every card brought up to date
        assert len([m for m in app_now if m.parent_id is None]) == 1  # edited, not posted again
        followups = feishu.webhook_posts[webhook_before:]
        assert len(followups) == 1, "one follow-up card for the webhook, which cannot edit"
        shown = card_text(followups[0].card)
        assert "The LLM answers again" in shown and placeholder not in shown and "test-model" in shown


def test_a_watch_made_with_an_at_mention_notifies_that_person_in_the_daily_card(feishu, running, db):
    """Issue 14 in Feishu: `@bot /digest watch … notify @Ann` over the real callback path stores Ann's open_id; the
    daily card names her with <at id=…> only when her path is touched, and a commit's own <at id=all> stays text."""
    bot, url = running
    ann = {"key": "@_user_2", "id": {"union_id": "on_ann", "user_id": "", "open_id": "ou_7d8a6e6df7621556ce0d21"},
           "name": "Ann", "tenant_key": "tenant_test"}
    bot_mention = {"key": "@_user_1", "id": {"union_id": "on_bot", "user_id": "", "open_id": "ou_bot"},
                   "name": "Commit Radar", "tenant_key": "tenant_test"}
    for text in (f"@_user_1 /digest subscribe {REPO}", f"@_user_1 /digest watch {REPO} path docs/ notify @_user_2"):
        event = user_says(feishu, text, mentions=[bot_mention, ann])
        deliver(url, event)
        asked = event["event"]["message"]["message_id"]
        feishu.wait_for(lambda: [m for m in feishu.sent() if m.parent_id == asked and "⏳" not in card_text(m.card)],
                        timeout=10)
    said = card_text(feishu.sent()[-1].card)
    assert "docs/" in said and "Ann" in said, said
    # DIGEST_REPOS' own catch-up posted the day at start, before the watch: post it anew, as `bot.py post --force`
    feishu.wait_for(lambda: posts.load(bot.service.db, posts.PostKey("feishu", "oc_1", REPO, DAY.isoformat())) and
                    posts.load(bot.service.db, posts.PostKey("feishu", "oc_1", REPO, DAY.isoformat())).state == "posted",
                    timeout=30)
    outcome = bot.publisher.post("feishu", "oc_1", REPO, DAY, "UTC", "en", None, force=True)
    assert outcome.status == "posted"
    top = next(m for m in feishu.sent("oc_1") if m.parent_id in (None, "") and "Touches your watches" in
               card_text(m.card))
    body = card_text(top.card)
    assert body.count("<at id=ou_7d8a6e6df7621556ce0d21></at>") == 1 and card_problem(top.card) is None
    assert "<at id=all>" not in body
