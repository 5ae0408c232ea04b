"""A year of a busy repository's rows, written straight into a real SQLite file: each day `commits` commits with
their files and patches, brief analyses (deep ones for a tenth), the digest, LLM usage, seen events, the command
log and cached GitHub answers; the retention job runs after each day, as `bot.py run` does. Shared by
tests/test_retention.py and bench/retention.py."""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta, timezone

import sqlite_utils

from storage import retention

START = datetime(2025, 1, 1, 3, 17, tzinfo=timezone.utc)
FILES = 8  # files a commit touches
BRIEF = 1200  # bytes of a brief analysis' JSON (a real one: 0.8-1.6 KB)
DEEP = 4500
CACHED = 3000  # bytes of a cached GitHub answer (a commit listing page, a commit without its large patches)


def _text(rng: random.Random, size: int) -> str:
    """Diff-like text of about `size` bytes (no two alike, so nothing is shared)."""
    line = f"+    value_{rng.randrange(1 << 30):x} = compute(arg_{rng.randrange(1 << 20)})  # {'x' * 20}\n"
    return (line * (size // len(line) + 1))[:size]


def write_day(db: sqlite_utils.Database, day: int, commits: int, patch_bytes: int, rng: random.Random,
              files: int = FILES) -> int:
    """One day's rows; returns the patch bytes written."""
    at = START + timedelta(days=day)
    stamp = at.isoformat()
    written = 0
    commit_rows, file_rows, patch_rows, analysis_rows, usage_rows = [], [], [], [], []
    for n in range(commits):
        sha = f"{rng.getrandbits(160):040x}"  # random, as real ones are: new rows land among the old ones
        commit_rows.append(("busy/repo", sha, f"feat: change {n} of day {day}", "body\n" * 20, "dev", stamp, stamp,
                            json.dumps(["p" * 40]), 0, f"https://github.com/busy/repo/commit/{sha}", 120, 30, files,
                            stamp))
        for position in range(files):
            patch = _text(rng, patch_bytes // files)
            written += len(patch)
            file_rows.append(("busy/repo", sha, position, f"python/pkg/module_{n}_{position}.py", "modified", None,
                              15, 4, None, 0, None))
            patch_rows.append(("busy/repo", sha, position, patch))
        depths = [("brief", BRIEF)] + ([("deep", DEEP)] if n % 10 == 0 else [])
        for depth, size in depths:
            analysis_rows.append(("busy/repo", sha, depth, "en", "v9", "model", "llm", "medium",
                                  json.dumps({"summary": _text(rng, size)}), 900, 200, 3, 3, stamp))
            usage_rows.append((stamp, "busy/repo", sha, depth, "model", "json_schema", 1, 900, 200, 2.5, None))
    entries = [{"sha": r[1], "brief": json.dumps({"summary": "s" * BRIEF}), "deep": None} for r in commit_rows]
    with db.conn:
        db.conn.executemany("INSERT INTO commits (repo, sha, title, message, author, authored_at, committed_at, parents,"
                            " is_merge, url, additions, deletions, files_total, fetched_at)"
                            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", commit_rows)
        db.conn.executemany("INSERT INTO files VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", file_rows)
        db.conn.executemany("INSERT INTO patches VALUES (?, ?, ?, ?)", patch_rows)
        db.conn.executemany("INSERT INTO analyses VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", analysis_rows)
        db.conn.executemany("INSERT INTO llm_usage (at, repo, sha, depth, model, mode, ok, tokens_in, tokens_out,"
                            " seconds, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", usage_rows)
        db.conn.execute("INSERT INTO digests (repo, day, zone, lang, branch, shas, stats, coverage, window_start,"
                        " window_end, built_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        ("busy/repo", at.date().isoformat(), "UTC", "en", "main", json.dumps(entries), "{}", "{}",
                         stamp, stamp, stamp))
        db.conn.executemany("INSERT INTO seen_events VALUES (?, ?, ?)",
                            [("slack", f"{day}-{i}-" + "e" * 30, stamp) for i in range(2 * commits)])
        db.conn.executemany("INSERT INTO command_log (platform, user, at, costly) VALUES (?, ?, ?, 1)",
                            [("slack", f"U{i % 20}", stamp) for i in range(commits)])
        db.conn.executemany("INSERT INTO http_cache VALUES (?, ?, ?, ?, ?)",
                            [(f"https://api.github.com/repos/busy/repo/commits/{r[1]}", '"etag"',
                              _text(rng, CACHED), None, stamp) for r in commit_rows])
    return written


def busy_year(db: sqlite_utils.Database, *, days: int = 365, commits: int = 90, patch_bytes: int = 48_000,
              files: int = FILES, keep: retention.Retention | None = retention.Retention(), seed: int = 12,
              first_day: int = 0) -> int:
    """Writes `days` days, pruning after each when `keep` is given; returns the patch bytes written."""
    rng = random.Random(seed)
    written = 0
    for day in range(first_day, first_day + days):
        written += write_day(db, day, commits, patch_bytes, rng, files)
        if keep is not None:
            retention.prune(db, START + timedelta(days=day, hours=1), keep)
    return written
