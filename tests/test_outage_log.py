"""The log tells an LLM outage once, at its start, and its end once; one failed call that a retry heals is DEBUG
(issue 12, item 22: at 30% faults every failed call was logged as an ERROR "outage")."""

from __future__ import annotations

import logging

from storage import outages
from tests.conftest import clone_ref, git_service
from tests.servers.openai import Fault, OpenAIServer
from storage import analyses as stored_analyses
from tests.test_breaker import DAY, Clock, busy_day, llm
from tests.test_llm import answer


def loud(caplog) -> list[logging.LogRecord]:  # noqa: ANN001
    return [r for r in caplog.records if r.name.startswith("digest") and r.levelno >= logging.WARNING]


def test_at_30_percent_faults_single_failures_are_debug_and_no_outage_is_told(repo, db, caplog):
    busy_day(repo, 30)
    caplog.set_level(logging.DEBUG, logger="digest")
    with OpenAIServer(responder=answer) as server:
        server.random_faults(0.3, 7, Fault("status", status=502), Fault("status", status=429))
        service = git_service(db, llm(server, breaker_after=3), concurrency=1)
        digest = service.build_digest(clone_ref(repo), DAY, "UTC")
    failed = db.execute("SELECT count(*) FROM llm_usage WHERE ok = 0").fetchone()[0]
    assert failed >= 5 and digest.coverage.fallbacks == failed  # failed calls happened, each queued for a retry
    opened = len(list(db.query("SELECT * FROM outages")))
    errors = [r for r in loud(caplog) if r.levelno >= logging.ERROR]
    assert len(errors) == opened <= 1  # a run of 3 failures in a row at most once in this seeded run
    assert len(loud(caplog)) <= 2 * opened  # its start and its end, nothing per call
    debug = [r for r in caplog.records if r.levelno == logging.DEBUG and "using rules" in r.getMessage()]
    assert len(debug) == failed


def test_a_real_outage_is_told_once_at_its_start_and_once_at_its_end(repo, db, caplog):
    busy_day(repo, 12)
    caplog.set_level(logging.DEBUG, logger="digest")
    with OpenAIServer(responder=answer) as server:
        server.outage(Fault("status", status=503))
        clock = Clock()
        service = git_service(db, llm(server, clock, breaker_after=3), concurrency=2)
        first = service.build_digest(clone_ref(repo), DAY, "UTC")
        assert first.coverage.fallbacks == 12
        starts = [r for r in loud(caplog) if r.levelno == logging.ERROR]
        assert len(starts) == 1 and "LLM outage" in starts[0].getMessage() and "503" in starts[0].getMessage()
        assert outages.current(db, service.llm.config.endpoint) is not None  # the digest's "unavailable since" line
        server.outage(None)
        caplog.clear()
        clock.advance(61)  # the breaker's pause: its probe goes through
        stored_analyses.make_due(db, service.clock())
        again = service.build_digest(clone_ref(repo), DAY, "UTC")
        assert again.coverage.llm > 0  # the probe answered; calls paused while it was in flight stay queued (how
        # many depends on the machine's timing: 9 to 11 of 12 seen)
        ends = loud(caplog)
        assert len(ends) == 1 and "answers again" in ends[0].getMessage()
        assert outages.current(db, service.llm.config.endpoint) is None
