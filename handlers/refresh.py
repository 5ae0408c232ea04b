"""Bringing a posted digest up to date: the top message and the replies that show a changed commit edited in
place, late commits appended, and follow-ups where a destination cannot edit (a webhook). One refresh of a post
at a time, under a pseudo-part claim kept fresh by the same heartbeat as a first post."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone

import sqlite_utils

from core.models import Digest
from digest.labels import text
from handlers.delivery import (HEARTBEAT_EVERY, Destination, Part, Tag, check, heartbeat, new_owner, owner_dead,
                               this_process)
from storage import posts
from storage.posts import PostKey

REFRESH_LOCK = -1  # a pseudo-part claimed while a posted digest is brought up to date


@dataclass
class Refresher:
    """Edits and follow-ups of posted digests; each refresh gets its own owner id, like a first post."""

    db: Callable[[], sqlite_utils.Database]
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(timezone.utc))
    process: str = field(default_factory=this_process)
    heartbeat_every: float = HEARTBEAT_EVERY

    def refresh(self, dest: Destination, key: PostKey, digest: Digest, changed: set[str], *,
                notice: str | None = None) -> int:
        """Bring a posted digest up to date: edit the top message and the replies that show a changed commit, in
        place (each reply keeps its commits; what no longer fits follows), append commits that were not there;
        where nothing can be edited, send the changed commits as a follow-up. Returns the messages touched."""
        db, owner = self.db(), new_owner(self.process)
        rows = posts.parts(db, key)
        if not rows or rows[0].state != "posted" or rows[0].message_id is None:
            return 0
        top, replies = rows[0], [r for r in rows[1:] if r.message_id]
        order = [e.commit.sha for e in digest.entries]
        known = {sha for r in replies for sha in r.shas}
        new = tuple(sha for sha in order if sha not in known)
        if not new and not changed & set(order):
            return 0
        if posts.claim(db, key, REFRESH_LOCK, owner, self.clock(), dead=owner_dead) is None:
            return 0  # another thread or process is refreshing this post
        try:
            with heartbeat(self.db, key, owner, self.clock, self.heartbeat_every) as lost:
                return self._refresh(dest, key, digest, changed, notice, top, replies, order, new, owner, lost)
        finally:
            posts.drop(db, key, REFRESH_LOCK, owner)

    def _refresh(self, dest: Destination, key: PostKey, digest: Digest, changed: set[str], notice: str | None,
                 top: posts.PartRow, replies: list[posts.PartRow], order: list[str], new: tuple[str, ...],
                 owner: str, lost: threading.Event) -> int:
        db = self.db()
        late_note = text(digest.lang, "late_commits", n=len(new)) if new else None
        touched = 0
        extra: list[Part] = []
        if dest.can_edit:
            dest.update(top.message_id or "", dest.render(digest, late=top.late).top)
            touched += 1
            for i, row in enumerate(replies, start=1):
                shown = tuple(sha for sha in order if sha in set(row.shas))
                if not set(shown) & changed:
                    continue
                first, *overflow = dest.render_commits(digest, shown, note=text(digest.lang, "details_part", i=i,
                                                                              n=len(replies)))
                check(lost)
                dest.update(row.message_id or "", first)
                posts.set_shas(db, key, row.part, first.shas)  # what no longer fits follows as new replies
                extra += overflow
                touched += 1
            if new:
                extra += dest.render_commits(digest, new, note=late_note)
            if notice and changed:
                extra += dest.render_commits(digest, (), note=notice)
        else:
            shas = tuple(sha for sha in order if sha in changed or sha in new)
            extra += dest.render_commits(digest, shas, note=late_note or notice) if shas else ()
        number = max([top.part, *(r.part for r in replies), *posts.part_numbers(db, key)])
        for part in extra:
            number += 1
            row = posts.claim(db, key, number, owner, self.clock(), generation=top.generation, dead=owner_dead)
            if row is None or row.message_id:
                continue
            thread = top.message_id if dest.can_edit else None
            check(lost)
            sent_id = dest.send(part, tag=Tag(key, number, top.generation), thread=thread)
            posts.sent(db, key, number, owner, sent_id, thread_id=thread, shas=part.shas, now=self.clock())
            touched += 1
        return touched
