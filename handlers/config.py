"""Settings from the environment (names in .env.example). Parsed from a mapping: only bot.py reads os.environ."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from core.errors import BadInput
from core.models import parse_repo_name
from core.window import parse_zone
from handlers.commands import Subscribe, WatchCommand
from handlers.commands import parse as parse_command
from storage.retention import Retention

FEISHU_HTTP_NEEDS_KEY = ("FEISHU_EVENT_MODE=http needs FEISHU_ENCRYPT_KEY (the app's Encrypt Key, in Events & "
                         "Callbacks > Encryption strategy) so that callbacks are signed and encrypted; or use "
                         "FEISHU_EVENT_MODE=ws")


@dataclass(frozen=True)
class Settings:
    database_path: str = "commit-radar.db"
    github_token: str | None = None
    github_api_url: str = "https://api.github.com"
    git_clones: dict[str, Path] = field(default_factory=dict)
    llm_base_url: str | None = None
    llm_api_key: str | None = None
    llm_model: str | None = None
    llm_fallback_model: str | None = None
    llm_concurrency: int = 8
    llm_timeout: float = 120.0
    llm_daily_token_cap: int | None = None
    digest_tz: str = "UTC"
    digest_lang: str = "en"
    # the chat bot
    digest_repos: tuple[str, ...] = ()
    # what DIGEST_REPOS says beside each name (issue 14): its subscription's words and watches, as chat takes them
    repo_options: tuple["EnvRepo", ...] = ()
    digest_time: str = "09:00"
    allowed_repos: tuple[str, ...] = ()
    costly_per_hour: int = 20
    user_tokens: int | None = 200_000
    retain_patch_days: int = 30  # retention (storage/retention.py): days diffs, seen events and cached answers are kept
    retain_event_days: int = 3
    retain_http_cache_days: int = 7
    port: int = 3000
    host: str | None = None  # None: 0.0.0.0 when an HTTP route is served, else 127.0.0.1
    slack_bot_token: str | None = None
    slack_signing_secret: str | None = None
    slack_app_token: str | None = None
    slack_api_url: str = "https://slack.com/api/"
    slack_channel: str | None = None
    slack_admins: tuple[str, ...] = ()
    slack_post_interval: float = 1.0
    feishu_webhook_url: str | None = None
    feishu_webhook_secret: str | None = None
    feishu_app_id: str | None = None
    feishu_app_secret: str | None = None
    feishu_encrypt_key: str | None = None
    feishu_verification_token: str | None = None
    feishu_base_url: str = "https://open.feishu.cn"
    feishu_chat_id: str | None = None
    feishu_event_mode: str = "ws"
    feishu_admins: tuple[str, ...] = ()

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_bot_token)

    @property
    def feishu_app_enabled(self) -> bool:
        return bool(self.feishu_app_id and self.feishu_app_secret)

    @property
    def llm_enabled(self) -> bool:
        return bool(self.llm_base_url and self.llm_model)

    @property
    def secrets(self) -> list[str]:
        """Tokens, keys, and passwords written into a URL: none of them may be shown."""
        in_urls = [urlsplit(u).password for u in (self.github_api_url, self.llm_base_url or "", self.slack_api_url,
                                                   self.feishu_base_url)]
        webhook_path = urlsplit(self.feishu_webhook_url or "").path.rsplit("/", 1)[-1]  # the path is a token
        secrets = (self.github_token, self.llm_api_key, self.slack_bot_token, self.slack_signing_secret,
                   self.slack_app_token, self.feishu_webhook_secret, self.feishu_app_secret, self.feishu_encrypt_key,
                   self.feishu_verification_token, self.feishu_webhook_url, webhook_path, *in_urls)
        return sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True)

    @property
    def retention(self) -> Retention:
        return Retention(self.retain_patch_days, self.retain_event_days, self.retain_http_cache_days)

    def redact(self, text: str) -> str:
        """`text` with every configured secret replaced by ***."""
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "Settings":
        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        def number(name: str, default: float, low: float, high: float) -> float:
            raw = get(name)
            if raw is None:
                return default
            try:
                value = float(raw)
            except ValueError:
                raise BadInput(f"{name} must be a number, not {raw!r}") from None
            if not low <= value <= high:
                raise BadInput(f"{name} must be between {low:g} and {high:g}")
            return value

        zone = get("DIGEST_TZ") or "UTC"
        parse_zone(zone)
        lang = get("DIGEST_LANG") or "en"
        if lang not in ("en", "zh"):
            raise BadInput(f"DIGEST_LANG must be en or zh, not {lang!r}")
        for secret in ("GITHUB_TOKEN", "LLM_API_KEY", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET",
                       "FEISHU_APP_SECRET", "FEISHU_WEBHOOK_SECRET", "FEISHU_ENCRYPT_KEY", "FEISHU_VERIFICATION_TOKEN"):
            if any(ch.isspace() or ord(ch) < 32 for ch in get(secret) or ""):
                raise BadInput(f"{secret} contains whitespace or control characters: check its quoting in .env")
        settings = cls(
            database_path=get("DATABASE_PATH") or "commit-radar.db",
            github_token=get("GITHUB_TOKEN"),
            github_api_url=get("GITHUB_API_URL") or "https://api.github.com",
            git_clones=parse_clones(get("GIT_CLONES") or ""),
            llm_base_url=get("LLM_BASE_URL"),
            llm_api_key=get("LLM_API_KEY"),
            llm_model=get("LLM_MODEL"),
            llm_fallback_model=get("LLM_FALLBACK_MODEL"),
            llm_concurrency=int(number("LLM_CONCURRENCY", 8, 1, 64)),
            llm_timeout=number("LLM_TIMEOUT", 120.0, 1, 3600),
            llm_daily_token_cap=int(number("LLM_DAILY_TOKEN_CAP", 0, 0, 1e12)) or None,
            digest_tz=zone,
            digest_lang=lang,
            digest_repos=tuple(r.repo for r in env_repos(get("DIGEST_REPOS"))),
            repo_options=env_repos(get("DIGEST_REPOS")),
            digest_time=_hhmm(get("DIGEST_TIME") or "09:00"),
            allowed_repos=tuple(_items(get("DIGEST_ALLOWED_REPOS"))),
            costly_per_hour=int(number("DIGEST_USER_LIMIT", 20, 1, 10000)),
            user_tokens=int(number("DIGEST_USER_TOKENS", 200_000, 0, 1e12)) or None,
            retain_patch_days=int(number("RETAIN_PATCH_DAYS", 30, 1, 36500)),
            retain_event_days=int(number("RETAIN_EVENT_DAYS", 3, 2, 3650)),  # limits and budgets look back a day
            retain_http_cache_days=int(number("RETAIN_HTTP_CACHE_DAYS", 7, 1, 3650)),
            port=int(number("PORT", 3000, 0, 65535)),
            host=get("HOST"),
            slack_bot_token=get("SLACK_BOT_TOKEN"),
            slack_signing_secret=get("SLACK_SIGNING_SECRET"),
            slack_app_token=get("SLACK_APP_TOKEN"),
            slack_api_url=_slash(get("SLACK_API_URL") or "https://slack.com/api/"),
            slack_channel=get("SLACK_CHANNEL"),
            slack_admins=tuple(_items(get("SLACK_ADMINS"))),
            slack_post_interval=number("SLACK_POST_INTERVAL", 1.0, 0, 60),
            feishu_webhook_url=get("FEISHU_WEBHOOK_URL"),
            feishu_webhook_secret=get("FEISHU_WEBHOOK_SECRET"),
            feishu_app_id=get("FEISHU_APP_ID"),
            feishu_app_secret=get("FEISHU_APP_SECRET"),
            feishu_encrypt_key=get("FEISHU_ENCRYPT_KEY"),
            feishu_verification_token=get("FEISHU_VERIFICATION_TOKEN"),
            feishu_base_url=(get("FEISHU_BASE_URL") or "https://open.feishu.cn").rstrip("/"),
            feishu_chat_id=get("FEISHU_CHAT_ID"),
            feishu_event_mode=_choice("FEISHU_EVENT_MODE", get("FEISHU_EVENT_MODE") or "ws", ("ws", "http")),
            feishu_admins=tuple(_items(get("FEISHU_ADMINS"))),
        )
        if settings.feishu_app_enabled and settings.feishu_event_mode == "http" and not settings.feishu_encrypt_key:
            raise BadInput(FEISHU_HTTP_NEEDS_KEY)  # a verification token alone travels in every callback: forgeable
        return settings


def parse_clones(text: str) -> dict[str, Path]:
    """`owner/name=/path/to/clone,owner2/name2=/path2` -> {name: path}."""
    clones: dict[str, Path] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, path = item.partition("=")
        if not sep or not path.strip():
            raise BadInput(f"GIT_CLONES entry {item!r} is not owner/name=/path/to/clone")
        try:
            clones[parse_repo_name(name)] = Path(path.strip()).expanduser()
        except RuntimeError:  # ~nosuchuser
            raise BadInput(f"GIT_CLONES: cannot expand the path {path.strip()!r}") from None
    return clones


_WATCH_WORD = re.compile(r"(?i)(?:^|\s)watch\s")  # where a DIGEST_REPOS item's next watch phrase starts


@dataclass(frozen=True)
class EnvRepo:
    """One repository of DIGEST_REPOS and what it says about it: `subscribe` words and `watch` phrases."""

    repo: str
    subscribe: Subscribe
    watches: tuple[WatchCommand, ...] = ()


def env_repos(text: str | None) -> tuple[EnvRepo, ...]:
    """DIGEST_REPOS: `a/b, c/d` (names only), or items separated by `;`, each the words of `/digest subscribe`
    followed by any number of `watch KIND PATTERN [notify MENTION]` phrases:
    `sgl-project/sglang min high skip-authors dependabot[bot] watch path python/sglang/srt/ notify <!subteam^S0ATT>`."""
    if not text:
        return ()
    items = [i.strip() for i in text.split(";")] if ";" in text or any(
        len(i.split()) > 1 for i in text.split(",")) else [i.strip() for i in text.split(",")]
    out: dict[str, EnvRepo] = {}
    for item in filter(None, items):
        parts = _WATCH_WORD.split(item)
        try:
            sub = parse_command("/digest", "subscribe " + parts[0])
            watches = tuple(parse_command("/digest", f"watch {sub.repo} {w}") for w in parts[1:])  # type: ignore[union-attr]
        except BadInput as err:
            raise BadInput(f"DIGEST_REPOS: {err} (in {item[:80]!r})") from None
        assert isinstance(sub, Subscribe) and all(isinstance(w, WatchCommand) for w in watches)
        if sub.repo in out:
            raise BadInput(f"DIGEST_REPOS names {sub.repo} twice")
        out[sub.repo] = EnvRepo(sub.repo, sub, watches)  # type: ignore[arg-type]
    return tuple(out.values())


def _items(text: str | None) -> list[str]:
    return [item.strip() for item in (text or "").replace(";", ",").split(",") if item.strip()]


def _hhmm(value: str) -> str:
    hh, sep, mm = value.partition(":")
    if not (sep and hh.isdigit() and mm.isdigit() and int(hh) < 24 and int(mm) < 60 and len(mm) == 2):
        raise BadInput(f"DIGEST_TIME must be HH:MM, e.g. 09:00, not {value!r}")
    return f"{int(hh):02d}:{mm}"


def _slash(url: str) -> str:
    return url if url.endswith("/") else url + "/"


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise BadInput(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    return value
