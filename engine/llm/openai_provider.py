"""OpenAI (and OpenAI-compatible) Chat Completions provider built on the official client.

Servers differ: llama.cpp refuses `json_schema` answers, reasoning models refuse `temperature`
and `max_tokens`, gateways refuse `stream_options`. This provider adapts, once per server and
model for the life of the process, and says what it adjusted in the step record:

- structured answers are asked for with `json_schema`, else `json_object` with the schema in the
  prompt, else plain text with the schema in the prompt (the step validates every answer);
- a parameter the server refuses by name is renamed (`max_tokens` ↔ `max_completion_tokens`) or
  dropped (`temperature`, `stream_options`, `stream`: then the answer arrives whole), and the call is
  made again at once;
- rate limits, timeouts, lost connections and server errors are retried with backoff; a request
  the server cannot accept (bad request, unknown model, refused key) is not.

The server's own words reach the message of every failure. The `openai` package is imported on
the first call, not when Loopdesk starts, and the API key never appears in a message or repr.
"""

from __future__ import annotations

import random
import re
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from engine.llm.base import CallProgress, LLMError, LLMRequest, LLMResponse, ProviderKind

if TYPE_CHECKING:
    import openai

OPENAI_BASE_URL = "https://api.openai.com/v1"
PLACEHOLDER_KEY = "not-needed"
"""Sent as the key to a server configured without one (Ollama, vLLM and llama.cpp ignore it)."""
RETRY_LATER = "retry the run later."
_REASONING_MODEL = re.compile(r"^(?:[\w.-]+/)?(o\d|gpt-5)")
_STRUCTURED_MODES = ("json_schema", "json_object", "prompt")
_FORMAT_WORDS = re.compile(r"response_format|json_schema|json_object|structured output", re.IGNORECASE)
_REFUSAL_WORDS = re.compile(
    r"unsupported|not supported|unknown|unrecogni[sz]ed|extra (?:inputs?|fields?)|not permitted|"
    r"not allowed|invalid|does not support|unexpected",
    re.IGNORECASE,
)
_ADJUSTABLE = ("max_completion_tokens", "max_tokens", "temperature", "stream_options", "stream")
"""Parameters a server may refuse by name."""
_BACKOFF_CAP = 8.0


@dataclass
class ServerQuirks:
    """What one server and model were found to refuse, remembered for the process."""

    structured: str = "json_schema"
    token_param: str | None = None
    """`max_tokens` or `max_completion_tokens` when the server refused the other one."""
    dropped: set[str] = field(default_factory=set)
    """Parameters the server refused and is no longer sent."""


_QUIRKS: dict[tuple[str, str], ServerQuirks] = {}
"""Per (base URL, model): what that server was found to refuse, for every provider in the process."""
_QUIRKS_LOCK = threading.Lock()


class OpenAIProvider:
    """Answers LLMRequests through `openai.OpenAI` Chat Completions."""

    kind: ProviderKind

    def __init__(
        self,
        api_key: str,
        base_url: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        backoff: float = 0.5,
    ) -> None:
        if not api_key:
            raise ValueError("OpenAIProvider needs a non-empty API key (or PLACEHOLDER_KEY)")
        if timeout <= 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, got {max_retries}")
        self.base_url = (base_url or OPENAI_BASE_URL).rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.kind = "openai" if _is_openai_host(self.base_url) else "compatible"
        self._api_key = api_key
        self._client_lock = threading.Lock()
        self._client_obj: openai.OpenAI | None = None

    def __repr__(self) -> str:
        """Describe the provider without its API key."""
        return (
            f"OpenAIProvider(kind={self.kind!r}, base_url={self.display_url!r}, "
            f"timeout={self.timeout}, max_retries={self.max_retries})"
        )

    @property
    def keyless(self) -> bool:
        """Whether the server was configured without an API key."""
        return self._api_key == PLACEHOLDER_KEY

    @property
    def display_url(self) -> str:
        """The base URL without any `user:password@` part, safe to show."""
        parts = urlsplit(self.base_url)
        return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()

    def quirks(self, model: str) -> ServerQuirks:
        """What this server and model were found to refuse so far (shared by the process)."""
        with _QUIRKS_LOCK:
            return _QUIRKS.setdefault((self.base_url, model), ServerQuirks())

    def complete(self, request: LLMRequest, progress: CallProgress | None = None) -> LLMResponse:
        """Send one chat completion, adapting to what the server refuses and retrying what may
        pass later; raise LLMError saying why when no answer can be had."""
        import openai

        quirks = self.quirks(request.model)
        notes: list[str] = []
        attempts = adjustments = 0
        started = time.perf_counter()
        stream = progress is not None and request.output_kind == "text"
        while True:
            attempts += 1
            params = self._params(request, quirks, stream)
            try:
                if params.get("stream"):
                    reply = self._streamed(params, progress)
                    if reply.usage is None:
                        # llama.cpp's server, for one, counts no tokens in a stream: answers from it
                        # arrive whole from now on, so what they cost is known
                        quirks.dropped.add("stream")
                        notes.append(
                            "the server sends no token counts while streaming; this answer's tokens "
                            "are unknown, and its next answers arrive whole so they are counted"
                        )
                else:
                    reply = _Reply.of(self._client.chat.completions.create(**params))
            except openai.APIStatusError as err:
                change = self._adapt(err, request, params, quirks) if adjustments < 6 else None
                if change:
                    notes.append(change)
                    adjustments += 1
                    attempts -= 1  # an adjustment is not a retry
                    continue
                if self._retryable(err) and attempts <= self.max_retries:
                    self._pause(attempts, err.response.headers)
                    if progress is not None:
                        progress.attempt(attempts + 1, _short_reason(err))
                    continue
                message = _explain_status(err, request.model, attempts, self._host)
                raise LLMError(self._redact(message)) from None
            except (openai.APITimeoutError, openai.APIConnectionError) as err:
                if attempts <= self.max_retries:
                    self._pause(attempts, None)
                    if progress is not None:
                        timed_out = isinstance(err, openai.APITimeoutError)
                        progress.attempt(
                            attempts + 1, "no answer in time" if timed_out else "connection lost"
                        )
                    continue
                raise LLMError(self._redact(self._explain_network(err, attempts))) from None
            except openai.OpenAIError as err:
                problem = type(err).__name__
                raise LLMError(
                    f"The AI service sent a reply Loopdesk could not read ({problem}); {RETRY_LATER}"
                ) from None
            latency_ms = (time.perf_counter() - started) * 1000
            return self._answer(reply, request, quirks, notes, attempts, latency_ms)

    def close(self) -> None:
        """Release the client's pooled connections."""
        with self._client_lock:
            if self._client_obj is not None:
                self._client_obj.close()
                self._client_obj = None

    # -- the request ----------------------------------------------------------------
    @property
    def _client(self) -> openai.OpenAI:
        with self._client_lock:
            if self._client_obj is None:
                import openai  # here, not at import: most commands never call an AI

                self._client_obj = openai.OpenAI(
                    api_key=self._api_key, base_url=self.base_url, timeout=self.timeout, max_retries=0
                )
            return self._client_obj

    def _params(self, request: LLMRequest, quirks: ServerQuirks, stream: bool) -> dict[str, Any]:
        reasoning = request.reasoning if request.reasoning is not None else is_reasoning_model(request.model)
        messages = list(request.messages)
        params: dict[str, Any] = {"model": request.model}
        if not reasoning and "temperature" not in quirks.dropped:
            params["temperature"] = request.temperature
        if request.max_tokens:
            # OpenAI renamed `max_tokens` to `max_completion_tokens` (reasoning models need the
            # new name); many compatible servers still only know the old one.
            name = "max_completion_tokens" if reasoning or self.kind == "openai" else "max_tokens"
            params[quirks.token_param or name] = request.max_tokens
        if request.json_schema is not None and request.output_kind != "text":
            mode = quirks.structured
            if mode == "json_schema":
                params["response_format"] = {
                    "type": "json_schema",
                    "json_schema": {
                        "name": f"loopdesk_{request.output_kind}",
                        "schema": request.json_schema,
                        "strict": True,
                    },
                }
            else:
                messages.append({"role": "system", "content": schema_instruction(request.json_schema)})
            if mode == "json_object":
                # llama.cpp constrains its answer to `schema`; OpenAI-style servers ignore the key
                params["response_format"] = {"type": "json_object", "schema": request.json_schema}
        params["messages"] = messages
        if stream and "stream" not in quirks.dropped:
            params["stream"] = True
            if "stream_options" not in quirks.dropped:
                params["stream_options"] = {"include_usage": True}
        return params

    def _streamed(self, params: dict[str, Any], progress: CallProgress | None) -> _Reply:
        reply = _Reply()
        parts: list[str] = []
        with self._client.chat.completions.create(**params) as stream:
            for chunk in stream:
                reply.model = chunk.model or reply.model
                if chunk.usage is not None:
                    reply.usage = chunk.usage
                for choice in chunk.choices or []:
                    delta = getattr(choice.delta, "content", None)
                    if delta:
                        parts.append(delta)
                        if progress is not None:
                            progress.text("".join(parts))
                    refusal = getattr(choice.delta, "refusal", None)
                    if refusal:
                        reply.refusal = (reply.refusal or "") + refusal
                    if choice.finish_reason:
                        reply.finish_reason = choice.finish_reason
        reply.content = "".join(parts)
        reply.has_choice = True
        return reply

    # -- adapting and retrying ----------------------------------------------------------
    def _adapt(
        self, err: openai.APIStatusError, request: LLMRequest, sent: dict[str, Any], quirks: ServerQuirks
    ) -> str | None:
        """Change what is sent after a refusal that names a parameter it was `sent`; return what was
        changed (for the step record), or None when nothing can be changed."""
        if err.status_code not in (400, 404, 415, 422, 500, 501):
            return None
        detail = _server_detail(err)
        structured = request.json_schema is not None and request.output_kind != "text"
        if structured and _FORMAT_WORDS.search(detail) and quirks.structured != "prompt":
            before = quirks.structured
            quirks.structured = _STRUCTURED_MODES[_STRUCTURED_MODES.index(before) + 1]
            how = "the JSON schema in the prompt" + (
                " and `json_object`" if quirks.structured == "json_object" else ""
            )
            return f"the server does not take `{before}` answers ({_shorten(detail)}); asked with {how}"
        if not _REFUSAL_WORDS.search(detail):
            return None
        for name in _ADJUSTABLE:
            if name not in sent or not re.search(rf"(?<![\w.]){name}(?!\w)", detail):
                continue
            if name in ("max_tokens", "max_completion_tokens") and request.max_tokens:
                other = "max_completion_tokens" if name == "max_tokens" else "max_tokens"
                if quirks.token_param == other or other in quirks.dropped:
                    return None
                quirks.token_param = other
                return f"the server refused `{name}`; sent the token limit as `{other}`"
            if name in ("temperature", "stream_options", "stream") and name not in quirks.dropped:
                quirks.dropped.add(name)
                return f"the server refused `{name}`; retried without it"
        return None

    def _retryable(self, err: openai.APIStatusError) -> bool:
        if err.status_code == 429:
            return err.code != "insufficient_quota"
        if err.status_code in (408, 409) or err.status_code >= 500:
            # a server error that names a parameter or format cannot pass on the next try
            return not (_FORMAT_WORDS.search(_server_detail(err)) and err.status_code in (500, 501))
        return False

    def _pause(self, attempt: int, headers: Any) -> None:
        """Wait before the next attempt: what the server asks for, else a growing backoff."""
        wait = None
        if headers is not None:
            try:
                if headers.get("retry-after-ms"):
                    wait = float(headers["retry-after-ms"]) / 1000
                elif headers.get("retry-after"):
                    wait = float(headers["retry-after"])
            except ValueError:
                wait = None
        if wait is None or not 0 <= wait <= 60:
            wait = min(_BACKOFF_CAP, self.backoff * 2 ** (attempt - 1)) * random.uniform(0.75, 1.0)
        time.sleep(wait)

    # -- the answer ---------------------------------------------------------------------
    def _answer(
        self,
        reply: _Reply,
        request: LLMRequest,
        quirks: ServerQuirks,
        notes: list[str],
        attempts: int,
        latency_ms: float,
    ) -> LLMResponse:
        if not reply.has_choice:
            raise LLMError(
                f"The AI service at {self._host} sent a reply that is not a chat completion; "
                "check that OPENAI_BASE_URL points at an OpenAI-compatible /v1 endpoint."
            )
        usage = reply.usage
        cached = getattr(getattr(usage, "prompt_tokens_details", None), "cached_tokens", None) or 0
        response = LLMResponse(
            text=reply.content or "",
            provider=self.kind,
            model=reply.model or request.model,
            prompt_tokens=getattr(usage, "prompt_tokens", None),
            completion_tokens=getattr(usage, "completion_tokens", None),
            cached_tokens=int(cached),
            latency_ms=latency_ms,
            finish_reason=reply.finish_reason or "stop",
            notes=tuple(notes),
            structured=_structured_label(request, quirks),
            attempts=attempts,
        )
        if not reply.content and reply.refusal:
            raise LLMError(f"The AI declined to answer: {self._redact(reply.refusal)}", response)
        if reply.finish_reason == "content_filter":
            raise LLMError(
                "The AI service's content filter stopped the answer; change the prompt or the "
                "values it uses. Retrying the same request will not help.",
                response,
            )
        if not reply.content and response.cut_off:
            raise LLMError(
                f"The AI used up the step's max tokens ({request.max_tokens}) before answering; "
                "raise the step's max tokens.",
                response,
            )
        if not reply.content or not reply.content.strip():
            raise LLMError("The AI service returned an empty answer; retry the run.", response)
        return response

    @property
    def _host(self) -> str:
        return urlsplit(self.display_url).netloc

    def _explain_network(self, err: Exception, attempts: int) -> str:
        import openai

        tries = _times(attempts)
        if isinstance(err, openai.APITimeoutError):
            return (
                f"The AI service did not answer within {self.timeout:g} s (tried {tries}); "
                "retry the run later, or raise LOOPDESK_AI_TIMEOUT."
            )
        hint = (
            "check the internet connection"
            if self.kind == "openai"
            else "check OPENAI_BASE_URL and that the server is running"
        )
        return f"Could not reach the AI service at {self._host} (tried {tries}); {hint}."

    def _redact(self, text: str) -> str:
        key = self._api_key
        return text.replace(key, "[API key hidden]") if key and key != PLACEHOLDER_KEY else text


@dataclass
class _Reply:
    """The parts of a completion (whole or streamed) the provider reads."""

    content: str | None = None
    refusal: str | None = None
    finish_reason: str | None = None
    model: str = ""
    usage: Any = None
    has_choice: bool = False

    @classmethod
    def of(cls, completion: Any) -> _Reply:
        """Read a non-streamed completion (anything without choices is not one)."""
        reply = cls(model=getattr(completion, "model", "") or "", usage=getattr(completion, "usage", None))
        choices = getattr(completion, "choices", None)
        if not isinstance(choices, list):
            return reply
        if not choices:
            raise LLMError("The AI service returned no answer; retry the run.")
        message = choices[0].message
        reply.content, reply.refusal = message.content, getattr(message, "refusal", None)
        reply.finish_reason = choices[0].finish_reason
        reply.has_choice = True
        return reply


def schema_instruction(schema: dict[str, Any]) -> str:
    """What a model is told when the server cannot hold it to a JSON Schema itself."""
    import json

    return (
        "Answer with one JSON object and nothing else (no explanation, no code fence). "
        f"It must match this JSON Schema:\n{json.dumps(schema, ensure_ascii=False)}"
    )


def is_reasoning_model(model: str) -> bool:
    """Whether a model name is a known reasoning model (o1, o3, o4-mini, gpt-5…; not gpt-5-chat)."""
    return bool(_REASONING_MODEL.match(model.lower())) and "chat" not in model.lower()


def _short_reason(err: openai.APIStatusError) -> str:
    """Why an attempt is made again, in a few words."""
    if err.status_code == 429:
        return "rate limited (HTTP 429)"
    return f"server error (HTTP {err.status_code})"


def _structured_label(request: LLMRequest, quirks: ServerQuirks) -> str:
    if request.json_schema is None or request.output_kind == "text":
        return ""
    return quirks.structured


def _explain_status(err: openai.APIStatusError, model: str, attempts: int, host: str) -> str:
    status = err.status_code
    detail = _server_detail(err)
    tries = _times(attempts)
    if status == 401:
        return (
            "The AI service rejected the API key (HTTP 401); check OPENAI_API_KEY "
            f"in the environment or the Streamlit secrets. The server said: {detail}"
        )
    if status == 403:
        return (
            f"The AI service refused this API key access to model '{model}' (HTTP 403); "
            f"check the key's permissions or choose another model. The server said: {detail}"
        )
    if status == 404:
        return (
            f"The AI service at {host} does not know model '{model}' (HTTP 404); "
            f"check the step's model name and OPENAI_BASE_URL. The server said: {detail}"
        )
    if status == 429 and err.code == "insufficient_quota":
        return (
            "The AI account has run out of credit (HTTP 429 insufficient_quota); "
            f"add credit or use another API key, then retry the run. The server said: {detail}"
        )
    if status == 429:
        return f"The AI service refused {tries} with 'rate limited' (HTTP 429): {detail}; {RETRY_LATER}"
    if status >= 500:
        return f"The AI service failed {tries} with a server error (HTTP {status}): {detail}; {RETRY_LATER}"
    if status in (400, 422):
        return f"The AI service rejected the request (HTTP {status}): {detail}"
    return f"The AI service answered HTTP {status} (tried {tries}): {detail}"


_VALIDATION = re.compile(r"""'loc': \((?P<loc>[^)]*)\), 'msg': (?P<q>["'])(?P<msg>.*?)(?P=q)""")
"""One problem in a pydantic validation error as a Python-based server prints it."""


def _server_detail(err: openai.APIStatusError) -> str:
    """What the server said, in one line: its message, with validation errors as `where: what`."""
    body = err.body
    if isinstance(body, dict):
        message: Any = body.get("message") or body.get("detail") or body.get("error") or body
    else:
        message = body if body else getattr(err, "message", "")
    if isinstance(message, list):  # FastAPI: [{"loc": [...], "msg": "..."}]
        message = "; ".join(
            f"{'.'.join(str(p) for p in m.get('loc', []) if p != 'body')}: {m.get('msg', '')}"
            if isinstance(m, dict)
            else str(m)
            for m in message
        )
    text = " ".join(str(message or "no details given").split())
    problems = [f"{_where(m['loc'])}: {m['msg']}" for m in _VALIDATION.finditer(text)]
    if problems:
        text = "; ".join(problems)
    return text if len(text) <= 300 else text[:299] + "…"


def _where(loc: str) -> str:
    """`('body', 'response_format', 'type')` as `response_format.type`."""
    parts = [part.strip().strip("'\"") for part in loc.split(",")]
    return ".".join(part for part in parts if part and part != "body")


def _shorten(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _is_openai_host(base_url: str) -> bool:
    host = (urlsplit(base_url).hostname or "").lower()
    return host == "api.openai.com" or host.endswith(".api.openai.com")


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count} times"
