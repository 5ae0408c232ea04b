"""The LLM analyser: any OpenAI-compatible endpoint through the openai SDK, validated and grounding-checked.

Structured output is asked for as a JSON schema where the server supports it, else JSON mode, else plain text
that is parsed; a 400 that rejects `response_format` moves to the next mode once, and the mode is remembered
per endpoint and model. A cut-off answer (finish_reason "length") is never used. Secrets are redacted from
everything sent. A diff too large for the budget is condensed, then summarised by map calls and analysed by one
combining call. Breakers bound the calls made during an outage and let one probe through after a pause.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar
from urllib.parse import urlsplit

import openai
from pydantic import BaseModel, ValidationError

from digest.analysis import budget, grounding, prompts
from digest.analysis.breaker import Breaker, LLMHealth, utc_now
from digest.analysis.redact import merge, redact
from core.errors import CallsPaused, LLMOutage, LLMUnavailable
from core.models import Analysis, Commit, DiffCoverage

log = logging.getLogger(__name__)

MODES = ("json_schema", "json_object", "text")


@dataclass(frozen=True)
class LLMConfig:
    base_url: str
    api_key: str
    model: str
    fallback_model: str | None = None
    timeout: float = 120.0
    max_retries: int = 2
    brief_budget: int = 6000  # diff tokens read for a brief analysis
    deep_budget: int = 24000
    brief_max_tokens: int = 1500
    deep_max_tokens: int = 6000
    breaker_after: int = 3  # failed calls in a row (timeouts, 5xx, 429 after retries) that open the breaker
    breaker_pause: float = 60.0  # seconds an open breaker waits before it lets one probe call through
    map_budget: int = 6000  # diff tokens one map call summarises
    map_max_tokens: int = 2000
    files_per_map_call: int = 50  # calls per analysis stay within 1 + ceil(files / files_per_map_call)

    @property
    def endpoint(self) -> str:
        """The endpoint without credentials or query, for logs and the mode memory."""
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{parts.hostname}{':' + str(parts.port) if parts.port else ''}{parts.path}"


@dataclass(frozen=True)
class LLMResult:
    analysis: Analysis
    mode: str
    seconds: float
    spent: tuple[int, int] = (0, 0)  # tokens (in, out) of every request made, failed and retried ones included


class _Spend:
    """Tokens one analysis cost so far, over every request it made (one thread: map calls run one after another)."""

    def __init__(self) -> None:
        self.tokens_in = self.tokens_out = 0

    def add(self, tokens_in: int, tokens_out: int) -> None:
        self.tokens_in += tokens_in
        self.tokens_out += tokens_out

    @property
    def total(self) -> tuple[int, int]:
        return self.tokens_in, self.tokens_out


class _Rejected(Exception):
    """The server refused the response_format of this mode."""


class _EndpointDown(LLMUnavailable):
    """A timeout, a refused connection, a 5xx or 429 after the SDK's retries, a proxy's page: counts to the breaker."""


class _KeyRejected(LLMUnavailable):
    """401 or 403: no call to this endpoint can work until the key is fixed."""


class _ModelMissing(LLMUnavailable):
    """404 for this model: the fallback model may still work."""


_Answer = TypeVar("_Answer", bound=BaseModel)


class LLMAnalyser:
    def __init__(self, config: LLMConfig, modes: dict[str, str] | None = None,
                 client: openai.OpenAI | None = None, clock: Callable[[], datetime] = utc_now) -> None:
        self.config = config
        self.client = client or openai.OpenAI(
            base_url=config.base_url, api_key=config.api_key, timeout=config.timeout,
            max_retries=config.max_retries,
        )
        self._modes = dict(modes or {})  # model -> the mode that endpoint accepts
        self._lock = threading.Lock()
        self._endpoint = Breaker(config.breaker_after, config.breaker_pause, clock)
        self._model_breakers = {m: Breaker(1, config.breaker_pause, clock) for m in self.models}

    def health(self) -> LLMHealth:
        """The endpoint's state for `/digest status` and outage alerts; "open" too when every model is missing."""
        endpoint = self._endpoint.health()
        down = tuple(m for m, b in self._model_breakers.items() if b.is_open)
        if endpoint.state == "ok" and down and len(down) == len(self._model_breakers):
            first = self._model_breakers[down[0]].health()
            return LLMHealth(first.state, first.since, first.last_error, first.failures, first.probe_at, down)
        return LLMHealth(endpoint.state, endpoint.since, endpoint.last_error, endpoint.failures, endpoint.probe_at,
                         down)

    def modes(self) -> dict[str, str]:
        """The structured-output mode learned for each model that needed a fallback mode."""
        with self._lock:
            return dict(self._modes)

    def mode_for(self, model: str) -> str:
        with self._lock:
            return self._modes.get(model, MODES[0])

    def _demote(self, model: str, mode: str) -> str | None:
        """The next mode after `mode`; a concurrent call that already moved further wins."""
        with self._lock:
            current = self._modes.get(model, MODES[0])
            if MODES.index(current) > MODES.index(mode):
                return current
            if MODES.index(mode) + 1 >= len(MODES):
                return None
            self._modes[model] = MODES[MODES.index(mode) + 1]
            return self._modes[model]

    def _limits(self, depth: str) -> tuple[int, int]:
        """(diff budget, answer max_tokens) for a brief or deep analysis."""
        c = self.config
        return (c.deep_budget, c.deep_max_tokens) if depth == "deep" else (c.brief_budget, c.brief_max_tokens)

    def call_size(self, depth: str) -> int:
        """The tokens one analysis's request may take at most: its diff budget and its longest answer."""
        return sum(self._limits(depth))

    @property
    def models(self) -> list[str]:
        return [m for m in (self.config.model, self.config.fallback_model) if m]

    def probe(self, model: str) -> str:
        """The first structured-output mode `model` accepts, found with one-token requests (one per mode tried);
        LLMUnavailable otherwise, with `fix_for(err)`. Nothing is remembered: `bot.py doctor` only looks."""
        messages = [{"role": "system", "content": "Answer with the JSON object {}."},
                    {"role": "user", "content": "ping"}]
        for mode in MODES:
            try:
                self._complete(model, messages, mode, "brief", 1, _Spend())
            except _Rejected:
                continue
            return mode
        raise LLMUnavailable(f"{model} rejects every structured-output mode")

    def analyse(self, commit: Commit, prior: Analysis, depth: str, lang: str) -> LLMResult:
        """A validated analysis, or LLMUnavailable with a reason that is safe to show.

        While the endpoint's breaker is open this raises at once, with no call made. The result, or the error's
        `spent`, says what every request made cost, failed ones included."""
        if not self._endpoint.admit():
            health = self._endpoint.health()
            raise CallsPaused(f"{health.last_error or self.config.endpoint + ' failing'} (calls paused)")
        spent = _Spend()
        try:
            diff_budget, _ = self._limits(depth)
            plan = budget.plan(commit, diff_budget, self.config.map_budget, self.config.files_per_map_call)
            errors: list[str] = []
            for model in self.models:
                breaker = self._model_breakers[model]
                if not breaker.admit():
                    errors.append(breaker.health().last_error or f"model {model} not found")
                    continue
                started = time.monotonic()
                try:
                    analysis, mode = self._analyse_with(model, commit, prior, plan, depth, lang, spent)
                except _KeyRejected as err:
                    self._endpoint.failure(str(err), at_once=True)
                    raise LLMOutage(str(err)) from None
                except _EndpointDown as err:
                    errors.append(str(err))
                    if self._endpoint.failure(str(err)) > 1 or self._endpoint.is_open:
                        break  # failing already: the fallback model is tried by the first failure of a run only
                    continue
                except _ModelMissing as err:
                    breaker.failure(str(err), at_once=True)
                    self._endpoint.success()  # the endpoint answered
                    errors.append(str(err))
                    continue
                except LLMUnavailable as err:  # answered, but no usable analysis: not an outage
                    breaker.success()
                    self._endpoint.success()
                    errors.append(str(err))
                    continue
                except Exception as err:  # an answer the SDK or we could not read: a fallback, not a lost analysis
                    log.warning("%s: unexpected answer from %s", model, self.config.endpoint, exc_info=True)
                    errors.append(f"{model} gave an unreadable answer ({type(err).__name__})")
                    continue
                else:  # the endpoint heard of its answers in _complete
                    breaker.success()  # told before done(): no second probe slips in between
                    return LLMResult(analysis, mode, time.monotonic() - started, spent.total)
                finally:
                    breaker.done()
            reason = "; ".join(errors) or "no model available"
            raise LLMOutage(reason) if self.health().state != "ok" else LLMUnavailable(reason)
        except LLMUnavailable as err:
            err.spent = spent.total
            raise
        finally:
            self._endpoint.done()

    def _analyse_with(self, model: str, commit: Commit, prior: Analysis, plan: budget.DiffPlan, depth: str,
                      lang: str, spent: _Spend) -> tuple[Analysis, str]:
        """Map calls for what does not fit (one after another: the service bounds calls in flight), then one call."""
        tokens = [0, 0]
        found: list[Counter[str]] = []
        summaries: list[prompts.FileSummary] = []
        for number, chunk in enumerate(plan.chunks, start=1):
            user = prompts.map_user_prompt(commit, number, len(plan.chunks), chunk.text)
            part, _, usage, secrets = self._ask(model, user, "map", lang, self.config.map_max_tokens,
                                                prompts.MapAnswer, spent)
            tokens = [tokens[0] + usage[0], tokens[1] + usage[1]]
            found.append(secrets)
            summaries += part.summaries
        user = prompts.user_prompt(commit, prior, plan.selection, summaries)
        answer, mode, usage, secrets = self._ask(model, user, depth, lang, self._limits(depth)[1],
                                                 prompts.BriefAnswer, spent)
        found.append(secrets)
        coverage = None
        if plan.chunks or plan.condensed:
            coverage = DiffCoverage(files=plan.files, read=len(plan.selection.read_files), condensed=plan.condensed,
                                    summarised=plan.summarised, generated=plan.generated, calls=plan.calls)
        analysis = Analysis(
            **answer.model_dump(),
            depth=depth,  # type: ignore[arg-type]
            source="llm",
            model=model,
            lang=lang,  # type: ignore[arg-type]
            tokens_in=tokens[0] + usage[0],
            tokens_out=tokens[1] + usage[1],
            read_files=plan.selection.read_files,
            skipped_files=plan.selection.skipped,
            redacted=merge(*found),
            diff_coverage=coverage,
        )
        return grounding.ground(analysis, commit), mode

    def _ask(self, model: str, user: str, depth: str, lang: str, first_max_tokens: int,
             expected: type[_Answer], spent: _Spend) -> tuple[_Answer, str, tuple[int, int], Counter[str]]:
        """One logical call: the prompt redacted, then mode changes, one length retry and one repair retry."""
        clean = redact(user)
        mode = self.mode_for(model)
        max_tokens = first_max_tokens
        repair: str | None = None
        tokens_in = tokens_out = 0
        for attempt in range(4):  # mode changes, one length retry, one repair retry
            system = (prompts.map_system_prompt(with_schema=mode != "json_schema") if depth == "map"
                      else prompts.system_prompt(lang, depth, with_schema=mode != "json_schema"))
            messages = [{"role": "system", "content": system}, {"role": "user", "content": clean.text}]
            if repair:
                messages.append({"role": "user", "content": repair})
            try:
                content, finish, usage = self._complete(model, messages, mode, depth, max_tokens, spent)
            except _Rejected:
                log.info("%s rejects response_format %s for %s", self.config.endpoint, mode, model)
                next_mode = self._demote(model, mode)
                if next_mode is None:
                    raise LLMUnavailable(f"{model} rejects every structured-output mode") from None
                mode = next_mode
                continue
            tokens_in, tokens_out = tokens_in + usage[0], tokens_out + usage[1]
            if finish == "length":
                if max_tokens >= 4 * first_max_tokens:
                    raise LLMUnavailable(f"{model}'s answer was cut off at {max_tokens} tokens")
                max_tokens *= 2
                continue
            try:
                parsed = parse_answer(content, depth)
            except ValueError as err:
                if repair:
                    raise LLMUnavailable(f"{model} gave no valid analysis: {err}") from None
                repair = (f"Your answer was not a valid JSON object for the schema ({err}). Answer again with only "
                          "the corrected JSON object.")
                continue
            assert isinstance(parsed, expected)
            return parsed, mode, (tokens_in, tokens_out), clean.found
        raise LLMUnavailable(f"{model} gave no usable analysis")

    def _complete(self, model: str, messages: list[dict], mode: str, depth: str, max_tokens: int,
                  spent: _Spend) -> tuple[str, str | None, tuple[int, int]]:
        """One request (and the SDK's retries of it). Its tokens go to `spent` whatever happens: the usage the
        server reports, else estimates (see _charge_failure)."""
        extra: dict = {}
        if mode == "json_schema":
            extra["response_format"] = {"type": "json_schema", "json_schema": {
                "name": f"commit_analysis_{depth}", "schema": prompts.answer_schema(depth)}}
        elif mode == "json_object":
            extra["response_format"] = {"type": "json_object"}
        prompt = sum(budget.estimate_tokens(str(m["content"])) for m in messages)
        try:
            raw = self.client.chat.completions.with_raw_response.create(
                model=model, messages=messages, max_tokens=max_tokens, temperature=0.2, **extra)  # type: ignore[arg-type]
            response = raw.parse()
        except openai.APIError as err:
            spent.add(*self._charge_failure(err, prompt, max_tokens))
            raise self._failure(err, model, mode) from None
        spent.add(raw.retries_taken * prompt, 0)  # the SDK's earlier attempts failed (5xx, 429, timeouts): no usage
        choices = getattr(response, "choices", None)
        if not isinstance(choices, list) or not choices or getattr(choices[0], "message", None) is None:
            spent.add(prompt, 0)  # a 200 without a completion: the request went through a proxy, maybe to a model
            raise _EndpointDown(f"{self.config.endpoint} returned no chat completion (a proxy's page?)")
        self._endpoint.success()  # the endpoint answers: calls held after a failure go now, not after a long map-reduce
        choice = choices[0]
        content = choice.message.content or ""
        usage = getattr(response, "usage", None)
        tokens = (
            getattr(usage, "prompt_tokens", None) or prompt,
            getattr(usage, "completion_tokens", None) or budget.estimate_tokens(content),
        )
        spent.add(*tokens)  # answered: counted as reported, even when the answer is then refused (invalid, cut off)
        return content, choice.finish_reason, tokens

    def _charge_failure(self, err: openai.APIError, prompt: int, max_tokens: int) -> tuple[int, int]:
        """Tokens to count for a request that failed with no usage reported, for each attempt the SDK made (it
        retries timeouts, dropped connections, 408, 409, 429 and 5xx: max_retries + 1 attempts in all).
        Conservative, since the caps exist to stop runaway spend: a timed-out request may still be answered and
        billed in full, so it counts its prompt and the longest answer allowed; a dropped connection or a 5xx counts
        its prompt (the server may have read it; an answer never came). A 4xx other than 408 and 409 (a 429
        included) is refused before any model reads the request and is not billed: 0."""
        attempts = self.client.max_retries + 1
        if isinstance(err, openai.APITimeoutError):
            return attempts * prompt, attempts * max_tokens
        if isinstance(err, openai.APIConnectionError):
            return attempts * prompt, 0
        if isinstance(err, openai.APIStatusError) and (err.status_code >= 500 or err.status_code in (408, 409)):
            return attempts * prompt, 0
        return 0, 0

    def _failure(self, err: openai.APIError, model: str, mode: str) -> Exception:
        """What a failed request means for the analysis: a mode to drop, an outage, a key to fix, a model missing."""
        endpoint = self.config.endpoint
        if isinstance(err, openai.BadRequestError):
            return _Rejected() if mode != "text" and _rejects_format(err) else LLMUnavailable(
                f"{model}: request rejected (400)")
        if isinstance(err, openai.APITimeoutError):
            return _EndpointDown(f"{endpoint} timed out")
        if isinstance(err, openai.APIConnectionError):
            return _EndpointDown(f"{endpoint} connection failed")
        if isinstance(err, openai.AuthenticationError):
            return _KeyRejected(f"{endpoint} answers 401 Unauthorized: check LLM_API_KEY")
        if isinstance(err, openai.PermissionDeniedError):
            return _KeyRejected(f"{endpoint} answers 403 Forbidden: check LLM_API_KEY and its access to the model")
        if isinstance(err, openai.NotFoundError):
            return _ModelMissing(f"model {model} not found at {endpoint} (404): check LLM_MODEL")
        if isinstance(err, openai.RateLimitError):
            return _EndpointDown(f"{endpoint} rate limited (429) after retries")
        if isinstance(err, openai.APIStatusError):
            if err.status_code >= 500 or err.status_code in (408, 409):
                return _EndpointDown(f"{endpoint} answered HTTP {err.status_code}")
            return LLMUnavailable(f"{endpoint} answered HTTP {err.status_code}")
        return err  # an answer the SDK could not read: the caller's fallback handles it


def fix_for(err: LLMUnavailable) -> str:
    """What the operator changes when a call fails this way."""
    if isinstance(err, _KeyRejected):
        return "set LLM_API_KEY to a key this endpoint accepts (with access to the model)"
    if isinstance(err, _ModelMissing):
        return "set LLM_MODEL (and LLM_FALLBACK_MODEL) to a model this endpoint serves"
    if isinstance(err, _EndpointDown):
        return "check LLM_BASE_URL (an OpenAI-compatible /v1 URL) and that the endpoint is up"
    return "check LLM_BASE_URL and LLM_MODEL"


def _rejects_format(err: openai.BadRequestError) -> bool:
    body = err.body if isinstance(err.body, dict) else {}
    text = f"{err.message} {json.dumps(body)}".lower()
    return getattr(err, "param", None) == "response_format" or any(
        word in text for word in ("response_format", "json_schema", "json_object", "guided", "structured"))


def _without_thinking(text: str) -> str:
    """`text` without its <think>…</think> blocks. A scan, not `<think>.*?</think>`: with no closing tag, that
    pattern read the rest of the answer from every `<think>` (quadratic in an answer the model filled with them)."""
    kept, pos = [], 0
    while (start := text.find("<think>", pos)) >= 0 and (end := text.find("</think>", start + 7)) >= 0:
        kept.append(text[pos:start])
        pos = end + len("</think>")
    return "".join(kept) + text[pos:]


def _unfenced(text: str) -> str:
    """`text` stripped of a leading ```json (or ```) and a trailing ``` fence."""
    text = text.strip()
    if text.startswith("```"):
        text = text[3:].removeprefix("json")
    return text.removesuffix("```").strip()


def parse_answer(content: str, depth: str) -> BaseModel:
    """The JSON object in `content` (fences and <think> blocks removed), validated; ValueError otherwise."""
    text = _unfenced(_without_thinking(content))
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        raise ValueError("no JSON object in the answer")
    try:
        data = json.loads(text[start : end + 1])
    except json.JSONDecodeError as err:
        raise ValueError(f"invalid JSON ({err.msg} at {err.pos})") from None
    try:
        return prompts.answer_model(depth).model_validate(data)
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in err.errors()[:5])
        raise ValueError(problems) from None
