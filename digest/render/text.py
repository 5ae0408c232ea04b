"""`--format text`: the terminal view. Control characters (ANSI escapes, bidi overrides) are stripped."""

from __future__ import annotations

import textwrap

from digest.view import beyond_title
from digest.view import coverage as coverage_line
from digest.labels import CHANGE_TYPE, IMPORTANCE, IMPORTANCE_ICON, text
from core.models import Analysis, Commit, CommitReport, Digest, Entry
from digest.render.common import (breaking_told, by_importance, local_time, marked, merge_title,
                                  merged_here, one_line, pr_url, provenance, stats_extras, strip_controls,
                                  window_line, with_marks)

WIDTH = 100
INDENT = " " * 11


def _wrap(label: str, value: str) -> list[str]:
    return textwrap.wrap(f"{label}{strip_controls(value)}", WIDTH, initial_indent=INDENT, subsequent_indent=INDENT + "  ",
                         break_long_words=False, break_on_hyphens=False) or [INDENT + label]


def _analysis(a: Analysis, lang: str, level: str, reason: str, breaking: list[str] | None = None,
              told: str = "", title: str = "") -> list[str]:
    breaking = None if breaking is None else marked(a, breaking)
    a = with_marks(a)
    lines = [f"{INDENT}{CHANGE_TYPE[lang][a.change_type]} · {IMPORTANCE_ICON[level]} {IMPORTANCE[lang][level]}: "
             f"{one_line(reason)}"]
    if (summary := beyond_title(a.summary, title)):  # never the title again
        lines += _wrap("", summary)
    if a.impact_scope:
        lines += _wrap(f"{text(lang, 'impact')}: ", ", ".join(a.impact_scope))
    for b in a.breaking_changes if breaking is None else breaking:
        lines += _wrap(f"{text(lang, 'breaking')}: ", b)
    if told:
        lines += _wrap(f"{text(lang, 'breaking')}: ", told)
    if a.insights:
        for key in ("architecture", "performance", "security", "maintainability"):
            if value := getattr(a.insights, key):
                lines += _wrap(f"{text(lang, key)}: ", value)
    for r in a.risks:
        lines += _wrap(f"{text(lang, 'risks')}: ", f"{r.point}: {r.description} → {r.consequence}. {r.mitigation}")
    for s in a.suggestions:
        lines += _wrap(f"{text(lang, 'suggestions')}: ", s)
    lines += _wrap("", provenance(a, lang))
    if a.grounding and a.grounding.unverified:
        lines += _wrap("⚠️ ", text(lang, "unverified", names=", ".join(a.grounding.unverified)))
    return lines


def _head(c: Commit, zone: str, web: str | None, title: str | None = None, *, named: bool = False) -> list[str]:
    merge = " [merge]" if c.is_merge else ""
    when = f"{local_time(c, zone)} {zone}" if named else local_time(c, zone)  # a digest names its zone once, above
    lines = [f"  {c.short_sha}  {one_line(title or c.title)}{merge}",
             f"{INDENT}{one_line(c.author)} · {when} · +{c.additions} −{c.deletions}"]
    if c.url:
        lines.append(f"{INDENT}{c.url}")
    if (url := pr_url(c, web)) is not None:
        lines.append(f"{INDENT}{url}")
    return lines


def render_digest(digest: Digest) -> str:
    lang, stats, zone = digest.lang, digest.stats, digest.window.zone
    out = [f"{one_line(digest.repo)} · {digest.day.isoformat()}", one_line(window_line(digest))]
    out += [f"! {one_line(n)}" for n in digest.notes]
    if not digest.entries:
        out.append(text(lang, "no_commits", repo=digest.repo, day=digest.day.isoformat(), zone=zone))
        return "\n".join(out) + "\n"
    out.append(" | ".join([text(lang, "stats_line", total=stats.total, high=stats.high, medium=stats.medium,
                                 low=stats.low), *stats_extras(stats, lang)]))
    out.append(one_line(coverage_line(digest)))
    for level, entries in by_importance(digest):
        if not entries:
            continue
        out += ["", text(lang, "section", icon=IMPORTANCE_ICON[level], level=IMPORTANCE[lang][level].upper(),
                         n=len(entries))]
        for e in entries:
            out += ["", *_head(e.commit, zone, digest.web_url, merge_title(e, lang)),
                    *_entry(e, digest, lang)]
    return "\n".join(out) + "\n"


def _entry(e: Entry, digest: Digest, lang: str) -> list[str]:
    """A merge's commits (or how many it brings in), where a commit was merged, then the analysis if any."""
    lang_level = f"{IMPORTANCE_ICON[e.importance]} {IMPORTANCE[lang][e.importance]}"
    lines: list[str] = []
    if e.grouped:
        for m in merged_here(digest, e):
            lines.append(f"{INDENT}↳ {m.commit.short_sha}  {one_line(m.commit.title)} "
                         f"({IMPORTANCE_ICON[m.importance]} {IMPORTANCE[lang][m.importance]})")
        if not e.analysed:
            return lines + [f"{INDENT}{lang_level}: {one_line(e.analysis.importance_reason)}",
                            f"{INDENT}{text(lang, 'merge_nothing_own')}"]
        if e.own_only:
            lines.append(f"{INDENT}{text(lang, 'merge_own')}:")
    if e.merged and not e.own_only:
        lines.append(f"{INDENT}🔀 {text(lang, 'merge_brings', n=len(e.merged))}")
    if e.merged_into:
        lines.append(f"{INDENT}🔀 {text(lang, 'in_merge', merge=e.merged_into[:7])}")
    return lines + _analysis(e.best, lang, e.importance, with_marks(e.analysis).importance_reason, e.breaking_changes,
                             breaking_told(e, lang), e.commit.title)


def render_report(report: CommitReport) -> str:
    a = report.analysis
    lines = [one_line(report.commit.repo), *_head(report.commit, report.zone, report.web_url, named=True),
             *_analysis(a, a.lang, a.importance, a.importance_reason, title=report.commit.title)]
    return "\n".join(lines) + "\n"
