"""Read untrusted JSON safely: size, nesting, huge numbers, NaN and broken characters.

Every check here runs before pydantic or any graph walk sees the data, without recursion, so
a hostile document gets a message naming where it is wrong instead of a crash.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any

from engine.limits import MAX_JSON_DEPTH, MAX_WORKFLOW_NUMBER

Path = tuple[str | int, ...]
_SURROGATE = re.compile("[\ud800-\udfff]")


class JsonTooComplexError(ValueError):
    """The text cannot even be decoded safely (nesting or a number beyond what Python reads)."""


def decode(text: str | bytes) -> Any:
    """`json.loads`, with nesting and number-size failures turned into a readable ValueError.

    Raises json.JSONDecodeError / UnicodeDecodeError for text that is not JSON at all.
    """
    try:
        return json.loads(text)
    except RecursionError:
        raise JsonTooComplexError(f"it nests more than {MAX_JSON_DEPTH} levels deep") from None
    except ValueError as exc:
        if isinstance(exc, (json.JSONDecodeError, UnicodeDecodeError)):
            raise
        # Python refuses to read integers of more than 4,300 digits
        raise JsonTooComplexError("it holds a number with more than 4,300 digits") from None


def _walk(data: Any) -> Iterator[tuple[Path, Any, int]]:
    """Every value with its path and depth, depth first, without recursion."""
    stack: list[tuple[Path, Any, int]] = [((), data, 0)]
    while stack:
        path, value, depth = stack.pop()
        yield path, value, depth
        if depth >= MAX_JSON_DEPTH:
            continue
        if isinstance(value, dict):
            stack.extend(((*path, str(k)), v, depth + 1) for k, v in reversed(list(value.items())))
        elif isinstance(value, list):
            stack.extend(((*path, i), v, depth + 1) for i, v in reversed(list(enumerate(value))))


def value_problems(data: Any) -> list[tuple[Path, str]]:
    """What no workflow may contain, each with the path where it is: deep nesting, numbers that
    are not finite or beyond ±10^15, and text with lone surrogate characters (not real text)."""
    out: list[tuple[Path, str]] = []
    for path, value, depth in _walk(data):
        if depth >= MAX_JSON_DEPTH and isinstance(value, (dict, list)) and value:
            out.append((path, f"nests more than {MAX_JSON_DEPTH} levels deep"))
        elif isinstance(value, bool):
            continue
        elif isinstance(value, float) and not math.isfinite(value):
            out.append((path, "is not a finite number (NaN and Infinity are not allowed)"))
        elif isinstance(value, (int, float)) and abs(value) > MAX_WORKFLOW_NUMBER:
            out.append((path, f"is a number beyond ±{MAX_WORKFLOW_NUMBER:.0e}"))
        elif isinstance(value, str) and (bad := _SURROGATE.search(value)):
            out.append((path, f"contains a broken character (lone surrogate U+{ord(bad.group()):04X})"))
        if isinstance(value, dict):
            for key in value:
                if isinstance(key, str) and _SURROGATE.search(key):
                    out.append((path, "has a key with a broken character (lone surrogate)"))
        if len(out) >= 50:
            break
    return out


def has_surrogates(text: str) -> bool:
    """Whether a string holds lone surrogates (cannot be stored or shown as text)."""
    return _SURROGATE.search(text) is not None
