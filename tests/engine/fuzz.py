"""Hypothesis strategies for hostile workflow files: mutations of the shipped templates plus the
cases people used to break the importer (non-finite numbers, lone surrogates, deep nesting,
huge integers, empty or duplicate ids, oversize strings and graphs, runaway prompts).

Shared by `tests/engine/test_fuzz_import.py` (a bounded budget in CI) and
`bench/fuzz_import.py` (a longer budget on demand).
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from engine.catalog import list_templates
from engine.errors import EngineError, WorkflowValidationError
from engine.model import load_workflow_json
from engine.services import Loopdesk
from engine.validation import ensure_valid, workflow_warnings

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Raw:
    """JSON text placed verbatim where a value goes (what `json.dumps` cannot or will not write)."""

    text: str


RAW_VALUES = [
    Raw("1e999"),
    Raw("-1e999"),
    Raw("NaN"),
    Raw("Infinity"),
    Raw("1" * 5000),  # more digits than Python converts by default
    Raw("-" + "9" * 400),
    Raw('"\\ud800"'),  # a lone surrogate
    Raw('"a\\udfffb"'),
    Raw("[" * 1000 + "]" * 1000),
    Raw('{"a":' * 600 + "1" + "}" * 600),
    Raw("-0"),
]

HOSTILE_STRINGS = [
    "",
    " ",
    "\u0000",
    "x" * 201,
    "x" * 20_000,
    "é" * 120_000,
    "{{",
    "{% for %}",
    "{{ 'x' * 10**10 }}",
    "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
    "{{ " + "(" * 500 + "1" + ")" * 500 + " }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "![pixel](http://203.0.113.9/p.png)",
    "<img src=http://203.0.113.9/p.png>",
    "nobody-here",
    "form",
    "end",
    "🚀 ünïcödé",
]

HOSTILE_NUMBERS = [0, -1, 1.5, -1e308, 1e308, 2**63, 10**15 + 1, -(10**16), True, False]

KEYS = [
    "id",
    "type",
    "name",
    "title",
    "source",
    "target",
    "section",
    "assignee",
    "instruction",
    "output_name",
    "fields",
    "options",
    "position",
    "outcome",
    "case",
    "due_hours",
    "on_timeout",
    "edges",
    "nodes",
    "sections",
    "access",
    "reassign_to",
    "max_tokens",
    "temperature",
]


def templates() -> list[dict[str, Any]]:
    """Every shipped template as the JSON document users export and import."""
    return [json.loads(t.workflow.to_json()) for t in list_templates()]


def paths(doc: Any, prefix: Path = ()) -> list[Path]:
    """Every path into a JSON document (iteratively: documents can be big)."""
    out: list[Path] = []
    stack: list[tuple[Path, Any]] = [(prefix, doc)]
    while stack:
        path, value = stack.pop()
        out.append(path)
        if isinstance(value, dict):
            stack.extend(((*path, k), v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend(((*path, i), v) for i, v in enumerate(value))
    return out


def get(doc: Any, path: Path) -> Any:
    """The value at a path."""
    for part in path:
        doc = doc[part]
    return doc


def leaf_values() -> st.SearchStrategy[Any]:
    """A hostile or merely wrong value for any place in the document."""
    return st.one_of(
        st.sampled_from(RAW_VALUES),
        st.sampled_from(HOSTILE_STRINGS),
        st.sampled_from(HOSTILE_NUMBERS),
        st.none(),
        st.text(max_size=30),
        st.integers(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.just({}),
        st.just([]),
        st.just([None] * 300),
        st.just({"x": 1}),
    )


def _set(doc: Any, path: Path, value: Any) -> None:
    if not path:
        raise ValueError("the root is replaced, not set")
    get(doc, path[:-1])[path[-1]] = value


@st.composite
def mutate(draw: st.DrawFn, doc: dict[str, Any]) -> Any:
    """One structural or value mutation of a document (a copy; the original stays as it was)."""
    doc = copy.deepcopy(doc)
    path = draw(st.sampled_from(paths(doc)))
    target = get(doc, path)
    ops = ["replace"]
    if path:
        ops += ["delete"]
    if isinstance(target, list) and target:
        ops += ["duplicate_item", "drop_item", "repeat_items"]
    if isinstance(target, dict):
        ops += ["add_key"]
    op = draw(st.sampled_from(ops))
    if op == "replace":
        value = draw(leaf_values())
        if not path:
            return value
        _set(doc, path, value)
    elif op == "delete":
        container = get(doc, path[:-1])
        del container[path[-1]]
    elif op == "duplicate_item":
        i = draw(st.integers(0, len(target) - 1))
        target.insert(i, copy.deepcopy(target[i]))
    elif op == "drop_item":
        del target[draw(st.integers(0, len(target) - 1))]
    elif op == "repeat_items":
        target.extend(copy.deepcopy(target) * draw(st.sampled_from([2, 40, 400])))
    elif op == "add_key" and isinstance(target, dict):
        target[draw(st.sampled_from(KEYS))] = draw(leaf_values())
    return doc


def encode(doc: Any) -> str:
    """Write a document as JSON text, placing raw values verbatim and allowing NaN/Infinity."""
    raws: list[str] = []

    def place(value: Any) -> Any:
        if isinstance(value, Raw):
            raws.append(value.text)
            return f"\x00raw{len(raws) - 1}\x00"
        if isinstance(value, dict):
            return {k: place(v) for k, v in value.items()}
        if isinstance(value, list):
            return [place(v) for v in value]
        return value

    text = json.dumps(place(doc), allow_nan=True)
    for i, raw in enumerate(raws):
        text = text.replace(json.dumps(f"\x00raw{i}\x00"), raw)
    return text


@st.composite
def documents(draw: st.DrawFn) -> str | bytes:
    """A workflow file: a template with one to four mutations, sometimes cut or mis-encoded. Most
    start as a copy under a new id (a template's own id is refused whatever else the file holds)."""
    doc: Any = copy.deepcopy(draw(st.sampled_from(templates())))
    if draw(st.sampled_from([True, True, True, False])):
        doc["id"] = f"{doc['id']}-copy"
    for _ in range(draw(st.integers(1, 4))):
        if not isinstance(doc, dict):
            break
        doc = draw(mutate(doc))
    text = encode(doc)
    damage = draw(st.sampled_from(["none"] * 8 + ["truncate", "latin-1", "bom"]))
    if damage == "truncate":
        return text[: draw(st.integers(0, len(text)))]
    if damage == "latin-1":
        return text.encode("utf-8", "surrogatepass").replace(b"e", b"\xe9", 3)
    if damage == "bom":
        return "\ufeff" + text
    return text


def saved_state(app: Loopdesk) -> dict[tuple[str, int], str]:
    """Every saved version of every workflow, as stored JSON."""
    return {
        (v.workflow_id, v.version): v.definition.to_json()
        for latest in app.store.list_workflows()
        for v in app.store.list_versions(latest.workflow_id)
    }


def check_document(
    app: Loopdesk, content: str | bytes, user: str = "alex", reasons: list[str] | None = None
) -> str:
    """Validate and import one file; fail unless the outcome is a valid workflow or a message
    naming the problem, and unless nothing saved before changed. Returns "valid" or "refused" (and
    adds the refusal's message to `reasons`)."""
    before = saved_state(app)
    try:
        wf = ensure_valid(load_workflow_json(content, "fuzz.json"), source="fuzz.json")
        workflow_warnings(wf)
        valid = True
    except EngineError as exc:
        _assert_names_problem(exc)
        valid = False
    try:
        version = app.import_workflow(content, user, source="fuzz.json")
    except EngineError as exc:
        _assert_names_problem(exc)
        assert saved_state(app) == before, "a refused import changed what was saved"
        if reasons is not None:
            reasons.append(str(exc))
        return "refused"
    assert valid, "the import accepted a file that validation refused"
    after = saved_state(app)
    new = {k: v for k, v in after.items() if k not in before}
    assert {k: after[k] for k in before} == before, "an import changed an earlier version"
    assert set(new) <= {(version.workflow_id, version.version)}, new.keys()
    reread = app.get_workflow(version.workflow_id).definition
    assert reread.model_dump() == version.definition.model_dump(), "the saved workflow reads back differently"
    app.list_workflows()
    return "valid"


def _assert_names_problem(exc: EngineError) -> None:
    message = str(exc)
    assert message.strip(), f"{type(exc).__name__} with an empty message"
    assert "unexpected" not in message, message
    if isinstance(exc, WorkflowValidationError):
        assert exc.problems and all(p.message.strip() for p in exc.problems)
