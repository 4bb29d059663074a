"""OpenAI (and OpenAI-compatible) Chat Completions provider built on the official client.

Retries and timeouts are the client's own (`max_retries`, `timeout`); this module only
configures them, counts the attempts for the error message, and turns the client's
exceptions into `LLMError`s a non-engineer can act on. The API key never appears in a
message, a repr or a chained exception.
"""

from __future__ import annotations

import re
import threading
import time
from typing import cast
from urllib.parse import urlsplit

import openai
from openai.types.chat import ChatCompletion, ChatCompletionMessageParam
from openai.types.chat.completion_create_params import ResponseFormat

from engine.llm.base import LLMError, LLMRequest, LLMResponse, ProviderKind

OPENAI_BASE_URL = "https://api.openai.com/v1"
RETRY_LATER = "retry the run later."
_REASONING_MODEL = re.compile(r"^(o\d|gpt-5)")


class OpenAIProvider:
    """Answers LLMRequests through `openai.OpenAI` Chat Completions."""

    kind: ProviderKind

    def __init__(
        self,
        api_key: str,
        base_url: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
    ) -> None:
        if not api_key:
            raise ValueError("OpenAIProvider needs a non-empty API key")
        if timeout <= 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, got {max_retries}")
        self.base_url = (base_url or OPENAI_BASE_URL).rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.kind = "openai" if _is_openai_host(self.base_url) else "compatible"
        self._attempts = threading.local()
        self._client = openai.OpenAI(
            api_key=api_key,
            base_url=self.base_url,
            timeout=timeout,
            max_retries=max_retries,
            http_client=openai.DefaultHttpxClient(
                event_hooks={"request": [self._count_attempt]},
            ),
        )

    def __repr__(self) -> str:
        """Describe the provider without its API key."""
        return (
            f"OpenAIProvider(kind={self.kind!r}, base_url={self.display_url!r}, "
            f"timeout={self.timeout}, max_retries={self.max_retries})"
        )

    def complete(self, request: LLMRequest) -> LLMResponse:
        """Send one chat completion; raise LLMError once the client's retries are used up."""
        self._attempts.count = 0
        started = time.perf_counter()
        try:
            completion = self._create(request)
        except openai.OpenAIError as err:
            # `from None`: the client's exception may quote the server, which may echo the key.
            raise LLMError(self._redact(self._explain(err, request))) from None
        latency_ms = (time.perf_counter() - started) * 1000
        try:
            return self._answer(completion, request, latency_ms)
        except (AttributeError, IndexError, TypeError):
            raise LLMError(
                f"The AI service at {self._host} sent a reply that is not a chat completion; "
                "check that OPENAI_BASE_URL points at an OpenAI-compatible /v1 endpoint."
            ) from None

    def close(self) -> None:
        """Release the client's pooled connections."""
        self._client.close()

    def _create(self, request: LLMRequest) -> ChatCompletion:
        # OpenAI renamed `max_tokens` to `max_completion_tokens` (required by reasoning
        # models); many OpenAI-compatible servers still only understand `max_tokens`.
        new_name = self.kind == "openai"
        limit = request.max_tokens or openai.omit
        temperature = request.temperature if _accepts_temperature(request.model) else openai.omit
        return self._client.chat.completions.create(
            model=request.model,
            messages=cast(list[ChatCompletionMessageParam], request.messages),
            temperature=temperature,
            max_completion_tokens=limit if new_name else openai.omit,
            max_tokens=openai.omit if new_name else limit,
            response_format=_response_format(request),
        )

    def _answer(self, reply: ChatCompletion, request: LLMRequest, latency_ms: float) -> LLMResponse:
        if not reply.choices:
            raise LLMError("The AI service returned no answer; retry the run.")
        choice = reply.choices[0]
        content, refusal = choice.message.content, choice.message.refusal
        if not content and refusal:
            raise LLMError(f"The AI declined to answer: {self._redact(refusal)}")
        if not content and choice.finish_reason == "length":
            raise LLMError(
                f"The AI used up the step's max tokens ({request.max_tokens}) before answering; "
                "raise the step's max tokens."
            )
        if not content or not content.strip():
            raise LLMError("The AI service returned an empty answer; retry the run.")
        usage = reply.usage
        return LLMResponse(
            text=content,
            provider=self.kind,
            model=reply.model or request.model,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
            latency_ms=latency_ms,
        )

    @property
    def display_url(self) -> str:
        """The base URL without any `user:password@` part, safe to show."""
        parts = urlsplit(self.base_url)
        return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()

    @property
    def _host(self) -> str:
        return urlsplit(self.display_url).netloc

    def _count_attempt(self, _request: object) -> None:
        self._attempts.count = getattr(self._attempts, "count", 0) + 1

    def _explain(self, err: openai.OpenAIError, request: LLMRequest) -> str:
        tries = _times(max(1, getattr(self._attempts, "count", 1)))
        if isinstance(err, openai.APITimeoutError):
            return (
                f"The AI service did not answer within {self.timeout:g} s (tried {tries}); "
                "retry the run later, or raise LOOPDESK_AI_TIMEOUT."
            )
        if isinstance(err, openai.APIConnectionError):
            hint = (
                "check the internet connection"
                if self.kind == "openai"
                else "check OPENAI_BASE_URL and that the server is running"
            )
            return f"Could not reach the AI service at {self._host} (tried {tries}); {hint}."
        if isinstance(err, openai.APIStatusError):
            return _explain_status(err, request.model, tries, self._host)
        problem = type(err).__name__
        return f"The AI service sent a reply Loopdesk could not read ({problem}); {RETRY_LATER}"

    def _redact(self, text: str) -> str:
        key = self._client.api_key
        return text.replace(key, "[API key hidden]") if key else text


def _explain_status(err: openai.APIStatusError, model: str, tries: str, host: str) -> str:
    status = err.status_code
    detail = _server_detail(err)
    if status == 401:
        return (
            "The AI service rejected the API key (HTTP 401); check OPENAI_API_KEY "
            "in the environment or the Streamlit secrets."
        )
    if status == 403:
        return (
            f"The AI service refused this API key access to model '{model}' (HTTP 403); "
            "check the key's permissions or choose another model."
        )
    if status == 404:
        return (
            f"The AI service at {host} does not know model '{model}' (HTTP 404); "
            "check the step's model name and OPENAI_BASE_URL."
        )
    if status == 429 and err.code == "insufficient_quota":
        return (
            "The AI account has run out of credit (HTTP 429 insufficient_quota); "
            "add credit or use another API key, then retry the run."
        )
    if status == 429:
        return f"The AI service refused {tries} with 'rate limited' (HTTP 429); {RETRY_LATER}"
    if status >= 500:
        return f"The AI service failed {tries} with a server error (HTTP {status}); {RETRY_LATER}"
    if status in (400, 422):
        return f"The AI service rejected the request (HTTP {status}): {detail}"
    return f"The AI service answered HTTP {status} (tried {tries}): {detail}"


def _server_detail(err: openai.APIStatusError) -> str:
    body = err.body
    message = body.get("message") if isinstance(body, dict) else body
    text = " ".join(str(message or "no details given").split())
    return text if len(text) <= 300 else text[:299] + "…"


def _response_format(request: LLMRequest) -> ResponseFormat | openai.Omit:
    if request.output_kind == "text" or request.json_schema is None:
        return openai.omit
    return {
        "type": "json_schema",
        "json_schema": {
            "name": f"loopdesk_{request.output_kind}",
            "schema": request.json_schema,
            "strict": True,
        },
    }


def _accepts_temperature(model: str) -> bool:
    # o-series and GPT-5 reasoning models reject any temperature but the default.
    return not _REASONING_MODEL.match(model) or "chat" in model


def _is_openai_host(base_url: str) -> bool:
    host = (urlsplit(base_url).hostname or "").lower()
    return host == "api.openai.com" or host.endswith(".api.openai.com")


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count} times"
