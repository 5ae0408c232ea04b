"""A local, standard-library-only stand-in for the OpenAI Chat Completions API.

Drive it with the real SDK::

    with OpenAIServer() as server:
        client = OpenAI(base_url=server.url + "/v1", api_key="test-key", max_retries=0)
        client.chat.completions.create(model="test-model", messages=[...])

Endpoints: ``GET /v1/models``, ``GET /v1/models/{id}``, ``POST /v1/chat/completions``.
Everything else answers 404 with an OpenAI-shaped error body.
"""

from __future__ import annotations

import json
import random
import re
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from typing import Any, Callable

from tests.servers import TrackedHandler, serve

__all__ = ["Fault", "OpenAIServer", "schema_instance"]

FAULT_KINDS = ("status", "timeout", "truncate", "invalid_json", "drop", "empty", "html", "null_usage")
INVALID_JSON_CONTENT = "Sure! Here is the analysis: {not json"
DEFAULT_TIMEOUT_DELAY = 10.0  # used by Fault("timeout") when no delay is given
VALID_ROLES = ("system", "user", "assistant", "developer")
_SCHEMA_NAME_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


@dataclass
class Fault:
    """One scripted misbehaviour for the next chat completion request."""

    # "status" | "timeout" | "truncate" | "invalid_json" | "drop" | "empty"
    # | "html" (a proxy's 200 error page) | "null_usage" (usage fields null, as some self-hosted servers send)
    kind: str
    status: int = 500  # for kind="status"
    headers: dict[str, str] | None = None  # extra response headers for kind="status"
    delay: float = 0.0  # for kind="timeout"; 0 means DEFAULT_TIMEOUT_DELAY

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {FAULT_KINDS}")


class _ApiError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body = {"error": {"message": message, "type": type, "param": param, "code": code}}
        self.headers = headers or {}


def _bad(message: str, param: str | None, code: str | None = None) -> _ApiError:
    return _ApiError(400, message, param=param, code=code)


# --------------------------------------------------------------------------- JSON schema


def schema_instance(schema: Any) -> Any:
    """Return a minimal value that validates against ``schema`` (a pragmatic subset)."""
    return _Gen(schema).make(schema, 0, 0)


class _Gen:
    MAX_DEPTH = 24

    def __init__(self, root: Any) -> None:
        self.root = root

    def resolve(self, ref: str) -> Any:
        if not ref.startswith("#"):
            raise ValueError(f"only local $ref is supported, got {ref!r}")
        node = self.root
        for part in ref[1:].lstrip("/").split("/") if ref not in ("#", "#/") else []:
            part = part.replace("~1", "/").replace("~0", "~")
            node = node[int(part)] if isinstance(node, list) else node[part]
        return node

    def make(self, schema: Any, depth: int, variant: int) -> Any:
        if schema is True or schema is None or schema == {}:
            return "ok"
        if not isinstance(schema, dict):
            return "ok"
        if depth > self.MAX_DEPTH:
            return None
        if "$ref" in schema:
            target = self.resolve(schema["$ref"])
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            if isinstance(target, dict) and rest:
                target = {**target, **rest}
            return self.make(target, depth + 1, variant)
        if "const" in schema:
            return schema["const"]
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            enum = schema["enum"]
            non_null = [e for e in enum if e is not None] or enum
            return non_null[variant % len(non_null)]
        for key in ("anyOf", "oneOf"):
            branches = schema.get(key)
            if isinstance(branches, list) and branches:
                chosen = next((b for b in branches if not _is_null_schema(b, self)), branches[0])
                rest = {k: v for k, v in schema.items() if k != key}
                if isinstance(chosen, dict) and rest:
                    chosen = _merge(rest, chosen)
                return self.make(chosen, depth + 1, variant)
        if isinstance(schema.get("allOf"), list):
            merged = {k: v for k, v in schema.items() if k != "allOf"}
            for part in schema["allOf"]:
                if isinstance(part, dict) and "$ref" in part:
                    part = self.resolve(part["$ref"])
                if isinstance(part, dict):
                    merged = _merge(merged, part)
            return self.make(merged, depth + 1, variant)

        typ = schema.get("type")
        if isinstance(typ, list):
            typ = next((t for t in typ if t != "null"), typ[0] if typ else None)
        if typ is None:
            if "properties" in schema or "required" in schema:
                typ = "object"
            elif "items" in schema or "prefixItems" in schema:
                typ = "array"
            else:
                typ = "string"

        if typ == "object":
            return self.make_object(schema, depth, variant)
        if typ == "array":
            return self.make_array(schema, depth)
        if typ == "string":
            return _make_string(schema, variant)
        if typ in ("integer", "number"):
            return _make_number(schema, typ, variant)
        if typ == "boolean":
            return False
        if typ == "null":
            return None
        return "ok"

    def make_object(self, schema: dict, depth: int, variant: int) -> dict:
        props = schema.get("properties") or {}
        required = schema.get("required") or []
        out: dict[str, Any] = {}
        for name, sub in props.items():
            if depth >= self.MAX_DEPTH // 2 and name not in required:
                continue  # keep recursive schemas finite
            out[name] = self.make(sub, depth + 1, 0)
        extra = schema.get("additionalProperties")
        for name in required:
            if name not in out:
                out[name] = self.make(extra if isinstance(extra, dict) else {}, depth + 1, 0)
        return out

    def make_array(self, schema: dict, depth: int) -> list:
        prefix = schema.get("prefixItems")
        if isinstance(prefix, list):
            return [self.make(s, depth + 1, 0) for s in prefix]
        items = schema.get("items", {})
        if isinstance(items, list):  # draft-04 tuple form
            return [self.make(s, depth + 1, 0) for s in items]
        count = max(int(schema.get("minItems", 0) or 0), 1)
        if "maxItems" in schema:
            count = min(count, int(schema["maxItems"]))
        if depth >= self.MAX_DEPTH // 2:
            count = int(schema.get("minItems", 0) or 0)
        return [self.make(items, depth + 1, i) for i in range(count)]


def _is_null_schema(schema: Any, gen: _Gen) -> bool:
    if isinstance(schema, dict) and "$ref" in schema:
        try:
            schema = gen.resolve(schema["$ref"])
        except (KeyError, IndexError, ValueError):
            return False
    return isinstance(schema, dict) and (schema.get("type") == "null" or schema.get("const", 0) is None)


def _merge(a: dict, b: dict) -> dict:
    out = {**a, **b}
    if "properties" in a or "properties" in b:
        out["properties"] = {**(a.get("properties") or {}), **(b.get("properties") or {})}
    if "required" in a or "required" in b:
        out["required"] = list(dict.fromkeys([*(a.get("required") or []), *(b.get("required") or [])]))
    return out


_FORMATS = {
    "date-time": "1970-01-01T00:00:00Z",
    "date": "1970-01-01",
    "time": "00:00:00Z",
    "email": "ok@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "uuid": "00000000-0000-0000-0000-000000000000",
    "hostname": "example.com",
    "ipv4": "127.0.0.1",
    "ipv6": "::1",
}


def _make_string(schema: dict, variant: int) -> str:
    value = _FORMATS.get(schema.get("format", ""), "ok")
    if variant:
        value = f"{value}{variant}" if value == "ok" else value
    min_len = int(schema.get("minLength", 0) or 0)
    if len(value) < min_len:
        value = value + "k" * (min_len - len(value))
    if "maxLength" in schema:
        value = value[: int(schema["maxLength"])]
    return value


def _make_number(schema: dict, typ: str, variant: int) -> int | float:
    lo = schema.get("minimum")
    xlo = schema.get("exclusiveMinimum")
    hi = schema.get("maximum")
    xhi = schema.get("exclusiveMaximum")
    if isinstance(xlo, bool):  # draft-04: boolean modifier of minimum
        xlo, lo = (lo if xlo else None), (None if xlo else lo)
    if isinstance(xhi, bool):
        xhi, hi = (hi if xhi else None), (None if xhi else hi)
    if lo is not None:
        value: float = lo
    elif xlo is not None:
        value = xlo + 1 if typ == "integer" or xlo == int(xlo) else xlo + 0.5
    else:
        value = 0
    value += variant
    if hi is not None and value > hi:
        value = hi
    if xhi is not None and value >= xhi:
        value = xhi - 1 if typ == "integer" else (value + xhi) / 2 if value < xhi else xhi - 0.5
    if typ == "integer":
        value = int(value) if value == int(value) else int(value) + 1
    return value


# --------------------------------------------------------------------------- server


def _approx_tokens(text: str) -> int:
    return (len(text) + 3) // 4


def _message_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _error_type_for(status: int) -> str:
    if status == 429:
        return "rate_limit_error"
    if status >= 500:
        return "server_error"
    return "invalid_request_error"


_STATUS_MESSAGES = {
    400: "Bad request (scripted fault).",
    401: "Incorrect API key provided (scripted fault).",
    403: "You are not allowed to make this request (scripted fault).",
    404: "Not found (scripted fault).",
    408: "Request timed out (scripted fault).",
    409: "Conflict (scripted fault).",
    429: "Rate limit reached for requests. Please try again later.",
    500: "The server had an error while processing your request. Sorry about that!",
    502: "Bad gateway.",
    503: "The engine is currently overloaded, please try again later.",
    504: "Gateway timeout.",
}
_STATUS_CODES = {429: "rate_limit_exceeded", 500: "server_error", 401: "invalid_api_key"}


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: "OpenAIServer"

    def handle_error(self, request: Any, client_address: Any) -> None:  # quiet
        pass


class _Handler(TrackedHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer
    timeout = 60


    def handle(self) -> None:
        try:
            super().handle()
        except (ConnectionError, OSError, socket.timeout):
            pass

    # -- plumbing
    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", f"req_{uuid.uuid4().hex}")
        self.send_header("openai-processing-ms", "1")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def _route(self, method: str) -> None:
        owner = self.server.owner
        body = self._read_body()
        path = self.path.split("?", 1)[0].rstrip("/")
        try:
            if method == "POST" and path == "/v1/chat/completions":
                owner._chat(self, body)
            elif method == "GET" and path == "/v1/models":
                owner._check_auth(self.headers)
                self._send_json(200, {"object": "list", "data": [owner._model_obj(m) for m in owner.models]})
            elif method == "GET" and path.startswith("/v1/models/"):
                owner._check_auth(self.headers)
                model = path[len("/v1/models/"):]
                if model not in owner.models:
                    raise owner._model_not_found(model)
                self._send_json(200, owner._model_obj(model))
            else:
                raise _ApiError(404, f"Invalid URL ({method} {path or '/'})")
        except _ApiError as err:
            self._send_json(err.status, err.body, err.headers)

    def do_GET(self) -> None:
        self._route("GET")

    def do_POST(self) -> None:
        self._route("POST")

    def do_PUT(self) -> None:
        self._route("PUT")

    def do_DELETE(self) -> None:
        self._route("DELETE")

    def do_PATCH(self) -> None:
        self._route("PATCH")


class OpenAIServer:
    """Local fake of the OpenAI Chat Completions API (see module docstring)."""

    def __init__(
        self,
        *,
        api_key: str = "test-key",
        models: tuple[str, ...] = ("test-model",),
        latency: float = 0.0,
        reject_json_schema: bool = False,
        reject_json_object: bool = False,
        responder: Callable[[dict], str] | None = None,
    ) -> None:
        self.api_key = api_key
        self.models = tuple(models)
        self.latency = latency
        self.reject_json_schema = reject_json_schema
        self.reject_json_object = reject_json_object
        self.responder = responder
        self.url = ""
        self.requests: list[dict] = []
        self.max_in_flight = 0
        self.in_flight = 0
        self.gate = threading.Event()  # cleared by hold(): chat completions wait until release()
        self.gate.set()
        self._faults: list[Fault] = []
        self._standing: Fault | None = None
        self._random: tuple[float, random.Random, tuple[Fault, ...]] | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._counter = 0
        self._conns: set[socket.socket] = set()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- public API
    def hold(self) -> None:
        """Chat completions are received (and counted in flight) but not answered until release()."""
        self.gate.clear()

    def release(self) -> None:
        self.gate.set()

    def fault(self, *faults: Fault) -> None:
        """Queue faults; each chat completion request consumes the next one."""
        for f in faults:
            if not isinstance(f, Fault):
                raise TypeError(f"expected Fault, got {f!r}")
        with self._lock:
            self._faults.extend(faults)

    def outage(self, fault: Fault | None) -> None:
        """Every request (after the queued faults) gets `fault` until `outage(None)`: a bad key, a dead upstream."""
        with self._lock:
            self._standing = fault

    def random_faults(self, rate: float, seed: int, *faults: Fault) -> None:
        """Each request fails with probability `rate` (seeded, so a run repeats), with one of `faults` in turn."""
        with self._lock:
            self._random = (rate, random.Random(seed), faults) if rate > 0 and faults else None

    @property
    def chat_requests(self) -> list[dict]:
        with self._lock:
            return list(self.requests)

    @property
    def pending_faults(self) -> int:
        with self._lock:
            return len(self._faults)

    def start(self) -> "OpenAIServer":
        if self._httpd is not None:
            return self
        self._stopping.clear()
        httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        httpd.owner = self
        self._httpd = httpd
        self.url, self._thread = serve(httpd, "fake-openai")
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()  # wakes handlers sleeping in latency / timeout faults
        httpd.shutdown()
        httpd.server_close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:  # close idle keep-alive connections
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> "OpenAIServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- internals
    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            (self._conns.add if add else self._conns.discard)(conn)

    def _model_obj(self, model: str) -> dict:
        return {"id": model, "object": "model", "created": 1700000000, "owned_by": "local"}

    def _model_not_found(self, model: str) -> _ApiError:
        return _ApiError(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            code="model_not_found",
        )

    def _check_auth(self, headers: Any) -> None:
        auth = headers.get("Authorization") or ""
        if not auth.lower().startswith("bearer ") or not auth[7:].strip():
            raise _ApiError(
                401,
                "You didn't provide an API key. You need to provide your API key in an Authorization header "
                "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                code=None,
            )
        key = auth[7:].strip()
        if key != self.api_key:
            raise _ApiError(
                401,
                f"Incorrect API key provided: {key[:3]}***. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                code="invalid_api_key",
            )

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def _chat(self, handler: _Handler, raw: bytes) -> None:
        try:
            body: Any = json.loads(raw) if raw else None
        except (ValueError, UnicodeDecodeError):
            body = None
        with self._lock:
            if isinstance(body, dict):
                self.requests.append(body)
            fault = self._faults.pop(0) if self._faults else self._standing
            if fault is None and self._random is not None:
                rate, rng, choices = self._random
                if rng.random() < rate:
                    fault = rng.choice(choices)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            self._chat_inner(handler, body, raw, fault)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _chat_inner(self, handler: _Handler, body: Any, raw: bytes, fault: Fault | None) -> None:
        if fault is not None and fault.kind == "drop":
            handler.close_connection = True
            try:
                handler.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if fault is not None and fault.kind == "html":
            page = b"<html><body><h1>502 Bad Gateway</h1>nginx</body></html>"
            handler.send_response(200)
            handler.send_header("Content-Type", "text/html")
            handler.send_header("Content-Length", str(len(page)))
            handler.end_headers()
            handler.wfile.write(page)
            return
        if fault is not None and fault.kind == "status":
            status = int(fault.status)
            raise _ApiError(
                status,
                _STATUS_MESSAGES.get(status, f"Scripted error {status}."),
                type=_error_type_for(status),
                code=_STATUS_CODES.get(status),
                headers=dict(fault.headers or {}),
            )
        if fault is not None and fault.kind == "timeout":
            self._sleep(fault.delay if fault.delay > 0 else DEFAULT_TIMEOUT_DELAY)
            if self._stopping.is_set():
                handler.close_connection = True
                return

        self._check_auth(handler.headers)
        if body is None and raw:
            raise _bad(
                "We could not parse the JSON body of your request. (HINT: This likely means you aren't using "
                "your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not "
                "valid JSON.)",
                None,
            )
        if not isinstance(body, dict):
            raise _bad("you must provide a model parameter", None)
        schema = self._validate(body)

        self._sleep(self.latency)
        while not self.gate.wait(0.05) and not self._stopping.is_set():  # held by the test: answers wait
            pass

        if self.responder is not None:
            try:
                content: Any = self.responder(body)
            except Exception as exc:  # surface responder bugs as a 500
                raise _ApiError(500, f"responder raised {type(exc).__name__}: {exc}", type="server_error")
            if not isinstance(content, str):
                content = json.dumps(content)
        elif schema is not None:
            content = json.dumps(schema_instance(schema))
        else:
            content = "{}"

        finish = "stop"
        if fault is not None:
            if fault.kind == "truncate":
                content, finish = content[: len(content) // 2], "length"
            elif fault.kind == "invalid_json":
                content = INVALID_JSON_CONTENT
            elif fault.kind == "empty":
                content = ""
        limit = body.get("max_completion_tokens", body.get("max_tokens"))
        if isinstance(limit, int) and _approx_tokens(content) > limit:
            content, finish = content[: limit * 4], "length"

        prompt_text = "".join(_message_text(m.get("content")) for m in body["messages"])
        prompt_tokens = _approx_tokens(prompt_text)
        completion_tokens = _approx_tokens(content)
        n = body.get("n") or 1
        with self._lock:
            self._counter += 1
            num = self._counter
        handler._send_json(
            200,
            {
                "id": f"chatcmpl-{num}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body["model"],
                "choices": [
                    {
                        "index": i,
                        "message": {"role": "assistant", "content": content, "refusal": None},
                        "finish_reason": finish,
                        "logprobs": None,
                    }
                    for i in range(n)
                ],
                "usage": {
                    "prompt_tokens": None, "completion_tokens": None, "total_tokens": None,
                } if fault is not None and fault.kind == "null_usage" else {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens * n,
                    "total_tokens": prompt_tokens + completion_tokens * n,
                    "prompt_tokens_details": {"cached_tokens": 0},
                    "completion_tokens_details": {"reasoning_tokens": 0},
                },
                "system_fingerprint": None,
                "service_tier": "default",
            },
        )

    def _validate(self, body: dict) -> Any:
        """Validate a chat completion request; return the json_schema schema if any."""
        model = body.get("model")
        if not model:
            raise _bad("you must provide a model parameter", None)
        if not isinstance(model, str) or model not in self.models:
            raise self._model_not_found(str(model))

        if "messages" not in body:
            raise _bad("Missing required parameter: 'messages'.", "messages", "missing_required_parameter")
        messages = body["messages"]
        if not isinstance(messages, list):
            raise _bad(f"Invalid type for 'messages': expected an array, but got {type(messages).__name__} instead.",
                       "messages", "invalid_type")
        if not messages:
            raise _bad("Invalid 'messages': empty array. Expected an array with minimum length 1, but got an "
                       "empty array instead.", "messages", "empty_array")
        for i, msg in enumerate(messages):
            if not isinstance(msg, dict):
                raise _bad(f"Invalid type for 'messages[{i}]': expected an object.", "messages", "invalid_type")
            role = msg.get("role")
            if role not in VALID_ROLES:
                raise _bad(f"Invalid value: {role!r}. Supported values are: 'system', 'assistant', 'user', "
                           f"and 'developer'.", "messages", "invalid_value")
            content = msg.get("content")
            ok = isinstance(content, str) or (
                isinstance(content, list)
                and all(isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
                        for p in content)
            )
            if not ok:
                raise _bad(f"Invalid type for 'messages[{i}].content': expected a string.", "messages",
                           "invalid_type")

        if body.get("stream"):
            raise _bad("streaming not supported by this test server", "stream")
        temperature = body.get("temperature")
        if temperature is not None and (not isinstance(temperature, (int, float)) or not 0 <= temperature <= 2):
            raise _bad(f"Invalid 'temperature': expected a number between 0 and 2, got {temperature!r}.",
                       "temperature", "invalid_value")
        for key in ("max_tokens", "max_completion_tokens"):
            val = body.get(key)
            if val is not None and (not isinstance(val, int) or isinstance(val, bool) or val < 1):
                raise _bad(f"Invalid '{key}': expected an integer >= 1, got {val!r}.", key, "invalid_value")
        n = body.get("n")
        if n is not None and (not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 128):
            raise _bad(f"Invalid 'n': expected an integer between 1 and 128, got {n!r}.", "n", "invalid_value")

        rf = body.get("response_format")
        if rf is None:
            return None
        if not isinstance(rf, dict) or rf.get("type") not in ("text", "json_object", "json_schema"):
            raise _bad("Invalid 'response_format': expected type to be one of 'text', 'json_object' or "
                       "'json_schema'.", "response_format", "invalid_value")
        kind = rf["type"]
        if kind == "json_object":
            if self.reject_json_object:
                raise _bad("response_format type json_object is not supported by this model", "response_format")
            if not any("json" in _message_text(m.get("content")).lower() for m in messages):
                raise _bad("'messages' must contain the word 'json' in some form, to use 'response_format' of "
                           "type 'json_object'.", "messages")
            return None
        if kind == "json_schema":
            js = rf.get("json_schema")
            if not isinstance(js, dict):
                raise _bad("Missing required parameter: 'response_format.json_schema'.", "response_format",
                           "missing_required_parameter")
            name = js.get("name")
            if not isinstance(name, str) or not _SCHEMA_NAME_RE.match(name):
                raise _bad("Invalid 'response_format.json_schema.name': must be 1-64 characters of a-z, A-Z, "
                           "0-9, underscores and dashes.", "response_format", "invalid_value")
            schema = js.get("schema", {})
            if not isinstance(schema, dict):
                raise _bad("Invalid 'response_format.json_schema.schema': expected an object.",
                           "response_format", "invalid_type")
            if "strict" in js and js["strict"] is not None and not isinstance(js["strict"], bool):
                raise _bad("Invalid 'response_format.json_schema.strict': expected a boolean.",
                           "response_format", "invalid_type")
            if self.reject_json_schema:
                raise _bad("response_format type json_schema is not supported by this model", "response_format")
            try:
                schema_instance(schema)
            except (KeyError, IndexError, ValueError, TypeError) as exc:
                raise _bad(f"Invalid schema for response_format '{name}': {exc}", "response_format",
                           "invalid_value")
            return schema
        return None
