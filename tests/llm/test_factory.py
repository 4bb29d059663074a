"""Choosing the provider from environment and secrets, and describing it for the UI."""

from __future__ import annotations

import pytest

from engine.llm.base import LLMError
from engine.llm.demo import DemoProvider
from engine.llm.factory import describe_provider, provider_from_settings
from engine.llm.openai_provider import OpenAIProvider

KEY = "sk-factory-SECRET-abcdef"


def test_no_key_means_demo_model() -> None:
    provider = provider_from_settings(env={}, secrets={})

    assert isinstance(provider, DemoProvider)
    assert describe_provider(provider) == "Offline demo model (no API key set)"


def test_blank_key_means_demo_model() -> None:
    assert isinstance(provider_from_settings(env={"OPENAI_API_KEY": "  "}), DemoProvider)


def test_key_means_openai() -> None:
    provider = provider_from_settings(env={"OPENAI_API_KEY": KEY})

    assert isinstance(provider, OpenAIProvider)
    assert provider.kind == "openai"
    assert (provider.timeout, provider.max_retries) == (60.0, 3)
    assert describe_provider(provider) == "OpenAI"


def test_base_url_means_compatible_server() -> None:
    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": "http://localhost:11434/v1"}

    provider = provider_from_settings(env=env)

    assert provider.kind == "compatible"
    assert describe_provider(provider) == "OpenAI-compatible server at http://localhost:11434/v1"


def test_a_base_url_alone_is_used_without_a_key_and_says_so() -> None:
    provider = provider_from_settings(env={"OPENAI_BASE_URL": "http://localhost:11434/v1"})

    assert isinstance(provider, OpenAIProvider) and provider.keyless
    assert describe_provider(provider) == "OpenAI-compatible server at http://localhost:11434/v1 (no API key)"


def test_description_hides_credentials_in_the_url() -> None:
    env = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": "http://user:pw@gateway:8080/v1"}

    description = describe_provider(provider_from_settings(env=env))

    assert description == "OpenAI-compatible server at http://gateway:8080/v1"
    assert KEY not in description


def test_secrets_are_used_when_the_environment_has_no_key() -> None:
    secrets = {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": "http://vllm:8000/v1"}

    provider = provider_from_settings(env={}, secrets=secrets)

    assert isinstance(provider, OpenAIProvider)
    assert provider.base_url == "http://vllm:8000/v1"


def test_environment_wins_over_secrets() -> None:
    provider = provider_from_settings(
        env={"OPENAI_API_KEY": KEY}, secrets={"OPENAI_BASE_URL": "http://vllm:8000/v1"}
    )

    assert provider.kind == "compatible"  # base URL still comes from secrets
    provider = provider_from_settings(
        env={"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": "https://api.openai.com/v1"},
        secrets={"OPENAI_BASE_URL": "http://vllm:8000/v1"},
    )
    assert provider.kind == "openai"


def test_timeout_and_retries_settings() -> None:
    env = {"OPENAI_API_KEY": KEY, "LOOPDESK_AI_TIMEOUT": "12.5", "LOOPDESK_AI_RETRIES": "0"}

    provider = provider_from_settings(env=env)

    assert isinstance(provider, OpenAIProvider)
    assert (provider.timeout, provider.max_retries) == (12.5, 0)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LOOPDESK_AI_TIMEOUT", "soon"),
        ("LOOPDESK_AI_TIMEOUT", "0"),
        ("LOOPDESK_AI_RETRIES", "-1"),
        ("LOOPDESK_AI_RETRIES", "2.5"),
    ],
)
def test_bad_numbers_are_explained(name: str, value: str) -> None:
    expected = rf"{name} must be a (whole )?number of at least .* got '{value}'"
    with pytest.raises(LLMError, match=expected):
        provider_from_settings(env={"OPENAI_API_KEY": KEY, name: value})


def test_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert isinstance(provider_from_settings(), DemoProvider)

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    assert isinstance(provider_from_settings(), OpenAIProvider)
