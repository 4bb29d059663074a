"""Small workflow builders for engine tests."""

from __future__ import annotations

from typing import Any, TypeVar

from engine.model import ApprovalNode, AutoApproval, Node, Workflow
from engine.records import CheckpointRecord


def linear_workflow(**overrides: Any) -> Workflow:
    """form → draft (AI) → review (approval, jamie) → publish (move) → end; changes loop to draft."""
    data: dict[str, Any] = {
        "id": "wf",
        "name": "Test flow",
        "sections": ["Intake", "Review", "Published", "Rejected"],
        "nodes": [
            {
                "id": "form",
                "type": "form_trigger",
                "fields": [
                    {"name": "topic", "label": "Topic", "required": True},
                    {"name": "channel", "type": "choice", "options": ["LinkedIn", "X"], "default": "X"},
                ],
                "title_field": "topic",
            },
            {
                "id": "draft",
                "type": "ai_step",
                "instruction": "Write a {{ channel }} post about {{ topic }}.{% if feedback %}\n"
                "Reviewer feedback: {{ feedback }}{% endif %}",
                "output_name": "draft",
            },
            {"id": "to_review", "type": "move_to_section", "section": "Review"},
            {
                "id": "review",
                "type": "approval",
                "assignee": "jamie",
                "instructions": "Check the {{ channel }} post",
                "visible_values": ["topic", "draft"],
                "editable_values": ["draft"],
                "reassign_to": ["morgan"],
            },
            {
                "id": "translate",
                "type": "ai_step",
                "instruction": "Translate into German: {{ draft }}",
                "output_name": "translation",
            },
            {"id": "publish", "type": "move_to_section", "section": "Published"},
            {"id": "end", "type": "end", "outcome": "Published", "result": ["translation"]},
        ],
        "edges": [
            {"id": "e1", "source": "form", "target": "draft"},
            {"id": "e2", "source": "draft", "target": "to_review"},
            {"id": "e3", "source": "to_review", "target": "review"},
            {"id": "e4", "source": "review", "target": "translate", "label": "approved"},
            {"id": "e5", "source": "review", "target": "draft", "label": "changes_requested"},
            {"id": "e6", "source": "translate", "target": "publish"},
            {"id": "e7", "source": "publish", "target": "end"},
        ],
    }
    data.update(overrides)
    return Workflow.model_validate(data)


def as_dict(wf: Workflow) -> dict[str, Any]:
    """The workflow as plain JSON data, for mutating in tests."""
    return wf.model_dump(mode="json")


def with_rejection_path(outcome: str = "Rejected", status: str = "completed") -> Workflow:
    """The linear workflow plus review --rejected--> move to Rejected --> End(outcome, status)."""
    data = as_dict(linear_workflow())
    data["nodes"] += [
        {"id": "bin", "type": "move_to_section", "section": "Rejected"},
        {"id": "stop", "type": "end", "outcome": outcome, "status": status},
    ]
    data["edges"] += [
        {"id": "r1", "source": "review", "target": "bin", "label": "rejected"},
        {"id": "r2", "source": "bin", "target": "stop"},
    ]
    return Workflow.model_validate(data)


def with_auto_approval(wf: Workflow, rule: AutoApproval | None, **changes: object) -> Workflow:
    """The workflow with its review step set to auto-approve under `rule`."""
    nodes = [
        n.model_copy(update={"auto_approval": rule, **changes}) if isinstance(n, ApprovalNode) else n
        for n in wf.nodes
    ]
    return wf.model_copy(update={"nodes": nodes})


def decision_of(cp: CheckpointRecord) -> dict[str, Any]:
    """What a decided checkpoint recorded (the test fails here if it has no decision yet)."""
    assert cp.decision is not None, f"checkpoint {cp.id} has no decision"
    return cp.decision


K = TypeVar("K", bound=Node)


def node_as(wf: Workflow, node_id: str, kind: type[K]) -> K:
    """The step `node_id` of `wf`, which must be of this kind (so its kind's own fields can be read)."""
    node = wf.node(node_id)
    assert isinstance(node, kind), f"step {node_id} is a {node.type}, not a {kind.__name__}"
    return node
