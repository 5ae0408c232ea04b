"""Which commits touch a team's watches, and why: deterministic, explained, no LLM call (issue 14).

- path: a directory (`python/sglang/srt/layers/attention/`), a file, or a glob (`**.tsx`, `srt/*/attention/**`)
  against each changed file, both sides of a rename. A glob without `/` matches a file name at any depth.
- flag: a command-line flag (`--enable-*`) on an added or removed line of the diff; `_` and `-` are the same.
- keyword: a word or phrase in the title, the message or the analysis, case-insensitive, at word boundaries.
- author: the commit's author, case-insensitive.

Every match here is linear in the text it reads: globs run as bit-set automata (`Glob`), flags are found by one
linear token pattern, keywords by `str.find`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from core.errors import BadInput
from core.models import Analysis, Commit, Entry, FileChange
from core.watches import Mention, Watch

MAX_PATTERN = 200  # characters of a watch's pattern
MAX_PATH = 4096  # characters of a path read (as digest.analysis.paths)
MAX_LINE = 4096  # characters of a diff line searched for flags: a flag sits near the start of a real line
_FLAG = re.compile(r"(?<![\w-])--[A-Za-z0-9][\w-]{0,80}")
_FLAG_PATTERN = re.compile(r"--[A-Za-z0-9*?][\w*?-]*")  # what a flag watch may name
_WORD = re.compile(r"[A-Za-z0-9_]")  # boundaries between Latin words only: CJK text has no spaces to match at
MAX_TEXT = 64 * 1024  # characters of a message or an analysis a keyword is looked for in


@dataclass(frozen=True)
class Reason:
    """What made a commit match a watch, for the view to say in the reader's language: the path, the flag (and
    `where`: added | removed, `file`), the keyword (`where`: title | message | analysis), the author."""

    kind: str
    value: str
    where: str = ""
    file: str = ""

    def __str__(self) -> str:  # English, for logs and tests
        if self.kind == "flag":
            return f"{self.value} ({self.where} in {self.file})"
        if self.kind == "keyword":
            return f"“{self.value}” in the {self.where}"
        return self.value


@dataclass(frozen=True)
class Hit:
    """One commit that touches one watch, and the first thing that made it match."""

    watch: Watch
    sha: str
    why: Reason


@dataclass(frozen=True)
class Touch:
    """A commit that touches one or more watches: each watch's reason, in watch order."""

    entry: Entry
    hits: tuple[Hit, ...]

    @property
    def breaking(self) -> bool:
        return bool(self.entry.breaking_changes)


def touches(watches: Iterable[Watch], entries: Iterable[Entry]) -> tuple[tuple[Touch, ...], tuple[Mention, ...]]:
    """The commits that touch a watch (breaking changes first, then in digest order) and the mentions their
    watches carry, each once, in watch order: what "Touches your watches" says and whom it notifies."""
    entries = tuple(entries)
    found = hits(watches, entries)
    by_sha: dict[str, list[Hit]] = {}
    for h in found:
        by_sha.setdefault(h.sha, []).append(h)
    listed = [Touch(e, tuple(by_sha[e.commit.sha])) for e in entries if e.commit.sha in by_sha]
    listed.sort(key=lambda t: not t.breaking)  # stable: digest order within each
    mentions = tuple(dict.fromkeys(h.watch.mention for h in sorted(found, key=lambda h: h.watch.number)
                                   if h.watch.mention is not None))
    return tuple(listed), mentions


def check_pattern(kind: str, pattern: str) -> str:
    """The pattern as stored, or BadInput with what is wrong (too long, empty, a flag without `--`)."""
    value = " ".join(pattern.split())
    if not value:
        raise BadInput(f"a {kind} watch needs something to watch")
    if len(value) > MAX_PATTERN:
        raise BadInput(f"a watch's pattern is at most {MAX_PATTERN} characters")
    if kind == "flag" and not _FLAG_PATTERN.fullmatch(value):
        raise BadInput(f"a flag starts with `--` and a letter, like `--enable-*`; got `{value[:40]}`")
    if not any(ch.isalnum() for ch in value):
        raise BadInput(f"a {kind} watch needs letters or digits to match")
    if kind == "path":
        value = value.lstrip("/")
        if not value or any(part == ".." for part in value.split("/")):
            raise BadInput("a path is relative to the repository's root, like `python/sglang/srt/`")
    return value


class Glob:
    """A glob matched in linear time (an NFA run as bit sets, one step per character): `**` any characters,
    `*` any but `/`, `?` one but `/`. A regex of `[^/]*a[^/]*a…` backtracks for minutes on a 4 KB path."""

    def __init__(self, pattern: str) -> None:
        self.literal: dict[str, int] = {}
        self.any_one = self.star = self.star_star = 0
        i = n = 0
        while i < len(pattern):
            bit = 1 << n
            if pattern.startswith("**", i):
                self.star_star |= bit
                while pattern.startswith("*", i):  # `***` is `**`
                    i += 1
            else:
                ch = pattern[i]
                if ch == "*":
                    self.star |= bit
                elif ch == "?":
                    self.any_one |= bit
                else:
                    self.literal[ch] = self.literal.get(ch, 0) | bit
                i += 1
            n += 1
        self.accept = 1 << n

    def _closure(self, states: int) -> int:
        stars = self.star | self.star_star
        while (more := states | ((states & stars) << 1)) != states:  # a star may match nothing
            states = more
        return states

    def fullmatch(self, value: str) -> bool:
        states = self._closure(1)
        for ch in value:
            slash = ch == "/"
            advance = self.literal.get(ch, 0) | (0 if slash else self.any_one)
            stay = self.star_star | (0 if slash else self.star)
            states = self._closure(((states & advance) << 1) | (states & stay))
            if not states:
                return False
        return bool(states & self.accept)


def path_matcher(pattern: str) -> Callable[[str], bool]:
    """Whether a path matches a path watch: a glob, or with none a file or a directory (`srt/` or `srt`)."""
    base = pattern.rstrip("/")
    if any(ch in pattern for ch in "*?"):
        globs = [Glob(base)]
    else:  # the file or directory itself, or anything under it
        globs = ([] if pattern.endswith("/") else [Glob(base)]) + [Glob(base + "/**")]
    by_name = "/" not in base  # `*.tsx`, `Makefile`: a file name at any depth

    def matches(path: str) -> bool:
        path = path[:MAX_PATH]
        name = path.rsplit("/", 1)[-1]
        return any(g.fullmatch(path) or (by_name and g.fullmatch(name)) for g in globs)
    return matches


def _changed_lines(f: FileChange) -> Iterator[tuple[str, str]]:
    """(`+` or `-`, line) for each added or removed line of a file's patch (patches start at their first hunk:
    GitHub's and ours have no `---`/`+++` header, so `---enable-x` is a removed `--enable-x`)."""
    for line in (f.patch or "").split("\n"):
        if line[:1] in ("+", "-"):
            yield line[0], line[1:MAX_LINE]


def _flag_key(flag: str) -> str:
    return flag.replace("_", "-").lower()


def _find_flag(pattern: str, commit: Commit) -> Reason | None:
    wanted = Glob(_flag_key(pattern))
    for f in commit.files:
        for sign, line in _changed_lines(f):
            for token in _FLAG.findall(line):
                if wanted.fullmatch(_flag_key(token)):
                    return Reason("flag", token, "added" if sign == "+" else "removed", f.path)
    return None


def _has_phrase(haystack: str, phrase: str) -> bool:
    """`phrase` in `haystack` (both casefolded) at word boundaries where the phrase starts or ends with a word
    character: `break` does not match `breakfast`, `break` in `break;` does."""
    start = 0
    while (i := haystack.find(phrase, start)) != -1:
        end = i + len(phrase)
        left_ok = i == 0 or not (_WORD.match(phrase[0]) and _WORD.match(haystack[i - 1]))
        right_ok = end == len(haystack) or not (_WORD.match(phrase[-1]) and _WORD.match(haystack[end]))
        if left_ok and right_ok:
            return True
        start = i + 1
    return False


def _analysis_texts(a: Analysis | None) -> Iterable[str]:
    if a is None:
        return ()
    return [a.summary, a.importance_reason, *a.impact_scope, *a.breaking_changes, *a.suggestions,
            *(r.point for r in a.risks), *(r.description for r in a.risks)]


def _find_keyword(keyword: str, entry: Entry) -> Reason | None:
    phrase = keyword.casefold()
    c = entry.commit
    for where, value in (("title", c.title), ("message", c.message)):
        if _has_phrase(value[:MAX_TEXT].casefold(), phrase):
            return Reason("keyword", keyword, where)
    if any(_has_phrase(v[:MAX_TEXT].casefold(), phrase) for a in (entry.analysis, entry.deep)
           for v in _analysis_texts(a)):
        return Reason("keyword", keyword, "analysis")
    return None


def why(watch: Watch, entry: Entry) -> Reason | None:
    """Why `entry` touches `watch`, or None."""
    c = entry.commit
    if watch.kind == "path":
        matches = path_matcher(watch.pattern)
        for f in c.files:
            for side in (f.path, f.previous_path):
                if side and matches(side):
                    return Reason("path", side)
        return None
    if watch.kind == "flag":
        return _find_flag(watch.pattern, c)
    if watch.kind == "keyword":
        return _find_keyword(watch.pattern, entry)
    if watch.kind == "author":
        return Reason("author", c.author) if c.author.casefold() == watch.pattern.casefold() else None
    return None


def hits(watches: Iterable[Watch], entries: Iterable[Entry]) -> list[Hit]:
    """Every (commit, watch) that matches, in digest order, each watch's first reason; a grouped merge with
    nothing of its own never matches by itself (its commits do)."""
    watches = tuple(watches)
    out = []
    for e in entries:
        if e.grouped and not e.analysed:
            continue
        for w in watches:
            if (reason := why(w, e)) is not None:
                out.append(Hit(w, e.commit.sha, reason))
    return out
