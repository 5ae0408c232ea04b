"""The one chat grammar of Slack and Feishu: command text -> a typed command, or BadCommand with the usage.

    /digest [DATE] [owner/name] [tz ZONE] [lang en|zh]
    /digest subscribe owner/name [at HH:MM] [tz ZONE] [lang en|zh] [branch B] [quiet skip|line]
    /digest unsubscribe owner/name | list | status | help
    /analyze SHA [owner/name] [tz ZONE] [lang en|zh]

Words may come in any order after the subcommand. Pure: dates are checked for shape here and against the
calendar and the clock by the service (which knows the zone).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import time

from core.errors import BadInput
from core.models import parse_repo_name
from digest.service import parse_sha
from core.watches import WATCH_KINDS, Mention
from core.window import parse_zone
from digest.watches import check_pattern

_DAY_WORDS = ("today", "yesterday", "latest")
_DAYISH = re.compile(r"\d{2,4}-\d{1,2}-\d{1,2}|\d{8}")
_HHMM = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
_DATE_LIKE = re.compile(r"[\d-]+|\d{4}[/.]\d{1,2}[/.]\d{1,2}")
# who a watch notifies, as the platforms send a mention typed in a command: Slack `<@U…|name>`, `<!subteam^S…|@team>`;
# Feishu's mentions are turned into `<at:ou_…|name>` by its event handler before parsing
_SLACK_USER = re.compile(r"<@([UW][A-Z0-9]{2,20})(?:\|([^<>|]{0,80}))?>")
_SLACK_GROUP = re.compile(r"<!subteam\^(S[A-Z0-9]{2,20})(?:\|([^<>|]{0,80}))?>")
_FEISHU_USER = re.compile(r"<at:(ou_[A-Za-z0-9]{1,64})(?:\|([^<>|]{0,80}))?>")
_WORDS = re.compile(r'"[^"\n]{1,200}"|“[^”\n]{1,200}”|<[^<>\s][^<>]{0,120}>|[^\s]+')  # "Ada Lovelace" is one word
_WATCH_NUMBER = re.compile(r"[0-9]{1,4}")  # ASCII digits: `²` is a digit to str.isdigit, not to int()
_QUOTES = "\"'“”‘’「」"
MAX_TEXT = 500  # a command longer than this is not a command


class BadCommand(BadInput):
    """The command text cannot be understood; `topic` says which usage to show."""

    def __init__(self, message: str, topic: str = "digest") -> None:
        super().__init__(message)
        self.topic = topic


@dataclass(frozen=True)
class DigestCommand:
    day: str | None = None  # YYYY-MM-DD | today | yesterday | latest | A..B | week; None: yesterday in the zone
    repo: str | None = None
    lang: str | None = None
    zone: str | None = None  # the day's zone; None: the subscription's, else DIGEST_TZ


@dataclass(frozen=True)
class AnalyzeCommand:
    sha: str
    repo: str | None = None
    lang: str | None = None
    zone: str | None = None  # the zone its times are shown in; None: the subscription's, else DIGEST_TZ


@dataclass(frozen=True)
class Subscribe:
    repo: str
    at: time | None = None
    zone: str | None = None
    lang: str | None = None
    branch: str | None = None
    quiet: str | None = None  # skip | line | unless-watched
    skip_authors: tuple[str, ...] | None = None  # None: unchanged; (): none skipped
    min_level: str | None = None  # high | medium | all
    paths: tuple[str, ...] | None = None
    weekly: str | None = None  # "mon 09:00" | "off"
    daily: bool | None = None


@dataclass(frozen=True)
class Unsubscribe:
    repo: str
    lang: str | None = None


@dataclass(frozen=True)
class ListSubscriptions:
    lang: str | None = None


@dataclass(frozen=True)
class Status:
    lang: str | None = None


@dataclass(frozen=True)
class Help:
    lang: str | None = None
    unknown: str | None = None  # the word that was not understood, if that is why help is shown


@dataclass(frozen=True)
class WatchCommand:
    repo: str
    kind: str  # path | flag | keyword | author
    pattern: str
    mention: Mention | None = None
    lang: str | None = None


@dataclass(frozen=True)
class Unwatch:
    repo: str
    number: int
    lang: str | None = None


@dataclass(frozen=True)
class ListWatches:
    repo: str | None = None
    lang: str | None = None


Command = (DigestCommand | AnalyzeCommand | Subscribe | Unsubscribe | ListSubscriptions | Status | Help | WatchCommand
           | Unwatch | ListWatches)
CHANGES_SUBSCRIPTIONS = (Subscribe, Unsubscribe, WatchCommand, Unwatch)


def parse_time(value: str) -> time:
    match = _HHMM.fullmatch(value.strip())
    if not match:
        raise BadCommand(f"not a time of day: {value!r}; use HH:MM, e.g. 09:00", "subscribe")
    return time(int(match.group(1)), int(match.group(2)))


def _options(words: list[str], allowed: tuple[str, ...], topic: str) -> tuple[dict[str, str], list[str]]:
    """`key value` pairs for the allowed keys, and the remaining words in order."""
    found: dict[str, str] = {}
    rest: list[str] = []
    i = 0
    while i < len(words):
        key = words[i].lower()
        if key in allowed:
            if i + 1 >= len(words):
                raise BadCommand(f"`{key}` needs a value", topic)
            if key in found:
                raise BadCommand(f"`{key}` is given twice", topic)
            found[key] = words[i + 1]
            i += 2
        else:
            rest.append(words[i])
            i += 1
    if "lang" in found:
        found["lang"] = found["lang"].lower()
        if found["lang"] not in ("en", "zh"):
            raise BadCommand(f"unknown language {found['lang']!r}: use en or zh", topic)
    return found, rest


def _repo(word: str, topic: str) -> str:
    try:
        return parse_repo_name(word)
    except BadInput as err:
        raise BadCommand(str(err), topic) from None


def parse(command: str, text: str) -> Command:
    """`command` is /digest or /analyze (with or without the slash); `text` is what followed it."""
    name = command.strip().lstrip("/").lower()
    if len(text) > MAX_TEXT:
        raise BadCommand(f"the command is {len(text)} characters long; a command is at most {MAX_TEXT}", name)
    words = _WORDS.findall(text)  # a mention `<at:ou_…|Ann Lee>` is one word
    if name == "analyze":
        return _analyze(words)
    if name != "digest":
        raise BadCommand(f"unknown command /{name}: use /digest or /analyze", "digest")
    head = words[0].lower() if words else ""
    if head == "help":
        return Help(lang=_options(words[1:], ("lang",), "digest")[0].get("lang"))
    if head in ("list", "status"):
        opts, rest = _options(words[1:], ("lang",), head)
        if rest:
            raise BadCommand(f"/digest {head} takes no other words (got {' '.join(rest)!r})", head)
        return ListSubscriptions(opts.get("lang")) if head == "list" else Status(opts.get("lang"))
    if head == "subscribe":
        return _subscribe(words[1:])
    if head == "watch":
        return _watch(words[1:])
    if head == "unwatch":
        opts, rest = _options(words[1:], ("lang",), "watch")
        if len(rest) != 2 or not _WATCH_NUMBER.fullmatch(rest[1]):
            raise BadCommand("name the repository and the watch's number: /digest unwatch owner/name N", "watch")
        return Unwatch(_repo(rest[0], "watch"), int(rest[1]), opts.get("lang"))
    if head == "watches":
        opts, rest = _options(words[1:], ("lang",), "watch")
        if len(rest) > 1:
            raise BadCommand("/digest watches [owner/name]", "watch")
        return ListWatches(_repo(rest[0], "watch") if rest else None, opts.get("lang"))
    if head == "unsubscribe":
        opts, rest = _options(words[1:], ("lang",), "unsubscribe")
        if len(rest) != 1:
            raise BadCommand("name one repository: /digest unsubscribe owner/name", "unsubscribe")
        return Unsubscribe(_repo(rest[0], "unsubscribe"), opts.get("lang"))
    return _digest(words)


def _zone(opts: dict[str, str], topic: str) -> str | None:
    zone = opts.get("tz")
    if zone is not None:
        try:
            parse_zone(zone)
        except BadInput as err:
            raise BadCommand(str(err), topic) from None
    return zone


def _is_range(word: str) -> bool:
    """`week`, or two days joined by `..` (each checked against the calendar by core.ranges)."""
    first, sep, last = word.partition("..")
    return word == "week" or (bool(sep) and all(p in _DAY_WORDS or _DAYISH.fullmatch(p) for p in (first, last)))


def _digest(words: list[str]) -> Command:
    opts, rest = _options(words, ("lang", "tz"), "digest")
    day: str | None = None
    repo: str | None = None
    for word in rest:
        lower = word.lower()
        if lower in _DAY_WORDS or _DAYISH.fullmatch(word) or _is_range(lower):
            if day is not None:
                raise BadCommand(f"two dates given ({day} and {word}); ask for one day at a time")
            day = lower
        elif _DATE_LIKE.fullmatch(word):
            raise BadCommand(f"not a date: {word!r}; use YYYY-MM-DD, today, yesterday or latest")
        elif "/" in word:
            if repo is not None:
                raise BadCommand(f"two repositories given ({repo} and {word}); ask for one at a time")
            repo = _repo(word, "digest")
        else:
            return Help(lang=opts.get("lang"), unknown=word)
    return DigestCommand(day=day, repo=repo, lang=opts.get("lang"), zone=_zone(opts, "digest"))


def _analyze(words: list[str]) -> AnalyzeCommand:
    opts, rest = _options(words, ("lang", "tz"), "analyze")
    shas = [w for w in rest if "/" not in w]
    repos = [w for w in rest if "/" in w]
    if len(shas) != 1 or len(repos) > 1:
        raise BadCommand("give one commit SHA (7 to 40 hex digits) and at most one repository, e.g. /analyze d112f6a"
                         " sgl-project/sglang", "analyze")
    try:
        sha = parse_sha(shas[0])
    except BadInput as err:
        raise BadCommand(str(err), "analyze") from None
    return AnalyzeCommand(sha=sha, repo=_repo(repos[0], "analyze") if repos else None, lang=opts.get("lang"),
                          zone=_zone(opts, "analyze"))


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SUBSCRIBE_USAGE = ("name one repository: /digest subscribe owner/name [at HH:MM] [tz ZONE] [lang en|zh] [branch B] "
                    "[quiet skip|line|unless-watched] [skip-authors a,b] [min high|medium|all] [paths p/**,q/] "
                    "[weekly mon 09:00|off] [daily on|off]")


def _weekly(words: list[str]) -> tuple[str | None, list[str]]:
    """`weekly DAY HH:MM` or `weekly off` taken out of `words`."""
    lowered = [w.lower() for w in words]
    if "weekly" not in lowered:
        return None, words
    i = lowered.index("weekly")
    if i + 1 < len(words) and lowered[i + 1] == "off":
        return "off", words[:i] + words[i + 2:]
    if i + 2 >= len(words) or lowered[i + 1][:3] not in WEEKDAYS:
        raise BadCommand("weekly takes a day and a time, e.g. weekly mon 09:00, or off", "subscribe")
    at = parse_time(words[i + 2])
    return f"{lowered[i + 1][:3]} {at.strftime('%H:%M')}", words[:i] + words[i + 3:]


def _list_of(value: str | None, what: str, check: Callable[[str], str]) -> tuple[str, ...] | None:
    if value is None:
        return None
    if value.lower() in ("none", "off", "-"):
        return ()
    items = tuple(dict.fromkeys(check(v.strip(_QUOTES)) for v in value.strip(_QUOTES).split(",") if v.strip()))
    if not items or len(items) > 20:
        raise BadCommand(f"{what} takes 1 to 20 values separated by commas, or none", "subscribe")
    return items


def _author(value: str) -> str:
    value = value.strip()
    if len(value) > 100:
        raise BadCommand("an author is at most 100 characters", "subscribe")
    return value


def _path(value: str) -> str:
    try:
        return check_pattern("path", value)
    except BadInput as err:
        raise BadCommand(str(err), "subscribe") from None


def _subscribe(words: list[str]) -> Subscribe:
    weekly, words = _weekly(words)
    opts, rest = _options(words, ("at", "tz", "lang", "branch", "quiet", "skip-authors", "min", "paths", "daily"),
                          "subscribe")
    if len(rest) != 1:
        raise BadCommand(_SUBSCRIBE_USAGE, "subscribe")
    zone = _zone(opts, "subscribe")
    quiet = opts.get("quiet", "").lower() or None
    if quiet not in (None, "skip", "line", "unless-watched"):
        raise BadCommand(f"quiet is skip (post nothing on a day without commits), line (post one line) or "
                         f"unless-watched (post only when a watch matched or a breaking change landed), not "
                         f"{quiet[:40]!r}", "subscribe")
    branch = opts.get("branch")
    if branch is not None and (len(branch) > 200 or any(
            not b or b.startswith("-") or ".." in b or "@" in b for b in branch.split(","))):
        raise BadCommand(f"not a branch name: {branch[:60]!r}; name one or several separated by commas, "
                         f"e.g. main,release/*", "subscribe")
    level = opts.get("min", "").lower() or None
    if level not in (None, "high", "medium", "all"):
        raise BadCommand("min is high, medium or all: what the channel post lists (the rest stays in the thread)",
                         "subscribe")
    daily = opts.get("daily", "").lower() or None
    if daily not in (None, "on", "off"):
        raise BadCommand("daily is on or off", "subscribe")
    if daily == "off" and weekly in (None, "off"):
        raise BadCommand("daily off needs a weekly roll-up instead, e.g. weekly mon 09:00 daily off", "subscribe")
    return Subscribe(repo=_repo(rest[0], "subscribe"), at=parse_time(opts["at"]) if "at" in opts else None,
                     zone=zone, lang=opts.get("lang"), branch=branch, quiet=quiet,
                     skip_authors=_list_of(opts.get("skip-authors"), "skip-authors", _author),
                     min_level=level, paths=_list_of(opts.get("paths"), "paths", _path), weekly=weekly,
                     daily=None if daily is None else daily == "on")

def parse_mention(word: str) -> Mention:
    """A Slack user or user group, or a Feishu user, as the platform sent it; anything else is refused (a bare
    `@name` or `<!channel>` must not become a mention the bot repeats every day)."""
    for pattern, platform, kind in ((_SLACK_USER, "slack", "user"), (_SLACK_GROUP, "slack", "group"),
                                    (_FEISHU_USER, "feishu", "user")):
        if match := pattern.fullmatch(word):
            return Mention(platform, kind, match.group(1), (match.group(2) or "")[:80])  # type: ignore[arg-type]
    raise BadCommand("notify takes a person or a user group mentioned as you type it (@someone, @team), so that the "
                     "chat sends it as a mention", "watch")


def _watch(words: list[str]) -> WatchCommand:
    """`owner/name KIND PATTERN… [notify MENTION] [lang L]`: a keyword may be several words in quotes."""
    usage = ("/digest watch owner/name path|flag|keyword|author PATTERN [notify @someone], e.g. /digest watch "
             "sgl-project/sglang path python/sglang/srt/layers/attention/ notify @attention-team")
    opts, rest = _options(words, ("lang", "notify"), "watch")
    if len(rest) < 3 or rest[1].lower() not in WATCH_KINDS:
        raise BadCommand(usage, "watch")
    kind = rest[1].lower()
    pattern = " ".join(rest[2:]).strip(_QUOTES) if kind in ("keyword", "author") else " ".join(rest[2:])
    if kind in ("path", "flag") and len(rest) > 3:
        raise BadCommand(f"a {kind} watch takes one {kind}; {usage}", "watch")
    try:
        pattern = check_pattern(kind, pattern)
    except BadInput as err:
        raise BadCommand(str(err), "watch") from None
    mention = parse_mention(opts["notify"]) if "notify" in opts else None
    return WatchCommand(_repo(rest[0], "watch"), kind, pattern, mention, opts.get("lang"))
