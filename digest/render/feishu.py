"""Feishu (Lark) interactive cards, JSON 2.0: pure functions of a Digest or a CommitReport -> card dicts.

A digest is serialised from its view (digest/view.py), the same view as Slack's: the same commits in the same
order with the same words; this module only escapes, links and splits into cards (details in collapsible panels,
one per importance in each card) under Feishu's limits.

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
import re
from dataclasses import dataclass
from typing import Any

from digest.labels import CHANGE_TYPE, IMPORTANCE, IMPORTANCE_ICON, text
from core.models import Analysis, Commit, CommitReport, Digest, Entry
from digest import view
from digest.render.common import (breaking_shown, commit_link, marked_entry, one_line, per_line, provenance,
                                  strip_controls, title_of)
from digest.render.common import committed_line
from digest.textfit import fit
from digest.view import Line

APP_BODY_BUDGET = 28 * 1024  # bytes of the send request body, of Feishu's 30 KB per card message
WEBHOOK_BODY_BUDGET = 19 * 1024  # bytes of the webhook request body, of the documented 20 KB
MAX_COMPONENTS = 180  # of Feishu's 200 per card
HEADER_TITLE = 100
DEEP_ACTION = "deep_analysis"
TEMPLATE = {"high": "red", "medium": "orange", "low": "green"}

_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "*": "&#42;", "_": "&#95;", "~": "&#126;", "`": "&#96;",
            "[": "&#91;", "]": "&#93;", "#": "&#35;", "|": "&#124;", "$": "&#36;"}
_TABLE = str.maketrans(_ESCAPES)

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


_PLAIN_CODE = re.compile(r"[\w./:@+-]+")


_OPEN_ID = re.compile(r"ou_[A-Za-z0-9]{1,64}")


def mention(span: view.Span) -> str:
    """A watch's mention as a Feishu card notifies it (`<at id=ou_…></at>`); any other (a Slack user) as text."""
    m = span.mention
    if m is not None and m.platform == "feishu" and m.kind == "user" and _OPEN_ID.fullmatch(m.id):
        return f"<at id={m.id}></at>"
    return esc(span.text)


def markdown(line: Line) -> str:
    """A view's rich text as Feishu markdown: every span escaped, links to our URLs only."""
    return view.serialise(line, MARKUP)


MARKUP = view.Markup(plain=esc, bold=lambda t: f"**{esc(t)}**", link=link, mention=mention,
                     code=lambda t: f"`{t}`" if _PLAIN_CODE.fullmatch(t) else esc(t))


def template_of(digest: Digest) -> str:
    levels = {e.analysis.importance for e in digest.entries}
    return next((TEMPLATE[level] for level in ("high", "medium", "low") if level in levels), "grey")


def summary_card(digest: Digest, *, late: bool = False, app: bool = True, details: int = 0) -> dict[str, Any]:
    """The top card, as the view says it (digest/view.py), the same as Slack's top message: header coloured by
    the day's highest importance, window, stats, breaking changes, the high commits that matter most (with a
    Deep analysis button in an app card), one line for the rest, coverage."""
    top = view.build(digest, where="cards" if details else "thread", late=late).top
    lang = digest.lang
    elements = [md(esc(line), "notation") for line in top.context]
    if top.quiet:
        return card(top.title, elements + [md(esc(top.quiet))], template=template_of(digest), summary=top.title)
    if top.watched:
        lines = view.titled(top.watched_title, top.watched, top.watched_more, top.mentions)
        elements.append(md("\n".join(markdown(x) for x in lines)))
    elements.append(md(markdown(top.stats)))
    if top.breaking:
        lines = view.titled(top.breaking_title, top.breaking, top.breaking_more)
        elements.append(md("\n".join(markdown(x) for x in lines)))
    if top.high:
        elements.append(md(f"**{esc(top.high_title)}**"))
        for item in top.high:
            body = f"**{markdown(item.title)}**" + (f" · {esc(item.via)}" if item.via else "")
            body += f"\n{esc(item.top_sentence)}" if item.top_sentence else ""
            elements.append(md(body))
            if app:
                elements.append(deep_button_for(item, lang))
    elements += [md(esc(line), "notation") for line in (top.rest, top.coverage, top.footnote) if line]
    return card(top.title, elements, template=template_of(digest), summary=top.title)


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


def deep_button_for(item: view.Item, lang: str) -> dict[str, Any]:
    return {"tag": "button", "type": "primary_filled", "size": "small",
            "text": {"tag": "plain_text", "content": text(lang, "deep_button")},
            "behaviors": [{"type": "callback", "value": {"action": DEEP_ACTION, "repo": item.repo,
                                                         "sha": item.sha, "lang": lang}}]}


def item_markdown(item: view.Item, lang: str) -> str:
    """One commit in the details, compact and worded as in Slack's thread."""
    head = f"{item.icon} **{markdown(item.title)}** `{item.short_sha}` · {esc(item.kind)}"
    lines = [head + (f" · {esc(item.via)}" if item.via else "")]
    if item.sentence:
        lines.append(esc(item.sentence))
    if item.scope:
        lines.append(f"{text(lang, 'impact')}: " + ", ".join(markdown((view.Span(p, "code"),)) for p in item.scope))
    lines += [f"{text(lang, 'breaking')}: {esc(b)}" for b in item.breaking]
    if item.risk:
        lines.append(f"{text(lang, 'risk')}: {esc(item.risk)}")
    lines.append(esc(item.meta))
    return "\n".join(lines)


def _item_elements(item: view.Item, lang: str, app: bool) -> list[dict[str, Any]]:
    return [md(item_markdown(item, lang))] + ([deep_button_for(item, lang)] if app else [])  # one click away


def _joined(elements: list[dict[str, Any]], more: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A panel's elements with `more` added; markdown after markdown joins it (a webhook card has no buttons
    between commits, and each element costs bytes of the 20 KB)."""
    if elements and more and elements[-1].get("tag") == "markdown" and more[0].get("tag") == "markdown":
        return elements[:-1] + [md(elements[-1]["content"] + "\n\n" + more[0]["content"])] + more[1:]
    return elements + more


def _panel(title: str, elements: list[dict[str, Any]]) -> dict[str, Any]:
    return {"tag": "collapsible_panel", "expanded": False,
            "header": {"title": {"tag": "markdown", "content": esc(title)}}, "elements": elements}


def detail_cards(digest: Digest, *, app: bool = True, entries: list[Entry] | None = None,
                 title: str | None = None, intro: str | None = None) -> list[tuple[dict[str, Any], tuple[str, ...]]]:
    """Every commit once, in the view's order (or those of `entries`): a collapsible panel per importance in
    each card, in as few cards as the limits allow."""
    lang = digest.lang
    v = view.build(digest)
    items = v.thread if entries is None else v.items_for([e.commit.sha for e in entries])
    budget = (WEBHOOK_BODY_BUDGET if not app else APP_BODY_BUDGET) - 300  # the title, the footnote
    template = template_of(digest)
    footnote = md(esc(v.unverified_note), "notation")
    cards: list[tuple[list[tuple[str, list[dict[str, Any]]]], list[str], bool]] = []
    lead = [md(esc(intro))] if intro else []

    def elements(panels: list[tuple[str, list[dict[str, Any]]]], first: bool, marks: bool) -> list[dict[str, Any]]:
        return ((lead if first else []) + [_panel(t, els) for t, els in panels] + ([footnote] if marks else []))

    def fits(panels: list[tuple[str, list[dict[str, Any]]]], first: bool) -> bool:
        trial = card("x" * HEADER_TITLE, elements(panels, first, True), template=template, summary="x" * 100)
        return body_bytes(trial, webhook=not app) <= budget and components(trial["body"]["elements"]) <= MAX_COMPONENTS

    panels: list[tuple[str, list[dict[str, Any]]]] = []
    shas: list[str] = []
    marks = False
    for group in v.groups(items):
        for item in group.items:
            els = _item_elements(item, lang, app)
            trial = ([*panels[:-1], (panels[-1][0], _joined(panels[-1][1], els))] if panels and panels[-1][0] == group.title
                     else [*panels, (group.title, els)])
            if shas and not fits(trial, not cards):
                cards.append((panels, shas, marks))
                panels, shas, marks = [(group.title, els)], [], False
            else:
                panels = trial
            shas.extend(item.shas)
            marks = marks or item.unverified
    if shas:
        cards.append((panels, shas, marks))
    total = len(cards)
    out = []
    for i, (panels, group_shas, marks) in enumerate(cards, start=1):
        head = title or text(lang, "details_title", repo=digest.repo, day=digest.day.isoformat(), i=i, n=total)
        if title and total > 1:
            head = f"{title} ({i}/{total})"
        out.append((card(head, elements(panels, i == 1, marks), template=template, summary=head), tuple(group_shas)))
    return out


def digest_cards(digest: Digest, *, late: bool = False, app: bool = True
                 ) -> tuple[tuple[dict[str, Any], tuple[str, ...]], list[tuple[dict[str, Any], tuple[str, ...]]]]:
    """The top card (with the shas of the commits it names) and the detail cards."""
    details = detail_cards(digest, app=app) if digest.entries else []
    top = summary_card(digest, late=late, app=app, details=len(details))
    return (top, view.build(digest).top.shas), details


def followup_cards(digest: Digest, shas: list[str] | tuple[str, ...], *, app: bool = False
                   ) -> list[tuple[dict[str, Any], tuple[str, ...]]]:
    """Late analyses of a posted digest (a webhook card cannot be edited): the named commits, re-analysed."""
    wanted = set(shas)
    entries = [e for e in digest.entries if e.commit.sha in wanted]
    lang, day = digest.lang, digest.day.isoformat()
    return detail_cards(digest, app=app, entries=entries,
                        title=text(lang, "followup_title", repo=digest.repo, day=day),
                        intro=text(lang, "followup_intro")) if entries else []


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
    return card(text(lang, "notice_title"), [md(esc(line))], template="wathet")


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
    return card(text(lang, "notice_title"), [md(fit("\n".join(lines), 8000))], template="blue")


def _bold(line: str) -> str:
    """Slack-style *bold* of our own words -> **bold**; a lone asterisk stays an entity."""
    pieces = line.split("*")
    if len(pieces) % 2 == 0:
        return line.replace("*", "&#42;")
    return "".join(p if i % 2 == 0 else f"**{p}**" for i, p in enumerate(pieces))
