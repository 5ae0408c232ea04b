"""Commits from a local clone (normal, bare, mirror, no checkout) through the `git` CLI."""

from __future__ import annotations

import logging
import os
import re
import subprocess
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

from digest import merges
from core.errors import AmbiguousSha, BadInput, CommitNotFound, SourceError
from core.models import Commit, FileChange, RepoRef
from digest.sources import LISTING_MARGIN_DAYS, in_window, split_message

log = logging.getLogger(__name__)

_FIELDS = ("%H", "%P", "%an", "%aI", "%cI", "%B")
_FORMAT = "%x00".join(_FIELDS)  # with -z: NUL between fields and between commits; a message cannot hold NUL
_GITHUB_REMOTE = re.compile(r"github\.com[:/]+([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+?)(?:\.git)?/?$")
MAX_PATCH_BYTES = 1_000_000  # like GitHub, a larger per-file patch is recorded as unavailable
MAX_FALLBACK_FILES = 300
_REPO_ENV = {"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES",
             "GIT_COMMON_DIR", "GIT_NAMESPACE", "GIT_CEILING_DIRECTORIES"}
_FULL_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_SHA_PREFIX = re.compile(r"[0-9a-fA-F]{4,40}")
_DIFF_START = re.compile(r"^(?=diff --git )", re.M)


def github_name(remote_url: str) -> str | None:
    match = _GITHUB_REMOTE.search(remote_url.strip())
    return f"{match.group(1)}/{match.group(2)}" if match else None


def describe_clone(path: Path, name: str | None = None, fetch: bool = False, timeout: float = 60.0) -> RepoRef:
    """A RepoRef for a clone; its name comes from `name`, else its GitHub remote, else `local/<dir>`."""
    try:
        path = path.expanduser().resolve()
    except RuntimeError:  # ~nosuchuser
        raise BadInput(f"cannot expand the path {path}") from None
    if not path.exists():
        raise BadInput(f"no such directory: {path}")
    probe = _run(path, ["rev-parse", "--git-dir"], timeout=timeout, check=False)
    if probe.returncode != 0:
        raise BadInput(f"not a git repository: {path}")
    if name is None:
        remote = _run(path, ["config", "--get", "remote.origin.url"], timeout=timeout, check=False)
        name = github_name(remote.stdout.decode("utf-8", "replace")) if remote.returncode == 0 else None
        web = f"https://github.com/{name}" if name else None
        name = name or f"local/{path.name.removesuffix('.git') or 'repo'}"
    else:
        web = f"https://github.com/{name}"
    return RepoRef(name=name, clone=path, fetch=fetch, web_url=web)


def _run(path: Path, args: list[str], *, timeout: float, check: bool = True,
         input_: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in _REPO_ENV}  # they would override -C path
    env.update({"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "GIT_PAGER": "cat"})
    cmd = ["git", "-C", str(path), "-c", "core.quotepath=false", "-c", "i18n.logOutputEncoding=UTF-8",
           "-c", "log.showSignature=false", *args]
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=timeout, env=env, input=input_)
    except subprocess.TimeoutExpired:
        raise SourceError(f"git {args[0]} took longer than {timeout:.0f} s in {path}") from None
    except FileNotFoundError:
        raise SourceError("git is not installed or not on PATH") from None
    if check and done.returncode != 0:
        raise SourceError(f"git {args[0]} failed in {path}: {_first_line(done.stderr)}")
    return done


def _first_line(stderr: bytes) -> str:
    text = stderr.decode("utf-8", "replace").strip()
    return text.splitlines()[-1] if text else "no error message"


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.strip()).astimezone(timezone.utc)


class GitSource:
    detail_workers = 1  # measured: on 2 cores parallel git subprocesses slowed a 100-commit digest (1.38 -> 1.59)

    def __init__(self, repo: RepoRef, *, timeout: float = 120.0) -> None:
        if repo.clone is None:
            raise ValueError("GitSource needs a clone path")
        self.repo = repo
        self.path = repo.clone
        self.timeout = timeout

    def _git(self, *args: str, check: bool = True, input_: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        return _run(self.path, list(args), timeout=self.timeout, check=check, input_=input_)

    def is_private(self) -> bool:
        return True  # what a clone holds (a private repository's history?) only the operator knows: they allow it

    def fetch(self) -> str | None:
        """`git fetch`; a failure is a warning (returned) and the clone is read as it is."""
        done = self._git("fetch", "--quiet", "--prune", check=False)
        if done.returncode != 0:
            warning = f"git fetch failed for {self.repo.name}, reading the clone as it is: {_first_line(done.stderr)}"
            log.warning(warning)
            return warning
        return None

    def _ref_exists(self, ref: str) -> bool:
        return self._git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False).returncode == 0

    def branch(self, requested: str | None) -> str:
        if requested:
            if requested.startswith("-") or ".." in requested:
                raise BadInput(f"not a branch name: {requested!r}")
            candidates = [f"refs/remotes/origin/{requested}", requested] if self.repo.fetch else [
                requested, f"refs/remotes/origin/{requested}"]
            for ref in candidates:
                if self._ref_exists(ref):
                    return ref
            raise BadInput(f"no branch {requested!r} in {self.repo.name}")
        head = "HEAD"
        if self.repo.fetch and self._ref_exists("refs/remotes/origin/HEAD"):
            head = "refs/remotes/origin/HEAD"  # a fetched clone's HEAD may be stale; origin's is not
        elif not self._ref_exists("HEAD"):
            raise BadInput(f"{self.repo.name} has no commits")
        named = self._git("symbolic-ref", "-q", head, check=False)  # the branch's own name, for people
        return named.stdout.decode().strip() if named.returncode == 0 else head

    def branches(self) -> list[str]:
        """The clone's branches by name: its own, and origin's (`origin/x` read as `x`) once it fetches."""
        out = self._git("for-each-ref", "--format=%(refname)", "refs/heads", "refs/remotes/origin").stdout.decode()
        names = []
        for ref in out.splitlines():
            name = ref.removeprefix("refs/heads/").removeprefix("refs/remotes/origin/")
            if name != "HEAD" and name not in names:
                names.append(name)
        return sorted(names)

    def _log(self, *args: str) -> list[Commit]:
        out = self._git("log", "-z", f"--format={_FORMAT}", *args).stdout.decode("utf-8", "replace")
        tokens = out.split("\0")
        commits = []
        for i in range(0, len(tokens) - len(_FIELDS) + 1, len(_FIELDS)):
            sha, parents, author, authored, committed, message = tokens[i : i + len(_FIELDS)]
            if not _FULL_SHA.fullmatch(sha.strip()):
                raise SourceError(f"unexpected git log output in {self.path}: check the clone's log settings")
            title, body = split_message(message)
            commits.append(
                Commit(
                    repo=self.repo.name,
                    sha=sha.strip(),
                    title=title,
                    message=body,
                    author=author,
                    authored_at=_parse_time(authored),
                    committed_at=_parse_time(committed),
                    parents=tuple(parents.split()),
                    url=f"{self.repo.web_url}/commit/{sha.strip()}" if self.repo.web_url else None,
                )
            )
        return commits

    def commits_between(self, branch: str, start: datetime, end: datetime) -> list[Commit]:
        # --since stops walking at the first old-dated commit and can miss newer ones behind it;
        # --since-as-filter (git >= 2.37) walks everything reachable and only filters.
        since = (start - timedelta(days=LISTING_MARGIN_DAYS)).isoformat()
        try:
            listed = self._log(f"--since-as-filter={since}", branch, "--")
        except SourceError as err:
            if "since-as-filter" not in str(err):
                raise
            listed = self._log(branch, "--")  # git < 2.37: read the whole history, then filter
        return in_window(listed, start, end)

    def latest_commit_time(self, branch: str) -> datetime | None:
        recent = self._log("-n", "50", branch, "--")
        return max((c.committed_at for c in recent), default=None)

    def resolve(self, sha: str) -> str:
        """The one commit whose SHA starts with `sha` (a branch or tag of that name does not count)."""
        if not _SHA_PREFIX.fullmatch(sha):
            raise CommitNotFound(f"no commit {sha} in {self.repo.name}")
        found = self._git("rev-parse", f"--disambiguate={sha.lower()}", check=False).stdout.decode().split()
        if found:
            kinds = self._git("cat-file", "--batch-check=%(objecttype)",
                              input_=("\n".join(found) + "\n").encode()).stdout.decode().split()
            found = [obj for obj, kind in zip(found, kinds) if kind == "commit"]
        if len(found) > 1:
            raise AmbiguousSha(f"{sha} is ambiguous in {self.repo.name}: give more hex digits")
        if not found:
            raise CommitNotFound(f"no commit {sha} in {self.repo.name}")
        return found[0]

    def commit(self, sha: str) -> Commit:
        return self.details(self._log("-n", "1", self.resolve(sha), "--")[0])

    def details(self, commit: Commit) -> Commit:
        files = self._files(commit.sha, commit.parents[0] if commit.parents else None)
        return replace(commit, files=tuple(files), files_total=len(files),
                       additions=sum(f.additions for f in files), deletions=sum(f.deletions for f in files))

    def merged_commits(self, merge: Commit, listed: Sequence[Commit]) -> tuple[str, ...]:
        if not merge.is_merge:
            return ()
        out = self._git("rev-list", *merge.parents[1:], f"^{merge.parents[0]}", "--").stdout.decode()
        return tuple(out.split())

    def own_changes(self, merge: Commit) -> tuple[FileChange, ...] | None:
        """Like `git diff-tree --cc`, through the one function the GitHub source uses too."""
        if not merge.is_merge:
            return ()
        first = self._files(merge.sha, merge.parents[0])
        return merges.own_changes(first, [self._files(merge.sha, p) for p in merge.parents[1:]])

    # -- files -------------------------------------------------------------------------------------------

    def _diff(self, span: list[str], output: str, *paths: str) -> subprocess.CompletedProcess[bytes]:
        """`git diff-tree` of `span` (parent..sha, or --root sha) as --name-status, --numstat or -p."""
        shape = ["-p", "--no-color", "--no-ext-diff"] if output == "-p" else ["-z", output]
        return self._git("diff-tree", "-r", "-M", "--no-commit-id", *shape, *span, "--", *paths, check=False)

    def _files(self, sha: str, parent: str | None) -> list[FileChange]:
        span = [parent, sha] if parent else ["--root", sha]
        listed = self._diff(span, "--name-status")  # trees only: works even when blobs are missing
        if listed.returncode != 0:
            log.warning("%s: cannot list the files of %s: %s", self.repo.name, sha[:7], _first_line(listed.stderr))
            return []
        names = _parse_name_status(listed.stdout)
        numstat, patches = self._diff(span, "--numstat"), self._diff(span, "-p")
        if numstat.returncode == 0 and patches.returncode == 0:
            counts = _parse_numstat(numstat.stdout)
            chunks = _split_patch(patches.stdout)
            if len(counts) == len(names) == len(chunks):
                return [_file(n, c, p) for n, c, p in zip(names, counts, chunks)]
        # Some object is missing (shallow or partial clone): go file by file so one gap loses one patch.
        return [self._one_file(span, n, i < MAX_FALLBACK_FILES) for i, n in enumerate(names)]

    def _one_file(self, span: list[str], name: tuple[str, str, str | None], try_patch: bool) -> FileChange:
        status, path, previous = name
        paths = [p for p in (previous, path) if p]
        if try_patch:
            numstat, patch = self._diff(span, "--numstat", *paths), self._diff(span, "-p", *paths)
            if numstat.returncode == 0 and patch.returncode == 0:
                counts, chunks = _parse_numstat(numstat.stdout), _split_patch(patch.stdout)
                if len(counts) == 1 and len(chunks) == 1:
                    return _file(name, counts[0], chunks[0])
        return FileChange(path=path, status=status, additions=0, deletions=0, patch=None, previous_path=previous,
                          note="unavailable: an object is missing from the clone")


_STATUS = {"A": "added", "D": "removed", "M": "modified", "R": "renamed", "C": "copied", "T": "changed"}


def _parse_name_status(raw: bytes) -> list[tuple[str, str, str | None]]:
    parts = raw.decode("utf-8", "replace").split("\0")
    out: list[tuple[str, str, str | None]] = []
    i = 0
    while i < len(parts) and parts[i]:
        letter = parts[i][0]
        if letter in "RC":
            out.append((_STATUS[letter], parts[i + 2], parts[i + 1]))
            i += 3
        else:
            out.append((_STATUS.get(letter, "modified"), parts[i + 1], None))
            i += 2
    return out


def _parse_numstat(raw: bytes) -> list[tuple[int, int, bool]]:
    """(additions, deletions, binary) per file, in diff order."""
    parts = raw.decode("utf-8", "replace").split("\0")
    out, i = [], 0
    while i < len(parts) and parts[i]:
        added, deleted, path = parts[i].split("\t", 2)
        binary = added == "-"
        out.append((0 if binary else int(added), 0 if binary else int(deleted), binary))
        i += 3 if path == "" else 1  # a rename is "a\td\t" NUL old NUL new
    return out


def _split_patch(raw: bytes) -> list[str]:
    text = raw.decode("utf-8", "replace")
    chunks = _DIFF_START.split(text)
    return [c for c in chunks if c.startswith("diff --git ")]


def _file(name: tuple[str, str, str | None], counts: tuple[int, int, bool], chunk: str) -> FileChange:
    status, path, previous = name
    additions, deletions, binary = counts
    hunk_at = chunk.find("\n@@")
    patch: str | None = chunk[hunk_at + 1 :] if hunk_at >= 0 else ""
    note = None
    if binary:
        patch, note = None, "binary file"
    elif patch is not None and len(patch.encode("utf-8")) > MAX_PATCH_BYTES:
        patch, note = None, f"patch larger than {MAX_PATCH_BYTES // 1000} kB"
    if patch is not None and patch.endswith("\n"):
        patch = patch[:-1]  # GitHub's `patch` has no trailing newline
    return FileChange(path=path, status=status, additions=additions, deletions=deletions, patch=patch,
                      previous_path=previous, binary=binary, note=note)
