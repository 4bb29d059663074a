"""The canvas state drawn for a workflow: what lies on top, where connections overlap."""

from __future__ import annotations

from tests.conftest import load_template
from ui.canvas import build_flow_state


def test_loops_back_are_drawn_beneath_the_forward_connections() -> None:
    """A revision loop often runs along the chain it returns over; drawn first, it lies beneath, so
    a click or a dropped step on that stretch reaches the forward connection."""
    wf = load_template("marketing_social_post")
    state = build_flow_state(wf, timestamp=1)
    labels = [e.label for e in state.edges]
    assert labels[0] == "changes_requested" and "changes_requested" not in labels[1:]
    assert sorted(e.id for e in state.edges) == sorted(e.id for e in wf.edges)
