"""build_digest(repo, day) and analyze(repo, sha): source -> storage -> analysis -> Digest.

The CLI, the chat commands and the scheduler all call these methods, from many threads at once: each thread
uses its own SQLite connection; LLM calls run in one bounded pool per process (LLM_CONCURRENCY in flight across
every digest) and their results are stored by the calling thread as they complete.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, as_completed, wait
from contextlib import closing
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

import sqlite_utils

from digest import merge_facts, merges
from digest.watches import Glob
from digest.analysis import rules
from digest.analysis.llm import LLMAnalyser, LLMResult
from digest.analysis.prompts import PROMPT_VERSION
from core.errors import BadSha, CommitNotFound, LLMOutage, LLMUnavailable
from digest.labels import text, thousands
from core.models import Analysis, Commit, CommitReport, Digest, Progress, RepoRef
from digest.pool import PriorityPool
from digest.singleflight import SingleFlight
from digest.sources import CommitSource
from core.window import day_of, day_window, parse_day, parse_zone
from storage import analyses as stored_analyses
from storage import commits as stored_commits
from storage import digests as stored_digests
from storage import llm as llm_store
from storage import outages
from storage.db import PerThread

log = logging.getLogger(__name__)

RULES_VERSION = "rules"  # the rules analysis chosen (no LLM configured, or --no-llm)
FALLBACK_VERSION = "rules-fallback"  # the rules analysis standing in for a failed LLM call, queued for a retry
_HEX = re.compile(r"[0-9a-fA-F]{7,40}")
DEFAULT_BRANCH_TTL = 60.0  # seconds a default branch's name is remembered: a stored answer then reads no source

ProgressFn = Callable[[Progress], None]


def parse_sha(value: str) -> str:
    sha = value.strip()
    if not _HEX.fullmatch(sha):
        shown = sha if len(sha) <= 50 else sha[:50] + "…"
        raise BadSha(f"not a commit SHA: {shown!r}; give 7 to 40 hex digits, e.g. d112f6a")
    return sha.lower()


MAX_BRANCHES = 10  # branches one subscription digests (`branch main,release/*`)


class DigestService:
    """One per process: its LLM pool bounds the calls in flight across every digest and analysis at once."""

    def __init__(
        self,
        db: sqlite_utils.Database,
        source_for: Callable[[RepoRef], CommitSource],
        llm: LLMAnalyser | None = None,
        *,
        concurrency: int = 8,
        clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        token_cap: int | None = None,
        cap_zone: str = "UTC",
        user_tokens: int | None = None,
        llm_off: bool = False,
    ) -> None:
        self._dbs = PerThread(db)
        self.token_cap = token_cap  # LLM tokens a day (in cap_zone); past it, no new call until the next day
        self.cap_zone = cap_zone
        self.user_tokens = user_tokens  # LLM tokens a day one person's commands and clicks may spend
        self._cap_told: date | None = None
        # tokens of answers back from the LLM, not yet written by the thread that settles them, by spender
        self._unrecorded: Counter[str | None] = Counter()
        self._tokens_lock = threading.Lock()
        self._held: Counter[str | None] = Counter()  # tokens that running calls hold against a person's budget
        self._admission = threading.Condition()  # a budget read and the hold of the call it admits are one step
        self.source_for = source_for
        self.llm = llm
        self.llm_off = llm_off  # an LLM is configured but this run was told not to use it (--no-llm)
        self.concurrency = max(1, concurrency)
        self.clock = clock
        self.pool = PriorityPool(self.concurrency, "llm")  # a person's /analyze first: see digest/pool.py
        self.flights: SingleFlight[Digest] = SingleFlight()
        self.report_flights: SingleFlight[CommitReport] = SingleFlight()
        self.read_back = stored_digests.ReadBack()  # digests read from this database, kept while unchanged
        self._default_branches: dict[tuple, tuple[float, str]] = {}  # (repo, clone) -> (when read, name)

    @property
    def db(self) -> sqlite_utils.Database:
        """This thread's connection (sqlite3 refuses one connection from several threads)."""
        return self._dbs.get()

    # -- the calls -------------------------------------------------------------------------------------

    def resolve_day(self, day: date | str, zone: str) -> date | str:
        """A date, or "latest" (which needs the source); BadDate for anything else."""
        return parse_day(day, zone, self.clock()) if isinstance(day, str) else day

    def build_digest(self, repo: RepoRef, day: date | str, zone: str, lang: str = "en", *,
                     branch: str | None = None, progress: ProgressFn | None = None,
                     spender: str | None = None) -> Digest:
        """The digest of `day`, built now. The same digest asked for while it is being built is built once (the
        LLM tokens go to the `spender` who started it: a person's key, or None for the schedule)."""
        when = self.resolve_day(day, zone)
        key = (repo.name, str(when), zone, lang, branch)
        digest = self.flights.run(key, lambda report: self._build(repo, when, zone, lang, branch, report, spender),
                                  progress)
        if self._rules_by_choice(digest) and not self._over_budget(spender):  # joined a build a budget cut short
            digest = self.flights.run(key, lambda report: self._build(repo, when, zone, lang, branch, report,
                                                                      spender), progress)
        return digest

    def _rules_by_choice(self, digest: Digest) -> bool:
        """Rules analyses that no failed call stands behind although an LLM is configured now (a person's budget
        ran out while it was built, or it was built without the LLM)."""
        coverage = digest.coverage
        return self.llm is not None and coverage.rules > coverage.fallbacks

    def _build(self, repo: RepoRef, when: date | str, zone: str, lang: str, branch: str | None,
               report: ProgressFn, spender: str | None) -> Digest:
        source = self.source_for(repo)
        notes: list[str] = []
        if repo.fetch and (warning := source.fetch()):
            notes.append(warning)
        head = source.branch(branch)
        if when == "latest":
            when = self._latest_day(source, head, zone)
        assert isinstance(when, date)
        window = day_window(when, zone)
        listed = source.commits_between(head, window.start, window.end)
        # -- merges told once (issue 8, digest/merges.py): a merge whose commits are all listed is read only
        # through its own changes (if any); the digest lists `commits`, the analysers read `to_analyse` of them.
        merge_plan, own = merge_facts.prepare(self.db, source, repo.name, listed)
        commits: list[Commit] = []  # filled as details arrive; analyses start meanwhile
        starved: set[str] = set()
        with closing(self._details(source, repo, listed, commits, report)) as fetched:
            briefs, deeps = self._analyse(merges.to_analyse(fetched, merge_plan.grouped, own),
                                          merges.analysed_count(listed, merge_plan.grouped, own), lang, report,
                                          brief=True, spender=spender, starved=starved)
        entries = merges.compose(commits, briefs, deeps, merge_plan, own, lang)  # grouped merges, breaking changes once
        # -- end of merges --------------------------------------------------------------------------------------
        if self.llm is not None and any(a.note and a.source == "rules" for e in entries
                                        for a in (e.analysis, e.deep) if a is not None):
            if (outage := outages.current(self.db, self.llm.config.endpoint)) is not None:
                notes.append(text(lang, "outage", since=f"{outage.started_at:%Y-%m-%d %H:%M} UTC", error=outage.error))
        if starved:
            notes.append(self._starved_note(spender, len(starved), lang))
        digest = Digest(
            repo=repo.name, window=window, lang=lang, branch=_branch_name(head), entries=entries,
            built_at=self.clock(), web_url=repo.web_url, notes=tuple(notes),
            rules_why="" if self.llm is not None else "off" if self.llm_off else "none",
        )
        stored_digests.save_digest(self.db, digest)
        return digest

    def latest_day(self, repo: RepoRef, zone: str, branch: str | None = None) -> date:
        """The most recent day (in `zone`) with a commit on `branch`, as `--date latest` means it; today if none."""
        source = self.source_for(repo)
        if repo.fetch:
            source.fetch()  # a failed fetch reads the clone as it is; the build that follows says so
        return self._latest_day(source, source.branch(branch), zone)

    def _latest_day(self, source: CommitSource, head: str, zone: str) -> date:
        latest = source.latest_commit_time(head)
        return day_of(latest, zone) if latest else day_of(self.clock(), zone)

    def analyze(self, repo: RepoRef, sha: str, lang: str = "en", *, progress: ProgressFn | None = None,
                spender: str | None = None) -> CommitReport:
        """A deep analysis of one commit; `sha` may be a prefix of 7 or more hex digits. Asked twice at once
        (two clicks on two messages), it runs once."""
        prefix = parse_sha(sha)
        return self.report_flights.run((repo.name, prefix, lang),
                                       lambda report: self._analyze(repo, prefix, lang, report, spender), progress)

    def _analyze(self, repo: RepoRef, prefix: str, lang: str, progress: ProgressFn,
                 spender: str | None) -> CommitReport:
        known = stored_commits.shas_with_prefix(self.db, repo.name, prefix)
        commit = stored_commits.load_commit(self.db, repo.name, known[0]) if len(known) == 1 else None
        notes: list[str] = []
        if commit is None or not commit.detailed:
            source = self.source_for(repo)
            if repo.fetch and (warning := source.fetch()):
                notes.append(warning)
            try:
                commit = source.commit(prefix)
            except CommitNotFound:
                if commit is not None and stored_commits.patches_pruned(self.db, repo.name, commit.sha):
                    raise CommitNotFound(f"the diff of {commit.short_sha} is no longer stored (RETAIN_PATCH_DAYS) "
                                         f"and {repo.name} no longer has the commit") from None
                raise
            stored_commits.save_commit(self.db, commit)
        starved: set[str] = set()
        _, deeps = self._analyse([commit], 1, lang, progress, brief=False, spender=spender, starved=starved)
        if starved:
            notes.append(self._starved_note(spender, 1, lang))
        return CommitReport(commit=commit, analysis=deeps[commit.sha], web_url=repo.web_url, notes=tuple(notes))

    def stored_report(self, repo: RepoRef, sha: str, lang: str) -> CommitReport | None:
        """A deep analysis already made (by the LLM as configured, or the rules when there is none), else None."""
        commit = stored_commits.load_commit(self.db, repo.name, sha, with_patches=False)  # shown, not analysed
        analysis = self._stored(commit, "deep", lang) if commit else None
        return CommitReport(commit, analysis, repo.web_url) if commit and analysis else None

    def told_merge(self, repo: RepoRef, sha: str, lang: str) -> CommitReport | None:
        """A merge that a stored digest tells through its commits (issue 8), answered with them as told there (a
        digest in `lang` first): no LLM call. None when no stored digest groups it."""
        keys = stored_digests.keys_with(self.db, repo.name, {sha})
        for day, zone, told_lang, branch in sorted(keys, key=lambda k: (k[2] != lang, k[0])):
            digest = self.find_digest(repo, date.fromisoformat(day), zone, told_lang, branch)
            if digest is not None and (found := merges.told_through(digest.entries, sha)) is not None:
                merge, brought = found
                return CommitReport(merge.commit, merge.analysis, repo.web_url, entry=merge, merged=brought)
        return None

    def branch_name(self, repo: RepoRef, branch: str | None) -> str:
        """The name a digest of `branch` is stored under: the branch's own name; for None, the repository's default
        branch (GitHub's default_branch, a clone's HEAD). One digest never stands in for another branch's."""
        if branch:
            return _branch_name(branch)
        key, now = (repo.name, repo.clone), time.monotonic()
        if (known := self._default_branches.get(key)) is not None and now - known[0] < DEFAULT_BRANCH_TTL:
            return known[1]
        name = _branch_name(self.source_for(repo).branch(None))
        self._default_branches[key] = (now, name)
        return name

    def branches_matching(self, repo: RepoRef, patterns: list[str]) -> list[str]:
        """The branches a subscription names (`main,release/*`): names as given, globs against the repository's
        branches (`*` within one part of a name, `**` across); each once, in the order named."""
        out: list[str] = []
        listed: list[str] | None = None
        for pattern in patterns:
            if not any(ch in pattern for ch in "*?"):
                found = [pattern]
            else:
                listed = listed if listed is not None else self.source_for(repo).branches()
                glob = Glob(pattern)
                found = [name for name in listed if glob.fullmatch(name)]
            out += [name for name in found if name not in out]
        if len(out) > MAX_BRANCHES:  # `branch **` on a repository of hundreds: a channel is not a branch list
            log.warning("%s: %d branches match %s; the first %d are digested", repo.name, len(out),
                        ",".join(patterns), MAX_BRANCHES)
        return out[:MAX_BRANCHES]

    def find_digest(self, repo: RepoRef, day: date, zone: str, lang: str, branch: str | None = None) -> Digest | None:
        """A digest built before for that branch (None: the default branch), as it was stored (commits and
        analyses are read back)."""
        return self.read_back.load(self.db, repo.name, day, zone, lang, self.branch_name(repo, branch))

    def finished_digest(self, repo: RepoRef, day: date, zone: str, lang: str,
                        branch: str | None = None) -> Digest | None:
        """A stored digest that can answer with no fetch and no analysis (a default branch's name is read at most
        once a minute): built after its day ended, by the analyser configured now (rules stand-ins for a failed LLM
        call count: the backfill replaces them)."""
        digest = self.find_digest(repo, day, zone, lang, branch)
        if digest is None or digest.built_at < digest.window.end:
            return None
        if self._rules_by_choice(digest) or (self.llm is None and digest.coverage.llm):
            return None
        return digest

    # -- steps -----------------------------------------------------------------------------------------

    def _details(self, source: CommitSource, repo: RepoRef, listed: list[Commit], into: list[Commit],
                 report: ProgressFn) -> Generator[Commit, None, None]:
        """Stored commits as they are, others fetched with their files (a few at once) and stored; in order."""
        stored = {b.sha: stored_commits.load_commit(self.db, repo.name, b.sha) for b in listed}
        pool = ThreadPoolExecutor(max_workers=source.detail_workers)
        try:
            fetching = {b.sha: pool.submit(source.details, b) for b in listed
                        if stored[b.sha] is None or not stored[b.sha].detailed}  # type: ignore[union-attr]
            for done, brief in enumerate(listed, start=1):
                commit = stored[brief.sha]
                if brief.sha in fetching:
                    commit = fetching[brief.sha].result()
                    stored_commits.save_commit(self.db, commit)
                assert commit is not None
                into.append(commit)
                report(Progress("fetch", done, len(listed), brief.sha))
                yield commit
        finally:  # closed early (a failure downstream): stop fetching what nobody will read
            pool.shutdown(wait=False, cancel_futures=True)

    def _stored(self, commit: Commit, depth: str, lang: str) -> Analysis | None:
        def load(db: sqlite_utils.Database, repo: str, sha: str, depth: str, lang: str, version: str,
                 model: str) -> Analysis | None:  # a merge's own changes are stored apart (merges.view_version)
            return stored_analyses.load_analysis(db, repo, sha, depth, lang, merges.view_version(version, commit), model)

        if self.llm is not None:
            for model in self.llm.models:
                if found := load(self.db, commit.repo, commit.sha, depth, lang, PROMPT_VERSION, model):
                    return found
            due = stored_analyses.retry_due(self.db, commit.repo, commit.sha, depth, lang, self.clock())
            if due is None or due:
                return None  # never tried, or a failed attempt whose backoff is over: ask the LLM
            return load(self.db, commit.repo, commit.sha, depth, lang, FALLBACK_VERSION, rules.RULES_MODEL)
        return load(self.db, commit.repo, commit.sha, depth, lang, RULES_VERSION, rules.RULES_MODEL)

    def _analyse(self, commits: Iterable[Commit], total: int, lang: str, report: ProgressFn,
                 *, brief: bool, spender: str | None = None,
                 starved: set[str] | None = None) -> tuple[dict[str, Analysis], dict[str, Analysis]]:
        """(briefs, deeps). With `brief`, every commit gets a brief analysis and a deep one starts as soon as its
        brief says "high" (no barrier between the phases); without, every commit gets a deep one. Stored analyses
        are reused; the others go to the process-wide LLM pool as commits arrive. Once the `spender`'s budget is
        spent, the rules stand in, unsaved and not queued (the next build asks the LLM), and `starved` gets the SHA."""
        starved = set() if starved is None else starved
        results: dict[str, dict[str, Analysis]] = {"brief": {}, "deep": {}}
        totals = {"brief": total if brief else 0, "deep": 0 if brief else total}
        llm = self.llm
        futures: dict[Future[LLMResult], tuple[Commit, str, Analysis]] = {}

        def finished(commit: Commit, depth: str, analysis: Analysis) -> None:
            results[depth][commit.sha] = analysis
            report(Progress(depth, len(results[depth]), totals[depth], commit.sha))  # type: ignore[arg-type]
            if brief and depth == "brief" and analysis.importance == "high":
                totals["deep"] += 1
                start(commit, "deep")
            elif brief and depth == "brief" and analysis.source == "llm":  # a deep retry queued while the rules
                stored_analyses.clear_pending(self.db, commit.repo, commit.sha, "deep", lang)  # said high is moot

        def start(commit: Commit, depth: str) -> None:
            if found := self._stored(commit, depth, lang):
                finished(commit, depth, found)
            elif llm is None:
                finished(commit, depth, self._save(commit, rules.analyse(commit, lang, depth), RULES_VERSION))
            elif (capped := self._over_cap()) is not None:
                finished(commit, depth, self._stand_in(commit, rules.analyse(commit, lang, depth), depth, lang, capped,
                                                       retry_at=capped.retry_at))
            elif self._over_budget(spender):
                starved.add(commit.sha)
                finished(commit, depth, rules.analyse(commit, lang, depth))
            else:
                prior = rules.analyse(commit, lang, depth)
                futures[self.pool.submit(self._call, llm, commit, prior, depth, lang, spender,
                                         priority=1 if brief else 0)] = (commit, depth, prior)

        def settle(future: Future[LLMResult]) -> None:
            commit, depth, prior = futures.pop(future)
            if isinstance(future.exception(), _BudgetSpent):
                starved.add(commit.sha)
            finished(commit, depth, self._settle(commit, prior, depth, lang, future, spender))

        def keep_answered(wait_running: bool) -> None:
            """After a failure: drop queued calls, store what is answered (waiting for running calls if asked)."""
            for future in [f for f in futures if f.cancel()]:
                futures.pop(future)
            for future in as_completed(list(futures)) if wait_running else [f for f in list(futures) if f.done()]:
                try:
                    commit, depth, prior = futures.pop(future)
                    self._settle(commit, prior, depth, lang, future, spender)
                except Exception:
                    log.exception("could not store an analysis")

        try:
            for commit in commits:
                start(commit, "brief" if brief else "deep")
                for future in [f for f in futures if f.done()]:  # store answers as they come
                    settle(future)
            while futures:
                done, _ = wait(list(futures), return_when=FIRST_COMPLETED)
                for future in done:
                    settle(future)
        except KeyboardInterrupt:
            keep_answered(wait_running=False)  # the user wants out now: running calls are abandoned
            raise
        except BaseException:
            keep_answered(wait_running=True)  # a fetch failed: what the LLM is already answering is paid for, keep it
            raise
        finally:
            if llm is not None:  # what the endpoint accepts, learned in this batch, for the next run
                for model, mode in llm.modes().items():
                    llm_store.save_mode(self.db, llm.config.endpoint, model, mode)
        return results["brief"], results["deep"]

    def _over_cap(self) -> "_Capped | None":
        """Whether today's LLM tokens (in cap_zone) reached LLM_DAILY_TOKEN_CAP; calls in flight finish."""
        if not self.token_cap:
            return None
        now = self.clock()
        today = day_of(now, self.cap_zone)
        start = day_window(today, self.cap_zone)
        with self._tokens_lock:
            unrecorded = sum(self._unrecorded.values())
        used = llm_store.tokens_since(self.db, start.start) + unrecorded
        if used < self.token_cap:
            return None
        if self._cap_told != today:  # said once a day
            self._cap_told = today
            log.error("LLM_DAILY_TOKEN_CAP of %d tokens reached (%d used today): no new LLM call until %s; "
                      "analyses use the offline rules and are queued", self.token_cap, used, start.end.isoformat())
        return _Capped(f"daily token cap of {self.token_cap} reached ({used} used today)", start.end)

    def user_budget(self, spender: str) -> "UserBudget | None":
        """What `spender` (a person: "platform:user") used today of DIGEST_USER_TOKENS; None without a budget."""
        if not self.user_tokens:
            return None
        today = day_window(day_of(self.clock(), self.cap_zone), self.cap_zone)
        with self._tokens_lock:
            unrecorded = self._unrecorded[spender]
        used = llm_store.tokens_since(self.db, today.start, spender=spender) + unrecorded
        return UserBudget(used, self.user_tokens, today.end, self.cap_zone)

    def _over_budget(self, spender: str | None) -> bool:
        """Whether a person's budget is spent (the schedule's work, spender None, has none); calls in flight finish."""
        budget = self.user_budget(spender) if spender is not None else None
        return budget is not None and budget.spent

    def _starved_note(self, spender: str | None, n: int, lang: str) -> str:
        budget = self.user_budget(spender) if spender is not None else None
        assert budget is not None  # only a person with a budget is starved
        return text(lang, "budget_spent", n=n, limit=thousands(budget.limit), reset=budget.reset)

    def _owe(self, spender: str | None, tokens: tuple[int, int], sign: int = 1, *, held: bool = False) -> None:
        with self._tokens_lock:
            (self._held if held else self._unrecorded)[spender] += sign * sum(tokens)

    def _admit(self, spender: str | None, llm: LLMAnalyser, depth: str) -> int:
        """The tokens a person's call holds against their budget while it runs (its largest prompt and answer).
        Admitted while what they used and what their running calls hold is under the budget (checked and held in one
        step: each call admitted at 0 used let 8 at once spend far past it); else it waits for their running calls
        to finish, and raises _BudgetSpent once what they used reaches the budget."""
        if spender is None or not self.user_tokens:
            return 0
        size = llm.call_size(depth)
        with self._admission:
            while True:
                budget = self.user_budget(spender)
                with self._tokens_lock:
                    held = self._held[spender]
                if budget is None or budget.used >= budget.limit:
                    raise _BudgetSpent("daily LLM budget spent")
                if budget.used + held < budget.limit:
                    break
                self._admission.wait(timeout=5.0)  # until a running call of theirs has said what it cost
            self._owe(spender, (size, 0), held=True)
        return size

    def _release(self, spender: str | None, held: int) -> None:
        if held:
            self._owe(spender, (held, 0), -1, held=True)
            with self._admission:
                self._admission.notify_all()

    def _call(self, llm: LLMAnalyser, commit: Commit, prior: Analysis, depth: str, lang: str,
              spender: str | None) -> LLMResult:
        """In the pool: a call queued before the cap (or the spender's budget) was reached is not made after it.
        Its tokens count at once, failed requests' too, until the thread that settles it has written them."""
        if (capped := self._over_cap()) is not None:
            raise _CapReached(capped)
        held = self._admit(spender, llm, depth)
        try:
            try:
                result = llm.analyse(commit, prior, depth, lang)
            except LLMUnavailable as err:
                self._owe(spender, err.spent)
                raise
            self._owe(spender, result.spent)
        finally:  # after its cost is counted, so that no other call is admitted in between
            self._release(spender, held)
        return result

    def _stand_in(self, commit: Commit, prior: Analysis, depth: str, lang: str, why: Any, *,
                  retry_at: datetime | None = None) -> Analysis:
        """The rules analysis standing in for an LLM one, marked, and queued for the backfill."""
        reason = str(why)
        stored_analyses.mark_pending(self.db, commit.repo, commit.sha, depth, lang, self.llm.config.model if self.llm
                                     else "", reason, self.clock())
        if retry_at is not None:
            stored_analyses.retry_not_before(self.db, commit.repo, commit.sha, depth, lang, retry_at)
        return self._save(commit, prior.model_copy(update={"note": text(lang, "fallback", error=reason)}),
                          FALLBACK_VERSION)

    def _settle(self, commit: Commit, prior: Analysis, depth: str, lang: str, future: Future[LLMResult],
                spender: str | None = None) -> Analysis:
        """Store what an LLM call gave, and what it cost (failed requests included, charged to `spender`); a
        failure keeps the rules analysis and queues the commit for a retry."""
        assert self.llm is not None
        try:
            result = future.result()
        except _CapReached as capped:
            return self._stand_in(commit, prior, depth, lang, capped.capped, retry_at=capped.capped.retry_at)
        except _BudgetSpent:
            return prior  # not saved, not queued: the next build (the schedule's, or theirs tomorrow) asks the LLM
        except Exception as err:  # LLMUnavailable, or a bug: either way the commit keeps an analysis
            if not isinstance(err, LLMUnavailable):
                log.error("%s %s: LLM analysis crashed", commit.repo, commit.short_sha, exc_info=err)
                err = LLMUnavailable(f"internal error ({type(err).__name__})")
            # one failed call is queued and healed by a retry: DEBUG; an outage (the breaker opened) is told once
            log.debug("%s %s: LLM analysis failed, using rules: %s", commit.repo, commit.short_sha, err)
            llm_store.record_usage(self.db, repo=commit.repo, sha=commit.sha, depth=depth, model=self.llm.config.model,
                                   mode=self.llm.mode_for(self.llm.config.model), ok=False, tokens_in=err.spent[0],
                                   tokens_out=err.spent[1], seconds=0.0, error=str(err), spender=spender,
                                   at=self.clock())
            self._owe(spender, err.spent, -1)
            if isinstance(err, LLMOutage) and outages.begin(self.db, self.llm.config.endpoint, str(err), self.clock()):
                log.error("LLM outage: %s; analyses fall back to the offline rules and are queued for a retry", err)
            return self._stand_in(commit, prior, depth, lang, err)
        attempts = stored_analyses.pending_attempts(self.db, commit.repo, commit.sha, depth, lang) + 1
        analysis = result.analysis.model_copy(update={"attempts": attempts})
        if (ended := outages.end(self.db, self.llm.config.endpoint, self.clock())) is not None:
            log.warning("LLM answers again after an outage since %s (%s)", ended.started_at.isoformat(timespec="minutes"),
                        ended.error)
        llm_store.record_usage(self.db, repo=commit.repo, sha=commit.sha, depth=depth, model=analysis.model,
                               mode=result.mode, ok=True, tokens_in=result.spent[0], tokens_out=result.spent[1],
                               seconds=result.seconds, error=None, spender=spender, at=self.clock())
        self._owe(spender, result.spent, -1)
        stored_analyses.clear_pending(self.db, commit.repo, commit.sha, depth, lang)
        return self._save(commit, analysis, PROMPT_VERSION)

    def _save(self, commit: Commit, analysis: Analysis, version: str) -> Analysis:
        stored_analyses.save_analysis(self.db, commit.repo, commit.sha, analysis, merges.view_version(version, commit))
        return analysis


@dataclass(frozen=True)
class UserBudget:
    """One person's LLM tokens today (a day of `zone`) against their daily budget, and when it resets."""

    used: int
    limit: int
    resets_at: datetime
    zone: str

    @property
    def spent(self) -> bool:
        return self.used >= self.limit

    @property
    def reset(self) -> str:
        """When the budget resets, as people read it: "00:00 UTC"."""
        return f"{self.resets_at.astimezone(parse_zone(self.zone)):%H:%M} {self.zone}"


@dataclass(frozen=True)
class _Capped:
    reason: str
    retry_at: datetime

    def __str__(self) -> str:
        return self.reason


class _BudgetSpent(LLMUnavailable):
    """The spender's daily budget was spent before this queued call could start."""


class _CapReached(LLMUnavailable):
    def __init__(self, capped: _Capped) -> None:
        super().__init__(capped.reason)
        self.capped = capped


def _branch_name(ref: str) -> str:
    return ref.removeprefix("refs/remotes/origin/").removeprefix("refs/heads/")  # a fetched clone shows origin's name
