"""Slack in and out: Bolt listeners that ack at once and hand the work to ChatOps (commands, Deep analysis) or the
PostButton (Post to channel); a channel as a Destination; answers through `response_url`. No decisions here:
parsing, checks and posting rules live in handlers/chat.py, handlers/publisher.py and handlers/delivery.py."""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from typing import Any

from slack_bolt import Ack, App
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (ConnectionErrorRetryHandler, RateLimitErrorRetryHandler,
                                                   ServerErrorRetryHandler)
from slack_sdk.signature import SignatureVerifier
from slack_sdk.webhook import WebhookClient

from core.models import CommitReport, Digest
from digest import rollup_view
from digest.render import rollup as render_rollup
from digest.render import slack as render
from digest.rollup import Rollup
from handlers.chat import ChatOps
from handlers.delivery import DestinationGone, Part, Rendered, SendFailed, Tag
from handlers.post_button import PostButton, PostClick
from handlers.web import Response, Route, refuse

log = logging.getLogger(__name__)

EVENT_TYPE = "commit_radar_post"
GONE = {
    "not_in_channel": "the bot is not in this channel: invite it with /invite @Commit Radar",
    "channel_not_found": "the channel was not found (deleted, or private without the bot): invite the bot again",
    "is_archived": "the channel is archived: unarchive it or subscribe another channel",
    "account_inactive": "the Slack app was removed or its token revoked: reinstall it and update SLACK_BOT_TOKEN",
    "token_revoked": "the Slack app was removed or its token revoked: reinstall it and update SLACK_BOT_TOKEN",
    "invalid_auth": "SLACK_BOT_TOKEN is not valid: reinstall the app and update SLACK_BOT_TOKEN",
    "not_authed": "SLACK_BOT_TOKEN is missing",
    "restricted_action": "the workspace does not let the bot post in this channel",
}
RESPONSE_URL_USES = 5  # Slack: a response_url takes 5 posts within 30 minutes


def web_client(token: str, base_url: str, *, post_only: bool = False, timeout: int = 30) -> WebClient:
    """A WebClient that honours Retry-After on 429. The posting client retries nothing else by itself: a post
    that timed out may have been posted, so the destination looks for it before posting again."""
    handlers: list[Any] = [RateLimitErrorRetryHandler(max_retry_count=5)]
    if not post_only:
        handlers += [ServerErrorRetryHandler(max_retry_count=2), ConnectionErrorRetryHandler(max_retry_count=2)]
    return WebClient(token=token, base_url=base_url, timeout=timeout, retry_handlers=handlers)


class Pacer:
    """About one message a second per channel (Slack's chat.postMessage limit), shared by every sender."""

    def __init__(self, interval: float = 1.0) -> None:
        self.interval = interval
        self._lock = threading.Lock()
        self._next: dict[str, float] = {}

    def wait(self, channel: str) -> None:
        with self._lock:
            now = time.monotonic()
            at = max(now, self._next.get(channel, 0.0))
            self._next[channel] = at + self.interval
        if at > now:
            time.sleep(at - now)


class SlackDestination:
    platform = "slack"
    can_find = True
    can_edit = True

    def __init__(self, client: WebClient, post_client: WebClient, channel: str, pacer: Pacer) -> None:
        self.client = client
        self.post_client = post_client
        self.channel = channel
        self.pacer = pacer

    def render(self, digest: Digest, *, late: bool) -> Rendered:
        top = Part({"text": render.fallback_text(digest), "blocks": render.summary_blocks(digest, late=late,
                                                                                        thread_hint=True)})
        replies = tuple(Part({"text": render.details_fallback(digest, shas), "blocks": blocks}, shas)
                        for blocks, shas in render.detail_messages(digest))
        return Rendered(top, replies)

    def render_rollup(self, rolled: Rollup, *, late: bool = False) -> Rendered:
        view = rollup_view.build(rolled)
        return Rendered(Part({"text": render_rollup.slack_fallback(view), "blocks": render_rollup.slack_blocks(
            view, zone=rolled.zone, branch=rolled.branch)}))

    def render_commits(self, digest: Digest, shas: tuple[str, ...], *, note: str | None = None) -> tuple[Part, ...]:
        wanted = set(shas)
        entries = [e for e in digest.entries if e.commit.sha in wanted]
        return tuple(Part({"text": render.details_fallback(digest, group, note), "blocks": blocks}, group)
                     for blocks, group in render.detail_messages(digest, entries, note))

    def send(self, part: Part, *, tag: Tag, thread: str | None) -> str:
        metadata = {"event_type": EVENT_TYPE, "event_payload": {"tag": tag.text}}
        for attempt in range(2):
            self.pacer.wait(self.channel)
            try:
                resp = self.post_client.chat_postMessage(channel=self.channel, thread_ts=thread, metadata=metadata,
                                                         unfurl_links=False, unfurl_media=False, **part.payload)
                return str(resp["ts"])
            except SlackApiError as err:
                error = str(err.response.get("error", "")) if err.response is not None else ""
                if error in GONE:
                    raise DestinationGone(GONE[error]) from None
                status = err.response.status_code if err.response is not None else 0
                if status < 500:
                    raise SendFailed(f"Slack refused the message: {error or status}") from None
                reason = f"Slack answered HTTP {status}"
            except Exception as err:  # a timeout or a dropped connection: the message may have been posted
                reason = f"Slack did not answer ({type(err).__name__})"
            log.warning("%s in %s: looking for the message before posting again", reason, self.channel)
            if (found := self.find(tag, thread)) is not None:
                return found
        raise SendFailed(reason)

    def find(self, tag: Tag, thread: str | None) -> str | None:
        """Our message with this tag among the channel's latest messages (or the thread's replies). A look-up that
        fails is no answer: SendFailed (retried later), never "not found", which would post a second time."""
        try:
            if thread is None:
                resp = self.client.conversations_history(channel=self.channel, limit=200, include_all_metadata=True)
            else:
                resp = self.client.conversations_replies(channel=self.channel, ts=thread, limit=200,
                                                         include_all_metadata=True)
        except SlackApiError as err:
            error = str(err.response.get("error", "")) if err.response is not None else ""
            if error in GONE:
                raise DestinationGone(GONE[error]) from None
            raise SendFailed(f"cannot tell whether the message was posted in {self.channel} (Slack answered "
                             f"{error or 'an error'} to the look-up): retried later") from None
        except Exception as err:  # no answer: whether it was posted is unknown
            raise SendFailed(f"cannot tell whether the message was posted in {self.channel} (the look-up got no "
                             f"answer: {type(err).__name__}): retried later") from None
        for message in resp.get("messages", []):
            meta = message.get("metadata") or {}
            if meta.get("event_type") == EVENT_TYPE and (meta.get("event_payload") or {}).get("tag") == tag.text:
                return str(message["ts"])
        return None

    def update(self, message_id: str, part: Part) -> None:
        try:
            self.client.chat_update(channel=self.channel, ts=message_id, **part.payload)
        except SlackApiError as err:
            error = str(err.response.get("error", ""))
            raise (DestinationGone(GONE[error]) if error in GONE else SendFailed(f"chat.update failed: {error}")) from None


class ResponseReply:
    """Answers to one command or click through its response_url: ephemeral, progress throttled to fit the five
    uses Slack allows (one kept for the answer and one for an error)."""

    def __init__(self, url: str, client: WebClient, channel: str, user: str, *, progress_every: float = 3.0,
                 replace: bool = True) -> None:
        self.webhook = WebhookClient(url, timeout=15, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=3),
                                                                      ServerErrorRetryHandler(max_retry_count=2)])
        self.client = client
        self.channel = channel
        self.user = user
        self.progress_every = progress_every
        self.replace = replace
        self.uses = 0
        self.last_progress = 0.0
        self._lock = threading.Lock()

    def send(self, blocks: list[dict[str, Any]], fallback: str) -> None:
        with self._lock:
            self.uses += 1
            use = self.uses
        if use <= RESPONSE_URL_USES:  # the first answer makes the ephemeral message, later ones replace it
            resp = self.webhook.send(text=fallback, blocks=blocks, response_type="ephemeral",
                                     replace_original=self.replace and use > 1)
            if resp.status_code == 200:
                return
            log.warning("response_url answered %s %s; answering with chat.postEphemeral", resp.status_code, resp.body)
        try:
            self.client.chat_postEphemeral(channel=self.channel, user=self.user, text=fallback, blocks=blocks)
        except SlackApiError as err:
            log.error("could not answer %s in %s: %s", self.user, self.channel, err.response.get("error"))

    def progress(self, line: str) -> None:
        now = time.monotonic()
        with self._lock:
            if self.uses >= RESPONSE_URL_USES - 2 or now - self.last_progress < self.progress_every:
                return
            self.last_progress = now
        self.send(render.notice_blocks(render.esc_text(line)), render.esc(line))

    def digest(self, digest: Digest) -> None:
        self.send(render.ephemeral_digest(digest), render.fallback_text(digest))

    def report(self, report: CommitReport) -> None:
        self.send(render.report_blocks(report), render.esc(report.commit.title))

    def rollup(self, rolled: Rollup) -> None:
        view = rollup_view.build(rolled)
        self.send(render_rollup.slack_blocks(view, zone=rolled.zone, branch=rolled.branch),
                  render_rollup.slack_fallback(view))

    def notice(self, message: str) -> None:
        self.send(render.notice_blocks(render.esc_text(message)), render.esc(message.split("\n")[0]))


class ThreadReply:
    """Answers to a Deep analysis click on a channel message: in that message's thread, for everyone."""

    def __init__(self, client: WebClient, channel: str, thread_ts: str, fallback: ResponseReply) -> None:
        """`client` retries nothing but 429s: a post whose answer was lost must not be posted twice."""
        self.client = client
        self.channel = channel
        self.thread_ts = thread_ts
        self.message = thread_ts  # its digest's thread, by its top message
        self.fallback = fallback

    def progress(self, line: str) -> None:
        self.fallback.progress(line)

    def digest(self, digest: Digest) -> None:
        self.fallback.digest(digest)

    def rollup(self, rolled: Rollup) -> None:
        self.fallback.rollup(rolled)

    def report(self, report: CommitReport) -> None:
        self.post(report)

    def post(self, report: CommitReport) -> str | None:
        try:
            return str(self.client.chat_postMessage(channel=self.channel, thread_ts=self.thread_ts, unfurl_links=False,
                                                    text=render.esc(report.commit.title),
                                                    blocks=render.report_blocks(report))["ts"])
        except Exception as err:  # refused, or no answer (it may have been posted): the user still gets it, privately
            log.warning("cannot post the deep analysis in %s: %s", self.channel, type(err).__name__)
            self.fallback.report(report)
            return None

    def point_to(self, message_id: str, sha: str, lang: str) -> None:
        """Privately, to the clicker: the deep analysis is already in the thread, linked (chat.getPermalink)."""
        line = render.text(lang, "deep_in_thread", sha=sha[:7])
        try:
            url = str(self.client.chat_getPermalink(channel=self.channel, message_ts=message_id)["permalink"])
        except Exception as err:  # no link: the line alone still says where to look
            log.warning("no permalink for %s in %s: %s", message_id, self.channel, type(err).__name__)
            self.fallback.notice(line.rstrip(":"))
            return
        linked = f"{render.esc(line)} {render.link(url, render.text(lang, 'deep_open'))}"
        self.fallback.send(render.notice_blocks(linked), render.esc(line))

    def notice(self, message: str) -> None:
        self.fallback.notice(message)


def register(app: App, ops: ChatOps, post_button: PostButton, *, progress_every: float = 3.0) -> None:
    """Wire Slack's commands and the Deep analysis button to ChatOps, the Post to channel button to the
    Publisher's: ack first (inside Slack's 3 s), work lazily on the pool."""
    client = app.client
    post_client = web_client(client.token or "", client.base_url, post_only=True)

    def reply_for(body: dict[str, Any], replace: bool = True) -> ResponseReply:
        channel = body.get("channel_id") or (body.get("channel") or {}).get("id", "")
        user = body.get("user_id") or (body.get("user") or {}).get("id", "")
        return ResponseReply(body.get("response_url", ""), client, channel, user, progress_every=progress_every,
                             replace=replace)

    def ack_command(ack: Ack) -> None:
        ack()  # at once; the first answer (progress, help, an error) follows through response_url

    def run_command(body: dict[str, Any]) -> None:
        ops.handle("slack", body.get("channel_id", ""), body.get("user_id", ""), body.get("command", ""),
                   body.get("text", ""), reply_for(body))

    for name in ("/digest", "/analyze"):
        app.command(name)(ack=ack_command, lazy=[run_command])

    def ack_action(ack: Ack) -> None:
        ack()

    def run_deep(body: dict[str, Any]) -> None:
        action = body["actions"][0]
        value = _value(action)
        container = body.get("container") or {}
        channel = (body.get("channel") or {}).get("id") or container.get("channel_id", "")
        message_ts = container.get("message_ts") or (body.get("message") or {}).get("ts", "")
        key = f"deep|{channel}|{message_ts}|{action.get('action_id')}|{action.get('value')}"
        fallback = reply_for(body, replace=False)
        reply: Any = fallback
        if container.get("type") == "message" and not container.get("is_ephemeral") and message_ts:
            reply = ThreadReply(post_client, channel, (body.get("message") or {}).get("thread_ts") or message_ts,
                                fallback)
        ops.deep("slack", key, str(value.get("repo", "")), str(value.get("sha", "")), str(value.get("lang", "en")),
                 reply, user=(body.get("user") or {}).get("id", ""),
                 thread=reply if isinstance(reply, ThreadReply) else None, channel=channel)

    def run_post(body: dict[str, Any]) -> None:
        action = body["actions"][0]
        value = _value(action)
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id", "")
        key = f"post|{channel}|{(body.get('container') or {}).get('message_ts')}|{action.get('value')}"
        reply = reply_for(body)
        click = PostClick("slack", channel, (body.get("user") or {}).get("id", ""), key, str(value["repo"]),
                          date.fromisoformat(value["day"]), str(value["zone"]), str(value["lang"]), value.get("branch"))
        outcome = post_button.click(click, reply)
        if outcome is not None and outcome.status == "posted":  # our words and a channel id: trusted mrkdwn
            reply.send(render.notice_blocks(render.posted_to(str(value["lang"]), channel)), "posted")

    def run_day(body: dict[str, Any]) -> None:
        """A day's button of a roll-up: that day's digest for the person who clicked, as `/digest DAY` answers it
        (the value is ours but comes back through the client: every word is parsed and checked again)."""
        value = _value(body["actions"][0])
        words = [str(value.get(k, "")) for k in ("day", "repo")] + [
            f"{k} {value[v]}" for k, v in (("tz", "zone"), ("lang", "lang")) if value.get(v)]
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id", "")
        ops.handle("slack", channel, (body.get("user") or {}).get("id", ""), "/digest", " ".join(words),
                   reply_for(body, replace=False))

    import re

    app.action(re.compile(f"^{render.DEEP_ACTION}"))(ack=ack_action, lazy=[run_deep])
    app.action(re.compile(f"^{render_rollup.DAY_ACTION}:"))(ack=ack_action, lazy=[run_day])
    app.action(render.POST_ACTION)(ack=ack_action, lazy=[run_post])

    @app.error
    def on_error(error: Exception, body: dict[str, Any]) -> None:
        log.error("Slack listener failed: %s", type(error).__name__, exc_info=error)


def _value(action: dict[str, Any]) -> dict[str, Any]:
    try:
        value = json.loads(action.get("value") or "{}")
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def build_app(token: str, signing_secret: str | None, api_url: str, workers: int = 64) -> App:
    """A Bolt app whose every Web API call goes to `api_url`. ack() runs in the request's own thread (nothing to
    wait for in a pool); the work runs on a bounded pool, large enough that commands waiting for the LLM (bounded
    by its own pool) do not keep a stored digest from being answered, and started in full before any request."""
    # Socket Mode has no HTTP route; a random secret (never a constant, never "") so nothing could verify over HTTP
    return App(client=web_client(token, api_url), signing_secret=signing_secret or secrets.token_hex(32),
               token_verification_enabled=False, process_before_response=True,
               listener_executor=prestarted(ThreadPoolExecutor(max_workers=workers, thread_name_prefix="slack"),
                                            workers))


FORM = "application/x-www-form-urlencoded"  # how Slack sends slash commands and interactivity


def http_route(app: App, signing_secret: str) -> Route:
    """/slack/events: the timestamp and signature are checked before Bolt parses a byte of the body, so a
    malformed or unsigned request gets a fixed 400/401 (and one WARNING line a minute), never a traceback."""
    verifier = SignatureVerifier(signing_secret)

    def route(body: bytes, headers: dict[str, str], query: str) -> Response:
        stamp, signature = headers.get("x-slack-request-timestamp", ""), headers.get("x-slack-signature", "")
        if not (stamp and signature):
            return refuse(401, "Slack request without a signature")
        if not (stamp.isascii() and stamp.isdigit()):
            return refuse(400, "Slack request without a valid X-Slack-Request-Timestamp")
        text = body.decode("utf-8", "replace")
        if not verifier.is_valid(text, stamp, signature):
            return refuse(401, "Slack request with a wrong signature or older than 5 minutes")
        if headers.get("content-type", "").split(";")[0].strip().lower() != FORM:
            return refuse(400, "Slack request that is not a command or an action (form-encoded)")
        try:
            request = BoltRequest(body=text, query=query, headers=headers)
        except ValueError:  # a payload= field that is not JSON
            return refuse(400, "Slack request whose payload is not JSON")
        resp = app.dispatch(request)
        return Response(resp.status, (resp.body or "").encode(),
                        tuple((k, v[0]) for k, v in resp.headers.items() if v))

    return route


def prestarted(pool: ThreadPoolExecutor, workers: int) -> ThreadPoolExecutor:
    """`pool` with all its threads running. ThreadPoolExecutor starts a thread inside submit(), under a lock that
    every submitter shares: in a burst of commands each request thread waited there for thread starts (260 ms p50
    of the ack time under load)."""
    everyone = threading.Barrier(workers)
    for future in [pool.submit(everyone.wait, 10) for _ in range(workers)]:
        future.result()
    return pool


def destination_factory(token: str, api_url: str, pacer: Pacer) -> Callable[[str], SlackDestination]:
    client = web_client(token, api_url)
    post_client = web_client(token, api_url, post_only=True)
    return lambda channel: SlackDestination(client, post_client, channel, pacer)
