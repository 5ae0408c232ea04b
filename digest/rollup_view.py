"""The view of a roll-up (a week or a range of days, issue 14), platform-free like digest/view.py: what a reader of
a week is told, in what order, with what words. It reads in a minute: at most TOP_VISIBLE characters whatever
the week holds (500 commits included): the totals, one line per day (its digest one click away), the week's
breaking changes, and its high-importance commits grouped by area."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from core.models import Entry
from core.window import day_of
from digest.labels import IMPORTANCE_ICON, text
from digest.rollup import Rollup
from digest.textfit import fit
from digest.view import Line, Span, plain, visible

TOP_VISIBLE = 2400  # as the daily top message: 3,000 at most once laid out
MAX_AREAS, MAX_AREA_ITEMS, MAX_BREAKING = 6, 3, 5
TITLE = 80


@dataclass(frozen=True)
class DayLine:
    day: date
    label: str  # "Mon 01-05"
    line: str  # "58 commits · 🔴 4 · 💥 1"
    empty: bool


@dataclass(frozen=True)
class AreaView:
    title: str  # "python/sglang/srt · 🔴 7"
    items: tuple[Line, ...]  # "Mon · <title link> (#123)"
    more: str | None


@dataclass(frozen=True)
class RollupView:
    lang: str
    repo: str
    key: str  # what the post is claimed by: "2026-W02" or "2026-01-05..2026-01-11"
    title: str
    context: str
    stats: Line
    days_title: str
    days: tuple[DayLine, ...]
    breaking_title: str
    breaking: tuple[Line, ...]
    breaking_more: str | None
    areas_title: str
    areas: tuple[AreaView, ...]
    areas_more: str | None
    hint: str  # how to open a day's digest where there is no button
    notification: str


def _weekday(lang: str, day: date) -> str:
    return text(lang, "weekday").split()[day.weekday()]


def _link(e: Entry, limit: int, lang: str, zone: str) -> Line:
    """`Tue · <title>`: a high commit of the week, with its day."""
    c = e.commit
    when = _weekday(lang, day_of(c.committed_at, zone))
    return (plain(f"{when} · "), Span(fit(c.bare_title if c.pr_number else c.title, limit), "link", c.url))


def _day_line(r: Rollup, lang: str, day: date) -> DayLine:
    found = next((d for d in r.days if d.day == day), None)
    label = f"{_weekday(lang, day)} {day:%m-%d}"
    if found is None or found.stats.total == 0:
        return DayLine(day, label, text(lang, "rollup_day_quiet"), True)
    s = found.stats
    parts = [text(lang, "stats_total", total=s.total)]
    if s.high:
        parts.append(f"{IMPORTANCE_ICON['high']} {s.high}")
    if s.breaking:
        parts.append(f"💥 {s.breaking}")
    return DayLine(day, label, " · ".join(parts), False)


def build(r: Rollup) -> RollupView:
    lang, span = r.lang, r.span
    total = r.total
    weekly = span.key != span.label
    year, number, _ = span.first.isocalendar()
    title = text(lang, "rollup_title_week" if weekly else "rollup_title", repo=r.repo, week=span.key, year=year,
                 n=number, first=span.first.isoformat(), last=span.last.isoformat())
    stats = (Span(text(lang, "stats_total", total=total.total), "bold"),
             plain(" · " + text(lang, "rollup_levels", high=total.high, medium=total.medium, low=total.low)
                   + (" · " + text(lang, "breaking_count", n=total.breaking) if total.breaking else "")))
    days = tuple(_day_line(r, lang, day) for day in span.days)
    seen: set[str] = set()
    breaking_rows = []  # each change once: a change reverted and made again, or carried twice, is said once
    for e, b in ((e, b) for a in r.areas for e in a.breaking for b in e.breaking_changes):
        if (said := " ".join(b.lower().split())) not in seen:
            seen.add(said)
            breaking_rows.append((e, b))
    breaking = tuple((plain("• " + fit(b, 110) + " "), *_ref(e)) for e, b in breaking_rows[:MAX_BREAKING])
    breaking_more = (text(lang, "rollup_more", n=len(breaking_rows) - len(breaking))
                     if len(breaking_rows) > len(breaking) else None)

    def areas_of(n_areas: int, n_items: int, limit: int) -> tuple[tuple[AreaView, ...], str | None]:
        shown = []
        for a in r.areas[:n_areas]:
            if not a.high:
                continue
            items = tuple(_link(e, limit, lang, r.zone) for e in a.high[:n_items])
            more = text(lang, "rollup_more", n=len(a.high) - len(items)) if len(a.high) > len(items) else None
            shown.append(AreaView(f"{a.name} · {IMPORTANCE_ICON['high']} {len(a.high)}", items, more))
        hidden = sum(1 for a in r.areas[n_areas:] if a.high)
        return tuple(shown), text(lang, "rollup_more_areas", n=hidden) if hidden else None

    def view(n_areas: int, n_items: int, limit: int) -> RollupView:
        areas, more = areas_of(n_areas, n_items, limit)
        return RollupView(
            lang=lang, repo=r.repo, key=span.key, title=title,
            context=text(lang, "rollup_context", zone=r.zone, branch=r.branch, first=span.first.isoformat(),
                         last=span.last.isoformat()),
            stats=stats, days_title=text(lang, "rollup_days_title"), days=days,
            breaking_title=text(lang, "breaking_title"), breaking=breaking, breaking_more=breaking_more,
            areas_title=text(lang, "rollup_areas_title"), areas=areas, areas_more=more,
            hint=text(lang, "rollup_hint", day=span.last.isoformat(), repo=r.repo),
            notification=text(lang, "rollup_notify", repo=r.repo, week=span.key, total=total.total, high=total.high,
                              breaking=total.breaking))

    shown = view(MAX_AREAS, MAX_AREA_ITEMS, TITLE)
    for n_areas, n_items, limit in ((MAX_AREAS, 2, 70), (4, 2, 60), (3, 1, 60), (2, 1, 50), (0, 0, 50)):
        if visible_chars(shown) <= TOP_VISIBLE:
            break
        shown = view(n_areas, n_items, limit)
    return shown


def _ref(e: Entry) -> Line:
    c = e.commit
    return (Span(f"#{c.pr_number}" if c.pr_number else c.short_sha, "link", c.url),)


def visible_chars(v: RollupView) -> int:
    n = len(v.title) + len(v.context) + visible(v.stats) + len(v.days_title)
    n += sum(len(d.label) + len(d.line) + 3 for d in v.days)
    n += (len(v.breaking_title) if v.breaking else 0) + sum(visible(b) for b in v.breaking) + len(v.breaking_more or "")
    n += (len(v.areas_title) if v.areas else 0) + sum(
        len(a.title) + sum(visible(i) + 3 for i in a.items) + len(a.more or "") for a in v.areas)
    return n + len(v.areas_more or "") + len(v.hint)

