"""Secrets stay home: obvious credentials are replaced before any text (diff, message, file names) goes to the LLM.

A pattern table, not detect-secrets: its plugins report a matched value rather than where it is (a PEM block is
reported by its BEGIN line only, so the key body would still be sent), miss today's formats (`github_pat_`,
Slack `xapp-`, OpenAI `sk-proj-`, GCP service-account JSON), and its keyword plugin flags short values and
filters false positives through a process-wide settings object. The token patterns below follow its plugins
(AWS, Slack, GitHub, basic auth, JWT) where they fit. Entropy detectors are left out on purpose: they flag
commit SHAs and UUIDs, which the LLM needs to see.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

MARK = "[REDACTED]"

_KEYWORD = r"(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|secret[_-]?key|" \
           r"private[_-]?key|client[_-]?secret|auth[_-]?token|credentials?)"
# A literal value: quoted (8+ characters, not a placeholder like "${X}" or "<your key>"), or bare (12+
# characters with a letter and a digit, ending the line or followed by a separator; not a call or a subscript).
_QUOTED = r"(?P<q>[\"'])(?P<qv>(?![$<{%])[^\"'\s]{8,})(?P=q)"
_BARE = r"(?P<bv>(?=[^\s\"']*[A-Za-z])(?=[^\s\"']*\d)[A-Za-z0-9+/=_\-.~!@#%^&*]{12,})(?=\s|$|[,;)}\]])"
# Matches start where a name starts: tried at every character of a long identifier or hex run, the leading
# [\w.-]* made the search quadratic (3 s for a 6,000-character hex line), holding the GIL all the while.
_ASSIGNMENT = re.compile(
    r"(?<![\w.-])(?P<key>[\w.-]*" + _KEYWORD + r")[\"']?\s*(?::\s*[A-Za-z_][\w\[\], ]*)?\s*(?::=|=>|=|:)\s*(?:" + _QUOTED + "|"
    + _BARE + ")",
    re.IGNORECASE | re.MULTILINE,
)


@dataclass(frozen=True)
class _Pattern:
    kind: str
    regex: re.Pattern[str]
    keep: int = 0  # number of the group kept in front of the mark (0: replace the whole match)


PATTERNS: tuple[_Pattern, ...] = (
    # PEM blocks, also inside JSON strings ("-----BEGIN PRIVATE KEY-----\nMII...") and cut-off ones
    _Pattern("private key", re.compile(
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----.*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
        r"|(?=\"\s*[,}])|\Z)", re.S)),
    _Pattern("private key", re.compile(r"PuTTY-User-Key-File-\d:.*?(?:Private-MAC: \S+|\Z)", re.S)),
    _Pattern("AWS access key", re.compile(r"(?<![A-Z0-9])(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Z0-9])")),
    _Pattern("GCP key", re.compile(r"(\"private_key_id\"\s*:\s*\")[0-9a-f]{40}(?=\")"), keep=1),
    _Pattern("Google API key", re.compile(r"(?<![\w-])AIza[0-9A-Za-z_-]{35}(?![\w-])")),
    _Pattern("GitHub token", re.compile(r"(?<![\w])(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,250})"
                                        r"(?![\w])")),
    _Pattern("Slack token", re.compile(r"(?<![\w-])(?:xox[abposre]-[A-Za-z0-9-]{10,}|xapp-\d-[A-Za-z0-9-]{10,})")),
    _Pattern("Slack webhook", re.compile(r"hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9_/-]{20,}")),
    _Pattern("OpenAI-style key", re.compile(r"(?<![\w-])sk-(?:proj-|svcacct-|admin-|ant-[a-z0-9]+-)?"
                                            r"(?=[A-Za-z0-9_-]*\d)[A-Za-z0-9_-]{20,}")),
    _Pattern("Stripe key", re.compile(r"(?<![\w])[rs]k_(?:live|test)_[A-Za-z0-9]{16,}")),
    _Pattern("JSON web token", re.compile(r"(?<![\w-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")),
    _Pattern("URL credentials", re.compile(r"((?<![a-zA-Z0-9+.-])[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@\"'<>]+:)[^/\s@\"'<>]+(?=@)"), keep=1),
    _Pattern("bearer token", re.compile(r"(\bBearer\s+)[A-Za-z0-9._~+/-]{20,}=*"), keep=1),
)


@dataclass(frozen=True)
class Redacted:
    text: str
    found: Counter[str] = field(default_factory=Counter)  # kind -> how many were replaced


def redact(text: str) -> Redacted:
    """`text` with every secret the table knows replaced by [REDACTED], and what was replaced."""
    found: Counter[str] = Counter()
    for pattern in PATTERNS:
        def replace(match: re.Match[str], p: _Pattern = pattern) -> str:
            found[p.kind] += 1
            return (match.group(p.keep) if p.keep else "") + MARK
        text = pattern.regex.sub(replace, text)

    def assignment(match: re.Match[str]) -> str:
        value = match.group("qv") or match.group("bv")
        if value is None or MARK in value:
            return match.group(0)
        found["password or key assignment"] += 1
        start, end = match.span("qv") if match.group("qv") else match.span("bv")
        whole = match.group(0)
        return whole[: start - match.start()] + MARK + whole[end - match.start():]

    return Redacted(_ASSIGNMENT.sub(assignment, text), found)


def merge(*counts: Counter[str]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for c in counts:
        total.update(c)
    return dict(sorted(total.items()))
