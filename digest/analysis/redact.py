"""Secrets stay home: credentials are replaced before any text (diff, message, file names) goes to the LLM.

Four layers, each linear in the text (tests/test_regex_linear.py feeds every pattern 1 MB adversarial lines):
1. detect-secrets' token plugins (a maintained rule set, pinned): each pattern reports a secret's value (its
   longest group, or the whole match where a group holds only a prefix like `glpat`), which is then replaced
   wherever it occurs. Their patterns are run directly, never `analyze_line`: its verification would send the
   secret to the service it belongs to. Left out, as tests/test_regex_linear.py found: the keyword plugin
   (quadratic: `\\w*` after every keyword, and a look-ahead to the end of the line), the IBM, Cloudant and SoftLayer
   assignment patterns (cubic on a run of spaces), JWT, npm and OpenAI (quadratic on runs of `eyJ`, `//`, `sk-`),
   and, too slow on 1 MB lines (over 100 ms), Artifactory and Mailchimp (32 steps at every character), AWS (its
   secret-key pattern: 400) and Telegram (10 at every digit); layer 2 has linear patterns for AWS, JWT, npm,
   OpenAI and Telegram. Also left out: public IP addresses (not credentials) and the high-entropy strings (they
   flag commit SHAs and lockfile hashes, which the LLM needs).
2. Formats detect-secrets does not know (gitleaks' rule names in brackets), PEM blocks, URL credentials and
   authorization headers.
3. Assignments whose name says password, passwd, pass, pwd, secret, token, key or credential, of a literal of 6 or
   more characters: quoted in code, quoted or bare in configuration (.env, YAML, INI, shell) and messages. A
   key or token name needs a value that looks made up (letters and digits), so `sort_key: created_at` stays.
4. Key files (.pem, .key, .p12, id_rsa…): every long base64 or hex run; elsewhere, the 64-character base64 lines of
   a PEM body, which a hunk without its BEGIN line still shows.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from detect_secrets.plugins.azure_storage_key import AzureStorageKeyDetector
from detect_secrets.plugins.base import RegexBasedDetector
from detect_secrets.plugins.basic_auth import BasicAuthDetector
from detect_secrets.plugins.discord import DiscordBotTokenDetector
from detect_secrets.plugins.github_token import GitHubTokenDetector
from detect_secrets.plugins.gitlab_token import GitLabTokenDetector
from detect_secrets.plugins.pypi_token import PypiTokenDetector
from detect_secrets.plugins.sendgrid import SendGridDetector
from detect_secrets.plugins.slack import SlackDetector
from detect_secrets.plugins.square_oauth import SquareOAuthDetector
from detect_secrets.plugins.stripe import StripeDetector
from detect_secrets.plugins.twilio import TwilioKeyDetector

from digest.analysis.paths import MAX_PATH

MARK = "[REDACTED]"
MIN_SECRET = 6  # characters: a shorter value is not worth hiding (and `1500` or `None` are not secrets)
MAX_PROBE = 256  # characters of a name or a value that its words and placeholders are read from
ASSIGNMENT_SPAN = 1 << 16  # characters the assignment pattern reads at once: linear, but ~100 ns a letter
_CUTS = ("\n", ";", ",", " ")  # where a span may end: between lines, else between values

PLUGINS: tuple[RegexBasedDetector, ...] = (
    AzureStorageKeyDetector(), BasicAuthDetector(), DiscordBotTokenDetector(),
    GitHubTokenDetector(), GitLabTokenDetector(), PypiTokenDetector(), SendGridDetector(), SlackDetector(),
    SquareOAuthDetector(), StripeDetector(),
    TwilioKeyDetector(),
)


@dataclass(frozen=True)
class _Pattern:
    kind: str
    regex: re.Pattern[str]
    keep: int = 0  # number of the group kept in front of the mark (0: replace the whole match)
    check: Callable[[str], bool] | None = None  # what the matched value must also be
    # not after a letter, digit, _ or -: checked on the match rather than by a look-behind that would come first and
    # make the search try the whole pattern at every character instead of scanning for its first letters
    bounded: bool = False


def _has_digit(value: str) -> bool:
    return any(c.isdigit() for c in value)


def _mixed(value: str) -> bool:
    """A digit, or capitals among small letters: a credential, not a word that follows `Basic` in prose."""
    return _has_digit(value) or value.lower() != value != value.upper()


_B64 = "A-Za-z0-9+/"
_END = r"(?![\w-])"
# Services that mark their tokens with a fixed prefix (gitleaks' formats), one pattern each: a search skips to a
# pattern's first letters, which one alternation of them all could not.
_PREFIXED = (
    r"dop_v1_[a-f0-9]{64}",
    r"doo_v1_[a-f0-9]{64}",
    r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}",
    r"lin_api_[A-Za-z0-9]{40}",
    r"PMAK-[a-f0-9]{24}-[a-f0-9]{34}",
    r"pul-[a-f0-9]{40}",
    r"glc_[A-Za-z0-9+/]{32,400}+=*+",
    r"glsa_[A-Za-z0-9]{32}_[a-fA-F0-9]{8}",
    r"hvs\.[A-Za-z0-9_-]{90,}+",
    r"hv[sb]\.[A-Za-z0-9_-]{24}",
    r"dp\.pt\.[a-zA-Z0-9]{43}",
    r"dapi[a-h0-9]{32}",
    r"sntry[su]_[A-Za-z0-9+/=_]{40,}+",
    r"NRAK-[A-Z0-9]{27}",
    r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}",
    r"LTAI[A-Za-z0-9]{20}",
    r"AKID[A-Za-z0-9]{32}",
    r"rubygems_[a-f0-9]{48}",
    r"pscale_(?:tkn|pw|oauth)_[\w.-]{32,64}+",
    r"ATATT3[A-Za-z0-9_=-]{150,}+",
    r"xkeysib-[a-f0-9]{64}-[A-Za-z0-9]{16}",
    r"key-[a-f0-9]{32}",
    r"SK[0-9a-fA-F]{32}",
    r"EAA[MC][A-Za-z0-9]{100,}+",
    r"ya29\.[\w-]{30,}+",
    r"AccountKey=[A-Za-z0-9+/=]{40,}+",
)
PATTERNS: tuple[_Pattern, ...] = (
    # PEM blocks, also inside JSON strings ("-----BEGIN PRIVATE KEY-----\nMII...") and cut-off ones: the first BEGIN
    # reads on to its END (or the end of the text), so no BEGIN is read twice
    _Pattern("private key", re.compile(
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
        r"(?:[^-\"\n]++|\n(?!### |diff --git )|-(?!----END )|\"(?!\s*+[,}]))*+"
        r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----)?")),
    _Pattern("private key", re.compile(r"PuTTY-User-Key-File-\d:(?:[^P]++|P(?!rivate-MAC: ))*+(?:Private-MAC: \S++)?")),
    _Pattern("AWS access key", re.compile(r"(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?![A-Z0-9])"),
             bounded=True),
    _Pattern("GCP key", re.compile(r"(\"private_key_id\"\s*+:\s*+\")[0-9a-f]{40}(?=\")"), keep=1),
    _Pattern("Google API key", re.compile(r"AIza[0-9A-Za-z_-]{35}" + _END), bounded=True),  # [gcp-api-key]
    _Pattern("GitHub token", re.compile(r"(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{22,250})"
                                        r"(?![\w])"), bounded=True),  # [github-pat], [github-fine-grained-pat]
    _Pattern("Slack token", re.compile(r"(?:xox[abposre]-[A-Za-z0-9-]{10,}+|xapp-\d-[A-Za-z0-9-]{10,}+)"),
             bounded=True),
    _Pattern("Slack webhook", re.compile(r"hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/-]{20,}+")),
    _Pattern("Discord webhook", re.compile(  # [discord-webhook]
        r"((?:discord|discordapp)\.com/api/webhooks/\d{5,30}/)[A-Za-z0-9_-]{20,}+"), keep=1),
    _Pattern("Feishu webhook", re.compile(  # the hook id is the whole credential of a Feishu or Lark bot
        r"((?:open\.feishu\.cn|open\.larksuite\.com)/open-apis/bot/v2/hook/)[A-Za-z0-9-]{16,}+"), keep=1),
    _Pattern("Teams webhook", re.compile(r"(\.webhook\.office\.com/webhookb2/)[A-Za-z0-9@/-]{20,}+"), keep=1),
    _Pattern("OpenAI-style key", re.compile(r"sk-(?:proj-|svcacct-|admin-|ant-(?:api|admin)\d\d-)?"
                                            r"[A-Za-z0-9_-]{20,}+"), check=_has_digit, bounded=True),
    _Pattern("Stripe key", re.compile(r"[rs]k_(?:live|test)_[A-Za-z0-9]{16,}+"), bounded=True),  # [stripe-access-token]
    _Pattern("JSON web token", re.compile(  # from a run's start only: eyJeyJeyJ… read on from each
        r"eyJ(?<![\w-]eyJ)[A-Za-z0-9_-]{8,}+\.eyJ[A-Za-z0-9_-]{8,}+\.[A-Za-z0-9_-]{8,}+")),
    _Pattern("Telegram bot token", re.compile(  # [telegram-bot-api-token]
        r"\d(?<![\d:]\d)\d{7,9}:[0-9A-Za-z_-]{35}" + _END)),
    _Pattern("Hugging Face token", re.compile(r"hf_[A-Za-z]{34}" + _END), bounded=True),  # [huggingface-access-token]
    _Pattern("npm token", re.compile(r"npm_[A-Za-z0-9]{36}" + _END), bounded=True),  # [npm-access-token]
    *(_Pattern("prefixed token", re.compile(p), bounded=True) for p in _PREFIXED),
    _Pattern("URL credentials", re.compile(
        r"(://[^/\s:@\"'<>]*+:)[^/\s@\"'<>]++(?=@)"), keep=1),  # from "://": a literal the search skips to
    _Pattern("authorization header", re.compile(  # Bearer, Basic, token: what follows is the credential
        r"((?:Bearer|Basic|Token|token|Digest|Negotiate)[ \t]++)[A-Za-z0-9._~+/-]{16,}+=*+"), keep=1,
        check=_mixed, bounded=True),
)

# -- assignments ------------------------------------------------------------------------------------------------
_ASSIGNMENT = re.compile(
    r"(?P<name>[A-Za-z_](?<![\w.$-][A-Za-z_])[\w.-]*+)[\"'\]]?[ \t]*+(?::[ \t]*+[A-Za-z_][\w\[\]., |]*+)?"
    r"(?P<op>:=|=>|=|:)[ \t]*+"
    r"(?:(?P<q>[\"'`])(?P<qv>[^\"'`\n]*+)(?P=q)|(?P<bv>[^\s\"'`,;{}()\[\]]++))"
)
_WORDS = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")  # the words of a name: DB_PASS, apiKey, PGPASSWORD
_SECRET_WORDS = frozenset({"password", "passwd", "pass", "pwd", "passphrase", "secret", "secrets", "credential",
                           "credentials", "pw", "passcode"})
_KEY_WORDS = frozenset({"token", "key", "apikey", "auth"})
_SECRET_ENDINGS = ("password", "passwd", "passphrase", "secret", "credential", "credentials")  # PGPASSWORD
_CONFIG = re.compile(r"\.(?:env|ini|cfg|conf|properties|ya?ml|toml|sh|bash|zsh|tfvars|npmrc|pypirc|netrc|txt)$", re.I)
_CONFIG_NAMES = (".env", "env.", "dockerfile", "procfile", ".npmrc", ".netrc", ".pypirc", "npmrc", "netrc", "pypirc")
_CODE = re.compile(r"\.(?:py|pyi|js|jsx|mjs|cjs|ts|tsx|go|java|kt|kts|scala|rb|php|cs|c|cc|cpp|h|hpp|rs|swift|m|"
                   r"mm|lua|pl|r|dart|ex|exs|erl|clj|groovy|vue|svelte|sql|json|jsonc|tf|hcl|ipynb)$", re.I)
_PLACEHOLDER = re.compile(r"^[$<{%]|\$\{|\{\{|%\(|\*{3}|x{4}|X{4}|\.\.\.|(?i:your[_ -]|changeme|placeholder|redacted)")
# a last word that says the value names, locates or describes the secret: secret_ref, password_file, token_url
_NOT_THE_SECRET = frozenset({"ref", "name", "id", "ids", "path", "file", "dir", "env", "var", "field", "label", "type",
                             "url", "uri", "prompt", "hint", "length", "len", "policy", "min", "max", "count", "ttl",
                             "header", "param", "arn", "version", "format", "prefix", "suffix", "mode", "kind"})
_NETRC = re.compile(r"((?<!\S)password[ \t]++)\S{6,}+")

# -- key files and PEM bodies ---------------------------------------------------------------------------------------
_KEY_FILE = re.compile(r"\.(?:pem|key|p12|pfx|jks|keystore|ppk|p8|der|asc|gpg|pgp)$", re.I)
# settings.db_password: a name, not a value
_REFERENCE = re.compile(r"[A-Za-z_](?<![\w.][A-Za-z_])\w*+(?:\.[A-Za-z_]\w*+)++")
_KEY_RUN = re.compile(rf"[{_B64}=_-]{{20,}}+")
_PEM_LINE = re.compile(rf"^([+ -]?[ \t\"']*+)([{_B64}]{{64}})(?=[\"',]*+(?:\\n)?[\"',]*+[ \t]*+$)", re.M)
_PUBLIC_PEM = re.compile(r"-----BEGIN (?:CERTIFICATE|PUBLIC KEY|[A-Z]+ PUBLIC KEY|CERTIFICATE REQUEST|X509 CRL)")
# where one file's text starts in a prompt (the budget's "### path [status…]") or in a raw diff
_FILE_HEADER = re.compile(r"^(?:### (?P<p>[^\n\[]++)\[|diff --git a/[^\n]* b/(?P<g>[^\n]+)$|\+\+\+ b/(?P<d>[^\n]+)$)",
                          re.M)


@dataclass(frozen=True)
class Redacted:
    text: str
    found: Counter[str] = field(default_factory=Counter)  # kind -> how many were replaced


def redact(text: str) -> Redacted:
    """`text` with every secret found replaced by [REDACTED], and what was replaced."""
    found: Counter[str] = Counter()
    values: dict[str, str] = {}
    for plugin in PLUGINS:
        for pattern in plugin.denylist:
            for match in pattern.finditer(text):
                value = max(match.groups(default=""), key=len) if match.groups() else ""
                value = (value if len(value) >= MIN_SECRET else match.group(0)).strip(" \t\"'=:")
                if len(value) >= MIN_SECRET and MARK not in value:
                    values.setdefault(value, plugin.secret_type)
    for value in sorted(values, key=len, reverse=True):  # a longer value first: one may contain another
        if value in text:
            found[values[value]] += text.count(value)
            text = text.replace(value, MARK)
    for pattern in PATTERNS:
        def replace(match: re.Match[str], p: _Pattern = pattern) -> str:
            value = match.group(0)[len(match.group(p.keep)) if p.keep else 0:]
            before = match.string[match.start() - 1: match.start()]
            if (MARK in value or p.check and not p.check(value)
                    or p.bounded and before and (before.isalnum() or before in "_-")):
                return match.group(0)
            found[p.kind] += 1
            return (match.group(p.keep) if p.keep else "") + MARK
        text = pattern.regex.sub(replace, text)
    return Redacted("".join(_redact_file(path, part, found) for path, part in _files(text)), found)


def _files(text: str) -> list[tuple[str, str]]:
    """`text` cut where each file's diff starts, with that file's path ("" before the first)."""
    parts, path, start = [], "", 0
    for match in _FILE_HEADER.finditer(text):
        parts.append((path, text[start:match.start()]))
        path = (match.group("p") or match.group("g") or match.group("d")).split(" (from ")[0].strip()
        start = match.start()
    parts.append((path, text[start:]))
    return parts


def _redact_file(path: str, text: str, found: Counter[str]) -> str:
    name = path.rsplit("/", 1)[-1][-MAX_PATH:].lower()
    config = bool(_CONFIG.search(name)) or name.startswith(_CONFIG_NAMES)
    code = bool(_CODE.search(name)) and not config

    def assignment(match: re.Match[str]) -> str:
        quoted = match.group("q") is not None
        value = match.group("qv") if quoted else match.group("bv")
        if not _is_secret(match.group("name"), value, quoted, code, match.group("op")):
            return match.group(0)
        found["password or key assignment"] += 1
        start, end = match.span("qv" if quoted else "bv")
        return match.group(0)[: start - match.start()] + MARK + match.group(0)[end - match.start():]

    text = "".join(_ASSIGNMENT.sub(assignment, piece) for piece in spans(text))
    if name.endswith("netrc"):
        def netrc(match: re.Match[str]) -> str:
            found["password or key assignment"] += 1
            return match.group(1) + MARK
        text = _NETRC.sub(netrc, text)
    if _PUBLIC_PEM.search(text) and "PRIVATE KEY" not in text:
        return text  # a certificate or a public key: nothing in it is secret
    if _KEY_FILE.search(name) or name.startswith("id_") and not name.endswith(".pub"):
        def key_run(match: re.Match[str]) -> str:
            if _entropy(match.group(0)) < 3.5:
                return match.group(0)
            found["private key"] += 1
            line_start = match.start() == 0 or text[match.start() - 1] == "\n"
            return (match.group(0)[0] if line_start and match.group(0)[0] in "+-" else "") + MARK
        return _KEY_RUN.sub(key_run, text)

    def pem_line(match: re.Match[str]) -> str:
        if _entropy(match.group(2)) < 4.5:
            return match.group(0)
        found["private key"] += 1
        return match.group(1) + MARK
    return _PEM_LINE.sub(pem_line, text)


def spans(text: str, size: int = ASSIGNMENT_SPAN) -> list[str]:
    """`text` in pieces of at most `size` characters, each cut after the last newline it holds (else a `;`, `,` or
    space), so an assignment is not split: 1 MB of minified code is 16 searches of 64 KB, not one of 1 MB (which
    took 0.1 s on a line of `a/a/a/`); an assignment that straddles a hard cut of a 64 KB run of one token is lost."""
    pieces, start = [], 0
    while len(text) - start > size:
        window = text[start:start + size]
        cut = next((i + 1 for c in _CUTS if (i := window.rfind(c)) > 0), size)
        pieces.append(window[:cut])
        start += cut
    pieces.append(text[start:])
    return pieces


def _is_secret(name: str, value: str, quoted: bool, code: bool, op: str) -> bool:
    if len(value) < MIN_SECRET or MARK in value or _PLACEHOLDER.search(value[:MAX_PROBE]) or "://" in value:
        return False
    if code and not quoted or not quoted and (len(value) <= MAX_PROBE and _REFERENCE.fullmatch(value)):
        return False  # a bare value in code, or a dotted name or a call anywhere, is not a literal
    if code and (any(c.isspace() for c in value) or op == ":" and not quoted):
        return False  # a sentence in a string is a message, not a password
    words = [w.lower() for w in _WORDS.findall(name[-MAX_PROBE:])]
    if not words or words[-1] in _NOT_THE_SECRET:
        return False
    joined = "".join(words)
    if any(w in _SECRET_WORDS for w in words) or joined.endswith(_SECRET_ENDINGS):
        return not value.isdigit() and value.lower().replace("_", "") not in joined and not _is_word_list(value)
    if any(w in _KEY_WORDS for w in words) or joined.endswith(("key", "token")):
        return _looks_made_up(value)
    return False


def _is_word_list(value: str) -> bool:
    """`required`, `true`, `none`, `os.environ`: what configuration writes where a secret could be."""
    return value.lower() in ("required", "optional", "true", "false", "null", "none", "disabled", "enabled",
                             "string", "secret", "password", "hidden", "masked", "unset", "empty")


def _looks_made_up(value: str) -> bool:
    """Letters and digits mixed, long enough and varied enough for a key; not a version, a path or a word."""
    letters, digits = sum(c.isalpha() for c in value), sum(c.isdigit() for c in value)
    if len(value) < 12 or not letters or not digits or "/" in value and "." in value:
        return False
    return _entropy(value) >= 3.0


def _entropy(value: str) -> float:
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def merge(*counts: Counter[str]) -> dict[str, int]:
    total: Counter[str] = Counter()
    for c in counts:
        total.update(c)
    return dict(sorted(total.items()))
