"""Data that crosses modules: commits (frozen dataclasses) and the one analysis schema (pydantic)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from core.errors import BadRepo
from core.watches import Watch
from core.window import Window

ChangeType = Literal["feature", "fix", "perf", "refactor", "docs", "test", "ci", "build", "chore", "revert", "security"]
CHANGE_TYPES: tuple[str, ...] = ChangeType.__args__  # type: ignore[attr-defined]
Importance = Literal["high", "medium", "low"]
IMPORTANCES: tuple[str, ...] = ("high", "medium", "low")
Depth = Literal["brief", "deep"]
Lang = Literal["en", "zh"]

_OWNER = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})")
_NAME = re.compile(r"[A-Za-z0-9._-]{1,100}")
_PR_REF = re.compile(r"\(#(\d+)\)\s*$")


def parse_repo_name(text: str) -> str:
    """`owner/name` as GitHub allows it; anything else (`a/b/c`, `../x`, `a b`) is a BadRepo."""
    value = text.strip()
    parts = value.split("/")
    shown = value if len(value) <= 60 else value[:60] + "…"
    if (len(parts) != 2 or not _OWNER.fullmatch(parts[0]) or not _NAME.fullmatch(parts[1])
            or parts[1] in (".", "..") or ".." in value):
        raise BadRepo(f"not a repository name: {shown!r}; use owner/name, e.g. sgl-project/sglang")
    if parts[1].endswith(".git"):
        parts[1] = parts[1][: -len(".git")]
    return "/".join(parts)


@dataclass(frozen=True)
class RepoRef:
    """Where a repository's commits come from: GitHub by name, or a local clone (fetched first when `fetch`)."""

    name: str  # owner/name, or local/<dir> for a clone with no known upstream
    clone: Path | None = None
    fetch: bool = False
    web_url: str | None = None  # https://github.com/owner/name, for commit and PR links


@dataclass(frozen=True)
class FileChange:
    path: str
    status: str  # added | removed | modified | renamed | copied | changed
    additions: int
    deletions: int
    patch: str | None  # None: binary, too large, or the object is missing (see `note`)
    previous_path: str | None = None
    binary: bool = False
    note: str | None = None  # why there is no patch


@dataclass(frozen=True)
class Commit:
    repo: str
    sha: str
    title: str
    message: str
    author: str
    committed_at: datetime  # aware, UTC
    parents: tuple[str, ...] = ()
    url: str | None = None
    authored_at: datetime | None = None
    additions: int = 0
    deletions: int = 0
    files: tuple[FileChange, ...] = ()
    files_total: int | None = None  # None: details not loaded yet; may exceed len(files) (GitHub lists <= 3000)
    # A merge seen through its own changes only (what differs from every parent: a conflict resolution), as
    # handed to the analysers; never stored as the commit (see digest/merges.py).
    own_changes_only: bool = False

    @property
    def is_merge(self) -> bool:
        return len(self.parents) > 1

    @property
    def short_sha(self) -> str:
        return self.sha[:7]

    @property
    def pr_number(self) -> int | None:
        match = _PR_REF.search(self.title)
        return int(match.group(1)) if match else None

    @property
    def bare_title(self) -> str:
        """The title without the "(#123)" it ends with, for where the pull request is linked beside it."""
        return _PR_REF.sub("", self.title).rstrip() or self.title

    @property
    def detailed(self) -> bool:
        return self.files_total is not None


class Risk(BaseModel):
    model_config = ConfigDict(frozen=True)
    point: str = Field(max_length=300)
    description: str = Field(max_length=2000)
    consequence: str = Field(max_length=1000)
    mitigation: str = Field(max_length=1000)


class Insights(BaseModel):
    model_config = ConfigDict(frozen=True)
    architecture: str = Field(default="", max_length=3000)
    performance: str = Field(default="", max_length=3000)
    security: str = Field(default="", max_length=3000)
    maintainability: str = Field(default="", max_length=3000)


class Grounding(BaseModel):
    """How many of the analysis' citations (paths, `identifiers`) were found in the diff it read."""

    model_config = ConfigDict(frozen=True)
    cited: int = 0
    verified: int = 0
    unverified: list[str] = Field(default_factory=list)


class SkippedFile(BaseModel):
    model_config = ConfigDict(frozen=True)
    path: str
    reason: str  # budget | generated | binary | unavailable | clipped | summarised


class DiffCoverage(BaseModel):
    """How much of a large diff the analysis read in full, and how the rest was covered."""

    model_config = ConfigDict(frozen=True)
    files: int = 0  # files in the commit
    read: int = 0  # read in full by the analysing call
    condensed: int = 0  # deletions-only or pure renames, read as one line each
    summarised: int = 0  # covered by summaries (map calls) or listed as generated
    generated: int = 0  # of the summarised: generated, vendored or lockfiles (listed, no call)
    calls: int = 1  # LLM calls this analysis made: map calls plus the combining call


class Analysis(BaseModel):
    """One schema for every renderer and both analysers."""

    model_config = ConfigDict(frozen=True)
    change_type: ChangeType
    importance: Importance
    importance_reason: str = Field(max_length=600)
    summary: str = Field(max_length=4000)
    impact_scope: list[str] = Field(default_factory=list, max_length=30)
    breaking_changes: list[str] = Field(default_factory=list, max_length=30)
    insights: Insights | None = None
    risks: list[Risk] = Field(default_factory=list, max_length=15)
    suggestions: list[str] = Field(default_factory=list, max_length=15)
    depth: Depth = "brief"
    source: Literal["llm", "rules"] = "rules"
    model: str = "rules"
    lang: Lang = "en"
    tokens_in: int = 0
    tokens_out: int = 0
    read_files: list[str] = Field(default_factory=list)
    skipped_files: list[SkippedFile] = Field(default_factory=list)
    grounding: Grounding | None = None
    redacted: dict[str, int] = Field(default_factory=dict)  # secrets kept out of the prompt: kind -> count
    diff_coverage: DiffCoverage | None = None  # set when the diff had to be condensed or summarised
    note: str = ""  # e.g. why an LLM analysis fell back to rules
    attempts: int = 1  # LLM calls it took: more than 1 when it replaced a rules stand-in after a retry


@dataclass(frozen=True)
class Entry:
    """One commit of a digest, as every renderer shows it.

    Merges (issue 8) are told once:
    - `merged`: for a merge, the SHAs it brings in (reachable from its other parents, not from its first),
      newest first; () for other commits.
    - `grouped`: a merge whose merged commits are all in this digest. It is shown as "Merge #643 (branch):
      5 commits" with its commits under it (or linked to); its importance is the highest of its commits.
    - `analysed`: False for a grouped merge with no changes of its own: nothing was analysed and `analysis` is
      composed from its commits (importance the highest of theirs, summary the merge's label; it has no
      breaking changes and counts in no coverage). A grouped merge with own changes (a conflict resolution) is
      analysed from those only (`own_only`). A merge that is not grouped, or whose own changes could not be
      told, is analysed from its diff against its first parent.
    - `merged_into`: for a commit listed under a grouped merge of this digest, that merge's SHA (the innermost).
    - `breaking_changes`: the breaking changes shown under this entry; those its analysis repeats from a commit
      it carries are left out and `breaking_told_in` names where they are listed.
    """

    commit: Commit
    analysis: Analysis  # brief (or deep when that is all there is)
    deep: Analysis | None = None
    merged: tuple[str, ...] = ()
    grouped: bool = False
    analysed: bool = True
    merged_into: str | None = None
    own_only: bool = False  # the analysis covers only what the merge changes beyond its parents
    repeats: tuple[str, ...] = ()  # breaking changes of `best` told under another entry (in `breaking_told_in`)
    breaking_told_in: tuple[str, ...] = ()

    @property
    def best(self) -> Analysis:
        return self.deep or self.analysis

    @property
    def importance(self) -> str:
        return self.analysis.importance

    @property
    def breaking_changes(self) -> list[str]:
        return [b for b in self.best.breaking_changes if b not in self.repeats]


@dataclass(frozen=True)
class Stats:
    total: int
    high: int
    medium: int
    low: int
    breaking: int  # distinct breaking changes: each counted once, under the commit that made it
    merges: int
    grouped: int = 0  # merges told through their commits (all in the digest)

    @classmethod
    def of(cls, entries: tuple[Entry, ...] | list[Entry]) -> "Stats":
        count = {level: sum(1 for e in entries if e.analysis.importance == level) for level in IMPORTANCES}
        return cls(
            total=len(entries),
            high=count["high"],
            medium=count["medium"],
            low=count["low"],
            breaking=sum(len(e.breaking_changes) for e in entries),
            merges=sum(1 for e in entries if e.commit.is_merge),
            grouped=sum(1 for e in entries if e.grouped),
        )


@dataclass(frozen=True)
class Coverage:
    """Who analysed the day's commits, counted in commits: the LLM, or the offline rules (by choice or as a fallback).

    A commit counts for the LLM only when every analysis it shows (brief, and deep if any) came from the LLM.
    """

    commits: int = 0
    llm: int = 0
    rules: int = 0
    fallbacks: int = 0  # commits showing a rules analysis that stands in for a failed LLM call, queued for a retry
    retried: int = 0  # commits analysed by the LLM after a retry (they showed the rules first)
    tokens_in: int = 0  # of the analyses shown: what this digest cost
    tokens_out: int = 0
    models: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()

    @classmethod
    def of(cls, entries: tuple[Entry, ...]) -> "Coverage":
        entries = tuple(e for e in entries if e.analysed)  # a merge told through its commits is no analysis

        def shown(e: Entry) -> list[Analysis]:
            return [e.analysis] + ([e.deep] if e.deep else [])

        by_llm = [e for e in entries if all(a.source == "llm" for a in shown(e))]
        fallbacks = [a for e in entries for a in shown(e) if a.source == "rules" and a.note]
        fallback_commits = sum(1 for e in entries if any(a.source == "rules" and a.note for a in shown(e)))
        return cls(
            commits=len(entries),
            llm=len(by_llm),
            rules=len(entries) - len(by_llm),
            fallbacks=fallback_commits,
            retried=sum(1 for e in by_llm if any(a.attempts > 1 for a in shown(e))),
            tokens_in=sum(a.tokens_in for e in entries for a in shown(e)),
            tokens_out=sum(a.tokens_out for e in entries for a in shown(e)),
            models=tuple(dict.fromkeys(a.model for e in by_llm for a in shown(e))),
            reasons=tuple(dict.fromkeys(a.note for a in fallbacks)),
        )


@dataclass(frozen=True)
class Relevance:
    """What one subscription wants told first (issue 14): its watches, and the least importance its channel post
    lists (None: high commits, breaking changes of any importance)."""

    watches: tuple[Watch, ...] = ()
    min_level: str | None = None  # high | medium | all


@dataclass(frozen=True)
class Narrowing:
    """What a subscription's filters did to a day: `kept` of `total` commits (merges told through their commits
    not counted), by which filters (`paths`, `skip-authors`)."""

    total: int
    kept: int
    by: tuple[str, ...]
    paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class Digest:
    repo: str
    window: Window
    lang: str
    branch: str
    entries: tuple[Entry, ...]
    built_at: datetime
    web_url: str | None = None
    notes: tuple[str, ...] = ()
    narrowed: "Narrowing | None" = None  # the subscription's filters left out some commits (issue 14)
    relevance: Relevance | None = None  # the subscription's watches and `min`, for its own post
    rules_why: str = ""  # no LLM was asked: "none" configured, or "off" (--no-llm); "" when read back from storage

    @property
    def day(self) -> date:
        return self.window.day

    @property
    def stats(self) -> Stats:
        return Stats.of(self.entries)

    @property
    def shown_as(self) -> tuple[str, str, str]:
        """(zone, lang, branch): the settings a post of it is claimed and retried with."""
        return self.window.zone, self.lang, self.branch

    @property
    def empty(self) -> bool:
        return not self.entries

    @property
    def coverage(self) -> Coverage:
        return Coverage.of(self.entries)


@dataclass(frozen=True)
class CommitReport:
    """`analyze <sha>`: one commit and its deep analysis. A merge told through its commits (issue 8) is answered
    with them instead: `entry` is the merge as its digest told it, `merged` the entries of the commits it brings in
    (with their analyses, deep ones where made), and `analysis` the merge's composed one."""

    commit: Commit
    analysis: Analysis
    web_url: str | None = None
    notes: tuple[str, ...] = ()  # e.g. a failed `git fetch`: the clone was read as it is
    entry: Entry | None = None
    merged: tuple[Entry, ...] = ()
    zone: str = "UTC"  # the zone its times are shown in (`/analyze … tz ZONE`, else the channel's)


@dataclass(frozen=True)
class Progress:
    """Reported while a digest is being built; `done` of `total` analyses of this `phase` are finished."""

    phase: Literal["fetch", "brief", "deep"]
    done: int
    total: int
    sha: str | None = None
