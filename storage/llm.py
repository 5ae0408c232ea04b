"""LLM bookkeeping: token usage per call, and the structured-output mode each endpoint accepts."""

from __future__ import annotations

from datetime import datetime, timezone

import sqlite_utils


def record_usage(
    db: sqlite_utils.Database, *, repo: str, sha: str, depth: str, model: str, mode: str, ok: bool,
    tokens_in: int, tokens_out: int, seconds: float, error: str | None, spender: str | None = None,
    at: datetime | None = None,
) -> None:
    """One analysis's LLM cost, failed requests included; `spender` is the person who asked (None: the schedule)."""
    with db.conn:
        db.table("llm_usage").insert(
            {
                "at": (at or datetime.now(timezone.utc)).isoformat(),
                "repo": repo,
                "sha": sha,
                "depth": depth,
                "model": model,
                "mode": mode,
                "ok": int(ok),
                "tokens_in": tokens_in,
                "tokens_out": tokens_out,
                "seconds": round(seconds, 3),
                "error": error,
                "spender": spender,
            }
        )


def usage_count(db: sqlite_utils.Database) -> int:
    return db.execute("SELECT count(*) FROM llm_usage").fetchone()[0]


def load_mode(db: sqlite_utils.Database, base_url: str, model: str) -> str | None:
    rows = list(db.query("SELECT mode FROM llm_modes WHERE base_url = ? AND model = ?", [base_url, model]))
    return rows[0]["mode"] if rows else None


def save_mode(db: sqlite_utils.Database, base_url: str, model: str, mode: str) -> None:
    with db.conn:
        db.table("llm_modes").upsert({"base_url": base_url, "model": model, "mode": mode}, pk=("base_url", "model"))


def tokens_since(db: sqlite_utils.Database, moment: datetime, *, spender: str | None = None) -> int:
    """Tokens (in + out) spent since `moment`: by everyone, or by one `spender`."""
    if spender is None:
        row = db.execute("SELECT coalesce(sum(tokens_in + tokens_out), 0) FROM llm_usage WHERE at >= ?",
                         [moment.isoformat()]).fetchone()
    else:
        row = db.execute("SELECT coalesce(sum(tokens_in + tokens_out), 0) FROM llm_usage WHERE spender = ? AND at >= ?",
                         [spender, moment.isoformat()]).fetchone()
    return int(row[0])


def tokens_by_day(db: sqlite_utils.Database, since: datetime) -> tuple[int, int, int]:
    """(tokens in, tokens out, calls) since `since`."""
    row = db.execute("SELECT coalesce(sum(tokens_in), 0), coalesce(sum(tokens_out), 0), count(*) FROM llm_usage"
                     " WHERE at >= ?", [since.isoformat()]).fetchone()
    return int(row[0]), int(row[1]), int(row[2])
