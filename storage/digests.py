"""Digests keyed by (repo, day, zone, lang): the commits in order and which analyses they showed."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date, datetime

import sqlite_utils

from digest.models import Analysis, Digest, Entry
from digest.window import day_window
from storage.commits import load_commit


def save_digest(db: sqlite_utils.Database, digest: Digest) -> None:
    entries = [
        {"sha": e.commit.sha, "brief": e.analysis.model_dump_json(), "deep": e.deep.model_dump_json() if e.deep else None,
         "merged": list(e.merged), "grouped": e.grouped, "analysed": e.analysed, "merged_into": e.merged_into, "own_only": e.own_only,
         "repeats": list(e.repeats), "breaking_told_in": list(e.breaking_told_in)}
        for e in digest.entries
    ]
    with db.conn:
        db.table("digests").upsert(
            {
                "repo": digest.repo,
                "day": digest.day.isoformat(),
                "zone": digest.window.zone,
                "lang": digest.lang,
                "branch": digest.branch,
                "shas": json.dumps(entries, ensure_ascii=False),
                "stats": json.dumps(asdict(digest.stats)),
                "coverage": json.dumps(asdict(digest.coverage), ensure_ascii=False),
                "window_start": digest.window.start.isoformat(),
                "window_end": digest.window.end.isoformat(),
                "built_at": digest.built_at.isoformat(),
            },
            pk=("repo", "day", "zone", "lang", "branch"),
        )


def load_digest(db: sqlite_utils.Database, repo: str, day: date, zone: str, lang: str,
                branch: str | None = None) -> Digest | None:
    """The digest of that day; of `branch`, or the one built last when no branch is named."""
    rows = list(db.query(
        "SELECT * FROM digests WHERE repo = ? AND day = ? AND zone = ? AND lang = ? AND (? IS NULL OR branch = ?)"
        " ORDER BY built_at DESC LIMIT 1", [repo, day.isoformat(), zone, lang, branch, branch]))
    if not rows:
        return None
    row = rows[0]
    entries = []
    for item in json.loads(row["shas"]):
        commit = load_commit(db, repo, item["sha"])
        if commit is None:
            return None  # the commit rows were removed: the digest must be rebuilt
        deep = Analysis.model_validate_json(item["deep"]) if item["deep"] else None
        entries.append(Entry(commit, Analysis.model_validate_json(item["brief"]), deep,
                             merged=tuple(item.get("merged", ())), grouped=item.get("grouped", False),
                             analysed=item.get("analysed", True), merged_into=item.get("merged_into"), own_only=item.get("own_only", False),
                             repeats=tuple(item.get("repeats", ())),
                             breaking_told_in=tuple(item.get("breaking_told_in", ()))))
    return Digest(
        repo=repo, window=day_window(day, zone), lang=lang, branch=row["branch"], entries=tuple(entries),
        built_at=datetime.fromisoformat(row["built_at"]),
    )


def keys_with(db: sqlite_utils.Database, repo: str, shas: set[str]) -> list[tuple[str, str, str, str]]:
    """(day, zone, lang, branch) of the stored digests of `repo` that show any of `shas`."""
    found = []
    for row in db.query("SELECT day, zone, lang, branch, shas FROM digests WHERE repo = ?", [repo]):
        if any(item["sha"] in shas for item in json.loads(row["shas"])):
            found.append((row["day"], row["zone"], row["lang"], row["branch"]))
    return found
