"""Helpers shared by the renderers: grouping, links, and removing what a terminal or chat must not get."""

from __future__ import annotations

import re

from digest.models import IMPORTANCES, Commit, Digest, Entry

_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069]")  # incl. ANSI ESC and bidi overrides


def strip_controls(text: str) -> str:
    return _CONTROLS.sub("", text)


def by_importance(digest: Digest) -> list[tuple[str, list[Entry]]]:
    return [(level, [e for e in digest.entries if e.analysis.importance == level]) for level in IMPORTANCES]


def pr_url(commit: Commit, web_url: str | None) -> str | None:
    number = commit.pr_number
    return f"{web_url}/pull/{number}" if number and web_url else None


def web_url_of(digest_or_url: Digest | str | None, commit: Commit) -> str | None:
    """The repository's web URL: the digest's, else derived from the commit URL."""
    if isinstance(digest_or_url, Digest):
        digest_or_url = digest_or_url.web_url
    if digest_or_url:
        return digest_or_url
    if commit.url and "/commit/" in commit.url:
        return commit.url.rsplit("/commit/", 1)[0]
    return None


def local_time(commit: Commit, zone: str) -> str:
    from digest.window import parse_zone

    return commit.committed_at.astimezone(parse_zone(zone)).strftime("%Y-%m-%d %H:%M:%S")
