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
from core.ranges import DayRange, span_of_key
from digest.range_build import digests_of
from digest.relevance import narrow
from digest.rollup import Rollup, roll_up
from digest.service import DigestService
from handlers.delivery import Destination, Outcome, Poster
from handlers.personal import personal
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
        if not sub.several_branches:
            return self.post(sub.platform, sub.channel, sub.repo, day, sub.zone, sub.lang, sub.branch,
                             quiet=sub.quiet, late=late)
        quiet = "unless-watched" if sub.quiet == "unless-watched" else "skip"  # a branch with no commits: silent
        return self._worst([self.post(sub.platform, sub.channel, sub.repo, day, sub.zone, sub.lang, name,
                                      quiet=quiet, late=late, key_day=f"{day.isoformat()}@{name}")
                            for name in self.service.branches_matching(self.repo_ref(sub.repo), sub.branch_patterns)],
                           sub.branch)

    def post_week(self, sub: Subscription, week: DayRange, *, late: bool = False, branch: str | None = None,
                  key: str | None = None) -> Outcome:
        """A subscription's weekly roll-up, posted once (claimed under its ISO week, as a day under its date):
        the days' stored digests, the missing ones built, narrowed by the subscription's filters. A subscription
        to several branches gets one roll-up per branch, claimed under `WEEK@BRANCH`."""
        if sub.paused:
            return Outcome("paused", sub.paused)
        ref = self.repo_ref(sub.repo)
        if branch is None and sub.several_branches:
            names = self.service.branches_matching(ref, sub.branch_patterns)
            return self._worst([self.post_week(sub, week, late=late, branch=name, key=f"{week.key}@{name}")
                                for name in names], sub.branch)
        branch = branch or sub.branch
        dest = self.destinations(sub.platform, sub.channel)

        def build() -> Rollup:
            digests = [narrow(d, skip_authors=sub.skip_authors, paths=sub.paths)
                       for d in digests_of(self.service, ref, week, sub.zone, sub.lang, branch=branch)]
            return roll_up(ref.name, week, sub.zone, sub.lang, self.service.branch_name(ref, branch), digests)

        return self.poster.post(dest, ref.name, key or week.key, build, late=late, render=dest.render_rollup,  # type: ignore[arg-type]
                                quiet=sub.quiet, digest_key=(sub.zone, sub.lang, branch))

    @staticmethod
    def _worst(outcomes: list[Outcome], branches: str | None) -> Outcome:
        """One outcome for the posts of several branches: a failure first, else a post, else the first."""
        if not outcomes:
            return Outcome("quiet", f"no branch matches {branches}")
        worst = next((o for o in outcomes if o.status in ("failed", "paused", "busy")), None)
        return worst or next((o for o in outcomes if o.status == "posted"), outcomes[0])

    def retry(self, key: PostKey, row: PartRow, sub: Subscription | None) -> Outcome | None:
        """A post that failed or whose owner died, with the settings it was claimed with; None when they are
        unknown (a claim of older code, not a subscription's)."""
        if key.rollup:  # a week (2026-W02[@BRANCH]) or a range (A..B), claimed with its subscription's settings
            span, _, branch = key.day.partition("@")
            return (self.post_week(sub, span_of_key(span), late=row.late, branch=branch or None, key=key.day)
                    if sub is not None else None)
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
        return personal(self.service.db, platform, channel, digest)
