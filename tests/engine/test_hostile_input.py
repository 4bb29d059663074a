"""Inputs that cannot hurt: every hostile document is refused with a message naming the problem,
and nothing already saved changes."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import duckdb
import pytest

from engine.cli import main
from engine.errors import EngineError, ImportFormatError, WorkflowValidationError
from engine.limits import MAX_NODES, MAX_PROMPT_CHARS
from engine.model import Position, Workflow
from engine.services import Loopdesk
from engine.store.duckdb import DuckDBStore
from engine.validation import validate_workflow
from tests.engine.helpers import as_dict, linear_workflow


def node(data: dict[str, Any], node_id: str) -> dict[str, Any]:
    return next(n for n in data["nodes"] if n["id"] == node_id)


def chain(length: int) -> dict[str, Any]:
    """form → `length` move steps → end."""
    nodes: list[dict[str, Any]] = [{"id": "form", "type": "form_trigger", "fields": [{"name": "topic"}]}]
    nodes += [{"id": f"m{i}", "type": "move_to_section", "section": "A"} for i in range(length)]
    nodes.append({"id": "end", "type": "end"})
    ids = [n["id"] for n in nodes]
    edges = [{"id": f"e{i}", "source": a, "target": b} for i, (a, b) in enumerate(itertools.pairwise(ids))]
    return {"id": "chain", "name": "Chain", "sections": ["A"], "nodes": nodes, "edges": edges}


def raw_cursor(app: Loopdesk) -> duckdb.DuckDBPyConnection:
    """A cursor on the test database, to write rows as an older version would have."""
    assert isinstance(app.store, DuckDBStore)
    return app.store._cur()


def text_of(data: Any) -> str:
    return json.dumps(data)


def hostile_cases() -> list[tuple[str, str | bytes, str]]:
    """(case, file content, what the message must say)."""
    base = as_dict(linear_workflow())
    cases: list[tuple[str, str | bytes, str]] = []

    nan = json.loads(text_of(base))
    node(nan, "draft")["position"] = {"x": float("nan"), "y": 0}
    cases.append(("NaN position", json.dumps(nan), "node `draft`: position.x: is not a finite number"))
    cases.append(
        (
            "1e999 position",
            text_of(base).replace('"position": {"x": 0.0', '"position": {"x": 1e999', 1),
            "node `form`: position.x: is not a finite number",
        )
    )
    inf = json.loads(text_of(base))
    node(inf, "review")["due_hours"] = float("inf")
    cases.append(("Infinity due time", json.dumps(inf), "node `review`: due_hours: is not a finite number"))
    cases.append(
        (
            "JSON nested 1,000 deep",
            '{"id": "x", "name": "x", "description": ' + "[" * 1000 + "]" * 1000 + "}",
            "nests more than 32 levels deep",
        )
    )
    deep = json.loads(text_of(base))
    node(deep, "form")["fields"][0]["default"] = json.loads("[" * 40 + "]" * 40)
    cases.append(("nested 40 deep", json.dumps(deep), "node `form`: fields.0.default"))
    cases.append(
        (
            "an integer of 5,000 digits",
            text_of(base).replace('"max_revisions": 3', '"max_revisions": ' + "9" * 5000),
            "a number with more than 4,300 digits",
        )
    )
    big = text_of(base).replace('"max_revisions": 3', '"max_revisions": ' + "9" * 400)
    cases.append(("an integer of 400 digits", big, "max_revisions: is a number beyond"))
    cases.append(
        ("a chain of 1,200 steps", text_of(chain(1200)), "the workflow has 1,202 steps; the limit is 500")
    )
    parens = json.loads(text_of(base))
    node(parens, "draft")["instruction"] = "{{ " + "(" * 500 + "topic" + ")" * 500 + " }}"
    cases.append(
        ("500 nested parentheses", json.dumps(parens), "node `draft`: the instruction has a placeholder")
    )
    surrogate = text_of(base).replace('"name": "Test flow"', '"name": "Bad \\ud800 name"')
    cases.append(("a lone surrogate", surrogate, "name: contains a broken character (lone surrogate U+D800)"))
    in_node = text_of(base).replace('"title": ""', '"title": "\\udfff"', 1)
    cases.append(("a lone surrogate in a step", in_node, "node `form`: title: contains a broken character"))
    empty = json.loads(text_of(base))
    node(empty, "to_review")["id"] = ""
    cases.append(("an empty node id", json.dumps(empty), "node `#3`: id: must not be empty"))
    dup = json.loads(text_of(base))
    node(dup, "publish")["id"] = "draft"
    cases.append(("a duplicate node id", json.dumps(dup), "node `draft`: two steps share this id"))
    huge = json.loads(text_of(base))
    node(huge, "draft")["instruction"] = "x" * (MAX_PROMPT_CHARS + 1)
    cases.append(
        ("an oversize prompt", json.dumps(huge), "node `draft`: instruction: String should have at most")
    )
    long_name = json.loads(text_of(base))
    long_name["name"] = "n" * 201
    cases.append(
        ("an oversize name", json.dumps(long_name), "name: String should have at most 200 characters")
    )
    many = json.loads(text_of(base))
    node(many, "form")["fields"][1]["options"] = [f"o{i}" for i in range(201)]
    cases.append(
        ("too many options", json.dumps(many), "node `form`: fields.1.options: List should have at most")
    )
    cases.append(("a file over 1 MB", '{"id": "x", "name": "' + "x" * 1_100_000 + '"}', "the file is 1.1 MB"))
    cases.append(("not UTF-8", b'{"name": "caf\xe9"}', "not valid JSON (not UTF-8 text)"))
    cases.append(("not JSON", "{ nope", "not valid JSON (line 1 column 3"))
    cases.append(("a JSON list", "[]", "expected a JSON object describing a workflow"))
    return cases


CASES = hostile_cases()


@pytest.mark.parametrize(("case", "content", "message"), CASES, ids=[c[0] for c in CASES])
def test_a_hostile_import_is_refused_with_a_message_and_nothing_saved_changes(
    app: Loopdesk, case: str, content: str | bytes, message: str
) -> None:
    saved = app.save_workflow(linear_workflow(), "dana")
    with pytest.raises(EngineError) as refused:
        app.import_workflow(content, "dana", source="upload.json")
    assert isinstance(refused.value, (WorkflowValidationError, ImportFormatError))
    assert message in str(refused.value), str(refused.value)[:500]
    assert str(refused.value).startswith("upload.json: ")
    assert [v.version for v in app.versions("wf")] == [saved.version]
    assert app.get_workflow("wf").definition == linear_workflow()
    assert [w.workflow_id for w in app.list_workflows()] == ["wf"]


def test_a_500_step_workflow_is_accepted_and_one_more_is_refused() -> None:
    wf = Workflow.model_validate(chain(MAX_NODES - 2))
    assert validate_workflow(wf) == []
    grown = wf.model_copy(update={"nodes": [*wf.nodes, wf.nodes[1].model_copy(update={"id": "extra"})]})
    problems = [str(p) for p in validate_workflow(grown)]  # built in code, as the Designer does
    assert problems == ["the workflow has 501 steps; the limit is 500"]


def test_a_workflow_changed_in_code_is_held_to_the_same_limits(app: Loopdesk) -> None:
    wf = linear_workflow()
    bad = wf.model_copy(update={"name": "x" * 300, "nodes": [*wf.nodes]})
    bad.nodes[0] = bad.nodes[0].model_copy(update={"position": Position.model_construct(x=float("inf"), y=0)})
    with pytest.raises(WorkflowValidationError) as refused:
        app.save_workflow(bad, "dana")
    text = str(refused.value)
    assert "node `form`: position.x: is not a finite number" in text
    assert app.list_workflows() == []


def test_validate_reports_every_file_even_when_some_are_broken(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = []
    for i, (_case, content, message) in enumerate(CASES):
        path = tmp_path / f"case{i}.json"
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8", "surrogatepass"))
        files.append((str(path), message))
    good = tmp_path / "good.json"
    good.write_text(linear_workflow().to_json())
    folder = tmp_path / "a-folder.json"
    folder.mkdir()
    code = main(["validate", *(f for f, _ in files), str(good), str(folder), str(tmp_path / "missing.json")])
    lines = capsys.readouterr().out.splitlines()
    assert code == 2
    for name, message in files:
        assert any(line.startswith(f"{name}: ") and message in line for line in lines), (name, message)
    assert f"{good}: ok" in lines
    assert any(line.startswith(f"{folder}: cannot read") for line in lines)
    assert any(line.startswith(f"{tmp_path / 'missing.json'}: cannot read") for line in lines)
    assert not any("unexpected" in line for line in lines)


def test_a_position_stored_as_null_by_an_older_version_still_reads(app: Loopdesk) -> None:
    """Before this fix NaN positions were saved and stored as null; such rows must not break pages."""
    app.save_workflow(linear_workflow(), "dana")
    damaged = as_dict(linear_workflow())
    node(damaged, "draft")["position"] = {"x": None, "y": None}
    cur = raw_cursor(app)  # a row as the old version wrote it
    cur.execute(
        "INSERT INTO workflow_versions VALUES ('wf', 2, 'Test flow', ?, 0, 'dana', '')", [json.dumps(damaged)]
    )
    assert app.get_workflow("wf").definition.node("draft").position == Position(x=0, y=0)
    assert [w.version for w in app.list_workflows()] == [2]


def test_an_unreadable_stored_workflow_is_named_and_hides_nothing_else(app: Loopdesk) -> None:
    app.save_workflow(linear_workflow(), "dana")
    raw_cursor(app).execute(
        "INSERT INTO workflow_versions VALUES ('zz', 1, 'Broken', '{\"id\": \"zz\"}', 0, 'dana', '')"
    )
    assert [w.workflow_id for w in app.list_workflows()] == ["wf"]
    with pytest.raises(EngineError, match=r"workflow `zz` version 1 in the database cannot be read"):
        app.get_workflow("zz")
