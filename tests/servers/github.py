"""A local, standard-library-only stand-in for the GitHub REST API v3 (commits).

It serves real local git repositories, read with the ``git`` CLI at request
time (so a test may add commits while the server runs)::

    with GitHubServer({"octo/demo": repo_path}) as gh:
        r = requests.get(f"{gh.url}/repos/octo/demo/commits", params={"per_page": 10})
        while "next" in r.links:
            r = requests.get(r.links["next"]["url"])

Endpoints (GET only; anything else answers a GitHub-shaped 404):

* ``/repos/{owner}/{repo}``
* ``/repos/{owner}/{repo}/commits`` (``sha``, ``since``, ``until``, ``per_page``, ``page``)
* ``/repos/{owner}/{repo}/commits/{ref}`` (``page`` pages the ``files`` list)
* ``/repos/{owner}/{repo}/compare/{base}...{head}`` (``per_page``, ``page`` page the ``commits``, oldest
  first as documented; ``files`` are the diff from the merge base to ``head``, at most 300, on page 1 only)
* ``/rate_limit`` (as on GitHub: never counts against the limit)

Behaviour assumed where GitHub's documentation is silent:

* ``since`` / ``until`` filter on the COMMITTER date and both bounds are
  inclusive.  They accept ISO 8601 with ``Z`` or ``+HH:MM`` offsets (a
  date-only value or one without offset is taken as UTC); an unparsable value
  answers 400.
* List order is ``git rev-list``'s default order (what ``git log`` shows).
* An unknown ``sha`` on the list answers 404 ``No commit found for SHA: x``;
  an unknown ref on the single-commit endpoint answers 422 (as GitHub does).
  A repository without any commit answers 409 ``Git Repository is empty.``.
* Rate limits: every answer except 304, 401, ``/rate_limit`` and injected
  answers consumes one unit of its bucket (404 and 422 do count, like on
  GitHub).  An exhausted bucket is checked before the conditional-request
  check, so an exhausted client gets 403/429 even with a matching ETag.
  ``x-ratelimit-reset`` is rounded UP to the next whole second, so a client
  that sleeps until that epoch second always finds the bucket refilled.
* Injected answers win over everything (auth, rate limits) and carry the
  current rate-limit headers (not decremented) unless overridden.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import re
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from tests.servers import serve

__all__ = ["GitHubServer", "Recorded"]

DOCS = "https://docs.github.com/rest"
DOCS_GET_COMMIT = "https://docs.github.com/rest/commits/commits#get-a-commit"
DOCS_LIST_COMMITS = "https://docs.github.com/rest/commits/commits#list-commits"
DOCS_RATE = "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting"
RATE_MESSAGE = (
    "API rate limit exceeded for 127.0.0.1. (But here's the good news: Authenticated requests "
    "get a higher rate limit. Check out the documentation for more details.)"
)
MAX_FILES = 3000
MAX_COMPARE_FILES = 300  # "up to 300 changed files for the entire comparison" (docs: compare two commits)
COMPARE_PER_PAGE = 250  # without pagination the comparison lists up to 250 commits
DOCS_COMPARE = "https://docs.github.com/rest/commits/commits#compare-two-commits"
DOCS_LIST_BRANCHES = "https://docs.github.com/rest/branches/branches#list-branches"
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100
_CACHE_SIZE = 256

_HEX_FULL = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
_HEX_SHORT = re.compile(r"^[0-9a-f]{4,63}$")
_REPO_PATH = re.compile(r"^/repos/([^/]+)/([^/]+)(/.*)?$")


@dataclass
class Recorded:
    """One request as the server saw it (``status`` is what it answered)."""

    method: str
    path: str  # decoded path, without the query string
    query: dict[str, str]  # first value of each parameter
    headers: dict[str, str]  # lower-cased names
    status: int = 0
    raw_path: str = ""  # the request target exactly as sent (path + query)
    time: float = field(default_factory=time.time)


@dataclass
class _Injection:
    status: int
    count: int
    headers: dict[str, str]
    body: dict | None
    path_contains: str | None


class _Bucket:
    def __init__(self, limit: int, reset_in: float) -> None:
        self.limit = limit
        self.window = reset_in
        self.remaining = limit
        self.reset_at = time.time() + reset_in

    def refresh(self, now: float) -> None:
        if now >= self.reset_at:
            self.remaining = self.limit
            self.reset_at = now + self.window

    def headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit": str(self.limit),
            "x-ratelimit-remaining": str(max(self.remaining, 0)),
            "x-ratelimit-used": str(self.limit - max(self.remaining, 0)),
            "x-ratelimit-reset": str(math.ceil(self.reset_at)),
            "x-ratelimit-resource": "core",
        }


class _Answer(Exception):
    """A finished JSON answer (raised from deep inside the routing code)."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def _error(status: int, message: str, doc: str = DOCS) -> _Answer:
    return _Answer(status, {"message": message, "documentation_url": doc, "status": str(status)})


def _not_found() -> _Answer:
    return _error(404, "Not Found")


def _iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_when(value: str, name: str) -> float:
    text = value.strip()
    # An un-encoded "+08:00" in a query string arrives as " 08:00".
    m = re.match(r"^(.*\d)\s+(\d\d:?\d\d)$", text)
    if m:
        text = f"{m.group(1)}+{m.group(2)}"
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        raise _error(400, f"Invalid value for parameter '{name}': {value!r}", DOCS_LIST_COMMITS)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def _int_param(query: dict[str, str], name: str, default: int) -> int:
    try:
        n = int(query.get(name, ""))
    except ValueError:
        return default
    return n if n >= 1 else default


class _Repo:
    """Read-only view of one local git repository through the git CLI."""

    def __init__(self, full_name: str, path: Path, default_branch: str | None) -> None:
        self.full_name = full_name
        self.owner, self.name = full_name.split("/", 1)
        self.path = Path(path)
        self._default_branch = default_branch
        self.id = int(hashlib.sha256(full_name.encode()).hexdigest()[:8], 16) % 900_000_000 + 1

    # -- git plumbing -------------------------------------------------------
    def git(self, *args: str, check: bool = True, stdin: bytes | None = None) -> bytes:
        cmd = [
            "git",
            "-c", "core.quotepath=false",
            "-c", "log.showSignature=false",
            "-c", "i18n.logOutputEncoding=UTF-8",
            "-C", str(self.path),
            *args,
        ]
        proc = subprocess.run(cmd, input=stdin, capture_output=True)
        if check and proc.returncode != 0:
            raise RuntimeError(
                f"{' '.join(cmd)} failed ({proc.returncode}): "
                + proc.stderr.decode("utf-8", "replace")
            )
        return proc.stdout if proc.returncode == 0 else b""

    def default_branch(self) -> str:
        if self._default_branch:
            return self._default_branch
        out = self.git("symbolic-ref", "--quiet", "--short", "HEAD", check=False).decode().strip()
        return out or "main"

    def is_empty(self) -> bool:
        return not self.git("for-each-ref", "--count=1", check=False).strip()

    def _rev_parse(self, name: str) -> str | None:
        out = self.git("rev-parse", "--verify", "--quiet", f"{name}^{{commit}}", check=False)
        return out.decode().strip() or None

    def resolve(self, ref: str) -> str | None:
        """Full commit SHA for a branch, tag, full or short SHA; None if unknown.

        Raises ``LookupError`` for an ambiguous short SHA.  Like git, a ref
        name wins over a short SHA that happens to look the same.
        """
        if not ref or ref.startswith("-") or any(c in ref for c in "\0\n\r :?*[\\^~") or ".." in ref or "@{" in ref:
            return None
        low = ref.lower()
        if _HEX_FULL.match(low):
            kind = self.git("cat-file", "-t", low, check=False).decode().strip()
            return low if kind == "commit" else None
        if ref == "HEAD":
            return self._rev_parse(f"refs/heads/{self.default_branch()}")
        candidates = [f"refs/heads/{ref}", f"refs/tags/{ref}"]
        if ref.startswith("refs/"):
            candidates.insert(0, ref)
        elif ref.startswith(("heads/", "tags/")):
            candidates.insert(0, f"refs/{ref}")
        for cand in candidates:
            sha = self._rev_parse(cand)
            if sha:
                return sha
        if _HEX_SHORT.match(low):
            objs = self.git("rev-parse", f"--disambiguate={low}", check=False).decode().split()
            if not objs:
                return None
            types = self.git(
                "cat-file", "--batch-check=%(objectname) %(objecttype)",
                stdin=("\n".join(objs) + "\n").encode(), check=False,
            ).decode().split("\n")
            commits = [t.split()[0] for t in types if t.endswith(" commit")]
            if len(commits) > 1:
                raise LookupError(ref)
            return commits[0] if commits else None
        return None

    # -- commits ------------------------------------------------------------
    _FMT = "%H%x1f%P%x1f%T%x1f%an%x1f%ae%x1f%at%x1f%cn%x1f%ce%x1f%ct%x1f%B"

    def log(self, tip: str) -> list[dict]:
        out = self.git("log", "-z", "--no-color", "--no-use-mailmap", f"--format={self._FMT}", tip, "--")
        commits = []
        for rec in out.split(b"\0"):
            if not rec.strip():
                continue
            commits.append(self._parse(rec))
        return commits

    def show(self, sha: str) -> dict:
        out = self.git("log", "-1", "-z", "--no-color", "--no-use-mailmap", f"--format={self._FMT}", sha, "--")
        return self._parse(out.rstrip(b"\0"))

    @staticmethod
    def _parse(rec: bytes) -> dict:
        text = rec.decode("utf-8", "replace").lstrip("\n")
        sha, parents, tree, an, ae, at, cn, ce, ct, msg = text.split("\x1f", 9)
        return {
            "sha": sha,
            "parents": parents.split(),
            "tree": tree,
            "author": (an, ae, int(at)),
            "committer": (cn, ce, int(ct)),
            "message": msg.rstrip("\n"),
        }

    def empty_tree(self) -> str:
        return self.git("hash-object", "-t", "tree", "/dev/null").decode().strip()

    def diff(self, sha: str, parents: list[str]) -> list[dict]:
        """Files changed by ``sha`` against its first parent (or the empty tree)."""
        base = parents[0] if parents else self.empty_tree()
        common = ["diff-tree", "-r", "-M", "--no-ext-diff", "--no-color", base, sha]
        raw = self.git(*common[:1], "-z", "--raw", "--no-abbrev", *common[1:])
        numstat = self.git(*common[:1], "-z", "--numstat", *common[1:])
        patch = self.git(*common[:1], "-p", "--no-textconv", *common[1:])

        files: list[dict] = []
        parts = raw.split(b"\0")
        i = 0
        while i < len(parts):
            head = parts[i]
            if not head.startswith(b":"):
                i += 1
                continue
            fields = head[1:].decode().split()
            old_mode, new_mode, old_sha, new_sha, status = fields[:5]
            letter = status[0]
            if letter in "RC":
                old_name = parts[i + 1].decode("utf-8", "replace")
                new_name = parts[i + 2].decode("utf-8", "replace")
                i += 3
            else:
                old_name = new_name = parts[i + 1].decode("utf-8", "replace")
                i += 2
            files.append({
                "letter": letter, "old": old_name, "new": new_name,
                "old_sha": old_sha, "new_sha": new_sha, "new_mode": new_mode,
                "additions": 0, "deletions": 0, "binary": False, "patch": None,
            })

        # numstat -z: "A\tD\tpath\0" or, for renames/copies, "A\tD\t\0old\0new\0".
        parts = numstat.split(b"\0")
        stats = []
        i = 0
        while i < len(parts):
            item = parts[i]
            if not item:
                i += 1
                continue
            a, d, rest = item.split(b"\t", 2)
            i += 1 if rest else 3
            stats.append((a, d))
        if len(stats) == len(files):
            for f, (a, d) in zip(files, stats):
                if a == b"-" or d == b"-":
                    f["binary"] = True
                else:
                    f["additions"], f["deletions"] = int(a), int(d)

        sections: list[list[bytes]] = []
        for line in patch.split(b"\n"):
            if line.startswith(b"diff --git "):
                sections.append([])
            elif sections:
                sections[-1].append(line)
        if len(sections) == len(files):
            for f, lines in zip(files, sections):
                start = next((k for k, ln in enumerate(lines) if ln.startswith(b"@@")), None)
                if start is None or f["binary"]:
                    continue
                body = lines[start:]
                while body and body[-1] == b"":
                    body.pop()
                f["patch"] = b"\n".join(body)
        return files


class GitHubServer:
    """GitHub REST API v3 double over local git repositories (see module doc)."""

    def __init__(
        self,
        repos: dict[str, Path],
        *,
        token: str | None = None,
        anonymous_limit: int = 60,
        token_limit: int = 5000,
        reset_in: float = 3600.0,
        exhausted_status: int = 403,
        max_patch_bytes: int = 1_000_000,
        files_per_page: int = 300,
        default_branch: str | None = None,
        latency: float = 0.0,
    ) -> None:
        self.latency = latency  # seconds added to every answer, like a round trip to api.github.com
        self.private_repos: set[str] = set()  # full names GitHub reports as private
        self._repos = {
            name.lower(): _Repo(name, Path(path), default_branch) for name, path in repos.items()
        }
        self.token = token
        self.exhausted_status = exhausted_status
        self.max_patch_bytes = max_patch_bytes
        self.files_per_page = max(1, files_per_page)
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._anon = _Bucket(anonymous_limit, reset_in)
        self._auth = _Bucket(token_limit, reset_in)
        self._injections: list[_Injection] = []
        self._log_cache: dict[tuple, list[dict]] = {}
        self._detail_cache: dict[tuple, tuple[dict, list[dict]]] = {}
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # -- lifecycle ----------------------------------------------------------
    def start(self) -> "GitHubServer":
        if self._httpd is not None:
            return self
        server = self

        class Handler(_Handler):
            owner = server

        self._httpd = _HTTPServer(("127.0.0.1", 0), Handler)
        self.url, self._thread = serve(self._httpd, "github-double")
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "GitHubServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- test controls ------------------------------------------------------
    def set_remaining(self, n: int, reset_in: float | None = None) -> None:
        """Set ``remaining`` of both buckets; ``reset_in`` moves their reset time."""
        with self._lock:
            for b in (self._anon, self._auth):
                b.remaining = max(0, min(n, b.limit))
                if reset_in is not None:
                    b.reset_at = time.time() + reset_in

    def inject(
        self,
        status: int,
        *,
        count: int = 1,
        headers: dict | None = None,
        body: dict | None = None,
        path_contains: str | None = None,
    ) -> None:
        """The next ``count`` requests whose target contains ``path_contains`` get this answer."""
        with self._lock:
            self._injections.append(
                _Injection(status, count, dict(headers or {}), body, path_contains)
            )

    def calls(self, path_contains: str = "") -> list[Recorded]:
        """Recorded requests (every status, 304 and injected included) whose path contains the text."""
        with self._lock:
            return [r for r in self.requests if path_contains in r.path or path_contains in r.raw_path]

    # -- request handling (called from handler threads) ----------------------
    def _authorize(self, auth: str) -> bool | None:
        """None: anonymous; True: valid credentials; False: bad credentials."""
        auth = auth.strip()
        if not auth:
            return None
        scheme, _, cred = auth.partition(" ")
        scheme, cred = scheme.lower(), cred.strip()
        if scheme == "basic":
            try:
                cred = base64.b64decode(cred).decode().partition(":")[2]
            except Exception:
                cred = ""
        if scheme not in ("bearer", "token", "basic") or not cred:
            return False
        return self.token is None or cred == self.token

    def _take_injection(self, target: str) -> _Injection | None:
        for inj in self._injections:
            if inj.path_contains is None or inj.path_contains in target or inj.path_contains in unquote(target):
                inj.count -= 1
                if inj.count <= 0:
                    self._injections.remove(inj)
                return inj
        return None

    def _handle(self, method: str, target: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if self.latency:
            time.sleep(self.latency)
        split = urlsplit(target)
        path = unquote(split.path)
        query_pairs = parse_qsl(split.query, keep_blank_values=True)
        query: dict[str, str] = {}
        for k, v in query_pairs:
            query.setdefault(k, v)
        rec = Recorded(method, path, query, headers, raw_path=target)
        authorized = self._authorize(headers.get("authorization", ""))
        bucket = self._anon if authorized is None else (self._auth if authorized else self._anon)
        with self._lock:
            self.requests.append(rec)
            inj = self._take_injection(target)
            now = time.time()
            self._anon.refresh(now)
            self._auth.refresh(now)
            bucket_headers = bucket.headers()

        if inj is not None:
            body = inj.body
            if body is None:
                try:
                    phrase = HTTPStatus(inj.status).phrase
                except ValueError:
                    phrase = "Error"
                body = {"message": phrase, "documentation_url": DOCS}
            lower = {k.lower() for k in inj.headers}
            hdrs = {k: v for k, v in bucket_headers.items() if k not in lower}
            hdrs.update({k: str(v) for k, v in inj.headers.items()})
            status, out_headers, payload = self._json(inj.status, body, hdrs)
            rec.status = status
            return status, out_headers, payload

        if authorized is False:
            status, out_headers, payload = self._json(
                401, {"message": "Bad credentials", "documentation_url": DOCS, "status": "401"},
                bucket_headers,
            )
            rec.status = status
            return status, out_headers, payload

        if method == "GET" and path.rstrip("/") == "/rate_limit":
            with self._lock:
                body = self._rate_limit_body(bucket)
                hdrs = bucket.headers()
            status, out_headers, payload = self._json(200, body, hdrs)
            rec.status = status
            return status, out_headers, payload

        with self._lock:
            if bucket.remaining <= 0:
                bucket.remaining = 0
                hdrs = bucket.headers()
                exhausted = True
            else:
                bucket.remaining -= 1  # reserved now so concurrent requests cannot overdraw
                exhausted = False
        if exhausted:
            status, out_headers, payload = self._json(
                self.exhausted_status, {"message": RATE_MESSAGE, "documentation_url": DOCS_RATE}, hdrs
            )
            rec.status = status
            return status, out_headers, payload

        host = headers.get("host") or self.url.removeprefix("http://")
        try:
            if method != "GET":
                raise _not_found()
            answer = self._route(path, split.path, query, query_pairs, f"http://{host}")
        except _Answer as a:
            answer = a
        except Exception:
            traceback.print_exc(file=sys.stderr)
            answer = _error(500, "Server Error")

        payload = json.dumps(answer.body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        etag = f'W/"{hashlib.sha256(payload).hexdigest()}"'
        inm = headers.get("if-none-match")
        if answer.status == 200 and inm and _etag_matches(inm, etag):
            with self._lock:
                bucket.remaining = min(bucket.limit, bucket.remaining + 1)  # 304s are free
                hdrs = bucket.headers()
            hdrs["ETag"] = etag
            rec.status = 304
            return 304, hdrs, b""

        with self._lock:
            hdrs = bucket.headers()
        hdrs.update(answer.headers)
        status, out_headers, payload = self._json(answer.status, answer.body, hdrs, payload)
        rec.status = status
        return status, out_headers, payload

    @staticmethod
    def _json(status: int, body: Any, headers: dict[str, str], payload: bytes | None = None):
        if payload is None:
            payload = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        out = {
            "Content-Type": "application/json; charset=utf-8",
            "ETag": f'W/"{hashlib.sha256(payload).hexdigest()}"',
            "X-GitHub-Media-Type": "github.v3; format=json",
            "X-GitHub-Request-Id": hashlib.sha1(payload + str(time.time()).encode()).hexdigest()[:16].upper(),
        }
        lower = {k.lower() for k in headers}
        out = {k: v for k, v in out.items() if k.lower() not in lower}
        out.update(headers)
        return status, out, payload

    def _rate_limit_body(self, bucket: _Bucket) -> dict:
        def res(b: _Bucket) -> dict:
            rem = max(b.remaining, 0)
            return {"limit": b.limit, "used": b.limit - rem, "remaining": rem,
                    "reset": math.ceil(b.reset_at)}
        core = res(bucket)
        return {"resources": {"core": core}, "rate": core}

    # -- routing ------------------------------------------------------------
    def _route(self, path: str, raw_path: str, query: dict[str, str],
               pairs: list[tuple[str, str]], base: str) -> _Answer:
        m = _REPO_PATH.match(path)
        if not m:
            raise _not_found()
        repo = self._repos.get(f"{m.group(1)}/{m.group(2)}".lower())
        if repo is None:
            raise _not_found()
        rest = (m.group(3) or "").rstrip("/")
        if rest == "":
            return _Answer(200, self._repo_body(repo, base))
        if rest == "/commits":
            return self._list_commits(repo, raw_path, query, pairs, base)
        if rest.startswith("/commits/"):
            return self._get_commit(repo, rest[len("/commits/"):], raw_path, query, pairs, base)
        if rest.startswith("/compare/"):
            return self._compare(repo, rest[len("/compare/"):], raw_path, query, pairs, base)
        if rest == "/branches":
            return self._list_branches(repo, raw_path, query, pairs, base)
        raise _not_found()

    def _list_branches(self, repo: _Repo, raw_path: str, query: dict[str, str],
                       pairs: list[tuple[str, str]], base: str) -> _Answer:
        """GET /repos/{owner}/{repo}/branches (DOCS_LIST_BRANCHES): name, commit {sha, url}, protected; paged
        by per_page (default 30, at most 100) with a Link header, in name order as GitHub lists them."""
        out = repo.git("for-each-ref", "--format=%(refname:short) %(objectname)", "refs/heads", check=False)
        branches = sorted(line.split(" ", 1) for line in out.decode().splitlines() if " " in line)
        per_page = min(_int_param(query, "per_page", DEFAULT_PER_PAGE), MAX_PER_PAGE)
        page = _int_param(query, "page", 1)
        chunk = branches[(page - 1) * per_page: page * per_page]
        last = max(1, math.ceil(len(branches) / per_page))
        api = f"{base}/repos/{repo.owner}/{repo.name}"
        body = [{"name": name, "commit": {"sha": sha, "url": f"{api}/commits/{sha}"}, "protected": False}
                for name, sha in chunk]
        return _Answer(200, body, _link_header(base, raw_path, pairs, page, last))

    def _repo_body(self, repo: _Repo, base: str) -> dict:
        o, r = repo.owner, repo.name
        return {
            "id": repo.id,
            "node_id": "R_" + base64.b64encode(f"010:Repository{repo.id}".encode()).decode().rstrip("="),
            "name": r,
            "full_name": repo.full_name,
            "owner": {"login": o, "type": "User", "url": f"{base}/users/{o}",
                      "html_url": f"https://github.com/{o}"},
            "private": repo.full_name in self.private_repos,
            "visibility": "private" if repo.full_name in self.private_repos else "public",
            "fork": False,
            "description": None,
            "html_url": f"https://github.com/{o}/{r}",
            "url": f"{base}/repos/{o}/{r}",
            "commits_url": f"{base}/repos/{o}/{r}/commits{{/sha}}",
            "default_branch": repo.default_branch(),
        }

    def _commit_body(self, repo: _Repo, c: dict, base: str) -> dict:
        o, r, sha = repo.owner, repo.name, c["sha"]
        api = f"{base}/repos/{o}/{r}"

        def person(p: tuple) -> dict:
            return {"name": p[0], "email": p[1], "date": _iso(p[2])}

        return {
            "sha": sha,
            "node_id": "C_" + base64.b64encode(f"06:Commit{repo.id}:{sha}".encode()).decode().rstrip("="),
            "commit": {
                "author": person(c["author"]),
                "committer": person(c["committer"]),
                "message": c["message"],
                "tree": {"sha": c["tree"], "url": f"{api}/git/trees/{c['tree']}"},
                "url": f"{api}/git/commits/{sha}",
                "comment_count": 0,
                "verification": {"verified": False, "reason": "unsigned", "signature": None,
                                 "payload": None, "verified_at": None},
            },
            "url": f"{api}/commits/{sha}",
            "html_url": f"https://github.com/{o}/{r}/commit/{sha}",
            "comments_url": f"{api}/commits/{sha}/comments",
            "author": None,
            "committer": None,
            "parents": [
                {"sha": p, "url": f"{api}/commits/{p}", "html_url": f"https://github.com/{o}/{r}/commit/{p}"}
                for p in c["parents"]
            ],
        }

    def _cached(self, cache: dict, key: tuple, compute):
        with self._lock:
            if key in cache:
                return cache[key]
        value = compute()
        with self._lock:
            if len(cache) >= _CACHE_SIZE:
                cache.pop(next(iter(cache)))
            cache[key] = value
        return value

    def _list_commits(self, repo: _Repo, raw_path: str, query: dict[str, str],
                      pairs: list[tuple[str, str]], base: str) -> _Answer:
        ref = query.get("sha", "")
        if not ref:
            if repo.is_empty():
                raise _error(409, "Git Repository is empty.", DOCS_LIST_COMMITS)
            ref = repo.default_branch()
        try:
            tip = repo.resolve(ref)
        except LookupError:
            tip = None
        if tip is None:
            if repo.is_empty():
                raise _error(409, "Git Repository is empty.", DOCS_LIST_COMMITS)
            raise _error(404, f"No commit found for SHA: {ref}", DOCS_LIST_COMMITS)
        since = _parse_when(query["since"], "since") if query.get("since") else None
        until = _parse_when(query["until"], "until") if query.get("until") else None
        per_page = min(_int_param(query, "per_page", DEFAULT_PER_PAGE), MAX_PER_PAGE)
        page = _int_param(query, "page", 1)

        commits = self._cached(self._log_cache, (str(repo.path), tip), lambda: repo.log(tip))
        selected = [
            c for c in commits
            if (since is None or c["committer"][2] >= since) and (until is None or c["committer"][2] <= until)
        ]
        chunk = selected[(page - 1) * per_page: page * per_page]
        last = max(1, math.ceil(len(selected) / per_page))
        body = [self._commit_body(repo, c, base) for c in chunk]
        return _Answer(200, body, _link_header(base, raw_path, pairs, page, last))

    def _get_commit(self, repo: _Repo, ref: str, raw_path: str, query: dict[str, str],
                    pairs: list[tuple[str, str]], base: str) -> _Answer:
        unknown = _error(422, f"No commit found for SHA: {ref}", DOCS_GET_COMMIT)
        try:
            sha = repo.resolve(ref)
        except LookupError:
            raise unknown
        if sha is None:
            if repo.is_empty():
                raise _error(409, "Git Repository is empty.", DOCS_GET_COMMIT)
            raise unknown

        def compute():
            c = repo.show(sha)
            return c, repo.diff(sha, c["parents"])

        commit, files = self._cached(self._detail_cache, (str(repo.path), sha), compute)
        adds = sum(f["additions"] for f in files)
        dels = sum(f["deletions"] for f in files)
        body = self._commit_body(repo, commit, base)
        body["stats"] = {"total": adds + dels, "additions": adds, "deletions": dels}

        listed = files[:MAX_FILES]
        page = _int_param(query, "page", 1)
        per = self.files_per_page
        last = max(1, math.ceil(len(listed) / per))
        body["files"] = [self._file_body(repo, sha, f, base) for f in listed[(page - 1) * per: page * per]]
        return _Answer(200, body, _link_header(base, raw_path, pairs, page, last))

    def _compare(self, repo: _Repo, basehead: str, raw_path: str, query: dict[str, str],
                 pairs: list[tuple[str, str]], base: str) -> _Answer:
        """`git log BASE..HEAD` (oldest first) and the diff from their merge base to HEAD, as GitHub answers."""
        left, sep, right = basehead.partition("...")
        if not sep or not left or not right:
            raise _not_found()
        try:
            base_sha, head_sha = repo.resolve(left), repo.resolve(right)
        except LookupError:
            base_sha = head_sha = None
        if base_sha is None or head_sha is None:
            raise _error(404, "Not Found", DOCS_COMPARE)

        def compute() -> tuple[str, list[str], int, list[dict]]:
            merge_base = repo.git("merge-base", base_sha, head_sha).decode().strip()
            ahead = repo.git("rev-list", "--reverse", f"{base_sha}..{head_sha}", "--").decode().split()
            behind = len(repo.git("rev-list", f"{head_sha}..{base_sha}", "--").decode().split())
            return merge_base, ahead, behind, repo.diff(head_sha, [merge_base])

        merge_base, ahead, behind, files = self._cached(self._detail_cache, ("compare", str(repo.path), base_sha,
                                                                              head_sha), compute)
        per = min(_int_param(query, "per_page", COMPARE_PER_PAGE), COMPARE_PER_PAGE)
        page = _int_param(query, "page", 1)
        last = max(1, math.ceil(len(ahead) / per))
        status = ("identical" if not ahead and not behind else "ahead" if not behind
                  else "behind" if not ahead else "diverged")
        o, r = repo.owner, repo.name
        body = {
            "url": f"{base}/repos/{o}/{r}/compare/{left}...{right}",
            "html_url": f"https://github.com/{o}/{r}/compare/{left}...{right}",
            "base_commit": self._commit_body(repo, repo.show(base_sha), base),
            "merge_base_commit": self._commit_body(repo, repo.show(merge_base), base),
            "status": status,
            "ahead_by": len(ahead),
            "behind_by": behind,
            "total_commits": len(ahead),
            "commits": [self._commit_body(repo, repo.show(sha), base) for sha in ahead[(page - 1) * per: page * per]],
            "files": [self._file_body(repo, head_sha, f, base) for f in files[:MAX_COMPARE_FILES]] if page == 1 else [],
        }
        return _Answer(200, body, _link_header(base, raw_path, pairs, page, last))

    def _file_body(self, repo: _Repo, sha: str, f: dict, base: str) -> dict:
        o, r = repo.owner, repo.name
        status = {"A": "added", "D": "removed", "M": "modified", "R": "renamed",
                  "C": "copied", "T": "changed"}.get(f["letter"], "changed")
        name = f["new"]
        qname = quote(name, safe="/")
        out: dict[str, Any] = {
            "sha": None if status == "removed" else f["new_sha"],
            "filename": name,
            "status": status,
            "additions": f["additions"],
            "deletions": f["deletions"],
            "changes": f["additions"] + f["deletions"],
            "blob_url": f"https://github.com/{o}/{r}/blob/{sha}/{qname}",
            "raw_url": f"https://github.com/{o}/{r}/raw/{sha}/{qname}",
            "contents_url": f"{base}/repos/{o}/{r}/contents/{qname}?ref={sha}",
        }
        patch = f["patch"]
        if patch is not None and len(patch) <= self.max_patch_bytes:
            out["patch"] = patch.decode("utf-8", "replace")
        if status in ("renamed", "copied"):
            out["previous_filename"] = f["old"]
        return out


def _etag_matches(header: str, etag: str) -> bool:
    def norm(t: str) -> str:
        t = t.strip()
        return t[2:] if t.startswith(("W/", "w/")) else t

    want = norm(etag)
    return any(part.strip() == "*" or norm(part) == want for part in header.split(","))


def _link_header(base: str, raw_path: str, pairs: list[tuple[str, str]], page: int, last: int) -> dict[str, str]:
    def url(p: int) -> str:
        params, seen = [], False
        for k, v in pairs:
            if k == "page":
                if not seen:
                    params.append((k, str(p)))
                    seen = True
            else:
                params.append((k, v))
        if not seen:
            params.append(("page", str(p)))
        return f"{base}{raw_path}?{urlencode(params)}"

    links = []
    if page > 1:
        links.append(f'<{url(page - 1)}>; rel="prev"')
    if page < last:
        links.append(f'<{url(page + 1)}>; rel="next"')
        links.append(f'<{url(last)}>; rel="last"')
    if page > 1:
        links.append(f'<{url(1)}>; rel="first"')
    return {"Link": ", ".join(links)} if links else {}


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default 5 drops SYNs under concurrent clients (1 s retries)


class _Handler(BaseHTTPRequestHandler):
    owner: GitHubServer
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # no delayed-ACK wait between headers and body, as real servers

    def version_string(self) -> str:
        return "GitHub.com"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, out, payload = self.owner._handle(self.command, self.path, headers)
        self.send_response(status)
        for k, v in out.items():
            self.send_header(k, v)
        if status != 304:
            self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if status != 304 and self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve
