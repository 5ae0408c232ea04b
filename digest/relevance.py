"""A subscription's filters applied to a day's digest (issue 14): pure, no LLM call, nothing re-analysed.

- `skip_authors`: commits by these authors (case-insensitive) are left out; bots such as dependabot[bot].
- `paths`: only commits touching one of these paths (directories, files or globs, as watches read them) are kept.

A grouped merge stays while one of the commits it brings in stays (it is told through them) and goes with them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import sqlite_utils

from core.models import Digest, Entry, Narrowing
from digest.watches import path_matcher, touches
from storage.commits import load_commit


def _touches(entry: Entry, matchers: list[Callable[[str], bool]]) -> bool:
    return any(m(side) for f in entry.commit.files for side in (f.path, f.previous_path) if side for m in matchers)


def narrow(digest: Digest, *, skip_authors: tuple[str, ...] = (), paths: tuple[str, ...] = ()) -> Digest:
    """The digest of the commits the subscription wants; `narrowed` says how many of how many, and why."""
    if not skip_authors and not paths:
        return digest
    skipped = {a.casefold() for a in skip_authors}
    matchers = [path_matcher(p) for p in paths]

    def wanted(e: Entry) -> bool:
        if e.commit.author.casefold() in skipped:
            return False
        return not matchers or _touches(e, matchers)

    own = [e for e in digest.entries if not (e.grouped and not e.analysed)]
    kept_shas = {e.commit.sha for e in own if wanted(e)}
    kept = tuple(e for e in digest.entries
                 if e.commit.sha in kept_shas or (e.grouped and not e.analysed and kept_shas & set(e.merged)))
    by = tuple(name for name, on in (("paths", bool(paths)), ("skip-authors", bool(skip_authors))) if on)
    return replace(digest, entries=kept, narrowed=Narrowing(total=len(own), kept=len(kept_shas), by=by, paths=paths))


def with_patches(db: sqlite_utils.Database, digest: Digest) -> Digest:
    """The digest's commits with their diffs read back from storage (watches on flags read them); a commit whose
    diffs the retention job dropped keeps its files without them (its flags cannot match)."""
    entries = []
    for e in digest.entries:
        stored = load_commit(db, e.commit.repo, e.commit.sha)
        entries.append(replace(e, commit=stored) if stored is not None and stored.detailed else e)
    return replace(digest, entries=tuple(entries))


def worth_posting(digest: Digest) -> bool:
    """`quiet unless-watched`: a day is posted when one of its commits touches a watch or a breaking change landed."""
    watches = digest.relevance.watches if digest.relevance else ()
    return digest.stats.breaking > 0 or bool(touches(watches, digest.entries)[0])
