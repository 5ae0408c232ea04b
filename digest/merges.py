"""Merge commits told once (issue 8): pure functions from the listed commits, their parents and diffs.

- `plan`: which merges are *grouped* (every commit they bring in is in the digest, so the merge is told through
  them) and which commit sits under which merge.
- `own_changes`: what a merge changes beyond its parents (a conflict resolution): the lines of its result that
  differ from every parent, as the hunks of its first-parent diff that hold them. Empty for a clean merge, like
  `git diff-tree --cc`. Both sources call it, so a clone and GitHub give the same answer.
- `to_analyse`: the commits the analysers read: grouped merges only through their own changes, if any.
- `compose`: the digest's entries: grouped merges with their commits, breaking changes listed once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

from digest.labels import text
from core.models import IMPORTANCES, Analysis, Commit, Entry, FileChange

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_GITHUB_MERGE = re.compile(r"^Merge pull request #(\d+) from (?:[^/\s]+/)?(\S+)")
_GIT_MERGE = re.compile(r"^Merge (?:remote-tracking )?branch '(?:origin/)?([^']+)'")
_PR = re.compile(r"#(\d+)")
_CODE = re.compile(r"`([^`\n]+)`")
_HUNK_START = re.compile(r"^@@ ", re.M)
_EXTENSION = re.compile(r"\.\w{1,4}$")
MERGE_MODEL = "merge"  # `analysis.model` of a grouped merge's composed (not analysed) entry


# -- which merges are grouped ----------------------------------------------------------------------------

@dataclass(frozen=True)
class MergePlan:
    merged: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # merge SHA -> the SHAs it brings in
    grouped: frozenset[str] = frozenset()  # merges whose merged commits are all listed
    merged_into: Mapping[str, str] = field(default_factory=dict)  # commit SHA -> innermost grouped merge


def plan(listed: Sequence[Commit], merged: Mapping[str, tuple[str, ...]]) -> MergePlan:
    """`merged` gives, for each listed merge, the SHAs it brings in (from the source); they are put in listing
    order (newest first), so both sources give the same plan."""
    position = {c.sha: i for i, c in enumerate(listed)}
    merged = {m: tuple(sorted(brought, key=lambda s: position.get(s, len(position)))) for m, brought in merged.items()}
    grouped = frozenset(m for m, brought in merged.items() if brought and all(s in position for s in brought))
    into: dict[str, str] = {}
    for merge in sorted(grouped, key=lambda m: len(merged[m]), reverse=True):  # smaller (inner) merges win
        for sha in merged[merge]:
            into[sha] = merge
    return MergePlan(merged=merged, grouped=grouped, merged_into=into)


def merged_within(merge: Commit, listed: Sequence[Commit]) -> tuple[str, ...] | None:
    """The commits `merge` brings in, walking parents within `listed`; None when the walk leaves `listed`
    (the branch goes back further than the listing: the source must ask)."""
    by_sha = {c.sha: c for c in listed}
    first_side: set[str] = set()
    stack = [merge.parents[0]] if merge.parents else []
    while stack:
        sha = stack.pop()
        if sha in first_side or sha not in by_sha:
            continue
        first_side.add(sha)
        stack.extend(by_sha[sha].parents)
    brought: set[str] = set()
    stack = list(merge.parents[1:])
    while stack:
        sha = stack.pop()
        if sha in brought or sha in first_side:
            continue
        if sha not in by_sha:
            return None
        brought.add(sha)
        stack.extend(by_sha[sha].parents)
    return tuple(c.sha for c in listed if c.sha in brought)  # listed order: newest first


# -- what a merge changes beyond its parents ------------------------------------------------------------

@dataclass(frozen=True)
class _Lines:
    added: frozenset[int]  # line numbers in the merge's version
    deleted: frozenset[tuple[int, str]]  # (line number in the merge's version it precedes, the line)


def _lines(patch: str) -> _Lines:
    added: set[int] = set()
    deleted: set[tuple[int, str]] = set()
    new = 0
    for line in patch.split("\n"):
        if (m := _HUNK.match(line)):
            new = int(m.group(3))
        elif line.startswith("+"):
            added.add(new)
            new += 1
        elif line.startswith("-"):
            deleted.add((new, line[1:]))
        elif line.startswith(" "):
            new += 1
    return _Lines(frozenset(added), frozenset(deleted))


def _hunks(patch: str) -> list[tuple[str, _Lines]]:
    starts = [m.start() for m in _HUNK_START.finditer(patch)]
    return [(chunk.rstrip("\n"), _lines(chunk))
            for chunk in (patch[a:b] for a, b in zip(starts, starts[1:] + [len(patch)]))]


def own_changes(first: Sequence[FileChange], others: Sequence[Sequence[FileChange]]) -> tuple[FileChange, ...]:
    """The files of the first-parent diff `first` that differ from every parent, with only the hunks that
    differ: a line is the merge's own when it is added (or removed) against every parent. `others` are the
    merge's diffs against its other parents. A file without a patch (binary, too large) that differs from
    every parent counts as its own, whole."""
    against = [{f.path: f for f in diff} for diff in others]
    own: list[FileChange] = []
    for f in first:
        seen = [diff.get(f.path) for diff in against]
        if any(other is None for other in seen):
            continue  # the merge took this file from a parent as it is
        if f.patch is None or any(other.patch is None for other in seen if other is not None):
            own.append(f)
            continue
        sides = [_lines(other.patch) for other in seen if other is not None and other.patch is not None]
        added = set.intersection(*(set(s.added) for s in sides)) if sides else set()
        deleted = set.intersection(*(set(s.deleted) for s in sides)) if sides else set()
        kept = [(chunk, lines) for chunk, lines in _hunks(f.patch)
                if lines.added & added or lines.deleted & deleted]
        if kept:
            own.append(replace(f, patch="\n".join(chunk for chunk, _ in kept),
                               additions=sum(len(lines.added) for _, lines in kept),
                               deletions=sum(len(lines.deleted) for _, lines in kept)))
    return tuple(own)


def own_view(merge: Commit, own: tuple[FileChange, ...]) -> Commit:
    """The merge as the analysers see it when only its own changes are to be told."""
    return replace(merge, files=own, files_total=len(own), additions=sum(f.additions for f in own),
                   deletions=sum(f.deletions for f in own), own_changes_only=True)


def view_version(version: str, commit: Commit) -> str:
    """The stored analysis' version: an analysis of a merge's own changes is kept apart from one of its diff."""
    return f"{version}+own" if commit.own_changes_only else version


def to_analyse(commits: Iterable[Commit], grouped: frozenset[str],
               own: Mapping[str, tuple[FileChange, ...] | None]) -> Iterator[Commit]:
    """The commits the analysers read, in order: a grouped merge only through its own changes (none: skipped;
    unknown, None: its whole diff, as for any other merge)."""
    for commit in commits:
        if commit.sha in grouped:
            found = own.get(commit.sha)
            if found is not None:
                if not found:
                    continue
                commit = own_view(commit, found)
        yield commit


def analysed_count(listed: Sequence[Commit], grouped: frozenset[str],
                   own: Mapping[str, tuple[FileChange, ...] | None]) -> int:
    return sum(1 for c in listed if c.sha not in grouped or own.get(c.sha) is None or own[c.sha])


def told_through(entries: Sequence[Entry], sha: str) -> tuple[Entry, tuple[Entry, ...]] | None:
    """The grouped merge `sha` of a digest's entries and the entries of the commits it brings in (those of merges
    inside it too), in the digest's order; None when the digest does not group it."""
    merge = next((e for e in entries if e.commit.sha == sha), None)
    if merge is None or not merge.grouped:
        return None
    brought = set(merge.merged)
    return merge, tuple(e for e in entries if e.commit.sha in brought)


# -- how a merge is named --------------------------------------------------------------------------------

def merge_name(commit: Commit) -> tuple[int | None, str | None]:
    """(pull request number, branch) from a merge's title, where git or GitHub wrote them."""
    if (m := _GITHUB_MERGE.match(commit.title)):
        return int(m.group(1)), m.group(2)
    if (m := _GIT_MERGE.match(commit.title)):
        pr = _PR.search(commit.title)
        return (int(pr.group(1)) if pr else None), m.group(1)
    return commit.pr_number, None


def merge_ref(commit: Commit) -> str:
    """How a merge is referred to in one word: `#643`, else its branch, else its short SHA."""
    number, branch = merge_name(commit)
    return f"#{number}" if number else branch or commit.short_sha


def merge_full_name(commit: Commit) -> str:
    """`#643 (dataflow-up-32-engine-collapse)`, `fix` or `5d786a1`."""
    number, branch = merge_name(commit)
    return merge_ref(commit) + (f" ({branch})" if branch and number else "")


def merge_label(commit: Commit, count: int, lang: str) -> str:
    """`Merge #643 (dataflow-up-32-engine-collapse): 5 commits`: the one name of a grouped merge everywhere."""
    return text(lang, "merge_label_one" if count == 1 else "merge_label", name=merge_full_name(commit), n=count)


# -- the entries -----------------------------------------------------------------------------------------

def _highest(analyses: Iterable[Analysis]) -> Analysis | None:
    return min(analyses, key=lambda a: IMPORTANCES.index(a.importance), default=None)


def _importance_reason(n: int, lang: str) -> str:
    return text(lang, "merge_importance_one" if n == 1 else "merge_importance", n=n)


def _composed(merge: Commit, members: list[Entry], lang: str) -> Analysis:
    top = _highest(e.analysis for e in members)
    level = top.importance if top else "low"
    label = merge_label(merge, len(members), lang)
    return Analysis(change_type=top.change_type if top else "chore", importance=level,
                    importance_reason=_importance_reason(len(members), lang), summary=label,
                    source="rules", model=MERGE_MODEL, lang=lang)  # type: ignore[arg-type]


def _keys(change: str) -> frozenset[str]:
    """What names a breaking change: its `identifiers` (not paths), else its words."""
    names = {c.strip().strip("()").lower() for c in _CODE.findall(change)}
    names = {n for n in names if n and "/" not in n and not _EXTENSION.search(n)}
    return frozenset(names) if names else frozenset({" ".join(change.lower().split())})


def compose(commits: Sequence[Commit], briefs: Mapping[str, Analysis], deeps: Mapping[str, Analysis],
            merge_plan: MergePlan, own: Mapping[str, tuple[FileChange, ...] | None], lang: str) -> tuple[Entry, ...]:
    """The digest's entries in listing order: analyses attached, grouped merges composed from their commits
    (importance the highest of theirs and of their own changes), and each breaking change listed once."""
    plain: dict[str, Entry] = {}
    for c in commits:
        merged = merge_plan.merged.get(c.sha, ())
        if c.sha in briefs:
            grouped = c.sha in merge_plan.grouped
            plain[c.sha] = Entry(c, briefs[c.sha], deeps.get(c.sha), merged=merged, grouped=grouped,
                                 merged_into=merge_plan.merged_into.get(c.sha), own_only=grouped and bool(own.get(c.sha)))
    entries: dict[str, Entry] = {}
    # inner merges first, so an outer merge's importance sees theirs
    order = sorted(commits, key=lambda c: len(merge_plan.merged[c.sha]) if c.sha in merge_plan.grouped else -1)
    for c in order:
        if c.sha not in merge_plan.grouped:
            entries[c.sha] = plain[c.sha]
            continue
        members = [entries.get(s) or plain[s] for s in merge_plan.merged[c.sha] if (entries.get(s) or plain.get(s))]
        into = merge_plan.merged_into.get(c.sha)
        if c.sha in plain:  # analysed through its own changes: raise its importance to its commits' highest
            own = plain[c.sha]
            top = _highest([own.analysis, *(e.analysis for e in members)])
            if top is not None and top is not own.analysis and top.importance != own.analysis.importance:
                reason = _importance_reason(len(members), lang)
                own = replace(own, analysis=own.analysis.model_copy(update={"importance": top.importance,
                                                                            "importance_reason": reason}))
            entries[c.sha] = own
        else:
            entries[c.sha] = Entry(c, _composed(c, members, lang), merged=merge_plan.merged[c.sha], grouped=True,
                                   analysed=False, merged_into=into)
    return _breaking_once(tuple(entries[c.sha] for c in commits), merge_plan)


def _breaking_once(entries: tuple[Entry, ...], merge_plan: MergePlan) -> tuple[Entry, ...]:
    """A merge's breaking change that one of the commits it carries already lists is referred to, not repeated."""
    by_sha = {e.commit.sha: e for e in entries}
    out = []
    for e in entries:
        carried = [by_sha[s] for s in e.merged if s in by_sha and by_sha[s].analysed and not by_sha[s].commit.is_merge]
        if not carried or not e.best.breaking_changes:
            out.append(e)
            continue
        repeats, told = [], []
        for change in e.best.breaking_changes:
            keys = _keys(change)
            source = next((c for c in carried if any(keys & _keys(b) for b in c.best.breaking_changes)), None)
            if source is not None:
                repeats.append(change)
                told.append(source.commit.sha)
        out.append(replace(e, repeats=tuple(repeats), breaking_told_in=tuple(dict.fromkeys(told))))
    return tuple(out)
