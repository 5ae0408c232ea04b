"""Posting a digest to its destinations: first posts (exactly once, through the Poster's claims), refreshes and
follow-ups of what was posted (the Refresher), and the registry of destinations by platform. The schedule, the
backfill, `bot.py post` and the "Post to channel" button call this; it knows no chat command."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone

from core.errors import BadInput
from core.models import Digest, Relevance, RepoRef
from core.ranges import DayRange, week_of_key
from digest.range_build import digests_of
from digest.relevance import narrow, with_patches
from digest.rollup import Rollup, roll_up
from digest.service import DigestService
from handlers.delivery import Destination, Outcome, Poster
from handlers.refresh import Refresher
from storage import subscriptions as subs
from storage import watches as stored_watches
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
             quiet: str = "line", late: bool = False, force: bool = False, spender: str | None = None,
             key_day: str | None = None) -> Outcome:
        """The digest of `day`, posted once to (platform, channel): built (or read back) only after the claim is
        won. `spender` is whose LLM tokens a build may spend (a person who clicked; None for the schedule)."""
        ref = self.repo_ref(repo)

        def build() -> Digest:
            digest = (self.service.finished_digest(ref, day, zone, lang, branch)
                      or self.service.build_digest(ref, day, zone, lang, branch=branch, spender=spender))
            return self.personal(platform, channel, digest)

        return self.poster.post(self.destinations(platform, channel), ref.name, key_day or day, build, quiet=quiet,
                                late=late, force=force, digest_key=(zone, lang, branch))

    def post_subscription(self, sub: Subscription, day: date, *, late: bool = False) -> Outcome:
        """The subscription's post of `day`; a subscription that names several branches (`main,release/*`) gets
        one post per branch, each claimed under `DAY@BRANCH` and headed by its branch."""
        if sub.paused:
            return Outcome("paused", sub.paused)
        patterns = [b.strip() for b in (sub.branch or "").split(",") if b.strip()]
        if len(patterns) <= 1 and not any(ch in (sub.branch or "") for ch in "*?"):
            return self.post(sub.platform, sub.channel, sub.repo, day, sub.zone, sub.lang, sub.branch,
                             quiet=sub.quiet, late=late)
        outcomes = [self.post(sub.platform, sub.channel, sub.repo, day, sub.zone, sub.lang, name, quiet=sub.quiet,
                              late=late, key_day=f"{day.isoformat()}@{name}")
                    for name in self.service.branches_matching(self.repo_ref(sub.repo), patterns)]
        if not outcomes:
            return Outcome("quiet", f"no branch matches {sub.branch}")
        worst = next((o for o in outcomes if o.status in ("failed", "paused", "busy")), None)
        return worst or next((o for o in outcomes if o.status == "posted"), outcomes[0])

    def post_week(self, sub: Subscription, week: DayRange, *, late: bool = False) -> Outcome:
        """A subscription's weekly roll-up, posted once (claimed under its ISO week, as a day under its date):
        the days' stored digests, the missing ones built, narrowed by the subscription's filters."""
        if sub.paused:
            return Outcome("paused", sub.paused)
        ref = self.repo_ref(sub.repo)
        dest = self.destinations(sub.platform, sub.channel)

        def build() -> Rollup:
            digests = [narrow(d, skip_authors=sub.skip_authors, paths=sub.paths)
                       for d in digests_of(self.service, ref, week, sub.zone, sub.lang, branch=sub.branch)]
            return roll_up(ref.name, week, sub.zone, sub.lang, self.service.branch_name(ref, sub.branch), digests)

        return self.poster.post(dest, ref.name, week.key, build, late=late, render=dest.render_rollup,  # type: ignore[arg-type]
                                digest_key=(sub.zone, sub.lang, sub.branch))

    def retry(self, key: PostKey, row: PartRow, sub: Subscription | None) -> Outcome | None:
        """A post that failed or whose owner died, with the settings it was claimed with; None when they are
        unknown (a claim of older code, not a subscription's)."""
        if key.weekly:
            return self.post_week(sub, week_of_key(key.day), late=row.late) if sub is not None else None
        day = date.fromisoformat(key.day.partition("@")[0])
        if "@" in key.day and row.zone and row.lang:  # one branch of several: that branch's post, as claimed
            return self.post(key.platform, key.channel, key.repo, day, row.zone, row.lang, row.branch,
                             quiet=sub.quiet if sub else "line", late=row.late, key_day=key.day)
        if sub is not None:
            return self.post_subscription(sub, day, late=row.late)
        if row.zone and row.lang:  # posted on demand ("Post to channel", bot.py post): its own settings
            return self.post(key.platform, key.channel, key.repo, day, row.zone, row.lang, row.branch, late=row.late)
        return None

    def refresh(self, key: PostKey, digest: Digest, changed: set[str], *, notice: str | None = None) -> int:
        """A posted digest brought up to date (edits in place, or a follow-up); the messages touched."""
        return self.refresher.refresh(self.destinations(key.platform, key.channel), key,
                                      self.personal(key.platform, key.channel, digest), changed, notice=notice)

    def personal(self, platform: str, channel: str, digest: Digest) -> Digest:
        """The digest as the channel's subscription wants it (issue 14): only the commits on its paths and not by
        its skipped authors, with its watches and `min` for the view. A channel with no subscription to the
        repository gets the digest as it is."""
        db = self.service.db
        sub = subs.get(db, platform, channel, digest.repo)
        if sub is None:
            return digest
        watches = tuple(stored_watches.of(db, platform, channel, digest.repo))
        narrowed = narrow(digest, skip_authors=sub.skip_authors, paths=sub.paths)
        if not watches and sub.min_level is None:
            return narrowed
        if any(w.kind == "flag" for w in watches):  # flags are read from the diffs: a read-back digest has none
            narrowed = with_patches(db, narrowed)
        return replace(narrowed, relevance=Relevance(watches, sub.min_level))
