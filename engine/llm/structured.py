"""JSON Schemas for structured AI answers, and parsing answers back into values."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from engine.llm.base import LLMError

OutputKind = Literal["text", "classification", "json"]

_PYTHON_TYPES: dict[str, type] = {"string": str, "number": float, "boolean": bool}
_TYPE_WORDS: dict[str, str] = {"string": "text", "number": "a number", "boolean": "true or false"}
_FENCE = re.compile(r"^```[a-zA-Z]*\s*\n?(.*?)\n?```$", re.DOTALL)


class JsonField(Protocol):
    """One named field of a JSON answer (engine.model.JsonOutputField satisfies this)."""

    @property
    def name(self) -> str:
        """Key in the answer object."""
        ...

    @property
    def type(self) -> str:
        """JSON type of the value: "string", "number" or "boolean"."""
        ...

    @property
    def description(self) -> str:
        """What the model should put there."""
        ...


def build_json_schema(
    output_kind: OutputKind, labels: Sequence[str], json_fields: Sequence[JsonField]
) -> dict[str, Any] | None:
    """Return the JSON Schema a structured answer must satisfy, or None for free text."""
    if output_kind == "classification":
        return {
            "type": "object",
            "properties": {
                "label": {
                    "type": "string",
                    "enum": list(labels),
                    "description": "The one label that fits best.",
                }
            },
            "required": ["label"],
            "additionalProperties": False,
        }
    if output_kind == "json":
        properties: dict[str, Any] = {}
        for field in json_fields:
            prop: dict[str, Any] = {"type": field.type}
            if field.description:
                prop["description"] = field.description
            properties[field.name] = prop
        return {
            "type": "object",
            "properties": properties,
            "required": [field.name for field in json_fields],
            "additionalProperties": False,
        }
    return None


def parse_answer(
    output_kind: OutputKind, labels: Sequence[str], json_fields: Sequence[JsonField], text: str
) -> Any:
    """Turn a model's answer text into the step's value, or raise LLMError saying what is wrong."""
    if output_kind == "classification":
        return _parse_label(labels, text)
    if output_kind == "json":
        return _parse_object(json_fields, text)
    return text.strip()


def _normalise(label: str) -> str:
    return re.sub(r"[^0-9a-z]+", "", label.casefold())


def _parse_label(labels: Sequence[str], text: str) -> str:
    answer = _unfence(text)
    try:
        decoded: Any = json.loads(answer)
    except ValueError:
        decoded = answer
    if isinstance(decoded, dict) and "label" in decoded:
        decoded = decoded["label"]
    answer = str(decoded).strip().strip("\"'.").strip()
    wanted = _normalise(answer)
    for label in labels:
        if _normalise(label) == wanted:
            return label
    choices = ", ".join(labels) if labels else "(no labels are defined)"
    raise LLMError(f"The AI answered '{_shorten(answer)}', which is not one of: {choices}")


def _parse_object(json_fields: Sequence[JsonField], text: str) -> dict[str, Any]:
    names = ", ".join(field.name for field in json_fields)
    try:
        decoded = json.loads(_unfence(text))
    except ValueError:
        raise LLMError(
            f"The AI's answer is not valid JSON: '{_shorten(text.strip())}'; "
            f"expected an object with the fields: {names}"
        ) from None
    if not isinstance(decoded, dict):
        raise LLMError(
            f"The AI answered with JSON {type(decoded).__name__} '{_shorten(json.dumps(decoded))}' "
            f"instead of an object with the fields: {names}"
        )
    model = _answer_model(json_fields)
    try:
        parsed = model.model_validate(decoded)
    except ValidationError as err:
        problems = "; ".join(_describe_problem(problem, json_fields) for problem in err.errors())
        raise LLMError(f"The AI's JSON answer does not fit the step's fields: {problems}") from None
    return parsed.model_dump(by_alias=True)


def _answer_model(json_fields: Sequence[JsonField]) -> type[BaseModel]:
    # Python-safe attribute names with the real key as alias, so fields like "json" or
    # "model_config" cannot clash with pydantic's own attributes.
    definitions: dict[str, Any] = {
        f"field_{index}": (_PYTHON_TYPES.get(field.type, str), Field(alias=field.name))
        for index, field in enumerate(json_fields)
    }
    model: type[BaseModel] = create_model(
        "AIAnswer",
        __config__=ConfigDict(strict=True, extra="ignore", populate_by_name=False),
        **definitions,
    )
    return model


def _describe_problem(problem: Any, json_fields: Sequence[JsonField]) -> str:
    name = str(problem["loc"][0]) if problem.get("loc") else "?"
    if problem["type"] == "missing":
        return f"field '{name}' is missing"
    wanted = next((field.type for field in json_fields if field.name == name), "string")
    got = _shorten(json.dumps(problem.get("input"), default=str))
    return f"field '{name}' should be {_TYPE_WORDS.get(wanted, wanted)} but was {got}"


def _unfence(text: str) -> str:
    stripped = text.strip()
    match = _FENCE.match(stripped)
    return match.group(1).strip() if match else stripped


def _shorten(text: str, limit: int = 80) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"
