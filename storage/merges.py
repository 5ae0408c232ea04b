"""What each merge brings in and what it changes on its own, keyed by (repo, sha): both are fixed by the commit
graph, so they are worked out once (a GitHub comparison, or `git rev-list` and diffs) and read back after."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime, timezone

import sqlite_utils

from core.models import FileChange

UNKNOWN = "unknown"  # `own` of a merge whose own changes could not be told


def save_merged(db: sqlite_utils.Database, repo: str, sha: str, merged: tuple[str, ...]) -> None:
    with db.conn:
        db.execute(
            "INSERT INTO merges (repo, sha, merged, own, checked_at) VALUES (?, ?, ?, NULL, ?)"
            " ON CONFLICT (repo, sha) DO UPDATE SET merged = excluded.merged",
            [repo, sha, json.dumps(list(merged)), datetime.now(timezone.utc).isoformat()],
        )


def load_merged(db: sqlite_utils.Database, repo: str, shas: list[str]) -> dict[str, tuple[str, ...]]:
    """The stored merged SHAs of those of `shas` that were worked out before."""
    out: dict[str, tuple[str, ...]] = {}
    for start in range(0, len(shas), 500):
        chunk = shas[start : start + 500]
        marks = ",".join("?" * len(chunk))
        for row in db.query(f"SELECT sha, merged FROM merges WHERE repo = ? AND sha IN ({marks})", [repo, *chunk]):
            out[row["sha"]] = tuple(json.loads(row["merged"]))
    return out


def save_own(db: sqlite_utils.Database, repo: str, sha: str, own: tuple[FileChange, ...] | None) -> None:
    value = UNKNOWN if own is None else json.dumps([asdict(f) for f in own], ensure_ascii=False)
    with db.conn:
        db.execute("UPDATE merges SET own = ?, checked_at = ? WHERE repo = ? AND sha = ?",
                   [value, datetime.now(timezone.utc).isoformat(), repo, sha])


def load_own(db: sqlite_utils.Database, repo: str, sha: str) -> tuple[bool, tuple[FileChange, ...] | None]:
    """(checked, own changes): own is None when they could not be told."""
    rows = list(db.query("SELECT own FROM merges WHERE repo = ? AND sha = ?", [repo, sha]))
    if not rows or rows[0]["own"] is None:
        return False, None
    if rows[0]["own"] == UNKNOWN:
        return True, None
    return True, tuple(FileChange(**f) for f in json.loads(rows[0]["own"]))
