"""/digest watch, unwatch and watches (issue 14): a subscription's watches, changed and told in the reader's
language. A watch belongs to a subscription: the channel subscribes to the repository first."""

from __future__ import annotations

from datetime import datetime

import sqlite_utils

from core.watches import Watch
from handlers import commands as cmd
from handlers.words import say
from storage import subscriptions as subs
from storage import watches as stored
from storage.subscriptions import Subscription

_SHOWN_BAD = str.maketrans({ch: None for ch in "<>&`*_~|"})  # chat markup in a pattern shown back: dropped


def shown(value: str) -> str:
    return value.translate(_SHOWN_BAD)


def describe(w: Watch, lang: str) -> str:
    """`2. path `python/sglang/srt/` → @attention-team`."""
    who = f" → {shown(w.mention.label or w.mention.id)}" if w.mention else ""
    return say(lang, "watch_line", n=w.number, kind=say(lang, f"watch_kind_{w.kind}"), pattern=shown(w.pattern),
               who=who)


def lines(db: sqlite_utils.Database, sub: Subscription, lang: str) -> list[str]:
    return [describe(w, lang) for w in stored.of(db, sub.platform, sub.channel, sub.repo)]


def watch(db: sqlite_utils.Database, c: cmd.WatchCommand, platform: str, channel: str, user: str, lang: str,
          now: datetime) -> str:
    if subs.get(db, platform, channel, c.repo) is None:
        return say(lang, "watch_needs_subscription", repo=c.repo)
    if c.mention is not None and c.mention.platform != platform:
        return say(lang, "watch_other_platform")
    try:
        w = stored.add(db, platform, channel, c.repo, c.kind, c.pattern, c.mention, user, now)
    except stored.TooManyWatches:
        return say(lang, "watch_too_many", repo=c.repo, n=stored.MAX_WATCHES)
    return say(lang, "watch_added", repo=c.repo, line=describe(w, lang))


def unwatch(db: sqlite_utils.Database, c: cmd.Unwatch, platform: str, channel: str, lang: str) -> str:
    if stored.remove(db, platform, channel, c.repo, c.number):
        return say(lang, "watch_removed", repo=c.repo, n=c.number)
    return say(lang, "watch_unknown", repo=c.repo, n=c.number)


def listing(db: sqlite_utils.Database, c: cmd.ListWatches, platform: str, channel: str, lang: str) -> str:
    here = [s for s in subs.in_channel(db, platform, channel) if c.repo in (None, s.repo)]
    found = [(s, stored.of(db, s.platform, s.channel, s.repo)) for s in here]
    if not any(ws for _, ws in found):
        return say(lang, "watch_none")
    out = [say(lang, "watch_title")]
    for s, ws in found:
        if ws:
            out.append(f"`{s.repo}`")
            out += [f"    {describe(w, lang)}" for w in ws]
    return "\n".join(out)
