"""Shipped templates: each is valid, laid out cleanly, and runs end to end along every decision path.

A *journey* is one way through a template: the form values (which pick a branch) and the
checkpoints met on the way, in order. Every journey is run to the end by approving, by
approving with an edit at each checkpoint, by requesting changes then approving at each
checkpoint, and by rejecting at each checkpoint, all with the offline demo model.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import pytest

from engine.catalog import TEMPLATES_DIR, list_templates
from engine.cli import main as cli_main
from engine.decisions import Approve, Reject, RequestChanges
from engine.demo_data import DEMO_RUNS, load_demo_data
from engine.errors import FormValidationError
from engine.forms import example_values
from engine.model import AIStepNode, ApprovalNode, Workflow
from engine.records import CheckpointQuery, CheckpointRecord, RunRecord
from engine.services import Loopdesk
from engine.validation import validate_workflow
from tests.conftest import assert_readable_layout, load_template, save_variant

TEMPLATE_IDS = {
    "marketing_social_post": "marketing-social-post",
    "support_reply": "support-reply",
    "blog_localisation": "blog-localisation",
    "refund_request": "refund-request",
}
EDITED_SENTENCE = "Seats are limited to 200, so book yours this week."
NOTE = "Please mention the free 30-day trial."


@dataclass(frozen=True)
class Stage:
    """One checkpoint met on the approve path."""

    node: str
    """Approval node id."""
    assignee: str
    """Who the checkpoint is assigned to (a user or `group:` name)."""
    decider: str
    """A user allowed to decide it."""
    drafter: str
    """The AI step that runs again after `changes_requested`."""
    editable: str
    """The value the reviewer may edit."""
    consumer: str | None
    """A later AI step whose prompt must carry the edited value (None: nothing later reads it)."""
    section: str
    """Board section the task waits in."""
    edit: Any = None
    """The edit to make (None: append EDITED_SENTENCE to the text)."""
    edit_shows_as: str = EDITED_SENTENCE
    """How the edit appears in the consumer's prompt."""


@dataclass(frozen=True)
class Journey:
    """One path through a template."""

    stem: str
    inputs: dict[str, Any]
    stages: tuple[Stage, ...]
    section: str
    outcome: str
    rejected_section: str
    rejected_outcome: str
    produces: tuple[str, ...]
    """Values the AI steps must have filled by the end."""
    ran: tuple[str, ...] = ()
    """AI steps that must run on this path."""
    skipped: tuple[str, ...] = ()
    """Steps that must not run on this path (the other branches)."""
    values: dict[str, Any] = field(default_factory=dict)
    """Values the run must hold once it reaches its first checkpoint (e.g. the class)."""


def support(category: str, subject: str, message: str, drafter: str) -> Journey:
    """The support reply journey for one class of message."""
    drafters = ("draft_billing", "draft_bug", "draft_howto", "draft_other")
    return Journey(
        stem="support_reply",
        inputs={
            "customer_name": "Maria Lopez",
            "email": "maria@example.com",
            "subject": subject,
            "message": message,
        },
        stages=(Stage("review", "sam", "sam", drafter, "reply", None, "Lead review"),),
        section="Sent",
        outcome="Sent",
        rejected_section="Rejected",
        rejected_outcome="Rejected",
        produces=("category", "reply"),
        ran=("classify", drafter),
        skipped=tuple(d for d in drafters if d != drafter),
        values={"category": category},
    )


def refund(amount: int, band: str, stage: Stage) -> Journey:
    """The refund journey for one amount band."""
    other = "manager_review" if stage.node == "support_review" else "support_review"
    return Journey(
        stem="refund_request",
        inputs={"amount": amount},
        stages=(stage,),
        section="Refunded",
        outcome="Refunded",
        rejected_section="Declined",
        rejected_outcome="Declined",
        produces=("assessment", "confirmation"),
        ran=("assess",),
        skipped=(other, "to_support" if other == "support_review" else "to_manager"),
        values={"amount": amount},
    )


JOURNEYS: dict[str, Journey] = {
    "marketing": Journey(
        stem="marketing_social_post",
        inputs={},
        stages=(Stage("review", "jamie", "jamie", "draft", "draft", "translate", "Draft review"),),
        section="Published",
        outcome="Published",
        rejected_section="Rejected",
        rejected_outcome="Rejected",
        produces=("draft", "translation"),
        ran=("draft",),
    ),
    "support-billing": support(
        "billing",
        "Charged twice for my March invoice",
        "Hi,\n\nI was charged twice for our Team plan this month. Could you refund the duplicate?\n\nMaria",
        "draft_billing",
    ),
    "support-bug": support(
        "bug",
        "Export to CSV crashes the app",
        "Hi,\n\nEvery time I click Export the app crashes with an error.\n\nMaria",
        "draft_bug",
    ),
    "support-how-to": support(
        "how-to",
        "Adding a teammate",
        "Hello,\n\nHow do I add a teammate with view-only access?\n\nMaria",
        "draft_howto",
    ),
    "support-other": support(
        "other",
        "Slides from your webinar",
        "Hi,\n\nI enjoyed last week's webinar. Are the slides available somewhere?\n\nMaria",
        "draft_other",
    ),
    "blog": Journey(
        stem="blog_localisation",
        inputs={},
        stages=(
            Stage("edit_review", "jamie", "jamie", "draft", "article", "localise", "Editing"),
            Stage("regional_review", "morgan", "morgan", "localise", "localised", None, "Regional review"),
        ),
        section="Ready to publish",
        outcome="Ready to publish",
        rejected_section="Rejected",
        rejected_outcome="Rejected",
        produces=("article", "localised"),
        ran=("draft",),
    ),
    "refund-over-limit": refund(
        588,
        "Over $100",
        Stage(
            "manager_review",
            "group:managers",
            "morgan",
            "assess",
            "amount",
            "confirm",
            "Manager approval",
            450,
            "$450 ",
        ),
    ),
    "refund-within-limit": refund(
        29,
        "Up to $100",
        Stage(
            "support_review",
            "group:support",
            "riley",
            "assess",
            "amount",
            "confirm",
            "Support review",
            19,
            "$19 ",
        ),
    ),
}
STAGES = [(name, i) for name, journey in JOURNEYS.items() for i in range(len(journey.stages))]
STAGE_IDS = [f"{name}-{JOURNEYS[name].stages[i].node}" for name, i in STAGES]


# -- helpers --------------------------------------------------------------------------------


def start(app: Loopdesk, journey: Journey) -> RunRecord:
    """Save the journey's template and submit its form as a requester who tries it as it is (its
    examples in the form), with the journey's own values on top."""
    wf = load_template(journey.stem)
    app.save_workflow(wf, "dana")
    return app.start_run(wf.id, {**example_values(wf.trigger()), **journey.inputs}, "dana")


def pending(app: Loopdesk, run_id: str) -> CheckpointRecord:
    """The run's one open checkpoint."""
    open_cps = app.store.list_checkpoints(CheckpointQuery(status="pending", run_id=run_id))
    assert len(open_cps) == 1, open_cps
    return open_cps[0]


def prompts(app: Loopdesk, run_id: str, node_id: str) -> list[str]:
    """The rendered messages of every execution of an AI step, oldest first."""
    steps = [s for s in app.run_detail(run_id, "cli").steps if s.node_id == node_id and s.status == "done"]
    return ["\n".join(m["content"] for m in s.input["messages"]) for s in steps]


def ran_nodes(app: Loopdesk, run_id: str) -> list[str]:
    """Ids of the nodes the run executed, in order."""
    return [s.node_id for s in app.run_detail(run_id, "cli").steps]


def reach(app: Loopdesk, run: RunRecord, journey: Journey, index: int) -> tuple[RunRecord, CheckpointRecord]:
    """Approve every checkpoint before stage `index`; return the run waiting at that stage."""
    for stage in journey.stages[:index]:
        run = app.decide(pending(app, run.id).id, stage.decider, Approve())
    cp = pending(app, run.id)
    stage = journey.stages[index]
    assert (run.status, run.section) == ("waiting", stage.section)
    assert (cp.node_id, cp.assignee) == (stage.node, stage.assignee)
    assert cp.id in {c.id for c in app.inbox(stage.decider)}, "the reviewer sees it in their inbox"
    return run, cp


def approve_rest(app: Loopdesk, run: RunRecord, journey: Journey, after: int) -> RunRecord:
    """Approve every checkpoint after stage `after`."""
    for stage in journey.stages[after + 1 :]:
        cp = pending(app, run.id)
        assert cp.node_id == stage.node
        run = app.decide(cp.id, stage.decider, Approve())
    return run


def assert_finished(run: RunRecord, journey: Journey) -> None:
    """The run completed in the journey's last section with its outcome."""
    assert (run.status, run.section, run.outcome) == ("completed", journey.section, journey.outcome)


# -- every template is valid and presentable ----------------------------------------------


def test_the_four_templates_ship_and_validate() -> None:
    templates = {t.path.stem: t for t in list_templates()}
    assert {stem: t.workflow.id for stem, t in templates.items()} == TEMPLATE_IDS
    for stem, template in templates.items():
        assert validate_workflow(template.workflow) == [], stem
        assert template.ai_steps >= 1 and template.checkpoints >= 1, stem


def test_cli_validate_accepts_every_template_file(capsys: pytest.CaptureFixture[str]) -> None:
    files = sorted(str(p) for p in TEMPLATES_DIR.glob("*.json"))
    assert cli_main(["validate", *files]) == 0
    assert capsys.readouterr().out.count(": ok") == len(TEMPLATE_IDS)


@pytest.mark.parametrize("stem", sorted(TEMPLATE_IDS))
def test_template_is_ready_for_a_team(app: Loopdesk, stem: str) -> None:
    """Description, sections, a form that submits as is, and reviewers who exist."""
    wf = load_template(stem)
    assert len(wf.description) > 80 and len(wf.sections) >= 3
    trigger = wf.trigger()
    assert trigger.title_field
    for f in trigger.fields:
        sample = f.default if f.default is not None else f.example
        assert f.label and sample not in (None, ""), f"{stem}: field {f.name} needs a label and an example"
    for node in wf.nodes:
        assert node.title, f"{stem}: node {node.id} needs a title for the canvas"
        if isinstance(node, ApprovalNode):
            assert app.directory.exists(node.assignee), node.assignee
            assert node.instructions and node.editable_values, node.id
    # the form's example values start a run that waits for a person, and never fill a blank
    app.save_workflow(wf, "dana")
    run = app.start_run(wf.id, example_values(trigger), "dana")
    assert run.status == "waiting"
    sampled = [f.name for f in trigger.fields if f.required and f.default is None]
    with pytest.raises(FormValidationError) as refused:
        app.start_run(wf.id, {}, "dana")
    assert sorted(refused.value.errors) == sorted(sampled)


@pytest.mark.parametrize("stem", sorted(TEMPLATE_IDS))
def test_canvas_layout_has_no_overlapping_nodes(stem: str) -> None:
    assert_readable_layout(load_template(stem))  # as shipped, top to bottom


def test_marketing_template_keeps_the_ids_other_features_rely_on() -> None:
    wf = load_template("marketing_social_post")
    assert wf.id == "marketing-social-post"
    assert wf.sections == ["Intake", "Draft review", "Translation", "Published", "Rejected"]
    review = wf.node("review")
    assert isinstance(review, ApprovalNode) and review.assignee == "jamie"
    assert review.editable_values == ["draft"]
    assert {"form", "draft", "to_review", "review", "translate"} <= {n.id for n in wf.nodes}


def test_support_reply_branches_on_the_ai_classification() -> None:
    wf = load_template("support_reply")
    classify = wf.node("classify")
    assert isinstance(classify, AIStepNode) and classify.output_kind == "classification"
    assert classify.labels == ["billing", "bug", "how-to", "other"]
    route = {e.label: e.target for e in wf.outgoing("route")}
    assert route == {
        "billing": "draft_billing",
        "bug": "draft_bug",
        "how-to": "draft_howto",
        "default": "draft_other",
    }


# -- end to end along every decision path ---------------------------------------------------


@pytest.mark.parametrize("name", list(JOURNEYS))
def test_approve_all_the_way(app: Loopdesk, name: str) -> None:
    journey = JOURNEYS[name]
    run = start(app, journey)
    assert (run.status, run.section) == ("waiting", journey.stages[0].section)
    assert {k: run.values[k] for k in journey.values} == journey.values
    ran = ran_nodes(app, run.id)
    assert set(journey.ran) <= set(ran) and not set(journey.skipped) & set(ran), ran
    run = approve_rest(app, run, journey, -1)
    assert_finished(run, journey)
    for name in journey.produces:
        assert str(run.values[name]).strip(), f"{name} is empty"


@pytest.mark.parametrize(("name", "index"), STAGES, ids=STAGE_IDS)
def test_approve_with_edit_reaches_later_steps(app: Loopdesk, name: str, index: int) -> None:
    journey = JOURNEYS[name]
    stage = journey.stages[index]
    run, cp = reach(app, start(app, journey), journey, index)
    original = run.values[stage.editable]
    edit = stage.edit if stage.edit is not None else f"{original}\n\n{EDITED_SENTENCE}"
    run = app.decide(cp.id, stage.decider, Approve(comment="tightened", edits={stage.editable: str(edit)}))
    if stage.consumer is not None:
        (prompt,) = prompts(app, run.id, stage.consumer)
        assert stage.edit_shows_as in prompt
    run = approve_rest(app, run, journey, index)
    assert_finished(run, journey)
    assert run.values[stage.editable] == edit
    decision = next(c for c in app.run_detail(run.id, "cli").checkpoints if c.id == cp.id).decision
    assert decision is not None and decision["edits"][stage.editable]["before"] == original


@pytest.mark.parametrize(("name", "index"), STAGES, ids=STAGE_IDS)
def test_request_changes_then_approve(app: Loopdesk, name: str, index: int) -> None:
    journey = JOURNEYS[name]
    stage = journey.stages[index]
    run, cp = reach(app, start(app, journey), journey, index)
    before = prompts(app, run.id, stage.drafter)
    run = app.decide(cp.id, stage.decider, RequestChanges(comment=NOTE))
    # the AI step ran again with the note, and the revision is back in the same inbox
    after = prompts(app, run.id, stage.drafter)
    assert len(after) == len(before) + 1
    assert NOTE not in after[0] and NOTE in after[-1]
    again = pending(app, run.id)
    assert (again.node_id, again.assignee) == (stage.node, stage.assignee) and again.id != cp.id
    assert again.id in {c.id for c in app.inbox(stage.decider)}
    assert run.revisions == 1
    run = app.decide(again.id, stage.decider, Approve())
    run = approve_rest(app, run, journey, index)
    assert_finished(run, journey)
    # every answer the demo gave on the way is a text a presenter could publish
    for step in app.store.list_steps(run.id):
        if step.kind == "ai_step":
            assert unpublishable(step.output) == [], (step.node_id, step.output)


_CUT_ENDINGS = frozenset(
    ["at", "of", "for", "to", "in", "on", "with", "by", "and", "or", "the", "a", "an", "from"]
)


def unpublishable(answer: Any) -> list[str]:
    """What keeps a demo answer from being published as it is: a tag or marker, a word cut off, a
    phrase said twice in a row, the same sentence twice, a hashtag that stops mid-phrase."""
    if isinstance(answer, dict):
        return [p for value in answer.values() for p in unpublishable(value)]
    text = str(answer)
    problems = [f"marker {m!r}" for m in MARKERS if m.lower() in text.lower()]
    if "…" in text:
        problems.append("a text cut off (…)")
    words = re.findall(r"[\w'’]+", text.lower())
    for n in range(3, 9):
        for i in range(len(words) - 2 * n + 1):
            if words[i : i + n] == words[i + n : i + 2 * n]:
                problems.append(f"says {' '.join(words[i : i + n])!r} twice in a row")
    sentences = [x.strip() for x in re.split(r"(?<=[.!?])\s+|\n+", text) if len(x.split()) >= 4]
    problems += [
        f"the same sentence twice: {x!r}" for x in dict.fromkeys(sentences) if sentences.count(x) > 1
    ]
    for tag in re.findall(r"#(\w+)", text):
        parts = re.findall(r"[A-Z][a-z0-9]*|[a-z0-9]+", tag)
        if parts and parts[-1].lower() in _CUT_ENDINGS:
            problems.append(f"hashtag #{tag} stops mid-phrase")
    return problems


MARKERS = ("[Demo", "Revised per", "reviewer note", "Reviewer feedback", "demo output", "offline demo")


def test_an_inserted_step_that_tightens_the_draft_gives_a_clean_and_different_text(app: Loopdesk) -> None:
    """A designer's "Tighten the post" between the draft and the review: the demo rewrites the text it is
    given (no "Let's talk about Let's talk about"), visibly different from the draft."""
    wf = load_template("marketing_social_post")
    data = wf.model_dump(mode="json")
    data["nodes"].append({"id": "tighten", "type": "ai_step", "title": "Tighten the post",
                          "instruction": "Tighten the post below so it reads faster.\n\n{{ draft }}",
                          "output_name": "tight"})  # fmt: skip
    edge = next(e for e in data["edges"] if e["source"] == "draft")
    data["edges"].append({"id": "e-tight", "source": "tighten", "target": edge["target"]})
    edge["target"] = "tighten"
    review = next(n for n in data["nodes"] if n["id"] == "review")
    review["visible_values"] = [*review["visible_values"], "tight"]
    save_variant(app, Workflow.model_validate(data))
    run = app.start_run(wf.id, {**example_values(wf.trigger()), "topic": "our spring webinar"}, "dana")
    steps = {s.node_id: s for s in app.store.list_steps(run.id)}
    draft, tight = steps["draft"].output, steps["tighten"].output
    assert tight != draft and len(tight) < len(draft)
    assert tight.startswith(draft.split("\n\n")[0])  # the same post, tightened, not a new one around it
    assert unpublishable(tight) == [] and "let's talk about let's talk about" not in tight.lower()
    assert steps["tighten"].meta["notes"] == [
        "the offline demo model tightened the text (filler left out) (a demo stand-in for a model's rewrite)"
    ]


@pytest.mark.parametrize(("name", "index"), STAGES, ids=STAGE_IDS)
def test_reject_ends_in_the_rejected_section(app: Loopdesk, name: str, index: int) -> None:
    journey = JOURNEYS[name]
    stage = journey.stages[index]
    run, cp = reach(app, start(app, journey), journey, index)
    run = app.decide(cp.id, stage.decider, Reject(comment="Off brand; not worth fixing."))
    assert (run.status, run.section, run.outcome) == (
        "rejected",  # the rejection path's End finishes the run as rejected
        journey.rejected_section,
        journey.rejected_outcome,
    )
    assert app.store.list_checkpoints(CheckpointQuery(status="pending", run_id=run.id)) == []
    wf = app.get_workflow(run.workflow_id).definition
    later = {n.id for n in wf.nodes if isinstance(n, AIStepNode)} - set(journey.ran) - {stage.drafter}
    later -= {s.drafter for s in journey.stages[:index]}
    assert not later & set(ran_nodes(app, run.id)), "nothing after the rejection ran"


def test_editor_note_does_not_leak_into_the_localisation(app: Loopdesk) -> None:
    journey = JOURNEYS["blog"]
    run, cp = reach(app, start(app, journey), journey, 0)
    run = app.decide(cp.id, "jamie", RequestChanges(comment=NOTE))
    run = app.decide(pending(app, run.id).id, "jamie", Approve())
    assert run.values["feedback"] == ""
    (prompt,) = prompts(app, run.id, "localise")
    # the revised article may quote the note, but the prompt must not ask for another revision
    assert "Reviewer feedback on the previous version" not in prompt


# -- installing templates and demo data ----------------------------------------------------


def test_install_templates_is_idempotent(app: Loopdesk) -> None:
    assert sorted(app.install_templates()) == sorted(TEMPLATE_IDS.values())
    assert app.install_templates() == []
    for template_id in TEMPLATE_IDS.values():
        assert len(app.versions(template_id)) == 1
    assert len(app.list_workflows()) == len(TEMPLATE_IDS)


def test_use_template_makes_an_editable_copy(app: Loopdesk) -> None:
    app.install_templates()
    copy = app.use_template("support-reply", "sam")
    assert copy.workflow_id not in TEMPLATE_IDS.values()
    assert copy.definition.nodes == load_template("support_reply").nodes
    assert len(app.versions("support-reply")) == 1
    run = app.start_run(copy.workflow_id, example_values(copy.definition.trigger()), "riley")
    assert run.status == "waiting" and pending(app, run.id).assignee == "sam"


def test_demo_data_fills_the_reviewers_inboxes(app: Loopdesk) -> None:
    run_ids = load_demo_data(app, "dana")
    assert len(run_ids) == len(DEMO_RUNS) == len(set(run_ids))
    assert {app.engine.get_run(r).status for r in run_ids} == {"waiting"}
    assert {w.workflow_id for w in app.list_workflows()} == set(TEMPLATE_IDS.values())
    waiting = {name: len(app.inbox(name)) for name in ("jamie", "sam", "morgan", "riley", "dana")}
    # Jamie: two social posts and a blog article; Sam: three replies, a refund as support and
    # one as manager; Morgan: the big refund; Riley filed the refunds, so the support team's
    # one is not hers to decide; Dana: nothing
    assert waiting == {"jamie": 3, "sam": 5, "morgan": 1, "riley": 0, "dana": 0}
    categories = sorted(
        str(app.engine.get_run(r).values["category"])
        for r in run_ids
        if app.engine.get_run(r).workflow_id == "support-reply"
    )
    assert categories == ["billing", "bug", "how-to"]


def test_demo_data_adds_a_batch_each_time(app: Loopdesk) -> None:
    first = load_demo_data(app, "dana")
    second = load_demo_data(app, "dana")
    assert not set(first) & set(second)
    assert len(app.inbox("jamie")) == 6
    assert all(len(app.versions(t)) == 1 for t in TEMPLATE_IDS.values())


def test_demo_data_puts_a_changed_template_back_as_shipped(app: Loopdesk) -> None:
    """A template changed in the database (before templates were read-only) is put back as shipped
    when demo data loads, so the demo runs start with the shipped form."""
    app.install_templates()
    data = app.get_workflow("marketing-social-post").definition.model_dump()
    form = next(n for n in data["nodes"] if n["id"] == "form")
    form["fields"] = [f for f in form["fields"] if f["name"] != "key_message"]
    draft = next(n for n in data["nodes"] if n["id"] == "draft")
    draft["instruction"] = draft["instruction"].replace("Key message: {{ key_message }}\n", "")
    review = next(n for n in data["nodes"] if n["id"] == "review")
    review["visible_values"].remove("key_message")
    save_variant(app, Workflow.model_validate(data))
    run_ids = load_demo_data(app, "dana")
    assert {app.engine.get_run(r).status for r in run_ids} == {"waiting"}
    assert app.get_workflow("marketing-social-post").definition == load_template("marketing_social_post")
    marketing = [
        app.engine.get_run(r) for r in run_ids if app.engine.get_run(r).workflow_id == "marketing-social-post"
    ]
    assert marketing and all(r.values.get("key_message") for r in marketing)


def test_refund_routes_on_the_amount_itself(app: Loopdesk) -> None:
    app.install_templates()
    base = {"customer_name": "A", "email": "a@example.com", "order_id": "INV-1", "reason": "oops"}
    big = app.start_run("refund-request", {**base, "amount": "100.01"}, "riley")
    small = app.start_run("refund-request", {**base, "amount": "100"}, "riley")
    assert app.store.list_checkpoints(CheckpointQuery(run_id=big.id))[0].assignee == "group:managers"
    assert app.store.list_checkpoints(CheckpointQuery(run_id=small.id))[0].assignee == "group:support"


def test_support_raising_the_amount_still_needs_a_manager(app: Loopdesk) -> None:
    app.install_templates()
    base = {"customer_name": "A", "email": "a@example.com", "order_id": "INV-2", "reason": "oops"}
    run = app.start_run("refund-request", {**base, "amount": 40}, "riley")
    cp = app.store.list_checkpoints(CheckpointQuery(run_id=run.id))[0]
    after = app.decide(cp.id, "sam", Approve(edits={"amount": "5000"}))
    assert after.status == "waiting"
    (manager,) = app.store.list_checkpoints(CheckpointQuery(status="pending", run_id=run.id))
    assert (manager.node_id, manager.assignee) == ("manager_review", "group:managers")
    assert manager.shown["amount"] == 5000
