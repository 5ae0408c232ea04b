"""What is kept, and for how long: the tables that would otherwise grow forever are pruned, and the freed pages
given back to the file system. Analyses, digests, posts and subscriptions are kept."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlite_utils


@dataclass(frozen=True)
class Retention:
    """Days each kind of row is kept (RETAIN_* settings)."""

    patch_days: int = 30  # diffs of commits fetched longer ago; a reader that needs one fetches it again
    event_days: int = 3  # seen_events (retried deliveries: Slack within 5 min, Feishu up to 6 h) and command_log
    # (per-user limits and budgets look back a day at most)
    http_cache_days: int = 7  # GitHub answers kept with their ETags


@dataclass(frozen=True)
class Pruned:
    commits: int  # commits whose patches were dropped
    patch_bytes: int
    events: int
    commands: int
    cached: int
    size_before: int  # bytes of the database (its pages)
    size_after: int

    def line(self) -> str:
        return (f"dropped the patches of {_n(self.commits, 'commit')} ({_mb(self.patch_bytes)}), "
                f"{_n(self.events, 'seen event')}, {_n(self.commands, 'command log row')}, "
                f"{_n(self.cached, 'cached GitHub answer')}; database {_mb(self.size_before)} -> {_mb(self.size_after)}")


def _n(n: int, noun: str) -> str:
    """`1 commit`, `2 commits`: the count with its noun (the CLI prints this line as it is)."""
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _mb(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def size(db: sqlite_utils.Database) -> int:
    """Bytes of the database: its pages, those still in the WAL included."""
    return db.execute("PRAGMA page_count").fetchone()[0] * db.execute("PRAGMA page_size").fetchone()[0]


def prune(db: sqlite_utils.Database, now: datetime, keep: Retention) -> Pruned:
    """Drop what `keep` no longer keeps, then hand the freed pages back (the file shrinks at the checkpoint)."""
    before = size(db)
    patch_cutoff = (now - timedelta(days=keep.patch_days)).isoformat()
    event_cutoff = (now - timedelta(days=keep.event_days)).isoformat()
    with db.conn:
        old = ("(repo, sha) IN (SELECT repo, sha FROM commits WHERE fetched_at < ? AND patches_pruned_at IS NULL"
               " AND files_total IS NOT NULL)")
        patches = db.execute(f"SELECT count(DISTINCT repo || ' ' || sha), coalesce(sum(length(CAST(patch AS BLOB))), 0)"
                             f" FROM patches WHERE {old}", [patch_cutoff]).fetchone()
        db.execute(f"DELETE FROM patches WHERE {old}", [patch_cutoff])
        db.execute("UPDATE commits SET patches_pruned_at = ? WHERE fetched_at < ? AND patches_pruned_at IS NULL"
                   " AND files_total IS NOT NULL", [now.isoformat(), patch_cutoff])
        events = db.execute("DELETE FROM seen_events WHERE seen_at < ?", [event_cutoff]).rowcount
        commands = db.execute("DELETE FROM command_log WHERE at < ?", [event_cutoff]).rowcount
        cached = db.execute("DELETE FROM http_cache WHERE stored_at < ?",
                            [(now - timedelta(days=keep.http_cache_days)).isoformat()]).rowcount
    db.conn.executescript("PRAGMA incremental_vacuum;")  # sqlite3_exec steps it to the end (execute frees one page)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the file shrinks now, not at the next automatic checkpoint
    return Pruned(patches[0], patches[1], events, commands, cached, before, size(db))
