"""The canvas state drawn for a workflow: what lies on top, where connections overlap."""

from __future__ import annotations

from typing import Any

import pytest
import streamlit as st

from tests.conftest import load_template
from ui import designer_state as ds
from ui.canvas import REDRAW, build_flow_state, note_pushed_edges, without_gone
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


def test_a_connection_the_page_took_away_does_not_come_back_in_an_older_reply() -> None:
    """Deleted on the page while the browser still showed it (a step was being moved): the reply
    carrying it is not a new connection. Once a reply shows it gone, drawing it again is."""
    slot: dict[str, Any] = {}
    note_pushed_edges(slot, {"form-end", "form-ai"})
    note_pushed_edges(slot, {"form-ai"})  # "Delete connection" on form → end
    moved = {
        "nodes": [{"id": "ai", "position": {"x": 9, "y": 9}}],
        "edges": [{"id": "form-end"}, {"id": "form-ai"}],
    }
    taken = without_gone(moved, slot)
    assert [e["id"] for e in taken["edges"]] == ["form-ai"]
    assert taken["nodes"] == moved["nodes"]  # the move itself is kept
    assert taken[REDRAW]  # the browser is sent the state without it
    # the browser has the deletion: a later reply with the connection is one drawn again
    assert without_gone({"edges": [{"id": "form-ai"}]}, slot) == {"edges": [{"id": "form-ai"}]}
    again = {"edges": [{"id": "form-ai"}, {"id": "form-end"}]}
    assert without_gone(again, slot) == again


def test_the_page_taking_a_connection_away_and_putting_it_back_forgets_it() -> None:
    """Undo after a deletion: the connection is the page's again, a reply showing it is current."""
    slot: dict[str, Any] = {}
    note_pushed_edges(slot, {"a", "b"})
    note_pushed_edges(slot, {"a"})
    note_pushed_edges(slot, {"a", "b"})
    reply = {"edges": [{"id": "a"}, {"id": "b"}]}
    assert without_gone(reply, slot) == reply
