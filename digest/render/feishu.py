"""Feishu (Lark) interactive cards, JSON 2.0: pure functions of a Digest or a CommitReport -> card dicts.

Untrusted text (commit titles and messages, author names, LLM output) passes through `esc`: `<` and `>` become
entities, so `<at id=all></at>`, `<font>` or `<a href>` stay text, and the markdown specials (`*`, `_`, `~`, `` ` ``,
`[`, `]`, `#`, `|`, `&`) become numeric entities, so nothing is bolded, linked or turned into a heading.

Every card fits Feishu's limits with room to spare: an app message's request body (the card JSON as a string
inside JSON) under 30 KB, a webhook body (the card inline) under 20 KB, at most 200 components. A day of any size
is split into a summary card and as many detail cards as needed, each commit in exactly one detail card; text is
shortened only at sentence or word boundaries (digest.textfit.fit), marked with "…".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from digest.labels import CHANGE_TYPE, IMPORTANCE, IMPORTANCE_ICON, text
from core.models import Analysis, Commit, CommitReport, Digest, Entry
from digest.render.common import (breaking_shown, breaking_summary, by_importance, commit_link, coverage_line,
                                  marked_entry, one_line, per_line, provenance, strip_controls, title_of, top_summary,
                                  window_line)
from digest.render.common import committed_line
from digest.textfit import fit

APP_BODY_BUDGET = 28 * 1024  # bytes of the send request body, of Feishu's 30 KB per card message
WEBHOOK_BODY_BUDGET = 18 * 1024  # bytes of the webhook request body, of the documented 20 KB
MAX_COMPONENTS = 180  # of Feishu's 200 per card
HEADER_TITLE = 100
DEEP_ACTION = "deep_analysis"
TEMPLATE = {"high": "red", "medium": "orange", "low": "green"}

_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "*": "&#42;", "_": "&#95;", "~": "&#126;", "`": "&#96;",
            "[": "&#91;", "]": "&#93;", "#": "&#35;", "|": "&#124;", "$": "&#36;"}
_TABLE = str.maketrans(_ESCAPES)

WORDS = {
    "en": {
        "details_hint": "🧵 The analysis of every commit follows in {n} detail card(s).",
        "more_below": "…and {n} more in the detail cards",
        "details_title": "{repo} · {day} · details {i}/{n}",
        "followup_title": "{repo} · {day} · late analyses",
        "followup_intro": "These analyses finished after the digest was posted; they replace the ones shown there.",
        "view_commit": "View commit",
        "generating": "⏳ {line}",
        "notice_title": "Commit Radar",
    },
    "zh": {
        "details_hint": "🧵 每个提交的分析见随后的 {n} 张详情卡片。",
        "more_below": "……另有 {n} 项，见详情卡片",
        "details_title": "{repo} · {day} · 详情 {i}/{n}",
        "followup_title": "{repo} · {day} · 补充分析",
        "followup_intro": "以下分析在摘要发出后完成，取代摘要中的对应内容。",
        "view_commit": "查看提交",
        "generating": "⏳ {line}",
        "notice_title": "Commit Radar",
    },
}


def esc(value: str) -> str:
    """Untrusted text for a markdown element, on one line, with every tag and markdown special neutralised."""
    return one_line(value).translate(_TABLE)


def esc_text(value: str) -> str:
    """Like `esc`, keeping line breaks."""
    return per_line(esc, value)


def link(url: str | None, label: str) -> str:
    """A markdown link to one of our URLs (GitHub's), its label escaped; the label alone if the URL is odd."""
    shown = esc(label)
    if not url or not url.startswith(("https://", "http://")) or any(ch in url for ch in "<>()[] \n\"'"):
        return shown
    return f"[{shown}]({url})"


def body_bytes(card: dict[str, Any], *, webhook: bool) -> int:
    """Bytes of the request that carries `card`: inline in a webhook body, or as a JSON string in an app send."""
    as_json = json.dumps(card, ensure_ascii=False)
    if webhook:
        return len(as_json.encode("utf-8")) + 160  # msg_type, timestamp, sign
    return len(json.dumps(as_json, ensure_ascii=False).encode("utf-8")) + 200  # receive_id, msg_type, uuid


def components(elements: list[dict[str, Any]]) -> int:
    total = 0
    for el in elements:
        total += 1
        total += components(el.get("elements", []))
        for col in el.get("columns", []):
            total += components(col.get("elements", []))
    return total


def card(title: str, elements: list[dict[str, Any]], *, template: str = "blue", subtitle: str | None = None,
         summary: str | None = None) -> dict[str, Any]:
    """A JSON 2.0 card; shared (update_multi) so that it can be PATCHed for everyone."""
    header: dict[str, Any] = {"title": {"tag": "plain_text", "content": fit(one_line(title), HEADER_TITLE)},
                              "template": template}
    if subtitle:
        header["subtitle"] = {"tag": "plain_text", "content": fit(one_line(subtitle), HEADER_TITLE)}
    config: dict[str, Any] = {"update_multi": True}
    if summary:
        config["summary"] = {"content": fit(one_line(summary), 100)}
    return {"schema": "2.0", "config": config, "header": header, "body": {"elements": elements}}


def md(content: str, size: str | None = None) -> dict[str, Any]:
    element: dict[str, Any] = {"tag": "markdown", "content": content}
    if size:
        element["text_size"] = size
    return element


def hr() -> dict[str, Any]:
    return {"tag": "hr"}


def deep_button(commit: Commit, lang: str) -> dict[str, Any]:
    """Calls back (card.action.trigger) with what ChatOps.deep needs."""
    return {"tag": "button", "type": "primary_filled", "size": "small",
            "text": {"tag": "plain_text", "content": text(lang, "deep_button")},
            "behaviors": [{"type": "callback", "value": {"action": DEEP_ACTION, "repo": commit.repo,
                                                         "sha": commit.sha, "lang": lang}}]}


def link_button(url: str, lang: str) -> dict[str, Any]:
    """Webhook cards cannot call back: their buttons open GitHub."""
    return {"tag": "button", "type": "default", "size": "small",
            "text": {"tag": "plain_text", "content": WORDS[lang]["view_commit"]},
            "behaviors": [{"type": "open_url", "default_url": url}]}


def _button(commit: Commit, lang: str, app: bool, has_deep: bool) -> dict[str, Any] | None:
    if app:
        return None if has_deep else deep_button(commit, lang)
    return link_button(commit.url, lang) if commit.url and commit.url.startswith("https://") else None


@dataclass
class _Fill:
    """Elements of one card, added while the card stays inside its byte and component budgets."""

    title: str
    template: str
    webhook: bool
    budget: int
    elements: list[dict[str, Any]]
    subtitle: str | None = None
    reserve: int = 0  # bytes kept for elements added at the end

    def build(self, extra: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        return card(self.title, self.elements + (extra or []), template=self.template, subtitle=self.subtitle,
                    summary=self.title)

    def fits(self, *elements: dict[str, Any]) -> bool:
        trial = card(self.title, self.elements + list(elements), template=self.template, subtitle=self.subtitle,
                     summary=self.title)
        return (body_bytes(trial, webhook=self.webhook) + self.reserve <= self.budget
                and components(trial["body"]["elements"]) <= MAX_COMPONENTS)

    def add(self, *elements: dict[str, Any]) -> bool:
        if not self.fits(*elements):
            return False
        self.elements.extend(elements)
        return True


def _commit_link(e: Entry, web: str | None, lang: str = "en") -> str:
    return commit_link(e, web, lang, link)


def stats_line(digest: Digest) -> str:
    s = digest.stats
    line = text(digest.lang, "stats_chat", total=s.total, high=s.high, medium=s.medium, low=s.low,
                additions=sum(e.commit.additions for e in digest.entries),
                deletions=sum(e.commit.deletions for e in digest.entries)).replace("*", "**")
    if s.breaking:
        line += " · " + text(digest.lang, "breaking_count", n=s.breaking)
    if s.merges:
        line += " · " + text(digest.lang, "merges_count", n=s.merges)
    return line


def template_of(digest: Digest) -> str:
    levels = {e.analysis.importance for e in digest.entries}
    return next((TEMPLATE[level] for level in ("high", "medium", "low") if level in levels), "grey")


def summary_card(digest: Digest, *, late: bool = False, app: bool = True, details: int = 0) -> dict[str, Any]:
    """The top card: header coloured by the day's highest importance, the stats, breaking changes, high commits
    with their summaries (and a Deep analysis button), medium one line each, low folded, coverage. What does not
    fit says how many more are in the detail cards."""
    lang, web = digest.lang, digest.web_url
    words = WORDS[lang]
    closing = [md(esc(coverage_line(digest)), "notation")]
    if details:
        closing.append(md(words["details_hint"].format(n=details), "notation"))
    out = _Fill(text(lang, "digest_title", repo=digest.repo, day=digest.day.isoformat()), template_of(digest),
                not app, WEBHOOK_BODY_BUDGET if not app else APP_BODY_BUDGET, [])
    out.reserve = body_bytes(card("", closing), webhook=not app) + 400
    context = esc(window_line(digest))
    out.add(md(f"{text(lang, 'late')} {context}" if late else context, "notation"))
    for note in digest.notes:
        out.add(md(f"⚠️ {esc(note)}", "notation"))
    if not digest.entries:
        out.add(md(esc(text(lang, "quiet_day", repo=digest.repo, day=digest.day.isoformat()))))
        return out.build(closing[:1])
    out.add(md(stats_line(digest)))
    breaking, hidden = breaking_summary(digest)  # each once, under its commit; a few lines, the rest in the details
    if breaking:
        _listing(out, f"**{text(lang, 'breaking_title')}**",
                 [f"- {_commit_link(e, web, lang)}: {esc(fit(b, 300))}" for e, b in breaking], lang)
        if hidden:
            out.add(md(WORDS[lang]["more_below"].format(n=hidden), "notation"))
    groups = dict(by_importance(digest))
    if groups["high"]:
        out.add(hr())
        out.add(md(f"**{text(lang, 'high_title')}**"))
        shown = 0
        for e in groups["high"]:
            summary = top_summary(e)
            item = [md(f"**{_commit_link(e, web, lang)}** `{e.commit.short_sha}`"
                       + (f"\n{esc(fit(summary, 600))}" if summary else ""))]
            button = _button(e.commit, lang, app, has_deep=False)
            if not out.add(*(item + ([button] if button else []))):
                break
            shown += 1
        if shown < len(groups["high"]):
            out.add(md(words["more_below"].format(n=len(groups["high"]) - shown), "notation"))
    if groups["medium"]:
        _listing(out, f"**{text(lang, 'medium_title')}**",
                 [f"- {_commit_link(e, web, lang)}" + (f" — {esc(fit(s, 160))}" if (s := top_summary(e)) else "")
                  for e in groups["medium"]], lang)
    if groups["low"]:
        titles = " · ".join(esc(fit(title_of(e, lang), 80)) for e in groups["low"])
        low = md(fit(text(lang, "low_line", n=len(groups["low"]), titles=titles), 1500), "notation")
        if not out.add(low):
            out.add(md(words["more_below"].format(n=len(groups["low"])), "notation"))
    return out.build(closing)


def _listing(out: _Fill, title: str, lines: list[str], lang: str) -> None:
    """A titled list in as many markdown elements as fit; the rest counted as 'more in the detail cards'."""
    chunk, pending, shown, full = title, 0, 0, False
    for line in lines:
        if len(chunk) + 1 + len(line) > 2500 and pending:
            if not out.add(md(chunk)):
                full = True
                break
            shown, chunk, pending = shown + pending, "", 0
        chunk, pending = (f"{chunk}\n{line}" if chunk else line), pending + 1
    if not full and pending and out.add(md(chunk)):
        shown += pending
    if shown < len(lines):
        out.add(md(WORDS[lang]["more_below"].format(n=len(lines) - shown), "notation"))


def commit_markdown(e: Entry, lang: str, web: str | None, *, limit: int = 6000) -> str:
    """One commit in full: type and importance with the reason, summary, impact, breaking changes, and for a deep
    analysis insights, risks and suggestions; then author, size and where the analysis comes from."""
    e = marked_entry(e)
    a, c = e.best, e.commit
    level = e.analysis.importance
    lines = [f"{IMPORTANCE_ICON[level]} **{_commit_link(e, web, lang)}** `{c.short_sha}`{' 🔀' if c.is_merge else ''}",
             f"{CHANGE_TYPE[lang][a.change_type]} · {IMPORTANCE[lang][level]} — {esc(fit(e.analysis.importance_reason, 300))}",
             esc(fit(a.summary, 900))]
    if a.impact_scope:
        lines.append(f"{text(lang, 'impact')}: " + ", ".join(esc(p) for p in a.impact_scope[:8]))
    lines += [f"{text(lang, 'breaking')}: {esc(b)}" for b in breaking_shown(e, lang)]  # each told once
    lines += _analysis_lines(a, lang)
    lines.append(_provenance(a, lang, c))
    return _fit_lines(lines, limit)


def _analysis_lines(a: Analysis, lang: str) -> list[str]:
    lines = []
    if a.insights and any(a.insights.model_dump().values()):
        lines.append(f"**{text(lang, 'insights')}**")
        for key in ("architecture", "performance", "security", "maintainability"):
            if value := getattr(a.insights, key):
                lines.append(f"- **{text(lang, key)}**: {esc(fit(value, 600))}")
    if a.risks:
        lines.append(f"**{text(lang, 'risks')}**")
        lines += [f"- **{esc(fit(r.point, 150))}**: {esc(fit(r.description, 300))} → {esc(fit(r.consequence, 200))}. "
                  f"{esc(fit(r.mitigation, 200))}" for r in a.risks[:5]]
    if a.suggestions:
        lines.append(f"**{text(lang, 'suggestions')}**")
        lines += [f"{i}. {esc(fit(s, 300))}" for i, s in enumerate(a.suggestions[:6], 1)]
    return lines


def _fit_lines(lines: list[str], limit: int) -> str:
    """Whole lines while they fit (escaped text is never cut inside an entity), then "…"."""
    kept: list[str] = []
    size = 0
    for line in lines:
        if size + len(line) + 1 > limit:
            kept.append("…")
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join(kept)


def _provenance(a: Analysis, lang: str, c: Commit) -> str:
    line = esc(provenance(a, lang))
    if a.grounding and a.grounding.unverified:
        line += " ⚠️ " + esc(text(lang, "unverified", names=", ".join(a.grounding.unverified[:10])))
    return f"{esc(c.author)} · +{c.additions} −{c.deletions} · {line}"


def commit_panel(e: Entry, lang: str, web: str | None, *, app: bool, limit: int = 6000) -> dict[str, Any]:
    """A collapsible panel per commit: the title in the header, the analysis inside."""
    c = e.commit
    title = f"{IMPORTANCE_ICON[e.analysis.importance]} `{c.short_sha}` {esc(fit(c.title, 120))}"
    inner: list[dict[str, Any]] = [md(commit_markdown(e, lang, web, limit=limit))]
    if (button := _button(c, lang, app, has_deep=e.deep is not None)) is not None:
        inner.append(button)
    return {"tag": "collapsible_panel", "expanded": False,
            "header": {"title": {"tag": "markdown", "content": title}}, "elements": inner}


def detail_cards(digest: Digest, *, app: bool = True, entries: list[Entry] | None = None,
                 title: str | None = None, intro: str | None = None) -> list[tuple[dict[str, Any], tuple[str, ...]]]:
    """Every commit once (high first), as collapsible panels, in as many cards as the limits need."""
    lang, web = digest.lang, digest.web_url
    ordered = entries if entries is not None else [e for _, group in by_importance(digest) for e in group]
    budget = WEBHOOK_BODY_BUDGET if not app else APP_BODY_BUDGET
    groups: list[tuple[list[dict[str, Any]], list[str]]] = []

    def fresh(first: bool) -> _Fill:
        fill = _Fill("x" * HEADER_TITLE, "blue", not app, budget, [md(esc(intro))] if intro and first else [])
        fill.reserve = 200
        return fill

    current, current_shas = fresh(True), []
    for e in ordered:
        panel = commit_panel(e, lang, web, app=app)
        if not current.add(panel):
            if current_shas:
                groups.append((current.elements, current_shas))
                current, current_shas = fresh(False), []
            limit = 6000
            while not current.add(panel) and limit > 300:  # one commit alone over budget: shorter, never cut mid-word
                limit //= 2
                panel = commit_panel(e, lang, web, app=app, limit=limit)
        current_shas.append(e.commit.sha)
    if current_shas:
        groups.append((current.elements, current_shas))
    total = len(groups)
    template = template_of(digest)
    cards = []
    for i, (elements, group) in enumerate(groups, start=1):
        head = title or WORDS[lang]["details_title"].format(repo=digest.repo, day=digest.day.isoformat(), i=i, n=total)
        if title and total > 1:
            head = f"{title} ({i}/{total})"
        cards.append((card(head, elements, template=template, summary=head), tuple(group)))
    return cards


def digest_cards(digest: Digest, *, late: bool = False, app: bool = True
                 ) -> tuple[tuple[dict[str, Any], tuple[str, ...]], list[tuple[dict[str, Any], tuple[str, ...]]]]:
    """The summary card (with the shas of the commits it shows) and the detail cards."""
    details = detail_cards(digest, app=app) if digest.entries else []
    top = summary_card(digest, late=late, app=app, details=len(details))
    shown = tuple(e.commit.sha for e in digest.entries if e.analysis.importance == "high")
    return (top, shown), details


def followup_cards(digest: Digest, shas: list[str] | tuple[str, ...], *, app: bool = False
                   ) -> list[tuple[dict[str, Any], tuple[str, ...]]]:
    """Late analyses of a posted digest (a webhook card cannot be edited): the named commits, re-analysed."""
    wanted = set(shas)
    entries = [e for e in digest.entries if e.commit.sha in wanted]
    words = WORDS[digest.lang]
    return detail_cards(digest, app=app, entries=entries,
                        title=words["followup_title"].format(repo=digest.repo, day=digest.day.isoformat()),
                        intro=words["followup_intro"]) if entries else []


def report_card(report: CommitReport) -> dict[str, Any]:
    """/analyze and the Deep analysis button: one commit's deep analysis, or a merge told through its commits
    with theirs (as many as fit; the rest are counted)."""
    if report.entry is not None:
        return _merge_report_card(report, report.entry)
    a, c = report.analysis, report.commit
    entry = Entry(c, a, a if a.depth == "deep" else None)
    elements = [md(esc(committed_line(report)), "notation"),
                md(commit_markdown(entry, a.lang, report.web_url, limit=12000))]
    elements += [md(f"⚠️ {esc(note)}", "notation") for note in report.notes]
    out = _Fill(text(a.lang, "deep_of", title=c.title), TEMPLATE[a.importance], False, APP_BODY_BUDGET, [])
    for element in elements:
        if not out.add(element):
            out.add(md(esc_text(fit(element["content"], 4000))))
    return out.build()


def _merge_report_card(report: CommitReport, merge: Entry) -> dict[str, Any]:
    lang, web = report.analysis.lang, report.web_url
    out = _Fill(text(lang, "merge_of", label=title_of(merge, lang)), TEMPLATE[merge.importance], False,
                APP_BODY_BUDGET, [], reserve=400)  # room for the count of the rest
    out.add(md(esc(committed_line(report)), "notation"), md(commit_markdown(merge, lang, web, limit=3000)))
    out.add(md(esc(text(lang, "merge_told")), "notation"))
    shown = 0
    for e in report.merged:
        if not out.add(hr(), md(commit_markdown(e, lang, web))):
            break
        shown += 1
    if shown < len(report.merged):
        out.elements.append(md(esc(text(lang, "more_merged", n=len(report.merged) - shown)), "notation"))
    return out.build()


def progress_card(line: str, lang: str = "en") -> dict[str, Any]:
    return card(WORDS[lang]["notice_title"], [md(esc(line))], template="wathet")


def notice_card(message: str, lang: str = "en") -> dict[str, Any]:
    """A plain answer (help, errors, lists): our own text, whose untrusted parts are escaped here; `code` spans
    and **bold** of our own messages (Slack's *bold*) are kept."""
    lines = []
    for line in message.replace("\r", "").split("\n"):
        parts = line.split("`")
        shown = [("`" + p.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") + "`") if i % 2
                 else strip_controls(p).translate(_TABLE).replace("&#42;", "*")
                 for i, p in enumerate(parts)]
        lines.append(_bold("".join(shown)))
    return card(WORDS[lang]["notice_title"], [md(fit("\n".join(lines), 8000))], template="blue")


def _bold(line: str) -> str:
    """Slack-style *bold* of our own words -> **bold**; a lone asterisk stays an entity."""
    pieces = line.split("*")
    if len(pieces) % 2 == 0:
        return line.replace("*", "&#42;")
    return "".join(p if i % 2 == 0 else f"**{p}**" for i, p in enumerate(pieces))
