"""The "Post to channel" button under an on-demand digest: the full digest posted to the channel as the schedule
posts it, through the Publisher (taking that day's claim). Only for a day that has ended, once per click, and a
digest still to build counts against the clicker's limits like /digest (a button's value can name any day)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timezone

from core.errors import CommitRadarError
from core.window import day_window
from digest.labels import text
from digest.service import DigestService
from handlers.checks import Checks, Notices, spender
from handlers.delivery import Outcome
from handlers.publisher import Publisher
from handlers.words import say
from storage import events

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PostClick:
    platform: str
    channel: str
    user: str
    dedupe_key: str  # the click: (channel, message, action value), so a double click posts once
    repo: str
    day: date
    zone: str
    lang: str
    branch: str | None = None


@dataclass
class PostButton:
    service: DigestService
    publisher: Publisher
    checks: Checks
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)

    def click(self, c: PostClick, reply: Notices) -> Outcome | None:
        """The outcome of the post, None when it was not tried (answered, or a repeated click)."""
        if day_window(c.day, c.zone).end > self.clock():
            reply.notice(say(c.lang, "day_open", day=c.day.isoformat()))
            return None
        db = self.service.db
        if not events.first_time(db, c.platform, c.dedupe_key, self.clock()):
            return None
        try:
            ref = self.checks.checked_repo(c.repo, c.platform, c.channel)  # the button's value came through the client
            stored = self.service.finished_digest(ref, c.day, c.zone, c.lang, c.branch)
            if stored is None and not self.checks.spend(c.platform, c.user, c.lang, reply):
                events.forget(db, c.platform, c.dedupe_key)
                return None
            outcome = self.publisher.post(c.platform, c.channel, c.repo, c.day, c.zone, c.lang, c.branch,
                                          spender=spender(c.platform, c.user))
        except CommitRadarError as err:
            events.forget(db, c.platform, c.dedupe_key)
            reply.notice(f"❌ {err}")
            return None
        if outcome.status == "already":
            reply.notice(text(c.lang, "already_posted", repo=c.repo, day=c.day.isoformat()))
        elif outcome.status not in ("posted", "quiet"):
            events.forget(db, c.platform, c.dedupe_key)
            reply.notice(say(c.lang, "post_failed", status=outcome.status, detail=outcome.detail))
        return outcome
