"""Self-tests for the local Slack server, driven through the real slack_sdk clients (and Bolt)."""

from __future__ import annotations

import json
import re
import threading
import time

import pytest
import requests
from slack_bolt import App, BoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler, ServerErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.socket_mode import SocketModeClient
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.webhook import WebhookClient
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect as ws_connect

from tests.servers.slack import (
    SlackServer, block_action_body, signed_headers, slash_command_body, slash_command_payload,
)

BOT, APP = "xoxb-test", "xapp-test"


@pytest.fixture
def slack():
    with SlackServer(bot_token=BOT, app_token=APP, channels=["C1", "C2"]) as server:
        yield server


def web(slack: SlackServer, token: str = BOT, **kw) -> WebClient:
    kw.setdefault("timeout", 5)
    client = WebClient(token=token, base_url=slack.api_url, **kw)
    if "retry_handlers" not in kw:
        client.retry_handlers = []  # each test says which retries it wants
    return client


def error_of(call) -> SlackApiError:
    with pytest.raises(SlackApiError) as info:
        call()
    return info.value


# --------------------------------------------------------------------------- block builders
def section(text: str, **kw) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **kw}


def button(text: str = "Go", value: str = "v", action_id: str = "go", **kw) -> dict:
    return {"type": "button", "text": {"type": "plain_text", "text": text}, "value": value,
            "action_id": action_id, **kw}


def actions(*elements: dict, **kw) -> dict:
    return {"type": "actions", "elements": list(elements), **kw}


RICH = [
    {"type": "header", "text": {"type": "plain_text", "text": "sglang · 2026-01-11 📰"}},
    section("*3 commits* · 1 high 🔴 · <https://github.com/a/b/commit/d112f6a|d112f6a>",
            accessory=button("Open", url="https://github.com/a/b", action_id="open")),
    {"type": "section", "fields": [{"type": "mrkdwn", "text": "*类型*\n修复"},
                                   {"type": "plain_text", "text": "影响: scheduler"}]},
    {"type": "context", "elements": [{"type": "mrkdwn", "text": "model gpt · 1,024 tokens"},
                                     {"type": "image", "image_url": "https://x/y.png", "alt_text": "logo"}]},
    {"type": "divider"},
    {"type": "markdown", "text": "**Risk**: 内存泄漏 in `radix_cache.py`"},
    actions(button("Deep analysis", value="d112f6a", action_id="deep"),
            button("Details", value="d112f6a", action_id="details"), block_id="commit-d112f6a"),
]


# --------------------------------------------------------------------------- Web API basics
def test_auth_test_names_the_bot(slack):
    data = web(slack).auth_test().data
    assert (data["ok"], data["user_id"], data["bot_id"], data["team_id"]) == (True, "UBOT", "B1", "T1")


@pytest.mark.parametrize("token, error", [("xoxb-wrong", "invalid_auth"), ("", "not_authed"),
                                          (APP, "invalid_auth")])
def test_bad_tokens_are_refused_with_http_200(slack, token, error):
    err = error_of(lambda: web(slack, token=token).chat_postMessage(channel="C1", text="x"))
    assert err.response.status_code == 200 and err.response["error"] == error
    assert slack.messages() == []


def test_token_may_come_as_a_form_field(slack):
    resp = requests.post(slack.api_url + "auth.test", data={"token": BOT}, timeout=5)
    assert resp.json()["ok"] is True
    assert "token" not in slack.requests[-1].params  # never recorded


def test_revoked_token(slack):
    slack.token_revoked = True
    assert error_of(lambda: web(slack).auth_test()).response["error"] == "token_revoked"


def test_unknown_method(slack):
    assert error_of(lambda: web(slack).api_call("chat.nope")).response["error"] == "unknown_method"


def test_rich_message_passes_and_is_recorded(slack):
    meta = {"event_type": "commit_radar_digest", "event_payload": {"repo": "a/b", "day": "2026-01-11"}}
    resp = web(slack).chat_postMessage(channel="C1", text="digest 摘要 🎉", blocks=RICH, metadata=meta,
                                       unfurl_links=False)
    [msg] = slack.messages("C1")
    assert (msg.ts, msg.text, msg.blocks, msg.metadata) == (resp["ts"], "digest 摘要 🎉", RICH, meta)
    assert msg.params["unfurl_links"] is False and msg.thread_ts is None
    assert re.fullmatch(r"\d{10}\.\d{6}", msg.ts)
    assert resp["message"]["metadata"] == meta


def test_form_body_with_json_encoded_blocks_and_metadata(slack):
    blocks = [section("表单 ✅")]
    meta = {"event_type": "t", "event_payload": {"k": 1}}
    resp = requests.post(slack.api_url + "chat.postMessage", timeout=5, headers={"Authorization": f"Bearer {BOT}"},
                         data={"channel": "C1", "text": "x", "blocks": json.dumps(blocks), "metadata": json.dumps(meta)})
    assert resp.status_code == 200 and resp.json()["ok"] is True
    [msg] = slack.messages("C1")
    assert msg.blocks == blocks and msg.metadata == meta
    assert slack.requests[-1].params["blocks"] == blocks


def test_form_body_with_broken_blocks_json(slack):
    resp = requests.post(slack.api_url + "chat.postMessage", timeout=5,
                         data={"token": BOT, "channel": "C1", "blocks": "[{not json"})
    assert resp.json() == {"ok": False, "error": "invalid_blocks_format"}


def test_ts_are_unique_and_increasing_under_concurrency(slack):
    client = web(slack)
    threads = [threading.Thread(target=client.chat_postMessage, kwargs={"channel": "C1", "text": str(i)})
               for i in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ts = [m.ts for m in slack.messages("C1")]
    assert len(set(ts)) == 30 and ts == sorted(ts, key=float)


# --------------------------------------------------------------------------- documented limits
# name: (limit, blocks for a size n, JSON pointer of the error). Each limit passes at n and fails at n + 1.
LIMITS = {
    "blocks per message": (50, lambda n: [{"type": "divider"}] * n, "[json-pointer:/blocks]"),
    "section text": (3000, lambda n: [section("x" * n)], "/blocks/0/text/text]"),
    "section fields": (10, lambda n: [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * n}],
                       "/blocks/0/fields]"),
    "section field text": (2000, lambda n: [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * n}]}],
                           "/blocks/0/fields/0/text]"),
    "header text": (150, lambda n: [{"type": "header", "text": {"type": "plain_text", "text": "h" * n}}],
                    "/blocks/0/text/text]"),
    "context elements": (10, lambda n: [{"type": "context", "elements": [{"type": "plain_text", "text": "c"}] * n}],
                         "/blocks/0/elements]"),
    "actions elements": (25, lambda n: [actions(*[button(action_id=f"a{i}") for i in range(n)])],
                         "/blocks/0/elements]"),
    "button text": (75, lambda n: [actions(button("b" * n))], "/blocks/0/elements/0/text/text]"),
    "button value": (2000, lambda n: [actions(button(value="v" * n))], "/blocks/0/elements/0/value]"),
    "button action_id": (255, lambda n: [actions(button(action_id="a" * n))], "/blocks/0/elements/0/action_id]"),
    "button url": (3000, lambda n: [actions(button(url="https://x/" + "u" * (n - 10)))],
                   "/blocks/0/elements/0/url]"),
    "accessory button text": (75, lambda n: [section("s", accessory=button("b" * n))],
                              "/blocks/0/accessory/text/text]"),
    "block_id": (255, lambda n: [section("s", block_id="i" * n)], "/blocks/0/block_id]"),
    "markdown text per message": (12000, lambda n: [{"type": "markdown", "text": "m" * (n // 2)},
                                                    {"type": "markdown", "text": "m" * (n - n // 2)}],
                                  "[json-pointer:/blocks]"),
}


@pytest.mark.parametrize("name", LIMITS)
def test_block_kit_limit_is_exact(slack, name):
    limit, make, pointer = LIMITS[name]
    client = web(slack)
    client.chat_postMessage(channel="C1", text="fallback", blocks=make(limit))
    err = error_of(lambda: client.chat_postMessage(channel="C1", text="fallback", blocks=make(limit + 1)))
    assert err.response["error"] == "invalid_blocks"
    assert any(e.endswith(pointer) for e in err.response["errors"]), err.response["errors"]
    assert err.response["response_metadata"]["messages"][0].startswith("[ERROR] ")
    assert len(slack.messages("C1")) == 1


def test_message_text_limit(slack):
    client = web(slack)
    client.chat_postMessage(channel="C1", text="字" * 40_000)
    err = error_of(lambda: client.chat_postMessage(channel="C1", text="字" * 40_001))
    assert err.response["error"] == "msg_too_long" and len(slack.messages()) == 1


def test_total_text_of_the_blocks(slack):
    client = web(slack)
    client.chat_postMessage(channel="C1", text="t" * 500, blocks=[section("x" * 3000)] * 4)  # 12,000 exactly
    over = [section("x" * 3000)] * 4 + [{"type": "context", "elements": [{"type": "mrkdwn", "text": "y"}]}]
    err = error_of(lambda: client.chat_postMessage(channel="C1", text="t", blocks=over))
    assert err.response["error"] == "msg_blocks_too_long" and len(slack.messages()) == 1


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing")
@pytest.mark.parametrize("kwargs", [{"text": ""}, {"text": "", "blocks": []}, {}])
def test_no_text(slack, kwargs):
    assert error_of(lambda: web(slack).chat_postMessage(channel="C1", **kwargs)).response["error"] == "no_text"


STRUCTURE = {
    "unknown block type": ([{"type": "sektion", "text": {"type": "mrkdwn", "text": "x"}}], "unsupported type"),
    "missing type": ([{"text": {"type": "mrkdwn", "text": "x"}}], "missing required field: type"),
    "section without text": ([{"type": "section"}], "either text or fields"),
    "missing text in text object": ([{"type": "section", "text": {"type": "mrkdwn"}}], "missing required field: text"),
    "empty text": ([section("")], "more than 0 characters"),
    "bad text object type": ([{"type": "section", "text": {"type": "markdown", "text": "x"}}], "must be one of"),
    "mrkdwn header": ([{"type": "header", "text": {"type": "mrkdwn", "text": "x"}}], "must be one of plain_text"),
    "duplicate block_id": ([section("a", block_id="b"), section("b", block_id="b")], "duplicate block_id"),
    "duplicate action_id": ([actions(button(action_id="x"), button(action_id="x"))], "duplicate action_id"),
    "empty actions": ([actions()], "at least 1 item"),
    "empty markdown": ([{"type": "markdown", "text": ""}], "more than 0 characters"),
}


@pytest.mark.parametrize("name", STRUCTURE)
def test_structural_problems_are_invalid_blocks(slack, name):
    blocks, message = STRUCTURE[name]
    err = error_of(lambda: web(slack).chat_postMessage(channel="C1", text="t", blocks=blocks))
    assert err.response["error"] == "invalid_blocks"
    assert any(message in e and "[json-pointer:/blocks" in e for e in err.response["errors"]), err.response["errors"]
    assert slack.messages() == []


def test_same_action_id_in_two_blocks_is_allowed(slack):
    # Slack documents action_id as unique within its containing block only.
    web(slack).chat_postMessage(channel="C1", text="t", blocks=[actions(button(action_id="deep"), block_id="c1"),
                                                                actions(button(action_id="deep"), block_id="c2")])
    assert len(slack.messages()) == 1


def test_limits_apply_to_update_ephemeral_and_response_url(slack):
    client = web(slack)
    ts = client.chat_postMessage(channel="C1", text="ok")["ts"]
    too_big = [section("x" * 3001)]
    assert error_of(lambda: client.chat_update(channel="C1", ts=ts, text="t", blocks=too_big)
                    ).response["error"] == "invalid_blocks"
    assert error_of(lambda: client.chat_postEphemeral(channel="C1", user="U1", text="t", blocks=too_big)
                    ).response["error"] == "invalid_blocks"
    resp = WebhookClient(slack.response_url(), timeout=5).send(text="t", blocks=too_big)
    assert resp.status_code == 400 and json.loads(resp.body)["error"] == "invalid_blocks"
    assert slack.messages()[0].text == "ok" and slack.updates == [] and slack.ephemerals == []


# --------------------------------------------------------------------------- channels
@pytest.mark.parametrize("state, post_error, history_error", [
    ("not_in_channel", "not_in_channel", "not_in_channel"),
    ("is_archived", "is_archived", None),
    ("channel_not_found", "channel_not_found", "channel_not_found"),
])
def test_channel_states(state, post_error, history_error):
    with SlackServer(channels={"C1": "ok", "C3": state}) as slack:
        client = web(slack)
        assert error_of(lambda: client.chat_postMessage(channel="C3", text="x")).response["error"] == post_error
        if history_error:
            assert error_of(lambda: client.conversations_history(channel="C3")).response["error"] == history_error
        else:
            assert client.conversations_history(channel="C3")["messages"] == []
        client.chat_postMessage(channel="C1", text="fine")
        assert [m.channel for m in slack.messages()] == ["C1"]


def test_unknown_channel_and_state_switch(slack):
    client = web(slack)
    assert error_of(lambda: client.chat_postMessage(channel="C9", text="x")).response["error"] == "channel_not_found"
    slack.set_channel("C2", "is_archived")
    assert error_of(lambda: client.chat_postMessage(channel="C2", text="x")).response["error"] == "is_archived"
    info = client.conversations_info(channel="C2")["channel"]
    assert info["is_archived"] is True and info["id"] == "C2"


# --------------------------------------------------------------------------- history, threads, updates
def test_history_newest_first_top_level_only_with_cursor_pages(slack):
    client = web(slack)
    posted = [client.chat_postMessage(channel="C1", text=f"m{i}")["ts"] for i in range(5)]
    client.chat_postMessage(channel="C1", text="reply", thread_ts=posted[0])
    client.chat_postMessage(channel="C2", text="elsewhere")
    seen, cursor, pages = [], None, 0
    while True:
        page = client.conversations_history(channel="C1", limit=2, cursor=cursor)
        seen += [m["ts"] for m in page["messages"]]
        pages += 1
        cursor = page["response_metadata"]["next_cursor"]
        assert page["has_more"] is bool(cursor)
        if not cursor:
            break
    assert seen == posted[::-1] and pages == 3
    first = client.conversations_history(channel="C1")["messages"][-1]
    assert first["reply_count"] == 1 and first["thread_ts"] == posted[0]


def test_history_window_oldest_latest_inclusive(slack):
    client = web(slack)
    ts = [client.chat_postMessage(channel="C1", text=f"m{i}")["ts"] for i in range(4)]
    between = client.conversations_history(channel="C1", oldest=ts[0], latest=ts[3])["messages"]
    assert [m["ts"] for m in between] == [ts[2], ts[1]]
    inclusive = client.conversations_history(channel="C1", oldest=ts[0], latest=ts[3], inclusive=True)["messages"]
    assert [m["ts"] for m in inclusive] == ts[::-1]


def test_metadata_only_when_asked(slack):
    client = web(slack)
    meta = {"event_type": "commit_radar_digest", "event_payload": {"day": "2026-01-11"}}
    client.chat_postMessage(channel="C1", text="d", metadata=meta)
    assert "metadata" not in client.conversations_history(channel="C1")["messages"][0]
    assert client.conversations_history(channel="C1", include_all_metadata=True)["messages"][0]["metadata"] == meta


def test_threads_and_replies(slack):
    client = web(slack)
    parent = client.chat_postMessage(channel="C1", text="digest")["ts"]
    r1 = client.chat_postMessage(channel="C1", text="detail 1", thread_ts=parent)["ts"]
    client.chat_postMessage(channel="C1", text="detail 2", thread_ts=r1)  # a reply's ts threads under the parent
    got = client.conversations_replies(channel="C1", ts=parent)["messages"]
    assert [m["text"] for m in got] == ["digest", "detail 1", "detail 2"]
    assert [m.text for m in slack.replies(parent)] == ["detail 1", "detail 2"]
    assert [m.text for m in slack.messages("C1", top_level=True)] == ["digest"]
    assert [m.text for m in slack.messages("C1", top_level=False)] == ["detail 1", "detail 2"]
    assert error_of(lambda: client.chat_postMessage(channel="C1", text="x", thread_ts="1.000001")
                    ).response["error"] == "thread_not_found"
    assert error_of(lambda: client.conversations_replies(channel="C1", ts="1.000001")
                    ).response["error"] == "thread_not_found"


def test_update_keeps_edit_history(slack):
    client = web(slack)
    ts = client.chat_postMessage(channel="C1", text="v1", blocks=[section("one")])["ts"]
    client.chat_update(channel="C1", ts=ts, text="v2", blocks=[section("two")])
    resp = client.chat_update(channel="C1", ts=ts, text="v3")
    [msg] = slack.messages("C1")
    assert (msg.ts, msg.text, msg.blocks) == (ts, "v3", [section("two")])  # blocks left out are kept
    assert [e.text for e in msg.edits] == ["v2", "v3"] and [e.ts for e in slack.updates] == [ts, ts]
    assert resp["ts"] == ts and "edited" in client.conversations_history(channel="C1")["messages"][0]


def test_update_errors(slack):
    client = web(slack)
    ts = client.chat_postMessage(channel="C1", text="mine")["ts"]
    theirs = slack.post_user_message("C1", "a person wrote this")
    assert error_of(lambda: client.chat_update(channel="C1", ts="1.000001", text="x")
                    ).response["error"] == "message_not_found"
    assert error_of(lambda: client.chat_update(channel="C2", ts=ts, text="x")).response["error"] == "message_not_found"
    assert error_of(lambda: client.chat_update(channel="C1", ts=theirs.ts, text="x")
                    ).response["error"] == "cant_update_message"
    assert slack.updates == []


def test_ephemeral_is_seen_by_one_user_only(slack):
    client = web(slack)
    resp = client.chat_postEphemeral(channel="C1", user="U7", text="只有你能看到")
    [eph] = slack.ephemerals
    assert (eph.user, eph.text, eph.ts) == ("U7", "只有你能看到", resp["message_ts"])
    assert slack.messages() == [] and client.conversations_history(channel="C1")["messages"] == []


def test_permalink_and_info(slack):
    client = web(slack)
    ts = client.chat_postMessage(channel="C1", text="x")["ts"]
    link = client.chat_getPermalink(channel="C1", message_ts=ts)["permalink"]
    assert link.endswith(f"/archives/C1/p{ts.replace('.', '')}")
    assert error_of(lambda: client.chat_getPermalink(channel="C1", message_ts="1.000001")
                    ).response["error"] == "message_not_found"
    assert client.conversations_info(channel="C1")["channel"]["is_member"] is True


def test_all_text_covers_text_and_every_block(slack):
    web(slack).chat_postMessage(channel="C1", text="d112f6a fallback", blocks=RICH)
    text = slack.all_text(slack.messages()[0])
    assert text.count("d112f6a") == 3  # fallback + the link's URL and label; button values are not text
    assert "影响: scheduler" in text and "内存泄漏" in text and "Deep analysis" in text


# --------------------------------------------------------------------------- faults
def test_ratelimited_then_retry_handler_succeeds(slack):
    slack.fail("chat.postMessage", "ratelimited", retry_after=1)
    err = error_of(lambda: web(slack).chat_postMessage(channel="C1", text="x"))
    assert err.response.status_code == 429 and err.response.headers["Retry-After"] == "1"
    assert err.response["error"] == "ratelimited" and slack.messages() == []
    slack.fail("chat.postMessage", "ratelimited", retry_after=1)
    started = time.monotonic()
    web(slack, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)]).chat_postMessage(channel="C1", text="y")
    assert time.monotonic() - started >= 1 and [m.text for m in slack.messages()] == ["y"]


def test_server_errors_count_down(slack):
    slack.fail("*", "server_error", times=2, status=503)
    client = web(slack)
    assert error_of(lambda: client.auth_test()).response.status_code == 503
    assert error_of(lambda: client.chat_postMessage(channel="C1", text="x")).response.status_code == 503
    client.chat_postMessage(channel="C1", text="x")
    assert len(slack.messages()) == 1 and [r.status for r in slack.requests] == [503, 503, 200]


def test_server_error_retried_by_sdk_handler(slack):
    slack.fail("chat.update", "server_error", status=500)
    client = web(slack, retry_handlers=[ServerErrorRetryHandler(max_retry_count=1)])
    ts = client.chat_postMessage(channel="C1", text="a")["ts"]
    client.chat_update(channel="C1", ts=ts, text="b")
    assert [r.status for r in slack.calls("chat.update")] == [500, 200] and slack.messages()[0].text == "b"


def test_post_then_drop_records_the_message_but_never_answers(slack):
    slack.fail("chat.postMessage", "post_then_drop")
    with pytest.raises(Exception) as info:  # urllib's own error (RemoteDisconnected / URLError)
        web(slack).chat_postMessage(channel="C1", text="x")
    assert not isinstance(info.value, SlackApiError)
    assert [m.text for m in slack.messages()] == ["x"]


def test_post_then_drop_with_default_retries_posts_twice(slack):
    # slack_sdk's default ConnectionErrorRetryHandler re-sends the post: the duplicate the bot must avoid.
    slack.fail("chat.postMessage", "post_then_drop")
    WebClient(token=BOT, base_url=slack.api_url, timeout=5).chat_postMessage(channel="C1", text="x")
    assert [m.text for m in slack.messages()] == ["x", "x"]


def test_a_method_error_answers_200_ok_false_once_after_the_calls_that_pass(slack):
    slack.fail("conversations.history", "error", error="internal_error", after=1)
    client = web(slack, retry_handlers=[ServerErrorRetryHandler(max_retry_count=2)])  # a 200 is not retried
    assert client.conversations_history(channel="C1")["ok"] is True  # the first call passes
    err = error_of(lambda: client.conversations_history(channel="C1"))
    assert err.response.status_code == 200 and err.response["error"] == "internal_error"
    assert client.conversations_history(channel="C1")["ok"] is True


def test_post_then_hang_records_the_message_and_answers_nothing(slack):
    slack.fail("chat.postMessage", "post_then_hang")
    with pytest.raises(TimeoutError):
        web(slack, timeout=0.5).chat_postMessage(channel="C1", text="x")
    assert [m.text for m in slack.messages()] == ["x"]


def test_delay_outlasts_a_client_timeout(slack):
    slack.fail("conversations.history", "delay", seconds=2)
    with pytest.raises(TimeoutError):
        web(slack, timeout=0.3).conversations_history(channel="C1")
    assert web(slack).conversations_history(channel="C1")["ok"] is True


def test_per_channel_rate_limit():
    with SlackServer(channels=["C1", "C2"], rate_limit_per_channel=(2, 60)) as slack:
        client = web(slack)
        client.chat_postMessage(channel="C1", text="1")
        client.chat_postMessage(channel="C1", text="2")
        err = error_of(lambda: client.chat_postMessage(channel="C1", text="3"))
        assert err.response.status_code == 429 and 1 <= int(err.response.headers["Retry-After"]) <= 60
        client.chat_postMessage(channel="C2", text="other channel")
        assert [m.text for m in slack.messages("C1")] == ["1", "2"] and len(slack.messages("C2")) == 1


def test_hold_blocks_answers_until_release(slack):
    slack.hold()
    worker = threading.Thread(target=web(slack).chat_postMessage, kwargs={"channel": "C1", "text": "held"})
    worker.start()
    slack.wait_for(lambda: slack.calls("chat.postMessage"), timeout=5)
    worker.join(0.2)
    assert worker.is_alive() and slack.messages() == []
    slack.release()
    worker.join(5)
    assert not worker.is_alive() and [m.text for m in slack.messages()] == ["held"]


# --------------------------------------------------------------------------- response_url
def test_response_url_five_uses_then_used_url(slack):
    url = slack.response_url(channel="C1", user="U5")
    hook = WebhookClient(url, timeout=5)
    for i in range(5):
        resp = hook.send(text=f"answer {i}")
        assert resp.status_code == 200 and json.loads(resp.body) == {"ok": True}
    sixth = hook.send(text="one too many")
    assert sixth.status_code == 404 and json.loads(sixth.body)["error"] == "used_url"
    assert [r.body["text"] for r in slack.responses_to(url)] == [f"answer {i}" for i in range(5)] + ["one too many"]
    assert [e.user for e in slack.ephemerals] == ["U5"] * 5


def test_response_url_expires_after_30_minutes():
    now = [1_767_862_800.0]
    with SlackServer(clock=lambda: now[0]) as slack:
        url = slack.response_url()
        assert WebhookClient(url, timeout=5).send(text="in time").status_code == 200
        now[0] += 30 * 60 + 1
        late = WebhookClient(url, timeout=5).send(text="late")
        assert late.status_code == 404 and json.loads(late.body)["error"] == "expired_url"


def test_response_url_replace_delete_and_in_channel(slack):
    ts = web(slack).chat_postMessage(channel="C1", text="digest", blocks=RICH)["ts"]
    url = slack.response_url(channel="C1", message_ts=ts)
    hook = WebhookClient(url, timeout=5)
    assert hook.send(text="digest (analysed)", blocks=[section("deep ✅")], replace_original=True).status_code == 200
    [msg] = slack.messages("C1")
    assert (msg.text, msg.blocks, msg.edits[0].via) == ("digest (analysed)", [section("deep ✅")], "response_url")
    assert hook.send(text="for everyone", response_type="in_channel").status_code == 200
    assert [m.text for m in slack.messages("C1")] == ["digest (analysed)", "for everyone"]
    assert hook.send(delete_original=True).status_code == 200
    assert [m.text for m in slack.messages("C1")] == ["for everyone"]


# --------------------------------------------------------------------------- Socket Mode
def test_connections_open_needs_the_app_token_in_the_header(slack):
    url = web(slack, token=APP).apps_connections_open(app_token=APP)["url"]
    assert re.fullmatch(r"ws://127\.0\.0\.1:\d+/link/\?ticket=\w+&app_id=A1", url)
    assert error_of(lambda: web(slack).apps_connections_open(app_token=BOT)).response["error"] == "invalid_auth"
    form = requests.post(slack.api_url + "apps.connections.open", data={"token": APP}, timeout=5).json()
    assert form == {"ok": False, "error": "not_authed"}


def test_socket_mode_client_connects_and_acks(slack):
    raw: list[dict] = []
    client = SocketModeClient(app_token=APP, web_client=web(slack), on_message_listeners=[
        lambda m: raw.append(json.loads(m))])

    def on_request(c: SocketModeClient, req) -> None:
        payload = {"text": f"got {req.payload.get('text')}"} if req.type == "slash_commands" else None
        c.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id, payload=payload))

    client.socket_mode_request_listeners.append(on_request)
    try:
        client.connect()
        slack.socket.wait_connected(5)
        eid = slack.socket.send("slash_commands", slash_command_payload("/digest", "2026-01-11"),
                                accepts_response_payload=True)
        assert slack.socket.wait_ack(eid, 5) == {"envelope_id": eid, "payload": {"text": "got 2026-01-11"}}
        eid2 = slack.socket.send("events_api", {"event": {"type": "app_mention", "text": "hi"}}, retry_attempt=1,
                                 retry_reason="timeout")
        assert slack.socket.wait_ack(eid2, 5) == {"envelope_id": eid2}
        hello = raw[0]
        assert hello["type"] == "hello" and hello["connection_info"] == {"app_id": "A1"}
        assert raw[2]["retry_attempt"] == 1 and slack.socket.connections == 1
        slack.socket.disconnect()  # Slack's "refresh": the client opens a new connection by itself
        slack.wait_for(lambda: slack.socket.connections == 2, timeout=5)
        assert len(slack.calls("apps.connections.open")) == 2
    finally:
        client.close()


def test_socket_mode_pings_are_answered(slack):
    client = SocketModeClient(app_token=APP, web_client=web(slack), ping_interval=0.1)
    try:
        client.connect()
        slack.wait_for(lambda: client.current_session.last_ping_pong_time is not None, timeout=5)
        assert slack.socket.connections == 1
    finally:
        client.close()


def test_websocket_without_a_valid_ticket_is_refused(slack):
    with pytest.raises(InvalidStatus):
        ws_connect(f"ws://127.0.0.1:{slack.socket.port}/link/?ticket=forged", open_timeout=5)


# --------------------------------------------------------------------------- signing helpers
def test_signed_headers_match_slacks_documented_example():
    # The worked example of Slack's "Verifying requests from Slack" page.
    body = (b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
            b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
            b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
            b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")
    headers = signed_headers("8f742231b10e8888abcd99yyyzzz85a5", body, timestamp=1531420618)
    assert headers["X-Slack-Signature"] == "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


def test_signed_headers_pass_slack_sdks_verifier():
    body = slash_command_body("/digest", "2026-01-11 中文", "C1", "U1", "http://127.0.0.1:1/response/x", "t.1")
    headers = signed_headers("s3cret", body)
    verifier = SignatureVerifier("s3cret")
    assert verifier.is_valid(body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"])
    assert not verifier.is_valid(body + b"x", headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"])


def test_bolt_accepts_the_helpers_and_responds_through_response_url(slack):
    app = App(client=web(slack), signing_secret="s3cret")  # token check: auth.test against the server
    got: dict = {}

    @app.command("/digest")
    def digest(ack, command, respond):
        ack(text="working on it")
        got["command"] = command
        respond(text=f"digest for {command['text']}")

    @app.action("deep")
    def deep(ack, body):
        ack()
        got["action"] = body

    url = slack.response_url(channel="C1", user="U1")
    body = slash_command_body("/digest", "2026-01-11", "C1", "U1", url, "t.1")
    resp = app.dispatch(BoltRequest(body=body.decode(), headers=signed_headers("s3cret", body)))
    assert resp.status == 200 and resp.body == "working on it"
    [answer] = slack.wait_for(lambda: slack.ephemerals)  # Bolt runs the listener after the ack
    assert answer.text == "digest for 2026-01-11" and got["command"]["channel_id"] == "C1"

    body = block_action_body("deep", "d112f6a", "commit-d112f6a", "C1", "U1", "1767862800.000100", url)
    assert app.dispatch(BoltRequest(body=body.decode(), headers=signed_headers("s3cret", body))).status == 200
    action = slack.wait_for(lambda: got.get("action"))
    assert action["actions"][0]["value"] == "d112f6a" and action["container"]["message_ts"] == "1767862800.000100"

    stale = signed_headers("s3cret", body, timestamp=int(time.time()) - 600)
    assert app.dispatch(BoltRequest(body=body.decode(), headers=stale)).status == 401
    assert slack.calls("auth.test")
