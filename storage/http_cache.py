"""ETag cache for conditional GitHub requests: a 304 costs no rate limit and no download."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone

import sqlite_utils


@dataclass(frozen=True)
class Cached:
    etag: str
    body: str
    link: str | None


def cached(db: sqlite_utils.Database, url: str) -> Cached | None:
    rows = list(db.query("SELECT etag, body, link FROM http_cache WHERE url = ?", [url]))
    return Cached(rows[0]["etag"], rows[0]["body"], rows[0]["link"]) if rows else None


def store(db: sqlite_utils.Database, url: str, etag: str, body: str, link: str | None) -> None:
    with db.conn:
        db.table("http_cache").upsert(
            {"url": url, "etag": etag, "body": body, "link": link, "stored_at": datetime.now(timezone.utc).isoformat()},
            pk="url",
        )
