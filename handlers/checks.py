"""The checks before a chat command or a click does its work: who may change subscriptions, which repositories
may be answered where, and each person's hourly and daily LLM limits. A refused request is answered here."""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timezone
from typing import Protocol

from core.errors import BadInput
from core.models import RepoRef, parse_repo_name
from digest.labels import thousands
from digest.service import DigestService
from handlers.words import say
from storage import events
from storage import subscriptions as subs

log = logging.getLogger(__name__)


class Notices(Protocol):
    def notice(self, message: str) -> None: ...


@dataclass(frozen=True)
class ChatSettings:
    digest_tz: str = "UTC"
    digest_lang: str = "en"
    digest_time: time = time(9, 0)
    allowed_repos: tuple[str, ...] = ()  # owner/name, owner/*, *: private repositories answered only if listed
    admins: dict[str, frozenset[str]] = field(default_factory=dict)  # platform -> user ids; empty: anyone
    costly_per_hour: int = 20
    git_clones: dict = field(default_factory=dict)
    github_api_url: str = "https://api.github.com"


def is_allowed(repo: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(repo, p) for p in patterns)


def spender(platform: str, user: str) -> str:
    """Whose LLM tokens these are: a person on one platform."""
    return f"{platform}:{user}"


@dataclass
class Checks:
    service: DigestService
    settings: ChatSettings
    repo_ref: Callable[[str], RepoRef]  # a repository's name -> where it is read from
    private: Callable[[RepoRef], bool] = lambda repo: False
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)

    def is_admin(self, platform: str, user: str) -> bool:
        admins = self.settings.admins.get(platform)
        return not admins or user in admins

    def spend(self, platform: str, user: str, lang: str, reply: Notices) -> bool:
        """Count a command or click that will cost LLM calls; False (answered) when the user's LLM tokens of the
        day are spent (DIGEST_USER_TOKENS) or they are over the hourly limit (DIGEST_USER_LIMIT)."""
        return self.within_budget(platform, user, lang, reply) and self.count(platform, user, lang, reply)

    def within_budget(self, platform: str, user: str, lang: str, reply: Notices) -> bool:
        budget = self.service.user_budget(spender(platform, user))
        if budget is not None and budget.spent:
            log.info("%s:%s refused: %d of %d LLM tokens used today", platform, user, budget.used, budget.limit)
            reply.notice(say(lang, "budget_spent", used=thousands(budget.used), limit=thousands(budget.limit),
                             reset=budget.reset))
            return False
        return True

    def count(self, platform: str, user: str, lang: str, reply: Notices) -> bool:
        """Count one command against DIGEST_USER_LIMIT; False (answered) when the user is over it."""
        if events.allow(self.service.db, platform, user, self.clock(), self.settings.costly_per_hour):
            return True
        reply.notice(say(lang, "rate_limited", n=self.settings.costly_per_hour))
        return False

    def subscribed_here(self, name: str, platform: str, channel: str) -> bool:
        return subs.get(self.service.db, platform, channel, name) is not None

    def asks_github(self, name: str, platform: str, channel: str) -> bool:
        """Whether answering about `name` here may ask GitHub about a repository the operator did not name (is it
        private? its default branch?): a command that does counts against DIGEST_USER_LIMIT, or names never heard
        of would spend GITHUB_TOKEN's requests unbounded. A clone, an exact DIGEST_ALLOWED_REPOS entry or a
        subscription here is named; a pattern (`acme/*`) is not."""
        repo = parse_repo_name(name)
        return not (repo in self.settings.git_clones or repo in self.settings.allowed_repos
                    or self.subscribed_here(repo, platform, channel))

    def checked_repo(self, name: str, platform: str, channel: str) -> RepoRef:
        """A private repository (the token may reach it) or a clone (only the operator knows what it holds) is
        answered only where the operator allowed it: listed in DIGEST_ALLOWED_REPOS, or subscribed here."""
        ref = self.repo_ref(name)
        if is_allowed(ref.name, self.settings.allowed_repos) or self.subscribed_here(ref.name, platform, channel):
            return ref
        if self.private(ref):
            if ref.clone is not None:
                raise BadInput(f"{ref.name} is read from a local clone: it is answered only where the bot's operator "
                               "allowed it (DIGEST_ALLOWED_REPOS, or a subscription of this channel)")
            raise BadInput(f"{ref.name} is private; add it to DIGEST_ALLOWED_REPOS to allow it in chat")
        return ref
