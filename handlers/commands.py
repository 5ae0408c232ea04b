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
from dataclasses import dataclass
from datetime import time

from core.errors import BadInput
from core.models import parse_repo_name
from digest.service import parse_sha
from core.window import parse_zone

_DAY_WORDS = ("today", "yesterday", "latest")
_DAYISH = re.compile(r"\d{2,4}-\d{1,2}-\d{1,2}|\d{8}")
_HHMM = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
_DATE_LIKE = re.compile(r"[\d-]+|\d{4}[/.]\d{1,2}[/.]\d{1,2}")
MAX_TEXT = 500  # a command longer than this is not a command


class BadCommand(BadInput):
    """The command text cannot be understood; `topic` says which usage to show."""

    def __init__(self, message: str, topic: str = "digest") -> None:
        super().__init__(message)
        self.topic = topic


@dataclass(frozen=True)
class DigestCommand:
    day: str | None = None  # YYYY-MM-DD | today | yesterday | latest; None: yesterday in the subscription's zone
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
    quiet: str | None = None  # skip | line


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


Command = DigestCommand | AnalyzeCommand | Subscribe | Unsubscribe | ListSubscriptions | Status | Help
CHANGES_SUBSCRIPTIONS = (Subscribe, Unsubscribe)


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
    words = text.split()
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


def _digest(words: list[str]) -> Command:
    opts, rest = _options(words, ("lang", "tz"), "digest")
    day: str | None = None
    repo: str | None = None
    for word in rest:
        lower = word.lower()
        if lower in _DAY_WORDS or _DAYISH.fullmatch(word):
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


def _subscribe(words: list[str]) -> Subscribe:
    opts, rest = _options(words, ("at", "tz", "lang", "branch", "quiet"), "subscribe")
    if len(rest) != 1:
        raise BadCommand("name one repository: /digest subscribe owner/name [at HH:MM] [tz ZONE] [lang en|zh]"
                         " [branch B] [quiet skip|line]", "subscribe")
    zone = _zone(opts, "subscribe")
    quiet = opts.get("quiet", "").lower() or None
    if quiet not in (None, "skip", "line"):
        raise BadCommand(f"quiet is skip (post nothing on a day without commits) or line (post one line), not "
                         f"{quiet!r}", "subscribe")
    branch = opts.get("branch")
    if branch is not None and (branch.startswith("-") or ".." in branch or len(branch) > 200):
        raise BadCommand(f"not a branch name: {branch[:60]!r}", "subscribe")
    return Subscribe(repo=_repo(rest[0], "subscribe"), at=parse_time(opts["at"]) if "at" in opts else None,
                     zone=zone, lang=opts.get("lang"), branch=branch, quiet=quiet)
