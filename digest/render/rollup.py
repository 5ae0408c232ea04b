"""A roll-up's view (digest/rollup_view.py) serialised for each surface: Slack Block Kit, a Feishu card, Markdown
and text. Nothing is decided here: escaping, links, buttons and the platforms' limits only."""

from __future__ import annotations

import json
from typing import Any

from digest.render import feishu, markdown as md_render, slack
from digest.render.common import one_line, strip_controls
from digest.textfit import fit
from digest.rollup import Rollup
from digest.rollup_view import RollupView
from digest.view import Line, as_text

DAY_ACTION = "day_digest"  # a day's button: that day's digest, for the person who clicked


def _day_value(v: RollupView, day: str, zone: str, branch: str) -> str:
    return json.dumps({"repo": v.repo, "day": day, "zone": zone, "lang": v.lang, "branch": branch})


def slack_blocks(v: RollupView, *, zone: str, branch: str, buttons: bool = True) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [slack._header(v.title), slack._context(slack.esc(v.context)),
                                    slack._section(slack.mrkdwn(v.stats))]
    days = "\n".join(f"`{slack.esc(d.label)}` {slack.esc(d.line)}" for d in v.days)
    blocks.append(slack._section(f"*{slack.esc(v.days_title)}*\n{days}"))
    days_with = [d for d in v.days if not d.empty] if buttons else []
    for i in range(0, len(days_with), 25):  # an actions block holds at most 25 elements; none without a day to open
        blocks.append({"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": d.label}, "action_id": f"{DAY_ACTION}:{d.day}",
             "value": _day_value(v, d.day.isoformat(), zone, branch)} for d in days_with[i:i + 25]]})
    if v.breaking:
        body = "\n".join([f"*{slack.esc(v.breaking_title)}*", *(slack.mrkdwn(b) for b in v.breaking)])
        blocks.append(slack._section(body + (f"\n{slack.esc(v.breaking_more)}" if v.breaking_more else "")))
    if v.areas:
        lines = [f"*{slack.esc(v.areas_title)}*"]
        for a in v.areas:
            lines.append(f"*{slack.esc(a.title)}*")
            lines += [f"• {slack.mrkdwn(i)}" for i in a.items] + ([slack.esc(a.more)] if a.more else [])
        blocks.append(slack._section("\n".join(lines)))
    closing = [line for line in (v.areas_more, None if buttons else v.hint) if line]
    blocks += [slack._context(slack.esc(line)) for line in closing]
    return blocks


def slack_fallback(v: RollupView) -> str:
    return fit(slack.esc(v.notification), slack.TEXT_FALLBACK)


def feishu_card(v: RollupView, *, zone: str, branch: str, app: bool) -> dict[str, Any]:
    esc, line = feishu.esc, feishu.markdown
    elements: list[dict[str, Any]] = [feishu.md(esc(v.context), "notation"), feishu.md(line(v.stats))]
    days = "\n".join(f"**{esc(d.label)}** {esc(d.line)}" for d in v.days)
    elements.append(feishu.md(f"**{esc(v.days_title)}**\n{days}"))
    if app:  # a webhook card cannot call back: its hint names the command instead
        buttons = [{"tag": "button", "type": "default", "size": "small",
                    "text": {"tag": "plain_text", "content": d.label},
                    "behaviors": [{"type": "callback", "value": {"action": DAY_ACTION, **json.loads(
                        _day_value(v, d.day.isoformat(), zone, branch))}}]} for d in v.days if not d.empty]
        if buttons:
            elements.append({"tag": "column_set", "flex_mode": "flow", "columns": [
                {"tag": "column", "width": "auto", "elements": [b]} for b in buttons]})
    if v.breaking:
        body = "\n".join([f"**{esc(v.breaking_title)}**", *(line(b) for b in v.breaking)])
        elements.append(feishu.md(body + (f"\n{esc(v.breaking_more)}" if v.breaking_more else "")))
    if v.areas:
        lines = [f"**{esc(v.areas_title)}**"]
        for a in v.areas:
            lines.append(f"**{esc(a.title)}**")
            lines += [f"- {line(i)}" for i in a.items] + ([esc(a.more)] if a.more else [])
        elements.append(feishu.md("\n".join(lines)))
    elements += [feishu.md(esc(x), "notation") for x in (v.areas_more, None if app else v.hint) if x]
    return feishu.card(v.title, elements, template="blue", summary=v.notification)


def _plain(line: Line) -> str:
    return one_line(as_text(line))


def markdown(v: RollupView, *, hint: bool = True) -> str:
    md = md_render.md
    out = [f"# {md(v.title)}", "", f"_{md(v.context)}_", "", md(_plain(v.stats)), "", f"## {md(v.days_title)}", ""]
    out += [f"- **{md(d.label)}** {md(d.line)}" for d in v.days]
    if v.breaking:
        out += ["", f"## {md(v.breaking_title)}", ""] + [f"{md(_plain(b))}" for b in v.breaking]
        out += [md(v.breaking_more)] if v.breaking_more else []
    if v.areas:
        out += ["", f"## {md(v.areas_title)}"]
        for a in v.areas:
            out += ["", f"### {md(a.title)}", ""]
            out += [f"- {_md_line(i)}" for i in a.items] + ([md(a.more)] if a.more else [])
    out += ["", *(md(x) for x in (v.areas_more, v.hint if hint else None) if x)]
    return "\n".join(out).rstrip() + "\n"


def _md_line(line: Line) -> str:
    md = md_render.md
    return "".join(f"[{md(s.text)}]({s.url})" if s.kind == "link" and s.url and s.url.startswith("https://")
                   else md(s.text) for s in line)


def plain_text(v: RollupView, *, hint: bool = True) -> str:
    out = [v.title, v.context, _plain(v.stats), "", v.days_title]
    out += [f"  {d.label}  {d.line}" for d in v.days]
    if v.breaking:
        out += ["", v.breaking_title] + [f"  {_plain(b)}" for b in v.breaking] + ([f"  {v.breaking_more}"]
                                                                                 if v.breaking_more else [])
    if v.areas:
        out += ["", v.areas_title]
        for a in v.areas:
            out += [f"  {a.title}"] + [f"    {_plain(i)}" for i in a.items] + ([f"    {a.more}"] if a.more else [])
    out += ["", *(x for x in (v.areas_more, v.hint if hint else None) if x)]
    return "\n".join(strip_controls(x) for x in out).rstrip() + "\n"


def json_text(r: Rollup) -> str:
    """The roll-up as one JSON object: per-day counts, and the high commits and breaking changes by area."""
    def commit(e: Any) -> dict[str, Any]:
        c = e.commit
        return {"sha": c.sha, "title": c.title, "url": c.url, "importance": e.importance,
                "breaking_changes": e.breaking_changes}

    value = {
        "repo": r.repo, "first": r.span.first.isoformat(), "last": r.span.last.isoformat(), "key": r.span.key,
        "timezone": r.zone, "branch": r.branch, "lang": r.lang,
        "stats": {k: getattr(r.total, k) for k in ("total", "high", "medium", "low", "breaking", "merges")},
        "days": [{"day": d.day.isoformat(), **{k: getattr(d.stats, k) for k in ("total", "high", "medium", "low",
                                                                                "breaking")}} for d in r.days],
        "areas": [{"area": a.name, "high": [commit(e) for e in a.high], "breaking": [commit(e) for e in a.breaking]}
                  for a in r.areas],
    }
    return json.dumps(value, ensure_ascii=False, indent=2) + "\n"
