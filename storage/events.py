"""Deliveries already handled (retried events, double clicks), and the per-user command log for rate limits."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlite_utils

from storage.db import write_lock


def first_time(db: sqlite_utils.Database, platform: str, event_id: str, now: datetime) -> bool:
    """True the first time this event (or action key) is seen, in any process on this database."""
    with db.conn:
        return db.execute("INSERT OR IGNORE INTO seen_events (platform, event_id, seen_at) VALUES (?, ?, ?)",
                          [platform, event_id[:400], now.isoformat()]).rowcount == 1


def forget_before(db: sqlite_utils.Database, moment: datetime) -> None:
    with db.conn:
        db.execute("DELETE FROM seen_events WHERE seen_at < ?", [moment.isoformat()])


def allow(db: sqlite_utils.Database, platform: str, user: str, now: datetime, limit: int,
          per: timedelta = timedelta(hours=1)) -> bool:
    """Count a costly command for `user`; False (and not counted) when they already made `limit` within `per`.
    The count and the insert are one write transaction: two processes cannot both take the last place."""
    with write_lock(db):
        used = db.execute("SELECT count(*) FROM command_log WHERE platform = ? AND user = ? AND at > ? AND costly = 1",
                          [platform, user, (now - per).isoformat()]).fetchone()[0]
        if used >= limit:
            return False
        db.execute("INSERT INTO command_log (platform, user, at, costly) VALUES (?, ?, ?, 1)",
                   [platform, user, now.isoformat()])
    return True


def forget(db: sqlite_utils.Database, platform: str, event_id: str) -> None:
    """The work of this event failed: a second click (or a redelivery) may try again."""
    with db.conn:
        db.execute("DELETE FROM seen_events WHERE platform = ? AND event_id = ?", [platform, event_id[:400]])
