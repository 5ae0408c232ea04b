"""Commits from the GitHub REST API (or GitHub Enterprise) through one requests.Session.

Pages are followed through `Link: rel="next"` (never built by hand); answers are cached with their ETag so a
repeated request is conditional and a 304 costs neither rate limit nor download. An exhausted rate limit is
waited out when the reset is near, otherwise reported with the reset time and how to raise the limit.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import requests

from digest import merges
from core.errors import BadInput, CommitNotFound, RateLimited, RepoNotFound, SourceError
from core.models import Commit, FileChange, RepoRef
from digest.sources import LISTING_MARGIN_DAYS, in_window, split_message
from storage import http_cache
from storage.db import PerThread

log = logging.getLogger(__name__)

DEFAULT_API_URL = "https://api.github.com"
COMPARE_FILES_CAP = 300  # a comparison lists at most 300 files (docs: compare two commits): beyond, unknown
USER_AGENT = "commit-radar/1.0"


class NotFound(Exception):
    """GitHub answered 404 or 422 (no such repository, branch or commit)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Page:
    data: Any
    next_url: str | None


def web_url_for(api_url: str) -> str:
    """https://api.github.com -> https://github.com; https://ghe.example.com/api/v3 -> https://ghe.example.com."""
    parts = urlsplit(api_url)
    if parts.hostname == "api.github.com":
        return "https://github.com"
    return f"{parts.scheme}://{parts.hostname}{':' + str(parts.port) if parts.port else ''}"  # no user:password


class GitHubClient:
    def __init__(self, db: Any, *, api_url: str = DEFAULT_API_URL, token: str | None = None,
                 timeout: tuple[float, float] = (10.0, 60.0), max_wait: float = 60.0, retries: int = 3,
                 backoff: float = 1.0, sleep: Callable[[float], None] = time.sleep,
                 now: Callable[[], float] = time.time) -> None:
        self._dbs = PerThread(db)  # one client serves every thread of a long-running bot
        self.api_url = api_url.rstrip("/")
        self.has_token = bool(token)
        self.timeout = timeout
        self.max_wait = max_wait
        self.retries = retries
        self.backoff = backoff
        self.sleep = sleep
        self.now = now
        self.session = requests.Session()
        self.session.headers.update({"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28",
                                     "User-Agent": USER_AGENT})
        if token:
            self.session.headers["Authorization"] = f"Bearer {token}"
        self.calls = 0  # answers that were downloaded (200), for tests and benchmarks
        self._count = threading.Lock()  # details are fetched from a few threads at once

    @property
    def db(self) -> Any:
        return self._dbs.get()

    @property
    def host(self) -> str:
        """The API host without any user:password part, for messages."""
        parts = urlsplit(self.api_url)
        return f"{parts.hostname}{':' + str(parts.port) if parts.port else ''}"

    def url(self, path: str) -> str:
        return f"{self.api_url}{path}"

    def get(self, url: str, params: dict[str, Any] | None = None, *, cache: bool = True) -> Page:
        """One GET; `cache=False` for answers stored elsewhere (commit details live in the commits table)."""
        full = requests.Request("GET", url, params=params).prepare().url or url
        cached = http_cache.cached(self.db, full) if cache else None
        headers = {"If-None-Match": cached.etag} if cached else {}
        for attempt in range(self.retries + 1):
            try:
                resp = self.session.get(full, headers=headers, timeout=self.timeout)
            except requests.RequestException as err:  # the text may quote headers: never shown
                if attempt < self.retries and not isinstance(err, (requests.exceptions.InvalidHeader,
                                                                    requests.exceptions.InvalidURL)):
                    self.sleep(self.backoff * 2**attempt)
                    continue
                kind = "timed out" if isinstance(err, requests.Timeout) else f"failed ({type(err).__name__})"
                raise SourceError(f"GitHub API at {self.host} {kind}") from None
            if resp.status_code == 304 and cached:
                return Page(json.loads(cached.body), _next(cached.link))
            if resp.status_code == 200:
                with self._count:
                    self.calls += 1
                link = resp.headers.get("Link")
                if cache and (etag := resp.headers.get("ETag")):
                    http_cache.store(self.db, full, etag, resp.text, link)
                return Page(resp.json(), _next(link))
            if resp.status_code in (404, 422):
                raise NotFound(resp.status_code, _message(resp))
            if resp.status_code == 401:
                raise SourceError("GitHub rejected GITHUB_TOKEN (401 Bad credentials): check or remove it")
            if resp.status_code in (403, 429):
                wait = self._limit_wait(resp)
                if wait is None:
                    raise SourceError(f"GitHub refused the request (HTTP {resp.status_code}): {_message(resp)}")
                if wait > self.max_wait or attempt == self.retries:
                    raise self._limited(resp)
                log.warning("GitHub rate limit: waiting %.0f s", wait)
                self.sleep(wait)
                continue
            if resp.status_code >= 500 and attempt < self.retries:
                self.sleep(self.backoff * 2**attempt)
                continue
            raise SourceError(f"GitHub answered HTTP {resp.status_code}: {_message(resp)}")
        raise SourceError("GitHub did not answer after retries")  # pragma: no cover - the loop always returns

    def _limit_wait(self, resp: requests.Response) -> float | None:
        """Seconds to wait for a rate-limit answer; None when the 403 is not about rate limits."""
        if (after := resp.headers.get("retry-after")) is not None:
            try:
                return max(float(after), 0.0)
            except ValueError:
                return 60.0
        if resp.headers.get("x-ratelimit-remaining") == "0":
            reset = float(resp.headers.get("x-ratelimit-reset", self.now() + 3600))
            return max(reset - self.now(), 0.0) + 1.0
        return None

    def _limited(self, resp: requests.Response) -> RateLimited:
        reset_header = resp.headers.get("x-ratelimit-reset")
        reset = datetime.fromtimestamp(float(reset_header), timezone.utc) if reset_header else None
        limit = resp.headers.get("x-ratelimit-limit", "?")
        when = f"; it resets at {reset:%Y-%m-%d %H:%M} UTC" if reset else ""
        hint = ("" if self.has_token else
                " Set GITHUB_TOKEN (5000 requests an hour instead of 60), or read a local clone with --git or GIT_CLONES.")
        return RateLimited(f"GitHub API rate limit exhausted ({limit} requests an hour){when}.{hint}", reset)

    def pages(self, url: str, params: dict[str, Any] | None = None, *, cache: bool = True) -> Iterator[Any]:
        page = self.get(url, params, cache=cache)
        yield page.data
        while page.next_url:
            url = self._own(urljoin(url, page.next_url))
            page = self.get(url, cache=cache)
            yield page.data

    def _own(self, url: str) -> str:
        """A next page on the API's own scheme, host and port; anywhere else the token would follow: refused."""
        if _origin(url) != _origin(self.api_url):
            raise SourceError(f"GitHub API at {self.host} pointed its next page to another host ({_where(url)}); "
                              "not followed")
        return url


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"https": 443, "http": 80}.get(scheme)
    except ValueError:  # a port that is not a number
        port = -1
    return scheme, (parts.hostname or "").lower(), port


def _where(url: str) -> str:
    """scheme://host:port of a URL, never its user:password part."""
    scheme, host, port = _origin(url)
    return f"{scheme[:10]}://{host[:100] or '?'}{f':{port}' if port not in (None, -1) else ''}"


def _next(link: str | None) -> str | None:
    if not link:
        return None
    for item in requests.utils.parse_header_links(link):
        if item.get("rel") == "next":
            return item.get("url")
    return None


def _message(resp: requests.Response) -> str:
    try:
        return str(resp.json().get("message", ""))[:200]
    except ValueError:
        return resp.reason or ""


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(timezone.utc)


def _z(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def commit_from_api(repo: str, item: dict[str, Any], files: list[dict[str, Any]] | None = None) -> Commit:
    """The one conversion from GitHub's commit JSON to our Commit (files only for the detail endpoint)."""
    meta = item["commit"]
    title, message = split_message(meta.get("message") or "")
    changes = tuple(_file_from_api(f) for f in files) if files is not None else ()
    stats = item.get("stats") or {}
    return Commit(
        repo=repo,
        sha=item["sha"],
        title=title,
        message=message,
        author=(meta.get("author") or {}).get("name") or "unknown",
        authored_at=_time(meta["author"]["date"]) if (meta.get("author") or {}).get("date") else None,
        committed_at=_time(meta["committer"]["date"]),
        parents=tuple(p["sha"] for p in item.get("parents", [])),
        url=item.get("html_url"),
        additions=int(stats.get("additions", sum(c.additions for c in changes))),
        deletions=int(stats.get("deletions", sum(c.deletions for c in changes))),
        files=changes,
        files_total=len(changes) if files is not None else None,
    )


def _file_from_api(f: dict[str, Any]) -> FileChange:
    patch = f.get("patch")
    binary = patch is None and not f.get("changes") and f.get("status") != "removed"
    note = None if patch is not None else ("binary file" if binary else "patch not provided by GitHub (too large)")
    return FileChange(path=f["filename"], status=f.get("status", "modified"), additions=int(f.get("additions", 0)),
                      deletions=int(f.get("deletions", 0)), patch=patch, previous_path=f.get("previous_filename"),
                      binary=binary, note=note)


class GitHubSource:
    detail_workers = 4  # one HTTP round trip per commit: overlap a few, well under GitHub's concurrency limits

    def __init__(self, repo: RepoRef, client: GitHubClient) -> None:
        self.repo = repo
        self.client = client
        owner, name = repo.name.split("/")
        self.base = client.url(f"/repos/{quote(owner)}/{quote(name)}")

    def fetch(self) -> str | None:
        return None

    def branch(self, requested: str | None) -> str:
        if requested:
            if requested.startswith("-") or ".." in requested or any(ch.isspace() for ch in requested):
                raise BadInput(f"not a branch name: {requested!r}")
            return requested
        try:
            return str(self.client.get(self.base).data["default_branch"])
        except NotFound:
            hint = "" if self.client.has_token else " (a private repository needs GITHUB_TOKEN)"
            raise RepoNotFound(f"repository {self.repo.name} not found on GitHub{hint}") from None

    def branches(self) -> list[str]:
        """Every branch's name (GET /repos/{owner}/{repo}/branches, followed through its pages)."""
        return [str(b["name"]) for page in self.client.pages(f"{self.base}/branches", {"per_page": 100}, cache=False)
                for b in page]

    def is_private(self) -> bool:
        """Whether GitHub reports the repository as private (the token may reach what a channel must not see)."""
        try:
            return bool(self.client.get(self.base).data.get("private", False))
        except NotFound:
            hint = "" if self.client.has_token else " (a private repository needs GITHUB_TOKEN)"
            raise RepoNotFound(f"repository {self.repo.name} not found on GitHub{hint}") from None

    def _list(self, params: dict[str, Any], branch: str) -> Iterator[Commit]:
        try:
            for page in self.client.pages(f"{self.base}/commits", params):
                for item in page:
                    yield commit_from_api(self.repo.name, item)
        except NotFound:
            self.branch(None)  # raises RepoNotFound when the repository itself is missing
            raise BadInput(f"no branch {branch!r} in {self.repo.name}") from None

    def commits_between(self, branch: str, start: datetime, end: datetime) -> list[Commit]:
        margin = timedelta(days=LISTING_MARGIN_DAYS)
        params = {"sha": branch, "since": _z(start - margin), "until": _z(end + margin), "per_page": 100}
        return in_window(list(self._list(params, branch)), start, end)

    def latest_commit_time(self, branch: str) -> datetime | None:
        page: list[dict[str, Any]] = next(self.client.pages(f"{self.base}/commits", {"sha": branch, "per_page": 30}), [])
        return max((commit_from_api(self.repo.name, item).committed_at for item in page), default=None)

    def _fetch(self, sha: str) -> Commit:
        """A commit with all its file pages; NotFound when GitHub has no such repository or commit."""
        pages = list(self.client.pages(f"{self.base}/commits/{quote(sha)}", cache=False))
        files = [f for page in pages for f in page.get("files", [])]
        return commit_from_api(self.repo.name, pages[0], files)

    def details(self, commit: Commit) -> Commit:
        """Runs in a worker thread: touches neither the database nor the ETag cache."""
        try:
            return self._fetch(commit.sha)
        except NotFound:
            raise SourceError(f"GitHub listed {commit.short_sha} in {self.repo.name} but cannot return it") from None

    def commit(self, sha: str) -> Commit:
        try:
            return self._fetch(sha)
        except NotFound as err:
            if err.status == 404:
                self.branch(None)  # raises RepoNotFound when the repository itself is missing
            raise CommitNotFound(f"no commit {sha} in {self.repo.name}") from None

    # -- merges (issue 8) ------------------------------------------------------------------------------------

    def _compare(self, base: str, head: str) -> tuple[list[str], list[FileChange]]:
        """`compare/{base}...{head}`: the commits in head and not in base (oldest first, every page) and the
        files changed since their merge base (listed on the first page only, at most 300)."""
        shas: list[str] = []
        files: list[FileChange] = []
        url = f"{self.base}/compare/{quote(base)}...{quote(head)}"
        try:
            for number, page in enumerate(self.client.pages(url, {"per_page": 100}, cache=False)):
                shas += [item["sha"] for item in page.get("commits", [])]
                if number == 0:
                    files = [_file_from_api(f) for f in page.get("files") or []]
        except NotFound:
            raise SourceError(f"GitHub cannot compare {base[:7]} with {head[:7]} in {self.repo.name}") from None
        return shas, files

    def merged_commits(self, merge: Commit, listed: Sequence[Commit]) -> tuple[str, ...]:
        """From the listing and each commit's `parents` when the branch is in it; else one comparison."""
        if not merge.is_merge:
            return ()
        if (found := merges.merged_within(merge, listed)) is not None:
            return found
        brought: list[str] = []
        for parent in merge.parents[1:]:
            shas, _ = self._compare(merge.parents[0], parent)
            brought += [s for s in reversed(shas) if s not in brought]  # newest first, like the listing
        return tuple(brought)

    def own_changes(self, merge: Commit) -> tuple[FileChange, ...] | None:
        if not merge.is_merge:
            return ()
        diffs = [self._compare(parent, merge.sha)[1] for parent in merge.parents]
        if any(len(files) >= COMPARE_FILES_CAP for files in diffs):
            return None  # the list may be cut: whether the merge has changes of its own cannot be told
        return merges.own_changes(diffs[0], diffs[1:])
