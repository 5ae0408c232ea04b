"""Helpers shared by the renderers: grouping, links, and removing what a terminal or chat must not get."""

from __future__ import annotations

import re
from dataclasses import replace
from collections.abc import Callable

from digest.labels import text
from digest.merges import merge_label
from core.models import IMPORTANCES, Analysis, Commit, CommitReport, Digest, Entry, Stats
from digest.textfit import fit
from core.window import parse_zone

_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")  # ANSI ESC, C1, bidi


def strip_controls(text: str) -> str:
    return _CONTROLS.sub("", text)


def one_line(text: str) -> str:
    """Untrusted text for a single line: no control characters, no line breaks that fake a new line."""
    return " ".join(strip_controls(text.replace("\r", " ").replace("\n", " ")).split())


def per_line(escape: Callable[[str], str], value: str) -> str:
    """Multi-line untrusted text escaped line by line (a renderer's one-line `escape` keeps no line break)."""
    return "\n".join(escape(line) for line in value.replace("\r", "").split("\n"))


def by_importance(digest: Digest) -> list[tuple[str, list[Entry]]]:
    return [(level, [e for e in digest.entries if e.analysis.importance == level]) for level in IMPORTANCES]


def pr_url(commit: Commit, web_url: str | None) -> str | None:
    number = commit.pr_number
    return f"{web_url}/pull/{number}" if number and web_url else None


def commit_link(e: Entry, web: str | None, lang: str, link: Callable[[str | None, str], str]) -> str:
    """A commit as a chat message links it (`link` is the platform's): a grouped merge by its label; a commit that
    names its pull request by its bare title, then the pull request (`#123`) linked; any other by its title."""
    c = e.commit
    if (label := merge_title(e, lang)) is not None:  # a grouped merge is shown as what it is (issue 8)
        return link(c.url, label)
    if (url := pr_url(c, web)) is None:
        return link(c.url, c.title)
    return f"{link(c.url, c.bare_title)} ({link(url, f'#{c.pr_number}')})"


def local_time(commit: Commit, zone: str) -> str:
    return commit.committed_at.astimezone(parse_zone(zone)).strftime("%Y-%m-%d %H:%M:%S")


def committed_line(report: CommitReport) -> str:
    """'Committed: 2026-01-11 09:34:09 Asia/Shanghai': an analysis' commit time in the zone asked for, named."""
    return f"{text(report.analysis.lang, 'time')}: {local_time(report.commit, report.zone)} {report.zone}"


def window_line(digest: Digest) -> str:
    """The window in the digest's own zone, and the branch: what exactly the digest covers."""
    tz = parse_zone(digest.window.zone)
    start, end = (t.astimezone(tz).strftime("%Y-%m-%d %H:%M") for t in (digest.window.start, digest.window.end))
    return text(digest.lang, "window", start=start, end=end, zone=digest.window.zone, branch=digest.branch)


def provenance(a: Analysis, lang: str) -> str:
    """Where the analysis' claims come from, in one line (plain text: each renderer escapes it)."""
    if a.source == "llm":
        skipped = [s.path for s in a.skipped_files if s.reason != "summarised"]
        more = text(lang, "skipped", names=", ".join(skipped[:5]) + ("…" if len(skipped) > 5 else "")) if skipped else ""
        line = text(lang, "source_llm", model=a.model, read=len(a.read_files), skipped=more)
        if (c := a.diff_coverage) is not None:
            line += " " + text(lang, "diff_coverage", read=c.read, files=c.files, summarised=c.summarised, calls=c.calls,
                               generated=text(lang, "diff_generated", n=c.generated) if c.generated else "",
                               condensed=text(lang, "diff_condensed", n=c.condensed) if c.condensed else "")
        if a.redacted:
            line += " " + text(lang, "redacted", n=sum(a.redacted.values()), kinds=", ".join(a.redacted))
    else:
        line = a.note or text(lang, "source_rules")
    return line


_W = "A-Za-z0-9_"


def mark_unverified(value: str, names: list[str], lang: str) -> str:
    """`value` with "(unverified)" after each whole occurrence of an unverified name (after its backticks)."""
    if not names:
        return value
    mark = text(lang, "unverified_mark")
    alternatives = "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
    pattern = re.compile(rf"`(?:{alternatives})`|(?<![{_W}./`-])(?:{alternatives})(?![{_W}/`-]|\.[{_W}])")
    # a no-break space: shortening text (textfit.fit cuts at spaces) keeps a name with its mark or drops both
    return pattern.sub(lambda m: f"{m.group(0)}\u00a0{mark}" if lang == "en" else f"{m.group(0)}{mark}", value)


def with_marks(a: Analysis) -> Analysis:
    """The analysis with every unverified name in its prose marked, for renderers to show as they are."""
    names = a.grounding.unverified if a.grounding else []
    if not names:
        return a

    def m(value: str) -> str:
        return mark_unverified(value, names, a.lang)

    update: dict[str, object] = {
        "summary": m(a.summary), "importance_reason": m(a.importance_reason),
        "impact_scope": [m(p) for p in a.impact_scope], "breaking_changes": [m(b) for b in a.breaking_changes],
        "suggestions": [m(s) for s in a.suggestions],
        "risks": [r.model_copy(update={k: m(getattr(r, k)) for k in ("point", "description", "consequence",
                                                                    "mitigation")}) for r in a.risks],
    }
    if a.insights:
        update["insights"] = a.insights.model_copy(update={k: m(getattr(a.insights, k)) for k in
                                                            ("architecture", "performance", "security",
                                                             "maintainability")})
    return a.model_copy(update=update)


def title_of(entry: Entry, lang: str) -> str:
    """What a commit is called in a listing: a grouped merge by its label, others by their title."""
    return merge_title(entry, lang) or entry.commit.title


def marked_entry(e: Entry) -> Entry:
    """The entry with the unverified names of its analyses marked, its breaking changes included: what the chat
    renderers show (mark once: a marked text marked again would say it twice)."""
    if not any(a.grounding and a.grounding.unverified for a in (e.analysis, e.deep) if a is not None):
        return e
    names = e.best.grounding.unverified if e.best.grounding else []
    return replace(e, analysis=with_marks(e.analysis), deep=with_marks(e.deep) if e.deep else None,
                   repeats=tuple(mark_unverified(r, names, e.best.lang) for r in e.repeats))


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


CHAT_BREAKING = 5  # breaking changes a chat message lists under one commit


def breaking_shown(entry: Entry, lang: str) -> list[str]:
    """What a chat message lists as one commit's breaking changes (plain text: renderers escape it): its own, each
    shortened, and where those it repeats from a commit it carries are listed."""
    told = breaking_told(entry, lang)
    return [fit(b, 300) for b in entry.breaking_changes[:CHAT_BREAKING]] + ([told] if told else [])


def stats_extras(stats: Stats, lang: str) -> list[str]:
    extra = []
    if stats.breaking:
        extra.append(text(lang, "breaking_count", n=stats.breaking))
    if stats.merges:
        extra.append(text(lang, "merges_grouped", n=stats.merges, grouped=stats.grouped) if stats.grouped
                     else text(lang, "merges_count", n=stats.merges))
    return extra


def marked(a: Analysis, values: list[str]) -> list[str]:
    """`values` of `a` (e.g. the breaking changes an entry shows) with its unverified names marked."""
    names = a.grounding.unverified if a.grounding else []
    return [mark_unverified(v, names, a.lang) for v in values]
