"""Where commits come from. Both sources give the same `Commit`s for the same repository and window."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from core.models import Commit, FileChange, RepoRef

# GitHub's since/until and `git log --since` are not exact: ask a little wider, then keep what is in the window.
LISTING_MARGIN_DAYS = 2


class CommitSource(Protocol):
    repo: RepoRef
    detail_workers: int  # details fetched at once: network round trips overlap, local git subprocesses do not gain

    def is_private(self) -> bool:
        """Whether chat may show it only where the operator allowed it: GitHub's private flag; always for a clone."""
        ...

    def fetch(self) -> str | None:
        """Bring a clone up to date; a warning (not an error) when that fails. Nothing to do for GitHub."""
        ...

    def branch(self, requested: str | None) -> str:
        """The branch (or ref) whose history is read: `requested`, else the default branch."""
        ...

    def branches(self) -> list[str]:
        """Every branch's name, for a subscription that names several (`branch main,release/*`)."""
        ...

    def commits_between(self, branch: str, start: datetime, end: datetime) -> list[Commit]:
        """Commits reachable from `branch` with start <= committer date < end, newest first, without files."""
        ...

    def latest_commit_time(self, branch: str) -> datetime | None:
        ...

    def details(self, commit: Commit) -> Commit:
        """A listed commit with its files and patches."""
        ...

    def commit(self, sha: str) -> Commit:
        """One commit with its files and patches; `sha` may be a prefix of >= 7 hex digits."""
        ...

    def merged_commits(self, merge: Commit, listed: Sequence[Commit]) -> tuple[str, ...]:
        """The SHAs `merge` brings in: reachable from its other parents and not from its first, newest first.
        `listed` is the digest's listing (its parents may be enough). Runs in a worker thread: no database."""
        ...

    def own_changes(self, merge: Commit) -> tuple[FileChange, ...] | None:
        """What `merge` changes beyond every parent (digest.merges.own_changes): () for a clean merge, None
        when it cannot tell (too many files). Runs in a worker thread: no database."""
        ...


def in_window(commits: list[Commit], start: datetime, end: datetime) -> list[Commit]:
    """Post-filter on the committer date and order newest first (stable for equal dates)."""
    kept = [c for c in commits if start <= c.committed_at < end]
    return sorted(kept, key=lambda c: c.committed_at, reverse=True)


def split_message(message: str) -> tuple[str, str]:
    """(title, full message) the way git and GitHub show them: the title is the first line."""
    text = message.replace("\r\n", "\n").strip("\n")
    return (text.split("\n", 1)[0].strip() if text else "(no message)"), text
