"""The LLM analyser: any OpenAI-compatible endpoint through the openai SDK, validated and grounding-checked.

Structured output is asked for as a JSON schema where the server supports it, else JSON mode, else plain text
that is parsed; a 400 that rejects `response_format` moves to the next mode once, and the mode is remembered
per endpoint and model. A cut-off answer (finish_reason "length") is never used.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import openai
from pydantic import ValidationError

from digest.analysis import budget, grounding, prompts
from digest.errors import LLMUnavailable
from digest.models import Analysis, Commit

log = logging.getLogger(__name__)

MODES = ("json_schema", "json_object", "text")
_THINK = re.compile(r"<think>.*?</think>", re.S)
_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.S)


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
    breaker_after: int = 3  # consecutive connection failures before the endpoint is skipped for this run

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


class _Rejected(Exception):
    """The server refused the response_format of this mode."""


class LLMAnalyser:
    def __init__(self, config: LLMConfig, modes: dict[str, str] | None = None,
                 client: openai.OpenAI | None = None) -> None:
        self.config = config
        self.client = client or openai.OpenAI(
            base_url=config.base_url, api_key=config.api_key, timeout=config.timeout,
            max_retries=config.max_retries,
        )
        self._modes = dict(modes or {})  # model -> the mode that endpoint accepts
        self._lock = threading.Lock()
        self._failures = 0

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

    @property
    def models(self) -> list[str]:
        return [m for m in (self.config.model, self.config.fallback_model) if m]

    def analyse(self, commit: Commit, prior: Analysis, depth: str, lang: str) -> LLMResult:
        """A validated analysis, or LLMUnavailable with a reason that is safe to show."""
        with self._lock:
            if self._failures >= self.config.breaker_after:
                raise LLMUnavailable(f"{self.config.endpoint} unreachable ({self._failures} failures in a row)")
        selection = budget.select(commit, self._limits(depth)[0])
        errors: list[str] = []
        for model in self.models:
            started = time.monotonic()
            try:
                answer, mode, usage = self._ask(model, commit, prior, selection, depth, lang)
            except LLMUnavailable as err:
                errors.append(str(err))
                continue
            except Exception as err:  # an answer the SDK or we could not read: a fallback, not a lost analysis
                log.warning("%s: unexpected answer from %s", model, self.config.endpoint, exc_info=True)
                errors.append(f"{model} gave an unreadable answer ({type(err).__name__})")
                continue
            with self._lock:
                self._failures = 0
            analysis = Analysis(
                **answer.model_dump(),
                depth=depth,  # type: ignore[arg-type]
                source="llm",
                model=model,
                lang=lang,  # type: ignore[arg-type]
                tokens_in=usage[0],
                tokens_out=usage[1],
                read_files=selection.read_files,
                skipped_files=selection.skipped,
            )
            checked = grounding.check(analysis, commit, selection.text)
            return LLMResult(analysis.model_copy(update={"grounding": checked}), mode, time.monotonic() - started)
        raise LLMUnavailable("; ".join(errors))

    def _ask(self, model: str, commit: Commit, prior: Analysis, selection: budget.DiffSelection, depth: str,
             lang: str) -> tuple[prompts.BriefAnswer, str, tuple[int, int]]:
        mode = self.mode_for(model)
        max_tokens = first_max_tokens = self._limits(depth)[1]
        user = prompts.user_prompt(commit, prior, selection)
        repair: str | None = None
        tokens_in = tokens_out = 0
        for attempt in range(4):  # mode changes, one length retry, one repair retry
            messages = [
                {"role": "system", "content": prompts.system_prompt(lang, depth, with_schema=mode != "json_schema")},
                {"role": "user", "content": user},
            ]
            if repair:
                messages.append({"role": "user", "content": repair})
            try:
                content, finish, usage = self._complete(model, messages, mode, depth, max_tokens)
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
                return parse_answer(content, depth), mode, (tokens_in, tokens_out)
            except ValueError as err:
                if repair:
                    raise LLMUnavailable(f"{model} gave no valid analysis: {err}") from None
                repair = (f"Your answer was not a valid JSON object for the schema ({err}). Answer again with only "
                          "the corrected JSON object.")
        raise LLMUnavailable(f"{model} gave no usable analysis")

    def _complete(self, model: str, messages: list[dict], mode: str, depth: str,
                  max_tokens: int) -> tuple[str, str | None, tuple[int, int]]:
        extra: dict = {}
        if mode == "json_schema":
            extra["response_format"] = {"type": "json_schema", "json_schema": {
                "name": f"commit_analysis_{depth}", "schema": prompts.answer_schema(depth)}}
        elif mode == "json_object":
            extra["response_format"] = {"type": "json_object"}
        try:
            response = self.client.chat.completions.create(
                model=model, messages=messages, max_tokens=max_tokens, temperature=0.2, **extra)  # type: ignore[arg-type]
        except openai.BadRequestError as err:
            if mode != "text" and _rejects_format(err):
                raise _Rejected() from None
            raise LLMUnavailable(f"{model}: request rejected (400)") from None
        except (openai.APITimeoutError, openai.APIConnectionError) as err:
            with self._lock:
                self._failures += 1
            kind = "timed out" if isinstance(err, openai.APITimeoutError) else "connection failed"
            raise LLMUnavailable(f"{self.config.endpoint} {kind}") from None
        except openai.AuthenticationError:
            raise LLMUnavailable(f"{self.config.endpoint} rejected the API key (401): check LLM_API_KEY") from None
        except openai.NotFoundError:
            raise LLMUnavailable(f"model {model} not found at {self.config.endpoint} (404)") from None
        except openai.RateLimitError:
            raise LLMUnavailable(f"{self.config.endpoint} rate limited (429) after retries") from None
        except openai.APIStatusError as err:
            raise LLMUnavailable(f"{self.config.endpoint} answered HTTP {err.status_code}") from None
        choices = getattr(response, "choices", None)
        if not isinstance(choices, list) or not choices or getattr(choices[0], "message", None) is None:
            raise LLMUnavailable(f"{model} returned no answer (not a chat completion)")
        choice = choices[0]
        content = choice.message.content or ""
        usage = getattr(response, "usage", None)
        tokens = (
            getattr(usage, "prompt_tokens", None) or sum(budget.estimate_tokens(str(m["content"])) for m in messages),
            getattr(usage, "completion_tokens", None) or budget.estimate_tokens(content),
        )
        return content, choice.finish_reason, tokens


def _rejects_format(err: openai.BadRequestError) -> bool:
    body = err.body if isinstance(err.body, dict) else {}
    text = f"{err.message} {json.dumps(body)}".lower()
    return getattr(err, "param", None) == "response_format" or any(
        word in text for word in ("response_format", "json_schema", "json_object", "guided", "structured"))


def parse_answer(content: str, depth: str) -> prompts.BriefAnswer:
    """The JSON object in `content` (fences and <think> blocks removed), validated; ValueError otherwise."""
    text = _FENCE.sub("", _THINK.sub("", content).strip()).strip()
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
