"""`--format markdown`: the seed report's layout, with explicit anchors so the contents links work on GitHub.

Untrusted text (commit messages, LLM output) is escaped outside `code spans`: it cannot add links, HTML,
headings or table cells.
"""

from __future__ import annotations

import re

from digest.view import beyond_title
from digest.view import coverage as coverage_line
from digest.labels import CHANGE_TYPE, IMPORTANCE, IMPORTANCE_ICON, text
from core.models import Analysis, Commit, CommitReport, Digest, Entry
from digest.render.common import (breaking_told, by_importance, local_time, marked, merge_title,
                                  merged_here, pr_url, provenance, stats_extras, strip_controls, window_line,
                                  with_marks)
from digest.render.common import committed_line

_CODE_SPAN = re.compile(r"(`[^`\n]+`)")
_SPECIAL = re.compile(r"([\\*_\[\]<>|~])")


def md(value: str) -> str:
    """Escape Markdown and HTML in untrusted text, keeping `code spans` (with `|` escaped for tables)."""
    out = []
    for part in _CODE_SPAN.split(strip_controls(value).replace("\r", "").replace("\n", " ")):
        if part.startswith("`") and part.endswith("`") and len(part) > 1:
            out.append(part.replace("|", "\\|"))
        else:
            out.append(_SPECIAL.sub(r"\\\1", part).replace("&", "&amp;"))
    return "".join(out)


def anchor(commit: Commit) -> str:
    return f"c-{commit.short_sha}"


def _link_line(commit: Commit, web: str | None, lang: str) -> str:
    parts = [f"**SHA**: `{commit.short_sha}`"]
    if commit.url:
        parts.append(f"🔗 [{text(lang, 'view_commit')}]({commit.url})")
    if (url := pr_url(commit, web)) is not None:
        parts.append(f"{text(lang, 'pull_request')} [#{commit.pr_number}]({url})")
    if commit.is_merge:
        parts.append(f"🔀 {text(lang, 'merge')}")
    parts.append(f"{commit.author and md(commit.author)} · {text(lang, 'files_line', n=commit.files_total or 0, additions=commit.additions, deletions=commit.deletions)}")
    return " | ".join(parts)


def _analysis(a: Analysis, lang: str, importance_of: Analysis, breaking: list[str] | None = None,
              told: str = "", title: str = "") -> list[str]:
    breaking = None if breaking is None else marked(a, breaking)
    a, importance_of = with_marks(a), with_marks(importance_of)
    level = importance_of.importance
    lines = [
        f"**{text(lang, 'change_type')}**：{CHANGE_TYPE[lang][a.change_type]}  ",
        f"**{text(lang, 'importance')}**：{IMPORTANCE_ICON[level]} {IMPORTANCE[lang][level]} — "
        f"{md(importance_of.importance_reason)}  ",
    ]
    if (summary := beyond_title(a.summary, title)):  # never the title again
        lines.append(f"**{text(lang, 'summary')}**：{md(summary)}")
    lines.append("")
    if a.impact_scope:
        lines += [f"**{text(lang, 'impact')}**：", *[f"- {_scope(p)}" for p in a.impact_scope],
                  ""]
    shown = a.breaking_changes if breaking is None else breaking
    if shown or told:
        lines += [f"**{text(lang, 'breaking')}**：", *[f"- {md(b)}" for b in shown]]
        lines += [f"- _{md(told)}_"] if told else []
        lines.append("")
    if a.insights and any(a.insights.model_dump().values()):
        lines += [f"##### {text(lang, 'insights')}", ""]
        for key in ("architecture", "performance", "security", "maintainability"):
            if value := getattr(a.insights, key):
                lines.append(f"- **{text(lang, key)}**：{md(value)}")
        lines.append("")
    if a.risks:
        head = [text(lang, k) for k in ("risk_point", "risk_description", "risk_consequence", "risk_mitigation")]
        lines += [f"##### {text(lang, 'risks')}", "", "| " + " | ".join(head) + " |", "|---|---|---|---|"]
        lines += [f"| {md(r.point)} | {md(r.description)} | {md(r.consequence)} | {md(r.mitigation)} |" for r in a.risks]
        lines.append("")
    if a.suggestions:
        lines += [f"##### {text(lang, 'suggestions')}", "", *[f"{i}. {md(s)}" for i, s in enumerate(a.suggestions, 1)], ""]
    lines.append(f"<sub>{md(provenance(a, lang))}</sub>")
    if a.grounding and a.grounding.unverified:
        lines.append(f"<sub>⚠️ {md(text(lang, 'unverified', names=', '.join(a.grounding.unverified)))}</sub>")
    return lines


def _scope(path: str) -> str:
    """An impact scope entry as code; a mark added by with_marks stays outside the code span."""
    for mark in ("\u00a0(unverified)", "（未验证）"):
        if path.endswith(mark):
            return md("`" + path[: -len(mark)].replace("`", "") + "`") + md(mark)
    return md("`" + path.replace("`", "") + "`")


def _entry(entry: Entry, digest: Digest, lang: str) -> list[str]:
    c = entry.commit
    lines = [f'<a id="{anchor(c)}"></a>', "", f"#### {md(merge_title(entry, lang) or c.title)}",
             _link_line(c, digest.web_url, lang), ""]
    if entry.grouped:  # its commits, linked: each is told in its own importance section
        for m in merged_here(digest, entry):
            lines.append(f"- [`{m.commit.short_sha}` {md(m.commit.title)}](#{anchor(m.commit)}) "
                         f"{IMPORTANCE_ICON[m.importance]} {IMPORTANCE[lang][m.importance]}")
        lines.append("")
        if not entry.analysed:
            level = entry.importance
            return lines + [f"**{text(lang, 'importance')}**：{IMPORTANCE_ICON[level]} {IMPORTANCE[lang][level]} — "
                            f"{md(entry.analysis.importance_reason)}  ", md(text(lang, "merge_nothing_own")),
                            "", "---", ""]
        if entry.own_only:
            lines += [f"##### {text(lang, 'merge_own')}", ""]
    if entry.merged and not entry.own_only:
        lines += [f"🔀 {md(text(lang, 'merge_brings', n=len(entry.merged)))}", ""]
    if entry.merged_into:
        lines += [f"🔀 [{md(text(lang, 'in_merge', merge=entry.merged_into[:7]))}](#c-{entry.merged_into[:7]})", ""]
    return lines + [*_analysis(entry.best, lang, entry.analysis, entry.breaking_changes, breaking_told(entry, lang),
                               c.title),
                    "", "---", ""]


def render_digest(digest: Digest) -> str:
    lang, stats = digest.lang, digest.stats
    day = digest.day.isoformat()
    out = [f"# {text(lang, 'report_title', day=day)}", "", f"## {md(digest.repo)}", ""]
    out.append("_" + md(window_line(digest)) + "_")
    out.append("")
    for note in digest.notes:
        out += [f"> ⚠️ {md(note)}", ""]
    if not digest.entries:
        out.append(md(text(lang, "no_commits", repo=digest.repo, day=day, zone=digest.window.zone)))
        return "\n".join(out) + "\n"
    out += [f"| {text(lang, 'time')} | {text(lang, 'author')} | {text(lang, 'message')} |", "|---|---|---|"]
    for e in digest.entries:
        merge = f" 🔀 {text(lang, 'merge')}" if e.commit.is_merge else ""
        out.append(f"| {local_time(e.commit, digest.window.zone)} | {md(e.commit.author)} | "
                   f"[{md(e.commit.title)}](#{anchor(e.commit)}){merge} |")
    groups = by_importance(digest)
    out += ["", '<a id="stats"></a>', "", f"### {text(lang, 'stats_title')}", "",
            f"> {text(lang, 'stats_line', total=stats.total, high=stats.high, medium=stats.medium, low=stats.low)}"]
    extra = stats_extras(stats, lang)
    extra.append(md(coverage_line(digest)))
    out += [">", "> " + " · ".join(extra), "", '<a id="toc"></a>', "", f"### {text(lang, 'toc')}", "",
            f"- [{text(lang, 'stats_title')}](#stats)"]
    for level, entries in groups:
        if entries:
            out.append(f"- [{_section(level, len(entries), lang)}](#{level})")
            out += [f"  - [{md(merge_title(e, lang) or e.commit.title)}](#{anchor(e.commit)})" for e in entries]
    out.append("")
    for level, entries in groups:
        if not entries:
            continue
        out += [f'<a id="{level}"></a>', "", f"### {_section(level, len(entries), lang)}", ""]
        for e in entries:
            out += _entry(e, digest, lang)
    return "\n".join(out).rstrip("\n") + "\n"


def _section(level: str, n: int, lang: str) -> str:
    return text(lang, "section", icon=IMPORTANCE_ICON[level], level=IMPORTANCE[lang][level].capitalize(), n=n)


def render_report(report: CommitReport) -> str:
    c, lang = report.commit, report.analysis.lang
    lines = [f"# {md(c.title)}", "", f"**{md(c.repo)}** · {md(committed_line(report))}", "",
             _link_line(c, report.web_url, lang), "", *_analysis(report.analysis, lang, report.analysis, title=c.title)]
    return "\n".join(lines).rstrip("\n") + "\n"
