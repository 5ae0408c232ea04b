"""What a chat command does, written once for Slack and Feishu: parse -> check -> service -> answer.

A platform hands over the command text, who sent it and where, and a `Reply` that knows how to show progress,
a digest, an analysis or a notice in that platform. Errors become one clear answer with the usage; nothing
raised here reaches a channel as a traceback.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timezone
from typing import Protocol

from core.errors import BadInput, CommitRadarError
from digest.labels import fill, text, thousands
from core.models import CommitReport, Digest, Progress, RepoRef, parse_repo_name
from digest.repos import resolve_repo
from digest.service import DigestService
from core.window import day_window, parse_day, parse_zone
from handlers import commands as cmd
from handlers.deep import DeepOnce, Thread
from handlers.delivery import Destination, Outcome, Poster
from storage import events, posts
from storage import subscriptions as subs
from storage.subscriptions import Subscription

log = logging.getLogger(__name__)


class Reply(Protocol):
    """Where one command's answers go. `notice` takes plain text: the platform escapes it."""

    def progress(self, line: str) -> None: ...

    def digest(self, digest: Digest) -> None: ...

    def report(self, report: CommitReport) -> None: ...

    def notice(self, message: str) -> None: ...


@dataclass(frozen=True)
class ChatSettings:
    digest_tz: str = "UTC"
    digest_lang: str = "en"
    digest_time: time = time(9, 0)
    allowed_repos: tuple[str, ...] = ()  # owner/name, owner/*, *: private repositories answered only if listed
    admins: dict[str, frozenset[str]] = field(default_factory=dict)  # platform -> user ids; empty: anyone
    costly_per_hour: int = 20
    git_clones: dict = field(default_factory=dict)
    github_api_url: str = "https://api.github.com"


HELP = {
    "en": """*Commit Radar*: daily digests of a repository's commits, analysed.
• `/digest` — yesterday's digest of this channel's repository (in its time zone)
• `/digest 2026-01-11 [owner/name] [tz Asia/Shanghai]`, `/digest today|yesterday|latest [owner/name]`
• `/digest subscribe owner/name [at 09:00] [tz Asia/Shanghai] [lang zh] [branch main] [quiet skip|line]`
• `/digest unsubscribe owner/name`, `/digest list`, `/digest status`, `/digest help`
• `/analyze d112f6a [owner/name] [tz Asia/Shanghai]` — a deep analysis of one commit
Any command takes `lang en|zh`.""",
    "zh": """*Commit Radar*：每日提交摘要与分析。
• `/digest` — 本频道订阅仓库昨天的摘要（按订阅的时区）
• `/digest 2026-01-11 [owner/name] [tz Asia/Shanghai]`、`/digest today|yesterday|latest [owner/name]`
• `/digest subscribe owner/name [at 09:00] [tz Asia/Shanghai] [lang zh] [branch main] [quiet skip|line]`
• `/digest unsubscribe owner/name`、`/digest list`、`/digest status`、`/digest help`
• `/analyze d112f6a [owner/name] [tz Asia/Shanghai]` — 单个提交的深度分析
所有命令都可加 `lang en|zh`。""",
}


def is_allowed(repo: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(repo, p) for p in patterns)


@dataclass
class ChatOps:
    service: DigestService
    poster: Poster
    settings: ChatSettings
    destination: Callable[[str, str], Destination]  # (platform, channel) -> where to post
    next_runs: Callable[[], dict[str, datetime | None]] = lambda: {}
    on_subscriptions_changed: Callable[[], None] = lambda: None
    health: Callable[[str], list[str]] = lambda lang: []
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)
    private: Callable[[RepoRef], bool] = lambda repo: False
    deep_once: DeepOnce = field(init=False)

    def __post_init__(self) -> None:
        self.deep_once = DeepOnce(lambda: self.service.db, lambda: self.clock())

    # -- entry points ----------------------------------------------------------------------------------

    def handle(self, platform: str, channel: str, user: str, command: str, args: str, reply: Reply) -> None:
        """Run one command to its answer; every failure becomes an answer, never an exception."""
        lang = self._channel_lang(platform, channel)
        try:
            parsed = cmd.parse(command, args)
            lang = getattr(parsed, "lang", None) or lang
            self._run(parsed, platform, channel, user, lang, reply)
        except cmd.BadCommand as err:
            log.info("bad command from %s:%s: %s", platform, user, err)
            reply.notice(f"⚠️ {err}\n\n{HELP[lang]}" if err.topic == "digest" else f"⚠️ {err}\n{_usage(err.topic)}")
        except BadInput as err:
            log.info("bad input from %s:%s: %s", platform, user, err)
            reply.notice(f"⚠️ {err}")
        except CommitRadarError as err:
            log.warning("%s %s failed: %s", command, args[:100], err)
            reply.notice(f"❌ {err}")
        except Exception as err:  # a bug: the user gets a line, the log gets the traceback
            log.exception("internal error in %s %s", command, args[:100])
            reply.notice(f"❌ internal error ({type(err).__name__}); it is in the bot's log")

    def deep(self, platform: str, dedupe_key: str, repo: str, sha: str, lang: str, reply: Reply, *,
             user: str, thread: Thread | None = None) -> None:
        """The Deep analysis button. On a channel message (`thread`): posted once in its digest's thread, a later
        click linked to it (handlers/deep.py). Elsewhere: once per (channel, message, action, value), even if
        clicked twice. A click whose work failed (or was refused by the user's limits) may be clicked again. A new
        analysis counts against the user's limits like /analyze; one already made is free."""
        db = self.service.db
        if thread is None and not events.first_time(db, platform, dedupe_key, self.clock()):
            log.info("duplicate deep-analysis action %s ignored", dedupe_key)
            return
        try:
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
            reply.notice(f"❌ internal error ({type(err).__name__}); it is in the bot's log")

    def _deep_report(self, platform: str, repo: str, sha: str, lang: str, reply: Reply, user: str,
                     channel: str | None) -> CommitReport | None:
        """The deep analysis of a commit: stored, told through a merge's commits, or made now (None: the user's
        limits refused it, and they were told); its times in the zone of the channel's subscription."""
        ref = self.repo_ref(repo)  # a merge told through its commits is answered with them, no LLM call
        report = self.service.told_merge(ref, sha, lang) or self.service.stored_report(ref, sha, lang)
        if report is None:
            if not self._spend(platform, user, lang, reply):
                return None
            reply.progress(text(lang, "progress_analyze", sha=sha[:7], repo=repo))
            report = self.service.analyze(ref, sha, lang, spender=_spender(platform, user))
        sub = subs.get(self.service.db, platform, channel, ref.name) if channel else None
        return replace(report, zone=sub.zone if sub else self.settings.digest_tz)

    def post_to_channel(self, platform: str, channel: str, dedupe_key: str, repo: str, day: date, zone: str,
                        lang: str, branch: str | None, reply: Reply, *, user: str) -> Outcome | None:
        """The "Post to channel" button: the full digest, as the schedule posts it, taking that day's claim. Only
        for a day that has ended (a day still open is the next morning's post). A digest to build counts against
        the user's limits like /digest (a button's value can name any day); a stored one is free."""
        if day_window(day, zone).end > self.clock():
            reply.notice(_extra(lang)["day_open"].format(day=day.isoformat()))
            return None
        db = self.service.db
        if not events.first_time(db, platform, dedupe_key, self.clock()):
            return None
        try:
            stored = self.service.finished_digest(self.repo_ref(repo), day, zone, lang, branch)
            if stored is None and not self._spend(platform, user, lang, reply):
                events.forget(db, platform, dedupe_key)
                return None
            outcome = self.post_digest(self.destination(platform, channel), repo, day, zone, lang, branch,
                                       spender=_spender(platform, user))
        except CommitRadarError as err:
            events.forget(db, platform, dedupe_key)
            reply.notice(f"❌ {err}")
            return None
        if outcome.status == "already":
            reply.notice(text(lang, "already_posted", repo=repo, day=day.isoformat()))
        elif outcome.status not in ("posted", "quiet"):
            events.forget(db, platform, dedupe_key)
            reply.notice(f"⚠️ {outcome.status}: {outcome.detail}")
        return outcome

    # -- posting (schedule, bot.py post, the button) ---------------------------------------------------------

    def post_digest(self, dest: Destination, repo: str, day: date, zone: str, lang: str, branch: str | None, *,
                    quiet: str = "line", late: bool = False, force: bool = False,
                    spender: str | None = None) -> Outcome:
        ref = self.repo_ref(repo)

        def build() -> Digest:
            return (self.service.finished_digest(ref, day, zone, lang, branch)
                    or self.service.build_digest(ref, day, zone, lang, branch=branch, spender=spender))

        return self.poster.post(dest, ref.name, day, build, quiet=quiet, late=late, force=force,
                                digest_key=(zone, lang, branch))

    def post_subscription(self, sub: Subscription, day: date, *, late: bool = False) -> Outcome:
        if sub.paused:
            return Outcome("paused", sub.paused)
        return self.post_digest(self.destination(sub.platform, sub.channel), sub.repo, day, sub.zone, sub.lang,
                                sub.branch, quiet=sub.quiet, late=late)

    # -- commands ----------------------------------------------------------------------------------------

    def _run(self, c: cmd.Command, platform: str, channel: str, user: str, lang: str, reply: Reply) -> None:
        if isinstance(c, cmd.CHANGES_SUBSCRIPTIONS) and not self._is_admin(platform, user):
            reply.notice(_extra(lang)["not_admin"])
            return
        if isinstance(c, cmd.Help):
            prefix = _extra(lang)["unknown_word"].format(word=c.unknown) + "\n\n" if c.unknown else ""
            reply.notice(prefix + HELP[lang])
        elif isinstance(c, cmd.DigestCommand):
            self._digest(c, platform, channel, user, lang, reply)
        elif isinstance(c, cmd.AnalyzeCommand):
            self._analyze(c, platform, channel, user, lang, reply)
        elif isinstance(c, cmd.Subscribe):
            self._subscribe(c, platform, channel, user, lang, reply)
        elif isinstance(c, cmd.Unsubscribe):
            self._unsubscribe(c, platform, channel, lang, reply)
        elif isinstance(c, cmd.ListSubscriptions):
            reply.notice(self._list(platform, channel, lang))
        elif isinstance(c, cmd.Status):
            reply.notice(self._status(platform, channel, lang))

    def _which(self, platform: str, channel: str, named: str | None, lang: str, reply: Reply) -> tuple[str, Subscription | None] | None:
        here = subs.in_channel(self.service.db, platform, channel)
        if named:
            return named, next((s for s in here if s.repo == named), None)
        if len(here) == 1:
            return here[0].repo, here[0]
        choices = ", ".join(f"`{s.repo}`" for s in here)
        reply.notice(_extra(lang)["which_repo"].format(choices=choices) if here else _extra(lang)["no_repo"])
        return None

    def _spend(self, platform: str, user: str, lang: str, reply: Reply) -> bool:
        """Count a command or click that will cost LLM calls; False (answered) when the user's LLM tokens of the
        day are spent (DIGEST_USER_TOKENS) or they are over the hourly limit (DIGEST_USER_LIMIT)."""
        return self._within_budget(platform, user, lang, reply) and self._count(platform, user, lang, reply)

    def _within_budget(self, platform: str, user: str, lang: str, reply: Reply) -> bool:
        budget = self.service.user_budget(_spender(platform, user))
        if budget is not None and budget.spent:
            log.info("%s:%s refused: %d of %d LLM tokens used today", platform, user, budget.used, budget.limit)
            reply.notice(_extra(lang)["budget_spent"].format(used=thousands(budget.used),
                                                             limit=thousands(budget.limit), reset=budget.reset))
            return False
        return True

    def _count(self, platform: str, user: str, lang: str, reply: Reply) -> bool:
        """Count one command against DIGEST_USER_LIMIT; False (answered) when the user is over it."""
        if events.allow(self.service.db, platform, user, self.clock(), self.settings.costly_per_hour):
            return True
        reply.notice(fill(_extra(lang)["rate_limited"], n=self.settings.costly_per_hour))
        return False

    def _digest(self, c: cmd.DigestCommand, platform: str, channel: str, user: str, lang: str, reply: Reply) -> None:
        # the date itself first: in the zone named, else against any zone's today
        parse_day(c.day or "yesterday", c.zone or "Pacific/Kiritimati", self.clock(), zone_named=c.zone is not None)
        found = self._which(platform, channel, c.repo, lang, reply)
        if found is None:
            return
        repo, sub = found
        counted = self._asks_github(repo, platform, channel)
        if counted and not self._count(platform, user, lang, reply):
            return
        ref = self._checked_repo(repo, platform, channel)
        zone = c.zone or (sub.zone if sub else self.settings.digest_tz)
        lang = c.lang or (sub.lang if sub else lang)
        branch = sub.branch if sub else None
        day = parse_day(c.day or "yesterday", zone, self.clock(), zone_named=c.zone is not None)
        if isinstance(day, date) and (stored := self.service.finished_digest(ref, day, zone, lang, branch)):
            reply.digest(stored)
            return
        if not (self._within_budget(platform, user, lang, reply) if counted else self._spend(platform, user, lang,
                                                                                             reply)):
            return
        shown = day if isinstance(day, str) else day.isoformat()
        reply.progress(text(lang, "progress", repo=repo, day=shown, what=text(lang, "progress_start")))

        def progress(p: Progress) -> None:
            if p.total:
                reply.progress(text(lang, "progress", repo=repo, day=shown,
                                    what=text(lang, f"progress_{p.phase}", done=p.done, total=p.total)))

        reply.digest(self.service.build_digest(ref, day, zone, lang, branch=branch, progress=progress,
                                               spender=_spender(platform, user)))

    def _analyze(self, c: cmd.AnalyzeCommand, platform: str, channel: str, user: str, lang: str, reply: Reply) -> None:
        found = self._which(platform, channel, c.repo, lang, reply)
        if found is None:
            return
        repo, sub = found
        lang = c.lang or (sub.lang if sub else lang)
        zone = c.zone or (sub.zone if sub else self.settings.digest_tz)
        if not self._spend(platform, user, lang, reply):  # before the repository is looked up on GitHub
            return
        ref = self._checked_repo(repo, platform, channel)
        reply.progress(text(lang, "progress_analyze", sha=c.sha[:7], repo=repo))
        reply.report(replace(self.service.analyze(ref, c.sha, lang, spender=_spender(platform, user)), zone=zone))

    def _subscribe(self, c: cmd.Subscribe, platform: str, channel: str, user: str, lang: str, reply: Reply) -> None:
        self._checked_repo(c.repo, platform, channel)
        existing = subs.get(self.service.db, platform, channel, c.repo)
        sub = subs.save(self.service.db, Subscription(
            platform=platform, channel=channel, repo=c.repo,
            at=c.at or (existing.at if existing else self.settings.digest_time),
            zone=c.zone or (existing.zone if existing else self.settings.digest_tz),
            lang=c.lang or (existing.lang if existing else self.settings.digest_lang),
            branch=c.branch or (existing.branch if existing else None),
            quiet=c.quiet or (existing.quiet if existing else "line"),
            source="chat", created_by=user), self.clock())
        self.on_subscriptions_changed()
        reply.notice(_extra(lang)["subscribed"].format(repo=sub.repo, at=sub.at.strftime("%H:%M"), zone=sub.zone,
                                                       lang=sub.lang, next=self._next_run(sub)))

    def _unsubscribe(self, c: cmd.Unsubscribe, platform: str, channel: str, lang: str, reply: Reply) -> None:
        existing = subs.get(self.service.db, platform, channel, c.repo)
        if existing is None:
            reply.notice(_extra(lang)["not_subscribed"].format(repo=c.repo))
        elif existing.source == "env":
            reply.notice(_extra(lang)["env_subscription"].format(repo=c.repo))
        else:
            subs.delete(self.service.db, platform, channel, c.repo)
            self.on_subscriptions_changed()
            reply.notice(_extra(lang)["unsubscribed"].format(repo=c.repo))

    def _list(self, platform: str, channel: str, lang: str) -> str:
        here = subs.in_channel(self.service.db, platform, channel)
        if not here:
            return _extra(lang)["no_repo"]
        lines = [_extra(lang)["list_title"]]
        for s in here:
            env = " (env)" if s.source == "env" else ""
            lines.append(f"• `{s.repo}` {s.at:%H:%M} {s.zone} · {s.lang}{' · ' + s.branch if s.branch else ''}"
                         f" · quiet {s.quiet}{env}" + (f" · ⏸ {s.paused}" if s.paused else ""))
        return "\n".join(lines)

    def _status(self, platform: str, channel: str, lang: str) -> str:
        words = _extra(lang)
        lines = [words["status_title"]]
        for s in subs.in_channel(self.service.db, platform, channel):
            found = posts.last_post(self.service.db, s.platform, s.channel, s.repo)
            if found is None:
                outcome = words["never_posted"]
            else:
                day, last = found
                outcome = f"{day}: {last.state} {(last.posted_at or '')[:16]}".rstrip() + (
                    f" ({last.last_error})" if last.last_error and last.state != "posted" else "")
            lines.append(f"• `{s.repo}`: {words['next_run']} {self._next_run(s)} · {words['last_post']} {outcome}"
                         + (f"\n  ⏸ {s.paused}" if s.paused else ""))
        if len(lines) == 1:
            lines.append(words["no_repo"])
        lines += self.health(lang)
        paused = {s.destination for s in subs.all_subscriptions(self.service.db) if s.paused and s.channel != channel}
        if paused:  # their names may be private to their channels
            lines.append(fill(words["others_paused"], n=len(paused)))
        return "\n".join(lines)

    # -- helpers -------------------------------------------------------------------------------------------

    def _next_run(self, sub: Subscription) -> str:
        when = self.next_runs().get(f"{sub.destination}|{sub.repo}")
        return when.astimezone(parse_zone(sub.zone)).strftime("%Y-%m-%d %H:%M %Z") if when else "—"

    def _channel_lang(self, platform: str, channel: str) -> str:
        here = subs.in_channel(self.service.db, platform, channel)
        return here[0].lang if len(here) == 1 else self.settings.digest_lang

    def _is_admin(self, platform: str, user: str) -> bool:
        admins = self.settings.admins.get(platform)
        return not admins or user in admins

    def repo_ref(self, name: str) -> RepoRef:
        """Where a repository named in chat is read from: a GIT_CLONES clone, else GitHub."""
        return resolve_repo(name, None, self.settings.git_clones, self.settings.github_api_url)

    def _allowed_here(self, name: str, platform: str, channel: str) -> bool:
        """Listed in DIGEST_ALLOWED_REPOS, or subscribed in this channel: the operator's leave."""
        return is_allowed(name, self.settings.allowed_repos) or self._subscribed_here(name, platform, channel)

    def _subscribed_here(self, name: str, platform: str, channel: str) -> bool:
        return subs.get(self.service.db, platform, channel, name) is not None

    def _asks_github(self, name: str, platform: str, channel: str) -> bool:
        """Whether answering about `name` here may ask GitHub about a repository the operator did not name (is it
        private? its default branch?): a command that does counts against DIGEST_USER_LIMIT, or names never heard
        of would spend GITHUB_TOKEN's requests unbounded. A clone, an exact DIGEST_ALLOWED_REPOS entry or a
        subscription here is named; a pattern (`acme/*`) is not."""
        repo = parse_repo_name(name)
        return not (repo in self.settings.git_clones or repo in self.settings.allowed_repos
                    or self._subscribed_here(repo, platform, channel))

    def _checked_repo(self, name: str, platform: str, channel: str) -> RepoRef:
        """A private repository (the token may reach it) or a clone (only the operator knows what it holds) is
        answered only where the operator allowed it: listed in DIGEST_ALLOWED_REPOS, or subscribed here."""
        ref = self.repo_ref(name)
        if self._allowed_here(ref.name, platform, channel):
            return ref
        if self.private(ref):
            if ref.clone is not None:
                raise BadInput(f"{ref.name} is read from a local clone: it is answered only where the bot's operator "
                               "allowed it (DIGEST_ALLOWED_REPOS, or a subscription of this channel)")
            raise BadInput(f"{ref.name} is private; add it to DIGEST_ALLOWED_REPOS to allow it in chat")
        return ref


def _spender(platform: str, user: str) -> str:
    """Whose LLM tokens these are: a person on one platform."""
    return f"{platform}:{user}"


def _usage(topic: str) -> str:
    return {
        "analyze": "Usage: `/analyze SHA [owner/name] [tz ZONE] [lang en|zh]`, e.g. `/analyze d112f6a "
                   "sgl-project/sglang`",
        "subscribe": "Usage: `/digest subscribe owner/name [at HH:MM] [tz ZONE] [lang en|zh] [branch B] [quiet skip|line]`",
        "unsubscribe": "Usage: `/digest unsubscribe owner/name`",
        "list": "Usage: `/digest list`",
        "status": "Usage: `/digest status`",
    }.get(topic, "Usage: `/digest [YYYY-MM-DD|today|yesterday|latest] [owner/name] [tz ZONE] [lang en|zh]`")


_WORDS = {
    "en": {
        "not_admin": "⛔ Only the bot's admins can change subscriptions here.",
        "rate_limited": "⏳ You have asked for {n:+analysis|analyses} in the last hour; please wait a little.",
        "budget_spent": "⏳ You have used {used} of {limit} LLM tokens today; resets at {reset}. Digests already "
                        "built are still free to ask for.",
        "unknown_word": "I did not understand `{word}`.",
        "which_repo": "Which repository? This channel has several: {choices}. Add one to the command.",
        "no_repo": "This channel has no subscription: name a repository (`/digest 2026-01-11 owner/name`) or "
                   "subscribe with `/digest subscribe owner/name`.",
        "subscribed": "✅ Subscribed to `{repo}`: daily at {at} {zone}, in {lang}. Next post: {next}.",
        "not_subscribed": "This channel is not subscribed to `{repo}`.",
        "env_subscription": "`{repo}` is subscribed from the environment (DIGEST_REPOS): edit DIGEST_REPOS and "
                            "restart the bot to remove it.",
        "unsubscribed": "✅ Unsubscribed from `{repo}`.",
        "list_title": "*Subscriptions in this channel*",
        "status_title": "*Commit Radar status*",
        "next_run": "next",
        "last_post": "last post",
        "never_posted": "none yet",
        "day_open": "{day} has not ended yet: its digest is posted the next morning.",
        "others_paused": "{n:+other destination is|other destinations are} paused (see /digest status there).",
    },
    "zh": {
        "not_admin": "⛔ 只有机器人管理员可以修改订阅。",
        "rate_limited": "⏳ 过去一小时内你已请求 {n} 次分析，请稍后再试。",
        "budget_spent": "⏳ 你今天已使用 {used} / {limit} 个 LLM token；额度于 {reset} 重置。已生成的摘要仍可免费查看。",
        "unknown_word": "无法理解 `{word}`。",
        "which_repo": "哪个仓库？本频道订阅了多个：{choices}。请在命令中指明。",
        "no_repo": "本频道没有订阅：请指明仓库（`/digest 2026-01-11 owner/name`）或用 `/digest subscribe owner/name` 订阅。",
        "subscribed": "✅ 已订阅 `{repo}`：每天 {at}（{zone}），语言 {lang}。下次发送：{next}。",
        "not_subscribed": "本频道未订阅 `{repo}`。",
        "env_subscription": "`{repo}` 来自环境变量 DIGEST_REPOS：请修改 DIGEST_REPOS 并重启机器人。",
        "unsubscribed": "✅ 已取消订阅 `{repo}`。",
        "list_title": "*本频道的订阅*",
        "status_title": "*Commit Radar 状态*",
        "next_run": "下次",
        "last_post": "上次发送",
        "never_posted": "尚无",
        "day_open": "{day} 尚未结束：其摘要将在次日早上发送。",
        "others_paused": "另有 {n} 个目标已暂停（请在相应频道查看 /digest status）。",
    },
}


def _extra(lang: str) -> dict[str, str]:
    return _WORDS[lang]
