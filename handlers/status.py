"""/digest status: each subscription of the channel (next post, last post), the LLM's and GitHub's health, and
how many other destinations are paused. Times carry their zone's IANA name, token counts read `852.8k`, every
word is in the reader's language."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlite_utils

from digest.labels import thousands
from digest.service import DigestService
from handlers.words import moment, say
from storage import llm as llm_store
from storage import outages, posts
from handlers import subscriptions as subscribing
from handlers import watching
from storage import subscriptions as subs
from storage.posts import PartRow
from storage.subscriptions import Subscription

def next_run(sub: Subscription, runs: dict[str, datetime | None]) -> str:
    """When a subscription posts next, in its zone; "—" when it has no job (paused)."""
    found = [t for t in (runs.get(f"{sub.destination}|{sub.repo}"), runs.get(f"{sub.destination}|{sub.repo}|weekly"))
             if t is not None]
    return moment(min(found), sub.zone) if found else "—"


def last_post(day: str, row: PartRow, zone: str, lang: str) -> str:
    day = day.replace("@", " · ")  # `2026-01-11@release/1.0`: the day of one branch
    if row.state == "posted" and row.posted_at:
        return say(lang, "state_posted", day=day, at=moment(datetime.fromisoformat(row.posted_at), zone))
    if row.state == "failed":
        return say(lang, "state_failed", day=day, error=row.last_error or "?")
    return say(lang, "state_claimed", day=day)


def status_text(db: sqlite_utils.Database, platform: str, channel: str, lang: str,
                runs: dict[str, datetime | None], health: list[str]) -> str:
    lines = [say(lang, "status_title")]
    for s in subs.in_channel(db, platform, channel):
        found = posts.last_post(db, s.platform, s.channel, s.repo)
        last = last_post(*found, s.zone, lang) if found else say(lang, "never_posted")
        lines.append(say(lang, "status_line", repo=s.repo, next=next_run(s, runs), last=last)
                     + (f"\n  ⏸ {s.paused}" if s.paused else ""))
        lines += [f"  {x}" for x in (*subscribing.filters(s, lang), *watching.lines(db, s, lang))]
    if len(lines) == 1:
        lines.append(say(lang, "no_repo"))
    lines += health
    paused = {s.destination for s in subs.all_subscriptions(db) if s.paused and s.channel != channel}
    if paused:  # their names may be private to their channels
        lines.append(say(lang, "others_paused", n=len(paused)))
    return "\n".join(lines)


def health_lines(service: DigestService, github_token: bool, now: datetime, lang: str, zone: str) -> list[str]:
    """The LLM's state, cost and outage, and GitHub's rate, for a reader in `zone`."""
    db = service.db
    lines = []
    if service.llm is None:
        lines.append(say(lang, "llm_off" if service.llm_off else "llm_none"))
    else:
        health = service.llm.health()
        pending = db.execute("SELECT count(*) FROM pending").fetchone()[0]
        state = say(lang, f"llm_{health.state}")
        if health.state == "ok" and health.failures:  # suspect: new calls wait for those in flight
            state = say(lang, "llm_failing", n=health.failures)
        if health.state != "ok" or health.failures:
            state = say(lang, "llm_since", state=state, since=moment(health.since, zone) if health.since else "?",
                        error=health.last_error)
        if health.models_down:
            state += say(lang, "llm_models_down", names=", ".join(health.models_down))
        lines.append(say(lang, "llm_line", model=service.llm.config.model, state=state, pending=pending))
        tokens_in, tokens_out, calls = llm_store.tokens_by_day(db, now - timedelta(days=7))
        cap = say(lang, "llm_cap", cap=thousands(service.token_cap)) if service.token_cap else ""
        lines.append(say(lang, "llm_cost", tokens_in=thousands(tokens_in), tokens_out=thousands(tokens_out),
                         calls=calls, cap=cap))
        if (outage := outages.current(db, service.llm.config.endpoint)) is not None:
            lines.append(say(lang, "llm_outage", since=moment(outage.started_at, zone), error=outage.error))
    lines.append(say(lang, "github_token" if github_token else "github_none"))
    return lines
