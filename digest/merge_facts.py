"""What the listed merges bring in and change on their own: read from storage, else asked of the source (a few
at once, in worker threads that touch no database) and stored, since the commit graph never changes them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import sqlite_utils

from digest import merges
from digest.models import Commit, FileChange
from digest.sources import CommitSource
from storage import merges as stored

T = TypeVar("T")
Own = dict[str, tuple[FileChange, ...] | None]


def _each(source: CommitSource, work: Callable[[Commit], T], merges_: Sequence[Commit]) -> list[T]:
    if len(merges_) <= 1 or source.detail_workers <= 1:
        return [work(m) for m in merges_]
    with ThreadPoolExecutor(max_workers=source.detail_workers) as pool:
        return list(pool.map(work, merges_))


def prepare(db: sqlite_utils.Database, source: CommitSource, repo: str,
            listed: Sequence[Commit]) -> tuple[merges.MergePlan, Own]:
    """The plan of the listed merges, and the own changes of the grouped ones (None: could not be told)."""
    listed_merges = [c for c in listed if c.is_merge]
    if not listed_merges:
        return merges.MergePlan(), {}
    merged = stored.load_merged(db, repo, [m.sha for m in listed_merges])
    missing = [m for m in listed_merges if m.sha not in merged]
    for merge, brought in zip(missing, _each(source, lambda m: source.merged_commits(m, listed), missing)):
        stored.save_merged(db, repo, merge.sha, brought)
        merged[merge.sha] = brought
    plan = merges.plan(listed, merged)
    own: Own = {}
    unchecked = []
    for merge in listed_merges:
        if merge.sha in plan.grouped:
            checked, files = stored.load_own(db, repo, merge.sha)
            if checked:
                own[merge.sha] = files
            else:
                unchecked.append(merge)
    for merge, files in zip(unchecked, _each(source, source.own_changes, unchecked)):
        stored.save_own(db, repo, merge.sha, files)
        own[merge.sha] = files
    return plan, own
