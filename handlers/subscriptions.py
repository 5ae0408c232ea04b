"""/digest subscribe, unsubscribe and list: a channel's subscriptions, changed and told in the reader's language."""

from __future__ import annotations

from datetime import datetime

import sqlite_utils

from digest.labels import text
from handlers import commands as cmd
from handlers.commands import WEEKDAYS
from handlers import watching
from handlers.checks import ChatSettings
from handlers.words import say
from storage import subscriptions as subs
from storage.subscriptions import Subscription


def subscribe(db: sqlite_utils.Database, c: cmd.Subscribe, platform: str, channel: str, user: str | None,
              settings: ChatSettings, now: datetime, *, source: str = "chat") -> Subscription:
    """Saved with what the command names; what it leaves out is kept from an existing subscription made the same
    way, else the defaults (DIGEST_TIME, DIGEST_TZ, DIGEST_LANG). DIGEST_REPOS (`source="env"`) keeps nothing: a
    word it no longer says is gone at the next start."""
    existing = subs.get(db, platform, channel, c.repo) if source == "chat" else None
    return subs.save(db, Subscription(
        platform=platform, channel=channel, repo=c.repo,
        at=c.at or (existing.at if existing else settings.digest_time),
        zone=c.zone or (existing.zone if existing else settings.digest_tz),
        lang=c.lang or (existing.lang if existing else settings.digest_lang),
        branch=c.branch or (existing.branch if existing else None),
        quiet=c.quiet or (existing.quiet if existing else "line"),
        skip_authors=c.skip_authors if c.skip_authors is not None else (existing.skip_authors if existing else ()),
        min_level=(None if c.min_level == "high" else c.min_level) if c.min_level is not None
        else (existing.min_level if existing else None),
        paths=c.paths if c.paths is not None else (existing.paths if existing else ()),
        weekly=(None if c.weekly == "off" else c.weekly) if c.weekly is not None
        else (existing.weekly if existing else None),
        daily=c.daily if c.daily is not None else (existing.daily if existing else True),
        source=source, created_by=user), now)


def unsubscribe(db: sqlite_utils.Database, repo: str, platform: str, channel: str, lang: str) -> tuple[bool, str]:
    """(whether one was removed, the answer); one from the environment stays (DIGEST_REPOS re-creates it)."""
    existing = subs.get(db, platform, channel, repo)
    if existing is None:
        return False, say(lang, "not_subscribed", repo=repo)
    if existing.source == "env":
        return False, say(lang, "env_subscription", repo=repo)
    subs.delete(db, platform, channel, repo)
    return True, say(lang, "unsubscribed", repo=repo)


def listing(db: sqlite_utils.Database, platform: str, channel: str, lang: str) -> str:
    here = subs.in_channel(db, platform, channel)
    if not here:
        return say(lang, "no_repo")
    lines = [say(lang, "list_title")]
    for s in here:
        env = " (env)" if s.source == "env" else ""
        when = f"{s.at:%H:%M} {s.zone}" if s.daily else say(lang, "list_no_daily")
        lines.append(f"• `{s.repo}` {when} · {s.lang}{' · ' + s.branch if s.branch else ''}"
                     f" · quiet {s.quiet}{env}" + (f" · ⏸ {s.paused}" if s.paused else ""))
        lines += [f"    {x}" for x in filters(s, lang)]
        lines += [f"    {x}" for x in watching.lines(db, s, lang)]
    return "\n".join(lines)


def filters(s: Subscription, lang: str) -> list[str]:
    """A subscription's filters and roll-up, one line each, in the chat's words."""
    out = []
    if s.weekly:
        day, _, at = s.weekly.partition(" ")
        weekday = text(lang, "weekday").split()[WEEKDAYS.index(day)] if day in WEEKDAYS else day
        out.append(say(lang, "list_weekly", when=f"{weekday} {at}", zone=s.zone))
    if s.min_level:
        out.append(say(lang, f"list_min_{'low' if s.min_level in ('all', 'low') else s.min_level}"))
    if s.paths:
        out.append(say(lang, "list_paths", paths=", ".join(f"`{watching.shown(p)}`" for p in s.paths)))
    if s.skip_authors:
        out.append(say(lang, "list_skip", authors=", ".join(f"`{watching.shown(a)}`" for a in s.skip_authors)))
    return out


def channel_lang(db: sqlite_utils.Database, platform: str, channel: str, default: str) -> str:
    """The language of a channel's only subscription, else the default."""
    here = subs.in_channel(db, platform, channel)
    return here[0].lang if len(here) == 1 else default
