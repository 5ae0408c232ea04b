"""The daily schedule: one cron job per subscription in its own zone, a catch-up of missed days at start, and
retries of posts that failed. Jobs live in memory, rebuilt from the subscriptions table; whether a day was
posted is decided by the claims in SQLite, never by the scheduler (two processes may run it at once)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from core.window import day_of, parse_zone
from handlers.backfill import backfill
from handlers import memory, weekly
from digest.service import DigestService
from handlers.publisher import Publisher
from storage import posts, retention
from storage import subscriptions as subs
from storage.subscriptions import Subscription

log = logging.getLogger(__name__)

CATCH_UP_DAYS = 3
ON_TIME = timedelta(minutes=30)  # a post this long after its time is marked late


def job_id(sub: Subscription) -> str:
    return f"{sub.destination}|{sub.repo}"


def weekly_job_id(sub: Subscription) -> str:
    return f"{sub.destination}|{sub.repo}|weekly"


def weekly_trigger(sub: Subscription) -> CronTrigger:
    weekday, at = weekly.parse_weekly(sub.weekly or "mon 09:00")
    return CronTrigger(day_of_week=weekday, hour=at.hour, minute=at.minute, timezone=parse_zone(sub.zone))


def due_at(sub: Subscription, day: date) -> datetime:
    """When the digest of `day` is due: the subscription's time on the next day, in its zone (DST-aware)."""
    tz = parse_zone(sub.zone)
    return datetime.combine(day + timedelta(days=1), sub.at, tzinfo=tz).astimezone(timezone.utc)


def next_fire(sub: Subscription, after: datetime) -> datetime | None:
    trigger = CronTrigger(hour=sub.at.hour, minute=sub.at.minute, timezone=parse_zone(sub.zone))
    fire = trigger.get_next_fire_time(None, after)
    return fire.astimezone(timezone.utc) if fire else None


def owed_days(sub: Subscription, now: datetime, posted: set[str], days: int = CATCH_UP_DAYS) -> list[date]:
    """Days whose post time has passed, after the subscription was made, not posted; oldest first."""
    today = day_of(now, sub.zone)
    owed = []
    for back in range(days, 0, -1):
        day = today - timedelta(days=back)
        due = due_at(sub, day)
        if due <= now and (sub.created_at is None or due >= sub.created_at) and day.isoformat() not in posted:
            owed.append(day)
    return owed


class Schedule:
    def __init__(self, service: DigestService, publisher: Publisher, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                 retry_every: timedelta = timedelta(minutes=5), workers: int = 4,
                 keep: retention.Retention = retention.Retention()) -> None:
        self.service = service
        self.publisher = publisher
        self.keep = keep
        self.clock = clock
        self.retry_every = retry_every
        self.scheduler = BackgroundScheduler(
            timezone=timezone.utc, executors={"default": {"type": "threadpool", "max_workers": workers}},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 6 * 3600})

    @property
    def db(self):  # noqa: ANN201
        return self.service.db

    def start(self) -> None:
        self.sync()
        self.scheduler.add_job(self.retry_failed, IntervalTrigger(seconds=self.retry_every.total_seconds()),
                               id="retry-posts", replace_existing=True)
        self.scheduler.add_job(self.backfill, IntervalTrigger(seconds=self.retry_every.total_seconds()),
                               id="backfill", replace_existing=True)
        self.scheduler.add_job(self.prune, CronTrigger(hour=3, minute=17, timezone=timezone.utc), id="prune",
                               replace_existing=True)  # daily, at an hour no digest is due by default
        self.scheduler.add_job(memory.trim, IntervalTrigger(minutes=1), id="trim-memory", replace_existing=True)
        self.scheduler.start()
        self.scheduler.add_job(self.catch_up, id="catch-up", replace_existing=True)  # at once, in the pool

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def sync(self) -> None:
        """A cron job per active subscription's daily post, another for its weekly roll-up; called at start and
        whenever a subscription changes."""
        active = [s for s in subs.all_subscriptions(self.db) if not s.paused]
        wanted = {job_id(s): s for s in active if s.daily}
        weekly = {weekly_job_id(s): s for s in active if s.weekly}
        for job in self.scheduler.get_jobs():
            if "|" in job.id and job.id not in wanted and job.id not in weekly:
                job.remove()
        for jid, sub in wanted.items():
            trigger = CronTrigger(hour=sub.at.hour, minute=sub.at.minute, timezone=parse_zone(sub.zone))
            self.scheduler.add_job(self.run_daily, trigger, args=[sub.platform, sub.channel, sub.repo], id=jid,
                                   replace_existing=True)
        for jid, sub in weekly.items():
            self.scheduler.add_job(self.run_weekly, weekly_trigger(sub), args=[sub.platform, sub.channel, sub.repo],
                                   id=jid, replace_existing=True)

    def next_runs(self) -> dict[str, datetime | None]:
        now = self.clock()
        runs = {job_id(s): next_fire(s, now) for s in subs.all_subscriptions(self.db) if not s.paused and s.daily}
        for s in subs.all_subscriptions(self.db):
            if not s.paused and s.weekly:
                fire = weekly_trigger(s).get_next_fire_time(None, now)
                runs[weekly_job_id(s)] = fire.astimezone(timezone.utc) if fire else None
        return runs

    def run_weekly(self, platform: str, channel: str, repo: str) -> None:
        """The weekly job: the last full week in the subscription's zone, posted once (claimed by its ISO week)."""
        sub = subs.get(self.db, platform, channel, repo)
        if sub is None or sub.paused or not sub.weekly:
            return
        now = self.clock()
        week = weekly.last_due(sub.weekly, sub.zone, now)
        outcome = self.publisher.post_week(sub, week, late=now - weekly.due_at(sub.weekly, sub.zone, week) > ON_TIME)
        log.info("weekly %s %s %s: %s %s", sub.destination, repo, week.key, outcome.status, outcome.detail)

    def run_daily(self, platform: str, channel: str, repo: str) -> None:
        """The cron job: yesterday's digest in the subscription's zone (read again: it may have changed)."""
        sub = subs.get(self.db, platform, channel, repo)
        if sub is None or sub.paused:
            return
        now = self.clock()
        day = day_of(now, sub.zone) - timedelta(days=1)
        outcome = self.publisher.post_subscription(sub, day, late=now - due_at(sub, day) > ON_TIME)
        log.info("daily %s %s %s: %s %s", sub.destination, repo, day, outcome.status, outcome.detail)

    def catch_up(self) -> None:
        """Missed days (the process was down at post time), up to 3 back, oldest first, marked late."""
        now = self.clock()
        for sub in subs.all_subscriptions(self.db):
            if sub.paused:
                continue
            try:
                self._catch_up(sub, now)
            except Exception:  # one subscription's failure (a branch gone, a repository renamed) never stops the others
                log.exception("catch-up of %s %s failed; the retry job and the next run try again",
                              sub.destination, sub.repo)
        backfill(self.service, self.publisher)  # after a crash: what was queued before it

    def _catch_up(self, sub: Subscription, now: datetime) -> None:
        posted = posts.posted_days(self.db, sub.platform, sub.channel, sub.repo)
        for day in owed_days(sub, now, posted) if sub.daily else []:
            late = now - due_at(sub, day) > ON_TIME
            outcome = self.publisher.post_subscription(sub, day, late=late)
            log.info("catch-up %s %s %s: %s", sub.destination, sub.repo, day, outcome.status)
        for week in weekly.owed_weeks(sub.weekly, sub.zone, now, posted, sub.created_at) if sub.weekly else []:
            outcome = self.publisher.post_week(sub, week, late=True)
            log.info("catch-up %s %s %s: %s", sub.destination, sub.repo, week.key, outcome.status)

    def backfill(self) -> None:
        """Queued LLM retries whose backoff is over; posted messages brought up to date."""
        backfill(self.service, self.publisher)

    def prune(self) -> None:
        """The retention job: old diffs, seen events, the command log and cached answers dropped."""
        log.info("prune: %s", retention.prune(self.db, self.clock(), self.keep).line())

    def retry_failed(self) -> None:
        """Posts that failed or whose owner died mid-post, with the settings they were claimed with."""
        for key, row in posts.unfinished(self.db, self.clock()):
            sub = subs.get(self.db, key.platform, key.channel, key.repo)
            if sub is not None and sub.paused:
                continue
            try:
                outcome = self.publisher.retry(key, row, sub)
            except Exception:  # one post's failure never stops the retries of the others
                log.exception("retry of %s:%s %s %s failed", key.platform, key.channel, key.repo, key.day)
                continue
            if outcome is None:
                continue
            log.info("retry %s:%s %s %s: %s", key.platform, key.channel, key.repo, key.day, outcome.status)
