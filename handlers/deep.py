"""A Deep analysis click on a posted digest, written once for Slack and Feishu: the analysis is posted once in the
digest's thread and where it went is stored; a later click on the same commit there links to it instead.

Two clicks at once in one process share one run (single flight: the second waits, then links); two processes
serialise on the stored claim, as posts do (digest/singleflight.py, storage/deep_posts.py).
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

import sqlite_utils

from core.models import CommitReport
from digest.labels import text
from digest.singleflight import SingleFlight
from handlers.delivery import owner_dead
from storage import deep_posts, posts
from storage.deep_posts import DeepKey

log = logging.getLogger(__name__)


class Thread(Protocol):
    """The thread of the message clicked: where its answer is posted for everyone."""

    channel: str
    message: str  # the message clicked: the digest's top message or one of its thread's replies

    def post(self, report: CommitReport) -> str | None:
        """Post the analysis in the thread; its message id, or None when it could not be (the clicker got it
        privately instead)."""
        ...

    def point_to(self, message_id: str, sha: str, lang: str) -> None:
        """Tell the clicker that the deep analysis of `sha` is the thread's message `message_id`."""
        ...

    def notice(self, message: str) -> None: ...


Outcome = tuple[str | None, bool]  # (the message that holds the analysis, whether this run posted it)


@dataclass
class DeepOnce:
    db: Callable[[], sqlite_utils.Database]
    clock: Callable[[], datetime]
    flight: SingleFlight[Outcome] = field(default_factory=SingleFlight)
    process: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")

    def answer(self, platform: str, thread: Thread, repo: str, sha: str, lang: str,
               report: Callable[[], CommitReport | None]) -> None:
        """`report()` makes the analysis (None: refused, and answered); it runs only if the thread has none yet."""
        key = DeepKey(platform, thread.channel, posts.thread_of(self.db(), platform, thread.channel, thread.message),
                      sha)
        for _ in range(2):  # a click that waited for another whose analysis was refused (its limits) tries itself
            led = False

            def once(_: object) -> Outcome:
                nonlocal led
                led = True
                return self._once(key, repo, lang, thread, report)

            message_id, posted_now = self.flight.run(key, once)
            if message_id is not None:
                if not (led and posted_now):
                    thread.point_to(message_id, sha, lang)
                return
            if led:
                return

    def _once(self, key: DeepKey, repo: str, lang: str, thread: Thread,
              report: Callable[[], CommitReport | None]) -> Outcome:
        db = self.db()
        found = deep_posts.load(db, key)
        if found is not None and found.state == "posted":
            return found.message_id, False
        made = report()
        if made is None:
            return None, False
        owner = f"{self.process}:{uuid.uuid4().hex[:10]}"
        if not deep_posts.claim(db, key, repo, owner, self.clock(), dead=owner_dead):
            found = deep_posts.load(db, key)  # another process has posted it, or is posting it now
            if found is None or found.message_id is None:
                thread.notice(text(lang, "deep_posting", sha=key.sha[:7]))
                return None, True
            return found.message_id, False
        message_id = thread.post(made)
        if message_id is None:
            deep_posts.release(db, key, owner)
            return None, True
        deep_posts.posted(db, key, owner, message_id, self.clock())
        return message_id, True
