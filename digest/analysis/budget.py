"""What of a diff the LLM reads: a token budget estimated offline, source files first, generated files last.

No tokenizer download: CJK characters count about one token each, code and Latin text about 3.5 characters
per token (a slight over-estimate for English, so the budget errs on the safe side).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from digest.analysis.paths import KIND_ORDER, file_kind
from digest.models import Commit, FileChange, SkippedFile

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
