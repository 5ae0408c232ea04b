"""LLM outages: one row from the first call that failed after its retries to the first success. Told once each,
whichever process saw it first (the insert and the update are conditional)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlite_utils


@dataclass(frozen=True)
class Outage:
    endpoint: str
    started_at: datetime
    error: str
    ended_at: datetime | None = None


def _outage(r: dict) -> Outage:
    return Outage(r["endpoint"], datetime.fromisoformat(r["started_at"]), r["error"],
                  datetime.fromisoformat(r["ended_at"]) if r["ended_at"] else None)


def current(db: sqlite_utils.Database, endpoint: str) -> Outage | None:
    rows = list(db.query("SELECT * FROM outages WHERE endpoint = ? AND ended_at IS NULL ORDER BY id DESC LIMIT 1",
                         [endpoint]))
    return _outage(rows[0]) if rows else None


def begin(db: sqlite_utils.Database, endpoint: str, error: str, now: datetime) -> Outage | None:
    """The outage that this failure starts, or None when one is already open (it was told already)."""
    with db.conn:
        made = db.execute(
            "INSERT INTO outages (endpoint, started_at, error) SELECT ?, ?, ? WHERE NOT EXISTS"
            " (SELECT 1 FROM outages WHERE endpoint = ? AND ended_at IS NULL)",
            [endpoint, now.isoformat(), error[:500], endpoint]).rowcount
    return current(db, endpoint) if made else None


def end(db: sqlite_utils.Database, endpoint: str, now: datetime) -> Outage | None:
    """The outage this success ends, or None when none was open."""
    open_ = current(db, endpoint)
    if open_ is None:
        return None
    with db.conn:
        done = db.execute("UPDATE outages SET ended_at = ? WHERE endpoint = ? AND ended_at IS NULL",
                          [now.isoformat(), endpoint]).rowcount
    return Outage(open_.endpoint, open_.started_at, open_.error, now) if done else None


def recent(db: sqlite_utils.Database, since: datetime) -> list[Outage]:
    return [_outage(r) for r in db.query("SELECT * FROM outages WHERE ended_at IS NULL OR ended_at >= ?"
                                         " ORDER BY id", [since.isoformat()])]
