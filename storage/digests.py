"""Digests keyed by (repo, day, zone, lang): the commits in order and which analyses they showed."""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import asdict
from datetime import date, datetime

import sqlite_utils

from core.models import Analysis, Digest, Entry
from core.window import day_window
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
                "notes": json.dumps(list(digest.notes), ensure_ascii=False),
                "web_url": digest.web_url,
            },
            pk=("repo", "day", "zone", "lang", "branch"),
        )


class ReadBack:
    """Digests of one database read back lately, by their stored row (one per DigestService): a day many people ask
    for at once (a burst of /digest for yesterday) is read from SQLite once, not once per command (17 ms for 92
    commits). A rebuilt digest has another row (its analyses and built_at), so it is read again; digests are
    immutable objects, shared safely between threads."""

    SIZE = 16

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: OrderedDict[tuple, Digest] = OrderedDict()

    def load(self, db: sqlite_utils.Database, repo: str, day: date, zone: str, lang: str, branch: str) -> Digest | None:
        """The digest of that day built for `branch` (a name: the caller resolves the default branch)."""
        row = _row(db, repo, day, zone, lang, branch)
        if row is None:
            return None
        shown = json.dumps([row["shas"], row["notes"], row["web_url"]])
        key = (repo, row["day"], zone, lang, row["branch"], row["built_at"],
               hashlib.blake2b(shown.encode(), digest_size=16).digest())
        with self._lock:
            if (found := self._items.get(key)) is not None:
                self._items.move_to_end(key)
                return found
        digest = _read(db, repo, day, zone, lang, row)
        if digest is not None:
            with self._lock:
                self._items[key] = digest
                while len(self._items) > self.SIZE:
                    self._items.popitem(last=False)
        return digest


def _row(db: sqlite_utils.Database, repo: str, day: date, zone: str, lang: str, branch: str) -> dict | None:
    rows = list(db.query("SELECT * FROM digests WHERE repo = ? AND day = ? AND zone = ? AND lang = ? AND branch = ?",
                         [repo, day.isoformat(), zone, lang, branch]))
    return rows[0] if rows else None


def _read(db: sqlite_utils.Database, repo: str, day: date, zone: str, lang: str, row: dict) -> Digest | None:
    entries = []
    for item in json.loads(row["shas"]):
        commit = load_commit(db, repo, item["sha"], with_patches=False)  # shown, not analysed: no diff kept in memory
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
        built_at=datetime.fromisoformat(row["built_at"]), web_url=row["web_url"],
        notes=tuple(json.loads(row["notes"])),
    )


def keys_with(db: sqlite_utils.Database, repo: str, shas: set[str]) -> list[tuple[str, str, str, str]]:
    """(day, zone, lang, branch) of the stored digests of `repo` that show any of `shas`."""
    found = []
    for row in db.query("SELECT day, zone, lang, branch, shas FROM digests WHERE repo = ?", [repo]):
        if any(item["sha"] in shas for item in json.loads(row["shas"])):
            found.append((row["day"], row["zone"], row["lang"], row["branch"]))
    return found
