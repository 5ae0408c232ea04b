"""Open the SQLite database (WAL) and bring its schema up to date.

The schema is explicit and versioned with `PRAGMA user_version`; every table has a natural key so that a
rerun or a retry upserts instead of duplicating. One connection per thread: callers open their own.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

MIGRATIONS: tuple[str, ...] = (
    # 1: the digest engine
    """
    CREATE TABLE commits (
        repo TEXT NOT NULL, sha TEXT NOT NULL,
        title TEXT NOT NULL, message TEXT NOT NULL, author TEXT NOT NULL,
        authored_at TEXT, committed_at TEXT NOT NULL,
        parents TEXT NOT NULL, is_merge INTEGER NOT NULL, url TEXT,
        additions INTEGER NOT NULL DEFAULT 0, deletions INTEGER NOT NULL DEFAULT 0,
        files_total INTEGER, fetched_at TEXT NOT NULL,
        PRIMARY KEY (repo, sha)
    );
    CREATE INDEX commits_by_time ON commits (repo, committed_at);
    CREATE TABLE files (
        repo TEXT NOT NULL, sha TEXT NOT NULL, position INTEGER NOT NULL, path TEXT NOT NULL,
        status TEXT NOT NULL, previous_path TEXT,
        additions INTEGER NOT NULL, deletions INTEGER NOT NULL,
        patch TEXT, binary INTEGER NOT NULL DEFAULT 0, note TEXT,
        PRIMARY KEY (repo, sha, position)
    );
    CREATE TABLE analyses (
        repo TEXT NOT NULL, sha TEXT NOT NULL, depth TEXT NOT NULL, lang TEXT NOT NULL,
        prompt_version TEXT NOT NULL, model TEXT NOT NULL,
        source TEXT NOT NULL, importance TEXT NOT NULL, data TEXT NOT NULL,
        tokens_in INTEGER NOT NULL DEFAULT 0, tokens_out INTEGER NOT NULL DEFAULT 0,
        grounding_cited INTEGER, grounding_verified INTEGER,
        created_at TEXT NOT NULL,
        PRIMARY KEY (repo, sha, depth, lang, prompt_version, model)
    );
    CREATE TABLE pending (
        repo TEXT NOT NULL, sha TEXT NOT NULL, depth TEXT NOT NULL, lang TEXT NOT NULL,
        model TEXT NOT NULL, attempts INTEGER NOT NULL, next_at TEXT NOT NULL, last_error TEXT NOT NULL,
        PRIMARY KEY (repo, sha, depth, lang)
    );
    CREATE TABLE digests (
        repo TEXT NOT NULL, day TEXT NOT NULL, zone TEXT NOT NULL, lang TEXT NOT NULL,
        branch TEXT NOT NULL, shas TEXT NOT NULL, stats TEXT NOT NULL, coverage TEXT NOT NULL,
        window_start TEXT NOT NULL, window_end TEXT NOT NULL, built_at TEXT NOT NULL,
        PRIMARY KEY (repo, day, zone, lang, branch)
    );
    CREATE TABLE http_cache (
        url TEXT PRIMARY KEY, etag TEXT NOT NULL, body TEXT NOT NULL, link TEXT, stored_at TEXT NOT NULL
    );
    CREATE TABLE llm_usage (
        id INTEGER PRIMARY KEY, at TEXT NOT NULL, repo TEXT NOT NULL, sha TEXT NOT NULL, depth TEXT NOT NULL,
        model TEXT NOT NULL, mode TEXT NOT NULL, ok INTEGER NOT NULL,
        tokens_in INTEGER NOT NULL, tokens_out INTEGER NOT NULL, seconds REAL NOT NULL, error TEXT
    );
    CREATE TABLE llm_modes (
        base_url TEXT NOT NULL, model TEXT NOT NULL, mode TEXT NOT NULL, PRIMARY KEY (base_url, model)
    );
    """,
    # 2: the chat bot: subscriptions, posts claimed before sending (exactly once), events seen, rate limits
    """
    CREATE TABLE subscriptions (
        platform TEXT NOT NULL, channel TEXT NOT NULL, repo TEXT NOT NULL,
        at TEXT NOT NULL, zone TEXT NOT NULL, lang TEXT NOT NULL, branch TEXT, quiet TEXT NOT NULL,
        source TEXT NOT NULL, created_by TEXT, created_at TEXT NOT NULL,
        paused TEXT, paused_at TEXT,
        PRIMARY KEY (platform, channel, repo)
    );
    CREATE TABLE posts (
        platform TEXT NOT NULL, channel TEXT NOT NULL, repo TEXT NOT NULL, day TEXT NOT NULL,
        part INTEGER NOT NULL,
        generation INTEGER NOT NULL DEFAULT 0,
        state TEXT NOT NULL, owner TEXT NOT NULL, heartbeat_at TEXT NOT NULL,
        message_id TEXT, thread_id TEXT, shas TEXT, zone TEXT, lang TEXT, branch TEXT, late INTEGER NOT NULL DEFAULT 0,
        attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, posted_at TEXT,
        PRIMARY KEY (platform, channel, repo, day, part)
    );
    CREATE TABLE seen_events (
        platform TEXT NOT NULL, event_id TEXT NOT NULL, seen_at TEXT NOT NULL,
        PRIMARY KEY (platform, event_id)
    );
    CREATE TABLE command_log (
        id INTEGER PRIMARY KEY, platform TEXT NOT NULL, user TEXT NOT NULL, at TEXT NOT NULL, costly INTEGER NOT NULL
    );
    CREATE INDEX command_log_by_user ON command_log (platform, user, at);
    """,
    # 3: merges told once (issue 8): what each merge brings in, and its own changes once checked
    """
    CREATE TABLE merges (
        repo TEXT NOT NULL, sha TEXT NOT NULL,
        merged TEXT NOT NULL, own TEXT, checked_at TEXT NOT NULL,
        PRIMARY KEY (repo, sha)
    );
    """,
    # 4: LLM outages, announced once each (in any process)
    """
    CREATE TABLE outages (
        id INTEGER PRIMARY KEY, endpoint TEXT NOT NULL, started_at TEXT NOT NULL, error TEXT NOT NULL,
        ended_at TEXT
    );
    """,
    # 5: LLM tokens charged to the person who asked (DIGEST_USER_TOKENS); NULL for the schedule's work
    """
    ALTER TABLE llm_usage ADD COLUMN spender TEXT;
    CREATE INDEX llm_usage_by_spender ON llm_usage (spender, at);
    """,
    # 6: a stored digest keeps its notes (an LLM outage, a failed fetch) and its repository's web URL; the URL of
    # digests stored before is read from their first commit's URL (their notes are not known)
    """
    ALTER TABLE digests ADD COLUMN notes TEXT NOT NULL DEFAULT '[]';
    ALTER TABLE digests ADD COLUMN web_url TEXT;
    UPDATE digests SET web_url = (
        SELECT substr(c.url, 1, instr(c.url, '/commit/') - 1) FROM commits c
        WHERE c.repo = digests.repo AND c.sha = json_extract(digests.shas, '$[0].sha')
          AND instr(c.url, '/commit/') > 1);
    """,
    # 7: retention (issue 12): patches in their own table, in the order they were stored, so that dropping old ones
    # frees whole pages (NULLed in `files` they left pages two-thirds empty); when a commit's were dropped (a
    # reader that needs them fetches them again). files.patch stays, always NULL.
    """
    CREATE TABLE patches (
        repo TEXT NOT NULL, sha TEXT NOT NULL, position INTEGER NOT NULL, patch TEXT NOT NULL,
        PRIMARY KEY (repo, sha, position)
    );
    INSERT INTO patches (repo, sha, position, patch)
        SELECT repo, sha, position, patch FROM files WHERE patch IS NOT NULL ORDER BY rowid;
    UPDATE files SET patch = NULL WHERE patch IS NOT NULL;
    ALTER TABLE commits ADD COLUMN patches_pruned_at TEXT;
    CREATE INDEX commits_unpruned ON commits (fetched_at) WHERE patches_pruned_at IS NULL;
    CREATE INDEX seen_events_by_time ON seen_events (seen_at);
    CREATE INDEX command_log_by_time ON command_log (at);
    CREATE INDEX http_cache_by_time ON http_cache (stored_at);
    """,
    # 8: relevance (issue 14): watches per subscription, and its filters and roll-ups (JSON lists; NULL: none)
    """
    CREATE TABLE watches (
        platform TEXT NOT NULL, channel TEXT NOT NULL, repo TEXT NOT NULL, number INTEGER NOT NULL,
        kind TEXT NOT NULL, pattern TEXT NOT NULL,
        mention_platform TEXT, mention_kind TEXT, mention_id TEXT, mention_label TEXT,
        created_by TEXT, created_at TEXT NOT NULL,
        PRIMARY KEY (platform, channel, repo, number)
    );
    ALTER TABLE subscriptions ADD COLUMN skip_authors TEXT;
    ALTER TABLE subscriptions ADD COLUMN min_level TEXT;
    ALTER TABLE subscriptions ADD COLUMN paths TEXT;
    ALTER TABLE subscriptions ADD COLUMN weekly TEXT;
    ALTER TABLE subscriptions ADD COLUMN daily INTEGER NOT NULL DEFAULT 1;
    """,
    # 9: a deep analysis asked for from a posted digest is posted once in its thread (issue 13): where it went, so
    # that a later click links to it; claimed before sending, like a post
    """
    CREATE TABLE deep_posts (
        platform TEXT NOT NULL, channel TEXT NOT NULL, thread TEXT NOT NULL, sha TEXT NOT NULL,
        repo TEXT NOT NULL, state TEXT NOT NULL, owner TEXT NOT NULL, claimed_at TEXT NOT NULL,
        message_id TEXT, posted_at TEXT,
        PRIMARY KEY (platform, channel, thread, sha)
    );
    """,
)


WORKER_CACHE_KB = 256  # SQLite's default is 2 MB per connection: 64 Slack workers grew the bot by up to 128 MB


def open_db(path: str | Path, *, any_thread: bool = False) -> sqlite_utils.Database:
    """Open (creating if needed) the database at `path` (":memory:" works) and migrate it. `any_thread`: the
    connection may be closed from another thread (PerThread closes those of threads that ended)."""
    if str(path) != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = sqlite_utils.Database(sqlite3.connect(str(path), check_same_thread=not any_thread))
    db.execute("PRAGMA busy_timeout = 10000")
    if any_thread:  # one of many worker connections: a small page cache (another's write empties it anyway in WAL)
        db.execute(f"PRAGMA cache_size = -{WORKER_CACHE_KB}")
    if str(path) != ":memory:":
        if db.execute("PRAGMA page_count").fetchone()[0] == 0:
            db.execute("PRAGMA auto_vacuum = INCREMENTAL")  # a new file takes it before its first table
        db.enable_wal()
    migrate(db)
    if str(path) != ":memory:":
        incremental_vacuum_mode(db)
    return db


def incremental_vacuum_mode(db: sqlite_utils.Database) -> None:
    """Pages freed by the retention job can be given back to the file system (`PRAGMA incremental_vacuum`).
    A file made before that needs one VACUUM to take the mode: done once, here, after its migrations."""
    if db.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:
        db.execute("PRAGMA auto_vacuum = INCREMENTAL")
        db.execute("VACUUM")


def migrate(db: sqlite_utils.Database) -> int:
    """Run the migrations the file has not had. Each runs under the write lock and only if the file is still at the
    version before it (else another process migrated it meanwhile): two processes opening a new file at once must
    not both create its tables."""
    while (version := db.execute("PRAGMA user_version").fetchone()[0]) < len(MIGRATIONS):
        guard = (f"SELECT CASE WHEN (SELECT user_version FROM pragma_user_version()) = {version} THEN 1 "
                 f"ELSE json('{_MIGRATED_MEANWHILE}') END")  # json() of a non-JSON text raises: the script stops
        try:
            db.conn.executescript(f"BEGIN IMMEDIATE; {guard}; {MIGRATIONS[version]}; "
                                  f"PRAGMA user_version = {version + 1}; COMMIT;")
        except sqlite3.OperationalError as err:
            if db.conn.in_transaction:
                db.conn.rollback()
            if "malformed JSON" not in str(err):
                raise
    return len(MIGRATIONS)


_MIGRATED_MEANWHILE = "migrated by another connection"


@contextmanager
def write_lock(db: sqlite_utils.Database) -> Iterator[None]:
    """One transaction that holds the write lock from its first read (BEGIN IMMEDIATE), so a decision read and
    the write that follows it cannot interleave with another connection's, in any process."""
    db.execute("BEGIN IMMEDIATE")  # waits up to busy_timeout for another writer
    try:
        yield
    except BaseException:
        db.conn.rollback()
        raise
    db.conn.commit()


class PerThread:
    """One connection per thread to the database `db` was opened on (sqlite3 refuses a connection from another
    thread). The thread that opened `db` keeps using it; an in-memory database serves only that thread. The
    connections of threads that ended are closed when the next thread opens one (each holds three file
    descriptors and up to 2 MB of page cache; left to the garbage collector they piled up)."""

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.first = db
        self.owner = threading.get_ident()
        rows = db.execute("PRAGMA database_list").fetchall()
        self.path = next((row[2] for row in rows if row[1] == "main"), "") or ":memory:"
        self.local = threading.local()
        self._lock = threading.Lock()
        self._opened: list[tuple[threading.Thread, sqlite_utils.Database]] = []

    def get(self) -> sqlite_utils.Database:
        if threading.get_ident() == self.owner:
            return self.first
        db = getattr(self.local, "db", None)
        if db is None:
            if self.path == ":memory:":
                raise RuntimeError("an in-memory database cannot be shared between threads; use a file")
            db = self.local.db = open_db(self.path, any_thread=True)
            with self._lock:
                ended = [(t, d) for t, d in self._opened if not t.is_alive()]
                self._opened = [(t, d) for t, d in self._opened if t.is_alive()]
                self._opened.append((threading.current_thread(), db))
            for _, old in ended:
                old.conn.close()
        return db

    def open_count(self) -> int:
        """Connections open besides the first (for the soak bench and tests)."""
        with self._lock:
            return sum(1 for t, _ in self._opened if t.is_alive())


def unwritable(path: str | Path, timeout: float = 1.0) -> str | None:
    """Why the database at `path` cannot be written now (SQLite's words: read-only, locked, missing), or None.
    Its own connection with a short timeout: a probe must not wait the 10 s a worker waits for the lock."""
    if str(path) == ":memory:":
        return None
    try:
        conn = sqlite3.connect(f"{Path(path).resolve().as_uri()}?mode=rw", uri=True, timeout=timeout,
                               isolation_level=None)
    except sqlite3.Error as err:
        return str(err)
    try:
        conn.execute("BEGIN IMMEDIATE")  # takes the write lock: refused on a read-only file or while another holds it
        conn.execute("ROLLBACK")
        return None
    except sqlite3.Error as err:
        return str(err)
    finally:
        conn.close()
