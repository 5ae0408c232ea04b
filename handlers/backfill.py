"""The backfill: LLM analyses that fell back to the rules are asked again, the stored digests that show them
are rebuilt, and every message already posted for them is brought up to date (edited in place, or followed up
where a webhook cannot edit). Recently posted days are re-listed too, so commits pushed late are added."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from core.errors import CommitRadarError
from digest.labels import counted, text
from digest.service import DigestService
from handlers.delivery import DestinationGone, SendFailed
from handlers.publisher import Publisher
from storage import analyses as stored_analyses
from storage import digests as stored_digests
from storage import posts
from storage import subscriptions as subs

log = logging.getLogger(__name__)

RECENT_DAYS = 2  # posted days re-listed for late commits


@dataclass(frozen=True)
class BackfillReport:
    retried: int = 0
    analysed: int = 0
    still_pending: int = 0
    digests: int = 0
    messages: int = 0
    models: tuple[str, ...] = ()
    failures: tuple[str, ...] = ()

    def line(self) -> str:
        models = ", ".join(self.models) or "the LLM"
        return (f"retried {self.retried}, {self.analysed} analysed by {models}, {self.still_pending} still pending; "
                f"{counted(self.digests, 'digest', 'digests')} rebuilt; "
                f"{counted(self.messages, 'message', 'messages')} updated")


def backfill(service: DigestService, publisher: Publisher, *, now: bool = False, recent_days: int = RECENT_DAYS,
             passes: int = 3) -> BackfillReport:
    """`now`: a person asked, so every queued retry is due whatever its backoff; then passes go on while they make
    progress (just after an outage the breaker lets one probe through before the other calls)."""
    report = _pass(service, publisher, now=now, recent_days=recent_days)
    for _ in range(passes - 1):
        if not now or not report.still_pending or not report.analysed:
            break
        again = _pass(service, publisher, now=True, recent_days=recent_days)
        report = BackfillReport(retried=report.retried, analysed=report.analysed + again.analysed,
                                still_pending=again.still_pending, digests=max(report.digests, again.digests),
                                messages=report.messages + again.messages, models=report.models or again.models,
                                failures=report.failures + again.failures)
    if report.retried or report.messages:
        log.info("backfill: %s", report.line())
    return report


def _pass(service: DigestService, publisher: Publisher, *, now: bool, recent_days: int) -> BackfillReport:
    clock = publisher.clock
    db = service.db
    if service.llm is None:
        return BackfillReport()
    if now:
        stored_analyses.make_due(db, clock())
    due = [r for r in stored_analyses.pending_rows(db) if datetime.fromisoformat(r["next_at"]) <= clock()]
    retried = {(r["repo"], r["sha"]) for r in due}
    keys: dict[tuple[str, str, str, str, str | None], set[str]] = {}
    for repo in {r for r, _ in retried}:
        for day, zone, lang, branch in stored_digests.keys_with(db, repo, {s for r, s in retried if r == repo}):
            keys.setdefault((repo, day, zone, lang, branch), set())
    in_digests = {(repo, sha) for repo, sha in retried
                  if stored_digests.keys_with(db, repo, {sha})}
    for row in due:  # deep analyses asked for with /analyze or a button, shown in no digest
        if (row["repo"], row["sha"]) not in in_digests and row["depth"] == "deep":
            try:
                service.analyze(publisher.repo_ref(row["repo"]), row["sha"], row["lang"])
            except CommitRadarError as err:
                log.warning("backfill: cannot analyse %s %s: %s", row["repo"], row["sha"][:7], err)
    since = (clock().date() - timedelta(days=recent_days)).isoformat()
    unnamed = [p for p in posts.posted_digests(db) if p[3] is None]  # resumed by older code: no branch saved
    for key, zone, lang, branch in posts.posted_digests(db, since_day=since) + unnamed:
        keys.setdefault((key.repo, key.day, zone, lang, branch), set())
    digests = messages = 0
    failures: list[str] = []
    refreshed: set[posts.PostKey] = set()  # a post named by two keys (its branch, and none) is refreshed once
    for (repo, day, zone, lang, branch) in sorted(keys, key=lambda k: k[1]):
        try:
            when = date.fromisoformat(day.partition("@")[0])  # `2026-01-11@release/1.0`: one of several branches
            digest = service.build_digest(publisher.repo_ref(repo), when, zone, lang, branch=branch)
        except CommitRadarError as err:
            failures.append(f"{repo} {day}: {err}")
            log.warning("backfill: cannot rebuild %s %s: %s", repo, day, err)
            continue
        digests += 1
        if branch is None:  # posts resumed by older code kept no branch: theirs is the default, built just now
            posts.name_branch(db, repo, day, zone, lang, digest.branch)
        changed = {e.commit.sha for e in digest.entries if (repo, e.commit.sha) in retried
                   and all(a.source == "llm" for a in (e.analysis, e.deep) if a is not None)}
        for key, _, _, _ in posts.posted_digests(db, repo=repo, day=day, shown=(zone, lang, digest.branch)):
            sub = subs.get(db, key.platform, key.channel, key.repo)
            if key in refreshed or (sub is not None and sub.paused):
                continue
            refreshed.add(key)
            notice = text(digest.lang, "recovered", n=len(changed)) if changed else None
            try:
                messages += publisher.refresh(key, digest, changed, notice=notice)
            except (DestinationGone, SendFailed, CommitRadarError) as err:
                failures.append(f"{key.platform}:{key.channel} {repo} {day}: {err}")
                log.warning("backfill: cannot update %s:%s %s %s: %s", key.platform, key.channel, repo, day, err)
    left = {(r["repo"], r["sha"]) for r in stored_analyses.pending_rows(db)} & retried
    models = tuple(dict.fromkeys(m for m in (service.llm.config.model,) if len(left) < len(retried)))
    return BackfillReport(retried=len(retried), analysed=len(retried) - len(left), still_pending=len(left),
                          digests=digests, messages=messages, models=models, failures=tuple(failures))
