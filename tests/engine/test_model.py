"""The workflow model: JSON round-trip, schema, and readable shape errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from engine.catalog import TEMPLATES_DIR
from engine.errors import ImportFormatError, WorkflowValidationError
from engine.model import AIStepNode, ApprovalNode, Workflow, load_workflow_json, parse_workflow
from tests.conftest import load_template
from tests.engine.helpers import as_dict, linear_workflow


def test_json_round_trip_is_lossless() -> None:
    wf = load_template("marketing_social_post")
    again = Workflow.model_validate_json(wf.to_json())
    assert again == wf
    assert json.loads(again.to_json()) == json.loads(wf.to_json())
    review = again.node("review")
    assert isinstance(review, ApprovalNode) and review.editable_values == ["draft"]
    assert again.node("draft").position.y == 130


def test_node_kinds_are_a_discriminated_union() -> None:
    wf = linear_workflow()
    assert isinstance(wf.node("draft"), AIStepNode)
    assert [n.type for n in wf.nodes][:2] == ["form_trigger", "ai_step"]


def test_unknown_step_type_names_the_node() -> None:
    data = as_dict(linear_workflow())
    data["nodes"][1]["type"] = "teleport"
    with pytest.raises(WorkflowValidationError) as err:
        parse_workflow(data, "broken.json")
    assert err.value.problems[0].node_id == "draft"
    assert "unknown step type" in str(err.value)
    assert str(err.value).startswith("broken.json")


def test_wrong_field_type_names_node_and_setting() -> None:
    data = as_dict(linear_workflow())
    data["nodes"][1]["temperature"] = "hot"
    with pytest.raises(WorkflowValidationError) as err:
        parse_workflow(data)
    problem = err.value.problems[0]
    assert problem.node_id == "draft" and "temperature" in problem.message


def test_not_json_at_all_says_where() -> None:
    with pytest.raises(ImportFormatError, match=r"not valid JSON \(line 1 column 2"):
        load_workflow_json("{oops", "x.json")
    with pytest.raises(ImportFormatError, match="expected a JSON object"):
        load_workflow_json("[1, 2]")


@pytest.mark.processes
def test_schema_command_prints_json_schema() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "engine", "schema"], capture_output=True, text=True, check=True
    ).stdout
    schema = json.loads(out)
    assert schema["title"] == "Workflow"
    kinds = json.dumps(schema["$defs"])
    for kind in ("form_trigger", "ai_step", "move_to_section", "approval", "branch", "end"):
        assert kind in kinds


def test_a_workflow_saved_before_examples_existed_reads_its_sample_defaults_as_examples() -> None:
    """Schema version 1 kept the templates' sample data as `default`, which filled blank fields: a
    run started without a message went out about the sample customer."""
    doc = json.loads((TEMPLATES_DIR / "support_reply.json").read_text())
    doc["schema_version"] = 1
    for node in doc["nodes"]:
        for f in node.get("fields", []):
            if "example" in f:
                f["default"] = f.pop("example")  # as the template shipped before
            if f["name"] == "subject":
                f["default"] = "Our own subject line"  # set on purpose by a designer: kept
    wf = Workflow.model_validate(doc)
    fields = {f.name: f for f in wf.trigger().fields}
    assert wf.schema_version == 2
    assert (fields["customer_name"].default, fields["customer_name"].example) == (None, "Maria Lopez")
    message_example = fields["message"].example
    assert fields["message"].default is None
    assert isinstance(message_example, str) and message_example.startswith("Hi there")
    assert fields["subject"].default == "Our own subject line" and fields["subject"].example is None
    assert Workflow.model_validate_json(wf.model_dump_json()) == wf  # saved again as version 2: as is
