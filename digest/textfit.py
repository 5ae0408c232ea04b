"""Shorten text honestly: whole sentences, else whole words, marked with "…"; never a silent mid-word cut."""

from __future__ import annotations

_SENTENCE_ENDS = ("。", "！", "？", ". ", "! ", "? ")


def fit(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    ends = [cut.rfind(sep) + len(sep.rstrip()) for sep in _SENTENCE_ENDS if cut.rfind(sep) > limit // 2]
    if ends:
        return cut[: max(ends)].rstrip()
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip() + "…"
