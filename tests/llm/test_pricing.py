"""Costs from the maintained price table, overrides, cached tokens, and unpriced models."""

from __future__ import annotations

import logging

import pytest

from engine.llm.pricing import cost_of, price_overrides

NO_ENV: dict[str, str] = {}


def test_openai_models_are_priced_from_the_maintained_table() -> None:
    cost = cost_of("gpt-4o-mini", 1_000_000, 1_000_000, on_openai=True, overrides={})
    assert cost == pytest.approx(0.15 + 0.60)
    # a dated snapshot costs what its model costs
    snapshot = cost_of("gpt-4o-mini-2024-07-18", 1_000_000, 0, on_openai=True, overrides={})
    assert snapshot == pytest.approx(0.15)


def test_cached_input_tokens_are_priced_as_cached() -> None:
    fresh = cost_of("gpt-4o-mini", 1_000_000, 0, on_openai=True, overrides={})
    half_cached = cost_of("gpt-4o-mini", 1_000_000, 0, cached_tokens=500_000, on_openai=True, overrides={})
    assert fresh is not None and half_cached is not None
    assert half_cached < fresh  # the cached half costs less than fresh input
    assert half_cached == pytest.approx(0.5 * 0.15 + 0.5 * 0.075)


def test_an_unknown_model_is_unpriced_not_free() -> None:
    assert cost_of("smollm2-135m-instruct", 10_000, 10_000, overrides={}) is None
    assert cost_of("my-gateway-alias", 10_000, 10_000, overrides={}) is None


def test_tokens_not_reported_leave_the_cost_unknown() -> None:
    assert cost_of("gpt-4o-mini", None, None, on_openai=True, overrides={}) is None


def test_overrides_win_and_a_star_declares_a_server_free() -> None:
    overrides = price_overrides(env={"LOOPDESK_PRICES": '{"gpt-4o": [1, 2], "*": [0, 0]}'})
    assert cost_of("gpt-4o", 1_000_000, 1_000_000, on_openai=True, overrides=overrides) == pytest.approx(3.0)
    assert cost_of("gpt-4o-2024-08-06", 1_000_000, 0, overrides=overrides) == pytest.approx(1.0)
    assert cost_of("llama3.1:8b", 50_000, 50_000, overrides=overrides) == 0.0  # declared free
    # a cached-input price of its own
    own = price_overrides({"house-model": [2, 4, 0.5]}, env=NO_ENV)
    assert cost_of("house-model", 1_000_000, 0, cached_tokens=1_000_000, overrides=own) == pytest.approx(0.5)
    # the argument wins over the environment
    both = price_overrides({"gpt-4o": [5, 5]}, env={"LOOPDESK_PRICES": '{"gpt-4o": [1, 2]}'})
    assert both["gpt-4o"] == (5.0, 5.0, None)


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", '{"gpt-4o": [1]}', '{"gpt-4o": [-1, 2]}'])
def test_a_broken_prices_setting_is_ignored_with_a_warning(
    raw: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        assert price_overrides(env={"LOOPDESK_PRICES": raw}) == {}
    assert "LOOPDESK_PRICES is ignored" in caplog.text
