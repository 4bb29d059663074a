"""What an AI call cost, from its token counts.

Prices come from `genai-prices`, a maintained table of the providers' list prices that ships with
the package (nothing is fetched): on OpenAI's API a model is priced as OpenAI lists it; on another
server it is looked up by its name. Prices change and gateways differ, so every figure is an
estimate; `LOOPDESK_PRICES` overrides or extends the table, a JSON object mapping a model to USD per
1 million tokens as `[input, output]` or `[input, output, cached_input]`:

    {"gpt-4o": [2.5, 10], "llama3.1": [0, 0], "*": [0, 0]}

`"*"` prices every model the object does not name: `{"*": [0, 0]}` declares a local server free.
The object wins over the table. A model priced nowhere is *unpriced*: its cost is None, shown as
"unpriced", never as $0.00.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

log = logging.getLogger(__name__)

PRICES_ENV = "LOOPDESK_PRICES"
ANY_MODEL = "*"

Price = tuple[float, float, float | None]
"""USD per 1 million (input, output, cached input) tokens; cached input None: the input price."""


def price_overrides(
    prices: Mapping[str, Sequence[float]] | None = None, env: Mapping[str, str] | None = None
) -> dict[str, Price]:
    """The prices that win over the maintained table: `LOOPDESK_PRICES`, then `prices`."""
    table = _prices_from_env(os.environ if env is None else env)
    for model, pair in (prices or {}).items():
        table[model] = _price(pair)
    return table


def override_for(model: str, overrides: Mapping[str, Price]) -> Price | None:
    """A model's price in the overrides: by name, by a dated snapshot's base name
    (`gpt-4o-2024-08-06` → `gpt-4o`), else `*`."""
    if model in overrides:
        return overrides[model]
    prefixes = [name for name in overrides if name != ANY_MODEL and model.startswith(name + "-")]
    if prefixes:
        return overrides[max(prefixes, key=len)]
    return overrides.get(ANY_MODEL)


def cost_of(
    model: str,
    prompt_tokens: int | None,
    completion_tokens: int | None,
    cached_tokens: int = 0,
    on_openai: bool = False,
    overrides: Mapping[str, Price] | None = None,
) -> float | None:
    """A call's cost in USD, or None when the model is priced nowhere (or the server did not say
    how many tokens it used). `cached_tokens` are part of `prompt_tokens`, priced as cached."""
    if prompt_tokens is None or completion_tokens is None:
        return None
    cached = max(0, min(cached_tokens, prompt_tokens))
    price = override_for(model, overrides if overrides is not None else price_overrides())
    if price is not None:
        input_price, output_price, cached_price = price
        cached_price = input_price if cached_price is None else cached_price
        fresh = prompt_tokens - cached
        return (fresh * input_price + cached * cached_price + completion_tokens * output_price) / 1_000_000
    return _listed_cost(model, prompt_tokens, completion_tokens, cached, on_openai)


def _listed_cost(model: str, prompt: int, completion: int, cached: int, on_openai: bool) -> float | None:
    """The cost by the maintained table, or None when it does not list the model."""
    from genai_prices import Usage, calc_price  # here: only AI calls need the table

    usage = Usage(input_tokens=prompt, output_tokens=completion, cache_read_tokens=cached or None)
    try:
        found: Any = calc_price(usage, model_ref=model, provider_id="openai" if on_openai else None)
    except LookupError:
        return None
    except Exception:  # a broken table entry must not fail a run that already paid for its call
        log.warning("could not price model %r", model, exc_info=True)
        return None
    return float(found.total_price)


def _price(values: Sequence[Any]) -> Price:
    """`[input, output]` or `[input, output, cached_input]` as a Price (ValueError otherwise)."""
    if isinstance(values, (str, bytes)) or len(values) not in (2, 3):
        raise ValueError("a price is [input, output] or [input, output, cached_input]")
    numbers = [float(v) for v in values]
    if any(n < 0 for n in numbers):
        raise ValueError("prices cannot be negative")
    return numbers[0], numbers[1], numbers[2] if len(numbers) == 3 else None


def _prices_from_env(env: Mapping[str, str]) -> dict[str, Price]:
    raw = env.get(PRICES_ENV, "").strip()
    if not raw:
        return {}
    try:
        decoded = json.loads(raw)
        if not isinstance(decoded, dict):
            raise ValueError("not a JSON object")
        return {str(model): _price(values) for model, values in decoded.items()}
    except (ValueError, TypeError) as err:
        # A typo in a price must not fail a run that already paid for its AI call.
        log.warning(
            '%s is ignored (%s); expected a JSON object like {"gpt-4o": [2.5, 10], "*": [0, 0]}',
            PRICES_ENV,
            err,
        )
        return {}
