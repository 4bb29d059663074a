"""The provider interface AI steps call; implementations live beside this module."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

ProviderKind = Literal["openai", "compatible", "demo"]


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


@dataclass(frozen=True)
class LLMResponse:
    """What a provider answered, with usage for cost accounting."""

    text: str
    provider: ProviderKind
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    demo: bool = False


class LLMProvider(Protocol):
    """Anything that can answer an LLMRequest."""

    kind: ProviderKind

    def complete(self, request: LLMRequest) -> LLMResponse:
        """Answer the request or raise LLMError with a message a non-engineer understands."""
        ...


class LLMError(Exception):
    """An AI call failed; the message is shown to users as the step's error."""
