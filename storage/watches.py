"""Watches of a subscription (platform, channel, repo), numbered 1, 2, … in the order they were made (issue 14)."""

from __future__ import annotations

from datetime import datetime

import sqlite_utils

from core.watches import Mention, Watch
from storage.db import write_lock

ENV = "(DIGEST_REPOS)"  # created_by of the watches the environment makes
MAX_WATCHES = 50  # per subscription: each is matched against every commit of every digest


class TooManyWatches(Exception):
    pass


def _watch(r: dict) -> Watch:
    mention = (Mention(r["mention_platform"], r["mention_kind"], r["mention_id"], r["mention_label"] or "")
               if r["mention_id"] else None)
    return Watch(number=r["number"], kind=r["kind"], pattern=r["pattern"], mention=mention)


def add(db: sqlite_utils.Database, platform: str, channel: str, repo: str, kind: str, pattern: str,
        mention: Mention | None, user: str | None, now: datetime) -> Watch:
    """Store a watch under the next free number (one transaction: two admins at once get two numbers)."""
    with write_lock(db):
        count, top = db.execute("SELECT count(*), coalesce(max(number), 0) FROM watches WHERE platform = ? AND "
                                "channel = ? AND repo = ?", [platform, channel, repo]).fetchone()
        if count >= MAX_WATCHES:
            raise TooManyWatches(f"{repo} has {count} watches here, the most one subscription keeps")
        db.execute("INSERT INTO watches (platform, channel, repo, number, kind, pattern, mention_platform, "
                   "mention_kind, mention_id, mention_label, created_by, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                   [platform, channel, repo, top + 1, kind, pattern, mention and mention.platform,
                    mention and mention.kind, mention and mention.id, mention and mention.label, user, now.isoformat()])
    return Watch(top + 1, kind, pattern, mention)  # type: ignore[arg-type]


def remove(db: sqlite_utils.Database, platform: str, channel: str, repo: str, number: int) -> bool:
    with db.conn:
        gone = db.execute("DELETE FROM watches WHERE platform = ? AND channel = ? AND repo = ? AND number = ?",
                          [platform, channel, repo, number]).rowcount
    return gone > 0


def of(db: sqlite_utils.Database, platform: str, channel: str, repo: str) -> list[Watch]:
    return [_watch(r) for r in db.query("SELECT * FROM watches WHERE platform = ? AND channel = ? AND repo = ? "
                                        "ORDER BY number", [platform, channel, repo])]



def replace_env(db: sqlite_utils.Database, platform: str, channel: str, repo: str,
                wanted: list[tuple[str, str, Mention | None]], now: datetime) -> None:
    """The watches DIGEST_REPOS gives a subscription, made again at each start (those made in chat are kept):
    one that is already there keeps its number."""
    have = {(w.kind, w.pattern, w.mention): w.number for w in of_made_by(db, platform, channel, repo, ENV)}
    for key, number in have.items():
        if key not in wanted:
            remove(db, platform, channel, repo, number)
    for kind, pattern, mention in wanted:
        if (kind, pattern, mention) not in have:
            add(db, platform, channel, repo, kind, pattern, mention, ENV, now)


def of_made_by(db: sqlite_utils.Database, platform: str, channel: str, repo: str, user: str) -> list[Watch]:
    return [_watch(r) for r in db.query("SELECT * FROM watches WHERE platform = ? AND channel = ? AND repo = ? "
                                        "AND created_by = ? ORDER BY number", [platform, channel, repo, user])]
