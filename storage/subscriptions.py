"""Subscriptions: (platform, channel, repo) -> when and how its daily digest is posted."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, time

import sqlite_utils


@dataclass(frozen=True)
class Subscription:
    platform: str  # slack | feishu | webhook
    channel: str  # Slack channel id, Feishu chat id, or "webhook"
    repo: str
    at: time
    zone: str
    lang: str
    branch: str | None = None
    quiet: str = "line"  # skip: post nothing on a day without commits; line: one line
    source: str = "chat"  # env (DIGEST_REPOS, re-created at each start) | chat
    created_by: str | None = None
    created_at: datetime | None = None
    paused: str | None = None  # why posting is paused (the bot was removed, the channel archived...)
    paused_at: str | None = None
    # relevance (issue 14): what the channel is told, and when
    skip_authors: tuple[str, ...] = ()  # commits by these authors are left out (dependabot[bot], …)
    min_level: str | None = None  # high | medium: what the channel post lists (the rest stays in the thread)
    paths: tuple[str, ...] = ()  # only commits touching these paths (globs) are digested
    weekly: str | None = None  # "mon 09:00": a roll-up of the last full week, posted then
    daily: bool = True  # False: weekly only

    @property
    def destination(self) -> str:
        return f"{self.platform}:{self.channel}"

    @property
    def branch_patterns(self) -> list[str]:
        """`main,release/*` -> ["main", "release/*"]; [] for the default branch."""
        return [b.strip() for b in (self.branch or "").split(",") if b.strip()]

    @property
    def several_branches(self) -> bool:
        """Whether the subscription names more than one branch, or a glob (one post per branch then)."""
        patterns = self.branch_patterns
        return len(patterns) > 1 or any(ch in p for p in patterns for ch in "*?")


def _sub(r: dict) -> Subscription:
    hh, mm = r["at"].split(":")
    return Subscription(platform=r["platform"], channel=r["channel"], repo=r["repo"], at=time(int(hh), int(mm)),
                        zone=r["zone"], lang=r["lang"], branch=r["branch"], quiet=r["quiet"], source=r["source"],
                        created_by=r["created_by"], created_at=datetime.fromisoformat(r["created_at"]),
                        paused=r["paused"], paused_at=r["paused_at"],
                        skip_authors=tuple(json.loads(r["skip_authors"] or "[]")), min_level=r["min_level"],
                        paths=tuple(json.loads(r["paths"] or "[]")), weekly=r["weekly"], daily=bool(r["daily"]))


def save(db: sqlite_utils.Database, sub: Subscription, now: datetime) -> Subscription:
    """Insert or replace; a subscription saved again keeps its creation time (the catch-up owes no older day)."""
    existing = get(db, sub.platform, sub.channel, sub.repo)
    created = existing.created_at if existing and existing.created_at else now
    with db.conn:
        db.table("subscriptions").upsert({
            "platform": sub.platform, "channel": sub.channel, "repo": sub.repo, "at": sub.at.strftime("%H:%M"),
            "zone": sub.zone, "lang": sub.lang, "branch": sub.branch, "quiet": sub.quiet, "source": sub.source,
            "created_by": sub.created_by, "created_at": created.isoformat(), "paused": None, "paused_at": None,
            "skip_authors": json.dumps(list(sub.skip_authors)) if sub.skip_authors else None,
            "min_level": sub.min_level, "paths": json.dumps(list(sub.paths)) if sub.paths else None,
            "weekly": sub.weekly, "daily": int(sub.daily),
        }, pk=("platform", "channel", "repo"))
    found = get(db, sub.platform, sub.channel, sub.repo)
    assert found is not None
    return found


def get(db: sqlite_utils.Database, platform: str, channel: str, repo: str) -> Subscription | None:
    rows = list(db.query("SELECT * FROM subscriptions WHERE platform = ? AND channel = ? AND repo = ?",
                         [platform, channel, repo]))
    return _sub(rows[0]) if rows else None


def all_subscriptions(db: sqlite_utils.Database) -> list[Subscription]:
    return [_sub(r) for r in db.query("SELECT * FROM subscriptions ORDER BY platform, channel, repo")]


def in_channel(db: sqlite_utils.Database, platform: str, channel: str) -> list[Subscription]:
    return [_sub(r) for r in db.query("SELECT * FROM subscriptions WHERE platform = ? AND channel = ? ORDER BY repo",
                                      [platform, channel])]


def of_repo(db: sqlite_utils.Database, repo: str) -> list[Subscription]:
    return [_sub(r) for r in db.query("SELECT * FROM subscriptions WHERE repo = ? ORDER BY platform, channel", [repo])]


def delete(db: sqlite_utils.Database, platform: str, channel: str, repo: str) -> bool:
    """The subscription and its watches (one transaction)."""
    with db.conn:
        db.execute("DELETE FROM watches WHERE platform = ? AND channel = ? AND repo = ?", [platform, channel, repo])
        return db.execute("DELETE FROM subscriptions WHERE platform = ? AND channel = ? AND repo = ?",
                          [platform, channel, repo]).rowcount > 0


def drop_env(db: sqlite_utils.Database, keep: set[tuple[str, str, str]]) -> None:
    """Subscriptions from the environment that it no longer names are removed at start."""
    for sub in all_subscriptions(db):
        if sub.source == "env" and (sub.platform, sub.channel, sub.repo) not in keep:
            delete(db, sub.platform, sub.channel, sub.repo)


def pause(db: sqlite_utils.Database, platform: str, channel: str, reason: str, now: datetime) -> None:
    """Every subscription of a destination that cannot be posted to (the bot was removed, the channel is gone)."""
    with db.conn:
        db.execute("UPDATE subscriptions SET paused = ?, paused_at = ? WHERE platform = ? AND channel = ?",
                   [reason, now.isoformat(), platform, channel])


def resume(db: sqlite_utils.Database, platform: str, channel: str) -> None:
    with db.conn:
        db.execute("UPDATE subscriptions SET paused = NULL, paused_at = NULL WHERE platform = ? AND channel = ?",
                   [platform, channel])
