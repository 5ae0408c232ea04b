"""Which source a repository named by a user reads: a mapped clone (GIT_CLONES), a path, or GitHub."""

from __future__ import annotations

from pathlib import Path

from core.errors import BadRepo
from core.models import RepoRef, parse_repo_name
from digest.sources.git import describe_clone
from digest.sources.github import web_url_for


def resolve_repo(name: str | None, git_path: str | None, clones: dict[str, Path], api_url: str) -> RepoRef:
    """`--git PATH` reads a clone as it is; a name in GIT_CLONES is fetched first; any other name is GitHub."""
    if git_path:
        return describe_clone(Path(git_path), parse_repo_name(name) if name else None, fetch=False)
    if not name:
        raise BadRepo("name a repository (owner/name) or a local clone with --git PATH")
    repo = parse_repo_name(name)
    if repo in clones:
        return describe_clone(clones[repo], repo, fetch=True)
    return RepoRef(name=repo, web_url=f"{web_url_for(api_url)}/{repo}")
