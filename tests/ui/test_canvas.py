"""The canvas state drawn for a workflow: what lies on top, where connections overlap."""

from __future__ import annotations

from typing import Any

import pytest
import streamlit as st

from tests.conftest import load_template
from ui import designer_state as ds
from ui.canvas import build_flow_state
from ui.designer_canvas import only_echo


def test_loops_back_are_drawn_beneath_the_forward_connections() -> None:
    """A revision loop often runs along the chain it returns over; drawn first, it lies beneath, so
    a click or a dropped step on that stretch reaches the forward connection."""
    wf = load_template("marketing_social_post")
    state = build_flow_state(wf, timestamp=1)
    labels = [e.label for e in state.edges]
    assert labels[0] == "Changes requested" and "Changes requested" not in labels[1:]  # in words
    assert sorted(e.id for e in state.edges) == sorted(e.id for e in wf.edges)


def test_an_echo_of_the_state_sent_is_told_apart_from_a_change(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only an answer that changes nothing is left to the canvas fragment; a moved step, a drawn
    connection or a click on another step reruns the whole page."""
    wf = load_template("marketing_social_post")
    session: dict[str, Any] = {ds.wc_key(wf.id): wf.model_dump_json()}
    monkeypatch.setattr(st, "session_state", session)
    sent = build_flow_state(wf, timestamp=1).asdict()

    def answer(**changes: Any) -> bool:
        session[ds.canvas_key(wf.id)] = {**sent, "selectedId": None, "timestamp": 2, **changes}
        return only_echo(wf.id, selected_id="draft")

    assert answer()
    assert answer(selectedId="draft")  # the selection the page already shows
    assert not answer(selectedId="review")
    moved = [dict(n, position={"x": 999, "y": 999}) if n["id"] == "draft" else n for n in sent["nodes"]]
    assert not answer(nodes=moved)
    drawn = {"id": "new", "source": "to_review", "target": "done"}
    assert not answer(edges=[*sent["edges"], drawn])
