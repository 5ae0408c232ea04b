"""What a chat command does, written once for Slack and Feishu: parse -> check -> service -> answer.

A platform hands over the command text, who sent it and where, and a `Reply` that knows how to show progress,
a digest, an analysis or a notice in that platform. Errors become one clear answer with the usage; nothing
raised here reaches a channel as a traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from typing import Protocol

from core.errors import BadInput, CommitRadarError
from core.models import CommitReport, Digest, Progress, RepoRef
from core.ranges import is_range, parse_range
from core.window import parse_day
from digest.labels import text
from digest.range_build import digests_of
from digest.rollup import Rollup, roll_up
from digest.service import DigestService
from handlers import commands as cmd
from handlers import status
from handlers import subscriptions as subscribing
from handlers import watching
from handlers.personal import personal
from handlers.checks import ChatSettings, Checks, spender
from handlers.deep import DeepOnce, Thread
from handlers.words import HELP, say, usage
from storage import events
from storage import subscriptions as subs
from storage.subscriptions import Subscription

log = logging.getLogger(__name__)


class Reply(Protocol):
    """Where one command's answers go. `notice` takes plain text: the platform escapes it."""

    def progress(self, line: str) -> None: ...

    def digest(self, digest: Digest) -> None: ...

    def report(self, report: CommitReport) -> None: ...

    def rollup(self, rolled: Rollup) -> None: ...

    def notice(self, message: str) -> None: ...


@dataclass(frozen=True)
class Target:
    """A /digest's repository and reading, as checked and chosen for the channel."""

    repo: str
    ref: RepoRef
    zone: str
    lang: str
    branch: str | None
    counted: bool  # asking about it already counted against the user's hourly limit (GitHub was asked)


@dataclass
class ChatOps:
    """/digest, /analyze and the Deep analysis button: parse -> check -> service -> reply. Posting to a channel
    is the Publisher's (the schedule, the backfill, `bot.py post` and the "Post to channel" button call it)."""

    service: DigestService
    checks: Checks
    settings: ChatSettings
    next_runs: Callable[[], dict[str, datetime | None]] = lambda: {}
    on_subscriptions_changed: Callable[[], None] = lambda: None
    health: Callable[[str, str], list[str]] = lambda lang, zone: []  # (language, zone) -> LLM and GitHub lines
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
    deep_once: DeepOnce = field(init=False)

    def __post_init__(self) -> None:
        self.deep_once = DeepOnce(lambda: self.service.db, lambda: self.clock())

    # -- entry points ----------------------------------------------------------------------------------

    def handle(self, platform: str, channel: str, user: str, command: str, args: str, reply: Reply) -> None:
        """Run one command to its answer; every failure becomes an answer, never an exception."""
        lang = self.channel_lang(platform, channel)
        try:
            parsed = cmd.parse(command, args)
            lang = getattr(parsed, "lang", None) or lang
            self._run(parsed, platform, channel, user, lang, reply)
        except cmd.BadCommand as err:
            log.info("bad command from %s:%s: %s", platform, user, err)
            reply.notice(f"⚠️ {err}\n\n{HELP[lang]}" if err.topic == "digest"
                         else f"⚠️ {err}\n{usage(lang, err.topic)}")
        except BadInput as err:
            log.info("bad input from %s:%s: %s", platform, user, err)
            reply.notice(f"⚠️ {err}")
        except CommitRadarError as err:
            log.warning("%s %s failed: %s", command, args[:100], err)
            reply.notice(f"❌ {err}")
        except Exception as err:  # a bug: the user gets a line, the log gets the traceback
            log.exception("internal error in %s %s", command, args[:100])
            reply.notice(say(lang, "internal_error", kind=type(err).__name__))

    def deep(self, platform: str, dedupe_key: str, repo: str, sha: str, lang: str, reply: Reply, *,
             user: str, thread: Thread | None = None, channel: str | None = None) -> None:
        """The Deep analysis button. On a channel message (`thread`): posted once in its digest's thread, a later
        click linked to it (handlers/deep.py). Elsewhere: once per (channel, message, action, value), even if
        clicked twice. A click whose work failed (or was refused by the user's limits) may be clicked again. A new
        analysis counts against the user's limits like /analyze; one already made is free."""
        db = self.service.db
        if thread is None and not events.first_time(db, platform, dedupe_key, self.clock()):
            log.info("duplicate deep-analysis action %s ignored", dedupe_key)
            return
        try:
            # the button's value comes back through the client: the repository is checked as a typed one would be
            self.checks.checked_repo(repo, platform, thread.channel if thread is not None else channel or "")
            if thread is not None:
                channel = thread.channel
                self.deep_once.answer(platform, thread, repo, sha, lang,
                                      lambda: self._deep_report(platform, repo, sha, lang, reply, user, channel))
            elif (report := self._deep_report(platform, repo, sha, lang, reply, user, None)) is not None:
                reply.report(report)
            else:
                events.forget(db, platform, dedupe_key)
        except CommitRadarError as err:
            events.forget(db, platform, dedupe_key)
            reply.notice(f"❌ {err}")
        except Exception as err:
            events.forget(db, platform, dedupe_key)
            log.exception("deep analysis of %s %s failed", repo, sha)
            reply.notice(say(lang, "internal_error", kind=type(err).__name__))

    def _deep_report(self, platform: str, repo: str, sha: str, lang: str, reply: Reply, user: str,
                     channel: str | None) -> CommitReport | None:
        """The deep analysis of a commit: stored, told through a merge's commits, or made now (None: the user's
        limits refused it, and they were told); its times in the zone of the channel's subscription."""
        ref = self.checks.repo_ref(repo)  # a merge told through its commits is answered with them, no LLM call
        report = self.service.told_merge(ref, sha, lang) or self.service.stored_report(ref, sha, lang)
        if report is None:
            if not self.checks.spend(platform, user, lang, reply):
                return None
            reply.progress(text(lang, "progress_analyze", sha=sha[:7], repo=repo))
            report = self.service.analyze(ref, sha, lang, spender=spender(platform, user))
        sub = subs.get(self.service.db, platform, channel, ref.name) if channel else None
        return replace(report, zone=sub.zone if sub else self.settings.digest_tz)

    # -- commands ----------------------------------------------------------------------------------------

    def _run(self, c: cmd.Command, platform: str, channel: str, user: str, lang: str, reply: Reply) -> None:
        if isinstance(c, cmd.CHANGES_SUBSCRIPTIONS) and not self.checks.is_admin(platform, user):
            reply.notice(say(lang, "not_admin"))
            return
        if isinstance(c, cmd.Help):
            prefix = say(lang, "unknown_word", word=c.unknown) + "\n\n" if c.unknown else ""
            reply.notice(prefix + HELP[lang])
        elif isinstance(c, cmd.DigestCommand):
            self._digest(c, platform, channel, user, lang, reply)
        elif isinstance(c, cmd.AnalyzeCommand):
            self._analyze(c, platform, channel, user, lang, reply)
        elif isinstance(c, cmd.Subscribe):
            self._subscribe(c, platform, channel, user, lang, reply)
        elif isinstance(c, cmd.Unsubscribe):
            self._unsubscribe(c, platform, channel, lang, reply)
        elif isinstance(c, cmd.WatchCommand):
            reply.notice(watching.watch(self.service.db, c, platform, channel, user, lang, self.clock()))
        elif isinstance(c, cmd.Unwatch):
            reply.notice(watching.unwatch(self.service.db, c, platform, channel, lang))
        elif isinstance(c, cmd.ListWatches):
            reply.notice(watching.listing(self.service.db, c, platform, channel, lang))
        elif isinstance(c, cmd.ListSubscriptions):
            reply.notice(subscribing.listing(self.service.db, platform, channel, lang))
        elif isinstance(c, cmd.Status):
            reply.notice(self._status(platform, channel, lang))

    def _which(self, platform: str, channel: str, named: str | None, lang: str, reply: Reply) -> tuple[str, Subscription | None] | None:
        here = subs.in_channel(self.service.db, platform, channel)
        if named:
            return named, next((s for s in here if s.repo == named), None)
        if len(here) == 1:
            return here[0].repo, here[0]
        choices = ", ".join(f"`{s.repo}`" for s in here)
        reply.notice(say(lang, "which_repo", choices=choices) if here else say(lang, "no_repo"))
        return None

    def _range(self, c: cmd.DigestCommand, platform: str, channel: str, user: str, lang: str, reply: Reply) -> None:
        """`/digest A..B` or `/digest week`: the days' digests, stored ones read back, the rest built (with the
        LLM limits of any build), rolled up for the channel's subscription."""
        t = self._target(c, platform, channel, user, lang, reply)
        if t is None:
            return
        repo, ref, zone, lang, branch = t.repo, t.ref, t.zone, t.lang, t.branch
        span = parse_range(c.day or "week", zone, self.clock())
        missing = [d for d in span.days if self.service.finished_digest(ref, d, zone, lang, branch) is None]
        if missing and not self._may_build(t, platform, user, reply):
            return

        def building(n: int, of: int, day: date) -> None:
            reply.progress(text(lang, "progress_range", repo=repo, n=n, of=of, day=day.isoformat()))

        digests = digests_of(self.service, ref, span, zone, lang, branch=branch, progress=building,
                             spender=spender(platform, user))
        digests = [personal(self.service.db, platform, channel, d) for d in digests]  # as the channel's posts
        reply.rollup(roll_up(repo, span, zone, lang, self.service.branch_name(ref, branch), digests))

    def _target(self, c: cmd.DigestCommand, platform: str, channel: str, user: str, lang: str,
                reply: Reply) -> Target | None:
        """What a /digest asks about, checked: the repository (allowed here), its zone, language and branch; None
        when the user was answered instead (which repository? over the limit?)."""
        found = self._which(platform, channel, c.repo, lang, reply)
        if found is None:
            return None
        repo, sub = found
        counted = self.checks.asks_github(repo, platform, channel)
        if counted and not self.checks.count(platform, user, lang, reply):
            return None
        ref = self.checks.checked_repo(repo, platform, channel)
        return Target(repo, ref, c.zone or (sub.zone if sub else self.settings.digest_tz),
                      c.lang or (sub.lang if sub else lang), self._branch(ref, sub), counted)

    def _may_build(self, t: Target, platform: str, user: str, reply: Reply) -> bool:
        """A build costs LLM calls: within the user's budget, and counted unless asking GitHub already was."""
        return (self.checks.within_budget(platform, user, t.lang, reply) if t.counted
                else self.checks.spend(platform, user, t.lang, reply))

    def _branch(self, ref: RepoRef, sub: Subscription | None) -> str | None:
        """The branch a command answers for: the subscription's, or the first of its several (`main,release/*`)."""
        if sub is None or not sub.several_branches:
            return sub.branch if sub else None
        names = self.service.branches_matching(ref, sub.branch_patterns)
        return names[0] if names else None

    def _digest(self, c: cmd.DigestCommand, platform: str, channel: str, user: str, lang: str, reply: Reply) -> None:
        if c.day and is_range(c.day):
            self._range(c, platform, channel, user, lang, reply)
            return
        # the date itself first: in the zone named, else against any zone's today
        parse_day(c.day or "yesterday", c.zone or "Pacific/Kiritimati", self.clock(), zone_named=c.zone is not None)
        t = self._target(c, platform, channel, user, lang, reply)
        if t is None:
            return
        repo, ref, zone, lang, branch = t.repo, t.ref, t.zone, t.lang, t.branch
        day = parse_day(c.day or "yesterday", zone, self.clock(), zone_named=c.zone is not None)
        if isinstance(day, date) and (stored := self.service.finished_digest(ref, day, zone, lang, branch)):
            reply.digest(personal(self.service.db, platform, channel, stored))
            return
        if not self._may_build(t, platform, user, reply):
            return
        shown = day if isinstance(day, str) else day.isoformat()
        reply.progress(text(lang, "progress", repo=repo, day=shown, what=text(lang, "progress_start")))

        def progress(p: Progress) -> None:
            if p.total:
                reply.progress(text(lang, "progress", repo=repo, day=shown,
                                    what=text(lang, f"progress_{p.phase}", done=p.done, total=p.total)))

        built = self.service.build_digest(ref, day, zone, lang, branch=branch, progress=progress,
                                          spender=spender(platform, user))
        reply.digest(personal(self.service.db, platform, channel, built))  # the channel's filters and watches

    def _analyze(self, c: cmd.AnalyzeCommand, platform: str, channel: str, user: str, lang: str, reply: Reply) -> None:
        found = self._which(platform, channel, c.repo, lang, reply)
        if found is None:
            return
        repo, sub = found
        lang = c.lang or (sub.lang if sub else lang)
        zone = c.zone or (sub.zone if sub else self.settings.digest_tz)
        if not self.checks.spend(platform, user, lang, reply):  # before the repository is looked up on GitHub
            return
        ref = self.checks.checked_repo(repo, platform, channel)
        reply.progress(text(lang, "progress_analyze", sha=c.sha[:7], repo=repo))
        reply.report(replace(self.service.analyze(ref, c.sha, lang, spender=spender(platform, user)), zone=zone))

    def _subscribe(self, c: cmd.Subscribe, platform: str, channel: str, user: str, lang: str, reply: Reply) -> None:
        self.checks.checked_repo(c.repo, platform, channel)
        sub = subscribing.subscribe(self.service.db, c, platform, channel, user, self.settings, self.clock())
        self.on_subscriptions_changed()
        said = say(lang, "subscribed" if sub.daily else "subscribed_weekly", repo=sub.repo, at=sub.at.strftime("%H:%M"),
                   zone=sub.zone, lang=sub.lang, next=status.next_run(sub, self.next_runs()))
        reply.notice("\n".join([said, *(f"• {x}" for x in subscribing.filters(sub, lang))]))

    def _unsubscribe(self, c: cmd.Unsubscribe, platform: str, channel: str, lang: str, reply: Reply) -> None:
        removed, answer = subscribing.unsubscribe(self.service.db, c.repo, platform, channel, lang)
        if removed:
            self.on_subscriptions_changed()
        reply.notice(answer)

    def _status(self, platform: str, channel: str, lang: str) -> str:
        here = subs.in_channel(self.service.db, platform, channel)
        zone = here[0].zone if len(here) == 1 else self.settings.digest_tz  # the reader's zone, as best known
        return status.status_text(self.service.db, platform, channel, lang, self.next_runs(), self.health(lang, zone))

    # -- helpers -------------------------------------------------------------------------------------------

    def channel_lang(self, platform: str, channel: str) -> str:
        """The language a channel is answered in when a command names none."""
        return subscribing.channel_lang(self.service.db, platform, channel, self.settings.digest_lang)

    def first_event(self, platform: str, event_id: str) -> bool:
        """Whether a platform's event is seen for the first time (platforms deliver some twice)."""
        return events.first_time(self.service.db, platform, event_id, self.clock())
