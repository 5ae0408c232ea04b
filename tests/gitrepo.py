"""Real git repositories built by tests, with the dates, authors and files each test needs."""

from __future__ import annotations

import os
import subprocess
from datetime import datetime
from pathlib import Path


class GitRepo:
    def __init__(self, path: Path, branch: str = "main") -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", branch)

    def git(self, *args: str, when: datetime | None = None, author: str = "Ada Lovelace") -> str:
        env = {**os.environ, "GIT_AUTHOR_NAME": author, "GIT_AUTHOR_EMAIL": "ada@example.com",
               "GIT_COMMITTER_NAME": author, "GIT_COMMITTER_EMAIL": "ada@example.com",
               "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"}
        if when is not None:
            env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = when.isoformat()
        done = subprocess.run(["git", "-C", str(self.path), *args], env=env, capture_output=True, check=True)
        return done.stdout.decode("utf-8", "replace").strip()

    def commit(self, message: str, files: dict[str, str | bytes | None], when: datetime,
               author: str = "Ada Lovelace") -> str:
        """Write (str/bytes) or delete (None) files, commit them all, return the new SHA."""
        for name, content in files.items():
            target = self.path / name
            if content is None:
                target.unlink()
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content, encoding="utf-8")
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message, when=when, author=author)
        return self.head()

    def bulk(self, commits: list[tuple[str, dict[str, str], datetime]], branch: str = "main") -> list[str]:
        """Many commits in one `git fast-import` run (seconds faster than `commit` in a loop); returns their SHAs."""
        parts = []
        for message, files, when in commits:
            stamp = f"{int(when.timestamp())} +0000"
            body = message.encode()
            parts.append(f"commit refs/heads/{branch}\nauthor Ada Lovelace <ada@example.com> {stamp}\n"
                         f"committer Ada Lovelace <ada@example.com> {stamp}\ndata {len(body)}\n{message}\n")
            for path, content in files.items():
                data = content.encode()
                parts.append(f"M 100644 inline {path}\ndata {len(data)}\n{content}\n")
            parts.append("\n")
        subprocess.run(["git", "-C", str(self.path), "fast-import", "--quiet"], input="".join(parts).encode(),
                       check=True)
        self.git("reset", "-q", "--hard", branch)
        return self.git("rev-list", f"-{len(commits)}", "--reverse", branch).split()

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")

    def merge(self, branch: str, message: str, when: datetime) -> str:
        self.git("merge", "-q", "--no-ff", "-m", message, branch, when=when)
        return self.head()

    def merge_resolving(self, branch: str, message: str, when: datetime, resolved: dict[str, str]) -> str:
        """Merge `branch`, which must conflict, and commit the files as resolved by hand."""
        done = subprocess.run(["git", "-C", str(self.path), "merge", "-q", "--no-ff", "-m", message, branch],
                              env={**os.environ, "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1",
                                   "GIT_AUTHOR_NAME": "Ada Lovelace", "GIT_AUTHOR_EMAIL": "ada@example.com",
                                   "GIT_COMMITTER_NAME": "Ada Lovelace", "GIT_COMMITTER_EMAIL": "ada@example.com"},
                              capture_output=True)
        assert done.returncode != 0, f"merging {branch} was expected to conflict"
        for name, content in resolved.items():
            (self.path / name).write_text(content, encoding="utf-8")
        self.git("add", "-A")
        self.git("commit", "-q", "--no-edit", "-m", message, when=when)
        return self.head()
