"""Helpers shared by the renderers: grouping, links, and removing what a terminal or chat must not get."""

from __future__ import annotations

import re

from digest.labels import text
from digest.merges import merge_label
from digest.models import IMPORTANCES, Analysis, Commit, Digest, Entry, Stats
from digest.window import parse_zone

_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")  # ANSI ESC, C1, bidi


def strip_controls(text: str) -> str:
    return _CONTROLS.sub("", text)


def one_line(text: str) -> str:
    """Untrusted text for a single line: no control characters, no line breaks that fake a new line."""
    return " ".join(strip_controls(text.replace("\r", " ").replace("\n", " ")).split())


def by_importance(digest: Digest) -> list[tuple[str, list[Entry]]]:
    return [(level, [e for e in digest.entries if e.analysis.importance == level]) for level in IMPORTANCES]


def pr_url(commit: Commit, web_url: str | None) -> str | None:
    number = commit.pr_number
    return f"{web_url}/pull/{number}" if number and web_url else None


def web_url_of(web_url: str | None, commit: Commit) -> str | None:
    """The repository's web URL: the one given, else derived from the commit URL (stored digests)."""
    if web_url:
        return web_url
    if commit.url and "/commit/" in commit.url:
        return commit.url.rsplit("/commit/", 1)[0]
    return None


def local_time(commit: Commit, zone: str) -> str:
    return commit.committed_at.astimezone(parse_zone(zone)).strftime("%Y-%m-%d %H:%M:%S")


def window_line(digest: Digest) -> str:
    """The window in the digest's own zone, and the branch: what exactly the digest covers."""
    tz = parse_zone(digest.window.zone)
    start, end = (t.astimezone(tz).strftime("%Y-%m-%d %H:%M") for t in (digest.window.start, digest.window.end))
    return text(digest.lang, "window", start=start, end=end, zone=digest.window.zone, branch=digest.branch)


def coverage_line(digest: Digest) -> str:
    """'16/18 commits analysed by m, 2 by rules while the LLM was unreachable' (plain text: renderers escape it)."""
    cov, lang = digest.coverage, digest.lang
    if cov.llm == 0 and cov.fallbacks == 0:
        return text(lang, "coverage_rules", n=cov.commits)
    line = text(lang, "coverage", llm=cov.llm, total=cov.commits, models=", ".join(cov.models) or "LLM")
    if cov.fallbacks:
        line += text(lang, "coverage_fallback", n=cov.fallbacks)
    if cov.rules - cov.fallbacks > 0:
        line += text(lang, "coverage_by_rules", n=cov.rules - cov.fallbacks)
    return line


def provenance(a: Analysis, lang: str) -> str:
    """Where the analysis' claims come from, in one line (plain text: each renderer escapes it)."""
    if a.source == "llm":
        skipped = [s.path for s in a.skipped_files]
        more = text(lang, "skipped", names=", ".join(skipped[:5]) + ("…" if len(skipped) > 5 else "")) if skipped else ""
        line = text(lang, "source_llm", model=a.model, read=len(a.read_files), skipped=more)
    else:
        line = a.note or text(lang, "source_rules")
    return line


def merge_title(entry: Entry, lang: str) -> str | None:
    """A grouped merge is shown as what it is: `Merge #643 (branch): 5 commits`; others by their title."""
    return merge_label(entry.commit, len(entry.merged), lang) if entry.grouped else None


def merged_here(digest: Digest, entry: Entry) -> list[Entry]:
    """The entries of the commits a merge brings in, in digest order."""
    wanted = set(entry.merged)
    return [e for e in digest.entries if e.commit.sha in wanted]


def breaking_told(entry: Entry, lang: str) -> str:
    """`2 breaking changes it carries are listed under abc1234`, or "" (plain text: renderers escape it)."""
    if not entry.repeats:
        return ""
    return text(lang, "breaking_told", n=len(entry.repeats), shas=", ".join(s[:7] for s in entry.breaking_told_in))


def stats_extras(stats: Stats, lang: str) -> list[str]:
    extra = []
    if stats.breaking:
        extra.append(text(lang, "breaking_count", n=stats.breaking))
    if stats.merges:
        extra.append(text(lang, "merges_grouped", n=stats.merges, grouped=stats.grouped) if stats.grouped
                     else text(lang, "merges_count", n=stats.merges))
    return extra
