"""Choose the AI provider from settings: OpenAI (or compatible) with a key, else the demo model.

Settings are read from the environment first, then from a secrets mapping the caller
passes in (the app passes `st.secrets`; this module never imports Streamlit):

- `OPENAI_API_KEY`: switches real AI calls on.
- `OPENAI_BASE_URL`: any OpenAI-compatible server, e.g. `http://localhost:11434/v1`; set alone
  (no key), the server is used with a placeholder key, which Ollama, vLLM and llama.cpp ignore.
  With neither set, the offline demo model answers.
- `LOOPDESK_AI_TIMEOUT`: seconds to wait for one answer (default 60).
- `LOOPDESK_AI_RETRIES`: extra attempts after a rate limit, server error or timeout (default 3).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

from engine.llm.base import LLMError, LLMProvider
from engine.llm.demo import DemoProvider
from engine.llm.openai_provider import PLACEHOLDER_KEY, OpenAIProvider

DEFAULT_TIMEOUT = 60.0
DEFAULT_RETRIES = 3


def provider_from_settings(
    env: Mapping[str, str] | None = None, secrets: Mapping[str, Any] | None = None
) -> LLMProvider:
    """Build the provider the settings ask for; the demo model when neither an API key nor a
    server is set."""
    settings = _Settings(os.environ if env is None else env, secrets or {})
    api_key = settings.get("OPENAI_API_KEY")
    base_url = settings.get("OPENAI_BASE_URL")
    if not api_key and not base_url:
        return DemoProvider()
    timeout = settings.number("LOOPDESK_AI_TIMEOUT", DEFAULT_TIMEOUT, minimum=0.1)
    retries = settings.number("LOOPDESK_AI_RETRIES", DEFAULT_RETRIES, minimum=0, whole=True)
    return OpenAIProvider(
        api_key=api_key or PLACEHOLDER_KEY,
        base_url=base_url or None,
        timeout=timeout,
        max_retries=int(retries),
    )


def describe_provider(provider: LLMProvider) -> str:
    """Say in one line which AI answers, for the UI; never includes the API key."""
    if provider.kind == "demo":
        return "Offline demo model (no API key set)"
    if isinstance(provider, OpenAIProvider) and provider.kind == "compatible":
        keyless = " (no API key)" if provider.keyless else ""
        return f"OpenAI-compatible server at {provider.display_url}{keyless}"
    if provider.kind == "compatible":
        return "OpenAI-compatible server"
    return "OpenAI"


class _Settings:
    """Looks a name up in the environment, then in the secrets mapping."""

    def __init__(self, env: Mapping[str, str], secrets: Mapping[str, Any]) -> None:
        self._env = env
        self._secrets = secrets

    def get(self, name: str) -> str:
        """The setting's value, stripped; empty when it is set nowhere."""
        value = self._env.get(name)
        if value is None or not str(value).strip():
            value = self._secrets.get(name)
        return str(value).strip() if value is not None else ""

    def number(self, name: str, default: float, minimum: float, whole: bool = False) -> float:
        """The setting as a number, or LLMError naming the setting when it is not one."""
        raw = self.get(name)
        if not raw:
            return default
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < minimum or (whole and not value.is_integer()):
            kind = "a whole number" if whole else "a number"
            raise LLMError(f"{name} must be {kind} of at least {minimum:g}, got '{raw}'.")
        return value
