"""Designer page logic under AppTest: palette, inspector, canvas replies, save, versions, import."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import UnknownElement

from engine.decisions import Approve
from engine.kinds import PALETTE
from engine.model import AIStepNode, ApprovalNode, HttpRequestNode, Workflow
from engine.records import CheckpointQuery
from engine.services import Loopdesk
from tests.ui.conftest import keyed_select, shown
from ui import designer_state as ds
from ui.runtime import get_app

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "pages" / "designer.py")
MARKETING = "marketing-social-post-dana"
"""Dana's own copy of the marketing template (templates themselves are read-only)."""


def designer(user: str = "dana") -> AppTest:
    """The Designer page, run once."""
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.session_state["loopdesk_user"] = user
    at.run()
    assert not at.exception, at.exception
    return at


def service() -> Loopdesk:
    """The service the page uses (same process, same cached instance)."""
    return get_app()


def new_workflow(at: AppTest, name: str = "Test flow") -> str:
    """Create a new (unsaved) workflow through the popover; returns its id."""
    at.text_input(key="designer_new_name").input(name)
    at.button(key="designer_create").click()
    at.run()
    assert not at.exception, at.exception
    wid = str(at.session_state[ds.CURRENT_KEY])
    assert wid.startswith("test-flow") or name != "Test flow"
    return wid


def working_copy(at: AppTest, wid: str) -> Workflow:
    """The page's working copy as a Workflow."""
    return Workflow.model_validate_json(at.session_state[ds.wc_key(wid)])


def canvas_args(at: AppTest) -> dict[str, Any]:
    """What Python last sent to the canvas component."""
    canvases = [
        el
        for el in at.get("component_instance")
        if isinstance(el, UnknownElement) and el.proto.component_name == "streamlit_flow.streamlit_flow"
    ]
    assert len(canvases) == 1
    return dict(json.loads(canvases[0].proto.json_args))


def canvas_card(at: AppTest, node_id: str) -> str:
    """The HTML card of one node as sent to the canvas."""
    node = next(n for n in canvas_args(at)["nodes"] if n["id"] == node_id)
    return str(node["data"]["content"])


def card_text(at: AppTest, node_id: str) -> str:
    """What the card of one node reads (entities resolved)."""
    return shown(canvas_card(at, node_id))


def by_label(widgets: Any, label: str) -> Any:
    """The widget with this exact label."""
    return next(w for w in widgets if w.label == label)


def texts(at: AppTest) -> str:
    """All messages and text on the page, for asserting what the user reads."""
    parts = [e.value for e in at.error] + [e.value for e in at.success] + [e.value for e in at.info]
    parts += [e.value for e in at.warning] + [t.value for t in at.text] + [c.value for c in at.caption]
    parts += [m.value for m in at.markdown] + [b.label for b in at.button]
    parts += [t.value for t in at.toast]  # outcomes show as toasts
    return shown("\n".join(str(p) for p in parts))


def reply(at: AppTest, wid: str, edges: list[dict[str, Any]], selected: str | None = None) -> None:
    """Fake the canvas's browser reply: current nodes (moved 10 px right) and the given edges."""
    args = canvas_args(at)
    nodes = [
        {**n, "position": {"x": n["position"]["x"] + 10, "y": n["position"]["y"]}} for n in args["nodes"]
    ]
    at.session_state[ds.canvas_key(wid)] = {
        "nodes": nodes,
        "edges": edges,
        "selectedId": selected,
        "timestamp": int(time.time() * 1000) + 1000,
    }
    at.run()
    assert not at.exception, at.exception


@pytest.mark.usefixtures("streamlit_app")
def test_each_palette_button_adds_a_node_of_its_kind_and_selects_it() -> None:
    at = designer()
    wid = new_workflow(at)
    assert {n.id for n in working_copy(at, wid).nodes} == {"form", "end"}
    for spec in PALETTE:
        label, kind = spec.label, spec.type
        button = at.button(key=f"designer_add_{kind}")
        assert button.label == (spec.look.palette_label or label)  # a short name keeps one row
        before = canvas_args(at)["timestamp"]
        button.click()
        at.run()
        assert not at.exception, at.exception
        wf = working_copy(at, wid)
        node = wf.node(f"{kind}_1")
        assert node.type == kind
        # the inspector shows the new step, and the canvas was sent a fresh state with it
        assert keyed_select(at, f"designer_inspect:{wid}").value == node.id
        args = canvas_args(at)
        assert args["timestamp"] > before
        drawn = {n["id"]: n for n in args["nodes"]}
        assert drawn[node.id]["data"]["kind"] == kind
    wf = working_copy(at, wid)
    # each new step sits next to the one selected before it, not on top of another
    spots = {(n.position.x, n.position.y) for n in wf.nodes}
    assert len(spots) == len(wf.nodes)
    # a second AI step gets the next free id
    at.button(key="designer_add_ai_step").click()
    at.run()
    assert "ai_step_2" in working_copy(at, wid).node_map()


@pytest.mark.usefixtures("streamlit_app")
def test_inspector_edits_change_the_working_copy_and_the_card() -> None:
    at = designer()
    wid = new_workflow(at)
    at.button(key="designer_add_ai_step").click()
    at.run()
    # values are written by their labels; the engine reads {{ name }}
    by_label(at.text_area, "Instruction").input("Write a short announcement about [Title].")
    by_label(at.text_input, "What it writes").input("Announcement")
    at.run()
    assert not at.exception, at.exception
    step = working_copy(at, wid).node("ai_step_1")
    assert isinstance(step, AIStepNode)
    assert step.instruction == "Write a short announcement about {{ title }}."
    assert step.output_name == "announcement"
    assert "uses Title · writes Announcement" in card_text(at, "ai_step_1")
    assert by_label(at.text_area, "Instruction").value == "Write a short announcement about [Title]."
    inserts = by_label(at.button_group, "Insert a value (click: it is added to the end of the text)")
    # by their labels, shown as typed (the pills draw Markdown, so the labels are escaped)
    assert [shown(o) for o in inserts.options] == ["Title", "Reviewer's feedback"]
    # under Advanced, the engine's form
    at.toggle(key="designer_advanced").set_value(True)
    at.run()
    assert by_label(at.text_area, "Instruction").value == "Write a short announcement about {{ title }}."
    assert by_label(at.text_input, "Output name").value == "announcement"
    at.toggle(key="designer_advanced").set_value(False)
    at.run()

    at.button(key="designer_add_approval").click()
    at.run()
    by_label(at.selectbox, "Assignee").select("jamie")
    by_label(at.number_input, "Due in hours (0: no due time)").set_value(48.0)
    at.run()
    assert not at.exception, at.exception
    approval = working_copy(at, wid).node("approval_1")
    assert isinstance(approval, ApprovalNode)
    assert approval.assignee == "jamie" and approval.due_hours == 48
    assert "Approval · Jamie Rivera · due 48 h" in canvas_card(at, "approval_1")


@pytest.mark.usefixtures("streamlit_app")
def test_typed_text_is_escaped_on_the_canvas() -> None:
    at = designer()
    wid = new_workflow(at)
    by_label(at.selectbox, "Selected").select("end")
    at.run()
    by_label(at.text_input, "Title").input('<img src=x onerror="alert(1)">')
    at.run()
    card = canvas_card(at, "end")
    assert "<img" not in card
    assert "&#60;img src&#61;x onerror&#61;&#34;alert&#40;1&#41;&#34;&#62;" in card
    assert '<img src=x onerror="alert(1)">' in card_text(at, "end")
    assert working_copy(at, wid).node("end").title == '<img src=x onerror="alert(1)">'


@pytest.mark.usefixtures("streamlit_app")
def test_canvas_reply_moves_nodes_adds_connections_and_selects() -> None:
    at = designer()
    wid = new_workflow(at)
    at.button(key="designer_add_approval").click()
    at.run()
    old = working_copy(at, wid)
    edges = [{"id": e.id, "source": e.source, "target": e.target} for e in old.edges]
    edges.append({"id": "st-flow-edge_approval_1-end", "source": "approval_1", "target": "end"})
    reply(at, wid, edges, selected="form")
    wf = working_copy(at, wid)
    assert wf.node("form").position.x == old.node("form").position.x + 10
    new = next(e for e in wf.edges if e.id == "st-flow-edge_approval_1-end")
    assert new.label == "approved"  # the first free outcome of an approval
    assert keyed_select(at, f"designer_inspect:{wid}").value == "form"
    # the label shows on the canvas edge
    drawn = {e["id"]: e for e in canvas_args(at)["edges"]}
    assert drawn["st-flow-edge_approval_1-end"]["label"] == "Approved"  # in words


@pytest.mark.usefixtures("streamlit_app")
def test_clicking_another_step_keeps_what_was_typed_and_selects_it_either_way() -> None:
    """A click on the canvas is acted on at once when nothing typed waits; text typed just before
    the click is applied first, to the step it was typed for."""
    at = designer()
    wid = new_workflow(at)
    at.button(key="designer_add_ai_step").click()
    at.run()
    edges = [{"id": e.id, "source": e.source, "target": e.target} for e in working_copy(at, wid).edges]
    reply(at, wid, edges, selected="end")  # nothing typed: the End is selected
    assert keyed_select(at, f"designer_inspect:{wid}").value == "end"
    reply(at, wid, edges, selected="ai_step_1")
    assert keyed_select(at, f"designer_inspect:{wid}").value == "ai_step_1"
    title = next(t for t in at.text_input if t.label == "Title")
    title.set_value("Typed just before the click")  # sent with the click, in the same run
    reply(at, wid, edges, selected="end")
    assert working_copy(at, wid).node("ai_step_1").title == "Typed just before the click"
    assert keyed_select(at, f"designer_inspect:{wid}").value == "end"


@pytest.mark.usefixtures("streamlit_app")
def test_problems_are_listed_highlighted_and_select_their_node() -> None:
    at = designer()
    wid = new_workflow(at)
    at.button(key="designer_add_ai_step").click()
    at.run()
    by_label(at.selectbox, "Selected").select("__workflow__")
    at.run()
    assert keyed_select(at, f"designer_inspect:{wid}").value == "__workflow__"
    problem = next(b for b in at.button if b.key and b.key.startswith("designer_problem_"))
    assert shown(problem.label).startswith("AI step: the AI step has no instruction")  # by its title
    node = next(n for n in canvas_args(at)["nodes"] if n["id"] == "ai_step_1")
    assert node["style"]["border"].endswith("#d32f2f")  # broken nodes are drawn red
    form = next(n for n in canvas_args(at)["nodes"] if n["id"] == "form")
    assert "#d32f2f" not in form["style"]["border"]
    problem.click()
    at.run()
    assert keyed_select(at, f"designer_inspect:{wid}").value == "ai_step_1"


@pytest.mark.usefixtures("streamlit_app")
def test_save_creates_a_version_and_shows_it() -> None:
    at = designer()
    wid = new_workflow(at)
    assert "New workflow: not saved yet" in texts(at)
    assert service().versions(wid) == []
    at.button(key="designer_save").click()
    at.run()
    assert not at.exception, at.exception
    versions = service().versions(wid)
    assert [v.version for v in versions] == [1]
    assert "Saved version 1" in texts(at)
    assert "Saved · version 1" in texts(at)

    by_label(at.text_input, "Workflow name").input("Renamed flow")
    at.run()
    assert "Unsaved changes" in texts(at)
    at.button(key="designer_save").click()
    at.run()
    versions = service().versions(wid)
    assert [v.version for v in versions] == [2, 1]
    assert versions[0].definition.name == "Renamed flow"
    assert "Saved version 2" in texts(at)


@pytest.mark.usefixtures("streamlit_app")
def test_save_of_an_invalid_workflow_is_refused_and_keeps_the_work() -> None:
    at = designer()
    wid = new_workflow(at)
    at.button(key="designer_save").click()
    at.run()
    at.button(key="designer_add_ai_step").click()
    at.run()
    at.button(key="designer_save").click()
    at.run()
    assert not at.exception, at.exception
    assert "Not saved" in shown(" ".join(t.value for t in at.toast))  # the outcome, as a toast
    assert "the AI step has no instruction" in texts(at)
    assert [v.version for v in service().versions(wid)] == [1]
    assert "ai_step_1" in working_copy(at, wid).node_map()


@pytest.mark.usefixtures("streamlit_app")
def test_restore_loads_an_older_version_and_saving_makes_it_newest() -> None:
    at = designer()
    wid = new_workflow(at)
    at.button(key="designer_save").click()
    at.run()
    by_label(at.text_input, "Workflow name").input("Second name")
    at.run()
    at.button(key="designer_save").click()
    at.run()
    at.button(key="designer_restore_1").click()
    at.run()
    assert not at.exception, at.exception
    assert working_copy(at, wid).name == "Test flow"
    assert by_label(at.text_input, "Workflow name").value == "Test flow"  # no stale widget
    assert "Unsaved changes" in texts(at)
    at.button(key="designer_save").click()
    at.run()
    versions = service().versions(wid)
    assert [v.version for v in versions] == [3, 2, 1]
    assert versions[0].definition.name == "Test flow"


def _open_marketing(at: AppTest) -> None:
    """Open Dana's copy of the marketing template (made here on first use)."""
    if MARKETING not in {w.workflow_id for w in service().workflows_for("dana", "edit")}:
        assert service().use_template("marketing-social-post", "dana").workflow_id == MARKETING
        at.run()
    keyed_select(at, "designer_pick").select(MARKETING)
    at.run()
    assert at.session_state[ds.CURRENT_KEY] == MARKETING


@pytest.mark.usefixtures("streamlit_app")
def test_a_file_that_is_not_json_is_refused_and_nothing_changes() -> None:
    at = designer()
    _open_marketing(at)
    before = service().versions(MARKETING)
    at.file_uploader[0].set_value(("broken.json", b"{ this is not json", "application/json"))
    at.run()
    assert not at.exception, at.exception
    errors = shown(" ".join(t.value for t in at.toast))
    assert "Import refused" in errors and "not valid JSON" in errors and "broken.json" in errors
    after = service().versions(MARKETING)
    assert [(v.version, v.definition) for v in after] == [(v.version, v.definition) for v in before]


@pytest.mark.usefixtures("streamlit_app")
def test_a_workflow_with_a_dangling_edge_is_refused_naming_it() -> None:
    at = designer()
    _open_marketing(at)
    before = service().get_workflow(MARKETING)
    data = json.loads(before.definition.to_json())
    data["edges"].append({"id": "e-to-ghost", "source": "draft", "target": "ghost"})
    data["name"] = "Should not be saved"
    at.file_uploader[0].set_value(("dangling.json", json.dumps(data).encode(), "application/json"))
    at.run()
    assert not at.exception, at.exception
    shown = texts(at)
    assert "Import refused" in shown
    assert "e-to-ghost" in shown and "ghost" in shown and "not a step" in shown
    after = service().get_workflow(MARKETING)
    assert after.version == before.version and after.definition == before.definition
    assert working_copy(at, MARKETING) == before.definition  # the open working copy is untouched


@pytest.mark.usefixtures("streamlit_app")
def test_a_valid_import_becomes_a_new_version_and_opens() -> None:
    at = designer()
    _open_marketing(at)
    before = service().get_workflow(MARKETING)
    data = json.loads(before.definition.to_json())
    data["description"] = "Imported copy"
    data["nodes"] = [n for n in data["nodes"] if n["id"] != "to_published"]
    data["edges"] = [e for e in data["edges"] if "to_published" not in (e["source"], e["target"])]
    data["edges"].append({"id": "translate-done", "source": "translate", "target": "done"})
    next(n for n in data["nodes"] if n["id"] == "review")["instructions"] = "Check the tone."
    next(n for n in data["nodes"] if n["id"] == "draft")["position"] = {"x": 999, "y": 999}
    at.file_uploader[0].set_value(("good.json", json.dumps(data).encode(), "application/json"))
    at.run()
    assert not at.exception, at.exception
    # first what it would change, and nothing saved yet
    preview = next(shown(m.value) for m in at.markdown if "good.json" in shown(m.value))
    assert f"would become version {before.version + 1} of “Marketing social post (copy)”" in preview
    assert "Steps removed: “To published”" in preview
    assert "“Review the draft” changed: instructions" in preview
    assert "Connections: 1 added, 2 removed" in preview
    assert "Workflow settings changed: description" in preview
    assert "1 step moved on the canvas" in preview
    assert service().get_workflow(MARKETING).version == before.version
    at.button(key="designer_confirm_import").click()
    at.run()
    assert not at.exception, at.exception
    after = service().get_workflow(MARKETING)
    assert after.version == before.version + 1 and after.definition.description == "Imported copy"
    assert working_copy(at, MARKETING).description == "Imported copy"
    assert f"as version {after.version}" in texts(at)


@pytest.mark.usefixtures("streamlit_app")
def test_a_cancelled_import_saves_nothing_and_a_changed_template_is_refused() -> None:
    at = designer()
    _open_marketing(at)
    before = service().get_workflow(MARKETING)
    data = json.loads(before.definition.to_json())
    data["description"] = "Not wanted"
    at.file_uploader[0].set_value(("maybe.json", json.dumps(data).encode(), "application/json"))
    at.run()
    assert at.button(key="designer_confirm_import").label == f"Import as version {before.version + 1}"
    at.button(key="designer_cancel_import").click()
    at.run()
    assert "Import cancelled. Nothing was saved." in texts(at)
    assert service().get_workflow(MARKETING).version == before.version
    assert not [b for b in at.button if b.key == "designer_confirm_import"]

    template = json.loads(service().get_workflow("marketing-social-post").definition.to_json())
    template["description"] = "My edit of the template"
    at.file_uploader[0].set_value(("template.json", json.dumps(template).encode(), "application/json"))
    at.run()
    assert "“Marketing social post” is a shipped template and stays as shipped" in texts(at)
    assert len(service().versions("marketing-social-post")) == 1


@pytest.mark.usefixtures("streamlit_app")
def test_connections_get_labels_and_can_be_deleted() -> None:
    at = designer()
    wid = new_workflow(at)
    at.button(key="designer_add_branch").click()
    at.run()
    by_label(at.text_area, "Cases (one per line)").input("urgent\nnormal")
    at.run()
    edges = [{"id": e.id, "source": e.source, "target": e.target} for e in working_copy(at, wid).edges]
    edges.append({"id": "st-flow-edge_branch_1-end", "source": "branch_1", "target": "end"})
    reply(at, wid, edges, selected="branch_1")
    assert next(e for e in working_copy(at, wid).edges if e.source == "branch_1").label == "urgent"
    edge_key = f"dz:{wid}:{_rev(at, wid)}:branch_1:edge:st-flow-edge_branch_1-end"
    at.selectbox(key=edge_key).select("default")
    at.run()
    assert next(e for e in working_copy(at, wid).edges if e.source == "branch_1").label == "default"
    drawn = {e["id"]: e for e in canvas_args(at)["edges"]}
    assert drawn["st-flow-edge_branch_1-end"]["label"] == "Otherwise"  # in words
    at.button(key="designer_del_out_st-flow-edge_branch_1-end").click()
    at.run()
    assert all(e.source != "branch_1" for e in working_copy(at, wid).edges)
    assert "st-flow-edge_branch_1-end" not in {e["id"] for e in canvas_args(at)["edges"]}
    at.button(key="designer_delete_node").click()
    at.run()
    assert "branch_1" not in working_copy(at, wid).node_map()
    assert "branch_1" not in {n["id"] for n in canvas_args(at)["nodes"]}


def _rev(at: AppTest, wid: str) -> int:
    """The working copy's widget generation as stored by the page."""
    return int(at.session_state[f"designer_rev:{wid}"])


def _readonly_script() -> None:
    import streamlit as st

    from tests.conftest import load_template
    from ui.canvas import show_readonly

    status = st.session_state.get("status")
    show_readonly(load_template("marketing_social_post"), key="preview", node_status=status)


@pytest.mark.usefixtures("streamlit_app")
def test_show_readonly_draws_a_locked_canvas_coloured_by_status() -> None:
    at = AppTest.from_function(_readonly_script, default_timeout=30)
    at.session_state["status"] = {"form": "done", "draft": "done", "review": "waiting", "translate": "failed"}
    at.run()
    assert not at.exception, at.exception
    args = canvas_args(at)
    assert args["allowNewEdges"] is False and args["getNodeOnClick"] is False
    nodes = {n["id"]: n for n in args["nodes"]}
    assert all(not n["draggable"] and not n["selectable"] for n in nodes.values())
    assert nodes["form"]["style"]["border"].endswith("#2e7d32")  # done: green
    assert nodes["review"]["style"]["border"].endswith("#ef6c00")  # waiting: amber
    assert nodes["translate"]["style"]["border"].endswith("#c62828")  # failed: red
    assert nodes["done"]["style"]["opacity"] == "0.6"  # not reached: faded
    assert "● waiting" in nodes["review"]["data"]["content"]
    # an unchanged rerun sends the same state (same timestamp): the browser is not re-seeded
    first = args["timestamp"]
    at.run()
    assert canvas_args(at)["timestamp"] == first
    # a status change is sent as a newer state
    at.session_state["status"] = {"form": "done", "draft": "done", "review": "done"}
    at.run()
    assert canvas_args(at)["timestamp"] > first
    assert "● done" in {n["id"]: n for n in canvas_args(at)["nodes"]}["review"]["data"]["content"]


def test_a_presenter_improves_a_template_s_prompt_from_its_own_runs_and_uses_it(streamlit_app: None) -> None:
    """Runs started with “Try it as is” belong to the template; Improve this prompt and Test against past
    runs work there too, and lead to “Use template with this improvement”."""
    app = service()
    for i in range(3):  # three tries of the template as it is; reviewers add “Shop now” to two of them
        run = app.start_run("marketing-social-post", {"topic": f"Spring sale {i}"}, "dana")
        (cp,) = app.store.list_checkpoints(CheckpointQuery(status="pending", run_id=run.id))
        edits = {"draft": f"{cp.shown['draft']} Shop now"} if i < 2 else {}
        app.decide(cp.id, "jamie", Approve(edits=edits))
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.session_state["loopdesk_user"] = "dana"
    at.query_params["workflow"] = "marketing-social-post"
    at.run()
    assert not at.exception, at.exception
    assert any(s.value == "Improve a prompt before you use it" for s in at.subheader)
    box = at.text_area(key="template_lab:marketing-social-post:draft:instruction")
    original = box.value
    at.button(key="designer_improve_draft").click().run()
    assert not at.exception, at.exception
    at.button(key="designer_use_suggestion").click().run()
    improved = at.text_area(key="template_lab:marketing-social-post:draft:instruction").value
    assert improved is not None and improved != original and "- Include “Shop now”." in improved
    at.button(key="template_lab_use:marketing-social-post").click().run()
    assert not at.exception, at.exception
    mine = [w for w in app.list_workflows() if w.workflow_id.startswith("marketing-social-post-")]
    assert len(mine) == 1 and mine[0].definition.node("draft").instruction == improved  # type: ignore[union-attr]
    assert app.get_workflow("marketing-social-post").definition.node("draft").instruction == original  # type: ignore[union-attr]


@pytest.mark.usefixtures("streamlit_app")
def test_an_http_request_step_is_set_up_in_the_inspector_with_a_connection_by_name() -> None:
    at = designer()
    service().connections.set("alex", "crm", "http", {"base_url": "https://crm.example.com"})
    wid = new_workflow(at)
    at.button(key="designer_add_http_request").click()
    at.run()
    assert not at.exception, at.exception
    by_label(at.selectbox, "Connection").select("crm")
    at.run()
    by_label(at.selectbox, "Method").select("PUT")
    by_label(at.text_input, "Path").input("/tickets/{{ title }}")
    at.run()
    assert not at.exception, at.exception
    step = working_copy(at, wid).node("http_request_1")
    assert isinstance(step, HttpRequestNode)
    assert (step.connection, step.method, step.url) == ("crm", "PUT", "/tickets/{{ title }}")
    assert "PUT crm /tickets/{{ title }}" in shown(canvas_card(at, "http_request_1"))
    assert "HTTP" in [b.label for b in at.button if b.key == "designer_add_http_request"]
