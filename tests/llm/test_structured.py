"""JSON Schemas for structured answers and parsing answers into step values."""

from __future__ import annotations

import pytest

from engine.llm.base import LLMError
from engine.llm.structured import build_json_schema, parse_answer
from engine.model import JsonOutputField

LABELS = ["billing", "bug", "how-to", "other"]
FIELDS = [
    JsonOutputField(name="title", description="Short title"),
    JsonOutputField(name="score", type="number"),
    JsonOutputField(name="urgent", type="boolean"),
]


def test_text_has_no_schema() -> None:
    assert build_json_schema("text", LABELS, FIELDS) is None


def test_classification_schema_is_a_label_enum() -> None:
    schema = build_json_schema("classification", LABELS, [])

    assert schema is not None
    assert schema["properties"]["label"]["enum"] == LABELS
    assert schema["required"] == ["label"]
    assert schema["additionalProperties"] is False


def test_json_schema_types_every_field_and_requires_all() -> None:
    schema = build_json_schema("json", [], FIELDS)

    assert schema == {
        "type": "object",
        "properties": {
            "title": {"type": "string", "description": "Short title"},
            "score": {"type": "number"},
            "urgent": {"type": "boolean"},
        },
        "required": ["title", "score", "urgent"],
        "additionalProperties": False,
    }


def test_text_answer_is_stripped() -> None:
    assert parse_answer("text", [], [], "  Hello there.\n") == "Hello there."


@pytest.mark.parametrize(
    "answer",
    [
        '{"label": "how-to"}',
        "how-to",
        "How-To",
        '"how-to"',
        "how to.",
        '```json\n{"label": "HOW-TO"}\n```',
    ],
)
def test_classification_accepts_json_bare_and_differently_cased_labels(answer: str) -> None:
    assert parse_answer("classification", LABELS, [], answer) == "how-to"


def test_classification_outside_the_labels_names_answer_and_labels() -> None:
    with pytest.raises(LLMError) as caught:
        parse_answer("classification", LABELS, [], '{"label": "xyz"}')

    expected = "The AI answered 'xyz', which is not one of: billing, bug, how-to, other"
    assert str(caught.value) == expected


def test_json_answer_is_validated_and_typed() -> None:
    value = parse_answer("json", [], FIELDS, '{"title": "Fix", "score": 3, "urgent": false}')

    assert value == {"title": "Fix", "score": 3.0, "urgent": False}


def test_json_answer_ignores_extra_keys() -> None:
    text = '{"title": "Fix", "score": 1.5, "urgent": true, "extra": 1}'

    assert parse_answer("json", [], FIELDS, text) == {"title": "Fix", "score": 1.5, "urgent": True}


def test_unparseable_json_says_so() -> None:
    expected = r"^The AI's answer is not valid JSON: 'Sure! Here is the answer'; expected an object"
    with pytest.raises(LLMError, match=expected):
        parse_answer("json", [], FIELDS, "Sure! Here is the answer")


def test_json_that_is_not_an_object_says_so() -> None:
    with pytest.raises(LLMError, match=r"JSON list .* instead of an object with the fields: title"):
        parse_answer("json", [], FIELDS, "[1, 2]")


def test_missing_and_wrong_typed_fields_are_named() -> None:
    with pytest.raises(LLMError) as caught:
        parse_answer("json", [], FIELDS, '{"title": "Fix", "score": "high"}')

    message = str(caught.value)
    assert "field 'score' should be a number but was \"high\"" in message
    assert "field 'urgent' is missing" in message


def test_field_names_that_clash_with_pydantic_still_work() -> None:
    fields = [JsonOutputField(name="json"), JsonOutputField(name="model_config", type="number")]

    value = parse_answer("json", [], fields, '{"json": "x", "model_config": 2}')

    assert value == {"json": "x", "model_config": 2.0}
