"""Outages: the breaker bounds the calls, says what is wrong, and lets one probe through after its pause."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta, timezone

import pytest

from digest.analysis.breaker import Breaker
from digest.analysis.llm import LLMAnalyser, LLMConfig
from core.errors import LLMUnavailable
from core.models import Analysis
from tests.conftest import clone_ref, git_service, sample_history, utc
from tests.servers.openai import Fault, OpenAIServer
from tests.test_llm import answer

DAY = date(2026, 1, 11)
C = 4


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 12, 2, 0, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def busy_day(repo, n: int = 18) -> None:
    for i in range(n):
        repo.commit(f"feat: module {i}", {f"src/m{i}.py": f"def f{i}():\n    return {i}\n" * 5}, utc(2026, 1, 11, 1, i))


def llm(server: OpenAIServer, clock: Clock | None = None, **config) -> LLMAnalyser:
    settings = dict(base_url=server.url + "/v1", api_key="test-key", model="test-model", max_retries=0, timeout=5)
    return LLMAnalyser(LLMConfig(**{**settings, **config}), clock=clock or Clock())


def prior() -> Analysis:
    return Analysis(change_type="feature", importance="low", importance_reason="r", summary="s")


def test_a_403_opens_the_breaker_at_once_and_bounds_the_calls_of_an_18_commit_day(repo, db):
    busy_day(repo)
    clock = Clock()
    with OpenAIServer(responder=answer, models=("test-model", "backup"), latency=0.05) as server:
        server.outage(Fault("status", status=403))
        analyser = llm(server, clock, fallback_model="backup")
        digest = git_service(db, analyser, concurrency=C).build_digest(clone_ref(repo), DAY, "UTC")
        assert len(digest.entries) == 18 and digest.coverage.llm == 0 and digest.coverage.fallbacks == 18
        assert len(server.requests) <= C  # only the calls in flight when the first 403 came back
        assert {r["model"] for r in server.requests} == {"test-model"}  # same key: the fallback is not tried
        health = analyser.health()
        assert health.state == "open" and health.since == clock.now and health.failures >= 1
        assert "403 Forbidden" in health.last_error and "LLM_API_KEY" in health.last_error
        assert all("403 Forbidden" in e.analysis.note for e in digest.entries)  # the real error, in every placeholder
        assert len(list(db.query("SELECT * FROM pending"))) == 18  # nothing lost: all queued for the backfill

        # the key works again: nothing goes out before the pause is over, then exactly one probe, then all of it
        server.outage(None)
        sent = len(server.requests)
        with pytest.raises(LLMUnavailable, match="403"):
            analyser.analyse(digest.entries[0].commit, prior(), "brief", "en")
        assert len(server.requests) == sent
        clock.advance(61)
        assert analyser.health().state == "half-open"
        result = analyser.analyse(digest.entries[0].commit, prior(), "brief", "en")
        assert result.analysis.source == "llm" and len(server.requests) == sent + 1
        assert analyser.health().state == "ok" and analyser.health().since is None


def test_a_401_says_so(repo, db):
    shas = sample_history(repo)
    with OpenAIServer(responder=answer, api_key="the-right-key") as server:
        analyser = llm(server, api_key="a-wrong-key")
        report = git_service(db, analyser).analyze(clone_ref(repo), shas["docs"])
    assert report.analysis.source == "rules" and "401" in report.analysis.note
    assert analyser.health().state == "open" and "LLM_API_KEY" in analyser.health().last_error
    assert "a-wrong-key" not in report.analysis.note


@pytest.mark.parametrize("fault, error", [(Fault("status", status=502), "HTTP 502"),
                                          (Fault("timeout", delay=1.0), "timed out")])
def test_an_endpoint_down_opens_after_failures_in_a_row_with_calls_bounded(repo, db, fault, error):
    busy_day(repo)
    with OpenAIServer(responder=answer, models=("test-model", "backup")) as server:
        server.outage(fault)
        analyser = llm(server, fallback_model="backup", breaker_after=3, timeout=0.3)
        digest = git_service(db, analyser, concurrency=C).build_digest(clone_ref(repo), DAY, "UTC")
        assert digest.coverage.fallbacks == 18
        assert len(server.requests) <= C + 1  # the calls in flight when the first 502 came back, and one fallback
        assert {r["model"] for r in server.requests} == {"test-model", "backup"}
        assert analyser.health().state == "open" and error in analyser.health().last_error


def test_a_failed_probe_reopens_and_only_one_probe_goes_out(repo):
    busy_day(repo, 2)
    clock = Clock()
    with OpenAIServer(responder=answer, latency=0.3) as server:
        server.outage(Fault("status", status=500))
        analyser = llm(server, clock, breaker_after=1)
        from digest.sources.git import GitSource
        commits = [GitSource(clone_ref(repo)).commit(sha) for sha in repo.git("rev-list", "HEAD").split()]
        with pytest.raises(LLMUnavailable):
            analyser.analyse(commits[0], prior(), "brief", "en")
        clock.advance(61)
        with pytest.raises(LLMUnavailable, match="500"):
            analyser.analyse(commits[0], prior(), "brief", "en")  # the probe fails: open again, pause restarts
        assert len(server.requests) == 2 and analyser.health().state == "open"
        clock.advance(30)
        with pytest.raises(LLMUnavailable, match="calls paused"):
            analyser.analyse(commits[0], prior(), "brief", "en")
        clock.advance(31)
        server.outage(None)
        from concurrent.futures import ThreadPoolExecutor
        with ThreadPoolExecutor(4) as pool:  # four callers at once: one probe, three told at once
            outcomes = list(pool.map(lambda _: _try(analyser, commits[1]), range(4)))
        assert outcomes.count("llm") == 1 and outcomes.count("paused") == 3
        assert len(server.requests) == 3 and analyser.health().state == "ok"


def _try(analyser: LLMAnalyser, commit) -> str:
    try:
        return analyser.analyse(commit, prior(), "brief", "en").analysis.source
    except LLMUnavailable as err:
        return "paused" if "paused" in str(err) else str(err)


def test_a_missing_model_opens_for_that_model_only(repo, db):
    busy_day(repo, 6)
    with OpenAIServer(responder=answer, models=("backup",)) as server:
        analyser = llm(server, fallback_model="backup")
        digest = git_service(db, analyser, concurrency=1).build_digest(clone_ref(repo), DAY, "UTC")
        assert digest.coverage.llm == 6 and {e.analysis.model for e in digest.entries} == {"backup"}
        assert [r["model"] for r in server.requests].count("test-model") == 1  # asked once, then skipped
        health = analyser.health()
        assert health.state == "ok" and health.models_down == ("test-model",)


def test_a_400_is_not_an_outage(repo, db):
    shas = sample_history(repo)
    with OpenAIServer(responder=answer) as server:
        server.fault(Fault("status", status=400))
        analyser = llm(server)
        report = git_service(db, analyser).analyze(clone_ref(repo), shas["docs"])
        assert report.analysis.source == "rules" and "(400)" in report.analysis.note
        assert analyser.health().state == "ok"


def test_a_429_waits_for_retry_after_then_answers(repo, db):
    shas = sample_history(repo)
    with OpenAIServer(responder=answer) as server:
        server.fault(Fault("status", status=429, headers={"Retry-After": "0.4"}))
        started = time.monotonic()
        report = git_service(db, llm(server, max_retries=1)).analyze(clone_ref(repo), shas["docs"])
        assert report.analysis.source == "llm" and len(server.requests) == 2
        assert time.monotonic() - started >= 0.4


def test_timeouts_count_towards_the_breaker(repo, db):
    busy_day(repo, 5)
    with OpenAIServer(responder=answer) as server:
        server.outage(Fault("timeout", delay=2))
        analyser = llm(server, timeout=0.3, breaker_after=2)
        digest = git_service(db, analyser, concurrency=1).build_digest(clone_ref(repo), DAY, "UTC")
        assert digest.coverage.fallbacks == 5 and len(server.requests) == 2
        assert "timed out" in analyser.health().last_error


def test_with_30_percent_of_calls_failing_nothing_is_lost(repo, db):
    busy_day(repo)
    with OpenAIServer(responder=answer) as server:
        server.random_faults(0.3, 7, Fault("status", status=502), Fault("status", status=429), Fault("invalid_json"))
        digest = git_service(db, llm(server, breaker_after=3), concurrency=C).build_digest(clone_ref(repo), DAY, "UTC")
        cov = digest.coverage
        assert len(digest.entries) == 18 and cov.llm + cov.fallbacks == 18 and cov.llm >= 9
        assert len(list(db.query("SELECT * FROM pending"))) == cov.fallbacks


def test_breaker_states_with_a_clock():
    clock = Clock()
    breaker = Breaker(2, 60, clock)
    assert breaker.admit()
    breaker.failure("boom")
    breaker.done()
    assert breaker.health().state == "ok" and breaker.health().failures == 1
    assert breaker.admit()  # suspect, nothing in flight: one call may go and tell
    breaker.failure("boom again")
    breaker.done()
    assert breaker.health().state == "open" and not breaker.admit()
    clock.advance(60)
    assert breaker.admit() and not breaker.admit()  # one probe at a time
    breaker.done()  # the probe ended without an answer: another may go
    assert breaker.admit()
    breaker.success()
    breaker.done()
    assert breaker.health().state == "ok" and breaker.health().since is None


@pytest.mark.parametrize("second", ["success", "failure"])
def test_after_a_failure_new_calls_wait_for_the_calls_in_flight(second):
    """Suspect: a new call neither goes out nor gives up while another call in flight can still tell."""
    import threading

    breaker = Breaker(2, 60, Clock())
    assert breaker.admit() and breaker.admit()  # two calls in flight
    breaker.failure("HTTP 502")
    breaker.done()
    admitted: list[bool] = []
    waiting = threading.Thread(target=lambda: admitted.append(breaker.admit()))
    waiting.start()
    waiting.join(0.3)
    assert waiting.is_alive() and not admitted  # held while the other call is out
    getattr(breaker, second)("HTTP 502") if second == "failure" else breaker.success()
    breaker.done()
    waiting.join(5)
    assert admitted == [second == "success"]  # a success lets it go; a second failure opens: it is told at once


def test_a_slow_call_from_before_the_outage_does_not_let_a_second_probe_out():
    """Only the probe's own outcome ends a probe: a call admitted before the breaker opened, failing late while the
    probe is out, restarts the pause but lets no second probe go (calls run one per thread, as in the LLM pool)."""
    import queue
    import threading

    class Caller:  # a thread of its own, like a pool worker: admit, failure and done come from the same thread
        def __init__(self) -> None:
            self.jobs: queue.Queue = queue.Queue()
            self.results: queue.Queue = queue.Queue()
            threading.Thread(target=self._loop, daemon=True).start()

        def _loop(self) -> None:
            while True:
                job = self.jobs.get()
                self.results.put(job())

        def __call__(self, job):
            self.jobs.put(job)
            return self.results.get(timeout=5)

    clock = Clock()
    breaker = Breaker(3, 60, clock)
    early = [Caller() for _ in range(4)]
    assert all(c(breaker.admit) for c in early)
    for c in early[:3]:
        c(lambda: breaker.failure("HTTP 502"))
        c(breaker.done)
    assert breaker.health().state == "open"  # early[3] is still out: a slow call
    clock.advance(60)
    probe = Caller()
    assert probe(breaker.admit)
    early[3](lambda: breaker.failure("timed out"))
    clock.advance(60)
    assert not Caller()(breaker.admit), "a second probe went out while the first was in flight"
    probe(lambda: breaker.failure("HTTP 502"))
    probe(breaker.done)
    clock.advance(60)
    assert Caller()(breaker.admit)  # the probe ended: the next one may go
