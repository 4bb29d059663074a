"""The data between steps in the Designer: "What should this step do?", values picked as chips and
written as labels, what a card says it uses and writes, a value followed on the canvas, renaming,
deleting a step others depend on, and starting a run from where it was built."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from engine.kinds.ai_step import REVISE_INSTRUCTION
from engine.model import AIStepNode, ApprovalNode
from engine.services import Loopdesk
from engine.validation import validate_workflow
from tests.ui.conftest import shown
from tests.ui.test_designer import by_label, canvas_args, card_text, texts, working_copy
from tests.ui.test_designer_wiring import MARKETING, no_drafts_kept, open_marketing
from ui import designer_state as ds

pytestmark = pytest.mark.usefixtures("streamlit_app")
__all__ = ["no_drafts_kept"]
APP = str(Path(__file__).resolve().parents[2] / "app.py")
PURPOSE = "What should this step do?"
INSERT = "Insert a value (click: it is added to the end of the text)"


def insert_after_draft(at: AppTest) -> str:
    """ "Add a step after it" on “Draft the post”: the new AI step's id (it is selected)."""
    by_label(at.selectbox, "Add a step after it").select("AI step")
    at.run()
    at.button(key="designer_add_after").click()
    at.run()
    assert not at.exception, at.exception
    return next(n.id for n in working_copy(at, MARKETING).nodes if n.id.startswith("ai_step_"))


def step(at: AppTest, node_id: str) -> AIStepNode:
    node = working_copy(at, MARKETING).node(node_id)
    assert isinstance(node, AIStepNode)
    return node


def test_an_ai_step_added_after_the_draft_asks_what_it_should_do_and_revises_the_draft() -> None:
    at = open_marketing("draft")
    new_id = insert_after_draft(at)
    purpose = by_label(at.radio, PURPOSE)
    assert purpose.options == ["Revise “Draft”", "Write something new"]
    assert purpose.value == "draft"  # the default where a draft is read later
    node = step(at, new_id)
    assert node.title == "Improve the draft" and node.output_name == "draft"
    # the box shows the instruction alone; the draft is placed after it by itself
    assert by_label(at.text_area, "Instruction").value == REVISE_INSTRUCTION
    assert "The Draft to revise is placed after your instruction." in texts(at)
    by_label(at.text_area, "Instruction").input("Tighten the post: at most 40 words.")
    at.run()
    assert step(at, new_id).instruction == "Tighten the post: at most 40 words.\n\n{{ draft }}"
    assert "uses Draft · writes Draft" in card_text(at, new_id)
    assert "No problems: ready to save." in texts(at)
    assert validate_workflow(working_copy(at, MARKETING)) == []


def test_writing_something_new_names_the_answer_and_shows_it_to_the_reviewer() -> None:
    at = open_marketing("draft")
    new_id = insert_after_draft(at)
    by_label(at.radio, PURPOSE).set_value("")
    at.run()
    assert not at.exception, at.exception
    assert step(at, new_id).output_name == "answer"
    # nothing uses the new answer yet: saving is blocked, saying so
    wanted = (
        "The answer of ‘Improve the draft’ is never used: choose what it revises, or show it to the reviewer"
    )
    assert wanted in texts(at)
    by_label(at.text_input, "What it writes").input("Headline")
    at.run()
    assert step(at, new_id).output_name == "headline"
    box = next(c for c in at.checkbox if c.label.startswith("Show it to the reviewer"))
    assert shown(box.label) == "Show it to the reviewer (in ‘Review the draft’)" and not box.value
    box.check()
    at.run()
    review = working_copy(at, MARKETING).node("review")
    assert isinstance(review, ApprovalNode) and "headline" in review.visible_values
    assert "No problems: ready to save." in texts(at)
    assert "shows Topic, Channel, Audience +3 more" in card_text(at, "review")
    # one undo takes back the whole choice
    at.button(key="designer_undo").click()
    at.run()
    assert "headline" not in working_copy(at, MARKETING).node("review").visible_values  # type: ignore[union-attr]


def test_values_are_picked_as_chips_and_read_as_labels() -> None:
    at = open_marketing("translate")
    box = by_label(at.text_area, "Instruction")
    assert "{{" not in box.value and "[Draft]" in box.value  # labels, not template syntax
    pills = by_label(at.button_group, INSERT)
    assert "Target language" in [shown(pills.format_func(o)) for o in pills.options]
    before = step(at, "translate").instruction
    pills.set_value("key_message")
    at.run()
    assert not at.exception, at.exception
    assert by_label(at.text_area, "Instruction").value.endswith(" [Key message]")
    assert step(at, "translate").instruction == f"{before} {{{{ key_message }}}}"
    # a value that is not available there is a problem naming both
    by_label(at.text_area, "Instruction").input("Translate [Draft] and {{ headline }}")
    at.run()
    assert "‘Translate’ uses Headline in the instruction, which no step writes" in texts(at)


def test_selecting_a_value_lights_up_who_writes_and_who_reads_it() -> None:
    at = open_marketing("translate")
    values = by_label(
        at.button_group, "Values · select one to see where it is written (green) and used (blue)"
    )
    values.set_value("draft")
    at.run()
    assert not at.exception, at.exception
    styles = {n["id"]: n["style"].get("boxShadow", "") for n in canvas_args(at)["nodes"]}
    assert "46,125,50" in styles["draft"]  # writes it
    assert "0,131,143" in styles["review"] and "0,131,143" in styles["done"]  # read it
    assert styles["to_review"] == ""
    assert "Draft: written by ‘Draft the post’ · used by" in texts(at)


def test_renaming_an_answer_renames_every_use() -> None:
    at = open_marketing("draft")
    at.toggle(key="designer_advanced").set_value(True)  # the answer's name as prompts write it
    at.run()
    by_label(at.text_input, "Output name").input("post")
    at.run()
    assert not at.exception, at.exception
    wf = working_copy(at, MARKETING)
    assert "{{ post }}" in step(at, "translate").instruction
    assert "post" in wf.node("review").visible_values  # type: ignore[union-attr]
    assert wf.node("done").result == ["post", "translation"]  # type: ignore[union-attr]
    assert validate_workflow(wf) == []
    at.run()
    at.button(key="designer_undo").click()  # one undo takes the rename back everywhere
    at.run()
    assert "{{ draft }}" in step(at, "translate").instruction


def test_deleting_a_step_others_depend_on_names_them_and_can_remove_the_uses() -> None:
    at = open_marketing("translate")
    assert "Delete and remove those uses" in texts(at)
    assert "‘Published’ uses Translation, which only this step writes." in texts(at)
    at.button(key="designer_delete_node_and_uses").click()
    at.run()
    assert not at.exception, at.exception
    wf = working_copy(at, MARKETING)
    assert "translate" not in wf.node_map()
    assert wf.node("done").result == ["draft"]  # type: ignore[union-attr]
    assert "‘Published’ no longer uses Translation" in texts(at)
    assert "No problems: ready to save." in texts(at)


def test_start_a_run_opens_start_a_run_with_this_workflow(service: Loopdesk) -> None:
    at = AppTest.from_file(APP, default_timeout=30)
    at.session_state["loopdesk_user"] = "dana"
    at.session_state[ds.CURRENT_KEY] = MARKETING
    at.switch_page("pages/designer.py")
    at.run()
    assert not at.exception, at.exception
    at.button(key="designer_start_run").click()
    at.run()
    assert not at.exception, at.exception
    assert at.query_params.get("workflow") in (MARKETING, [MARKETING])
    assert [t.value for t in at.title] == ["Start a run"]
    assert by_label(at.selectbox, "Workflow").value == MARKETING


def test_using_a_template_twice_makes_two_names(service: Loopdesk) -> None:
    first = service.use_template("support-reply", "dana")
    second = service.use_template("support-reply", "dana")
    assert (first.name, second.name) == ("Support reply (copy)", "Support reply (copy 2)")
    assert first.workflow_id != second.workflow_id
