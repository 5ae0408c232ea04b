"""What of a diff the LLM reads: a token budget estimated offline, source files first, generated files last.

No tokenizer download: CJK characters count about one token each, code and Latin text about 3.5 characters
per token (a slight over-estimate for English, so the budget errs on the safe side).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace

from digest.analysis.paths import KIND_ORDER, file_kind
from core.models import Commit, FileChange, SkippedFile

_CJK = re.compile(r"[\u2e80-\u9fff\uac00-\ud7af\uf900-\ufaff\uff00-\uffef\U00020000-\U0002fa1f]")
CHARS_PER_TOKEN = 3.5
MIN_CLIP_TOKENS = 150  # below this a clipped patch says too little to be worth sending


def estimate_tokens(text: str) -> int:
    cjk = len(_CJK.findall(text))
    return cjk + math.ceil((len(text) - cjk) / CHARS_PER_TOKEN)


@dataclass(frozen=True)
class DiffSelection:
    text: str
    read_files: list[str]
    skipped: list[SkippedFile] = field(default_factory=list)
    tokens: int = 0


def _header(f: FileChange) -> str:
    moved = f" (from {f.previous_path})" if f.previous_path else ""
    return f"### {f.path}{moved} [{f.status}, +{f.additions} -{f.deletions}]\n"


def clip(patch: str, max_tokens: int) -> tuple[str, int]:
    """The longest prefix of whole lines within `max_tokens`, and how many lines were left out."""
    lines = patch.split("\n")
    kept, used = [], 0
    for line in lines:
        cost = estimate_tokens(line) + 1
        if used + cost > max_tokens:
            break
        kept.append(line)
        used += cost
    return "\n".join(kept), len(lines) - len(kept)


def select(commit: Commit, budget_tokens: int) -> DiffSelection:
    """Fill `budget_tokens` with patches: source, build, tests, docs, CI, then generated files."""
    order = sorted(
        commit.files,
        key=lambda f: (KIND_ORDER.index(file_kind(f.path)), -(f.additions + f.deletions), f.path),
    )
    parts: list[str] = []
    read: list[str] = []
    skipped: list[SkippedFile] = []
    used = 0
    per_file_cap = max(budget_tokens // 2, MIN_CLIP_TOKENS)  # one huge file cannot starve the others
    for f in order:
        if f.patch is None:
            skipped.append(SkippedFile(path=f.path, reason="binary" if f.binary else "unavailable"))
            continue
        if file_kind(f.path) == "generated":
            skipped.append(SkippedFile(path=f.path, reason="generated"))
            continue
        header = _header(f)
        cost = estimate_tokens(header) + estimate_tokens(f.patch)
        room = min(budget_tokens - used, per_file_cap)
        if cost <= room:
            parts.append(header + f.patch)
            read.append(f.path)
            used += cost
            continue
        if room < MIN_CLIP_TOKENS:
            skipped.append(SkippedFile(path=f.path, reason="budget"))
            continue
        text, left = clip(f.patch, room - estimate_tokens(header) - 20)
        parts.append(f"{header}{text}\n[... {left} more lines of this file not shown]")
        skipped.append(SkippedFile(path=f.path, reason="clipped"))
        used += room
    missing = (commit.files_total or 0) - len(commit.files)
    if missing > 0:
        skipped.append(SkippedFile(path=f"({missing} more files)", reason="unavailable"))
    return DiffSelection(text="\n\n".join(parts), read_files=read, skipped=skipped, tokens=used)


# -- whole-diff coverage: condense, then summarise what still does not fit (map calls) and combine ---------------

_HUNK = re.compile(r"^@@[^\n]*@@[^\n]*$", re.M)
_DEFINITION = re.compile(r"^-\s*+(?:async\s++)?(?:def|class|fn|func|function|struct|enum|interface|type)\s+(\w+)", re.M)


def _removed_names(lines: str) -> str:
    names = list(dict.fromkeys(_DEFINITION.findall(lines)))
    return f": {', '.join(names[:8])}{'…' if len(names) > 8 else ''}" if names else ""


def condense_patch(patch: str) -> str:
    """Deletions-only hunks become one line each, naming the definitions they remove."""
    heads = list(_HUNK.finditer(patch))
    if not heads:
        return patch
    out = [patch[: heads[0].start()]]
    for i, head in enumerate(heads):
        body = patch[head.end(): heads[i + 1].start() if i + 1 < len(heads) else len(patch)]
        lines = body.strip("\n").split("\n")
        removed = [line for line in lines if line.startswith("-")]
        if removed and not any(line.startswith("+") for line in lines):
            out.append(f"{head.group(0)}\n[{len(removed)} lines deleted{_removed_names(body)}]\n")
        else:
            out.append(head.group(0) + body)
    return "".join(out)


def condense_file(f: FileChange) -> tuple[FileChange, bool]:
    """A removed file or a pure rename as one line; other patches with their deletions-only hunks condensed."""
    if f.patch is None:
        return f, False
    if f.status == "removed" or (f.additions == 0 and f.deletions > 0 and f.status != "renamed"):
        line = f"[file deleted: {f.deletions} lines{_removed_names(f.patch)}]"
        return replace(f, patch=line), True
    if f.status in ("renamed", "copied") and f.additions == 0 and f.deletions == 0:
        return replace(f, patch=f"[{f.status} from {f.previous_path}, content unchanged]"), True
    condensed = condense_patch(f.patch)
    return replace(f, patch=condensed), condensed != f.patch


@dataclass(frozen=True)
class MapChunk:
    """Files whose diffs one map call summarises, in path order (so a directory stays together)."""

    paths: list[str]
    text: str


@dataclass(frozen=True)
class DiffPlan:
    selection: DiffSelection  # what the analysing (or combining) call reads
    chunks: list[MapChunk] = field(default_factory=list)
    condensed: int = 0
    generated: int = 0
    files: int = 0

    @property
    def calls(self) -> int:
        return 1 + len(self.chunks)

    @property
    def summarised(self) -> int:
        return sum(len(c.paths) for c in self.chunks) + self.generated


def _does_not_fit(selection: DiffSelection) -> bool:
    return any(s.reason in ("budget", "clipped") for s in selection.skipped)


def max_map_calls(files: int, files_per_call: int = 50) -> int:
    """Calls per commit stay within 1 + ceil(files / files_per_call)."""
    return max(1, math.ceil(files / files_per_call))


def plan(commit: Commit, budget_tokens: int, map_budget: int, files_per_call: int = 50) -> DiffPlan:
    """The whole diff within the budget if it fits; else condensed; else the rest summarised by map calls."""
    generated = sum(1 for f in commit.files if file_kind(f.path) == "generated" and f.patch is not None)
    first = select(commit, budget_tokens)
    if not _does_not_fit(first):
        return DiffPlan(first, generated=0, files=len(commit.files))
    condensed_files = [condense_file(f) for f in commit.files]
    condensed = sum(1 for _, changed in condensed_files if changed)
    small = replace(commit, files=tuple(f for f, _ in condensed_files))
    second = select(small, budget_tokens)
    if not _does_not_fit(second):
        return DiffPlan(second, condensed=condensed, generated=generated, files=len(commit.files))
    # read whole files within two thirds of the budget (the summaries take the rest); summarise the others
    main_budget = budget_tokens * 2 // 3
    order = sorted((f for f in small.files if f.patch is not None and file_kind(f.path) != "generated"),
                   key=lambda f: (KIND_ORDER.index(file_kind(f.path)), -(f.additions + f.deletions), f.path))
    read: list[FileChange] = []
    rest: list[FileChange] = []
    used = 0
    for f in order:
        cost = estimate_tokens(_header(f)) + estimate_tokens(f.patch or "")
        if used + cost <= main_budget:
            read.append(f)
            used += cost
        else:
            rest.append(f)
    skipped = [s for s in second.skipped if s.reason not in ("budget", "clipped")]
    skipped += [SkippedFile(path=f.path, reason="summarised") for f in rest]
    selection = DiffSelection(text="\n\n".join(_header(f) + (f.patch or "") for f in read),
                              read_files=[f.path for f in read], skipped=skipped, tokens=used)
    return DiffPlan(selection, _chunks(rest, map_budget, max_map_calls(len(commit.files), files_per_call)),
                    condensed=condensed, generated=generated, files=len(commit.files))


def _chunks(files: list[FileChange], map_budget: int, calls: int) -> list[MapChunk]:
    """Contiguous runs of files in path order, of about equal size, each clipped to fit one map call."""
    if not files:
        return []
    files = sorted(files, key=lambda f: f.path)
    costs = [estimate_tokens(_header(f)) + estimate_tokens(f.patch or "") for f in files]
    count = max(1, min(calls, math.ceil(sum(costs) / map_budget), len(files)))
    target = sum(costs) / count
    groups: list[list[FileChange]] = [[]]
    running = 0.0
    for f, cost in zip(files, costs):
        if groups[-1] and running + cost / 2 > target * len(groups) and len(groups) < count:
            groups.append([])
        groups[-1].append(f)
        running += cost
    return [MapChunk([f.path for f in group], _fit(group, map_budget)) for group in groups]


def _fit(group: list[FileChange], map_budget: int) -> str:
    """The group's patches within `map_budget`: small files whole, the big ones clipped to an equal share."""
    parts: list[str] = []
    left = map_budget
    by_size = sorted(group, key=lambda f: estimate_tokens(f.patch or ""))
    shown: dict[str, str] = {}
    for i, f in enumerate(by_size):
        share = left // (len(by_size) - i)
        header = _header(f)
        cost = estimate_tokens(header) + estimate_tokens(f.patch or "")
        if cost <= share:
            shown[f.path] = header + (f.patch or "")
            left -= cost
        elif share - estimate_tokens(header) > 40:
            text, more = clip(f.patch or "", share - estimate_tokens(header) - 20)
            shown[f.path] = f"{header}{text}\n[... {more} more lines of this file not shown]"
            left -= share
        else:
            shown[f.path] = header + "[diff not shown: too large for this pass]"
            left -= estimate_tokens(shown[f.path])
    parts = [shown[f.path] for f in group]
    return "\n\n".join(parts)
