"""Commits and their changed files, keyed by (repo, sha)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import sqlite_utils

from core.models import Commit, FileChange


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
                **({"patches_pruned_at": None} if commit.detailed else {}),  # its patches are stored again
            },
            pk=("repo", "sha"),
        )
        if commit.detailed:
            db.execute("DELETE FROM files WHERE repo = ? AND sha = ?", [commit.repo, commit.sha])
            db.execute("DELETE FROM patches WHERE repo = ? AND sha = ?", [commit.repo, commit.sha])
            db.table("patches").insert_all(
                ({"repo": commit.repo, "sha": commit.sha, "position": position, "patch": f.patch}
                 for position, f in enumerate(commit.files) if f.patch is not None),
                batch_size=200,
            )
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
                        "patch": None,  # in `patches` (see storage/db.py, migration 5)
                        "binary": int(f.binary),
                        "note": f.note,
                    }
                    for position, f in enumerate(commit.files)
                ),
                batch_size=200,
            )


def load_commit(db: sqlite_utils.Database, repo: str, sha: str, *, with_files: bool = True,
                with_patches: bool = True) -> Commit | None:
    """The stored commit. With `with_patches` (to analyse it), a commit whose patches the retention job dropped
    comes back without its details, so the caller fetches them again; without, its files come without patches
    (enough to show it)."""
    rows = list(db.query("SELECT * FROM commits WHERE repo = ? AND sha = ?", [repo, sha]))
    if not rows:
        return None
    row = rows[0]
    if with_files and with_patches and row["patches_pruned_at"] is not None:
        with_files = False
    files: tuple[FileChange, ...] = ()
    patch = "(SELECT patch FROM patches p WHERE p.repo = f.repo AND p.sha = f.sha AND p.position = f.position)"
    columns = f"path, status, additions, deletions, {patch if with_patches else 'NULL'} AS patch, previous_path, binary, note"
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
                f"SELECT {columns} FROM files f WHERE repo = ? AND sha = ? ORDER BY position", [repo, sha]
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


def patches_pruned(db: sqlite_utils.Database, repo: str, sha: str) -> bool:
    """Whether the retention job dropped this commit's patches (and none were fetched since)."""
    row = db.execute("SELECT patches_pruned_at FROM commits WHERE repo = ? AND sha = ?", [repo, sha]).fetchone()
    return row is not None and row[0] is not None
