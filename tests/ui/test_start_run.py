"""Start a run: the trigger form starts a real run, shows its progress, and refuses bad input at the field."""

from __future__ import annotations

import os
from pathlib import Path

from streamlit.testing.v1 import AppTest

from engine.llm.demo import DemoProvider
from engine.model import FormField
from engine.services import Loopdesk
from tests.ui.conftest import shown
from ui.runtime import get_app, reset_app

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "pages" / "start_run.py")
FORM = "form_marketing-social-post_v1"


def start_page(user: str = "dana", workflow: str = "marketing-social-post") -> AppTest:
    """The Start a run page for `user`, with `workflow` picked through the query string."""
    at = AppTest.from_file(PAGE, default_timeout=30)
    at.session_state["loopdesk_user"] = user
    at.query_params["workflow"] = workflow
    at.run()
    assert not at.exception, at.exception
    return at


def submit(at: AppTest) -> AppTest:
    """Press the form's Start run button."""
    next(b for b in at.button if b.label == "Start run").click().run()
    assert not at.exception, at.exception
    return at


def test_form_is_rendered_from_the_trigger(streamlit_app: None) -> None:
    at = start_page()
    assert at.text_input(key=f"{FORM}__topic").value == "the launch of our new analytics dashboard"
    topic = at.text_input(key=f"{FORM}__topic")
    assert topic.label == "Topic" and topic.proto.required  # shown as "Topic (required)"
    assert not at.text_area(key=f"{FORM}__key_message").proto.required
    channel = at.selectbox(key=f"{FORM}__channel")
    assert channel.options == ["LinkedIn", "X", "Instagram", "Facebook"] and channel.value == "LinkedIn"
    assert "What the post is about, in a phrase." in [shown(c.value) for c in at.caption]


def test_submitting_the_form_starts_a_run_that_waits_for_the_reviewer(streamlit_app: None) -> None:
    at = start_page()
    at.text_input(key=f"{FORM}__topic").input("Our spring webinar")
    submit(at)

    assert len(at.status) == 1 and "waiting for Jamie Rivera" in at.status[0].label
    lines = [m.value for m in at.markdown]
    assert any("Draft the post" in line and "demo output" in line for line in lines)
    assert any("Waiting for **Jamie Rivera**" in i.value for i in at.info)
    run_id = at.session_state["start_run_last"]["marketing-social-post"]
    assert any(f"run={run_id}" in line for line in lines)  # the link to the run

    # A rerun still shows the progress of the last run.
    at.run()
    assert any("Draft the post" in m.value for m in at.markdown)

    # The run really paused at the review checkpoint, durably: a fresh service sees it waiting.
    reset_app()
    fresh = Loopdesk.open(os.environ["LOOPDESK_DB"], provider=DemoProvider(), workers=1)
    try:
        run = fresh.engine.get_run(run_id)
        assert run.status == "waiting" and run.current_node == "review"
        assert run.title == "Our spring webinar" and run.started_by == "dana"
        assert [c.run_id for c in fresh.inbox("jamie")] == [run_id]
    finally:
        fresh.close()


def test_an_empty_required_field_is_reported_and_no_run_is_created(streamlit_app: None) -> None:
    at = start_page()
    at.text_input(key=f"{FORM}__topic").input("   ")
    submit(at)

    errors = [e.value for e in at.error]
    assert "Topic is required" in errors
    assert "start_run_last" not in at.session_state
    assert get_app().list_runs("cli") == []


def test_engine_validation_is_shown_at_the_field(streamlit_app: None) -> None:
    app = get_app()
    wf = app.new_workflow("Contact request", "dana")
    trigger = wf.trigger()
    trigger.fields = [
        FormField(name="title", label="Title", required=True),
        FormField(name="email", label="Email", type="email", required=True),
        FormField(name="seats", label="Seats", type="number", default=3),
    ]
    app.save_workflow(wf, "dana")

    at = start_page(workflow=wf.id)
    form = f"form_{wf.id}_v1"
    assert at.number_input(key=f"{form}__seats").value == 3
    at.text_input(key=f"{form}__title").input("Quote for ACME")
    at.text_input(key=f"{form}__email").input("not-an-email")
    submit(at)

    assert "Email: 'not-an-email' is not an email address" in [shown(e.value) for e in at.error]
    assert app.list_runs("cli") == []

    at.text_input(key=f"{form}__email").input("buyer@acme.test")
    submit(at)
    runs = app.list_runs("cli")
    assert len(runs) == 1 and runs[0].values["email"] == "buyer@acme.test" and runs[0].values["seats"] == 3


def test_the_same_form_submitted_twice_starts_one_run(streamlit_app: None) -> None:
    service = get_app()
    at = start_page()
    at.text_input(key=f"{FORM}__topic").input("Twice clicked")
    submit(at)
    first = at.session_state["start_run_last"]["marketing-social-post"]
    submit(at)  # the same values again, a moment later

    assert at.session_state["start_run_last"]["marketing-social-post"] == first
    assert any("started once, not twice" in shown(i.value) for i in at.info)
    titles = [r.title for r in service.list_runs("dana", limit=50)]
    assert titles.count("Twice clicked") == 1

    at.text_input(key=f"{FORM}__topic").input("Another topic")  # a change is a new request
    submit(at)
    assert at.session_state["start_run_last"]["marketing-social-post"] != first


def test_a_copy_of_a_template_shows_its_examples_as_placeholders_and_fills_them_on_request(
    streamlit_app: None,
) -> None:
    app = get_app()
    copy = app.use_template("support-reply", "sam").definition
    at = start_page("sam", copy.id)
    form = f"form_{copy.id}_v1"
    message = at.text_area(key=f"{form}__message")
    assert message.value == "" and message.placeholder.startswith("e.g. Hi there, I was charged twice")
    assert at.text_input(key=f"{form}__customer_name").placeholder == "e.g. Maria Lopez"
    submit(at)  # blank: refused at each field, the sample customer never fills them
    errors = " ".join(shown(e.value) for e in at.error)
    assert "Customer name is required" in errors and "Message is required" in errors
    assert app.list_runs("sam", workflow_id=copy.id) == []
    next(b for b in at.button if b.label == "Fill in the examples").click().run()
    assert at.text_input(key=f"{form}__customer_name").value == "Maria Lopez"
    submit(at)
    (run,) = app.list_runs("sam", workflow_id=copy.id)
    assert run.values["customer_name"] == "Maria Lopez" and run.status == "waiting"
