"""Every pattern that reads a diff, a commit message, a title, a command or the LLM's text runs in linear time.

A backtracking search that re-reads the rest of a line from each of many starting points is quadratic: a 200 KB
removed line kept the bot from answering /healthz for 107 s (the search holds the GIL), and 1 MB, under
MAX_PATCH_BYTES, would have taken about 45 minutes. Any user can point /digest at a public repository holding
such a line, so each pattern is fed 1 MB adversarial lines and each search must take under 100 ms.

The patterns are found, not listed: every compiled pattern held by a module of core/, digest/ or handlers/ (in a tuple,
list, dict or dataclass too) and every detect-secrets plugin pattern the redaction runs. A pattern added later is
tested without touching this file; a pattern compiled inside a function is not, so none may be (checked below).
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import pkgutil
import re
import time
from pathlib import Path

import pytest

import core
import digest
import handlers
from digest.analysis import grounding, paths, redact, rules
from core.models import Commit, FileChange
from digest.render import common
from handlers import commands
from tests.conftest import utc

ROOT = Path(__file__).resolve().parent.parent
BOUND = 0.1  # seconds for one search of a 1 MB line: the threshold
SIZES = (8 * 1024, 64 * 1024, 1024 * 1024)  # a quadratic pattern fails at a small size, in well under a minute

# Runs that make a backtracking search restart and re-read: calls, dashes, flags, hex, brackets, spaces, quotes,
# schemes, paths, names, tags, keywords of the redaction and the starts of the token formats it knows.
UNITS = ("flag(", "-", "--x", "0f", "[", "(", "`", " ", '"', "'", "\"--a", "a", "a.", "a/", "_a", "a-", "://",
         "eyJ", "password", "pass ", "key=", "=", "\\", "@", ":", "<think>", "environ(", "xoxb-1-", "sk-", "AKC",
         "-----BEGIN PRIVATE KEY-----", "Basic ", "# ", "@@ ", "diff --git ", "+++ b/", "### a ", "a:a", "1", "1:")
PREFIXED = ("flag(", "--x", '"', "'", " ", "a", "environ(", "-", "+")  # diff lines: a removed and an added line


def adversarial(size: int) -> list[str]:
    lines = [(unit * (size // len(unit) + 1))[:size] for unit in UNITS]
    return lines + [sign + (unit * (size // len(unit) + 1))[:size] for unit in PREFIXED for sign in "-+"]


def _collect(value: object, where: str, found: dict[int, tuple[str, re.Pattern[str]]], seen: set[int]) -> None:
    if isinstance(value, re.Pattern):
        found.setdefault(id(value), (where, value))
        return
    if id(value) in seen:
        return
    seen.add(id(value))
    if isinstance(value, (tuple, list, set, frozenset)):
        for i, item in enumerate(value):
            _collect(item, f"{where}[{i}]", found, seen)
    elif isinstance(value, dict):
        for key, item in value.items():
            _collect(key, f"{where}:key", found, seen)
            _collect(item, f"{where}[{key!r}]", found, seen)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            _collect(getattr(value, f.name), f"{where}.{f.name}", found, seen)


def _modules() -> list[str]:
    return sorted(m.name for pkg in (core, digest, handlers) for m in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."))


def patterns() -> list[tuple[str, re.Pattern[str]]]:
    found: dict[int, tuple[str, re.Pattern[str]]] = {}
    for name in _modules():
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if isinstance(value, type) or callable(value) and not isinstance(value, re.Pattern):
                continue
            _collect(value, f"{name}.{attr}", found, set())
    for plugin in redact.PLUGINS:
        for i, pattern in enumerate(plugin.denylist):
            found.setdefault(id(pattern), (f"detect-secrets {type(plugin).__name__}[{i}]", pattern))
    return sorted(found.values(), key=lambda item: item[0])


PATTERNS = patterns()
# Patterns that never see a long text, and why: the code bounds their input (tested below).
SHORT_INPUTS = {
    "digest.analysis.paths.": paths.MAX_PATH,  # file paths
    "digest.analysis.rules._PERF_PATH": paths.MAX_PATH,
    "digest.analysis.rules._SECURITY_PATH": paths.MAX_PATH,
    "digest.analysis.rules._TAG_TYPES": 40,  # the inside of a [tag] of the title, by _TAGS
    "digest.analysis.rules._WORD_TYPES": rules.MAX_TITLE,  # the title
    "digest.analysis.rules._TINY": rules.MAX_TITLE,
    "digest.analysis.rules._CONVENTIONAL": rules.MAX_TITLE,
    "digest.analysis.redact._CODE": paths.MAX_PATH,  # a file name
    "digest.analysis.redact._CONFIG": paths.MAX_PATH,
    "digest.analysis.redact._KEY_FILE": paths.MAX_PATH,
    "digest.analysis.redact._WORDS": redact.MAX_PROBE,  # the end of an assignment's name
    "digest.analysis.redact._PLACEHOLDER": redact.MAX_PROBE,  # the start of its value
    "digest.analysis.redact._REFERENCE": redact.MAX_PROBE,  # a short bare value
    "digest.analysis.redact._ASSIGNMENT": redact.ASSIGNMENT_SPAN,  # the text in spans (redact.spans)
    "handlers.commands.": commands.MAX_TEXT,  # a command's text
    # matched whole (fullmatch), so a search from every character overstates them: a SHA or a date of a command
    "digest.service._HEX": commands.MAX_TEXT,
    "core.window._ISO_DAY": commands.MAX_TEXT,
    "digest.sources.git._FULL_SHA": commands.MAX_TEXT,  # and a line of `git rev-list`
    # what an analysis cites, read from its fields (the Analysis model bounds them)
    **{f"digest.analysis.grounding.{name}": grounding.MAX_FIELD
       for name in ("_CODE", "_URL", "_PROSE_NAMES", "_CODE_WORD", "_EXTENSION", "_NAMEISH", "_MISSING_SPACE",
                    "_DOTTED_NAME", "_FILE_NAME", "_LONG_IDENT")},
}


def input_limit(where: str) -> int:
    return min([limit for prefix, limit in SHORT_INPUTS.items() if where.startswith(prefix)] + [SIZES[-1]])


def timed(run, line: str) -> float:
    """CPU seconds `run(line)` takes (time.process_time: on this shared machine the wall clock also counts other
    processes' turns), the least of up to five runs when the first is slow."""
    best = float("inf")
    for _ in range(5):
        started = time.process_time()
        run(line)
        best = min(best, time.process_time() - started)
        if best < BOUND / 2:
            break
    return best


def slowest(run, lines: list[str]) -> tuple[float, str]:
    worst, which = 0.0, ""
    for line in lines:
        took = timed(run, line)
        if took > worst:
            worst, which = took, line[:16]
    return worst, which


def test_the_patterns_are_found():
    names = {where for where, _ in PATTERNS}
    assert len(PATTERNS) > 60
    assert {"digest.analysis.rules._FLAG_CALL", "digest.analysis.grounding._PROSE_NAMES",
            "digest.analysis.redact._ASSIGNMENT"} <= names
    assert any(n.startswith("detect-secrets ") for n in names)


@pytest.mark.parametrize("where,pattern", PATTERNS, ids=[where for where, _ in PATTERNS])
def test_each_pattern_searches_a_1mb_adversarial_line_in_under_100ms(where, pattern):
    """Every line at 8 and 64 KB (one search, and every match: a pattern that finds many matches, reading on to the
    end of the line for each, is quadratic too); at 1 MB the three lines that were slowest at 64 KB."""
    limit = input_limit(where)
    slowest_first: list[int] = []
    for size in SIZES[:2]:
        lines = [line[:limit] for line in adversarial(size)]
        for run in (pattern.search, pattern.findall):
            times = [timed(run, line) for line in lines]
            worst = max(range(len(lines)), key=times.__getitem__)
            assert times[worst] < BOUND, f"{where} took {times[worst]:.2f} s on {len(lines[worst])} characters " \
                                         f"of {lines[worst][:16]!r}…"
            if run == pattern.search:
                slowest_first = sorted(range(len(lines)), key=lambda i: -times[i])
    big = adversarial(SIZES[-1])
    for i in slowest_first[:3]:
        took = timed(pattern.search, big[i][:limit])
        assert took < BOUND, f"{where}: one search took {took:.2f} s on {limit} characters of {big[i][:16]!r}…"


def test_no_pattern_is_compiled_inside_a_function():
    """The search above sees module-level patterns only; a pattern built from the text it searches is worse."""
    calls = ("compile", "search", "match", "fullmatch", "findall", "finditer", "sub", "subn", "split")
    allowed = {  # function: why its pattern is safe
        "digest.render.common.mark_unverified": "escaped names (at most 20) in fields of at most 4,000 characters; "
                                                "timed below",
        "handlers.slack.register": "matches an action id, anchored",
    }
    inline = []
    for name in _modules():
        path = ROOT / (name.replace(".", "/") + ".py")
        if not path.exists():
            path = ROOT / name.replace(".", "/") / "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        tops = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        tops += [m for c in tree.body if isinstance(c, ast.ClassDef) for m in c.body
                 if isinstance(m, (ast.FunctionDef, ast.AsyncFunctionDef))]
        for top in tops:
            if f"{name}.{top.name}" in allowed:
                continue
            for call in ast.walk(top):
                if (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
                        and isinstance(call.func.value, ast.Name) and call.func.value.id == "re"
                        and call.func.attr in calls):
                    inline.append(f"{name}:{call.lineno} re.{call.func.attr}")
    assert inline == [], "compile these at module level, where the linear-time test finds them"


# The functions that run these patterns one after another, on lines a quarter of a megabyte long: linear, they
# take well under a second; one quadratic step would take minutes.
WHOLE = (16 * 1024, 256 * 1024)
WHOLE_BOUND = 2.0


def test_the_redaction_reads_long_adversarial_lines_in_linear_time():
    for size in WHOLE:
        took, line = slowest(lambda ln: redact.redact(ln + "\n"), adversarial(size)[::2])
        assert took < WHOLE_BOUND, f"redact took {took:.2f} s on {size} characters of {line!r}…"


def _commit(patch: str) -> Commit:
    return Commit(repo="o/r", sha="a" * 40, title=patch[:2000], message=patch[:2000] + "\n\n" + patch[:5000],
                  author="a", committed_at=utc(2026, 1, 11),
                  files=(FileChange(path="pkg/cli.py", status="modified", additions=1, deletions=1, patch=patch),),
                  files_total=1, additions=1, deletions=1)


def test_the_offline_analyser_and_the_grounding_check_read_long_lines_in_linear_time():
    plain = rules.analyse(_commit("+x\n"))
    for size in WHOLE:
        lines = adversarial(size)[::3]
        took, line = slowest(lambda ln: rules.analyse(_commit(ln), depth="deep"), lines)
        assert took < WHOLE_BOUND, f"rules took {took:.2f} s on {size} characters of {line!r}…"
        for text in lines[::3]:
            cited = plain.model_copy(update={"summary": text[:4000], "breaking_changes": [text[:500]],
                                             "impact_scope": [text[:300]]})
            took, line = slowest(lambda ln: grounding.check(cited, _commit(ln)), lines[::4])
            assert took < WHOLE_BOUND, f"grounding took {took:.2f} s on {size} characters of {line!r}…"
            started = time.process_time()
            common.mark_unverified(text[:4000], [text[:120], "--x" * 40, "a" * 120], "en")
            assert time.process_time() - started < BOUND


def test_a_removed_flag_is_still_found():
    commit = _commit('-    parser.add_argument("--tp-size", type=int)\n+    parser.add_argument("--tensor-parallel")\n'
                     '-    p.add_option("--keep", help="see --x")\n+    p.add_option("--keep")\n')
    assert rules.breaking_changes(commit, "en") == ["CLI flag `--tp-size` removed (pkg/cli.py)"]


def test_an_answer_with_think_blocks_and_fences_is_read():
    from digest.analysis.llm import parse_answer

    good = ('{"change_type": "fix", "importance": "low", "importance_reason": "r", "summary": "s", '
            '"impact_scope": [], "breaking_changes": []}')
    assert parse_answer(f"<think>a</think> <think>b</think>\n```json\n{good}\n```\n", "brief").summary == "s"
    started = time.process_time()
    with pytest.raises(ValueError):
        parse_answer("<think>" * 150_000 + "```" * 10 + " " * 100_000, "brief")
    assert time.process_time() - started < 1.0



def test_the_assignment_pattern_reads_long_text_in_spans_and_still_finds_what_is_in_them():
    """A 1 MB line is read in spans of at most ASSIGNMENT_SPAN, cut between values; what stands in it is found."""
    line = "x = 1, " * 40_000 + 'db_password = "hunter2secret", ' + "y = 2, " * 120_000
    pieces = redact.spans(line)
    assert "".join(pieces) == line and all(len(p) <= redact.ASSIGNMENT_SPAN for p in pieces) and len(pieces) > 10
    out = redact.redact(f"diff --git a/app.env b/app.env\n+{line}\n").text
    assert "hunter2secret" not in out and redact.MARK in out
