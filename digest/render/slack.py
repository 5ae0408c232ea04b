"""Slack Block Kit for digests and analyses: pure functions of a Digest or an Analysis -> message dicts.

A digest is serialised from its view (digest/view.py), which decides what is said, in what order and with what
words; this module only escapes, links and splits into messages under Slack's limits. The full analysis of one
commit (Deep analysis, /analyze) is laid out here (`report_blocks`).

Every untrusted string (commit titles and messages, author names, LLM output) passes through `esc` (`&`, `<`,
`>`: nothing else), so `<!channel>` or `<https://evil|ok>` in a commit cannot ping or disguise a link. Every
message stays inside Slack's limits (50 blocks, 3000 characters a section, 150 a header, and a total of block
text well under the ~12,000 that answers `msg_blocks_too_long`); long text is shortened at a sentence or word
boundary with "…", and what does not fit in the top message is in the thread, where every commit appears once.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from digest.labels import CHANGE_TYPE, IMPORTANCE, IMPORTANCE_ICON, text
from core.models import Analysis, Commit, CommitReport, Digest, Entry
from digest import view
from digest.render.common import (breaking_shown, commit_link, marked_entry, one_line, per_line, provenance,
                                  title_of)
from digest.render.common import committed_line
from digest.textfit import fit
from digest.view import Line

MAX_BLOCKS = 48  # of Slack's 50, room for a progress or notice block
SECTION = 2900  # of 3000
HEADER = 150
MESSAGE_BUDGET = 9000  # characters of block text per message, well under the ~12,000 Slack rejects
TEXT_FALLBACK = 3000
DEEP_ACTION = "deep_analysis"
POST_ACTION = "post_to_channel"


def esc(value: str) -> str:
    """Untrusted text for mrkdwn: one line of it, with &, < and > escaped so nothing pings or links."""
    return one_line(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def esc_text(value: str) -> str:
    """Like `esc`, keeping line breaks."""
    return per_line(esc, value)


def link(url: str | None, label: str) -> str:
    """A mrkdwn link to one of our URLs (GitHub's), its label escaped; the label alone if the URL is odd."""
    shown = esc(label)
    if not url or not url.startswith(("https://", "http://")) or any(ch in url for ch in "<>| \n"):
        return shown
    return f"<{url}|{shown}>"  # the URL holds no `|`: Slack splits at the first one, the label keeps its own


def _section(body: str, accessory: dict[str, Any] | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": fit(body, SECTION)}}
    if accessory:
        block["accessory"] = accessory
    return block


def _context(body: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": fit(body, SECTION)}]}


def _header(title: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": fit(one_line(title), HEADER), "emoji": True}}


def deep_button(commit: Commit, lang: str) -> dict[str, Any]:
    return {"type": "button", "text": {"type": "plain_text", "text": text(lang, "deep_button")},
            "action_id": f"{DEEP_ACTION}:{commit.short_sha}",
            "value": json.dumps({"repo": commit.repo, "sha": commit.sha, "lang": lang})}


def block_text_size(blocks: list[dict[str, Any]]) -> int:
    """Characters of text in blocks, counted the way Slack's per-message total is."""
    total = 0

    def walk(node: Any) -> None:
        nonlocal total
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "text" and isinstance(value, str):
                    total += len(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(blocks)
    return total


@dataclass
class _Budget:
    """Blocks of one message, added while they fit."""

    blocks: list[dict[str, Any]] = field(default_factory=list)
    max_blocks: int = MAX_BLOCKS
    max_chars: int = MESSAGE_BUDGET

    def fits(self, *blocks: dict[str, Any]) -> bool:
        return (len(self.blocks) + len(blocks) <= self.max_blocks
                and block_text_size(self.blocks) + block_text_size(list(blocks)) <= self.max_chars)

    def add(self, *blocks: dict[str, Any]) -> bool:
        if not self.fits(*blocks):
            return False
        self.blocks.extend(blocks)
        return True


def _commit_link(e: Entry, web: str | None, lang: str = "en") -> str:
    return commit_link(e, web, lang, link)


_USER, _GROUP = re.compile(r"[UW][A-Z0-9]{2,20}"), re.compile(r"S[A-Z0-9]{2,20}")


def mention(span: view.Span) -> str:
    """A watch's mention as Slack notifies it (`<@U…>`, `<!subteam^S…>`); any other (a Feishu user) as text. The
    id is checked again here: nothing but a stored, well-formed id becomes markup."""
    m = span.mention
    if m is not None and m.platform == "slack":
        if m.kind == "user" and _USER.fullmatch(m.id):
            return f"<@{m.id}>"
        if m.kind == "group" and _GROUP.fullmatch(m.id):
            return f"<!subteam^{m.id}>"
    return esc(span.text)


def mrkdwn(line: Line) -> str:
    """A view's rich text as mrkdwn: every span escaped, links to our URLs only."""
    return view.serialise(line, MARKUP)


MARKUP = view.Markup(plain=esc, bold=lambda t: f"*{esc(t)}*", link=link, mention=mention,
                     code=lambda t: f"`{esc(t).replace('`', '')}`")


_WHERE = {"more_in_thread": "thread", "more_post": "post", "more_later": "later"}


def summary_blocks(digest: Digest, *, late: bool = False, extra: list[dict[str, Any]] | None = None,
                   budget: int = MESSAGE_BUDGET, more: str = "more_in_thread", thread_hint: bool = False
                   ) -> list[dict[str, Any]]:
    """The top message, as the view says it (digest/view.py): header, window, stats, breaking changes, the high
    commits that matter most, one line for the rest, coverage."""
    top = view.build(digest, where=_WHERE.get(more, "thread"), late=late).top  # type: ignore[arg-type]
    lang = digest.lang
    reserve = block_text_size(extra or []) + 400
    out = _Budget(max_blocks=MAX_BLOCKS - len(extra or []) - 4, max_chars=budget - reserve)
    out.add(_header(top.title))
    for line in top.context:
        out.add(_context(esc(line)))
    if top.quiet:
        out.add(_section(esc(top.quiet)))
        return out.blocks + (extra or [])
    if top.watched:
        lines = view.titled(top.watched_title, top.watched, top.watched_more, top.mentions)
        out.add(_section("\n".join(mrkdwn(x) for x in lines)))
    out.add(_section(mrkdwn(top.stats)))
    if top.breaking:
        lines = view.titled(top.breaking_title, top.breaking, top.breaking_more)
        out.add(_section("\n".join(mrkdwn(x) for x in lines)))
    if top.high:
        out.add(_section(f"*{esc(top.high_title)}*"))
        for item in top.high:
            body = f"*{mrkdwn(item.title)}*" + (f" · {esc(item.via)}" if item.via else "")
            body += f"\n{esc(item.top_sentence)}" if item.top_sentence else ""
            if not out.add(_section(body, deep_button_for(item, lang))):
                break
    closing = [_context(esc(line)) for line in (top.rest, top.coverage, top.footnote) if line]
    return out.blocks + closing + (extra or [])


def deep_button_for(item: view.Item, lang: str) -> dict[str, Any]:
    return {"type": "button", "text": {"type": "plain_text", "text": text(lang, "deep_button")},
            "action_id": f"{DEEP_ACTION}:{item.short_sha}",
            "value": json.dumps({"repo": item.repo, "sha": item.sha, "lang": lang})}


def fallback_text(digest: Digest) -> str:
    """The top message's notification text, in the reader's language."""
    return fit(esc(view.build(digest).notification), TEXT_FALLBACK)


def item_blocks(item: view.Item, lang: str) -> list[dict[str, Any]]:
    """One commit in the thread, compact: title, type and importance, one sentence, impact, breaking changes,
    the main risk of a high commit; the full analysis is one click away (Deep analysis)."""
    head = f"{item.icon} *{mrkdwn(item.title)}*  `{item.short_sha}` · {esc(item.kind)}"
    head += f" · {esc(item.via)}" if item.via else ""
    lines = [head]
    if item.sentence:
        lines.append(esc(item.sentence))
    if item.scope:
        lines.append(f"{text(lang, 'impact')}: " + ", ".join(f"`{esc(p).replace('`', '')}`" for p in item.scope))
    lines += [f"{text(lang, 'breaking')}: {esc(b)}" for b in item.breaking]
    if item.risk:
        lines.append(f"{text(lang, 'risk')}: {esc(item.risk)}")
    return [_section("\n".join(lines), deep_button_for(item, lang)),  # the full analysis, one click away
            _context(esc(item.meta))]


def merged_here_of(e: Entry, entries: tuple[Entry, ...]) -> list[Entry]:
    wanted = set(e.merged)
    return [m for m in entries if m.commit.sha in wanted]


def commit_blocks(e: Entry, digest_lang: str, web: str | None, *, button: bool = True,
                  digest_entries: tuple[Entry, ...] = ()) -> list[dict[str, Any]]:
    """One commit in the thread: title, SHA, type and importance with the reason, summary, impact, breaking
    changes; a high commit's deep analysis adds insights, risks and suggestions."""
    e = marked_entry(e)
    lang, a, c = digest_lang, e.best, e.commit
    level = e.analysis.importance
    head = f"{IMPORTANCE_ICON[level]} *{_commit_link(e, web, lang)}*  `{c.short_sha}`{' 🔀' if c.is_merge else ''}\n"
    if e.grouped:  # its commits, each told in its own place (issue 8)
        head += "".join(f"↳ {link(m.commit.url, fit(m.commit.title, 120))}\n"  # each is analysed in its own place
                        for m in merged_here_of(e, digest_entries))
    elif e.merged:
        head += f"🔀 {esc(text(lang, 'merge_brings', n=len(e.merged)))}\n"
    if e.merged_into:
        head += f"🔀 {esc(text(lang, 'in_merge', merge=e.merged_into[:7]))}\n"
    if not e.analysed:
        head += f"{IMPORTANCE[lang][level]} — {esc(e.analysis.importance_reason)}\n{esc(text(lang, 'merge_nothing_own'))}"
        return [_section(head)]
    head += (f"{CHANGE_TYPE[lang][a.change_type]} · {IMPORTANCE[lang][level]} — {esc(fit(e.analysis.importance_reason, 300))}\n"
             f"{esc(fit(a.summary, 900))}")
    if a.impact_scope:
        head += f"\n{text(lang, 'impact')}: " + ", ".join(f"`{esc(p).replace('`', '')}`" for p in a.impact_scope[:8])
    head += "".join(f"\n{text(lang, 'breaking')}: {esc(b)}" for b in breaking_shown(e, lang))
    blocks = [_section(head, deep_button(c, lang) if button and e.deep is None else None)]
    blocks += analysis_detail_blocks(a, lang)
    blocks.append(_context(_provenance(a, lang, c)))
    return blocks


def analysis_detail_blocks(a: Analysis, lang: str) -> list[dict[str, Any]]:
    """Insights, risks and suggestions of a deep analysis (nothing for a brief one)."""
    blocks = []
    if a.insights and any(a.insights.model_dump().values()):
        lines = [f"*{text(lang, 'insights')}*"]
        for key in ("architecture", "performance", "security", "maintainability"):
            if value := getattr(a.insights, key):
                lines.append(f"• *{text(lang, key)}*: {esc(fit(value, 600))}")
        blocks.append(_section("\n".join(lines)))
    if a.risks:
        lines = [f"*{text(lang, 'risks')}*"] + [
            f"• *{esc(fit(r.point, 150))}*: {esc(fit(r.description, 300))} → {esc(fit(r.consequence, 200))}. "
            f"{esc(fit(r.mitigation, 200))}" for r in a.risks[:5]]
        blocks.append(_section("\n".join(lines)))
    if a.suggestions:
        lines = [f"*{text(lang, 'suggestions')}*"] + [f"{i}. {esc(fit(s, 300))}" for i, s in enumerate(a.suggestions[:6], 1)]
        blocks.append(_section("\n".join(lines)))
    return blocks


def _provenance(a: Analysis, lang: str, c: Commit) -> str:
    line = esc(provenance(a, lang))
    if a.grounding and a.grounding.unverified:
        line += " ⚠️ " + esc(text(lang, "unverified", names=", ".join(a.grounding.unverified[:10])))
    return fit(f"{c.author and esc(c.author)} · +{c.additions} −{c.deletions} · {line}", 1900)


def detail_messages(digest: Digest, entries: list[Entry] | None = None, note: str | None = None
                    ) -> list[tuple[list[dict[str, Any]], tuple[str, ...]]]:
    """The thread: every commit once in the view's order (or those of `entries`), several commits per reply,
    each reply inside the limits and opening with "Details i/n", or with `note` when one is given."""
    v = view.build(digest)
    items = v.thread if entries is None else v.items_for([e.commit.sha for e in entries])
    footnote = _context(esc(v.unverified_note))
    messages: list[tuple[list[dict[str, Any]], tuple[str, ...]]] = []
    current, shas, marks = _Budget(max_blocks=MAX_BLOCKS - 2, max_chars=MESSAGE_BUDGET - 300), [], False

    def close() -> None:
        messages.append((current.blocks + ([footnote] if marks else []), tuple(shas)))

    for item in items:
        blocks = item_blocks(item, digest.lang)
        if not current.add(*blocks):
            if current.blocks:
                close()
            current, shas, marks = _Budget(max_blocks=MAX_BLOCKS - 2, max_chars=MESSAGE_BUDGET - 300), [], False
            current.add(*blocks)
        shas.extend(item.shas)
        marks = marks or item.unverified
    if current.blocks or note:
        close()
    total = len(messages)
    return [([_context(esc(note) if note else esc(text(digest.lang, "details_part", i=i, n=total)))] + blocks, group)
            for i, (blocks, group) in enumerate(messages, start=1)]


def details_fallback(digest: Digest, shas: tuple[str, ...], note: str | None = None) -> str:
    """The notification text of a thread reply, in the reader's language: what it carries, or its note."""
    return fit(esc(view.build(digest).reply_notification(shas, note)), TEXT_FALLBACK)


def posted_to(lang: str, channel: str) -> str:
    """"Posted to #channel." with the channel as Slack links it."""
    return text(lang, "posted_to_channel", channel=f"<#{esc(channel)}>")


def post_button(digest: Digest) -> dict[str, Any]:
    value = {"repo": digest.repo, "day": digest.day.isoformat(), "zone": digest.window.zone, "lang": digest.lang,
             "branch": digest.branch}
    return {"type": "actions", "elements": [{
        "type": "button", "style": "primary", "text": {"type": "plain_text", "text": text(digest.lang, "post_button")},
        "action_id": POST_ACTION, "value": json.dumps(value)}]}


def ephemeral_digest(digest: Digest) -> list[dict[str, Any]]:
    """An on-demand answer: the summary, and a button that posts the full digest to the channel."""
    finished = digest.built_at >= digest.window.end  # a day still open is the next morning's post
    return summary_blocks(digest, extra=[post_button(digest)] if digest.entries and finished else [],
                          more="more_post" if finished else "more_later")


def report_blocks(report: CommitReport) -> list[dict[str, Any]]:
    """/analyze and the Deep analysis button: one commit's deep analysis, or a merge told through its commits
    with theirs (as many as fit; the rest are counted)."""
    if report.entry is not None:
        return _merge_report_blocks(report, report.entry)
    a, c = report.analysis, report.commit
    entry = Entry(c, a, a if a.depth == "deep" else None)
    blocks = [_header(text(a.lang, "deep_of", title=c.title)), _context(esc(committed_line(report)))]
    blocks += commit_blocks(entry, a.lang, report.web_url, button=False)
    for note in report.notes:
        blocks.append(_context(f"⚠️ {esc(note)}"))
    out = _Budget()
    for block in blocks:
        if not out.add(block):
            break
    return out.blocks


def _merge_report_blocks(report: CommitReport, merge: Entry) -> list[dict[str, Any]]:
    lang, web = report.analysis.lang, report.web_url
    out = _Budget(max_blocks=MAX_BLOCKS - 1, max_chars=MESSAGE_BUDGET - 200)  # room for the count of the rest
    out.add(_header(text(lang, "merge_of", label=title_of(merge, lang))), _context(esc(committed_line(report))))
    out.add(*commit_blocks(merge, lang, web, button=False, digest_entries=report.merged))
    out.add(_context(esc(text(lang, "merge_told"))))
    shown = 0
    for e in report.merged:
        if not out.add(*commit_blocks(e, lang, web, digest_entries=report.merged)):
            break
        shown += 1
    if shown < len(report.merged):
        out.blocks.append(_context(text(lang, "more_merged", n=len(report.merged) - shown)))
    return out.blocks


def notice_blocks(message: str) -> list[dict[str, Any]]:
    """A plain answer (help, errors, lists): our own text, with untrusted parts escaped by the caller."""
    return [_section(message)]
