"""What flows between steps: what each kind reads and writes, the rules that keep a flow whole (a
value read before it is written, an answer nothing uses, work thrown away), the edits that keep it
whole (rename, remove uses, insert a step that revises), and the reviewer's note reaching every
step that runs again."""

from __future__ import annotations

from typing import Any

import pytest

from engine.catalog import TEMPLATES_DIR
from engine.dataflow import (
    delivered,
    flow_summary,
    readers,
    remove_uses,
    rename_value,
    revisable_values,
    show_to_reviewer,
    step_flow,
    uses_lost_by_deleting,
    value_labels,
    writers,
)
from engine.decisions import RequestChanges
from engine.kinds.ai_step import REVISE_INSTRUCTION, revise, revises, write_new
from engine.model import AIStepNode, ApprovalNode, Workflow
from engine.records import CheckpointQuery
from engine.services import Loopdesk
from engine.validation import validate_workflow
from tests.conftest import load_template
from tests.engine.helpers import as_dict, linear_workflow, node_as
from ui.wiring import add_after, delete_step, insert_on_edge


def messages(wf: Workflow) -> list[str]:
    return [str(p) for p in validate_workflow(wf)]


def marketing() -> Workflow:
    return load_template("marketing_social_post")


def edit(wf: Workflow, node_id: str, **changes: Any) -> Workflow:
    data = as_dict(wf)
    for n in data["nodes"]:
        if n["id"] == node_id:
            n.update(changes)
    return Workflow.model_validate(data)


# -- what each kind reads and writes -----------------------------------------------------------------


def test_every_kind_declares_what_it_reads_and_writes() -> None:
    wf = marketing()
    flow = {n.id: step_flow(n) for n in wf.nodes}
    assert flow["form"].writes == ("topic", "channel", "audience", "key_message", "target_language")
    assert flow["form"].reads == ()
    assert set(flow["draft"].reads) >= {"topic", "channel"} and flow["draft"].writes == ("draft",)
    assert flow["to_review"].reads == () and flow["to_review"].writes == ()
    assert flow["review"].reads[:5] == ("topic", "channel", "audience", "key_message", "draft")
    assert "draft" in flow["translate"].reads and flow["translate"].writes == ("translation",)
    assert flow["done"].reads == ("draft", "translation")
    # an approval that lists no values shows the reviewer every value
    shows_all = step_flow(edit(wf, "review", visible_values=[], editable_values=[]).node("review"))
    assert shows_all.reads_all and shows_all.uses("translation") and not shows_all.uses("feedback")
    branch = AIStepNode(id="x", instruction="{{ a }} then {{ b }}", system_prompt="{{ c }}", output_name="y")
    assert step_flow(branch).reads == ("a", "b", "c")


def test_a_branch_reads_the_value_it_routes_on() -> None:
    wf = load_template("support_reply")
    branch = next(n for n in wf.nodes if n.type == "branch")
    assert step_flow(branch).reads == (branch.value,)
    assert branch.id in readers(wf, branch.value)


def test_cards_say_what_a_step_uses_and_writes_in_words() -> None:
    wf = marketing()
    assert flow_summary(wf, wf.node("form")) == "asks for Topic, Channel, Audience +2 more"
    assert flow_summary(wf, wf.node("draft")).endswith("· writes Draft")
    assert flow_summary(wf, wf.node("draft")).startswith("uses Channel, Topic")
    assert flow_summary(wf, wf.node("translate")).endswith("· writes Translation")
    assert "Draft" in flow_summary(wf, wf.node("translate"))
    assert flow_summary(wf, wf.node("done")) == "delivers Draft and Translation"
    assert flow_summary(wf, wf.node("to_review")) == ""
    assert value_labels(wf)["key_message"] == "Key message"
    assert writers(wf, "draft") == ["draft"]


def test_the_shipped_templates_pass_every_flow_rule() -> None:
    for path in sorted(TEMPLATES_DIR.glob("*.json")):
        wf = load_template(path.stem)
        assert messages(wf) == [], path.stem


# -- the rules -------------------------------------------------------------------------------------


def test_an_answer_nobody_uses_blocks_saving() -> None:
    wf, new_id = insert_on_edge(marketing(), "e-draft-review-move", "ai_step")
    wf = write_new(wf, new_id, "Headline")  # writes a value of its own that nothing reads
    wf = edit(wf, new_id, title="Tighten the post", instruction="Write a headline for {{ draft }}")
    assert (
        "The answer of ‘Tighten the post’ is never used: choose what it revises, or show it to the reviewer"
        in (messages(wf))
    )
    shown = show_to_reviewer(wf, new_id, "headline", True)
    assert "headline" in node_as(shown, "review", ApprovalNode).visible_values
    assert messages(shown) == []


def test_a_step_writing_over_a_value_it_never_read_throws_work_away() -> None:
    wf, new_id = insert_on_edge(marketing(), "e-draft-review-move", "ai_step")
    wf = edit(
        wf,
        new_id,
        title="Tighten the post",
        instruction="Write a tight post about {{ topic }}",
        output_name="draft",
    )
    assert (
        "‘Tighten the post’ writes Draft without reading it, so the answer of ‘Draft the post’ is "
        "thrown away: let it revise Draft, or write something new"
    ) in messages(wf)


def test_values_read_before_any_step_writes_them_are_named() -> None:
    wf = edit(marketing(), "draft", instruction="Write about {{ topic }} with {{ headline }}")
    assert any(
        m.startswith("‘Draft the post’ uses Headline in the instruction, which no step writes")
        for m in messages(wf)
    )
    # written, but only later
    early = edit(marketing(), "draft", instruction="Write about {{ topic }} after {{ translation }}")
    assert any(
        m.startswith(
            "‘Draft the post’ uses Translation in the instruction, which no earlier step writes: "
            "move it after ‘Translate’"
        )
        for m in messages(early)
    )


def test_every_kind_that_reads_is_checked_where_it_reads() -> None:
    wf = marketing()
    approval = edit(wf, "review", instructions="Check {{ translation }}")
    assert any(
        "‘Review the draft’ uses Translation in the reviewer instructions" in m for m in messages(approval)
    )
    shown = edit(wf, "review", visible_values=[*wf.node("review").visible_values, "translation"])  # type: ignore[union-attr]
    assert any("‘Review the draft’ uses Translation in the reviewer's view" in m for m in messages(shown))
    end = edit(wf, "rejected", result=["translation"])
    assert any("‘Rejected’ uses Translation in the result" in m for m in messages(end))
    support = load_template("support_reply")
    branch = next(n for n in support.nodes if n.type == "branch")
    routed = edit(support, branch.id, value="mood")
    assert any(
        f"‘{branch.title}’ uses Mood in the branch, which no step writes" in m for m in messages(routed)
    )


def test_a_value_written_on_one_path_only_is_a_problem() -> None:
    data = as_dict(linear_workflow())
    data["nodes"] += [
        {"id": "route", "type": "branch", "value": "channel", "cases": ["X"]},
        {
            "id": "hashtags",
            "type": "ai_step",
            "title": "Hashtags",
            "instruction": "Hashtags for {{ topic }}",
            "output_name": "tags",
        },
    ]
    data["edges"] = [e for e in data["edges"] if e["id"] != "e1"] + [
        {"id": "b0", "source": "form", "target": "route"},
        {"id": "b1", "source": "route", "target": "hashtags", "label": "X"},
        {"id": "b2", "source": "route", "target": "draft", "label": "default"},
        {"id": "b3", "source": "hashtags", "target": "draft"},
    ]
    for n in data["nodes"]:
        if n["id"] == "draft":
            n["instruction"] = "Post about {{ topic }} with {{ tags }}"
    found = messages(Workflow.model_validate(data))
    assert any(
        "uses Tags in the instruction, which is not written on every path to it: a run can pass ‘Hashtags’ by"
        in m
        for m in found
    ), found


# -- placing a step, and the edits that keep a flow whole ----------------------------------------------


@pytest.mark.parametrize("how", ["drop", "after"])
def test_an_ai_step_placed_after_a_draft_revises_it(how: str) -> None:
    wf = marketing()
    if how == "drop":
        wf, new_id = insert_on_edge(wf, "e-draft-review-move", "ai_step")
    else:
        wf, new_id = add_after(wf, "draft", "ai_step")
    node = wf.node(new_id)
    assert isinstance(node, AIStepNode)
    assert node.title == "Improve the draft"
    assert node.output_name == "draft" and revises(wf, node) == "draft"
    assert node.instruction == f"{REVISE_INSTRUCTION}\n\n{{{{ draft }}}}"
    assert messages(wf) == []


def test_an_ai_step_with_no_earlier_text_writes_something_new() -> None:
    wf, new_id = insert_on_edge(marketing(), "e-form-draft", "ai_step")
    node = wf.node(new_id)
    assert isinstance(node, AIStepNode)
    assert revisable_values(wf, new_id) == [] and node.output_name == "answer" and revises(wf, node) is None


def test_switching_what_a_step_does_and_naming_its_answer() -> None:
    wf, new_id = insert_on_edge(marketing(), "e-draft-review-move", "ai_step")
    wf = write_new(wf, new_id, "Call to action")
    node = wf.node(new_id)
    assert isinstance(node, AIStepNode)
    assert (node.output_name, node.output_label) == ("call_to_action", "")
    assert value_labels(wf)["call_to_action"] == "Call to action"
    wf = show_to_reviewer(wf, new_id, "call_to_action", True)
    wf = write_new(wf, new_id, "CTA line")  # renaming its own answer renames every use
    assert "cta_line" in wf.node("review").visible_values  # type: ignore[union-attr]
    assert value_labels(wf)["cta_line"] == "CTA line"
    back = revise(wf, new_id, "draft")
    assert revises(back, back.node(new_id)) == "draft"  # type: ignore[arg-type]


def test_renaming_a_value_renames_every_use() -> None:
    wf = rename_value(marketing(), "draft", "post")
    assert writers(wf, "draft") == [] and readers(wf, "draft") == []
    assert writers(wf, "post") == ["draft"]
    assert {"review", "translate", "done"} <= set(readers(wf, "post"))
    assert "{{ post }}" in wf.node("translate").instruction  # type: ignore[union-attr]
    assert messages(wf) == []
    field = rename_value(marketing(), "topic", "subject")
    form = field.node("form")
    assert form.fields[0].name == "subject" and form.title_field in ("subject", None)  # type: ignore[union-attr]
    assert messages(field) == []


def test_deleting_a_step_names_the_uses_it_leaves_unwritten_and_can_remove_them() -> None:
    wf = marketing()
    after = delete_step(wf, "translate")
    lost = uses_lost_by_deleting(wf, "translate", after)
    assert [(u.name, u.label, u.readers) for u in lost] == [("translation", "Translation", ("done",))]
    cleaned = remove_uses(after, "translation", ("done",))
    assert cleaned.node("done").result == ["draft"]  # type: ignore[union-attr]
    assert messages(cleaned) == []
    # a step whose value another step also writes on every path leaves nothing unwritten
    twice, new_id = insert_on_edge(wf, "e-draft-review-move", "ai_step")
    assert uses_lost_by_deleting(twice, new_id, delete_step(twice, new_id)) == []


def test_a_finished_run_delivers_the_values_its_end_names() -> None:
    wf = marketing()
    got = delivered(wf, "done", {"draft": "Post", "translation": "Beitrag", "topic": "x"})
    assert [(d.name, d.label, d.value) for d in got] == [
        ("draft", "Draft", "Post"),
        ("translation", "Translation", "Beitrag"),
    ]
    assert delivered(wf, "rejected", {"draft": "Post"}) == []


# -- the reviewer's note reaches every step that runs again ---------------------------------------------


def test_request_changes_reaches_both_ai_steps_on_the_way_back(app: Loopdesk) -> None:
    wf, new_id = insert_on_edge(
        marketing().model_copy(update={"id": "mine"}), "e-draft-review-move", "ai_step"
    )
    wf = edit(wf, new_id, title="Tighten the post")
    draft = wf.node("draft")
    assert isinstance(draft, AIStepNode) and "{{ feedback }}" in draft.instruction  # it places the note
    assert "feedback" not in wf.node(new_id).instruction  # type: ignore[union-attr]  # the engine adds it
    app.save_workflow(wf, "dana")
    run = app.start_run(
        wf.id, {"topic": "Spring sale", "channel": "LinkedIn", "key_message": "20% off"}, "riley"
    )
    assert run.status == "waiting"
    steps = app.store.list_steps(run.id)
    first_draft = next(s for s in steps if s.node_id == "draft").output
    tightened = next(s for s in steps if s.node_id == new_id).output
    assert tightened != first_draft  # the reviewer sees the tightened text
    assert run.values["draft"] == next(s for s in steps if s.node_id == new_id).output
    cp = app.store.list_checkpoints(CheckpointQuery(status="pending", run_id=run.id))[0]
    note = "Mention the free shipping"
    after = app.decide(cp.id, "jamie", RequestChanges(comment=note))
    assert after.status == "waiting"
    steps = app.store.list_steps(run.id)
    for node_id in ("draft", new_id):
        runs = [s for s in steps if s.node_id == node_id]
        assert len(runs) == 2, node_id
        first, second = (" ".join(m["content"] for m in s.input["messages"]) for s in runs)
        assert note not in first
        assert f"Reviewer feedback: {note}" in second, node_id
        assert "Your previous answer:" in second, node_id
        assert runs[0].output != runs[1].output, node_id  # the revision differs
    assert app.engine.get_run(run.id).values["draft"] != run.values["draft"]


def test_a_step_that_places_the_note_itself_is_not_given_it_twice(app: Loopdesk) -> None:
    app.save_workflow(linear_workflow(), "dana")
    run = app.start_run("wf", {"topic": "t"}, "riley")
    cp = app.store.list_checkpoints(CheckpointQuery(status="pending", run_id=run.id))[0]
    app.decide(cp.id, "jamie", RequestChanges(comment="Shorter please"))
    second = [s for s in app.store.list_steps(run.id) if s.node_id == "draft"][1]
    text = " ".join(m["content"] for m in second.input["messages"])
    assert text.count("Shorter please") == 1
