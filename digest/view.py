"""One platform-free view of a digest (issue 13): what is said, in what order, with what words, and where.

`build(digest, ...)` is a pure function of a Digest and the reader's context (language, zone, where the rest
is). It decides everything a reader sees: the top message (header, window, stats, a few breaking changes, the
high commits that matter most, one line counting the rest, coverage) and the thread (every commit once,
compact). Rich text is a tuple of `Span`s; the Slack, Feishu, Markdown and text serialisers only escape, link
and split into messages under their platform's limits.

Merges never take a slot by themselves: a grouped merge is told through its commits, each named "via #657";
a grouped merge with no changes of its own is no item at all (the item of its first commit carries its SHA, so
a post still accounts for it).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from core.models import Analysis, Digest, Entry
from core.watches import Mention
from digest.watches import Reason, touches
from digest.labels import CHANGE_TYPE, IMPORTANCE_ICON, text, thousands
from digest.merges import merge_full_name, merge_ref
from digest.render.common import marked_entry, pr_url, window_line
from digest.textfit import fit

SpanKind = Literal["plain", "bold", "link", "code", "mention"]
Where = Literal["thread", "cards", "post", "later"]

TOP_HIGH = 8  # high commits named in the top message
TOP_BREAKING = 5  # breaking changes named there, one line each
TOP_VISIBLE = 2400  # visible characters of the top message as the view counts them (3,000 at most once laid out)
TOP_TITLE, TOP_SENTENCE, TOP_BREAKING_LINE = 90, 140, 110
THREAD_SENTENCE, THREAD_SCOPE, THREAD_BREAKING, THREAD_RISK = 180, 2, 3, 160


@dataclass(frozen=True)
class Span:
    text: str
    kind: SpanKind = "plain"
    url: str | None = None
    mention: Mention | None = None  # kind "mention": who is notified (a serialiser of another platform shows text)


Line = tuple[Span, ...]


def plain(value: str) -> Span:
    return Span(value)


def visible(line: Line) -> int:
    """Characters a reader sees: link labels, not URLs."""
    return sum(len(s.text) for s in line)


def as_text(line: Line) -> str:
    return "".join(s.text for s in line)


def spaced(value: str, escaped: str) -> str:
    """`escaped` (a one-line escape of `value`, which trims it) with the spaces around `value` kept."""
    lead = " " if value[:1].isspace() else ""
    trail = " " if value[-1:].isspace() and value.strip() else ""
    return f"{lead}{escaped}{trail}"


@dataclass(frozen=True)
class Markup:
    """How a surface writes each kind of span (each function escapes what it is given)."""

    plain: Callable[[str], str]
    bold: Callable[[str], str]
    code: Callable[[str], str]
    link: Callable[[str | None, str], str]
    mention: Callable[["Span"], str]


def titled(title: str, lines: tuple[Line, ...], *after: str | Line | None) -> tuple[Line, ...]:
    """A titled list of the top message as rich lines: the title in bold, the lines, then what follows them."""
    tail = tuple((plain(a),) if isinstance(a, str) else a for a in after if a)
    return ((Span(title, "bold"),), *lines, *tail)


def serialise(line: Line, markup: Markup) -> str:
    """A view's rich text in a surface's markup: what a serialiser adds is only syntax and escaping."""
    out = []
    for span in line:
        if span.kind == "link":
            out.append(markup.link(span.url, span.text))
        elif span.kind == "bold":
            out.append(markup.bold(span.text))
        elif span.kind == "code":
            out.append(markup.code(span.text))
        elif span.kind == "mention":
            out.append(markup.mention(span))
        else:
            out.append(spaced(span.text, markup.plain(span.text)))
    return "".join(out)


@dataclass(frozen=True)
class Item:
    """One commit as the view tells it, in the top message or the thread."""

    sha: str
    short_sha: str
    repo: str
    importance: str
    icon: str
    title: Line  # the title linked to the commit, its pull request linked after it
    kind: str  # "Bug fix" (the icon says the importance)
    via: str | None  # "via #657": the grouped merge that brings it in
    sentence: str | None  # one sentence that adds to the title (never restates it)
    scope: tuple[str, ...]
    breaking: tuple[str, ...]
    risk: str | None  # for high commits: the main risk
    meta: str  # "Ada · +40 −2 · test-model"
    unverified: bool  # its text carries an "(unverified)" mark
    has_deep: bool
    url: str | None
    shas: tuple[str, ...]  # the commits this item accounts for: its own and merges told through it
    top_sentence: str | None = None  # the shorter sentence the top message shows


@dataclass(frozen=True)
class Top:
    title: str
    context: tuple[str, ...]  # window (and late), then notes
    quiet: str | None  # a day without commits
    stats: Line
    breaking_title: str
    breaking: tuple[Line, ...]
    breaking_more: str | None
    high_title: str
    high: tuple[Item, ...]
    rest: str | None  # "🔴 3 more high · 🟡 12 medium · 🟢 30 low: in the thread"
    coverage: str
    footnote: str | None  # explains "(unverified)" when the top message shows one
    # issue 14: "Touches your watches (3)", before the stats' detail; the mentions once, only when one matched
    watched_title: str = ""
    watched: tuple[Line, ...] = ()
    watched_more: str | None = None
    mentions: Line = ()

    @property
    def shas(self) -> tuple[str, ...]:
        return tuple(i.sha for i in self.high)


@dataclass(frozen=True)
class Group:
    """A run of the thread's items of one importance, titled for a collapsible panel or a heading."""

    level: str
    title: str
    items: tuple[Item, ...]


@dataclass(frozen=True)
class View:
    lang: str
    repo: str
    day: str
    top: Top
    thread: tuple[Item, ...]
    notification: str  # the top message's notification text, in the reader's language
    unverified_note: str

    def items_for(self, shas: tuple[str, ...] | list[str] | set[str]) -> tuple[Item, ...]:
        """The thread's items that account for any of `shas`, in thread order."""
        wanted = set(shas)
        return tuple(i for i in self.thread if wanted & set(i.shas))

    def groups(self, items: tuple[Item, ...]) -> list[Group]:
        out: list[Group] = []
        for item in items:
            if out and out[-1].level == item.importance:
                out[-1] = Group(item.importance, "", out[-1].items + (item,))
            else:
                out.append(Group(item.importance, "", (item,)))
        return [Group(g.level, text(self.lang, "group_title", icon=IMPORTANCE_ICON[g.level],
                                    level=text(self.lang, f"level_{g.level}"), n=len(g.items)), g.items)
                for g in out]

    def reply_notification(self, shas: tuple[str, ...], note: str | None = None) -> str:
        """A thread reply's notification text: how many commits it carries, or its note."""
        if note and not shas:
            return text(self.lang, "notify_note", repo=self.repo, day=self.day, note=note)
        said = text(self.lang, "notify_details", repo=self.repo, day=self.day, n=len(shas))
        return f"{said}: {note}" if note else said


# -- sentences ------------------------------------------------------------------------------------------------

_MARK = re.compile(r"[.!?。！？]")  # where a sentence may end
_WORDISH = re.compile(r"[\W_]+", re.UNICODE)
_PR_SUFFIX = re.compile(r"\(#\d+\)\s*$")  # no leading \s*: a run of spaces would be re-read from each
_CONVENTIONAL = re.compile(r"^\s*(?:\[[^\]]*\]\s*)?(?:[\w-]+(?:\([^)]*\))?!?:\s*)?")  # "fix(peagle): ", "[Feature] "


def _norm(value: str) -> str:
    return _WORDISH.sub(" ", value.lower()).strip()


def restates(sentence: str, title: str) -> bool:
    """Whether `sentence` says no more than `title`, or opens by saying it again (give or take a prefix)."""
    title = _PR_SUFFIX.sub("", title).rstrip()
    s, t = _norm(sentence), _norm(title)
    bare = _norm(_CONVENTIONAL.sub("", title))
    if not s:
        return True
    for t_ in {t, bare} - {""}:
        if s == t_ or s in t_ or s.startswith(t_) or (t_ in s and len(s) - len(t_) < 15):
            return True
    return False


def sentences(value: str) -> list[str]:
    """Sentences end at `.!?` before a space or a CJK character, and at `。！？` (one scan: linear, and fast on a
    megabyte of `a.a.a.`, where lookbehinds at every position were not)."""
    text, out, start = value.replace("\n", " "), [], 0
    for mark in _MARK.finditer(text):
        end = mark.end()
        after = text[end:end + 1]
        if mark.group() in "。！？" or (after and (after.isspace() or "\u3000" <= after <= "\u9fff")):
            out.append(text[start:end])
            start = end
    out.append(text[start:])
    return [s.strip() for s in out if s.strip()]


def beyond_title(summary: str, title: str) -> str:
    """The summary without its leading sentences that restate the title ("" when that is all it says)."""
    kept = sentences(summary)
    while kept and restates(kept[0], title):
        kept.pop(0)
    return "".join(k + ("" if k.endswith(("。", "！", "？")) else " ") for k in kept).strip()


def adding_sentence(a: Analysis, title: str, avoid: tuple[str, ...] = ()) -> str | None:
    """The first sentence of the summary that adds to the title, else the importance reason if it does; never
    one that repeats a breaking change listed beside it."""
    said = [_norm(x) for x in avoid]
    for s in [*sentences(a.summary), a.importance_reason]:
        n = _norm(s)
        if restates(s, title) or any(n and (n in x or x in n) for x in said if x):
            continue
        return s
    return None


# -- items ----------------------------------------------------------------------------------------------------

def _title(e: Entry, web: str | None, lang: str, limit: int) -> Line:
    c = e.commit
    if e.grouped:  # an analysed grouped merge: its own changes, named by the one merge label
        label = text(lang, "merge_own_title", name=merge_full_name(c))
        return (Span(fit(label, limit), "link", c.url),)
    if (url := pr_url(c, web)) is None:
        return (Span(fit(c.title, limit), "link", c.url),)
    return (Span(fit(c.bare_title, limit), "link", c.url), plain(" ("), Span(f"#{c.pr_number}", "link", url),
            plain(")"))


def _meta(e: Entry, lang: str) -> str:
    c, a = e.commit, e.best
    if a.source == "rules":  # a stand-in for a failed LLM call says so in a few words (coverage says why)
        where = text(lang, "fallback_short" if a.note else "rules_short")
    else:
        where = a.note or a.model
    lines = f"+{thousands(c.additions)} −{thousands(c.deletions)}"
    return " · ".join(p for p in (c.author.strip(), lines, fit(where, 160)) if p)


def _risk(a: Analysis) -> str | None:
    if not a.risks:
        return None
    r = a.risks[0]
    return fit(f"{r.point}: {r.consequence}" if r.consequence else r.point, THREAD_RISK)


def _item(e: Entry, digest: Digest, via: str | None, shas: tuple[str, ...]) -> Item:
    lang, web = digest.lang, digest.web_url
    e = marked_entry(e)
    a, c, level = e.best, e.commit, e.importance
    title = _title(e, web, lang, 200)
    shown_title = e.commit.title if not e.grouped else as_text(title)
    breaking = tuple(fit(b, 200) for b in e.breaking_changes[:THREAD_BREAKING])
    if len(e.breaking_changes) > THREAD_BREAKING:
        breaking += (f"+{len(e.breaking_changes) - THREAD_BREAKING}",)
    sentence = adding_sentence(a, shown_title, tuple(e.breaking_changes))
    marks = [text(lang_, "unverified_mark") for lang_ in ("en", "zh")]
    scope = tuple(fit(p, 80) for p in a.impact_scope[:THREAD_SCOPE])
    risk = _risk(a) if level == "high" else None
    shown = [sentence or "", *scope, *breaking, risk or ""]
    return Item(
        sha=c.sha, short_sha=c.short_sha, repo=c.repo, importance=level, icon=IMPORTANCE_ICON[level], title=title,
        kind=CHANGE_TYPE[lang][a.change_type],
        via=text(lang, "via", name=via) if via else None,
        sentence=fit(sentence, THREAD_SENTENCE) if sentence else None,
        top_sentence=fit(sentence, TOP_SENTENCE) if sentence else None,
        scope=scope, breaking=breaking, risk=risk, meta=_meta(e, lang),
        unverified=any(m in s for m in marks for s in shown), has_deep=e.deep is not None, url=c.url, shas=shas)


def _thread(digest: Digest) -> tuple[Item, ...]:
    """Every commit once, high first then medium then low (digest order within), merges told through them."""
    by_sha = {e.commit.sha: e for e in digest.entries}
    untold = [e for e in digest.entries if e.grouped and not e.analysed]
    order = [e for level in ("high", "medium", "low") for e in digest.entries
             if e.importance == level and not (e.grouped and not e.analysed)]
    carried: dict[str, list[str]] = {}
    for merge in untold:  # the first of its commits (in thread order) accounts for the merge
        carrier = next((e for e in order if e.commit.sha in set(merge.merged)), None)
        if carrier is not None:
            carried.setdefault(carrier.commit.sha, []).append(merge.commit.sha)
    items = []
    for e in order:
        into = by_sha.get(e.merged_into or "")
        via = merge_ref(into.commit) if into is not None else None
        items.append(_item(e, digest, via, (e.commit.sha, *carried.get(e.commit.sha, ()))))
    return tuple(items)


# -- the top message ------------------------------------------------------------------------------------------

def coverage(digest: Digest) -> str:
    """"68 analysed by offline rules · 26 merges told through their commits" (plain text)."""
    cov, lang = digest.coverage, digest.lang
    if cov.llm == 0 and cov.fallbacks == 0:
        why = {"none": "coverage_rules_none", "off": "coverage_rules_off"}.get(digest.rules_why, "coverage_rules")
        line = text(lang, why, n=cov.commits)
    else:
        line = text(lang, "coverage", llm=cov.llm, total=cov.commits, models=", ".join(cov.models) or "LLM")
        if cov.retried:
            line += text(lang, "coverage_retried", n=cov.retried)
        if cov.fallbacks:
            line += text(lang, "coverage_fallback", n=cov.fallbacks)
        if cov.rules - cov.fallbacks > 0:
            line += text(lang, "coverage_by_rules", n=cov.rules - cov.fallbacks)
    told = sum(1 for e in digest.entries if e.grouped and not e.analysed)
    if told:
        line += text(lang, "coverage_told", n=told)
    if cov.tokens_in or cov.tokens_out:
        line += text(lang, "coverage_tokens", tokens_in=thousands(cov.tokens_in),
                     tokens_out=thousands(cov.tokens_out))
    return line


def _stats(digest: Digest, thread: tuple[Item, ...]) -> Line:
    lang = digest.lang
    count = {level: sum(1 for i in thread if i.importance == level) for level in ("high", "medium", "low")}
    rest = text(lang, "stats_levels", **count, additions=thousands(sum(e.commit.additions for e in digest.entries)),
                deletions=thousands(sum(e.commit.deletions for e in digest.entries)))
    if digest.stats.breaking:
        rest += " · " + text(lang, "breaking_count", n=digest.stats.breaking)
    return (Span(text(lang, "stats_total", total=len(digest.entries)), "bold"), plain(" · " + rest))


def _ref(item: Item) -> Line:
    """A commit named in a breaking change's line: its pull request, else its short SHA, linked."""
    pr = next((s for s in item.title if s.kind == "link" and s.text.startswith("#")), None)
    return (pr,) if pr is not None else (Span(item.short_sha, "link", item.url),)


def _rank(item: Item, entry: Entry) -> tuple[int, int, int]:
    """The high commits that matter most: security fixes, then analyses read from the diff, then larger changes."""
    return (0 if entry.best.change_type == "security" else 1, 0 if entry.best.source == "llm" else 1,
            -(entry.commit.additions + entry.commit.deletions))


def _unsaid(items: list[Item], by_sha: dict[str, Entry], said: list[str]) -> list[Item]:
    """The items with their top sentence said once in the top message: a sentence said above (a breaking change
    listed, or two commits of the same shape) gives way to the next that adds to the title, or to none."""
    out = []
    for item in items:
        e = marked_entry(by_sha[item.sha])
        sentence = adding_sentence(e.best, e.commit.title, (*e.breaking_changes, *said))
        if sentence is not None:
            said.append(sentence)
        out.append(replace(item, top_sentence=fit(sentence, TOP_SENTENCE) if sentence else None))
    return out


def _top(digest: Digest, thread: tuple[Item, ...], where: Where, late: bool) -> Top:
    lang = digest.lang
    day = digest.day.isoformat()
    window = window_line(digest)
    context = (f"{text(lang, 'late')} {window}" if late else window, *(f"⚠️ {n}" for n in digest.notes))
    if (n := digest.narrowed) is not None:  # the subscription's filters: say what was left out
        key = "narrowed_paths" if "paths" in n.by else "narrowed_authors"
        context += (text(lang, key, kept=n.kept, total=n.total, paths=", ".join(n.paths)),)
    where_words = text(lang, f"where_{where}")
    title = text(lang, "digest_title", repo=digest.repo, day=day)
    if not digest.entries:
        return Top(title, context, text(lang, "quiet_day", repo=digest.repo, day=day), (), "", (), None, "", (),
                   None, "", None)
    relevance = digest.relevance
    # `min`: what the channel post lists (high commits by default; `all` is every level); breaking changes always
    least = (relevance.min_level if relevance else None) or "high"
    least = "low" if least == "all" else least
    listed = LEVELS[:LEVELS.index(least) + 1] if least in LEVELS else ("high",)
    rows = [(i, b) for i in thread for b in i.breaking if not b.startswith("+")]
    breaking = tuple((plain("• " + fit(b, TOP_BREAKING_LINE) + " "), *_ref(i)) for i, b in rows[:TOP_BREAKING])
    hidden = digest.stats.breaking - len(breaking)
    by_sha = {e.commit.sha: e for e in digest.entries}
    watched, watched_more_n, mentions, watched_shas = _watched(digest, thread, relevance.watches if relevance else ())
    highs = [i for i in thread if i.importance in listed and not by_sha[i.sha].commit.is_merge
             and i.sha not in watched_shas]  # a commit told under the watches is not told again
    chosen = sorted(highs, key=lambda i: (LEVELS.index(i.importance), *_rank(i, by_sha[i.sha])))[:TOP_HIGH]
    said = [b for _, b in rows[:TOP_BREAKING]]
    high = _unsaid([i for i in thread if i in chosen], by_sha, said)  # in thread order, the same everywhere

    def rest_line(shown: list[Item]) -> str | None:
        parts = []
        for level in LEVELS:
            told = [i for i in thread if i.sha in watched_shas] + list(shown)  # above: counted as told
            n = sum(1 for i in thread if i.importance == level) - sum(1 for i in told if i.importance == level)
            if n > 0:
                more = any(i.importance == level for i in shown)  # "3 more high" once some are listed above
                parts.append(text(lang, f"rest_more_{level}" if more else f"rest_{level}", n=n))
        return text(lang, "rest", parts=" · ".join(parts), where=where_words) if parts else None

    def top(shown: list[Item]) -> Top:
        said = [as_text(b) for b in breaking] + [i.top_sentence or "" for i in shown]
        marks = any(text(lang_, "unverified_mark") in s for lang_ in ("en", "zh") for s in said)
        return Top(title, context, None, _stats(digest, thread), text(lang, "breaking_title"), breaking,
                   text(lang, "breaking_more", n=hidden, where=where_words) if hidden > 0 else None,
                   text(lang, "high_title" if listed == ("high",) else "listed_title"), tuple(shown),
                   rest_line(shown), coverage(digest), text(lang, "unverified_note") if marks else None,
                   text(lang, "watched_title", n=len(watched) + watched_more_n) if watched else "", watched,
                   text(lang, "breaking_more", n=watched_more_n, where=where_words) if watched_more_n else None,
                   mentions)

    shown = top(high)
    while high and top_visible(shown) > TOP_VISIBLE:  # a day of long titles: fewer, never a longer message
        high = high[:-1]
        shown = top(high)
    return shown


LEVELS = ("high", "medium", "low")
TOP_WATCHED = 6  # commits that touch a watch, named in the top message


def _reason(r: Reason, lang: str) -> str:
    if r.kind == "flag":
        return text(lang, f"watch_flag_{r.where}", flag=r.value, file=r.file)
    if r.kind == "keyword":
        return text(lang, "watch_keyword", word=r.value, where=text(lang, f"watch_in_{r.where}"))
    return text(lang, f"watch_{r.kind}", value=r.value)


def _watched(digest: Digest, thread: tuple[Item, ...], watches: tuple
             ) -> tuple[tuple[Line, ...], int, Line, frozenset[str]]:
    """The commits that touch a watch (breaking changes first), each with why, and whom to notify: each mention
    once, and none when nothing matched."""
    if not watches:
        return (), 0, (), frozenset()
    lang = digest.lang
    items = {i.sha: i for i in thread}
    listed, mentions = touches(watches, digest.entries)
    listed = tuple(sorted(listed, key=lambda t: (not t.breaking, LEVELS.index(t.entry.importance))))  # stable
    lines, shas = [], set()
    for t in listed[:TOP_WATCHED]:
        item = items.get(t.entry.commit.sha)
        if item is None:
            continue
        why = "; ".join(dict.fromkeys(fit(_reason(h.why, lang), 90) for h in t.hits))
        shas.add(item.sha)
        lines.append((plain(f"{item.icon} "), *(_shorter(item.title, TOP_TITLE)),
                      plain(f" — {'💥 ' if t.breaking else ''}{why}")))
    spans: list[Span] = []
    for m in mentions:
        spans += [plain(" "), Span(m.label or m.id, "mention", mention=m)]
    return (tuple(lines), max(0, len(listed) - len(lines)),
            (plain(text(lang, "watched_cc")), *spans) if spans else (), frozenset(shas))


def _shorter(title: Line, limit: int) -> Line:
    return tuple(Span(fit(s.text, limit), s.kind, s.url, s.mention) if s.kind == "link" and i == 0 else s
                 for i, s in enumerate(title))


def top_visible(top: Top) -> int:
    """The visible characters of the top message as the view says it (serialisers add only layout)."""
    n = len(top.watched_title) + sum(visible(w) for w in top.watched) + len(top.watched_more or "")
    n += visible(top.mentions)
    n += len(top.title) + sum(len(c) for c in top.context) + len(top.quiet or "") + visible(top.stats)
    n += len(top.breaking_title) if top.breaking else 0
    n += sum(visible(b) for b in top.breaking) + len(top.breaking_more or "")
    n += len(top.high_title) if top.high else 0
    n += sum(visible(i.title) + len(i.via or "") + len(i.top_sentence or "") + 3 for i in top.high)
    return n + len(top.rest or "") + len(top.coverage) + len(top.footnote or "")


def build(digest: Digest, *, where: Where = "thread", late: bool = False) -> View:
    """The view of `digest` for a reader of its language and zone; `where` says where the rest of it is."""
    thread = _thread(digest)
    top = _top(digest, thread, where, late)
    s = top.stats
    count = {level: sum(1 for i in thread if i.importance == level) for level in ("high", "medium", "low")}
    notification = text(digest.lang, "notify_digest", repo=digest.repo, day=digest.day.isoformat(),
                        total=len(digest.entries), **count) if s else top.quiet or top.title
    return View(digest.lang, digest.repo, digest.day.isoformat(), top, thread, notification,
                text(digest.lang, "unverified_note"))

