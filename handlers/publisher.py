"""Posting a digest to its destinations: first posts (exactly once, through the Poster's claims), refreshes and
follow-ups of what was posted (the Refresher), and the registry of destinations by platform. The schedule, the
backfill, `bot.py post` and the "Post to channel" button call this; it knows no chat command."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

from core.errors import BadInput
from core.models import Digest, RepoRef
from digest.service import DigestService
from handlers.delivery import Destination, Outcome, Poster
from handlers.refresh import Refresher
from storage.posts import PartRow, PostKey
from storage.subscriptions import Subscription

log = logging.getLogger(__name__)

DestinationFactory = Callable[[str], Destination]  # channel -> where to post


@dataclass
class Destinations:
    """The configured platforms, each a factory of destinations by channel."""

    factories: dict[str, DestinationFactory] = field(default_factory=dict)

    def __call__(self, platform: str, channel: str) -> Destination:
        factory = self.factories.get(platform)
        if factory is None:
            raise BadInput(f"{platform} is not configured: set its variables (see .env.example)")
        return factory(channel)


@dataclass
class Publisher:
    service: DigestService
    destinations: Callable[[str, str], Destination]  # (platform, channel) -> where to post
    repo_ref: Callable[[str], RepoRef]  # a repository's name -> where it is read from
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
    poster: Poster = field(init=False)
    refresher: Refresher = field(init=False)

    def __post_init__(self) -> None:
        self.poster = Poster(db=lambda: self.service.db, clock=self.clock)
        self.refresher = Refresher(db=lambda: self.service.db, clock=self.clock)

    def post(self, platform: str, channel: str, repo: str, day: date, zone: str, lang: str, branch: str | None, *,
             quiet: str = "line", late: bool = False, force: bool = False, spender: str | None = None) -> Outcome:
        """The digest of `day`, posted once to (platform, channel): built (or read back) only after the claim is
        won. `spender` is whose LLM tokens a build may spend (a person who clicked; None for the schedule)."""
        ref = self.repo_ref(repo)

        def build() -> Digest:
            return (self.service.finished_digest(ref, day, zone, lang, branch)
                    or self.service.build_digest(ref, day, zone, lang, branch=branch, spender=spender))

        return self.poster.post(self.destinations(platform, channel), ref.name, day, build, quiet=quiet, late=late,
                                force=force, digest_key=(zone, lang, branch))

    def post_subscription(self, sub: Subscription, day: date, *, late: bool = False) -> Outcome:
        if sub.paused:
            return Outcome("paused", sub.paused)
        return self.post(sub.platform, sub.channel, sub.repo, day, sub.zone, sub.lang, sub.branch, quiet=sub.quiet,
                         late=late)

    def retry(self, key: PostKey, row: PartRow, sub: Subscription | None) -> Outcome | None:
        """A post that failed or whose owner died, with the settings it was claimed with; None when they are
        unknown (a claim of older code, not a subscription's)."""
        day = date.fromisoformat(key.day)
        if sub is not None:
            return self.post_subscription(sub, day, late=row.late)
        if row.zone and row.lang:  # posted on demand ("Post to channel", bot.py post): its own settings
            return self.post(key.platform, key.channel, key.repo, day, row.zone, row.lang, row.branch, late=row.late)
        return None

    def refresh(self, key: PostKey, digest: Digest, changed: set[str], *, notice: str | None = None) -> int:
        """A posted digest brought up to date (edits in place, or a follow-up); the messages touched."""
        return self.refresher.refresh(self.destinations(key.platform, key.channel), key, digest, changed,
                                      notice=notice)
