"""Posts of a day's digest to a destination, claimed before sending so that each is sent once.

A post is (platform, channel, repo, day); part 0 is the top-level message, parts 1.. its thread replies. Each
part is claimed on its own with a conditional write (a row that is posted, or claimed by an owner whose heartbeat
is fresh, cannot be taken), its message id saved right after sending, and the top row marked posted last.
Two processes on one database serialise on SQLite's write lock; a dead owner's claim goes stale.
"""

from __future__ import annotations

import re

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlite_utils

STALE_AFTER = timedelta(seconds=90)  # an owner refreshes its heartbeat every few seconds while it works


_DAY_KEY = re.compile(r"\d{4}-\d{2}-\d{2}(?:@.+)?", re.DOTALL)


@dataclass(frozen=True)
class PostKey:
    platform: str
    channel: str
    repo: str
    day: str  # YYYY-MM-DD, or YYYY-MM-DD@BRANCH (one of several branches); a roll-up's 2026-W02 or A..B

    @property
    def rollup(self) -> bool:
        """A roll-up's post (a week, or a range of days), not a day's."""
        return not _DAY_KEY.fullmatch(self.day)

    @property
    def where(self) -> tuple[str, list[str]]:
        return "platform = ? AND channel = ? AND repo = ? AND day = ?", [self.platform, self.channel, self.repo, self.day]


@dataclass(frozen=True)
class PartRow:
    part: int
    generation: int
    state: str  # claimed | posted | failed
    owner: str
    message_id: str | None
    thread_id: str | None
    shas: tuple[str, ...]
    late: bool
    attempts: int
    last_error: str | None
    posted_at: str | None
    zone: str | None
    lang: str | None
    branch: str | None


def _row(r: dict) -> PartRow:
    return PartRow(part=r["part"], generation=r["generation"], state=r["state"], owner=r["owner"],
                   message_id=r["message_id"], thread_id=r["thread_id"], shas=tuple(json.loads(r["shas"] or "[]")),
                   late=bool(r["late"]), attempts=r["attempts"], last_error=r["last_error"], posted_at=r["posted_at"],
                   zone=r["zone"], lang=r["lang"], branch=r["branch"])


def load(db: sqlite_utils.Database, key: PostKey, part: int = 0) -> PartRow | None:
    where, args = key.where
    rows = list(db.query(f"SELECT * FROM posts WHERE {where} AND part = ?", [*args, part]))
    return _row(rows[0]) if rows else None


def parts(db: sqlite_utils.Database, key: PostKey) -> list[PartRow]:
    where, args = key.where
    return [_row(r) for r in db.query(f"SELECT * FROM posts WHERE {where} ORDER BY part", args)]


def claim(db: sqlite_utils.Database, key: PostKey, part: int, owner: str, now: datetime, *,
          generation: int = 0, late: bool = False, stale_after: timedelta = STALE_AFTER,
          dead: Callable[[str], bool] = lambda owner: False) -> PartRow | None:
    """Take part `part` for `owner`: a new row, one this owner holds, a failed one, one whose owner went
    silent, or one whose owner is known `dead` (a process of this host that no longer runs). None when it is
    posted or a live owner holds it."""
    where, args = key.where
    stale = (now - stale_after).isoformat()
    held = load(db, key, part)
    gone = held.owner if held is not None and held.state == "claimed" and held.owner != owner and dead(held.owner) \
        else None  # a dead owner's claim is taken only if it still holds it when the update runs
    with db.conn:
        inserted = db.execute(
            "INSERT OR IGNORE INTO posts (platform, channel, repo, day, part, generation, state, owner, heartbeat_at,"
            " late, attempts) VALUES (?, ?, ?, ?, ?, ?, 'claimed', ?, ?, ?, 1)",
            [*args, part, generation, owner, now.isoformat(), int(late)]).rowcount
        if not inserted:
            taken = db.execute(
                f"UPDATE posts SET owner = ?, heartbeat_at = ?, state = 'claimed', attempts = attempts + 1"
                f" WHERE {where} AND part = ? AND state != 'posted'"
                f" AND (owner = ? OR state = 'failed' OR heartbeat_at < ? OR owner = ?)",
                [owner, now.isoformat(), *args, part, owner, stale, gone]).rowcount
            if not taken:
                return None
    return load(db, key, part)


def heartbeat(db: sqlite_utils.Database, key: PostKey, owner: str, now: datetime) -> bool:
    """Refresh every claim `owner` holds on this post; False when another owner took it over."""
    where, args = key.where
    with db.conn:
        return db.execute(f"UPDATE posts SET heartbeat_at = ? WHERE {where} AND owner = ? AND state = 'claimed'",
                          [now.isoformat(), *args, owner]).rowcount > 0


def sent(db: sqlite_utils.Database, key: PostKey, part: int, owner: str, message_id: str, *,
         thread_id: str | None = None, shas: tuple[str, ...] = (), done: bool = True, now: datetime,
         digest_key: tuple[str, str, str] | None = None) -> None:
    """Save what was sent, right after sending; `done` marks the part posted (the top waits for its thread)."""
    where, args = key.where
    zone, lang, branch = digest_key or (None, None, None)
    with db.conn:
        db.execute(
            f"UPDATE posts SET message_id = ?, thread_id = ?, shas = ?, state = ?, posted_at = ?, last_error = NULL,"
            f" zone = coalesce(?, zone), lang = coalesce(?, lang), branch = coalesce(?, branch)"
            f" WHERE {where} AND part = ? AND owner = ?",
            [message_id, thread_id, json.dumps(list(shas)), "posted" if done else "claimed", now.isoformat(),
             zone, lang, branch, *args, part, owner])


def finish(db: sqlite_utils.Database, key: PostKey, owner: str, now: datetime) -> None:
    where, args = key.where
    with db.conn:
        db.execute(f"UPDATE posts SET state = 'posted', posted_at = coalesce(posted_at, ?) WHERE {where} AND part = 0"
                   f" AND owner = ?", [now.isoformat(), *args, owner])


def failed(db: sqlite_utils.Database, key: PostKey, part: int, owner: str, error: str) -> None:
    """Give the claim back with the reason; the next attempt takes it at once."""
    where, args = key.where
    with db.conn:
        db.execute(f"UPDATE posts SET state = 'failed', last_error = ? WHERE {where} AND part IN (0, ?) AND owner = ?"
                   f" AND state = 'claimed'", [error[:500], *args, part, owner])


def release(db: sqlite_utils.Database, key: PostKey, owner: str) -> None:
    """Nothing was sent (a quiet day that posts nothing, or the build failed before sending): forget the claim."""
    where, args = key.where
    with db.conn:
        db.execute(f"DELETE FROM posts WHERE {where} AND owner = ? AND message_id IS NULL AND part = 0", [*args, owner])


def next_generation(db: sqlite_utils.Database, key: PostKey) -> int:
    """--force: forget the earlier post of this key (its messages stay in the channel) and start a new one."""
    where, args = key.where
    with db.conn:
        row = db.execute(f"SELECT max(generation) FROM posts WHERE {where}", args).fetchone()
        db.execute(f"DELETE FROM posts WHERE {where}", args)
    return (row[0] if row and row[0] is not None else -1) + 1


# a day's post (YYYY-MM-DD, or YYYY-MM-DD@BRANCH), not a roll-up's (2026-W02, A..B): the backfill edits only days
DAILY = ("(day GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'"
         " OR day GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]@*')")


def posted_days(db: sqlite_utils.Database, platform: str, channel: str, repo: str) -> set[str]:
    """Days and weeks posted. A day of a subscription to several branches is claimed per branch
    (`2026-01-11@release/1.0`), never as the bare day: the catch-up asks for it again and the claims answer
    "already" for each branch done."""
    return {r["day"] for r in db.query("SELECT day FROM posts WHERE platform = ? AND channel = ? AND repo = ?"
                                       " AND part = 0 AND state = 'posted'", [platform, channel, repo])}


def last_post(db: sqlite_utils.Database, platform: str, channel: str, repo: str) -> tuple[str, PartRow] | None:
    """(day, top row) of the latest post of this subscription: a day's, a branch's or a roll-up's."""
    rows = list(db.query("SELECT * FROM posts WHERE platform = ? AND channel = ? AND repo = ? AND part = 0"
                         " ORDER BY coalesce(posted_at, heartbeat_at) DESC LIMIT 1", [platform, channel, repo]))
    return (rows[0]["day"], _row(rows[0])) if rows else None


def unfinished(db: sqlite_utils.Database, now: datetime,
               stale_after: timedelta = STALE_AFTER) -> list[tuple[PostKey, PartRow]]:
    """Posts that failed, or whose owner went silent, and are not finished: the retry job picks them up (a post
    in progress, with a fresh heartbeat, is left to its owner)."""
    return [(PostKey(r["platform"], r["channel"], r["repo"], r["day"]), _row(r))
            for r in db.query("SELECT * FROM posts WHERE part = 0 AND state != 'posted'"
                              " AND (state = 'failed' OR heartbeat_at < ?) ORDER BY day",
                              [(now - stale_after).isoformat()])]


def describe(db: sqlite_utils.Database, key: PostKey, zone: str, lang: str, branch: str | None) -> None:
    """The digest settings of a claimed post, so that a retry uses the same. Settings already saved are kept: a
    resumed claim must not lose the branch its first send named (the backfill selects posts by it)."""
    where, args = key.where
    with db.conn:
        db.execute(f"UPDATE posts SET zone = coalesce(zone, ?), lang = coalesce(lang, ?), branch = coalesce(branch, ?)"
                   f" WHERE {where} AND part = 0", [zone, lang, branch, *args])


def name_branch(db: sqlite_utils.Database, repo: str, day: str, zone: str, lang: str, branch: str) -> int:
    """Posts of the default branch saved without its name (resumed before describe kept it): name it, so the
    backfill finds them. How many were named."""
    with db.conn:
        return db.execute("UPDATE posts SET branch = ? WHERE repo = ? AND day = ? AND zone = ? AND lang = ?"
                          " AND part = 0 AND branch IS NULL", [branch, repo, day, zone, lang]).rowcount


def set_shas(db: sqlite_utils.Database, key: PostKey, part: int, shas: tuple[str, ...]) -> None:
    where, args = key.where
    with db.conn:
        db.execute(f"UPDATE posts SET shas = ? WHERE {where} AND part = ?", [json.dumps(list(shas)), *args, part])


def part_numbers(db: sqlite_utils.Database, key: PostKey) -> list[int]:
    where, args = key.where
    return [r["part"] for r in db.query(f"SELECT part FROM posts WHERE {where}", args)]


def drop(db: sqlite_utils.Database, key: PostKey, part: int, owner: str) -> None:
    where, args = key.where
    with db.conn:
        db.execute(f"DELETE FROM posts WHERE {where} AND part = ? AND owner = ?", [*args, part, owner])


def posted_digests(db: sqlite_utils.Database, since_day: str | None = None, repo: str | None = None,
                   day: str | None = None, shown: tuple[str, str, str | None] | None = None
                   ) -> list[tuple[PostKey, str, str, str]]:
    """Posted digests with the (zone, lang, branch) they showed: the backfill brings them up to date. `shown`
    keeps only the posts of that (zone, lang, branch)."""
    zone, lang, branch = shown or (None, None, None)
    rows = db.query(f"SELECT * FROM posts WHERE part = 0 AND state = 'posted' AND zone IS NOT NULL AND {DAILY}"
                    " AND (? IS NULL OR day >= ?) AND (? IS NULL OR repo = ?) AND (? IS NULL OR day = ?)"
                    " AND (? IS NULL OR (zone = ? AND lang = ? AND coalesce(branch, '') = coalesce(?, '')))",
                    [since_day, since_day, repo, repo, day, day, zone, zone, lang, branch])
    return [(PostKey(r["platform"], r["channel"], r["repo"], r["day"]), r["zone"], r["lang"], r["branch"])
            for r in rows]


def thread_of(db: sqlite_utils.Database, platform: str, channel: str, message_id: str) -> str:
    """The top message of the posted digest whose thread holds `message_id`; `message_id` itself otherwise."""
    row = db.execute("SELECT thread_id FROM posts WHERE platform = ? AND channel = ? AND message_id = ?"
                     " AND thread_id IS NOT NULL LIMIT 1", [platform, channel, message_id]).fetchone()
    return str(row[0]) if row else message_id
