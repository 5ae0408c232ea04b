"""Settings from the environment (names in .env.example). Parsed from a mapping: only bot.py reads os.environ."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from digest.errors import BadInput
from digest.models import parse_repo_name
from digest.window import parse_zone


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
    digest_tz: str = "UTC"
    digest_lang: str = "en"

    @property
    def llm_enabled(self) -> bool:
        return bool(self.llm_base_url and self.llm_model)

    @property
    def secrets(self) -> list[str]:
        """Tokens, keys, and passwords written into a URL: none of them may be shown."""
        in_urls = [urlsplit(u).password for u in (self.github_api_url, self.llm_base_url or "")]
        return [s for s in (self.github_token, self.llm_api_key, *in_urls) if s and len(s) >= 4]

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
        for secret in ("GITHUB_TOKEN", "LLM_API_KEY"):
            if any(ch.isspace() or ord(ch) < 32 for ch in get(secret) or ""):
                raise BadInput(f"{secret} contains whitespace or control characters: check its quoting in .env")
        return cls(
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
            digest_tz=zone,
            digest_lang=lang,
        )


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
