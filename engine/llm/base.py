"""The provider interface AI steps call; implementations live beside this module."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

ProviderKind = Literal["openai", "compatible", "demo"]


class CallProgress(Protocol):
    """Hears how an AI call goes while it runs (the pages show it live)."""

    def attempt(self, number: int, why: str) -> None:
        """Attempt `number` (2, 3, …) starts, after `why` ("rate limited (HTTP 429)")."""
        ...

    def text(self, so_far: str) -> None:
        """The answer so far, while it streams in (the whole text each time)."""
        ...


@dataclass(frozen=True)
class LLMRequest:
    """One chat completion request, already rendered (no placeholders left)."""

    model: str
    messages: list[dict[str, str]]
    temperature: float = 0.7
    max_tokens: int | None = None
    output_kind: Literal["text", "classification", "json"] = "text"
    labels: list[str] = field(default_factory=list)
    json_schema: dict[str, Any] | None = None
    """JSON Schema the answer must satisfy for classification and json output."""
    reasoning: bool | None = None
    """Whether the model is a reasoning model (no temperature, `max_completion_tokens`); None:
    decided from its name."""


@dataclass(frozen=True)
class LLMResponse:
    """What a provider answered, with usage for cost accounting."""

    text: str
    provider: ProviderKind
    model: str
    prompt_tokens: int | None = 0
    """Input tokens (None: the server did not report usage)."""
    completion_tokens: int | None = 0
    cached_tokens: int = 0
    """Input tokens the server read from its prompt cache (part of `prompt_tokens`)."""
    latency_ms: float = 0.0
    demo: bool = False
    finish_reason: str = "stop"
    """Why the answer ended: `stop`, or `length` when the token limit cut it off."""
    notes: tuple[str, ...] = ()
    """What the provider had to adjust to get an answer (a refused parameter, a structured-output
    fallback), for the step record."""
    structured: str = ""
    """How a structured answer was asked for: json_schema, json_object or prompt ('' for text)."""
    attempts: int = 1

    @property
    def cut_off(self) -> bool:
        """Whether the token limit cut the answer off."""
        return self.finish_reason == "length"


class LLMProvider(Protocol):
    """Anything that can answer an LLMRequest."""

    kind: ProviderKind

    def complete(self, request: LLMRequest, progress: CallProgress | None = None) -> LLMResponse:
        """Answer the request or raise LLMError with a message a non-engineer understands;
        `progress` (when given) hears each new attempt and sees a text answer grow as it streams."""
        ...


class LLMError(Exception):
    """An AI call failed; the message is shown to users as the step's error.

    `response` carries the usage of a call that was answered (and paid for) but could not be
    used, so its tokens are still recorded.
    """

    def __init__(self, message: str, response: LLMResponse | None = None) -> None:
        super().__init__(message)
        self.response = response
