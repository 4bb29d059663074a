"""Regressions found in review: loops, stale cancels, unstorable answers, edits, timeouts, two stores."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from engine.decisions import Approve, Reassign
from engine.directory import Directory
from engine.errors import EngineError, FormValidationError, InvalidDecisionError, WorkflowValidationError
from engine.llm.base import CallProgress, LLMRequest, LLMResponse
from engine.model import Workflow
from engine.records import CheckpointQuery, RunRecord, Transition, now
from engine.runner import MAX_STEPS_PER_DRIVE
from engine.services import Loopdesk
from engine.store.duckdb import DuckDBStore
from engine.validation import validate_workflow
from tests.engine.helpers import as_dict, linear_workflow


def node(data: dict[str, Any], node_id: str) -> dict[str, Any]:
    return next(n for n in data["nodes"] if n["id"] == node_id)


def test_changes_requested_label_only_exempts_loops_from_approvals() -> None:
    data = as_dict(linear_workflow())
    data["edges"] = [e for e in data["edges"] if e["id"] != "e6"]
    data["edges"].append(
        {"id": "sneaky", "source": "translate", "target": "draft", "label": "changes_requested"}
    )
    messages = [str(p) for p in validate_workflow(Workflow.model_validate(data))]
    assert any("that goes back without a reviewer asking for changes" in m for m in messages)
    assert any("edge `sneaky`: carries the label “changes requested”" in m for m in messages)


def test_a_runaway_loop_is_stopped_not_spun_forever(app: Loopdesk) -> None:
    # bypass validation the way a bug elsewhere could: store a looping definition directly
    data = as_dict(linear_workflow())
    data["edges"] = [e for e in data["edges"] if e["id"] not in ("e2", "e3")]
    data["edges"] += [
        {"id": "x1", "source": "draft", "target": "to_review"},
        {"id": "x2", "source": "to_review", "target": "publish2"},
        {"id": "x3", "source": "publish2", "target": "to_review"},
    ]
    data["nodes"].append({"id": "publish2", "type": "move_to_section", "section": "Review"})
    wf = Workflow.model_validate(data)
    app.store.save_workflow(wf, "dana")
    app.engine._wf_cache[("wf", 1)] = wf  # the loop would be refused by validation
    app.engine._valid.add(("wf", 1))
    run = app.start_run("wf", {"topic": "loop"}, "riley")
    assert run.status == "failed"
    assert f"{MAX_STEPS_PER_DRIVE} steps without pausing" in (run.error or "")


def test_cancel_does_not_overwrite_a_decision_that_landed_first(app: Loopdesk) -> None:
    app.save_workflow(linear_workflow(), "dana")
    run = app.start_run("wf", {"topic": "t"}, "riley")
    cp = app.store.list_checkpoints(CheckpointQuery(run_id=run.id))[0].id
    done = app.decide(cp, "jamie", Approve(edits={"draft": "EDITED BY REVIEWER"}))
    assert done.status == "completed"
    # a cancel that read the run before the decision must not write old values back
    stale_read = app.engine.get_run
    calls = {"n": 0}

    def first_read_is_stale(run_id: str) -> Any:
        calls["n"] += 1
        return run if calls["n"] == 1 else stale_read(run_id)

    app.engine.get_run = first_read_is_stale  # type: ignore[method-assign]
    with pytest.raises(EngineError, match="is completed; it cannot be cancelled"):
        app.cancel(run.id, "dana")
    app.engine.get_run = stale_read  # type: ignore[method-assign]
    after = app.engine.get_run(run.id)
    assert after.status == "completed" and after.values["draft"] == "EDITED BY REVIEWER"


class SurrogateProvider:
    """Answers with half an emoji, as a server cutting at max_tokens may."""

    kind = "compatible"

    def complete(self, request: LLMRequest, progress: CallProgress | None = None) -> LLMResponse:
        return LLMResponse(text="Great news \ud83d", provider="compatible", model=request.model)


def test_any_answer_text_can_be_stored(db_path: str) -> None:
    app = Loopdesk.open(db_path, provider=SurrogateProvider(), directory=Directory.load())  # type: ignore[arg-type]
    try:
        app.save_workflow(linear_workflow(), "dana")
        run = app.start_run("wf", {"topic": "t"}, "riley")
        assert run.status == "waiting"
        assert app.engine.get_run(run.id).values["draft"] == "Great news \ud83d"
    finally:
        app.close()


@pytest.mark.parametrize("value", ["inf", "nan", "1e309", "-Infinity"])
def test_numbers_must_be_finite(app: Loopdesk, value: str) -> None:
    data = as_dict(linear_workflow())
    node(data, "form")["fields"].append({"name": "amount", "type": "number"})
    app.save_workflow(Workflow.model_validate(data), "dana")
    with pytest.raises(FormValidationError, match="must be a number"):
        app.start_run("wf", {"topic": "t", "amount": value}, "riley")


def test_big_integers_are_kept_exactly_up_to_the_stated_bound(app: Loopdesk) -> None:
    data = as_dict(linear_workflow())
    node(data, "form")["fields"].append({"name": "order", "type": "number", "label": "Order"})
    app.save_workflow(Workflow.model_validate(data), "dana")
    run = app.start_run("wf", {"topic": "t", "order": "999999999999999"}, "riley")
    assert run.values["order"] == 999_999_999_999_999
    for too_big in ("12345678901234567891", "1" * 400, "1e16"):
        with pytest.raises(FormValidationError) as refused:
            app.start_run("wf", {"topic": "t", "order": too_big}, "riley")
        assert refused.value.errors == {
            "order": "Order must be a number between -1,000,000,000,000,000 and 1,000,000,000,000,000"
        }
    assert len(app.store.list_runs()) == 1


def test_edits_take_the_declared_type(app: Loopdesk) -> None:
    data = as_dict(linear_workflow())
    node(data, "form")["fields"].append({"name": "amount", "type": "number"})
    node(data, "review")["visible_values"] = []
    node(data, "review")["editable_values"] = ["draft", "amount"]
    app.save_workflow(Workflow.model_validate(data), "dana")
    run = app.start_run("wf", {"topic": "t"}, "riley")
    cp = app.store.list_checkpoints(CheckpointQuery(run_id=run.id))[0].id
    with pytest.raises(InvalidDecisionError, match="`amount`: must be a number"):
        app.decide(cp, "jamie", Approve(edits={"amount": "nan"}))
    done = app.decide(cp, "jamie", Approve(edits={"amount": "450"}))
    assert done.values["amount"] == 450


def test_timeout_reassign_fires_once(app: Loopdesk) -> None:
    data = as_dict(linear_workflow())
    node(data, "review").update(
        due_hours=1, on_timeout="reassign", timeout_assignee="morgan", reassign_to=["jamie", "morgan"]
    )
    app.save_workflow(Workflow.model_validate(data), "dana")
    run = app.start_run("wf", {"topic": "t"}, "riley")
    cp = app.store.list_checkpoints(CheckpointQuery(run_id=run.id))[0]
    later = cp.created_at + 7200
    assert [e.checkpoint_id for e in app.engine.apply_timers(at=later)] == [cp.id]
    app.decide(cp.id, "morgan", Reassign(to="jamie"))
    assert [e.checkpoint_id for e in app.engine.apply_timers(at=later + 60)] == []
    assert app.engine.get_checkpoint(cp.id).assignee == "jamie"


def test_validation_catches_runtime_failures_early() -> None:
    data = as_dict(linear_workflow())
    node(data, "draft")["instruction"] = "{{ topic | shout }}"
    node(data, "translate")["instruction"] = '{% include "other" %}{{ draft }}'
    node(data, "form")["fields"] += [
        {"name": "self", "label": "Self"},
        {"name": "n", "type": "number", "default": "abc"},
    ]
    messages = [str(p) for p in validate_workflow(Workflow.model_validate(data))]
    assert any("No filter named 'shout'" in m for m in messages)
    assert any("cannot include, import or extend" in m for m in messages)
    assert any("`self` uses a reserved name" in m for m in messages)
    assert any("the default of `n` is not valid" in m for m in messages)


def test_branch_on_choice_must_cover_every_option_or_have_default() -> None:
    data = as_dict(linear_workflow())
    data["nodes"].insert(1, {"id": "route", "type": "branch", "value": "channel", "cases": ["X"]})
    data["edges"] = [e for e in data["edges"] if e["id"] != "e1"]
    data["edges"] += [
        {"id": "b0", "source": "form", "target": "route"},
        {"id": "b1", "source": "route", "target": "draft", "label": "X"},
    ]
    messages = [str(p) for p in validate_workflow(Workflow.model_validate(data))]
    assert any("`channel` can also be LinkedIn" in m for m in messages)


def test_a_second_store_on_the_same_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "one.duckdb"
    first = DuckDBStore(str(path))
    try:
        with pytest.raises(EngineError, match="already open in this process"):
            DuckDBStore(str(tmp_path / "." / "one.duckdb"))
    finally:
        first.close()
    DuckDBStore(str(path)).close()  # free again once closed


def test_recover_goes_on_past_a_broken_run(app: Loopdesk) -> None:
    app.save_workflow(linear_workflow(), "dana")
    ts = now()
    broken = RunRecord(
        id="run_broken", workflow_id="gone", version=7, status="running", current_node="draft",
        section=None, title="broken", values={}, started_by="x", created_at=ts, updated_at=ts,
    )  # fmt: skip
    fine = replace(
        broken,
        id="run_fine",
        workflow_id="wf",
        version=1,
        values={"topic": "t", "channel": "X", "feedback": ""},
    )
    app.store.apply(Transition(new_run=broken))
    app.store.apply(Transition(new_run=fine))
    assert sorted(app.recover()) == ["run_broken", "run_fine"]
    assert app.engine.get_run("run_fine").status == "waiting"
    assert app.engine.get_run("run_broken").status == "running"  # left for a person to look at


def test_unknown_reviewer_is_refused_on_save(app: Loopdesk) -> None:
    data = as_dict(linear_workflow())
    node(data, "review")["assignee"] = "jamei"
    with pytest.raises(WorkflowValidationError, match="node `review`: `jamei` is not a user or group"):
        app.save_workflow(Workflow.model_validate(data), "dana")
    assert app.list_workflows() == []


def test_importing_the_same_file_twice_adds_one_version(app: Loopdesk) -> None:
    text = linear_workflow().to_json()
    assert app.import_workflow(text, "dana", "wf.json").version == 1
    assert app.import_workflow(text, "dana", "wf.json").version == 1
    assert len(app.versions("wf")) == 1


def test_results_that_cannot_be_stored_fail_the_run_visibly(
    app: Loopdesk, monkeypatch: pytest.MonkeyPatch
) -> None:
    app.save_workflow(linear_workflow(), "dana")
    real_apply = app.store.apply

    def refuse_the_draft(t: Transition) -> None:
        if any(s.node_id == "draft" and s.status == "done" for s in t.steps):
            raise RuntimeError("disk full")
        real_apply(t)

    with monkeypatch.context() as patched:
        patched.setattr(app.store, "apply", refuse_the_draft)
        run = app.start_run("wf", {"topic": "t"}, "riley")
    assert (run.status, run.failed_node) == ("failed", "draft")
    assert run.error == "the step's result could not be saved: disk full"
    assert [s.status for s in app.store.list_steps(run.id)] == ["done", "failed"]
