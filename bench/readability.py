"""Issue 13 measured: does a day's post read in a minute, and do Slack and Feishu say the same thing?

For each day it renders the digest through the destinations the bot posts with (Slack, Feishu app, Feishu webhook)
and prints, next to the issue's targets: the top message's visible characters (what a reader sees: Slack mrkdwn
with `<url|label>` reduced to `label`, Feishu markdown with `[label](url)` reduced to `label`, emphasis marks
dropped, entities unescaped), the thread's replies and visible characters per commit, the webhook's messages and
the bytes of each card, the Feishu app's top card, sentences said twice in the top message, summaries that restate
their title, merges that take a slot of the top message by themselves, and whether Slack and Feishu list the same
commits in the same order (read from the commit links in the payloads).

The days are real git repositories (tests/gitdays.py) digested with the offline rules, as `bot.py digest
--repo-path` does:
- `300`: a generated day of 300 commits (features, fixes, docs, tests, some large, some removing public functions);
- `merges`: a merge-heavy day of about 94 commits, 26 of them merges, some nested in others (a branch merged into a
  branch merged into main, once two levels deep), one bringing in commits of earlier days, high-importance commits
  and breaking changes inside the branches;
- `llm`: and, to see analyses of a model's length, a 300-commit day of LLM analyses built from the data classes
  (tests/bigday.py, no repository).

A bench, not a test: it exits 0 whatever it finds (today most rows FAIL: that is the baseline).

    python bench/readability.py [--day 300|merges|llm|all] [--commits 300] [--lang en|zh] [--json]
"""

from __future__ import annotations

import argparse
import html
import json
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.models import Digest  # noqa: E402
from tests.gitdays import digest_of, linear_day, merge_day  # noqa: E402

# -- the coupling to the renderers: the only functions to adapt when the render path changes ----------------------


@dataclass(frozen=True)
class Message:
    """One message as posted: the platform's payload, and the commits the renderer says it carries."""

    payload: dict[str, Any]
    shas: tuple[str, ...] = ()


def render_slack(digest: Digest) -> tuple[Message, list[Message]]:
    """The top message and the thread replies, as SlackDestination posts them."""
    from slack_sdk import WebClient

    from handlers.slack import Pacer, SlackDestination

    client = WebClient(token="xoxb-bench", base_url="http://127.0.0.1:9/api/")  # never called: render only
    rendered = SlackDestination(client, client, "C0BENCH", Pacer()).render(digest, late=False)
    return Message(rendered.top.payload, rendered.top.shas), [Message(p.payload, p.shas) for p in rendered.replies]


def render_feishu(digest: Digest, *, app: bool) -> tuple[Message, list[Message]]:
    """The top card and the detail cards, as the Feishu AppDestination (thread) or WebhookDestination posts them."""
    from handlers.feishu import AppDestination, Gate, OpenApi, WebhookDestination

    if app:
        dest: Any = AppDestination(OpenApi("cli_bench", "s", "http://127.0.0.1:9"), "oc_bench", Gate())
    else:
        dest = WebhookDestination("http://127.0.0.1:9/hook", None, Gate())
    rendered = dest.render(digest, late=False)
    return Message(rendered.top.payload, rendered.top.shas), [Message(p.payload, p.shas) for p in rendered.replies]


def feishu_card(message: Message) -> dict[str, Any]:
    return message.payload["card"]


# -- the platforms' documented limits (the bench's own, not the code's constants) -------------------------------

WEBHOOK_BODY_MAX = 20 * 1024  # a custom bot's request body
APP_CARD_MAX = 30 * 1024  # an Open API card message's request body


def webhook_body_bytes(card: dict[str, Any]) -> int:
    """Bytes of the webhook request that posts `card`, signed (a timestamp and a 44-character signature)."""
    body = {"msg_type": "interactive", "card": card, "timestamp": "1767225600", "sign": "s" * 44}
    return len(json.dumps(body, ensure_ascii=False).encode("utf-8"))


def app_body_bytes(card: dict[str, Any]) -> int:
    """Bytes of the Open API send request: the card JSON as a string inside JSON."""
    body = {"receive_id": "oc_" + "0" * 32, "msg_type": "interactive", "uuid": "0" * 32,
            "content": json.dumps(card, ensure_ascii=False)}
    return len(json.dumps(body, ensure_ascii=False).encode("utf-8"))


# -- visible text ------------------------------------------------------------------------------------------------

_SLACK_LINK = re.compile(r"<([^<>|\n]*)(?:\|([^<>\n]*))?>")
_FEISHU_LINK = re.compile(r"\[([^\[\]\n]*)\]\(([^()\s]*)\)")
_FEISHU_AT = re.compile(r"<at\b[^>]*?(?:id|user_id|open_id)=['\"]?([^'\" >]+)['\"]?[^>]*>\s*</at>")
_TAG = re.compile(r"</?(?:font|text_tag|a|at|b|i|u|s|strong|em)\b[^>]*>")
_COMMIT_URL = re.compile(r"https?://[^\s|<>()\[\]]*?/commit/([0-9a-f]{7,40})\b")


def _emphasis(value: str, marks: Iterable[str]) -> str:
    """`value` with paired emphasis marks (`*bold*`, `~~s~~`, `` `code` ``) dropped: they are not seen."""
    for mark in marks:
        m = re.escape(mark)
        value = re.sub(rf"(?<![\w*~`]){m}(?=\S)(.+?)(?<=\S){m}(?![\w*~`])", r"\1", value)
    return value


def slack_visible(mrkdwn: str) -> str:
    """What Slack shows of a mrkdwn text: links as their labels, `<!here>` as @here, no emphasis marks, entities
    unescaped (Slack escapes only &, < and >)."""

    def link(m: re.Match[str]) -> str:
        target, label = m.group(1), m.group(2)
        if label is not None:
            return label
        if target.startswith("!"):
            return "@" + target[1:].split("^")[0]
        return target

    shown = _emphasis(_SLACK_LINK.sub(link, mrkdwn), ("```", "*", "_", "~", "`"))
    return shown.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def feishu_visible(markdown: str) -> str:
    """What Feishu shows of a card markdown text: links as their labels, `<at>` as @name, styling tags dropped, no
    emphasis marks, HTML entities (numeric ones included) unescaped."""
    shown = _FEISHU_LINK.sub(lambda m: m.group(1), markdown)
    shown = _FEISHU_AT.sub(lambda m: "@" + m.group(1), shown)
    shown = _TAG.sub("", shown)
    shown = _emphasis(shown, ("```", "**", "~~", "*", "`"))
    return html.unescape(shown)


@dataclass
class Unit:
    """A piece of a message as a reader meets it: its visible text, the commits it links (in order), and whether
    it is a button's label (counted as seen, left out of the sentences)."""

    text: str
    shas: list[str] = field(default_factory=list)
    button: bool = False
    first_line: bool = True  # the first line of its text element (a segment of the top message starts over)
    leads: bool = False  # the line begins with a commit link (after bullets, emphasis marks and emoji)

    @property
    def size(self) -> int:
        return sum(len(line) for line in self.text.split("\n"))  # line breaks are not characters one reads


def _links(raw: str) -> list[str]:
    return [m.group(1) for m in _COMMIT_URL.finditer(raw)]


_LEAD = re.compile(r"^[\s•*_~\-\u2600-\u27bf\ufe0f\U0001f000-\U0001faff]*"  # bullets, emphasis, emoji, then a link:
                   r"(?:<|\[[^\[\]\n]*\]\()https?://[^\s|<>()\[\]]*?/commit/")  # <url|label> or [label](url)


def _lines(raw: str, visible: Any, button: bool = False) -> list[Unit]:
    return [Unit(visible(line), _links(line), button, i == 0, bool(_LEAD.match(line)))
            for i, line in enumerate(raw.split("\n"))]


def _plain(value: str) -> str:
    return value


def slack_units(payload: dict[str, Any]) -> list[Unit]:
    """The lines of the text objects of a Slack message's blocks, in order (buttons' labels flagged)."""
    pieces: list[tuple[str, bool, bool]] = []  # (text, mrkdwn, button)

    def walk(node: Any, button: bool) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("mrkdwn", "plain_text") and isinstance(node.get("text"), str):
                pieces.append((node["text"], node["type"] == "mrkdwn", button))
                return
            for value in node.values():
                walk(value, button or node.get("type") == "button")
        elif isinstance(node, list):
            for item in node:
                walk(item, button)

    walk(payload.get("blocks", []), False)
    return [u for raw, mrkdwn, button in pieces for u in _lines(raw, slack_visible if mrkdwn else _plain, button)]


def feishu_units(card: dict[str, Any]) -> list[Unit]:
    """The lines of a Feishu card's texts (header, then body elements, inside collapsible panels too), in order."""
    pieces: list[tuple[str, bool, bool]] = []  # (text, markdown, button)
    header = card.get("header", {})
    for key in ("title", "subtitle"):
        if (title := header.get(key, {}).get("content")):
            pieces.append((title, False, False))

    def walk(node: Any, button: bool) -> None:
        if isinstance(node, dict):
            tag = node.get("tag")
            if tag in ("markdown", "lark_md", "plain_text") and isinstance(node.get("content"), str):
                pieces.append((node["content"], tag != "plain_text", button))
                return
            for key, value in node.items():
                if key != "behaviors":  # a button's callback value or URL is not seen
                    walk(value, button or tag == "button")
        elif isinstance(node, list):
            for item in node:
                walk(item, button)

    walk(card.get("body", {}).get("elements", card.get("elements", [])), False)
    return [u for raw, md, button in pieces for u in _lines(raw, feishu_visible if md else _plain, button)]


# -- the measures ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Known:
    """What the bench knows of the day's commits: full SHAs, titles, and which are merges."""

    titles: dict[str, str]
    merges: frozenset[str]

    @classmethod
    def of(cls, digest: Digest) -> "Known":
        return cls({e.commit.sha: e.commit.bare_title or e.commit.title for e in digest.entries},
                   frozenset(e.commit.sha for e in digest.entries if e.commit.is_merge))

    def full(self, sha: str) -> str | None:
        if sha in self.titles:
            return sha
        return next((s for s in self.titles if s.startswith(sha)), None)


def visible_chars(units: list[Unit]) -> int:
    return sum(u.size for u in units)


def order(units: list[Unit], known: Known) -> list[str]:
    """The commits linked, in the order a reader first meets them."""
    seen: dict[str, None] = {}
    for u in units:
        for short in u.shas:
            if (sha := known.full(short)) is not None:
                seen.setdefault(sha)
    return list(seen)


def top_segments(units: list[Unit], known: Known) -> list[tuple[str, str]]:
    """The top message cut into its slots: a line whose first link is a commit starts that commit's slot; the
    lines after it (up to the next text element or commit link) belong to it. (sha, visible text) per slot."""
    slots: list[tuple[str, list[str]]] = []
    current: list[str] | None = None
    for u in units:
        if u.button:
            continue
        first = known.full(u.shas[0]) if u.shas else None
        if first is not None:
            current = [u.text]
            slots.append((first, current))
        elif u.first_line:
            current = None
        elif current is not None:
            current.append(u.text)
    return [(sha, "\n".join(lines)) for sha, lines in slots]


@dataclass
class Thread:
    """A thread (or the detail cards) cut into commits: visible characters and text of each commit's part, the
    commits in the order they start, and the characters outside any commit ("Details 1/3", headings)."""

    chars: dict[str, int] = field(default_factory=dict)
    texts: dict[str, list[str]] = field(default_factory=dict)
    started: list[str] = field(default_factory=list)
    overhead: int = 0

    @property
    def per_commit(self) -> float:
        return (sum(self.chars.values()) + self.overhead) / len(self.chars) if self.chars else 0.0


def thread_segments(messages: list[Message], units_of: Any, known: Known) -> Thread:
    """A commit's part starts at the first line that links it (a commit the message carries, not met before)
    either at the line's start (after bullets and emoji) or as the first line of a text element; a merge's
    `↳ commit` lines stay in the merge's part. It runs to the next part or the end of the message."""
    out = Thread()
    for message in messages:
        carried = set(message.shas) or set(known.titles)
        current: str | None = None
        for u in units_of(message):
            first = known.full(u.shas[0]) if u.shas else None
            if (first is not None and first in carried and first not in out.chars
                    and (u.leads or (u.first_line and not u.button))):
                current = first
                out.chars[first] = 0
                out.texts[first] = []
                out.started.append(first)
            if current is None:
                out.overhead += u.size
            else:
                out.chars[current] += u.size
                if not u.button:
                    out.texts[current].append(u.text)
    return out


def _norm(value: str) -> str:
    value = re.sub(r"[^\w\s#().,:/+\-`']", " ", value.lower())  # bullets, emoji, arrows
    return " ".join(value.split()).strip(" .,:;-")


_SENTENCE = re.compile(r"(?<=[.!?])\s+|(?<=[.!?])(?=[\u3400-\u9fff])|(?<=[。！？])|\s+[—–]\s+")  # zh: no space


def repeated_sentences(units: list[Unit], min_chars: int = 20) -> list[str]:
    """Sentences (or whole lines) said at least twice in a message, buttons left out; short labels do not count."""
    said: Counter[str] = Counter()
    for u in units:
        if u.button:
            continue
        for line in u.text.split("\n"):
            parts = [_norm(p) for p in _SENTENCE.split(line)]
            parts = [p for p in parts if len(p) >= min_chars]
            if len(parts) > 1 and len(_norm(line)) >= min_chars:
                parts.append(_norm(line) + " ")  # the whole line, kept apart from a one-sentence line
            said.update(dict.fromkeys(parts, 0))
            said.update(parts)
    return sorted({p.strip() for p, n in said.items() if n >= 2})


def restates_title(text: str, title: str, prefix: int = 40) -> bool:
    """True when the title (its first `prefix` characters) is said twice in a commit's part: the link and then a
    summary that begins by repeating it."""
    key = _norm(title)[:prefix].strip()
    return len(key) >= 10 and _norm(text).count(key) >= 2


@dataclass
class Figures:
    """The measures of one day."""

    commits: int
    merges: int
    slack_top_chars: int
    slack_top_block_text: int
    slack_top_blocks: int
    slack_replies: int
    slack_thread_avg: float
    slack_thread_max: int
    slack_thread_once: bool
    app_top_chars: int
    app_top_bytes: int
    app_cards: int
    app_thread_avg: float
    webhook_messages: int
    webhook_bytes: list[int]
    webhook_avg: float
    repeats_slack: list[str]
    repeats_feishu: list[str]
    restated_top: int
    restated_top_feishu: int
    restated_thread: int
    merges_alone_slack: int
    merges_alone_feishu: int
    same_top_order: bool
    same_thread_order: bool
    slack_top_order: list[str]
    feishu_top_order: list[str]


def _block_text(blocks: Any) -> int:
    """Characters of block text as Slack totals them (the limit's count, not what is seen)."""
    if isinstance(blocks, dict):
        return sum(len(v) if k == "text" and isinstance(v, str) else _block_text(v) for k, v in blocks.items())
    if isinstance(blocks, list):
        return sum(_block_text(b) for b in blocks)
    return 0


def measure(digest: Digest) -> Figures:
    known = Known.of(digest)
    top, thread = render_slack(digest)
    app_top, app_thread = render_feishu(digest, app=True)
    hook_top, hook_thread = render_feishu(digest, app=False)
    return measure_messages(known, (top, thread), (app_top, app_thread), (hook_top, hook_thread))


def measure_messages(known: Known, slack: tuple[Message, list[Message]], app: tuple[Message, list[Message]],
                     hook: tuple[Message, list[Message]]) -> Figures:
    """Every measure, from the messages as rendered (so the renderers can change beneath)."""
    top, thread = slack
    app_top, app_thread = app
    hook_top, hook_thread = hook
    top_units = slack_units(top.payload)
    app_units = feishu_units(feishu_card(app_top))
    slack_thread = thread_segments(thread, lambda m: slack_units(m.payload), known)
    app_thread_parts = thread_segments(app_thread, lambda m: feishu_units(feishu_card(m)), known)
    hook_thread_parts = thread_segments(hook_thread, lambda m: feishu_units(feishu_card(m)), known)
    carried = [s for m in thread for s in m.shas] or slack_thread.started
    slack_slots = top_segments(top_units, known)
    app_slots = top_segments(app_units, known)
    return Figures(
        commits=len(known.titles), merges=len(known.merges),
        slack_top_chars=visible_chars(top_units), slack_top_block_text=_block_text(top.payload.get("blocks", [])),
        slack_top_blocks=len(top.payload.get("blocks", [])),
        slack_replies=len(thread), slack_thread_avg=slack_thread.per_commit,
        slack_thread_max=max(slack_thread.chars.values(), default=0),
        slack_thread_once=len(carried) == len(set(carried)) == len(known.titles),
        app_top_chars=visible_chars(app_units), app_top_bytes=app_body_bytes(feishu_card(app_top)),
        app_cards=1 + len(app_thread), app_thread_avg=app_thread_parts.per_commit,
        webhook_messages=1 + len(hook_thread),
        webhook_bytes=[webhook_body_bytes(feishu_card(m)) for m in [hook_top, *hook_thread]],
        webhook_avg=hook_thread_parts.per_commit,
        repeats_slack=repeated_sentences(top_units), repeats_feishu=repeated_sentences(app_units),
        restated_top=sum(restates_title(text, known.titles[sha]) for sha, text in slack_slots),
        restated_top_feishu=sum(restates_title(text, known.titles[sha]) for sha, text in app_slots),
        restated_thread=sum(restates_title("\n".join(texts), known.titles[sha])
                            for sha, texts in slack_thread.texts.items()),
        merges_alone_slack=sum(sha in known.merges for sha, _ in slack_slots),
        merges_alone_feishu=sum(sha in known.merges for sha, _ in app_slots),
        same_top_order=order(top_units, known) == order(app_units, known),
        same_thread_order=slack_thread.started == app_thread_parts.started,
        slack_top_order=[s[:7] for s in order(top_units, known)],
        feishu_top_order=[s[:7] for s in order(app_units, known)])


# -- the table -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    measure: str
    value: str
    target: str
    verdict: str  # PASS, FAIL or "" (a figure shown for context)


def rows(f: Figures) -> list[Row]:
    def check(name: str, value: Any, target: str, ok: bool | None) -> Row:
        return Row(name, str(value), target, "" if ok is None else "PASS" if ok else "FAIL")

    hook_ok = f.webhook_messages <= 4 if f.commits <= 100 else None
    return [
        check("Slack top: visible characters", f"{f.slack_top_chars:,}", "≤ 3,000", f.slack_top_chars <= 3000),
        check("Slack top: block text characters / blocks", f"{f.slack_top_block_text:,} / {f.slack_top_blocks}",
              "", None),
        check("Slack thread: replies", f.slack_replies, "~12 for 94 commits", None),
        check("Slack thread: visible chars per commit, avg", f"{f.slack_thread_avg:,.0f}", "≤ 1,000",
              f.slack_thread_avg <= 1000),
        check("Slack thread: visible chars per commit, max", f"{f.slack_thread_max:,}", "", None),
        check("Slack thread: every commit once", "yes" if f.slack_thread_once else "no", "yes", f.slack_thread_once),
        check("Feishu app top card: visible characters", f"{f.app_top_chars:,}", "≤ 3,000", f.app_top_chars <= 3000),
        check("Feishu app top card: request bytes", f"{f.app_top_bytes:,}", f"< {APP_CARD_MAX:,}",
              f.app_top_bytes < APP_CARD_MAX),
        check("Feishu app thread: chars per commit, avg", f"{f.app_thread_avg:,.0f} ({f.app_cards - 1} cards)",
              "≤ 1,000", f.app_thread_avg <= 1000),
        check("Feishu webhook: messages", f.webhook_messages, "≤ 4 (100-commit day)", hook_ok),
        check("Feishu webhook: largest card bytes", f"{max(f.webhook_bytes):,}", f"< {WEBHOOK_BODY_MAX:,}",
              max(f.webhook_bytes) < WEBHOOK_BODY_MAX),
        check("Feishu webhook: chars per commit, avg", f"{f.webhook_avg:,.0f}", "≤ 1,000", f.webhook_avg <= 1000),
        check("Repeated sentences, Slack top", len(f.repeats_slack), "0", not f.repeats_slack),
        check("Repeated sentences, Feishu top", len(f.repeats_feishu), "0", not f.repeats_feishu),
        check("Summaries restating their title, Slack top", f.restated_top, "0", f.restated_top == 0),
        check("Summaries restating their title, Feishu top", f.restated_top_feishu, "0",
              f.restated_top_feishu == 0),
        check("Summaries restating their title, Slack thread", f.restated_thread, "0", f.restated_thread == 0),
        check("Merges alone in a top slot, Slack", f.merges_alone_slack, "0", f.merges_alone_slack == 0),
        check("Merges alone in a top slot, Feishu", f.merges_alone_feishu, "0", f.merges_alone_feishu == 0),
        check("Same commits, same order: top", "yes" if f.same_top_order else "no", "yes", f.same_top_order),
        check("Same commits, same order: thread", "yes" if f.same_thread_order else "no", "yes",
              f.same_thread_order),
    ]


def table(name: str, f: Figures, seconds: float) -> str:
    out = [f"== {name}: {f.commits} commits, {f.merges} merges (built and digested in {seconds:.1f} s)"]
    width = max(len(r.measure) for r in rows(f))
    vwidth = max(len(r.value) for r in rows(f))
    for r in rows(f):
        out.append(f"  {r.measure:<{width}}  {r.value:>{vwidth}}  {r.target:<20} {r.verdict}")
    out.append(f"  webhook card bytes: {', '.join(f'{b:,}' for b in f.webhook_bytes)}")
    for label, repeats in (("Slack", f.repeats_slack), ("Feishu", f.repeats_feishu)):
        for sentence in repeats[:3]:
            out.append(f"  said twice in the {label} top: {sentence[:100]!r}")
    if not f.same_top_order:
        a, b = f.slack_top_order, f.feishu_top_order
        k = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        out.append(f"  top order: Slack links {len(a)} commits, Feishu {len(b)}; first difference at position {k + 1}"
                   f" (Slack {a[k] if k < len(a) else '-'}, Feishu {b[k] if k < len(b) else '-'})")
    return "\n".join(out)


def llm_day(n: int, lang: str) -> Digest:
    """A day of `n` commits with long LLM-written analyses (tests/bigday.py: data classes, no repository): what the
    rules days cannot show, summaries and deep analyses of a model's length."""
    from tests.bigday import big_day

    return big_day(n, lang)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--day", choices=("300", "merges", "llm", "all"), default="all")
    ap.add_argument("--commits", type=int, default=300, help="commits of the generated days")
    ap.add_argument("--lang", choices=("en", "zh"), default="en")
    ap.add_argument("--json", action="store_true", help="machine output: the figures and rows of every day")
    args = ap.parse_args()
    days = [("300", f"generated {args.commits}-commit day",
             lambda root: digest_of(linear_day(root, args.commits), "day-300", args.lang, root)),
            ("merges", "merge-heavy day with nested merges",
             lambda root: digest_of(merge_day(root), "day-merges", args.lang, root)),
            ("llm", f"{args.commits}-commit day of LLM analyses (no repository, every summary alike)",
             lambda root: llm_day(args.commits, args.lang))]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for key, title, build in days:
            if args.day not in (key, "all"):
                continue
            started = time.perf_counter()
            digest = build(Path(tmp))
            seconds = time.perf_counter() - started
            figures = measure(digest)
            results.append({"day": key, "title": title, "seconds": round(seconds, 1), "figures": asdict(figures),
                            "rows": [asdict(r) for r in rows(figures)]})
            if not args.json:
                print(table(title, figures, seconds))
                print()
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
