"""Exactly-once delivery of a day's digest to a destination, written once for Slack and Feishu.

A destination (a Slack channel, a Feishu chat, a Feishu webhook) implements the narrow `Destination` protocol:
render a digest into a top-level message and thread replies, send one, find one sent before by its tag, update
one. Everything else is here: the claim before building, the heartbeat, saving each message id right after
sending, resuming a thread where a killed process stopped, and pausing a destination that is gone. Refreshes of a
posted digest (edits, follow-ups) are handlers/refresh.py's; handlers/publisher.py is what callers use.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Protocol

import sqlite_utils

from core.errors import BadInput
from core.models import Digest
from digest.relevance import worth_posting
from storage import posts
from storage import subscriptions as subs
from storage.posts import PostKey

log = logging.getLogger(__name__)

HEARTBEAT_EVERY = 10.0  # seconds; posts.STALE_AFTER is many times this


@dataclass(frozen=True)
class Part:
    """One message: the platform's payload and the commits it shows (so later edits find their message)."""

    payload: dict[str, Any]
    shas: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rendered:
    top: Part
    replies: tuple[Part, ...] = ()


@dataclass(frozen=True)
class Tag:
    """What marks a message as ours, for finding one whose id was never saved (and Feishu's idempotency uuid)."""

    key: PostKey
    part: int
    generation: int

    @property
    def text(self) -> str:
        return f"{self.key.repo}|{self.key.day}|{self.part}|{self.generation}"

    @property
    def uuid(self) -> str:
        """<= 50 characters, stable for (destination, repo, day, part, generation)."""
        return uuid.uuid5(uuid.NAMESPACE_URL, f"{self.key.platform}:{self.key.channel}|{self.text}").hex


class DestinationGone(Exception):
    """The destination cannot take posts until someone acts (bot removed, channel archived or not found)."""


class SendFailed(Exception):
    """A send failed after the platform client's own retries; the post is retried later."""


class Destination(Protocol):
    platform: str
    channel: str
    can_find: bool  # whether `find` can see earlier sends (a webhook cannot: at least once there)
    can_edit: bool  # whether posted messages can be updated in place (a webhook's cannot: follow-ups instead)

    def render(self, digest: Digest, *, late: bool) -> Rendered: ...

    def render_rollup(self, rolled: Any, *, late: bool = False) -> Rendered: ...  # a digest.rollup.Rollup

    def render_commits(self, digest: Digest, shas: tuple[str, ...], *, note: str | None = None) -> tuple[Part, ...]:
        """Messages showing exactly these commits of the digest (a reply re-rendered, or a follow-up)."""
        ...

    def send(self, part: Part, *, tag: Tag, thread: str | None) -> str:
        """Post a message (a reply in `thread` when given); its id. DestinationGone or SendFailed."""
        ...

    def find(self, tag: Tag, thread: str | None) -> str | None:
        """The id of a message sent earlier with this tag, None when it was not sent; SendFailed when the look-up
        failed (unknown is not "not sent": the post is retried later, never sent blind)."""
        ...

    def update(self, message_id: str, part: Part) -> None: ...


@dataclass(frozen=True)
class Outcome:
    status: str  # posted | already | busy | quiet | paused | failed
    detail: str = ""
    message_id: str | None = None
    replies: int = 0


def new_owner(process: str) -> str:
    """A claim's owner: this host, this process, a random part (two threads of one process never share one)."""
    return f"{process}:{uuid.uuid4().hex[:10]}"


def this_process() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_dead(owner: str) -> bool:
    """A claim's owner is dead when it is a process of this host that no longer runs (killed, crashed)."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another machine's process: only its heartbeat can tell
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return int(pid) != os.getpid() and _zombie(int(pid))


def _zombie(pid: int) -> bool:
    """A killed child not yet reaped still answers kill(0): its state in /proc says Z."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            return stat.read().rsplit(")", 1)[-1].split()[0] == "Z"
    except OSError:
        return False


@dataclass
class Poster:
    """First posts: claims, builds, sends, resumes. One per process; each post gets its own owner id (this host,
    this process, a random part), so two threads of one process cannot both win a claim. Refreshes of a posted
    digest are handlers.refresh's."""

    db: Callable[[], sqlite_utils.Database]
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(timezone.utc))
    process: str = field(default_factory=this_process)
    heartbeat_every: float = HEARTBEAT_EVERY

    def post(self, dest: Destination, repo: str, day: date | str, build: Callable[[], Digest], *, quiet: str = "line",
             late: bool = False, force: bool = False, digest_key: tuple[str, str, str | None] | None = None,
             render: Callable[..., Rendered] | None = None) -> Outcome:
        """Post the digest of `day` to `dest` once. `build` runs only after the claim is won. `digest_key` (zone,
        lang, branch) is saved with the claim so that a failed post is retried with the same settings. A weekly
        roll-up is posted the same way: `day` is its week (`2026-W02`), `build` makes it and `render` renders it."""
        key = PostKey(dest.platform, dest.channel, repo, day if isinstance(day, str) else day.isoformat())
        db, owner = self.db(), new_owner(self.process)
        existing = posts.load(db, key)
        generation = posts.next_generation(db, key) if force else (existing.generation if existing else 0)
        top = posts.claim(db, key, 0, owner, self.clock(), generation=generation, late=late, dead=owner_dead)
        if top is None:
            row = posts.load(db, key)
            return Outcome("already" if row and row.state == "posted" else "busy",
                           message_id=row.message_id if row else None)
        if digest_key is not None:
            posts.describe(db, key, *digest_key)
        with heartbeat(self.db, key, owner, self.clock, self.heartbeat_every) as lost:
            try:
                digest = build()
            except BadInput:  # asking again will not help: no claim is left behind
                posts.release(db, key, owner)
                raise
            except BaseException as err:  # GitHub or git failed: the retry job tries again
                posts.failed(db, key, 0, owner, f"the digest could not be built: {err}")
                raise
            quiet_day = digest.empty and quiet in ("skip", "unless-watched")
            unwatched = render is None and quiet == "unless-watched" and not worth_posting(digest)
            if (quiet_day or unwatched) and top.message_id is None:
                posts.release(db, key, owner)
                return Outcome("quiet")
            try:
                return self._send_all(dest, key, top, digest, late or top.late, owner, lost, render)
            except DestinationGone as gone:
                posts.failed(db, key, 0, owner, str(gone))
                subs.pause(db, dest.platform, dest.channel, str(gone), self.clock())
                log.warning("%s:%s paused: %s", dest.platform, dest.channel, gone)
                return Outcome("paused", str(gone))
            except SendFailed as err:
                posts.failed(db, key, 0, owner, str(err))
                log.warning("%s:%s %s %s not posted yet (retried later): %s", dest.platform, dest.channel, repo,
                            key.day, err)
                return Outcome("failed", str(err))

    def _send_all(self, dest: Destination, key: PostKey, top: posts.PartRow, digest: Digest, late: bool,
                  owner: str, lost: threading.Event, render: Callable[..., Rendered] | None = None) -> Outcome:
        db = self.db()
        rendered = (render or dest.render)(digest, late=late)
        digest_key = digest.shown_as
        top_id = top.message_id
        if top_id is None:
            tag = Tag(key, 0, top.generation)
            check(lost)
            top_id = (dest.find(tag, None) if dest.can_find and top.attempts > 1 else None) \
                or dest.send(rendered.top, tag=tag, thread=None)
            posts.sent(db, key, 0, owner, top_id, shas=rendered.top.shas, done=False, now=self.clock(),
                       digest_key=digest_key)
        else:  # resumed: what the top shows was saved when it was sent; a claim of older code may lack the branch
            posts.describe(db, key, *digest_key)
        sent = 0
        for number, part in enumerate(rendered.replies, start=1):
            row = posts.claim(db, key, number, owner, self.clock(), generation=top.generation, dead=owner_dead)
            if row is None or row.message_id is not None:
                if row is not None:  # saved but not marked done: a crash between the two writes
                    posts.sent(db, key, number, owner, row.message_id, thread_id=top_id, shas=row.shas,
                               now=self.clock())
                continue
            tag = Tag(key, number, top.generation)
            check(lost)
            reply_id = (dest.find(tag, top_id) if dest.can_find and row.attempts > 1 else None) \
                or dest.send(part, tag=tag, thread=top_id)
            posts.sent(db, key, number, owner, reply_id, thread_id=top_id, shas=part.shas, now=self.clock())
            sent += 1
        posts.finish(db, key, owner, self.clock())
        return Outcome("posted", message_id=top_id, replies=sent)

@contextmanager
def heartbeat(db: Callable[[], sqlite_utils.Database], key: PostKey, owner: str, clock: Callable[[], datetime],
              every: float = HEARTBEAT_EVERY) -> Iterator[threading.Event]:
    """Keep a claim fresh while building and sending, from a thread with its own connection. The event is set when
    another owner took the claim over (this one was silent too long): stop sending then."""
    stop, lost = threading.Event(), threading.Event()

    def beat() -> None:
        while not stop.wait(every):
            try:
                if not posts.heartbeat(db(), key, owner, clock()):
                    lost.set()
            except Exception:  # a locked database for a moment: the next beat tries again
                log.warning("heartbeat of %s %s failed", key.repo, key.day, exc_info=True)

    thread = threading.Thread(target=beat, name="claim-heartbeat", daemon=True)
    thread.start()
    try:
        yield lost
    finally:
        stop.set()
        thread.join()


def check(lost: threading.Event) -> None:
    if lost.is_set():
        raise SendFailed("another process took this post over (this one was silent too long); it goes on from there")
