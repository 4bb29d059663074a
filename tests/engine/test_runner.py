"""The runner through every decision path, authorization, failure, retry and cancel, on every
backend."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.decisions import Approve, Reassign, Reject, RequestChanges
from engine.directory import Directory
from engine.errors import (
    AlreadyDecidedError,
    FormValidationError,
    InvalidDecisionError,
    InvalidStateError,
    NotAllowedError,
    NotFoundError,
)
from engine.llm.demo import DemoProvider
from engine.llm.openai_provider import OpenAIProvider
from engine.model import Workflow
from engine.records import CheckpointQuery
from engine.services import Loopdesk
from tests.backends import db_path_on_every_backend  # noqa: F401  (`db_path`: every backend)
from tests.engine.helpers import as_dict, linear_workflow, with_rejection_path
from tests.fakes.openai_server import FakeOpenAIServer, answer, error
from tests.waiting import wait_until


@pytest.fixture
def duckdb_file(tmp_path: Path) -> str:
    """For the tests of how an older DuckDB file is brought up to date."""
    return str(tmp_path / "older.duckdb")


@pytest.fixture
def wf(app: Loopdesk) -> Workflow:
    flow = linear_workflow()
    app.save_workflow(flow, "dana")
    return flow


def pending(app: Loopdesk, run_id: str) -> str:
    cps = app.store.list_checkpoints(CheckpointQuery(status="pending", run_id=run_id))
    assert len(cps) == 1, cps
    return cps[0].id


def step_nodes(app: Loopdesk, run_id: str) -> list[str]:
    return [s.node_id for s in app.store.list_steps(run_id)]


def test_run_pauses_at_checkpoint_and_shows_in_inbox(app: Loopdesk, wf: Workflow) -> None:
    run = app.start_run("wf", {"topic": "spring sale"}, "riley")
    assert run.status == "waiting"
    assert run.section == "Review"
    assert run.title == "spring sale"
    assert step_nodes(app, run.id) == ["form", "draft", "to_review"]
    assert "spring sale" in run.values["draft"]
    inbox = app.inbox("jamie")
    assert [c.run_id for c in inbox] == [run.id]
    assert inbox[0].shown == {"topic": "spring sale", "draft": run.values["draft"]}
    assert inbox[0].instructions == "Check the X post"
    assert app.inbox("sam") == []


def test_approve_with_edit_replaces_value_for_later_steps(app: Loopdesk, wf: Workflow) -> None:
    run = app.start_run("wf", {"topic": "spring sale"}, "riley")
    original = run.values["draft"]
    cp = pending(app, run.id)
    done = app.decide(cp, "jamie", Approve(edits={"draft": "Spring sale: 20% off, this week only."}))
    assert done.status == "completed" and done.outcome == "Published" and done.section == "Published"
    assert done.values["draft"] == "Spring sale: 20% off, this week only."
    translate = next(s for s in app.store.list_steps(run.id) if s.node_id == "translate")
    assert "Spring sale: 20% off, this week only." in translate.input["messages"][-1]["content"]
    decision = next(s for s in app.store.list_steps(run.id) if s.node_id == "review")
    assert decision.output["edits"]["draft"]["before"] == original  # the original stays in history
    audit = [a for a in app.store.list_audit(run.id) if a.event == "decision_approve"]
    assert audit[0].actor == "jamie"
    assert audit[0].detail["shown"]["draft"] == original
    assert app.engine.get_checkpoint(cp).decided_by == "jamie"


def test_reject_without_rejected_edge_stops_run_as_rejected(app: Loopdesk, wf: Workflow) -> None:
    run = app.start_run("wf", {"topic": "t"}, "riley")
    done = app.decide(pending(app, run.id), "jamie", Reject(comment="Off brand"))
    assert done.status == "rejected"
    assert done.current_node is None
    assert any(
        a.event == "rejected" and a.detail["reason"] == "Off brand" for a in app.store.list_audit(run.id)
    )


def test_reject_follows_rejected_edge(app: Loopdesk) -> None:
    app.save_workflow(with_rejection_path(), "dana")
    run = app.start_run("wf", {"topic": "t"}, "riley")
    done = app.decide(pending(app, run.id), "jamie", Reject(comment="no"))
    assert (done.status, done.section, done.outcome) == ("completed", "Rejected", "Rejected")


def test_request_changes_reruns_ai_with_feedback_and_returns_to_inbox(app: Loopdesk, wf: Workflow) -> None:
    run = app.start_run("wf", {"topic": "t"}, "riley")
    first = pending(app, run.id)
    again = app.decide(first, "jamie", RequestChanges(comment="Mention the free shipping"))
    assert again.status == "waiting" and again.revisions == 1
    second = pending(app, run.id)
    assert second != first
    drafts = [s for s in app.store.list_steps(run.id) if s.node_id == "draft"]
    assert len(drafts) == 2
    # the step places the note itself; the engine adds the answer it is revising
    again_said = [m["content"] for m in drafts[1].input["messages"]]
    assert "Reviewer feedback: Mention the free shipping" in again_said[-2]
    assert again_said[-1].startswith("Your previous answer:\n") and str(drafts[0].output) in again_said[-1]
    assert "Mention the free shipping" not in " ".join(m["content"] for m in drafts[0].input["messages"])
    assert [c.id for c in app.inbox("jamie")] == [second]


def test_loop_cap_stops_endless_revisions(app: Loopdesk) -> None:
    app.save_workflow(linear_workflow(max_revisions=2), "dana")
    run = app.start_run("wf", {"topic": "t"}, "riley")
    for _ in range(2):
        app.decide(pending(app, run.id), "jamie", RequestChanges(comment="again"))
    cp = pending(app, run.id)
    with pytest.raises(InvalidDecisionError, match="already sent back 2 time"):
        app.decide(cp, "jamie", RequestChanges(comment="again"))
    assert app.engine.get_checkpoint(cp).status == "pending"
    assert app.decide(cp, "jamie", Approve()).status == "completed"


def test_comment_required_for_reject_and_changes(app: Loopdesk, wf: Workflow) -> None:
    run = app.start_run("wf", {"topic": "t"}, "riley")
    cp = pending(app, run.id)
    with pytest.raises(InvalidDecisionError, match="needs a reason"):
        app.decide(cp, "jamie", Reject(comment="  "))
    with pytest.raises(InvalidDecisionError, match="needs a note"):
        app.decide(cp, "jamie", RequestChanges())
    assert app.engine.get_checkpoint(cp).status == "pending"
    assert app.engine.get_run(run.id).status == "waiting"


def test_only_editable_values_may_be_edited(app: Loopdesk, wf: Workflow) -> None:
    run = app.start_run("wf", {"topic": "t"}, "riley")
    cp = pending(app, run.id)
    with pytest.raises(InvalidDecisionError, match="`topic` is not editable"):
        app.decide(cp, "jamie", Approve(edits={"topic": "other"}))
    assert app.engine.get_run(run.id).values["topic"] == "t"


def test_wrong_user_cannot_decide_and_nothing_changes(app: Loopdesk, wf: Workflow) -> None:
    run = app.start_run("wf", {"topic": "t"}, "riley")
    cp = pending(app, run.id)
    with pytest.raises(NotAllowedError, match="Sam Okafor may not decide this checkpoint"):
        app.decide(cp, "sam", Approve())
    with pytest.raises(NotFoundError):  # someone the directory does not know sees nothing
        app.decide(cp, "nobody", Approve())
    assert app.engine.get_checkpoint(cp).status == "pending"
    assert app.engine.get_run(run.id).status == "waiting"
    assert not any(a.event.startswith("decision") for a in app.store.list_audit(run.id))


def test_admin_may_decide_anything(app: Loopdesk, wf: Workflow) -> None:
    run = app.start_run("wf", {"topic": "t"}, "riley")
    assert app.decide(pending(app, run.id), "alex", Approve()).status == "completed"


def test_group_assignee_any_member_decides(app: Loopdesk) -> None:
    data = as_dict(linear_workflow())
    next(n for n in data["nodes"] if n["id"] == "review")["assignee"] = "group:marketing"
    app.save_workflow(Workflow.model_validate(data), "dana")
    run = app.start_run("wf", {"topic": "t"}, "riley")
    assert [c.run_id for c in app.inbox("morgan")] == [run.id]
    assert [c.run_id for c in app.inbox("jamie")] == [run.id]
    with pytest.raises(NotAllowedError):
        app.decide(pending(app, run.id), "sam", Approve())
    assert app.decide(pending(app, run.id), "morgan", Approve()).status == "completed"


def test_reassign_keeps_checkpoint_open_for_the_new_reviewer(app: Loopdesk, wf: Workflow) -> None:
    run = app.start_run("wf", {"topic": "t"}, "riley")
    cp = pending(app, run.id)
    still = app.decide(cp, "jamie", Reassign(to="morgan", comment="you know this product"))
    assert still.status == "waiting"
    assert app.inbox("jamie") == [] and [c.id for c in app.inbox("morgan")] == [cp]
    with pytest.raises(NotAllowedError):
        app.decide(cp, "jamie", Approve())
    with pytest.raises(InvalidDecisionError, match="no such user or group"):
        app.decide(cp, "morgan", Reassign(to="ghost"))
    assert app.decide(cp, "morgan", Approve()).status == "completed"


def test_decided_twice_reports_who(app: Loopdesk, wf: Workflow) -> None:
    run = app.start_run("wf", {"topic": "t"}, "riley")
    cp = pending(app, run.id)
    app.decide(cp, "jamie", Approve())
    with pytest.raises(AlreadyDecidedError, match=r"Already .* by Jamie Rivera at "):
        app.decide(cp, "alex", Reject(comment="late"))


def test_form_values_are_checked(app: Loopdesk, wf: Workflow) -> None:
    with pytest.raises(FormValidationError) as err:
        app.start_run("wf", {"topic": " ", "channel": "Myspace", "extra": "1"}, "riley")
    assert err.value.errors["topic"] == "Topic is required"
    assert "not one of: LinkedIn, X" in err.value.errors["channel"]
    assert "no field `extra`" in err.value.errors["extra"]
    assert app.list_runs("cli") == []


def test_defaults_fill_missing_inputs(app: Loopdesk, wf: Workflow) -> None:
    run = app.start_run("wf", {"topic": "t"}, "riley")
    assert run.values["channel"] == "X"


def test_unknown_ids_are_clear_errors(app: Loopdesk, wf: Workflow) -> None:
    with pytest.raises(NotFoundError, match="no workflow with id `nope`"):
        app.start_run("nope", {}, "riley")
    with pytest.raises(NotFoundError, match="no checkpoint"):
        app.decide("cp_missing", "jamie", Approve())


def test_run_keeps_the_version_it_started_on(app: Loopdesk, wf: Workflow) -> None:
    run = app.start_run("wf", {"topic": "t"}, "riley")
    data = as_dict(wf)
    next(n for n in data["nodes"] if n["id"] == "translate")["instruction"] = (
        "Translate to French: {{ draft }}"
    )
    app.save_workflow(Workflow.model_validate(data), "dana")
    app.decide(pending(app, run.id), "jamie", Approve())
    translate = next(s for s in app.store.list_steps(run.id) if s.node_id == "translate")
    assert "German" in translate.input["messages"][-1]["content"]
    new_run = app.start_run("wf", {"topic": "t"}, "riley")
    assert new_run.version == 2


@pytest.fixture
def fake_ai() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


def openai_app(db_path: str, server: FakeOpenAIServer) -> Loopdesk:
    provider = OpenAIProvider("sk-test-not-a-real-key", base_url=server.base_url, timeout=5, max_retries=1)
    return Loopdesk.open(db_path, provider=provider, directory=Directory.load(), workers=2)


def test_failed_step_then_retry_from_that_step(db_path: str, fake_ai: FakeOpenAIServer) -> None:
    app = openai_app(db_path, fake_ai)
    try:
        app.save_workflow(linear_workflow(), "dana")
        run = app.start_run("wf", {"topic": "t"}, "riley")
        assert len(fake_ai.chat_requests) == 1
        fake_ai.plan(error(500), error(500))
        failed = app.decide(pending(app, run.id), "jamie", Approve())
        assert failed.status == "failed" and failed.failed_node == "translate"
        assert "retry" in (failed.error or "").lower()
        assert len(fake_ai.chat_requests) == 3  # draft once, translate tried twice
        fake_ai.plan(answer("Auf Deutsch"))
        done = app.retry(run.id, "riley")
        assert done.status == "completed" and done.values["translation"] == "Auf Deutsch"
        assert len(fake_ai.chat_requests) == 4  # the paid draft was not re-run
        statuses = [(s.node_id, s.status) for s in app.store.list_steps(run.id)]
        assert statuses.count(("draft", "done")) == 1
        assert ("translate", "failed") in statuses and ("translate", "done") in statuses
        with pytest.raises(InvalidStateError, match="only failed runs can be retried"):
            app.retry(run.id, "riley")
    finally:
        app.close()


def test_cancel_waiting_run_closes_checkpoint(app: Loopdesk, wf: Workflow) -> None:
    run = app.start_run("wf", {"topic": "t"}, "riley")
    cp = pending(app, run.id)
    done = app.cancel(run.id, "dana")
    assert done.status == "cancelled"
    assert app.inbox("jamie") == []
    assert app.engine.get_checkpoint(cp).status == "cancelled"
    with pytest.raises(AlreadyDecidedError, match="no longer open"):
        app.decide(cp, "jamie", Approve())
    with pytest.raises(InvalidStateError):
        app.cancel(run.id, "dana")


def test_due_checkpoint_applies_its_timeout_action(app: Loopdesk) -> None:
    data = as_dict(linear_workflow())
    review = next(n for n in data["nodes"] if n["id"] == "review")
    review.update(due_hours=1, on_timeout="reassign", timeout_assignee="morgan")
    app.save_workflow(Workflow.model_validate(data), "dana")
    run = app.start_run("wf", {"topic": "t"}, "riley")
    cp = app.engine.get_checkpoint(pending(app, run.id))
    assert [e.checkpoint_id for e in app.engine.apply_timers(at=cp.created_at + 1800)] == []
    assert [e.checkpoint_id for e in app.engine.apply_timers(at=cp.created_at + 3601)] == [cp.id]
    assert [c.id for c in app.inbox("morgan")] == [cp.id]


def test_demo_steps_are_labelled_and_cost_nothing(app: Loopdesk, wf: Workflow) -> None:
    run = app.start_run("wf", {"topic": "t"}, "riley")
    draft = next(s for s in app.store.list_steps(run.id) if s.node_id == "draft")
    assert draft.meta["provider"] == "demo" and draft.meta["demo"] is True
    assert draft.meta["cost_usd"] == 0.0
    assert isinstance(app.engine.provider, DemoProvider)


def test_timer_thread_applies_due_timeouts(app: Loopdesk) -> None:
    data = as_dict(linear_workflow())
    review = next(n for n in data["nodes"] if n["id"] == "review")
    review.update(due_hours=0.0001, on_timeout="approve")  # due after 0.36 s
    app.save_workflow(Workflow.model_validate(data), "dana")
    run = app.start_run("wf", {"topic": "t"}, "riley")
    app.engine.start_timers(interval=0.2)
    wait_until(lambda: app.engine.get_run(run.id).status not in ("waiting", "running"), "the run ends")
    done = app.engine.get_run(run.id)
    assert done.status == "completed"
    decision = next(a for a in app.store.list_audit(run.id) if a.event == "decision_approve")
    assert decision.actor == "system" and "due time passed" in decision.detail["comment"]


def test_end_of_a_rejection_path_finishes_the_run_as_rejected(app: Loopdesk) -> None:
    app.save_workflow(with_rejection_path("Declined", "rejected"), "dana")
    run = app.start_run("wf", {"topic": "t"}, "riley")
    done = app.decide(pending(app, run.id), "jamie", Reject(comment="no"))
    assert (done.status, done.section, done.outcome) == ("rejected", "Rejected", "Declined")
    assert app.workflow_stats("cli")[0].runs == {"rejected": 1}


def test_a_revision_shows_the_reviewer_the_note_it_answers(app: Loopdesk, wf: Workflow) -> None:
    run = app.start_run("wf", {"topic": "t"}, "riley")
    assert "feedback" not in app.engine.get_checkpoint(pending(app, run.id)).shown
    app.decide(pending(app, run.id), "jamie", RequestChanges(comment="Shorter, please"))
    assert app.engine.get_checkpoint(pending(app, run.id)).shown["feedback"] == "Shorter, please"


def test_the_due_check_reads_only_items_with_an_action_still_to_take(app: Loopdesk) -> None:
    data = as_dict(linear_workflow())
    review = next(n for n in data["nodes"] if n["id"] == "review")
    review.update(due_hours=1, on_timeout="none")  # overdue shows in the Inbox, nothing happens
    app.save_workflow(Workflow.model_validate(data), "dana")
    run = app.start_run("wf", {"topic": "t"}, "riley")
    cp = app.engine.get_checkpoint(pending(app, run.id))
    assert cp.due_at is not None and cp.action_at is None
    later = cp.created_at + 7200
    assert app.store.due_checkpoints(later) == [] and app.engine.apply_timers(at=later) == []

    review.update(on_timeout="approve")
    app.save_workflow(Workflow.model_validate(data), "dana")
    acting = app.start_run("wf", {"topic": "acts"}, "riley")
    acp = app.engine.get_checkpoint(pending(app, acting.id))
    assert [c.id for c in app.store.due_checkpoints(acp.created_at + 3601)] == [acp.id]
    assert [e.checkpoint_id for e in app.engine.apply_timers(at=acp.created_at + 3601)] == [acp.id]
    assert app.store.due_checkpoints(later + 3600) == []  # decided: nothing left to read


def test_items_from_an_older_file_with_nothing_to_do_are_read_once(duckdb_file: str) -> None:
    app = Loopdesk.open(duckdb_file, provider=DemoProvider(), directory=Directory.load())
    try:
        items_of_an_older_file_are_read_once(app)
    finally:
        app.close()


def items_of_an_older_file_are_read_once(app: Loopdesk) -> None:
    data = as_dict(linear_workflow())
    review = next(n for n in data["nodes"] if n["id"] == "review")
    review.update(due_hours=1, on_timeout="none")
    app.save_workflow(Workflow.model_validate(data), "dana")
    run = app.start_run("wf", {"topic": "t"}, "riley")
    cp = app.engine.get_checkpoint(pending(app, run.id))
    # as the migration leaves an item of an older file: its due time counted as an action
    app.store._cur().execute("UPDATE pending_checkpoints SET action_at = due_at WHERE id = ?", [cp.id])  # type: ignore[attr-defined]
    later = cp.created_at + 7200
    assert [c.id for c in app.store.due_checkpoints(later)] == [cp.id]
    assert [e.checkpoint_id for e in app.engine.apply_timers(at=later)] == []
    assert app.store.due_checkpoints(later) == []  # not re-read every minute
    assert app.engine.get_checkpoint(cp.id).status == "pending"


def as_first_release(app: Loopdesk) -> None:
    """Turn the open database into the layout the first release wrote: every checkpoint in one
    table without action times, and no indexes."""
    cur = app.store._cur()  # type: ignore[attr-defined]
    for index in ("steps_by_run", "audit_by_run", "checkpoints_by_run", "outbox_by_run", "outbox_log_by_run"):
        cur.execute(f"DROP INDEX {index}")
    cur.execute("INSERT INTO checkpoints SELECT * FROM pending_checkpoints")
    cur.execute("DROP TABLE pending_checkpoints")
    cur.execute("ALTER TABLE checkpoints DROP COLUMN action_at")
    cur.execute("DELETE FROM store_meta WHERE key IN ('split_tables', 'stats_counters')")


def test_a_file_from_before_action_times_gets_them_on_open(duckdb_file: str) -> None:
    db_path = duckdb_file
    app = Loopdesk.open(db_path, provider=DemoProvider(), directory=Directory.load())
    data = as_dict(linear_workflow())
    next(n for n in data["nodes"] if n["id"] == "review").update(due_hours=1, on_timeout="approve")
    app.save_workflow(Workflow.model_validate(data), "dana")
    run = app.start_run("wf", {"topic": "t"}, "riley")
    cp_id = pending(app, run.id)
    as_first_release(app)
    app.close()
    app = Loopdesk.open(db_path, provider=DemoProvider(), directory=Directory.load())
    try:
        cp = app.engine.get_checkpoint(cp_id)
        assert cp.action_at == cp.due_at is not None
        assert [c.id for c in app.inbox("jamie")] == [cp_id]  # moved to the table of open items
        assert [e.checkpoint_id for e in app.engine.apply_timers(at=cp.created_at + 3601)] == [cp_id]
    finally:
        app.close()
