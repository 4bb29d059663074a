"""Check and convert a form submission against the trigger's fields."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from engine.errors import FormValidationError
from engine.json_guard import has_surrogates
from engine.limits import MAX_FORM_NUMBER, MAX_FORM_TEXT
from engine.model import FormField, FormTriggerNode

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def parse_number(value: Any) -> int | float:
    """A finite number within ±10^15 from text or a number; ValueError says why not."""
    if isinstance(value, bool):
        raise ValueError("must be a number")
    text = str(value).strip().replace(",", "") if isinstance(value, str) else value
    if isinstance(text, str) and len(text) > 40:
        raise ValueError(f"must be a number between -{MAX_FORM_NUMBER:,} and {MAX_FORM_NUMBER:,}")
    try:
        number = int(text) if isinstance(text, str) and text.lstrip("+-").isdigit() else _finite(float(text))
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"must be a number, not '{value}'") from None
    if abs(number) > MAX_FORM_NUMBER:
        raise ValueError(f"must be a number between -{MAX_FORM_NUMBER:,} and {MAX_FORM_NUMBER:,}")
    return number


def _finite(number: float) -> int | float:
    if not math.isfinite(number):
        raise ValueError("not finite")
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def as_text(value: Any) -> str:
    """A value given for a text field as its text: text itself, or a finite number as written; a
    list, an object, true/false or NaN is refused (ValueError), never stored as its Python form."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return repr(value)
    kind = {list: "a list", dict: "an object", bool: "true or false", float: "not a finite number"}
    raise ValueError(f"must be text, not {kind.get(type(value), type(value).__name__)}")


def coerce_field(field: FormField, value: Any) -> Any:
    """Convert one value to the field's type or raise ValueError with the reason."""
    if field.type == "number":
        return parse_number(value)
    text = as_text(value).strip() if field.type != "long_text" else as_text(value)
    if len(text) > MAX_FORM_TEXT:
        raise ValueError(f"is too long ({len(text):,} characters; at most {MAX_FORM_TEXT:,})")
    if has_surrogates(text):
        raise ValueError("contains a broken character (a lone surrogate); paste the text again")
    if field.type == "email" and not _EMAIL_RE.match(text):
        raise ValueError(f"'{text}' is not an email address")
    if field.type == "choice" and text not in field.options:
        raise ValueError(f"'{text}' is not one of: {', '.join(field.options)}")
    return text


def example_values(trigger: FormTriggerNode) -> dict[str, Any]:
    """What the form holds when a template is tried as it is: each field's default, else its example
    (fields with neither are left out)."""
    out: dict[str, Any] = {}
    for f in trigger.fields:
        value = f.default if f.default is not None else f.example
        if value is not None:
            out[f.name] = value
    return out


def coerce_form(trigger: FormTriggerNode, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Return typed values for every field (a field's default fills a gap; its example never does) or
    raise FormValidationError naming every field at fault."""
    errors: dict[str, str] = {}
    known = {f.name for f in trigger.fields}
    for name in inputs:
        if name not in known:
            errors[name] = f"the form has no field `{name}` (fields: {', '.join(sorted(known))})"
    values: dict[str, Any] = {}
    for field in trigger.fields:
        label = field.label or field.name
        raw = inputs.get(field.name)
        if _is_empty(raw):
            raw = field.default
        if _is_empty(raw):
            if field.required:
                errors[field.name] = f"{label} is required"
            else:
                values[field.name] = None if field.type == "number" else ""
            continue
        try:
            values[field.name] = coerce_field(field, raw)
        except ValueError as exc:
            errors[field.name] = f"{label} {exc}" if str(exc).startswith("must") else f"{label}: {exc}"
    if errors:
        raise FormValidationError(errors)
    return values
