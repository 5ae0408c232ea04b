"""Self-tests for the fake OpenAI server, driven through the real openai SDK."""

from __future__ import annotations

import json
import threading
import time

import openai
import pytest
import requests
from openai import OpenAI

from tests.servers.openai import Fault, OpenAIServer, schema_instance

MSG = [{"role": "user", "content": "Analyse this commit."}]

SCHEMA = {
    "type": "object",
    "properties": {
        "summary": {"type": "string", "minLength": 5},
        "risk": {"type": "string", "enum": ["low", "medium", "high"]},
        "score": {"type": "integer", "minimum": 1, "maximum": 10},
        "breaking": {"type": "boolean"},
        "files": {"type": "array", "items": {"$ref": "#/$defs/file"}, "minItems": 2},
        "note": {"anyOf": [{"type": "null"}, {"type": "string", "enum": ["n/a"]}]},
        "kind": {"type": ["null", "string"], "const": "fix"},
    },
    "required": ["summary", "risk", "score", "breaking", "files", "note", "kind"],
    "additionalProperties": False,
    "$defs": {
        "file": {
            "type": "object",
            "properties": {"path": {"type": "string"}, "change": {"enum": ["added", "modified"]}},
            "required": ["path", "change"],
        }
    },
}


@pytest.fixture
def server():
    with OpenAIServer() as srv:
        yield srv


def client(srv: OpenAIServer, **kw) -> OpenAI:
    kw.setdefault("max_retries", 0)
    kw.setdefault("api_key", "test-key")
    return OpenAI(base_url=srv.url + "/v1", **kw)


def schema_format(schema=SCHEMA, name="commit_analysis"):
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": True}}


def test_json_schema_answer_validates(server):
    resp = client(server).chat.completions.create(
        model="test-model", messages=MSG, response_format=schema_format()
    )
    data = json.loads(resp.choices[0].message.content)
    assert set(SCHEMA["required"]) <= set(data)
    assert set(data) <= set(SCHEMA["properties"])
    assert data["risk"] in ("low", "medium", "high")
    assert isinstance(data["summary"], str) and len(data["summary"]) >= 5
    assert data["score"] == 1 and data["breaking"] is False
    assert len(data["files"]) == 2
    for f in data["files"]:
        assert set(f) == {"path", "change"} and f["change"] in ("added", "modified")
    assert data["note"] == "n/a" and data["kind"] == "fix"
    assert resp.choices[0].finish_reason == "stop"
    assert resp.id.startswith("chatcmpl-") and resp.model == "test-model"
    assert server.requests[-1]["response_format"]["type"] == "json_schema"


def test_usage_and_default_content(server):
    resp = client(server).chat.completions.create(model="test-model", messages=MSG)
    assert resp.choices[0].message.content == "{}"
    assert resp.usage is not None
    assert resp.usage.prompt_tokens == (len(MSG[0]["content"]) + 3) // 4
    assert resp.usage.completion_tokens == 1
    assert resp.usage.total_tokens == resp.usage.prompt_tokens + resp.usage.completion_tokens


def test_responder_and_models(server):
    server.responder = lambda body: "hello " + body["messages"][-1]["content"]
    c = client(server)
    resp = c.chat.completions.create(model="test-model", messages=MSG)
    assert resp.choices[0].message.content == "hello Analyse this commit."
    assert [m.id for m in c.models.list()] == ["test-model"]


def test_reject_json_schema():
    with OpenAIServer(reject_json_schema=True) as srv:
        with pytest.raises(openai.BadRequestError) as exc:
            client(srv).chat.completions.create(model="test-model", messages=MSG, response_format=schema_format())
        assert exc.value.param == "response_format"
        assert "json_schema is not supported" in exc.value.message
        assert len(srv.requests) == 1  # rejected requests are recorded too
        # json_object still works, if the prompt says "JSON"
        resp = client(srv).chat.completions.create(
            model="test-model",
            messages=[{"role": "system", "content": "Reply in JSON."}, *MSG],
            response_format={"type": "json_object"},
        )
        assert json.loads(resp.choices[0].message.content) == {}


def test_json_object_requires_word_json(server):
    with pytest.raises(openai.BadRequestError) as exc:
        client(server).chat.completions.create(
            model="test-model", messages=MSG, response_format={"type": "json_object"}
        )
    assert "must contain the word 'json'" in exc.value.message


def test_malformed_requests(server):
    c = client(server)
    with pytest.raises(openai.BadRequestError) as exc:
        c.chat.completions.create(model="test-model", messages=[])
    assert exc.value.param == "messages"
    with pytest.raises(openai.BadRequestError) as exc:
        c.chat.completions.create(model="test-model", messages=[{"role": "robot", "content": "x"}])
    assert exc.value.param == "messages"
    with pytest.raises(openai.BadRequestError) as exc:
        c.chat.completions.create(model="test-model", messages=MSG, response_format={"type": "xml"})
    assert exc.value.param == "response_format"
    with pytest.raises(openai.BadRequestError) as exc:
        c.chat.completions.create(model="test-model", messages=MSG, stream=True)
    assert "streaming not supported" in exc.value.message


def test_wrong_key(server):
    with pytest.raises(openai.AuthenticationError) as exc:
        client(server, api_key="sk-wrong").chat.completions.create(model="test-model", messages=MSG)
    assert exc.value.code == "invalid_api_key"
    assert "sk-***" in exc.value.message and "wrong" not in exc.value.message


def test_unknown_model(server):
    with pytest.raises(openai.NotFoundError) as exc:
        client(server).chat.completions.create(model="gpt-nope", messages=MSG)
    assert exc.value.code == "model_not_found"
    assert "`gpt-nope` does not exist" in exc.value.message


def test_429_is_retried(server):
    server.fault(Fault("status", status=429, headers={"retry-after": "0"}))
    resp = client(server, max_retries=1).chat.completions.create(model="test-model", messages=MSG)
    assert resp.choices[0].message.content == "{}"
    assert len(server.requests) == 2 and server.pending_faults == 0


def test_status_fault_without_retries(server):
    server.fault(Fault("status", status=503))
    with pytest.raises(openai.InternalServerError) as exc:
        client(server).chat.completions.create(model="test-model", messages=MSG)
    assert exc.value.status_code == 503 and exc.value.type == "server_error"
    assert exc.value.request_id


def test_content_faults(server):
    c = client(server)
    server.fault(Fault("truncate"), Fault("invalid_json"), Fault("empty"))
    fmt = schema_format()
    full = json.dumps(schema_instance(SCHEMA))
    r = c.chat.completions.create(model="test-model", messages=MSG, response_format=fmt)
    assert r.choices[0].finish_reason == "length"
    assert r.choices[0].message.content == full[: len(full) // 2]
    r = c.chat.completions.create(model="test-model", messages=MSG, response_format=fmt)
    assert r.choices[0].message.content == "Sure! Here is the analysis: {not json"
    r = c.chat.completions.create(model="test-model", messages=MSG, response_format=fmt)
    assert r.choices[0].message.content == "" and r.choices[0].finish_reason == "stop"
    r = c.chat.completions.create(model="test-model", messages=MSG, response_format=fmt)
    assert r.choices[0].message.content == full


def test_drop_fault(server):
    server.fault(Fault("drop"))
    with pytest.raises(openai.APIConnectionError):
        client(server).chat.completions.create(model="test-model", messages=MSG)
    # next request on a fresh connection works
    assert client(server).chat.completions.create(model="test-model", messages=MSG).choices


def test_timeout_fault(server):
    server.fault(Fault("timeout", delay=5))
    start = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        client(server, timeout=0.2).chat.completions.create(model="test-model", messages=MSG)
    assert time.monotonic() - start < 2


def test_latency_concurrency():
    with OpenAIServer(latency=0.3) as srv:
        c = client(srv)
        barrier = threading.Barrier(4)
        errors: list[BaseException] = []

        def work():
            try:
                barrier.wait()
                c.chat.completions.create(model="test-model", messages=MSG)
            except BaseException as exc:  # pragma: no cover
                errors.append(exc)

        threads = [threading.Thread(target=work) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        deadline = time.monotonic() + 2  # the server counts a request done just after its answer is sent
        while srv.in_flight and time.monotonic() < deadline:
            time.sleep(0.01)
        assert srv.max_in_flight == 4 and srv.in_flight == 0
        assert len(srv.requests) == 4


def test_raw_http_shapes(server):
    r = requests.get(server.url + "/v1/models", headers={"Authorization": "Bearer test-key"}, timeout=5)
    assert r.json()["data"][0] == {"id": "test-model", "object": "model", "created": 1700000000, "owned_by": "local"}
    r = requests.post(server.url + "/v1/chat/completions", data="{nope", timeout=5,
                      headers={"Authorization": "Bearer test-key", "Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"
    r = requests.post(server.url + "/v1/chat/completions", json={"model": "test-model", "messages": MSG}, timeout=5)
    assert r.status_code == 401 and r.json()["error"]["code"] is None
    r = requests.get(server.url + "/v1/nothing", timeout=5)
    assert r.status_code == 404 and "error" in r.json()
    assert r.headers["x-request-id"]


def test_schema_instance_edge_cases():
    assert schema_instance({"type": "string", "maxLength": 1}) == "o"
    assert schema_instance({"type": "number", "exclusiveMinimum": 0}) == 1
    assert schema_instance({"type": "array", "items": {"type": "integer"}, "maxItems": 0}) == []
    assert schema_instance({"type": "array", "items": {"enum": ["a", "b"]}, "minItems": 2, "uniqueItems": True}) == ["a", "b"]
    tree = {"$ref": "#/definitions/node", "definitions": {"node": {
        "type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#/definitions/node"}}},
        "required": ["children"]}}}
    out = schema_instance(tree)  # recursive schema terminates
    assert isinstance(out["children"], list)
    assert schema_instance({"allOf": [{"properties": {"a": {"type": "integer"}}}, {"required": ["a"]}]}) == {"a": 0}


def test_sdk_parse_helper_with_pydantic(server):
    from typing import Literal, Optional

    from pydantic import BaseModel

    class File(BaseModel):
        path: str
        change: Literal["added", "modified"]

    class Analysis(BaseModel):
        summary: str
        files: list[File]
        note: Optional[str]

    r = client(server).chat.completions.parse(model="test-model", messages=MSG, response_format=Analysis)
    parsed = r.choices[0].message.parsed
    assert parsed is not None and parsed.files[0].change == "added"
    server.fault(Fault("truncate"))
    with pytest.raises(openai.LengthFinishReasonError):
        client(server).chat.completions.parse(model="test-model", messages=MSG, response_format=Analysis)
