"""Estimated cost of AI calls from token counts.

The built-in table is an ESTIMATE: list prices in USD per 1 million input and output
tokens as published by OpenAI at the time of writing. Prices change; override them with
the environment variable `LOOPDESK_PRICES`, a JSON object mapping a model name to
`[input_usd_per_million, output_usd_per_million]`, e.g.
`{"gpt-4o": [2.5, 10], "llama3.1": [0, 0]}`, or pass `prices=` to `estimate_cost`.
Later sources win: built-in table, then `LOOPDESK_PRICES`, then the `prices` argument.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping

log = logging.getLogger(__name__)

Price = tuple[float, float]
"""(input, output) in USD per 1 million tokens."""

PRICES_ENV = "LOOPDESK_PRICES"

ESTIMATED_PRICES: dict[str, Price] = {
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
    "o3": (2.00, 8.00),
    "o3-mini": (1.10, 4.40),
    "o4-mini": (1.10, 4.40),
    "gpt-4-turbo": (10.00, 30.00),
    "gpt-3.5-turbo": (0.50, 1.50),
}
"""Estimated list prices, USD per 1M (input, output) tokens; not authoritative."""


def price_table(
    prices: Mapping[str, Price] | None = None, env: Mapping[str, str] | None = None
) -> dict[str, Price]:
    """Return the effective price table: built-in estimates, then LOOPDESK_PRICES, then `prices`."""
    table = dict(ESTIMATED_PRICES)
    table.update(_prices_from_env(os.environ if env is None else env))
    if prices:
        table.update({model: (float(p[0]), float(p[1])) for model, p in prices.items()})
    return table


def price_for(model: str, table: Mapping[str, Price]) -> Price | None:
    """Find a model's price, matching dated snapshots like `gpt-4o-2024-08-06` to `gpt-4o`."""
    if model in table:
        return table[model]
    prefixes = [name for name in table if model.startswith(name + "-")]
    return table[max(prefixes, key=len)] if prefixes else None


def estimate_cost(
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    prices: Mapping[str, Price] | None = None,
) -> float:
    """Estimate a call's cost in USD; 0.0 for models without a known price."""
    price = price_for(model, price_table(prices))
    if price is None:
        return 0.0
    input_price, output_price = price
    return (prompt_tokens * input_price + completion_tokens * output_price) / 1_000_000


def _prices_from_env(env: Mapping[str, str]) -> dict[str, Price]:
    raw = env.get(PRICES_ENV, "").strip()
    if not raw:
        return {}
    try:
        decoded = json.loads(raw)
        if not isinstance(decoded, dict):
            raise ValueError("not a JSON object")
        return {str(model): (float(pair[0]), float(pair[1])) for model, pair in decoded.items()}
    except (ValueError, TypeError, IndexError, KeyError) as err:
        # A typo in a cost estimate must not fail a run that already paid for its AI call.
        log.warning(
            '%s is ignored (%s); expected a JSON object like {"gpt-4o": [2.5, 10]}',
            PRICES_ENV,
            err,
        )
        return {}
