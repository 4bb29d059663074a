"""AI providers: the interface (base), OpenAI and compatible servers, and the offline demo model.

Only the interface is re-exported here so that importing it stays cheap; import
`engine.llm.factory.provider_from_settings` to get a provider.
"""

from engine.llm.base import LLMError, LLMProvider, LLMRequest, LLMResponse, ProviderKind

__all__ = ["LLMError", "LLMProvider", "LLMRequest", "LLMResponse", "ProviderKind"]
