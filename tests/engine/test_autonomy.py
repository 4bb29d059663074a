"""Graduated autonomy (issue 16, item 6): auto-approve with spot checks once the drafts have earned
it, one run in K still to a person, unusual drafts and revisions to a person, and a failed spot check
switching it off — through the real engine on the demo model."""

from __future__ import annotations

import time

import pytest

from engine.autonomy import Standing, route, standing
from engine.decisions import Approve, Reject, RequestChanges
from engine.directory import SYSTEM
from engine.model import AutoApproval, Quorum
from engine.records import CheckpointQuery, CheckpointRecord
from engine.runner import Engine
from engine.services import Loopdesk
from tests.engine.helpers import with_auto_approval
from tests.engine.test_cli import cli
from tests.engine.test_learning import INPUTS, decide, with_instruction
from tests.waiting import wait_until
from ui.timeline import audit_detail

RULE = AutoApproval(threshold=0.75, window=4, spot_check_every=3, unusual_below=0.9)
OTHER = {**INPUTS, "topic": "Winter clearance of garden furniture", "audience": "Gardeners in the north"}
"""Inputs whose demo draft is unlike the Spring sale ones (word similarity about 0.7)."""


@pytest.fixture
def wid(app: Loopdesk) -> str:
    """Dana's copy of the marketing template, its review step set to auto-approve under RULE."""
    own = app.use_template("marketing-social-post", "dana").definition
    return app.save_workflow(with_auto_approval(own, RULE), "dana").workflow_id


def next_checkpoint(app: Loopdesk, wid: str, inputs: dict[str, str] = INPUTS) -> CheckpointRecord:
    """Start a run and return the review checkpoint it reached (pending, or auto-approved)."""
    run = app.start_run(wid, inputs, "dana")
    (cp,) = app.store.list_checkpoints(CheckpointQuery(status=None, run_id=run.id))
    return cp


def review_as_is(app: Loopdesk, wid: str, times: int) -> None:
    """`times` runs that go to a person while auto-approval is off (no spot check), each approved as
    it is."""
    for _ in range(times):
        cp = next_checkpoint(app, wid)
        assert cp.status == "pending" and cp.policy.spot_check == ""
        decide(app, cp, Approve())


def test_auto_approval_switches_on_spot_checks_one_in_k_and_is_recorded_as_such(
    app: Loopdesk, wid: str
) -> None:
    # not earned yet: every run goes to a person, unmarked
    first = next_checkpoint(app, wid)
    assert first.status == "pending" and first.policy.spot_check == ""
    decide(app, first, Approve())
    review_as_is(app, wid, 3)  # four of four approved as is: earned (needs 75% of 4)

    auto = next_checkpoint(app, wid)
    assert auto.status == "decided" and auto.decided_by == SYSTEM
    assert auto.decision is not None and auto.decision["kind"] == "approve"
    why = auto.decision["auto_approved"]
    assert why["rate"] == 1.0 and why["reviews"] == 4 and why["spot_check_every"] == 3
    assert why["similarity"] == 1.0  # the demo writes the same post for the same inputs
    run = app.store.get_run(auto.run_id)
    assert run is not None and run.status == "completed" and run.section == "Published"
    events = [a.event for a in app.store.list_audit(auto.run_id)]
    assert "auto_approved" in events and "checkpoint_opened" not in events
    assert "Auto-approved: 100% of the last 4 reviews" in auto.decision["comment"]
    assert not [e for e in app.store.list_events(auto.run_id) if e.event == "checkpoint.opened"]
    said = next(e for e in app.store.list_audit(auto.run_id) if e.event == "auto_approved")
    wf = app.get_workflow(wid).definition
    assert audit_detail(said, app.directory, wf) == (
        "“Review the draft”: 100% of the last 4 reviews by people were approved as they were"
    )
    assert app.inbox("jamie") == []  # nobody was asked

    assert next_checkpoint(app, wid).status == "decided"  # the second auto-approval
    spot = next_checkpoint(app, wid)  # the third run: one in three goes to a person
    assert spot.status == "pending" and spot.policy.spot_check == "one run in 3"
    opened = next(a for a in app.store.list_audit(spot.run_id) if a.event == "checkpoint_opened")
    assert opened.detail["spot_check"] == "one run in 3"
    assert audit_detail(opened, app.directory, wf).endswith("(spot check: one run in 3)")
    assert [cp.id for cp in app.inbox("jamie")] == [spot.id]
    decide(app, spot, Approve())
    assert next_checkpoint(app, wid).status == "decided"  # passed: on again

    (report,) = app.review_report("dana", wid)
    assert report["overall"]["auto_approved"] == 3
    assert report["overall"]["reviews"] == 5  # the people's reviews only
    assert report["reviewers"].keys() == {"jamie"}
    # one approved task costs what all the draft calls cost over every approval, people's and Loopdesk's
    draft = report["ai_steps"]["draft"]["1"]
    assert draft["auto_approved"] == 3 and draft["ai_calls"] == 8
    tokens = sum(
        int(s.meta["prompt_tokens"]) + int(s.meta["completion_tokens"])
        for run in app.store.list_runs(workflow_id=wid, limit=100)
        for s in app.store.list_steps(run.id)
        if s.node_id == "draft"
    )
    assert draft["tokens_per_approved_task"] == pytest.approx(tokens / 8)


def test_a_failed_spot_check_switches_it_off_until_earned_again(app: Loopdesk, wid: str) -> None:
    review_as_is(app, wid, 4)
    assert next_checkpoint(app, wid).status == "decided"
    assert next_checkpoint(app, wid).status == "decided"
    spot = next_checkpoint(app, wid)
    assert spot.policy.spot_check == "one run in 3"
    decide(app, spot, Approve(edits={"draft": f"{spot.shown['draft']} Shop now"}))  # not as it was
    # off: a person decides every run again, unmarked, until four new reviews pass
    review_as_is(app, wid, 4)
    assert next_checkpoint(app, wid).status == "decided"


def test_a_spot_check_sent_back_fails_too_and_its_revision_goes_to_a_person(app: Loopdesk, wid: str) -> None:
    review_as_is(app, wid, 4)
    next_checkpoint(app, wid), next_checkpoint(app, wid)
    spot = next_checkpoint(app, wid)
    decide(app, spot, RequestChanges(comment="Shorter, please"))
    (revision,) = app.store.list_checkpoints(CheckpointQuery(status="pending", run_id=spot.run_id))
    assert revision.policy.spot_check == ""  # off after the failed spot check
    decide(app, revision, Approve())
    cp = next_checkpoint(app, wid)
    assert cp.status == "pending"


def test_an_unusual_draft_goes_to_a_person(app: Loopdesk, wid: str) -> None:
    review_as_is(app, wid, 4)
    unusual = next_checkpoint(app, wid, OTHER)
    assert unusual.status == "pending" and unusual.policy.spot_check.startswith(
        "an unusual draft (similarity 0."
    )
    decide(app, unusual, Reject(comment="Not our brand"))  # a failed spot check: off again
    assert next_checkpoint(app, wid).status == "pending"


def test_timeouts_and_auto_approvals_are_no_reviews(app: Loopdesk, wid: str) -> None:
    review_as_is(app, wid, 3)
    cp = next_checkpoint(app, wid)
    app.decide(cp.id, SYSTEM, Approve(comment="approved when the due time passed"))
    # three people's reviews and a timeout: not four reviews yet, so still off
    assert next_checkpoint(app, wid).status == "pending"


def test_route_sends_revisions_and_keeps_counting() -> None:
    on = Standing(True, 4, 4, 0, ("a b c",), False)
    assert route(RULE, on, "a b c", revision=False).auto
    assert route(RULE, on, "a b c", revision=True).spot_check == "a revision answering a reviewer's note"
    off = Standing(False, 3, 3, 0, ("a b c",), False)
    assert route(RULE, off, "a b c", revision=False) == route(RULE, off, "x", revision=True)
    assert not route(RULE, off, "a b c", revision=False).auto
    assert "spot check" in Standing(False, 0, 0, 0, (), True).describe(RULE)
    assert Standing(True, 4, 3, 0, (), False).describe(RULE) == (
        "on: 3 of the last 4 reviews approved as is (75%, needs 75%)"
    )


def test_auto_approval_needs_one_approver_and_an_ai_draft_to_judge(app: Loopdesk) -> None:
    own = app.use_template("marketing-social-post", "dana").definition
    several = with_auto_approval(own, RULE, quorum=Quorum(mode="all"), editable_values=[])
    assert any("cannot stand in for several approvers" in p.message for p in app.problems(several))
    blind = with_auto_approval(own, RULE, visible_values=["topic"], editable_values=[])
    assert any("shows no AI step's answer" in p.message for p in app.problems(blind))
    assert app.problems(with_auto_approval(own, RULE)) == []


def test_the_designer_reads_where_auto_approval_stands(app: Loopdesk, wid: str) -> None:
    wf = app.get_workflow(wid).definition
    assert app.auto_approval_standing(wf, "review") == "off: 0 of the 4 reviews it needs so far"
    review_as_is(app, wid, 4)
    assert app.auto_approval_standing(wf, "review") == (
        "on: 4 of the last 4 reviews approved as is (100%, needs 75%)"
    )
    stricter = with_auto_approval(wf, RULE.model_copy(update={"window": 10}))  # as edited, unsaved
    assert app.auto_approval_standing(stricter, "review") == "off: 4 of the 10 reviews it needs so far"
    assert app.auto_approval_standing(with_auto_approval(wf, None), "review") is None
    assert app.auto_approval_standing(wf, "draft") is None


def test_the_insights_command_counts_auto_approvals_apart(app: Loopdesk, wid: str, db_path: str) -> None:
    review_as_is(app, wid, 4)
    next_checkpoint(app, wid)
    app.close()  # the CLI opens the database itself
    done = cli("insights", "--db", db_path, "--workflow", wid)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{wid}: 4 reviews of 4 runs · as is 100%")
    assert " · auto-approved 1" in done.stdout.splitlines()[0]


def test_an_auto_approval_cut_off_between_its_two_commits_is_finished_by_the_timers(
    app: Loopdesk, wid: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    review_as_is(app, wid, 4)
    with monkeypatch.context() as m:  # the process dies right after the opening is committed
        m.setattr(Engine, "auto_approve", lambda *args, **kwargs: None)
        stranded = next_checkpoint(app, wid)
    assert stranded.status == "pending" and stranded.policy.auto_approve is not None
    assert stranded.action_at is not None and stranded.action_at > time.time()  # after the grace
    assert app.engine.apply_timers(at=time.time()) == []  # not yet due
    app.engine.apply_timers(at=stranded.action_at + 1)
    done = app.store.get_checkpoint(stranded.id)
    assert done is not None and done.status == "decided" and done.decided_by == SYSTEM
    assert done.decision is not None and done.decision["auto_approved"]["reviews"] == 4
    finished = lambda: (r := app.store.get_run(stranded.run_id)) is not None and r.status == "completed"  # noqa: E731
    wait_until(finished, "the stranded run finishes")
    assert not [e for e in app.store.list_events(stranded.run_id) if e.event == "checkpoint.opened"]


def test_a_new_prompt_earns_auto_approval_afresh(app: Loopdesk, wid: str) -> None:
    review_as_is(app, wid, 4)
    assert next_checkpoint(app, wid).status == "decided"
    wf = app.get_workflow(wid).definition
    app.save_workflow(with_instruction(wf, "Write a short post about {{ topic }}."), "dana")
    review_as_is(app, wid, 4)  # the old prompt's reviews do not count for the new one
    assert next_checkpoint(app, wid).status == "decided"


def test_a_spot_check_waiting_for_a_person_does_not_stop_auto_approval(app: Loopdesk, wid: str) -> None:
    review_as_is(app, wid, 4)
    next_checkpoint(app, wid), next_checkpoint(app, wid)
    spot = next_checkpoint(app, wid)
    assert spot.status == "pending" and spot.policy.spot_check == "one run in 3"
    # while Jamie has not looked at it yet, the count starts again after it
    assert next_checkpoint(app, wid).status == "decided"
    assert next_checkpoint(app, wid).status == "decided"
    assert next_checkpoint(app, wid).policy.spot_check == "one run in 3"


def test_the_threshold_is_reached_exactly() -> None:
    rule = AutoApproval(threshold=0.56, window=25, spot_check_every=5)
    assert 0.56 * 25 > 14  # 14.000000000000002: a float comparison would say no
    reviews = [decided_review(as_is=i < 14) for i in range(25)]
    assert standing(rule, reviews, ["draft"]).earned
    assert not standing(rule, [*reviews[1:], decided_review(as_is=False)], ["draft"]).earned


def decided_review(as_is: bool) -> CheckpointRecord:
    """A checkpoint Jamie decided: approved as it was, or approved with an edit."""
    edits = {} if as_is else {"draft": {"before": "a", "after": "b"}}
    return CheckpointRecord(
        id=f"cp-{as_is}", run_id="r", workflow_id="w", node_id="review", status="decided", assignee="jamie",
        created_at=0.0, due_at=None, shown={"draft": "a"}, editable=["draft"], instructions="",
        decision={"kind": "approve", "edits": edits}, decided_by="jamie", decided_at=1.0,
    )  # fmt: skip
