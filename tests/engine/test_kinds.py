"""Every node kind has one home that declares all of it, and the generic code reads only that."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import get_args

import pytest

from engine.kinds import KINDS, PALETTE, closed_values, exit_labels, kind_label, summarize
from engine.model import NODE_KINDS, ApprovalNode, BranchNode, Node
from tests.conftest import load_template

ROOT = Path(__file__).resolve().parents[2]


def test_every_kind_of_the_saved_format_has_a_home_and_the_home_matches_its_model() -> None:
    union = get_args(get_args(Node)[0])  # Annotated[A | B | …, discriminator] → (A, B, …)
    assert tuple(KINDS) == NODE_KINDS
    assert {k.node_class for k in KINDS.values()} == set(union)
    for name, kind in KINDS.items():
        assert kind.type == name
        assert kind.node_class.model_fields["type"].default == name
        assert callable(kind.handler) and kind.label and kind.look.icon
    assert [k.type for k in PALETTE] == [
        "ai_step",
        "move_to_section",
        "approval",
        "branch",
        "http_request",
        "end",
    ]
    assert [k.type for k in KINDS.values() if k.starts_runs] == ["form_trigger"]


def test_every_kind_has_an_inspector_form() -> None:
    from ui.inspector import FORMS

    assert set(FORMS) == set(KINDS)


def test_summaries_exits_and_closed_values_come_from_the_kinds() -> None:
    support = load_template("support_reply")
    nodes = {n.type: n for n in support.nodes}
    assert summarize(nodes["end"]).startswith("End · ")
    approval = nodes["approval"]
    assert isinstance(approval, ApprovalNode)
    assert summarize(approval, lambda who: f"<{who}>") == f"Approval · <{approval.assignee}>" + (
        f" · due {approval.due_hours:g} h" if approval.due_hours else ""
    )
    branch = nodes["branch"]
    assert isinstance(branch, BranchNode)
    assert exit_labels(support, branch.id) == [*branch.cases, "default"]
    assert exit_labels(support, nodes["end"].id) == []
    assert exit_labels(support, nodes["ai_step"].id) == [None]
    assert exit_labels(support, "no-such-step") == []
    assert kind_label("ai_step") == "AI step" and kind_label("retired_kind") == "retired_kind"
    value = branch.value
    assert value in closed_values(support)


@pytest.mark.parametrize(
    "module",
    [
        "engine/validation.py",
        "ui/canvas.py",
        "ui/wiring.py",
        "ui/designer_state.py",
        "ui/workflow_edits.py",
        "ui/canvas_reply.py",
        "engine/workflow_diff.py",
    ],
)
def test_generic_code_never_asks_which_kind_a_node_is(module: str) -> None:
    """Validation, the canvas, wiring, the designer state and the version diff read the kinds'
    declarations; none of them tests a node against a kind's model class (which is how a new kind
    once needed nine edits)."""
    classes = {k.node_class.__name__ for k in KINDS.values()}
    tree = ast.parse((ROOT / module).read_text())
    asked = [
        ast.unparse(node)
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "isinstance"
        and any(isinstance(n, ast.Name) and n.id in classes for n in ast.walk(node.args[1]))
    ]
    assert asked == [], f"{module} asks which kind a node is: {asked}"
