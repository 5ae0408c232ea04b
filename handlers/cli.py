"""The command line: parse -> service -> render -> print. Exit 0 ok, 2 bad input, 1 failure; one line, no traceback."""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import date, time
from typing import TextIO

from core.errors import BadInput, CommitRadarError
from core.models import Digest, Progress, RepoRef
from core.ranges import is_range, parse_range
from digest import rollup_view
from digest.labels import counted
from digest.range_build import digests_of
from core.window import parse_zone
from digest.render import json as render_json
from digest.render import markdown as render_markdown
from digest.render import rollup as render_rollup
from digest.render import text as render_text
from digest.repos import resolve_repo
from digest.rollup import roll_up
from digest.service import DigestService
from handlers.config import Settings
from storage import retention

log = logging.getLogger(__name__)

RENDERERS = {"text": render_text, "markdown": render_markdown, "json": render_json}

EPILOG = """\
examples:
  python bot.py digest sgl-project/sglang --date 2026-01-11 --tz Asia/Shanghai --lang zh
  python bot.py digest --git /path/to/clone --date yesterday --format markdown > report.md
  python bot.py digest sgl-project/sglang --date 2026-01-05..2026-01-11
  python bot.py analyze d112f6a --repo sgl-project/sglang

exit codes: 0 done (an analysis that fell back to offline rules is a warning), 2 bad input (date, repository,
SHA, or a repository or commit that does not exist), 1 failure (network, GitHub, git).
configuration: environment variables or a .env file; see .env.example."""


def parser(settings: Settings) -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="bot.py", description="Commit Radar: daily digests of a repository's commits, analysed.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("-v", "--verbose", action="store_true", help="log progress and details to stderr")
    commands = top.add_subparsers(dest="command", required=True, metavar="{digest,analyze,run,post,backfill,doctor,prune}")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--git", metavar="PATH", help="read a local clone (normal, bare or mirror) as it is, no network")
        p.add_argument("--format", choices=list(RENDERERS), default="text",
                       help="text (terminal, default), markdown (the report), json (one object)")
        p.add_argument("--lang", choices=["en", "zh"], default=settings.digest_lang,
                       help=f"language of the analyses and labels (default DIGEST_LANG, now {settings.digest_lang})")
        p.add_argument("--db", metavar="PATH", default=settings.database_path,
                       help=f"SQLite file for commits, analyses and digests (default DATABASE_PATH, now "
                            f"{settings.database_path})")
        p.add_argument("--no-llm", action="store_true", help="use the offline rules analyser even if LLM_* is set")
        p.add_argument("-v", "--verbose", action="store_true", help="log progress and details to stderr")

    digest = commands.add_parser(
        "digest", help="the digest of one day's commits", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Every commit reachable from the branch whose committer date falls in [00:00, next 00:00) of "
                    "--date in --tz, analysed: type, importance and why, summary, impact, breaking changes; "
                    "high-importance commits get a deep analysis.")
    digest.add_argument("repo", nargs="?", help="owner/name on GitHub (or in GIT_CLONES); optional with --git")
    digest.add_argument("--date", default="yesterday",
                        help="YYYY-MM-DD, today, yesterday (default) or latest (the most recent day with commits); "
                             "a range A..B (at most 31 days) or week (the last full week, Monday first) rolls "
                             "the days up")
    digest.add_argument("--tz", default=settings.digest_tz,
                        help=f"IANA time zone of the day (default DIGEST_TZ, now {settings.digest_tz})")
    digest.add_argument("--branch", help="branch to read (default: the repository's default branch, or HEAD of a clone)")
    common(digest)

    analyze = commands.add_parser("analyze", help="a deep analysis of one commit", epilog=EPILOG,
                                  formatter_class=argparse.RawDescriptionHelpFormatter,
                                  description="A deep analysis (insights, risks, suggestions) of one commit.")
    analyze.add_argument("sha", help="commit SHA, 7 to 40 hex digits")
    analyze.add_argument("--repo", help="owner/name on GitHub (or in GIT_CLONES); optional with --git")
    analyze.add_argument("--tz", default=settings.digest_tz,
                         help=f"IANA time zone its times are shown in (default DIGEST_TZ, now {settings.digest_tz})")
    common(analyze)

    run = commands.add_parser(
        "run", help="the chat bot: daily posts, /digest and /analyze in Slack and Feishu", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Runs until stopped: posts each subscription's digest at its time, answers commands (Slack "
                    "Socket Mode when SLACK_APP_TOKEN is set, else HTTP on $PORT at /slack/events; Feishu as "
                    "configured) and serves GET /healthz.")
    bot_options(run, settings)

    post = commands.add_parser(
        "post", help="post one day's digest now, the way the schedule does", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Posts to the repository's subscriptions, else to the configured destinations (SLACK_CHANNEL, "
                    "FEISHU_CHAT_ID, FEISHU_WEBHOOK_URL), or to --to. Once per destination and day unless --force.")
    post.add_argument("repo", help="owner/name")
    post.add_argument("--date", default="yesterday",
                      help="YYYY-MM-DD, today, yesterday (default) or latest (the most recent day with commits); "
                           "week (the last full week) or A..B posts the roll-up, once")
    post.add_argument("--to", action="append", metavar="DEST",
                      help="slack:CHANNEL_ID, feishu:CHAT_ID or feishu:webhook (repeatable)")
    post.add_argument("--force", action="store_true", help="post again, anew, even if that day was posted")
    post.add_argument("--tz", default=None, help="IANA zone of the day (default: the subscription's, else DIGEST_TZ)")
    post.add_argument("--lang", choices=["en", "zh"], default=None,
                      help="language (default: the subscription's, else DIGEST_LANG)")
    bot_options(post, settings)

    backfill = commands.add_parser(
        "backfill", help="retry every analysis that fell back to the rules, now, and update what was posted",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Asks the LLM again for every queued analysis (no backoff wait), rebuilds the stored digests "
                    "that show them, and edits every message already posted for them (Slack, Feishu app cards; a "
                    "Feishu webhook gets a follow-up card). `bot.py run` does the same every few minutes.")
    bot_options(backfill, settings)

    doctor = commands.add_parser(
        "doctor", help="check every configured part (tokens, channels, LLM, GitHub, clones, database) in seconds",
        description="One line per configured part, ✓ or ✗ with the fix; exit 0 only when all pass. Nothing is "
                    "posted or changed.")
    doctor.add_argument("--db", metavar="PATH", default=settings.database_path, help="SQLite file (default "
                                                                                     "DATABASE_PATH)")
    doctor.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")

    prune = commands.add_parser(
        "prune", help="drop old diffs, seen events, the command log and cached answers now, as `run` does daily",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description=f"Drops the diffs of commits fetched more than RETAIN_PATCH_DAYS ago (now "
                    f"{settings.retain_patch_days}; read again from the source when needed), seen events and the "
                    f"command log older than RETAIN_EVENT_DAYS (now {settings.retain_event_days}) and cached GitHub "
                    f"answers older than RETAIN_HTTP_CACHE_DAYS (now {settings.retain_http_cache_days}); analyses "
                    "and digests are kept. Prints what it removed and the database's size before and after.")
    prune.add_argument("--db", metavar="PATH", default=settings.database_path, help="SQLite file (default DATABASE_PATH)")
    prune.add_argument("-v", "--verbose", action="store_true", help="log progress and details to stderr")
    prune.set_defaults(no_llm=True)  # nothing to analyse
    return top


def bot_options(p: argparse.ArgumentParser, settings: Settings) -> None:
    p.add_argument("--db", metavar="PATH", default=settings.database_path, help="SQLite file (default DATABASE_PATH)")
    p.add_argument("--no-llm", action="store_true", help="use the offline rules analyser even if LLM_* is set")
    p.add_argument("-v", "--verbose", action="store_true", help="log progress and details to stderr")


class ProgressBar:
    """One progress line on stderr (a TTY) for the interleaved phases, or a line per finished phase otherwise."""

    LABELS = {"fetch": "fetched", "brief": "analysed", "deep": "deep"}

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.state: dict[str, Progress] = {}

    def __call__(self, p: Progress) -> None:
        if p.total == 0:
            return
        self.state[p.phase] = p
        if not self.tty:
            if p.done == p.total:
                self.stream.write(f"{self.LABELS[p.phase]}: {p.done}/{p.total}\n")
            return
        lead = self.state.get("brief") or p
        filled = int(30 * lead.done / lead.total)
        parts = " · ".join(f"{self.LABELS[k]} {v.done}/{v.total}" for k, v in self.state.items())
        self.stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {parts}\x1b[K")
        if all(v.done == v.total for v in self.state.values()) and p.phase != "fetch":
            self.stream.write("\n")
        self.stream.flush()


def run(argv: list[str] | None, settings: Settings, make_service: Callable[[Settings, str, bool], DigestService],
        stdout: TextIO = sys.stdout, stderr: TextIO = sys.stderr) -> int:
    args = parser(settings).parse_args(argv)

    def say(line: str) -> None:  # every line the user sees passes here: secrets never reach it
        stderr.write(settings.redact(line) + "\n")

    try:
        if args.command == "doctor":  # before the database is opened: whether it can be is one of the checks
            from handlers import doctor

            return doctor.run(settings, args.db, stdout)
        try:
            service = make_service(settings, args.db, not args.no_llm)
        except (sqlite3.Error, OSError) as err:
            reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
            raise BadInput(f"cannot open the database {args.db}: {reason}") from None
        if args.command == "run":
            return run_bot(settings, service, say)
        if args.command == "post":
            return post_now(settings, service, args, say, stdout)
        if args.command == "backfill":
            return backfill_now(settings, service, say, stdout)
        if args.command == "prune":
            stdout.write(retention.prune(service.db, service.clock(), settings.retention).line() + "\n")
            return 0
        repo_name = args.repo
        repo = resolve_repo(repo_name, args.git, settings.git_clones, settings.github_api_url)
        progress = ProgressBar(stderr) if args.format == "text" else None
        renderer = RENDERERS[args.format]
        if args.command == "digest" and is_range(args.date):
            stdout.write(roll_up_now(service, repo, args, say))
        elif args.command == "digest":
            digest = service.build_digest(repo, args.date, args.tz, args.lang, branch=args.branch, progress=progress)
            stdout.write(renderer.render_digest(digest))
            warn_fallbacks(digest, say)
        else:
            parse_zone(args.tz)  # a wrong zone is said before the analysis is paid for
            report = replace(service.analyze(repo, args.sha, args.lang, progress=progress), zone=args.tz)
            stdout.write(renderer.render_report(report))
            for note in report.notes:
                say(f"warning: {note}")
            if report.analysis.note:
                say(f"warning: {report.analysis.note}")
        stdout.flush()
        return 0
    except BadInput as err:
        log.info("bad input: %s", err)
        say(f"error: {err}")
        return 2
    except (CommitRadarError, sqlite3.Error) as err:
        log.info("failed: %s", err)
        say(f"error: {err}")
        return 1
    except OSError as err:  # a file or pipe of ours: the OS' words, without the exception's details
        say(f"error: {err.strerror or type(err).__name__}")
        return 1


def roll_up_now(service: DigestService, repo: RepoRef, args: argparse.Namespace, say: Callable[[str], None]) -> str:
    """`--date A..B` or `--date week`: the days' digests (stored ones read back, the rest built) rolled up."""
    span = parse_range(args.date, args.tz, service.clock())

    def building(n: int, of: int, day: date) -> None:
        say(f"building {n} of {counted(of, 'day', 'days')}: {day.isoformat()}")

    digests = digests_of(service, repo, span, args.tz, args.lang, branch=args.branch, progress=building)
    for digest in digests:
        warn_fallbacks(digest, say)
    rolled = roll_up(repo.name, span, args.tz, args.lang, service.branch_name(repo, args.branch), digests)
    if args.format == "json":
        return render_rollup.json_text(rolled)
    view = rollup_view.build(rolled)
    # the chat's "/digest DAY" hint is no command here: `--date DAY` is
    return (render_rollup.markdown(view, hint=False) if args.format == "markdown"
            else render_rollup.plain_text(view, hint=False))


def run_bot(settings: Settings, service: DigestService, say: Callable[[str], None]) -> int:
    import signal
    import threading

    from handlers import startup
    from handlers.app import Bot
    from storage import subscriptions as subs

    if not (settings.slack_enabled or settings.feishu_app_enabled or settings.feishu_webhook_url):
        raise BadInput("nothing to run: set SLACK_BOT_TOKEN, FEISHU_APP_ID and FEISHU_APP_SECRET, or "
                       "FEISHU_WEBHOOK_URL (see .env.example)")
    bot = Bot(settings, service)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server = bot.start()
    llm = service.llm.config if service.llm is not None else None
    say(startup.line(settings, subs.all_subscriptions(service.db), model=llm.model if llm else None,
                     fallback=llm.fallback_model if llm else None, llm_off=service.llm_off, host=server.host,
                     port=server.port))
    stop.wait()
    bot.stop()
    return 0


def post_now(settings: Settings, service: DigestService, args: argparse.Namespace, say: Callable[[str], None],
             stdout: TextIO) -> int:
    from handlers.app import Bot, configured_destinations, sync_env_subscriptions
    from storage import subscriptions as subs

    bot = Bot(settings, service)
    sync_env_subscriptions(service.db, settings, service.clock())  # DIGEST_REPOS' words and watches, as `run` has
    repo = resolve_repo(args.repo, None, settings.git_clones, settings.github_api_url).name
    targets: list[tuple[str, str, subs.Subscription | None]] = []
    for dest in args.to or []:
        platform, sep, channel = dest.partition(":")
        if platform == "feishu" and channel == "webhook":
            platform = "webhook"
        if not sep or not channel or platform not in ("slack", "feishu", "webhook"):
            raise BadInput(f"--to {dest!r}: use slack:CHANNEL_ID, feishu:CHAT_ID or feishu:webhook")
        targets.append((platform, channel, subs.get(service.db, platform, channel, repo)))
    if not targets:
        targets = [(s.platform, s.channel, s) for s in subs.of_repo(service.db, repo)]
    if not targets:
        targets = [(p, c, None) for p, c in configured_destinations(settings)]
    if not targets:
        raise BadInput("nowhere to post: set SLACK_BOT_TOKEN and SLACK_CHANNEL, FEISHU_APP_ID, FEISHU_APP_SECRET and "
                       "FEISHU_CHAT_ID, or FEISHU_WEBHOOK_URL, or name one with --to slack:C123")
    failures = 0
    for platform, channel, sub in targets:
        zone = args.tz or (sub.zone if sub else settings.digest_tz)
        lang = args.lang or (sub.lang if sub else settings.digest_lang)
        if is_range(args.date):  # a roll-up, claimed by its ISO week (or its range) like a day's post by its day
            span = parse_range(args.date, zone, service.clock())
            sub = replace(sub, zone=zone, lang=lang) if sub else subs.Subscription(
                platform, channel, repo, at=time(9), zone=zone, lang=lang)
            outcome = bot.publisher.post_week(sub, span)
            stdout.write(f"{platform}:{channel} {repo} {span.key}: {outcome.status}"
                         + (f" ({outcome.detail})" if outcome.detail else "") + "\n")
            failures += outcome.status in ("failed", "paused")
            continue
        day = service.resolve_day(args.date, zone)
        if day == "latest":  # the most recent day with commits, in this destination's zone and branch
            day = service.latest_day(bot.repo_ref(repo), zone, sub.branch if sub else None)
        assert not isinstance(day, str)
        outcome = bot.publisher.post(platform, channel, repo, day, zone, lang, sub.branch if sub else None,
                                     quiet=sub.quiet if sub else "line", force=args.force)
        shown = "feishu:webhook" if platform == "webhook" else f"{platform}:{channel}"  # as --to names it
        sent = counted(outcome.replies, *(("detail card", "detail cards") if platform == "webhook"  # no thread there
                                          else ("thread reply", "thread replies")))
        stdout.write(f"{shown} {repo} {day.isoformat()}: {outcome.status}"
                     + (f" ({outcome.detail})" if outcome.detail else "")
                     + (f", {sent}" if outcome.replies else "") + "\n")
        failures += outcome.status in ("failed", "paused")
    return 1 if failures else 0


def backfill_now(settings: Settings, service: DigestService, say: Callable[[str], None], stdout: TextIO) -> int:
    from handlers.app import Bot
    from handlers.backfill import backfill

    if service.llm is None:
        raise BadInput("no LLM is configured (LLM_BASE_URL and LLM_MODEL): there is nothing to retry")
    report = backfill(service, Bot(settings, service).publisher, now=True)
    stdout.write(report.line() + "\n")
    for failure in report.failures:
        say(f"warning: {failure}")
    return 0


def warn_fallbacks(digest: Digest, say: Callable[[str], None]) -> None:
    cov = digest.coverage
    for note in digest.notes:
        say(f"warning: {note}")
    if cov.fallbacks:
        say(f"warning: {counted(cov.fallbacks, 'commit uses', 'commits use')} the offline rules because the LLM "
            f"failed; {'it is' if cov.fallbacks == 1 else 'they are'} queued for a retry:")
        for reason in cov.reasons:
            say(f"  {reason}")
