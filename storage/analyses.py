"""Analyses keyed by (repo, sha, depth, lang, prompt version, model), and the queue of LLM retries."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import sqlite_utils

from core.models import Analysis


def save_analysis(db: sqlite_utils.Database, repo: str, sha: str, analysis: Analysis, prompt_version: str) -> None:
    with db.conn:
        db.table("analyses").upsert(
            {
                "repo": repo,
                "sha": sha,
                "depth": analysis.depth,
                "lang": analysis.lang,
                "prompt_version": prompt_version,
                "model": analysis.model,
                "source": analysis.source,
                "importance": analysis.importance,
                "data": analysis.model_dump_json(),
                "tokens_in": analysis.tokens_in,
                "tokens_out": analysis.tokens_out,
                "grounding_cited": analysis.grounding.cited if analysis.grounding else None,
                "grounding_verified": analysis.grounding.verified if analysis.grounding else None,
                "created_at": datetime.now(timezone.utc).isoformat(),
            },
            pk=("repo", "sha", "depth", "lang", "prompt_version", "model"),
        )


def load_analysis(
    db: sqlite_utils.Database, repo: str, sha: str, depth: str, lang: str, prompt_version: str, model: str
) -> Analysis | None:
    rows = list(
        db.query(
            "SELECT data FROM analyses WHERE repo = ? AND sha = ? AND depth = ? AND lang = ?"
            " AND prompt_version = ? AND model = ?",
            [repo, sha, depth, lang, prompt_version, model],
        )
    )
    return Analysis.model_validate_json(rows[0]["data"]) if rows else None


def mark_pending(
    db: sqlite_utils.Database, repo: str, sha: str, depth: str, lang: str, model: str, error: str,
    now: datetime, retry_in: timedelta = timedelta(minutes=15),
) -> None:
    """Queue an LLM analysis that fell back to rules, for the backfill to retry."""
    rows = list(
        db.query(
            "SELECT attempts FROM pending WHERE repo = ? AND sha = ? AND depth = ? AND lang = ?",
            [repo, sha, depth, lang],
        )
    )
    attempts = (rows[0]["attempts"] if rows else 0) + 1
    with db.conn:
        db.table("pending").upsert(
            {
                "repo": repo,
                "sha": sha,
                "depth": depth,
                "lang": lang,
                "model": model,
                "attempts": attempts,
                "next_at": (now + retry_in * min(attempts, 8)).isoformat(),
                "last_error": error[:500],
            },
            pk=("repo", "sha", "depth", "lang"),
        )


def clear_pending(db: sqlite_utils.Database, repo: str, sha: str, depth: str, lang: str) -> None:
    with db.conn:
        db.execute(
            "DELETE FROM pending WHERE repo = ? AND sha = ? AND depth = ? AND lang = ?", [repo, sha, depth, lang]
        )


def retry_due(db: sqlite_utils.Database, repo: str, sha: str, depth: str, lang: str, now: datetime) -> bool | None:
    """None: nothing pending; else whether the backoff of the last failed attempt is over."""
    rows = list(db.query("SELECT next_at FROM pending WHERE repo = ? AND sha = ? AND depth = ? AND lang = ?",
                         [repo, sha, depth, lang]))
    return datetime.fromisoformat(rows[0]["next_at"]) <= now if rows else None


def pending_attempts(db: sqlite_utils.Database, repo: str, sha: str, depth: str, lang: str) -> int:
    rows = list(db.query("SELECT attempts FROM pending WHERE repo = ? AND sha = ? AND depth = ? AND lang = ?",
                         [repo, sha, depth, lang]))
    return int(rows[0]["attempts"]) if rows else 0


def pending_rows(db: sqlite_utils.Database) -> list[dict]:
    return list(db.query("SELECT * FROM pending ORDER BY next_at"))


def make_due(db: sqlite_utils.Database, now: datetime) -> int:
    """A person asked for the backfill: every queued retry is due now, whatever its backoff."""
    with db.conn:
        return db.execute("UPDATE pending SET next_at = ?", [now.isoformat()]).rowcount


def retry_not_before(db: sqlite_utils.Database, repo: str, sha: str, depth: str, lang: str, moment: datetime) -> None:
    with db.conn:
        db.execute("UPDATE pending SET next_at = max(next_at, ?) WHERE repo = ? AND sha = ? AND depth = ? AND lang = ?",
                   [moment.isoformat(), repo, sha, depth, lang])
