"""The LLM analyser through the real openai SDK against the local OpenAI-compatible server."""

from __future__ import annotations

import json
import time
from datetime import date

import pytest

from digest.analysis.llm import LLMAnalyser, LLMConfig
from digest.analysis.prompts import PROMPT_VERSION
from digest.render import text as render_text
from storage import llm as llm_store
from tests.conftest import clone_ref, git_service, sample_history
from tests.servers.openai import Fault, OpenAIServer

DAY = date(2026, 1, 11)


def answer(req: dict, **override) -> str:
    """A grounded answer built from what the request shows, as a careful model would write it."""
    user = req["messages"][1]["content"]
    deep = "commit_analysis_deep" in json.dumps(req.get("response_format", {})) or "deep analysis" in req["messages"][0]["content"]
    zh = "简体中文" in req["messages"][0]["content"]
    path = next(line[2:].split(" [")[0] for line in user.splitlines() if line.startswith("- "))
    data = {
        "change_type": "feature",
        "importance": "high" if "kvcache" in user else "low",
        "importance_reason": "新增 JIT 内核" if zh else "adds a JIT kernel used on the hot path",
        "summary": f"修改了 `{path}`。" if zh else f"Changes `{path}`.",
        "impact_scope": [path],
        "breaking_changes": [],
    }
    if deep:
        data.update({"insights": {"architecture": f"`{path}` is new", "performance": "", "security": "",
                                  "maintainability": "tests added"},
                     "risks": [{"point": "p", "description": "d", "consequence": "c", "mitigation": "m"}],
                     "suggestions": ["run the kernel benchmarks"]})
    data.update(override)
    return json.dumps(data, ensure_ascii=False)


def analyser(server: OpenAIServer, **config) -> LLMAnalyser:
    return LLMAnalyser(LLMConfig(base_url=server.url + "/v1", api_key="test-key", model="test-model",
                                 max_retries=0, timeout=5, **config))


@pytest.fixture
def llm_server():
    with OpenAIServer(responder=answer) as server:
        yield server


def test_digest_with_llm_asks_json_schema_and_stores_every_analysis(repo, db, llm_server):
    sample_history(repo)
    digest = git_service(db, analyser(llm_server)).build_digest(clone_ref(repo), DAY, "UTC", "zh")
    assert digest.coverage.llm == 4 and digest.coverage.rules == 0  # commits analysed (brief, +1 deep) by the LLM;
    assert "4/4 个提交由 test-model 分析" in render_text.render_digest(digest)  # the same-day merge is not read
    first = llm_server.requests[0]
    assert first["model"] == "test-model"
    assert first["response_format"]["type"] == "json_schema"
    assert set(first["response_format"]["json_schema"]["schema"]["required"]) >= {"change_type", "importance"}
    assert "简体中文" in first["messages"][0]["content"]
    high = [e for e in digest.entries if e.analysis.importance == "high"]
    assert len(high) == 1 and high[0].deep and high[0].deep.suggestions == ["run the kernel benchmarks"]
    assert high[0].analysis.source == "llm" and high[0].analysis.tokens_in > 0
    assert high[0].analysis.grounding.unverified == []
    assert llm_store.usage_count(db) == 5
    # a rebuild of a day whose commits all have LLM analyses makes no LLM call
    sent = len(llm_server.requests)
    again = git_service(db, analyser(llm_server)).build_digest(clone_ref(repo), DAY, "UTC", "zh")
    assert len(llm_server.requests) == sent
    assert [e.analysis for e in again.entries] == [e.analysis for e in digest.entries]


def test_a_server_without_json_schema_moves_to_json_mode_once_and_remembers(repo, db):
    sample_history(repo)
    with OpenAIServer(responder=answer, reject_json_schema=True) as server:
        llm = analyser(server)
        git_service(db, llm, concurrency=1).build_digest(clone_ref(repo), DAY, "UTC")
        kinds = [r.get("response_format", {}).get("type") for r in server.requests]
        assert kinds[0] == "json_schema" and kinds.count("json_schema") == 1
        assert set(kinds[1:]) == {"json_object"}
        assert "JSON schema" in server.requests[1]["messages"][0]["content"]  # the schema moves into the prompt
        assert llm_store.load_mode(db, llm.config.endpoint, "test-model") == "json_object"


def test_text_mode_parses_fenced_json_with_thinking(repo, db):
    sample_history(repo)
    fenced = lambda req: "<think>hmm</think>\n```json\n" + answer(req) + "\n```"  # noqa: E731
    with OpenAIServer(responder=fenced, reject_json_schema=True, reject_json_object=True) as server:
        digest = git_service(db, analyser(server), concurrency=1).build_digest(clone_ref(repo), DAY, "UTC")
        assert digest.coverage.llm == 4
        assert "response_format" not in server.requests[-1]


def test_a_cut_off_answer_is_never_used(repo, db, llm_server):
    shas = sample_history(repo)
    llm_server.fault(Fault("truncate"))
    report = git_service(db, analyser(llm_server)).analyze(clone_ref(repo), shas["docs"])
    assert report.analysis.source == "llm"
    assert llm_server.requests[1]["max_tokens"] == 2 * llm_server.requests[0]["max_tokens"]
    llm_server.fault(*[Fault("truncate")] * 3)
    report = git_service(db, analyser(llm_server)).analyze(clone_ref(repo), shas["side"])
    assert report.analysis.source == "rules" and "cut off" in report.analysis.note


def test_invalid_answers_get_one_repair_then_fall_back(repo, db, llm_server):
    shas = sample_history(repo)
    llm_server.fault(Fault("invalid_json"))
    report = git_service(db, analyser(llm_server)).analyze(clone_ref(repo), shas["docs"])
    assert report.analysis.source == "llm"
    assert "not a valid JSON object" in llm_server.requests[-1]["messages"][-1]["content"]
    bad = lambda req: answer(req, importance="urgent")  # noqa: E731
    with OpenAIServer(responder=bad) as server:
        report = git_service(db, analyser(server)).analyze(clone_ref(repo), shas["side"])
        assert report.analysis.source == "rules" and "importance" in report.analysis.note
        assert len(server.requests) == 2


def test_unreachable_llm_falls_back_to_rules_says_so_and_queues_retries(repo, db):
    sample_history(repo)
    with OpenAIServer() as server:
        dead = server.url
    llm = LLMAnalyser(LLMConfig(base_url=dead + "/v1", api_key="sk-secret-value", model="m", max_retries=0, timeout=2))
    digest = git_service(db, llm).build_digest(clone_ref(repo), DAY, "UTC")
    # every brief but the same-day merge's, plus a deep one per high-importance commit
    expected = 4 + sum(1 for e in digest.entries if e.analysed and e.importance == "high")
    assert digest.coverage.llm == 0 and digest.coverage.fallbacks == digest.coverage.rules == 4
    assert all(e.analysis.source == "rules" and "LLM unavailable" in e.analysis.note for e in digest.entries if e.analysed)
    assert "sk-secret-value" not in json.dumps([e.analysis.note for e in digest.entries])
    pending = list(db.query("SELECT * FROM pending"))
    assert len(pending) == expected and all(p["attempts"] == 1 for p in pending)
    # the rebuild keeps the rules fallbacks (the backfill retries them) and does not hammer the endpoint
    again = git_service(db, llm).build_digest(clone_ref(repo), DAY, "UTC")
    assert again.coverage.fallbacks == 4 and len(list(db.query("SELECT * FROM pending"))) == expected


def test_timeouts_and_429_are_retried_by_the_sdk_then_fall_back(repo, db, llm_server):
    shas = sample_history(repo)
    llm_server.fault(Fault("status", status=429, headers={"retry-after-ms": "1"}))
    ok = LLMAnalyser(LLMConfig(base_url=llm_server.url + "/v1", api_key="test-key", model="test-model",
                               max_retries=1, timeout=5))
    assert git_service(db, ok).analyze(clone_ref(repo), shas["docs"]).analysis.source == "llm"
    llm_server.fault(Fault("timeout", delay=3), Fault("timeout", delay=3))
    slow = LLMAnalyser(LLMConfig(base_url=llm_server.url + "/v1", api_key="test-key", model="test-model",
                                 max_retries=1, timeout=0.5))
    report = git_service(db, slow).analyze(clone_ref(repo), shas["side"])
    assert report.analysis.source == "rules" and "timed out" in report.analysis.note


def test_fallback_model_is_tried_when_the_first_is_missing(repo, db):
    shas = sample_history(repo)
    with OpenAIServer(responder=answer, models=("backup",)) as server:
        llm = LLMAnalyser(LLMConfig(base_url=server.url + "/v1", api_key="test-key", model="gone",
                                    fallback_model="backup", max_retries=0))
        report = git_service(db, llm).analyze(clone_ref(repo), shas["docs"])
        assert report.analysis.source == "llm" and report.analysis.model == "backup"
        rows = list(db.query("SELECT model, prompt_version FROM analyses WHERE source = 'llm'"))
        assert rows == [{"model": "backup", "prompt_version": PROMPT_VERSION}]


def test_concurrency_is_bounded(repo, db):
    from tests.conftest import utc

    for i in range(12):
        repo.commit(f"feat: thing {i}", {f"src/m{i}.py": "x = 1\n" * 50}, utc(2026, 1, 11, 1, i))
    with OpenAIServer(responder=answer, latency=0.4) as server:
        git_service(db, analyser(server), concurrency=3).build_digest(clone_ref(repo), DAY, "UTC")
        assert 2 <= server.max_in_flight <= 3  # concurrent, and never above the bound


def test_unverified_citations_are_listed(repo, db):
    shas = sample_history(repo)
    invented = lambda req: answer(req, summary="Rewrites `made_up_function` in `nowhere/file.py`.")  # noqa: E731
    with OpenAIServer(responder=invented) as server:
        report = git_service(db, analyser(server)).analyze(clone_ref(repo), shas["docs"])
    g = report.analysis.grounding
    assert g.unverified == ["made_up_function", "nowhere/file.py"] and g.verified >= 1


def test_analyses_finished_before_a_fetch_failure_are_kept(repo, db, llm_server, github):
    from core.errors import SourceError
    from tests.conftest import github_ref, github_service

    shas = sample_history(repo)
    service, _ = github_service(db, github, analyser(llm_server))
    # newest first: breaking, merge, docs, ...; the details of `docs` cannot be fetched
    github.inject(502, count=50, path_contains=f"/commits/{shas['docs']}")
    with pytest.raises(SourceError, match="502"):
        service.build_digest(github_ref(), DAY, "UTC")
    kept = {r["sha"] for r in db.query("SELECT sha FROM analyses WHERE source = 'llm'")}
    assert kept == {shas["breaking"]}  # the same-day merge is told through its commit: never read


def test_odd_server_answers_never_lose_an_analysis(repo, db, llm_server):
    shas = sample_history(repo)
    llm_server.fault(Fault("null_usage"))
    report = git_service(db, analyser(llm_server)).analyze(clone_ref(repo), shas["docs"])
    assert report.analysis.source == "llm" and report.analysis.tokens_in > 0  # estimated offline
    llm_server.fault(Fault("html"))
    report = git_service(db, analyser(llm_server)).analyze(clone_ref(repo), shas["side"])
    assert report.analysis.source == "rules" and "LLM unavailable" in report.analysis.note
    stored = list(db.query("SELECT source FROM analyses WHERE sha = ?", [shas["side"]]))
    assert stored == [{"source": "rules"}]


def test_a_fallback_is_not_shown_as_the_chosen_rules_analysis(repo, db):
    shas = sample_history(repo)
    with OpenAIServer() as server:
        dead = server.url
    llm = LLMAnalyser(LLMConfig(base_url=dead + "/v1", api_key="k", model="m", max_retries=0, timeout=2))
    assert "LLM unavailable" in git_service(db, llm).analyze(clone_ref(repo), shas["docs"]).analysis.note
    offline = git_service(db).analyze(clone_ref(repo), shas["docs"]).analysis
    assert offline.source == "rules" and offline.note == ""


def test_an_interrupt_keeps_what_is_answered_and_abandons_the_queue(repo, db):
    from tests.conftest import utc

    for i in range(10):
        repo.commit(f"feat: thing {i}", {f"src/m{i}.py": "x = 1\n" * 50}, utc(2026, 1, 11, 1, i))
    seen = []

    def progress(p):
        if p.phase == "brief" and p.sha:
            seen.append(p.sha)
            raise KeyboardInterrupt

    with OpenAIServer(responder=answer, latency=0.3) as server:
        with pytest.raises(KeyboardInterrupt):
            git_service(db, analyser(server), concurrency=2).build_digest(clone_ref(repo), DAY, "UTC", progress=progress)
        stored = [r["sha"] for r in db.query("SELECT sha FROM analyses WHERE source = 'llm'")]
        assert seen and seen[0] in stored  # the answer that arrived is stored
        time.sleep(0.8)  # anything still queued would have been sent by now
        assert len(server.requests) <= 4, "queued calls were cancelled, only running ones finished"


def test_a_failed_attempt_is_retried_once_its_backoff_is_over(repo, db):
    from datetime import timedelta

    from digest.service import DigestService
    from digest.sources.git import GitSource
    from tests.conftest import NOW

    shas = sample_history(repo)
    with OpenAIServer() as server:
        dead = server.url
    down = LLMAnalyser(LLMConfig(base_url=dead + "/v1", api_key="k", model="test-model", max_retries=0, timeout=2))
    assert git_service(db, down).analyze(clone_ref(repo), shas["docs"]).analysis.source == "rules"
    with OpenAIServer(responder=answer) as server:
        up = analyser(server)
        same_time = DigestService(db, GitSource, up, clock=lambda: NOW)
        assert same_time.analyze(clone_ref(repo), shas["docs"]).analysis.source == "rules"  # still backing off
        assert server.requests == []
        later = DigestService(db, GitSource, up, clock=lambda: NOW + timedelta(minutes=16))
        assert later.analyze(clone_ref(repo), shas["docs"]).analysis.source == "llm"
    assert list(db.query("SELECT * FROM pending")) == []


def test_a_deep_analysis_asked_during_a_digest_goes_before_its_queued_calls(repo, db):
    """/analyze from a person does not wait behind a whole day's brief calls in the shared LLM pool."""
    import threading

    from tests.conftest import utc

    shas = [repo.commit(f"feat: thing {i}", {f"src/m{i}.py": "x = 1\n" * 50}, utc(2026, 1, 11, 1, i))
            for i in range(8)]
    other = repo.commit("feat: the one asked about", {"src/asked.py": "y = 2\n" * 20}, utc(2026, 1, 12, 1))
    with OpenAIServer(responder=answer) as server:
        service = git_service(db, analyser(server), concurrency=1)
        server.hold()  # the first brief call is answered only when released; the other seven wait in the pool
        building = threading.Thread(target=service.build_digest, args=(clone_ref(repo), DAY, "UTC"))
        building.start()
        deadline = time.monotonic() + 10
        while len(server.requests) < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        reports = []
        asking = threading.Thread(target=lambda: reports.append(service.analyze(clone_ref(repo), other[:10])))
        asking.start()
        time.sleep(0.3)  # the deep call is queued behind the running brief call
        server.release()
        asking.join(10)
        building.join(20)
        users = [r["messages"][1]["content"] for r in server.requests]
        assert len(users) == 9 and reports[0].analysis.source == "llm"
        assert "src/asked.py" in users[1], "the deep analysis ran right after the call already in flight"
        assert all(any(f"src/m{i}.py" in u for u in users) for i in range(len(shas)))  # no brief lost
