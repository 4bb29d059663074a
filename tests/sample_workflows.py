"""Workflows the tests and benchmarks share (bench/ imports them from here, tests never from bench/)."""

from __future__ import annotations

from typing import Any

from engine.model import Workflow
from ui.arrange import arrange

WORKFLOW_ID = "bench-50"
SEGMENTS = 16
"""Each segment is an AI step, a move to a section and an approval: 16 of them, the form and two ends
make 50 steps."""


def fifty_steps() -> Workflow:
    """A valid 50-step workflow: 16 draft → section → approval segments in a row; each approval's
    rejection goes to one shared End and its changes back to its draft."""
    nodes: list[dict[str, Any]] = [
        {
            "id": "form",
            "type": "form_trigger",
            "title": "Request",
            "fields": [{"name": "topic", "label": "Topic"}],
        }
    ]
    edges: list[dict[str, Any]] = []
    previous = "form"
    for i in range(1, SEGMENTS + 1):
        draft, move, review = f"draft_{i}", f"to_review_{i}", f"review_{i}"
        nodes += [
            {"id": draft, "type": "ai_step", "title": f"Draft part {i}", "output_name": f"part_{i}",
             "instruction": f"Write part {i} about {{{{ topic }}}}."},
            {"id": move, "type": "move_to_section", "title": f"To review {i}", "section": "Review"},
            {"id": review, "type": "approval", "title": f"Review part {i}", "assignee": "jamie"},
        ]  # fmt: skip
        edges += [
            {"id": f"e-{previous}-{draft}", "source": previous, "target": draft,
             **({"label": "approved"} if previous.startswith("review_") else {})},
            {"id": f"e-{draft}-{move}", "source": draft, "target": move},
            {"id": f"e-{move}-{review}", "source": move, "target": review},
            {"id": f"e-{review}-rejected", "source": review, "target": "rejected", "label": "rejected"},
            {"id": f"e-{review}-changes", "source": review, "target": draft, "label": "changes_requested"},
        ]  # fmt: skip
        previous = review
    nodes += [
        {"id": "done", "type": "end", "title": "Done", "outcome": "Done"},
        {"id": "rejected", "type": "end", "title": "Rejected", "outcome": "Rejected", "status": "rejected"},
    ]
    edges.append({"id": f"e-{previous}-done", "source": previous, "target": "done", "label": "approved"})
    wf = Workflow.model_validate(
        {"id": WORKFLOW_ID, "name": "Fifty steps", "sections": ["Intake", "Review"], "nodes": nodes,
         "edges": edges, "access": {"editors": ["dana"]}}
    )  # fmt: skip
    return arrange(wf)
