"""Commits and their changed files, keyed by (repo, sha)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import sqlite_utils

from digest.models import Commit, FileChange


def _iso(moment: datetime | None) -> str | None:
    return moment.astimezone(timezone.utc).isoformat() if moment else None


def save_commit(db: sqlite_utils.Database, commit: Commit) -> None:
    """Upsert a commit; its files are replaced only when the commit carries its details."""
    existing = load_commit(db, commit.repo, commit.sha, with_files=False)
    if existing is not None and existing.detailed and not commit.detailed:
        return  # never downgrade a detailed row to a listing row
    with db.conn:
        db.table("commits").upsert(
            {
                "repo": commit.repo,
                "sha": commit.sha,
                "title": commit.title,
                "message": commit.message,
                "author": commit.author,
                "authored_at": _iso(commit.authored_at),
                "committed_at": _iso(commit.committed_at),
                "parents": json.dumps(list(commit.parents)),
                "is_merge": int(commit.is_merge),
                "url": commit.url,
                "additions": commit.additions,
                "deletions": commit.deletions,
                "files_total": commit.files_total,
                "fetched_at": datetime.now(timezone.utc).isoformat(),
            },
            pk=("repo", "sha"),
        )
        if commit.detailed:
            db.execute("DELETE FROM files WHERE repo = ? AND sha = ?", [commit.repo, commit.sha])
            db.table("files").insert_all(
                (
                    {
                        "repo": commit.repo,
                        "sha": commit.sha,
                        "position": position,
                        "path": f.path,
                        "status": f.status,
                        "previous_path": f.previous_path,
                        "additions": f.additions,
                        "deletions": f.deletions,
                        "patch": f.patch,
                        "binary": int(f.binary),
                        "note": f.note,
                    }
                    for position, f in enumerate(commit.files)
                ),
                batch_size=200,
            )


def load_commit(db: sqlite_utils.Database, repo: str, sha: str, *, with_files: bool = True) -> Commit | None:
    rows = list(db.query("SELECT * FROM commits WHERE repo = ? AND sha = ?", [repo, sha]))
    if not rows:
        return None
    row = rows[0]
    files: tuple[FileChange, ...] = ()
    if with_files and row["files_total"] is not None:
        files = tuple(
            FileChange(
                path=f["path"],
                status=f["status"],
                additions=f["additions"],
                deletions=f["deletions"],
                patch=f["patch"],
                previous_path=f["previous_path"],
                binary=bool(f["binary"]),
                note=f["note"],
            )
            for f in db.query(
                "SELECT * FROM files WHERE repo = ? AND sha = ? ORDER BY position", [repo, sha]
            )
        )
    return Commit(
        repo=row["repo"],
        sha=row["sha"],
        title=row["title"],
        message=row["message"],
        author=row["author"],
        authored_at=datetime.fromisoformat(row["authored_at"]) if row["authored_at"] else None,
        committed_at=datetime.fromisoformat(row["committed_at"]),
        parents=tuple(json.loads(row["parents"])),
        url=row["url"],
        additions=row["additions"],
        deletions=row["deletions"],
        files=files,
        files_total=row["files_total"] if with_files else None,
    )


def shas_with_prefix(db: sqlite_utils.Database, repo: str, prefix: str, limit: int = 2) -> list[str]:
    """Stored full SHAs of `repo` starting with `prefix` (hex only, validated by the caller)."""
    return [
        r["sha"]
        for r in db.query(
            "SELECT sha FROM commits WHERE repo = ? AND sha LIKE ? ORDER BY sha LIMIT ?",
            [repo, prefix.lower() + "%", limit],
        )
    ]
