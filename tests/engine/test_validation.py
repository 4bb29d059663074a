"""Every graph rule: a broken workflow gets a message naming the node and what to do."""

from __future__ import annotations

from typing import Any

import pytest

from engine.errors import WorkflowValidationError
from engine.model import Workflow
from engine.validation import available_values, ensure_valid, validate_workflow
from tests.engine.helpers import as_dict, linear_workflow


def problems_of(data: dict[str, Any]) -> list[tuple[str | None, str]]:
    wf = Workflow.model_validate(data)
    return [(p.node_id or p.edge_id, p.message) for p in validate_workflow(wf)]


def node(data: dict[str, Any], node_id: str) -> dict[str, Any]:
    return next(n for n in data["nodes"] if n["id"] == node_id)


def test_valid_workflow_has_no_problems() -> None:
    assert validate_workflow(linear_workflow()) == []


def test_exactly_one_trigger() -> None:
    data = as_dict(linear_workflow())
    data["nodes"] = [n for n in data["nodes"] if n["id"] != "form"]
    data["edges"] = [e for e in data["edges"] if e["source"] != "form"]
    assert any("needs a Form trigger" in m for _, m in problems_of(data))
    data = as_dict(linear_workflow())
    data["nodes"].append({"id": "form2", "type": "form_trigger", "fields": [{"name": "x"}]})
    assert ("form2", "only one Form trigger is allowed; delete this one") in problems_of(data)


def test_dangling_edge_names_the_edge() -> None:
    data = as_dict(linear_workflow())
    data["edges"].append({"id": "dangling", "source": "publish", "target": "ghost"})
    probs = problems_of(data)
    assert ("dangling", "points to `ghost`, which is not a step") in probs


def test_unreachable_node() -> None:
    data = as_dict(linear_workflow())
    data["nodes"].append({"id": "orphan", "type": "end"})
    assert ("orphan", "cannot be reached from the Form trigger; connect it or delete it") in problems_of(data)


def test_node_without_way_forward() -> None:
    data = as_dict(linear_workflow())
    data["edges"] = [e for e in data["edges"] if e["id"] != "e7"]
    assert any(n == "publish" and "no way forward" in m for n, m in problems_of(data))


def test_approval_needs_approved_edge_and_outcome_labels() -> None:
    data = as_dict(linear_workflow())
    for e in data["edges"]:
        if e["id"] == "e4":
            e["label"] = None
    probs = problems_of(data)
    assert any(n == "review" and "has no “If approved” connection" in m for n, m in probs)
    assert any(n == "e4" and "has no outcome" in m for n, m in probs)


def test_branch_covers_cases_or_has_default() -> None:
    data = as_dict(linear_workflow())
    data["nodes"].insert(2, {"id": "route", "type": "branch", "value": "channel", "cases": ["LinkedIn", "X"]})
    data["edges"] = [e for e in data["edges"] if e["id"] != "e2"]
    data["edges"].append({"id": "b1", "source": "draft", "target": "route"})
    data["edges"].append({"id": "b2", "source": "route", "target": "to_review", "label": "LinkedIn"})
    probs = problems_of(data)
    assert any(n == "route" and "X have no connection" in m for n, m in probs)
    data["edges"].append({"id": "b3", "source": "route", "target": "to_review", "label": "default"})
    assert problems_of(data) == []
    data["edges"].append({"id": "b4", "source": "route", "target": "to_review", "label": "Mastodon"})
    assert any(n == "b4" and "`Mastodon`" in m for n, m in problems_of(data))


def test_move_names_a_declared_section() -> None:
    data = as_dict(linear_workflow())
    node(data, "publish")["section"] = "Pubished"
    probs = problems_of(data)
    assert any(n == "publish" and "section `Pubished` is not one of" in m for n, m in probs)


def test_placeholder_must_be_a_field_or_upstream_output() -> None:
    data = as_dict(linear_workflow())
    node(data, "draft")["instruction"] = "Write about {{ topc }}"
    probs = problems_of(data)
    assert (
        "draft",
        "‘AI step (draft)’ uses Topc in the instruction, which no step writes: add a form field or an AI "
        "step that writes it, or take it out",
    ) in probs


def test_placeholder_must_be_set_on_every_path() -> None:
    data = as_dict(linear_workflow())
    # the draft step may not use the translation, which only exists later
    node(data, "draft")["instruction"] = "Improve {{ translation }}"
    probs = problems_of(data)
    assert any(
        n == "draft"
        and "uses Translation in the instruction, which no earlier step writes: move it after" in m
        for n, m in probs
    )


def test_available_values_flow_along_the_graph() -> None:
    avail = available_values(linear_workflow())
    assert {"topic", "channel", "feedback"} <= avail["draft"]
    assert "draft" not in avail["draft"]
    assert {"draft"} <= avail["translate"]


def test_loops_only_through_changes_requested() -> None:
    data = as_dict(linear_workflow())
    data["edges"].append({"id": "back", "source": "translate", "target": "draft"})
    data["edges"] = [e for e in data["edges"] if e["id"] != "e6"]
    probs = problems_of(data)
    assert any(
        "that goes back without a reviewer asking for changes; only an approval's “If changes requested” "
        "connection may lead back" in m
        for _, m in probs
    )


def test_loop_cap_must_be_positive() -> None:
    with pytest.raises(ValueError):
        linear_workflow(max_revisions=0)


def test_all_problems_reported_at_once() -> None:
    data = as_dict(linear_workflow())
    node(data, "publish")["section"] = "Nowhere"
    node(data, "review")["assignee"] = ""
    node(data, "draft")["instruction"] = ""
    with pytest.raises(WorkflowValidationError) as err:
        ensure_valid(Workflow.model_validate(data), source="x.json")
    ids = {p.node_id for p in err.value.problems}
    assert {"publish", "review", "draft"} <= ids
    assert "x.json" in str(err.value)


def test_form_field_rules() -> None:
    data = as_dict(linear_workflow())
    form = node(data, "form")
    form["fields"].append({"name": "channel", "type": "choice"})
    form["title_field"] = "nope"
    probs = [m for n, m in problems_of(data) if n == "form"]
    assert "two form fields are named `channel`" in probs
    assert "choice field `channel` has no options" in probs
    assert "task title field `nope` is not a form field" in probs


def test_classification_needs_labels() -> None:
    data = as_dict(linear_workflow())
    node(data, "draft")["output_kind"] = "classification"
    assert ("draft", "a classification needs at least two labels") in problems_of(data)


def test_branch_cases_may_compare_numbers() -> None:
    from engine.kinds.branch import case_matches

    assert case_matches("> 100", 100.5) and not case_matches("> 100", 100)
    assert case_matches(">=100", "100") and case_matches("<= 5", 5) and case_matches("= 3", 3.0)
    assert not case_matches("> 100", "lots")
    assert case_matches("Billing", "billing ") and not case_matches("Billing", "bug")


def test_an_unconnected_step_is_offered_only_the_form_fields() -> None:
    data = as_dict(linear_workflow())
    data["nodes"].append({"id": "loose", "type": "ai_step", "instruction": "x", "output_name": "extra"})
    avail = available_values(Workflow.model_validate(data))
    assert avail["loose"] == {"topic", "channel", "feedback"}
    assert "extra" not in avail["translate"]


def test_broken_checkpoint_policies_are_explained_at_the_node() -> None:
    data = as_dict(linear_workflow())
    node(data, "review").update(
        editable_values=[],
        escalation=[
            {"after_hours": 8, "action": "remind"},
            {"after_hours": 4, "action": "reassign"},
            {"after_hours": 24, "action": "approve"},
            {"after_hours": 30, "action": "remind", "to": "sam"},
        ],
        quorum={"mode": "count"},
    )
    data["business_hours"] = {"days": "mon-fri", "start": "09:00", "end": "17:00", "timezone": "Mars/Olympus"}
    found = [m for where, m in problems_of(data) if where == "review"]
    assert found == [
        "escalation step 2 (reassign after 4 h): choose who receives the checkpoint",
        "escalation step 2 (reassign after 4 h) must come later than the step before (8 h)",
        "escalation step 3 (approve after 24 h) decides it; the steps after it would never run",
        "escalation step 4 (remind after 30 h): only a reassign step hands it to someone; clear `to`",
        "quorum `count`: say how many approvals are needed",
        "business hours: `Mars/Olympus` is not a known time zone (use e.g. Europe/Berlin)",
    ]


@pytest.mark.parametrize(
    ("hours", "message"),
    [
        ({"days": "fri-mon"}, "`fri-mon` runs backwards; write the days from Monday on, e.g. mon-fri"),
        ({"days": "weekdays"}, "`weekdays` is not a day or range of days (use e.g. mon-fri or mon,wed,fri)"),
        ({"start": "9am"}, "the start `9am` is not a time of day like 09:00"),
        ({"start": "18:00"}, "the working day ends (17:00) before it starts (18:00)"),
    ],
)
def test_business_hours_mistakes_are_named(hours: dict[str, str], message: str) -> None:
    data = as_dict(linear_workflow())
    node(data, "review").update(due_hours=8)
    data["business_hours"] = {"days": "mon-fri", "start": "09:00", "end": "17:00", "timezone": "UTC", **hours}
    assert ("review", f"business hours: {message}") in problems_of(data)
