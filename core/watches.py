"""A watch: what a team wants to be told about in a subscription's digests (issue 14), stored and matched."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

WatchKind = Literal["path", "flag", "keyword", "author"]
WATCH_KINDS: tuple[str, ...] = WatchKind.__args__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Mention:
    """Who a watch notifies: a Slack user (`U…`/`W…`) or user group (`S…`), or a Feishu user (`ou_…` open_id)."""

    platform: str  # slack | feishu
    kind: Literal["user", "group"]
    id: str
    label: str = ""  # the handle as typed (`@attention-team`), for lists; never used to notify


@dataclass(frozen=True)
class Watch:
    number: int  # per subscription, 1, 2, …: what `/digest unwatch owner/name N` names
    kind: WatchKind
    pattern: str
    mention: Mention | None = None
