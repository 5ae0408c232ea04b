"""Deep analyses posted in a digest's thread: claimed before sending, their message saved after, so that each
commit's deep analysis is posted once per thread and a later click can link to it.

A row is (platform, channel, thread, sha): the thread is the digest's top message. A claim is won with a conditional
write (a posted row, or one a live owner holds, cannot be taken), as posts are; a dead owner's claim goes stale.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlite_utils

STALE_AFTER = timedelta(seconds=90)  # a claim is held only while one message is sent


@dataclass(frozen=True)
class DeepKey:
    platform: str
    channel: str
    thread: str  # the id of the thread's first message: the digest's top message
    sha: str

    @property
    def where(self) -> tuple[str, list[str]]:
        return ("platform = ? AND channel = ? AND thread = ? AND sha = ?",
                [self.platform, self.channel, self.thread, self.sha])


@dataclass(frozen=True)
class DeepPost:
    state: str  # claimed | posted
    owner: str
    message_id: str | None


def load(db: sqlite_utils.Database, key: DeepKey) -> DeepPost | None:
    where, args = key.where
    rows = list(db.query(f"SELECT state, owner, message_id FROM deep_posts WHERE {where}", args))
    return DeepPost(rows[0]["state"], rows[0]["owner"], rows[0]["message_id"]) if rows else None


def claim(db: sqlite_utils.Database, key: DeepKey, repo: str, owner: str, now: datetime, *,
          dead: Callable[[str], bool] = lambda owner: False, stale_after: timedelta = STALE_AFTER) -> bool:
    """Take the right to post this deep analysis in this thread: False when it is posted, or a live owner holds it."""
    held = load(db, key)
    gone = held.owner if held is not None and held.state == "claimed" and dead(held.owner) else None
    where, args = key.where
    with db.conn:
        if db.execute("INSERT OR IGNORE INTO deep_posts (platform, channel, thread, sha, repo, state, owner,"
                      " claimed_at) VALUES (?, ?, ?, ?, ?, 'claimed', ?, ?)", [*args, repo, owner, now.isoformat()]
                      ).rowcount:
            return True
        return db.execute(f"UPDATE deep_posts SET owner = ?, claimed_at = ? WHERE {where} AND state = 'claimed'"
                          f" AND (claimed_at < ? OR owner = ?)",
                          [owner, now.isoformat(), *args, (now - stale_after).isoformat(), gone]).rowcount == 1


def posted(db: sqlite_utils.Database, key: DeepKey, owner: str, message_id: str, now: datetime) -> None:
    where, args = key.where
    with db.conn:
        db.execute(f"UPDATE deep_posts SET state = 'posted', message_id = ?, posted_at = ? WHERE {where} AND owner = ?",
                   [message_id, now.isoformat(), *args, owner])


def release(db: sqlite_utils.Database, key: DeepKey, owner: str) -> None:
    """Nothing was posted: a later click may try again."""
    where, args = key.where
    with db.conn:
        db.execute(f"DELETE FROM deep_posts WHERE {where} AND owner = ? AND state = 'claimed'", [*args, owner])
