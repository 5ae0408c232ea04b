"""What the listed merges bring in and change on their own: read from storage, else asked of the source (a few
at once, in worker threads that touch no database) and stored, since the commit graph never changes them.

When the source fails to tell (GitHub down for a comparison), the merge is analysed from its diff as before issue
8, nothing is stored, and the next build asks again: a digest is never lost to this refinement.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import sqlite_utils

from digest import merges
from core.errors import SourceError
from core.models import Commit, FileChange
from digest.sources import CommitSource
from storage import merges as stored

log = logging.getLogger(__name__)
T = TypeVar("T")
Own = dict[str, tuple[FileChange, ...] | None]


class _Failed:
    """The source could not tell (the error is logged): nothing is stored."""


def _each(source: CommitSource, work: Callable[[Commit], T], merges_: Sequence[Commit]) -> list[T | _Failed]:
    def attempt(merge: Commit) -> T | _Failed:
        try:
            return work(merge)
        except SourceError as err:
            log.warning("%s: cannot tell what merge %s brings in or changes, analysing its diff: %s",
                        merge.repo, merge.short_sha, err)
            return _Failed()

    if len(merges_) <= 1 or source.detail_workers <= 1:
        return [attempt(m) for m in merges_]
    with ThreadPoolExecutor(max_workers=source.detail_workers) as pool:
        return list(pool.map(attempt, merges_))


def prepare(db: sqlite_utils.Database, source: CommitSource, repo: str,
            listed: Sequence[Commit]) -> tuple[merges.MergePlan, Own]:
    """The plan of the listed merges, and the own changes of the grouped ones (None: could not be told)."""
    listed_merges = [c for c in listed if c.is_merge]
    if not listed_merges:
        return merges.MergePlan(), {}
    merged = stored.load_merged(db, repo, [m.sha for m in listed_merges])
    missing = [m for m in listed_merges if m.sha not in merged]
    for merge, brought in zip(missing, _each(source, lambda m: source.merged_commits(m, listed), missing)):
        if not isinstance(brought, _Failed):
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
        if isinstance(files, _Failed):
            own[merge.sha] = None
        else:
            stored.save_own(db, repo, merge.sha, files)
            own[merge.sha] = files
    return plan, own
