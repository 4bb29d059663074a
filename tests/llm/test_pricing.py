"""Cost estimates from the price table, LOOPDESK_PRICES and explicit prices."""

from __future__ import annotations

import pytest

from engine.llm.pricing import ESTIMATED_PRICES, estimate_cost, price_table


def test_known_model_cost() -> None:
    # gpt-4o-mini: 0.15 USD per 1M input, 0.60 USD per 1M output tokens.
    assert estimate_cost("gpt-4o-mini", 1_000_000, 1_000_000, prices={}) == pytest.approx(0.75)
    assert estimate_cost("gpt-4o", 1000, 500) == pytest.approx((1000 * 2.5 + 500 * 10) / 1e6)


def test_dated_snapshot_uses_its_family_price() -> None:
    assert estimate_cost("gpt-4o-mini-2024-07-18", 1_000_000, 0) == pytest.approx(0.15)
    assert estimate_cost("gpt-4.1-nano-2025-04-14", 1_000_000, 0) == pytest.approx(0.10)


def test_unknown_model_costs_nothing() -> None:
    assert estimate_cost("llama3.1:8b", 10_000, 10_000) == 0.0


def test_prices_argument_overrides_and_extends_the_table() -> None:
    prices = {"gpt-4o": (1.0, 2.0), "llama3.1": (0.5, 0.5)}

    assert estimate_cost("gpt-4o", 1_000_000, 1_000_000, prices=prices) == pytest.approx(3.0)
    assert estimate_cost("llama3.1", 2_000_000, 0, prices=prices) == pytest.approx(1.0)


def test_env_var_overrides_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOPDESK_PRICES", '{"gpt-4o": [5, 20], "my-model": [1, 1]}')

    assert estimate_cost("gpt-4o", 1_000_000, 1_000_000) == pytest.approx(25.0)
    assert estimate_cost("my-model", 1_000_000, 0) == pytest.approx(1.0)
    assert estimate_cost("gpt-4o-mini", 1_000_000, 0) == pytest.approx(0.15)


def test_broken_env_var_is_ignored_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    table = price_table(env={"LOOPDESK_PRICES": "{not json"})

    assert table == ESTIMATED_PRICES
    assert "LOOPDESK_PRICES is ignored" in caplog.text


def test_table_covers_common_models() -> None:
    for model in ["gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano"]:
        assert model in ESTIMATED_PRICES
    for model in ["o3-mini", "gpt-5", "gpt-5-mini"]:
        assert model in ESTIMATED_PRICES
