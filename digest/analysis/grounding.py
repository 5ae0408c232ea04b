"""Does what an analysis cites appear in the commit? Paths and identifiers, with or without backticks.

Citations are `code spans`, the impact scope, and names written in prose without backticks: snake_case,
CamelCase, dotted.names, dir/file.ext and --flags. Each is matched as a whole name (`load` is not verified by
`load_weights`) against every stored patch of the commit, its message and its file list: never against the
summaries a map call wrote. Unverified paths leave the impact scope; unverified names are listed, and the
renderers mark them. Prose that cites no name (an invented technology) is beyond this check.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.models import Analysis, Commit, Grounding

_CODE = re.compile(r"`([^`\n]{2,120})`")
MAX_FIELD = 4000  # characters of the longest text field of an analysis (its summary): what a citation comes from
_W = r"A-Za-z0-9_"  # ASCII word characters: in Chinese prose a name touches CJK letters, which \b treats as word
# A scheme starts where a run of scheme characters starts: from `\b`, every letter of `a.a.a…` read the run again.
_URL = re.compile(r"(?<![\w+.-])[a-z][a-z0-9+.-]*+://\S++", re.I)
_IDENT = re.compile(rf"[A-Za-z_][{_W}]*+")
_LONG_IDENT = re.compile(rf"[A-Za-z_][{_W}]{{2,}}+")
_TOKEN = re.compile(rf"[{_W}./-]++")
_RUN = re.compile(rf"[{_W}-]++")
_DOTTED_NAME = re.compile(rf"(?<![{_W}.])[A-Za-z_][{_W}]*+(?:\.[A-Za-z_][{_W}]*+)++")
_MISSING_SPACE = re.compile(r"(?<![A-Za-z])[A-Za-z]++\.[A-Za-z]++")
_FILE_NAME = re.compile(r"[\w.]++")
_PROSE_NAMES = re.compile(
    rf"(?<![{_W}./-])(?:"
    rf"--[A-Za-z0-9][{_W}-]+"  # --flags
    rf"|[{_W}.-]+(?:/[{_W}.-]+)+/?"  # dir/file.ext, dir/sub/
    rf"|[A-Za-z_][{_W}]*(?:\.[A-Za-z_][{_W}]*)+(?:\(\))?"  # dotted.names, module.func()
    rf"|[A-Za-z_][{_W}]*(?:\(\))?"  # a word: a name if it has an underscore, a lower-to-upper hump, or ()
    rf")(?![{_W}/-])"
)
_CODE_WORD = re.compile(r"_|[a-z][A-Z]|\(\)$|(?<![A-Z])[A-Z]{2,}+[a-z]++[A-Z]")
# Product and technology names that look like identifiers; prose naming them is not a citation.
_WORDS = frozenset("""
GitHub GitLab JavaScript TypeScript PyTorch TensorFlow NumPy SciPy OpenAI DeepSeek FastAPI SQLite PostgreSQL MySQL
MongoDB NVIDIA AMD ROCm CUDA cuDNN cuBLAS FlashAttention FlashInfer HuggingFace LLaMA Llama DeepSpeed MacOS macOS iOS
iPhone YouTube LinkedIn WebSocket WebSockets GraphQL OAuth JSON YAML TOML NixOS FreeBSD OpenBSD PyPI CPython MyPy
SGLang vLLM TensorRT OpenMP OpenCL PowerPC DevOps Node.js Vue.js Next.js ASP.NET e.g i.e etc.
""".split())
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,8}$")
_NAMEISH = re.compile(r"^(?:--?[\w-]+|[\w./-]+(?:\(\))?)$")


def _prose(analysis: Analysis) -> list[str]:
    texts = [analysis.summary, analysis.importance_reason, *analysis.breaking_changes]
    if analysis.insights:
        texts += [analysis.insights.architecture, analysis.insights.performance, analysis.insights.security,
                  analysis.insights.maintainability]
    for risk in analysis.risks:
        texts += [risk.point, risk.description, risk.consequence, risk.mitigation]
    return texts + analysis.suggestions


def _is_path(name: str) -> bool:
    return "/" in name and not name.startswith("--")


def _blank(match: re.Match[str]) -> str:
    return " " * len(match.group(0))


def _names_in(text: str) -> list[str]:
    """`code spans` and names written without backticks (outside code spans and URLs), in the order written."""
    text = text[:MAX_FIELD]
    found = [(m.start(), m.group(1).strip()) for m in _CODE.finditer(text)]
    plain = _URL.sub(_blank, _CODE.sub(_blank, text))
    for match in _PROSE_NAMES.finditer(plain):
        name = match.group(0).rstrip(".")
        if name in _WORDS or name.lower() in ("and/or", "i/o", "input/output", "read/write"):
            continue
        if (_is_path(name) and not name.endswith("/") and not _EXTENSION.search(name)
                and name.count("/") < 2):
            continue  # "CPU/GPU", "fp8/fp16": a slash in prose, not a path
        if _MISSING_SPACE.fullmatch(name) and name.split(".")[1][:1].isupper():
            continue  # "done.Next": a missing space after a full stop
        if _IDENT.fullmatch(name) and not _CODE_WORD.search(name):
            continue  # an ordinary word
        found.append((match.start(), name))
    return [name for _, name in sorted(found)]


def citations(analysis: Analysis) -> list[str]:
    """Every name the analysis cites, once each, in order: code spans, names in prose, then the impact scope."""
    cited: list[str] = []
    for text in _prose(analysis):
        cited += _names_in(text)
    cited += [p.strip().strip("`") for p in analysis.impact_scope]
    return list(dict.fromkeys(c for c in cited if c))


@dataclass
class _Haystack:
    """What a commit lets an analysis cite: every stored patch, the message, every path (old and new)."""

    text: str
    words: set[str]
    tokens: set[str]
    runs: set[str]  # whole runs of word characters and dashes: a --flag is one of them
    paths: list[str]

    @classmethod
    def of(cls, commit: Commit) -> "_Haystack":
        paths = [f.path for f in commit.files] + [f.previous_path for f in commit.files if f.previous_path]
        text = "\n".join([commit.message, *paths, *(f.patch for f in commit.files if f.patch)])
        words = set(_IDENT.findall(text))
        tokens = {t.strip(".:,;'\"()[]{}<>") for t in _TOKEN.findall(text)}
        return cls(text, words, tokens, set(_RUN.findall(text)), paths)

    def has_path(self, name: str) -> bool:
        bare = name.rstrip("/")
        if any(p == bare or p.startswith(bare + "/") or p.endswith("/" + bare) for p in self.paths):
            return True
        return any(t == bare or t.endswith("/" + bare) for t in self.tokens)

    def has(self, citation: str) -> bool:
        name = citation.strip().removesuffix("()").rstrip("/")
        if not name:
            return True
        if _is_path(name):
            return self.has_path(name)
        if _IDENT.fullmatch(name):
            return name in self.words
        if _DOTTED_NAME.fullmatch(name):  # module.func, obj.attr.method
            return name in self.tokens or self.has_path(name) or all(p in self.words for p in name.split("."))
        if name.startswith("-"):
            return name in self.runs if _RUN.fullmatch(name) else _has_flag(self.text, name)
        if _FILE_NAME.fullmatch(name):  # a file name: setup.py, 1.2.3
            return name in self.tokens or self.has_path(name)
        # an expression in a code span: found as written, or every name in it is found
        flat = " ".join(name.split())
        if flat in " ".join(self.text.split()):
            return True
        parts = _LONG_IDENT.findall(name)
        return bool(parts) and all(p in self.words for p in parts)


def _has_flag(text: str, flag: str) -> bool:
    """Whether `flag` (with a character other than a word character or dash: `--x=1`) occurs in `text` as a whole
    name; str.find rather than a pattern built from the LLM's text."""
    start = text.find(flag)
    while start >= 0:
        before, after = text[start - 1: start], text[start + len(flag): start + len(flag) + 1]
        if not (before and (before.isascii() and (before.isalnum() or before in "_-"))) and not (
                after and after.isascii() and (after.isalnum() or after in "_-")):
            return True
        start = text.find(flag, start + 1)
    return False


def unverified(analysis: Analysis, commit: Commit) -> tuple[list[str], list[str]]:
    """(every citation, those the commit does not contain)."""
    haystack = _Haystack.of(commit)
    cited = citations(analysis)
    return cited, [c for c in cited if not haystack.has(c)]


def check(analysis: Analysis, commit: Commit) -> Grounding:
    cited, missing = unverified(analysis, commit)
    return Grounding(cited=len(cited), verified=len(cited) - len(missing), unverified=missing[:20])


def ground(analysis: Analysis, commit: Commit) -> Analysis:
    """The analysis with its grounding, and without the paths of its impact scope that the commit does not have."""
    cited, all_missing = unverified(analysis, commit)
    checked = Grounding(cited=len(cited), verified=len(cited) - len(all_missing), unverified=all_missing[:20])
    missing = set(all_missing)
    scope = [p for p in analysis.impact_scope
             if not (p.strip().strip("`") in missing and _NAMEISH.match(p.strip().strip("`")))]
    return analysis.model_copy(update={"grounding": checked, "impact_scope": scope})
