"""`bot.py doctor`: every configured part checked at once, one line each, with the fix on a failing line.

Checks run concurrently, each in a daemon thread with its own deadline, so an endpoint that hangs costs one
timeout and never keeps the command from finishing. They only look: nothing is posted, no Socket Mode or Feishu
long connection is opened (it would take a share of a running bot's events), no LLM mode is remembered.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, TextIO
from urllib.parse import quote, urlsplit

import requests

from handlers.config import Settings
from core.errors import BadInput, CommitRadarError, LLMUnavailable
from storage import subscriptions as subs

if TYPE_CHECKING:
    from handlers.feishu import OpenApi

log = logging.getLogger(__name__)

TIMEOUT = 5.0  # seconds per check; they run at once, so the whole command takes about this long at worst
MANIFEST = Path(__file__).resolve().parent.parent / "manifest.yml"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class Probe:
    """A check not yet run: its name (for the line shown if it never answers) and what to do then."""

    name: str
    run: Callable[[], list[Check]]
    if_silent: str


# -- what is configured ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Targets:
    slack_channels: tuple[str, ...]
    feishu_chats: tuple[str, ...]
    branches: dict[str, tuple[str, ...]]  # clone name -> branches its subscriptions read
    github_repos: tuple[str, ...]  # repositories read through the GitHub API


def stored_subscriptions(db_path: str) -> list[subs.Subscription]:
    """The subscriptions in the database, read only (the database check reports a database that cannot open)."""
    import sqlite_utils

    if db_path == ":memory:" or not Path(db_path).is_file():
        return []
    try:
        conn = sqlite3.connect(f"file:{quote(str(Path(db_path).resolve()))}?mode=ro", uri=True, timeout=TIMEOUT)
        try:
            return subs.all_subscriptions(sqlite_utils.Database(conn))
        finally:
            conn.close()
    except sqlite3.Error:
        return []


def targets(settings: Settings, stored: list[subs.Subscription]) -> Targets:
    def unique(items: list[str]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(i for i in items if i))

    slack = [settings.slack_channel or ""] + [s.channel for s in stored if s.platform == "slack"]
    feishu = [settings.feishu_chat_id or ""] + [s.channel for s in stored if s.platform == "feishu"]
    branches = {name: unique([s.branch or "" for s in stored if s.repo == name]) for name in settings.git_clones}
    repos = unique([*settings.digest_repos, *(s.repo for s in stored)])
    return Targets(unique(slack), unique(feishu), branches,
                   tuple(r for r in repos if r not in settings.git_clones))


# -- the checks ------------------------------------------------------------------------------------------------


def check_database(path: str) -> list[Check]:
    from storage.db import MIGRATIONS, open_db

    name = f"database {path}"
    if path == ":memory:":
        return [Check(name, True, "in memory: nothing is kept between runs")]
    try:
        open_db(path).conn.close()
        conn = sqlite3.connect(path, timeout=TIMEOUT, isolation_level=None)
        try:  # a write rolled back: the file, its directory (WAL files) and the lock all allow writing
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO seen_events (platform, event_id, seen_at) VALUES ('doctor', 'doctor', '')")
            conn.execute("ROLLBACK")
        finally:
            conn.close()
    except (sqlite3.Error, OSError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        return [Check(name, False, f"cannot write: {reason}",
                      "make the file and its directory writable by this user, or set DATABASE_PATH (or --db)")]
    return [Check(name, True, f"writable (schema {len(MIGRATIONS)})")]


def _no_answer(service: str, err: Exception) -> str:
    if isinstance(err, (TimeoutError, requests.Timeout)):
        return f"{service} timed out after {TIMEOUT:g} s"
    return f"{service} did not answer ({type(err).__name__})"  # the exception's text may quote a URL or a header


def manifest_scopes(text: str) -> frozenset[str]:
    """The bot scopes of manifest.yml (oauth_config: scopes: bot: - a - b), read without a YAML library."""
    found: list[str] = []
    path: list[tuple[int, str]] = []
    for line in text.splitlines():
        stripped = line.split("#", 1)[0].rstrip()
        if not stripped.strip():
            continue
        indent = len(stripped) - len(stripped.lstrip())
        item = stripped.strip()
        if item.startswith("- "):
            if [key for _, key in path][-3:] == ["oauth_config", "scopes", "bot"]:
                found.append(item[2:].strip().strip("'\""))
            continue
        while path and path[-1][0] >= indent:
            path.pop()
        if item.endswith(":"):
            path.append((indent, item[:-1].strip()))
    return frozenset(found)


def check_slack_token(settings: Settings) -> list[Check]:
    from slack_sdk.errors import SlackApiError

    from handlers.slack import GONE, web_client

    client = web_client(settings.slack_bot_token or "", settings.slack_api_url, post_only=True, timeout=int(TIMEOUT))
    try:
        resp = client.auth_test()
    except SlackApiError as err:
        error = str(err.response.get("error", "")) if err.response is not None else ""
        return [Check("Slack token", False, f"auth.test answered {error or 'an error'}",
                      GONE.get(error, "check SLACK_BOT_TOKEN (xoxb-…) and SLACK_API_URL"))]
    except Exception as err:  # a refused connection, a timeout
        return [Check("Slack token", False, _no_answer("Slack", err),
                      "check SLACK_API_URL and this machine's network")]
    token = Check("Slack token", True, f"valid: workspace {resp.get('team')}, bot @{resp.get('user')}")
    granted_header = next((v for k, v in (resp.headers or {}).items() if k.lower() == "x-oauth-scopes"), None)
    if not MANIFEST.is_file():
        return [token, Check("Slack scopes", True, "manifest.yml not found: nothing to compare")]
    wanted = manifest_scopes(MANIFEST.read_text(encoding="utf-8"))
    if granted_header is None:
        return [token, Check("Slack scopes", False, "Slack did not say which scopes the token has",
                             f"make sure the app has the scopes of manifest.yml: {', '.join(sorted(wanted))}")]
    granted = {s.strip() for s in granted_header.split(",") if s.strip()}
    missing = sorted(wanted - granted)
    if missing:
        return [token, Check("Slack scopes", False, f"missing {', '.join(missing)}",
                             "add them under OAuth & Permissions → Bot Token Scopes (as in manifest.yml), then "
                             "reinstall the app")]
    return [token, Check("Slack scopes", True, f"{', '.join(sorted(wanted))} granted, as manifest.yml asks")]


def check_slack_channel(settings: Settings, channel: str) -> list[Check]:
    from slack_sdk.errors import SlackApiError

    from handlers.slack import GONE, web_client

    name = f"Slack channel {channel}"
    client = web_client(settings.slack_bot_token or "", settings.slack_api_url, post_only=True, timeout=int(TIMEOUT))
    try:
        info = client.conversations_info(channel=channel)["channel"]
    except SlackApiError as err:
        error = str(err.response.get("error", "")) if err.response is not None else ""
        return [Check(name, False, f"not reachable ({error or 'error'})",
                      GONE.get(error, "check the channel id (SLACK_CHANNEL or the subscription)"))]
    except Exception as err:
        return [Check(name, False, _no_answer("Slack", err), "check SLACK_API_URL")]
    label = f"#{info.get('name')}" if info.get("name") else channel
    if info.get("is_archived"):
        return [Check(name, False, f"{label} is archived", GONE["is_archived"])]
    if not info.get("is_member"):
        return [Check(name, False, f"the bot is not a member of {label}",
                      f"invite it: /invite @Commit Radar in {label}")]
    return [Check(name, True, f"{label}: the bot is a member")]


def check_slack_events(settings: Settings) -> list[Check]:
    """Socket Mode: the app token opens a connection URL (not the WebSocket: a running bot's events would be
    shared with it). HTTP mode: the signing secret is set."""
    from slack_sdk.errors import SlackApiError

    from handlers.slack import web_client

    if not settings.slack_app_token:
        if settings.slack_signing_secret:
            return [Check("Slack events", True, f"HTTP at /slack/events on port {settings.port}, signed "
                                                "(SLACK_SIGNING_SECRET)")]
        return [Check("Slack events", False, "neither SLACK_APP_TOKEN nor SLACK_SIGNING_SECRET is set",
                      "set SLACK_APP_TOKEN (Socket Mode, no public URL) or SLACK_SIGNING_SECRET (HTTP)")]
    client = web_client("", settings.slack_api_url, post_only=True, timeout=int(TIMEOUT))
    try:
        url = str(client.apps_connections_open(app_token=settings.slack_app_token)["url"])
    except SlackApiError as err:
        error = str(err.response.get("error", "")) if err.response is not None else ""
        return [Check("Slack Socket Mode", False, f"apps.connections.open answered {error or 'an error'}",
                      "create an app-level token with connections:write under Basic Information, set it as "
                      "SLACK_APP_TOKEN (xapp-…), and turn Socket Mode on")]
    except Exception as err:
        return [Check("Slack Socket Mode", False, _no_answer("Slack", err),
                      "check SLACK_API_URL and this machine's network")]
    host = urlsplit(url).hostname or "?"
    return [Check("Slack Socket Mode", True, f"SLACK_APP_TOKEN opens a connection ({host})")]


def check_feishu_app(settings: Settings, api: OpenApi) -> list[Check]:
    from handlers.feishu import FeishuError

    try:
        api.token()
    except FeishuError as err:
        return [Check("Feishu app", False, str(err), "check FEISHU_APP_ID, FEISHU_APP_SECRET and FEISHU_BASE_URL")]
    return [Check("Feishu app", True, f"{settings.feishu_app_id}: tenant_access_token granted")]


FEISHU_CHAT_FIXES = {
    232006: "the chat id is not known to the app: check FEISHU_CHAT_ID or the subscription",
    232009: "the chat was dissolved: subscribe another chat",
    232010: "the chat belongs to another tenant: use a chat of the app's own organisation",
    232011: "the bot is not in this chat: add the bot to the group (Settings → Bots)",
    232025: "enable the app's Bot feature in the developer console and publish a version",
    99991672: "add the permission im:chat:readonly (read group information) to the app and publish a version",
}


def check_feishu_chat(api: OpenApi, chat: str) -> list[Check]:
    from handlers.feishu import FeishuError

    name = f"Feishu chat {chat}"
    try:
        member = api.is_in_chat(chat)
    except FeishuError as err:
        return [Check(name, False, str(err), FEISHU_CHAT_FIXES.get(err.code, "check FEISHU_CHAT_ID and the app's "
                                                                             "permissions"))]
    if not member:
        return [Check(name, False, "the bot is not in this chat", "add the bot to the group (Settings → Bots)")]
    return [Check(name, True, "the bot is a member")]


def check_feishu_events(settings: Settings) -> list[Check]:
    if settings.feishu_event_mode == "http":  # Settings refuses http mode without FEISHU_ENCRYPT_KEY
        return [Check("Feishu events", True, f"http at /feishu/events on port {settings.port}, signed and encrypted")]
    try:  # the long connection's first step, as lark-oapi takes it; the WebSocket itself is not opened
        resp = requests.post(f"{settings.feishu_base_url}/callback/ws/endpoint", timeout=TIMEOUT,
                             json={"AppID": settings.feishu_app_id, "AppSecret": settings.feishu_app_secret})
        data = resp.json()
    except (requests.RequestException, ValueError) as err:
        return [Check("Feishu events", False, _no_answer("Feishu", err),
                      "check FEISHU_BASE_URL and this machine's network")]
    if data.get("code") != 0 or not (data.get("data") or {}).get("URL"):
        return [Check("Feishu events", False, f"the long connection was refused ({data.get('code')}: "
                                              f"{data.get('msg')})",
                      "choose \"Receive events through persistent connection\" under Events & Callbacks, and "
                      "check FEISHU_APP_ID and FEISHU_APP_SECRET")]
    return [Check("Feishu events", True, "long connection (ws) offered")]


def check_lark_oapi() -> list[Check]:
    """The installed version only, from its metadata: the private parts are looked for at start, since importing
    lark-oapi to find them takes seconds."""
    from handlers.feishu.lark_internals import TESTED, Verdict, installed_version

    verdict = Verdict(installed_version())
    if verdict.tested:
        return [Check("lark-oapi", True, f"{TESTED}, the version the Feishu events were tested with")]
    return [Check("lark-oapi", False, verdict.problem or "", verdict.fix)]


def check_feishu_webhook(settings: Settings) -> list[Check]:
    """Only the URL's form: a real check would post a card to the group."""
    parts = urlsplit(settings.feishu_webhook_url or "")
    token = parts.path.rsplit("/bot/v2/hook/", 1)[-1] if "/bot/v2/hook/" in parts.path else ""
    if parts.scheme not in ("https", "http") or not token or "/" in token:
        return [Check("Feishu webhook", False, "FEISHU_WEBHOOK_URL is not a custom bot URL",
                      "copy the URL from the group's Settings → Bots → Custom Bot (…/open-apis/bot/v2/hook/…)")]
    signed = "signed" if settings.feishu_webhook_secret else "unsigned (no FEISHU_WEBHOOK_SECRET)"
    return [Check("Feishu webhook", True, f"{parts.hostname}, {signed}; not posted to")]


def check_llm(settings: Settings, model: str) -> list[Check]:
    from digest.analysis.llm import LLMAnalyser, LLMConfig, fix_for

    config = LLMConfig(base_url=settings.llm_base_url or "", api_key=settings.llm_api_key or "none", model=model,
                       timeout=TIMEOUT, max_retries=0)
    name = f"LLM {model}"
    try:
        mode = LLMAnalyser(config).probe(model)
    except LLMUnavailable as err:
        return [Check(name, False, str(err), fix_for(err))]
    return [Check(name, True, f"{config.endpoint} answers; output mode {mode}")]


def check_github(settings: Settings) -> list[Check]:
    import sqlite_utils

    from digest.sources.github import GitHubClient

    client = GitHubClient(sqlite_utils.Database(memory=True), api_url=settings.github_api_url,
                          token=settings.github_token, timeout=(TIMEOUT, TIMEOUT), retries=0, max_wait=0)
    try:
        core = client.get(client.url("/rate_limit"), cache=False).data["resources"]["core"]
        remaining, limit, reset = int(core["remaining"]), int(core["limit"]), float(core["reset"])
    except CommitRadarError as err:
        fix = ("create a new token (read-only access to the repositories) and set GITHUB_TOKEN, or remove it"
               if "GITHUB_TOKEN" in str(err) else "check GITHUB_API_URL and this machine's network")
        return [Check("GitHub", False, str(err), fix)]
    except (KeyError, TypeError, ValueError):
        return [Check("GitHub", False, f"{client.host} answered /rate_limit unlike GitHub", "check GITHUB_API_URL")]
    at = datetime.fromtimestamp(reset, timezone.utc)
    who = "token valid" if settings.github_token else "no GITHUB_TOKEN"
    detail = f"{who}; {remaining} of {limit} requests left this hour (resets {at:%H:%M} UTC)"
    if remaining == 0:
        return [Check("GitHub", False, detail, "wait for the reset" + ("" if settings.github_token else
                                                                      ", or set GITHUB_TOKEN (5000 an hour)"))]
    return [Check("GitHub", True, detail)]


def check_clone(name: str, path: Path, branches: tuple[str, ...]) -> list[Check]:
    from digest.sources.git import GitSource, describe_clone

    label = f"clone {name}"
    try:
        source = GitSource(describe_clone(path, name, fetch=True, timeout=TIMEOUT), timeout=TIMEOUT)
        head = source.branch(None)
        missing = []
        for branch in branches:
            try:
                source.branch(branch)
            except BadInput:
                missing.append(branch)
    except CommitRadarError as err:
        return [Check(label, False, str(err), f"fix GIT_CLONES ({name}={path}) or clone the repository there")]
    if missing:
        return [Check(label, False, f"no branch {', '.join(missing)} (a subscription reads it)",
                      f"fetch it into the clone (git -C {path} fetch origin {missing[0]}) or subscribe another "
                      "branch")]
    shown = head.removeprefix("refs/heads/").removeprefix("refs/remotes/")
    return [Check(label, True, f"{path}: readable, on {shown}" + (f"; {', '.join(branches)} present" if branches
                                                                   else ""))]


# -- running them ----------------------------------------------------------------------------------------------


def plan(settings: Settings, db_path: str) -> list[Probe]:
    """A probe per configured part, in the order the lines are shown."""
    found = targets(settings, stored_subscriptions(db_path))
    probes = [Probe(f"database {db_path}", lambda: check_database(db_path), "another process holds the database "
                    "locked: stop it, or check the disk")]
    if settings.slack_enabled:
        probes.append(Probe("Slack token", lambda: check_slack_token(settings), "check SLACK_API_URL"))
        probes += [Probe(f"Slack channel {c}", lambda c=c: check_slack_channel(settings, c), "check SLACK_API_URL")
                   for c in found.slack_channels]
        events = "Slack Socket Mode" if settings.slack_app_token else "Slack events"  # the name its line will have
        probes.append(Probe(events, lambda: check_slack_events(settings), "check SLACK_API_URL"))
    if settings.feishu_app_enabled:
        from handlers.feishu import OpenApi

        api = OpenApi(settings.feishu_app_id or "", settings.feishu_app_secret or "", settings.feishu_base_url,
                      timeout=TIMEOUT, attempts=1)  # one token for every chat checked
        probes.append(Probe("Feishu app", lambda: check_feishu_app(settings, api), "check FEISHU_BASE_URL"))
        probes += [Probe(f"Feishu chat {c}", lambda c=c: check_feishu_chat(api, c), "check FEISHU_BASE_URL")
                   for c in found.feishu_chats]
        probes.append(Probe("Feishu events", lambda: check_feishu_events(settings), "check FEISHU_BASE_URL"))
        probes.append(Probe("lark-oapi", check_lark_oapi, ""))
    if settings.feishu_webhook_url:
        probes.append(Probe("Feishu webhook", lambda: check_feishu_webhook(settings), ""))
    if settings.llm_enabled:
        models = dict.fromkeys(filter(None, (settings.llm_model, settings.llm_fallback_model)))
        probes += [Probe(f"LLM {m}", lambda m=m: check_llm(settings, m), "check LLM_BASE_URL and that the endpoint "
                         "is up") for m in models]
    if settings.github_token or found.github_repos:
        probes.append(Probe("GitHub", lambda: check_github(settings), "check GITHUB_API_URL"))
    probes += [Probe(f"clone {name}", lambda n=name, p=path: check_clone(n, p, found.branches.get(n, ())),
                     "check the clone's disk") for name, path in settings.git_clones.items()]
    return probes


def run_all(probes: list[Probe], timeout: float = TIMEOUT) -> list[Check]:
    """Every probe at once, each in a daemon thread (a hung one cannot hold the process); its checks, or one
    failing line for a probe that did not answer within `timeout` or broke."""
    results: list[list[Check] | None] = [None] * len(probes)

    def work(i: int, probe: Probe) -> None:
        try:
            results[i] = probe.run()
        except Exception as err:  # a check that broke is a failing line, never a traceback (that is for -v)
            log.info("doctor: the check %s failed", probe.name, exc_info=True)
            results[i] = [Check(probe.name, False, f"the check failed ({type(err).__name__})", probe.if_silent)]

    threads = [threading.Thread(target=work, args=(i, p), name=f"doctor-{i}", daemon=True)
               for i, p in enumerate(probes)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout + 0.5  # the clients' own timeouts speak first when they can
    for t in threads:
        t.join(max(deadline - time.monotonic(), 0))
    checks: list[Check] = []
    for probe, result in zip(probes, results):
        checks += result if result is not None else [
            Check(probe.name, False, f"no answer within {timeout:g} s", probe.if_silent)]
    return checks


def render(checks: list[Check]) -> list[str]:
    """One line per check (✓ or ✗, the fix after → on a failing one), then the count."""
    lines = [f"{'✓' if c.ok else '✗'} {c.name}: {c.detail}" + (f" → {c.fix}" if not c.ok and c.fix else "")
             for c in checks]
    failed = sum(not c.ok for c in checks)
    total = f"{len(checks)} check{'s' if len(checks) != 1 else ''}"
    lines.append(f"{total}, all passed" if not failed else f"{failed} of {total} failed")
    return lines


def run(settings: Settings, db_path: str, stdout: TextIO, timeout: float = TIMEOUT) -> int:
    """Exit 0 only when every check passed."""
    checks = run_all(plan(settings, db_path), timeout)
    for line in render(checks):
        stdout.write(settings.redact(line) + "\n")
    stdout.flush()
    return 0 if all(c.ok for c in checks) else 1
