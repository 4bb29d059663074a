"""Runs and Board pages: a run's timeline, canvas and audit; retry and cancel; tasks in sections."""

from __future__ import annotations

import time
from pathlib import Path

from engine.decisions import Approve
from engine.llm.base import CallProgress, LLMError, LLMRequest, LLMResponse
from engine.services import Loopdesk
from tests.ui.conftest import click, page, shown
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]
RUNS = str(ROOT / "pages" / "runs.py")
BOARD = str(ROOT / "pages" / "board.py")
INSIGHTS = str(ROOT / "pages" / "insights.py")
MARKETING = "marketing-social-post"


class DownProvider:
    """A model provider that is down (every call fails)."""

    kind = "openai"

    def complete(self, request: LLMRequest, progress: CallProgress | None = None) -> LLMResponse:
        """Fail like an unreachable API."""
        raise LLMError("the AI provider is unreachable (connection refused)")


def test_runs_page_lists_runs_and_shows_a_runs_steps_canvas_and_audit(service: Loopdesk) -> None:
    run = service.start_run(MARKETING, {"topic": "Autumn release"}, "dana")
    at = page(RUNS)
    table = at.dataframe[0].value
    assert list(table["Task"]) == ["Autumn release"] and list(table["Status"]) == ["waiting"]
    assert at.selectbox[0].label == "Status" and "failed" in at.selectbox[0].options

    at = page(RUNS, run=run.id)
    assert any(h.value == "Autumn release" for h in at.subheader)
    steps = next(df.value for df in at.dataframe if "Step" in df.value.columns)
    assert list(steps["Step"]) == ["Post request", "Draft the post", "To draft review"]
    draft = steps[steps["Step"] == "Draft the post"].iloc[0]
    assert draft["Kind"] == "AI step" and draft["Model"] == "offline demo model" and int(draft["Tokens"]) > 0
    assert draft["Cost"] == "free (demo)"
    assert any("waiting for" in w.value and "Jamie Rivera" in w.value for w in at.warning)
    # each AI step shows its prompt and answer as text
    assert any("let's talk about Autumn release" in c.value for c in at.code)
    assert any("demo output" in m.value for m in at.markdown)  # labelled beside the answer
    audit = next(df.value for df in at.dataframe if "Event" in df.value.columns)
    assert list(audit["Event"])[:2] == ["Run started", "Moved"] and audit["Actor"][0] == "Dana Kim"
    canvas = [e for e in at.get("component_instance") if "streamlit_flow" in e.proto.component_name]
    assert canvas, "the workflow canvas is drawn read-only"
    assert '"waiting"' in canvas[0].proto.json_args or "waiting" in canvas[0].proto.json_args

    # The audit trail names the reviewer once she decides.
    service.decide(service.inbox("jamie")[0].id, "jamie", Approve())
    at = page(RUNS, run=run.id)
    audit = next(df.value for df in at.dataframe if "Event" in df.value.columns)
    assert ("Jamie Rivera", "Approved") in set(zip(audit["Actor"], audit["Event"], strict=True))
    # a finished run shows what it delivers (its End's result)
    finished = service.store.get_run(run.id)
    assert finished is not None and finished.status == "completed"
    assert any(m.value == "**Translation** — what the run delivers" for m in at.markdown)
    assert any(c.value == finished.values["translation"] for c in at.code)


def test_runs_can_be_filtered_by_status_and_workflow(service: Loopdesk) -> None:
    other = service.new_workflow("Quick note", "dana")
    service.save_workflow(other, "dana")
    service.start_run(other.id, {"title": "A note"}, "dana")
    service.start_run(MARKETING, {"topic": "Kept"}, "dana")
    gone = service.start_run(MARKETING, {"topic": "Stopped"}, "dana")
    service.cancel(gone.id, "dana")
    at = page(RUNS)
    assert sorted(at.dataframe[0].value["Task"]) == ["A note", "Kept", "Stopped"]
    at.selectbox(key="runs_status").select("cancelled").run()
    assert list(at.dataframe[0].value["Task"]) == ["Stopped"]
    at.selectbox(key="runs_status").select("All").run()
    at.selectbox(key="runs_workflow").select(other.id).run()
    assert list(at.dataframe[0].value["Task"]) == ["A note"]
    assert list(at.dataframe[0].value["Status"]) == ["completed"]


def test_cancel_stops_a_waiting_run(service: Loopdesk) -> None:
    run = service.start_run(MARKETING, {"topic": "Cancel me"}, "dana")
    at = click(page(RUNS, run=run.id), "Cancel run")
    assert any("Cancelled" in s.value for s in at.success)
    assert service.engine.get_run(run.id).status == "cancelled"
    assert service.inbox("jamie") == []
    assert not any(b.label == "Cancel run" for b in at.button)


def test_cancel_that_lost_a_race_shows_the_engine_message(service: Loopdesk) -> None:
    run = service.start_run(MARKETING, {"topic": "Raced"}, "dana")
    at = page(RUNS, run=run.id)
    service.decide(service.inbox("jamie")[0].id, "jamie", Approve())  # completes meanwhile
    click(at, "Cancel run")
    assert f"run `{run.id}` is completed; it cannot be cancelled" in [e.value for e in at.error]
    assert service.engine.get_run(run.id).status == "completed"


def test_retry_continues_a_failed_run_from_the_failed_step(service: Loopdesk) -> None:
    demo = service.engine.provider
    service.engine.provider = DownProvider()  # type: ignore[assignment]
    try:
        run = service.start_run(MARKETING, {"topic": "Flaky AI"}, "dana")
    finally:
        service.engine.provider = demo
    assert run.status == "failed"
    at = page(RUNS, run=run.id)
    assert any("unreachable" in e.value for e in at.error)
    click(at, "Retry")
    assert any("Retrying" in s.value for s in at.success)
    wait_until(lambda: service.engine.get_run(run.id).status == "waiting", "the run moves on")
    steps = service.run_detail(run.id, "cli").steps
    assert [s.node_id for s in steps if s.status == "failed"] == ["draft"]
    assert [s.node_id for s in steps if s.status == "done"] == ["form", "draft", "to_review"]
    at = page(RUNS, run=run.id)
    assert not any(b.label == "Retry" for b in at.button)  # only failed runs offer Retry


def test_board_shows_each_task_in_its_section_and_follows_moves(service: Loopdesk) -> None:
    run = service.start_run(MARKETING, {"topic": "Board task"}, "dana")
    at = page(BOARD, workflow=MARKETING)
    assert at.selectbox[0].value == MARKETING
    headings = [m.value for m in at.markdown if m.value.startswith("##### ")]
    assert headings == [
        "##### Intake · 0",
        "##### Draft review · 1",
        "##### Translation · 0",
        "##### Published · 0",
        "##### Rejected · 0",
    ]
    assert any("waiting for **Jamie Rivera**" in c.value for c in at.caption)
    assert any(m.value == "**Board task**" for m in at.markdown)
    # what the task is about, at a glance: the start of the draft under review, and who asked
    draft = service.engine.get_run(run.id).values["draft"]
    opening = " ".join(draft.split())[:40]
    assert any(shown(c.value).startswith(opening) for c in at.caption), [c.value for c in at.caption]
    assert any(shown(c.value) == "asked by Dana Kim" for c in at.caption)

    service.decide(service.inbox("jamie")[0].id, "jamie", Approve())
    click(at, "Refresh")
    headings = [m.value for m in at.markdown if m.value.startswith("##### ")]
    assert "##### Published · 1" in headings and "##### Draft review · 0" in headings
    assert service.engine.get_run(run.id).section == "Published"


def test_insights_show_decision_rates_and_ai_usage(service: Loopdesk) -> None:
    service.start_run(MARKETING, {"topic": "One"}, "dana")
    service.start_run(MARKETING, {"topic": "Two"}, "dana")
    first, second = service.inbox("jamie")
    service.decide(first.id, "jamie", Approve(edits={"draft": "Shorter draft."}))
    service.decide(second.id, "jamie", Approve())
    at = page(INSIGHTS)
    cps = at.dataframe[0].value
    row = cps[cps["Checkpoint"] == "Review the draft"].iloc[0]
    assert row["Decided"] == 2 and row["Approved"] == "100%" and row["Approved with edits"] == "50%"
    wfs = at.dataframe[1].value
    marketing = wfs[wfs["Workflow"] == "Marketing social post"].iloc[0]
    assert marketing["Runs"] == 2 and marketing["Completed"] == 2 and marketing["Prompt tokens"] > 0


def test_a_notification_that_could_not_be_delivered_shows_on_the_run(service: Loopdesk) -> None:
    assert service.notifier is not None
    service.notifier.stop()  # with no channel set up it would mark the event skipped at once
    run = service.start_run(MARKETING, {"topic": "Noisy"}, "dana")
    [event] = service.store.list_events(run.id)  # made to look like a failed delivery
    assert event.status == "pending"
    event.status, event.attempts, event.next_at = "pending", 3, time.time() + 3600
    event.last_error = "webhook:http://crm.example/hook: HTTP 500 Internal Server Error"
    service.store.update_events([event])
    at = page(RUNS, run=run.id)
    notes = next(df.value for df in at.dataframe if "Last problem" in df.value.columns)
    assert list(notes["Event"]) == ["checkpoint.opened"] and list(notes["State"]) == ["retrying"]
    assert "HTTP 500" in notes["Last problem"][0]
    assert any("No notification channel is set up" in c.value for c in at.caption)


def test_a_demo_delivery_shows_what_would_have_been_sent_labelled_as_such(service: Loopdesk) -> None:
    from tests.engine.test_http_request import ticket_workflow

    service.save_workflow(ticket_workflow(), "dana")
    run = service.start_run("open-ticket", {"topic": "Printer", "priority": 2}, "dana")
    assert run.status == "completed", run.error
    at = page(RUNS, run=run.id)
    steps = next(df.value for df in at.dataframe if "Step" in df.value.columns)
    assert list(zip(steps["Step"], steps["Status"], strict=True))[1:3] == [
        ("Open ticket", "calling"),
        ("Open ticket", "done"),
    ]
    lines = [e.label for e in at.expander]
    assert any("Open ticket" in line and "demo delivery: nothing was sent" in line for line in lines)
    assert any("connection “crm” is not set up, so nothing was sent" in shown(i.value) for i in at.info)
    sent = [j.proto.body for j in at.json if '"Ticket: Printer"' in j.proto.body]
    assert sent and '"priority": 2' in sent[0].replace(":2", ": 2")  # exactly what it would have sent
