"""Checkpoint policies with the clock moved by `timers --at`: escalation chains, business hours,
quorum, no self-approval and the per-checkpoint revision cap, on every backend."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from engine import cli as engine_cli
from engine.clock import SYSTEM_CLOCK
from engine.decisions import Approve, Reassign, Reject, RequestChanges
from engine.directory import Directory
from engine.errors import AlreadyDecidedError, InvalidDecisionError, NotAllowedError
from engine.llm.demo import DemoProvider
from engine.model import ApprovalNode, BusinessHours, Workflow, load_workflow_json
from engine.policies import chain_summary
from engine.records import CheckpointQuery
from engine.services import Loopdesk
from tests.backends import db_path_on_every_backend  # noqa: F401  (`db_path`: every backend)
from tests.engine.helpers import as_dict, decision_of, linear_workflow, with_rejection_path
from tests.fakes.clock import MovableClock

PEOPLE = {
    "users": [
        {"name": "riley", "display_name": "Riley Chen", "roles": ["requester", "reviewer"]},
        {"name": "jamie", "display_name": "Jamie Rivera", "groups": ["editors"]},
        {"name": "morgan", "display_name": "Morgan Lee", "groups": ["editors"]},
        {"name": "kai", "display_name": "Kai Berg", "groups": ["editors"]},
        {"name": "sam", "display_name": "Sam Ortiz", "groups": ["leads"]},
        {"name": "dana", "display_name": "Dana Park", "roles": ["designer", "requester"]},
        {"name": "alex", "display_name": "Alex Admin", "roles": ["admin"]},
    ],
    "groups": {"editors": "Editors", "leads": "Team leads"},
}
HOUR = 3600.0


@pytest.fixture
def people(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Directory:
    """A directory with a three-person group; the CLI reads the same file."""
    path = tmp_path / "users.json"
    path.write_text(json.dumps(PEOPLE))
    monkeypatch.setenv("LOOPDESK_USERS", str(path))
    return Directory.load(path)


@pytest.fixture
def app(db_path: str, people: Directory) -> Iterator[Loopdesk]:
    service = Loopdesk.open(db_path, provider=DemoProvider(), directory=people, workers=4)
    try:
        yield service
    finally:
        service.close()


def workflow(**review: Any) -> Workflow:
    """The test flow with its review step changed (and a rejection path)."""
    data = as_dict(with_rejection_path())
    data.update({k: review.pop(k) for k in ("business_hours",) if k in review})
    node = next(n for n in data["nodes"] if n["id"] == "review")
    node.update(review)
    return Workflow.model_validate(data)


def open_checkpoint(app: Loopdesk, wf: Workflow, by: str = "riley") -> Any:
    app.save_workflow(wf, "dana")
    run = app.start_run("wf", {"topic": "spring sale"}, by)
    assert run.status == "waiting"
    (cp,) = app.store.list_checkpoints(CheckpointQuery(status="pending", run_id=run.id))
    return cp


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


# -- escalation chains ---------------------------------------------------------------------------
CHAIN = [
    {"after_hours": 4, "action": "remind"},
    {"after_hours": 24, "action": "reassign", "to": "sam"},
    {"after_hours": 48, "action": "approve"},
]


def test_remind_then_reassign_then_approve_each_once(app: Loopdesk) -> None:
    cp = open_checkpoint(app, workflow(assignee="jamie", editable_values=[], escalation=CHAIN))
    assert cp.action_at == pytest.approx(cp.created_at + 4 * HOUR)
    assert app.next_escalation(cp, at=cp.created_at + HOUR) == "reminds Jamie Rivera in 3 h"

    assert app.engine.apply_timers(at=cp.created_at + 3.9 * HOUR) == []
    reminded = app.engine.apply_timers(at=cp.created_at + 5 * HOUR)
    assert [(e.action, e.step) for e in reminded] == [("remind", 1)]
    assert app.engine.apply_timers(at=cp.created_at + 5 * HOUR) == []  # once, however often it runs
    cp = app.engine.get_checkpoint(cp.id)
    assert (cp.policy.stage, cp.policy.reminders, cp.assignee) == (1, 1, "jamie")
    assert app.next_escalation(cp, at=cp.created_at + 5 * HOUR) == "hands it to Sam Ortiz in 19 h"
    events = [e.event for e in app.store.list_events(cp.run_id)]
    assert events.count("checkpoint.reminded") == 1

    handed = app.engine.apply_timers(at=cp.created_at + 25 * HOUR)
    assert [(e.action, e.to) for e in handed] == [("reassign", "sam")]
    assert [c.id for c in app.inbox("sam")] == [cp.id] and app.inbox("jamie") == []

    decided = app.engine.apply_timers(at=cp.created_at + 49 * HOUR)
    assert [e.action for e in decided] == ["approve"]
    run = app.engine.get_run(cp.run_id)
    assert run.status == "completed"
    closed = app.engine.get_checkpoint(cp.id)
    assert closed.decided_by == "system"
    assert "no decision after 48 h" in decision_of(closed)["comment"]
    audit = [a.event for a in app.store.list_audit(cp.run_id)]
    assert audit.count("reminded") == 1 and audit.count("reassigned") == 1
    assert audit.count("decision_approve") == 1
    assert app.engine.apply_timers(at=cp.created_at + 100 * HOUR) == []


def test_a_late_clock_applies_every_due_step_in_order(app: Loopdesk) -> None:
    cp = open_checkpoint(app, workflow(assignee="jamie", editable_values=[], escalation=CHAIN[:2]))
    done = app.engine.apply_timers(at=cp.created_at + 30 * HOUR)
    assert [e.action for e in done] == ["remind", "reassign"]
    assert app.engine.get_checkpoint(cp.id).action_at is None  # nothing more will happen


def test_legacy_due_time_is_the_last_step_of_the_chain(app: Loopdesk) -> None:
    wf = workflow(
        assignee="jamie", escalation=CHAIN[:1], due_hours=8, on_timeout="reject", editable_values=[]
    )
    cp = open_checkpoint(app, wf)
    assert cp.due_at == pytest.approx(cp.created_at + 8 * HOUR)
    done = app.engine.apply_timers(at=cp.created_at + 9 * HOUR)
    assert [e.action for e in done] == ["remind", "reject"]
    run = app.engine.get_run(cp.run_id)
    assert run.status == "completed" and run.outcome == "Rejected"
    assert "due time passed (8 h)" in decision_of(app.engine.get_checkpoint(cp.id))["comment"]


def test_the_chain_in_words_as_the_designer_explains_it(people: Directory) -> None:
    directory = people
    wf = workflow(assignee="group:editors", escalation=CHAIN[:2], due_hours=72, on_timeout="reject")
    review = wf.node("review")
    assert isinstance(review, ApprovalNode)
    assert chain_summary(review, wf, directory) == [
        "after 4 h: reminds Editors (group) again",
        "after 24 h: hands it to Sam Ortiz",
        "after 72 h (the due time): rejects it as Loopdesk, with the reason in the audit trail",
    ]
    working = wf.model_copy(update={"business_hours": BusinessHours(timezone="Europe/Berlin")})
    first = chain_summary(review, working, directory)[0]
    assert first == "after 4 working hours: reminds Editors (group) again"


def test_an_old_saved_version_loads_and_times_out_as_before(app: Loopdesk) -> None:
    old = json.loads(linear_workflow().to_json())
    for key in ("business_hours",):
        old.pop(key, None)
    review = next(n for n in old["nodes"] if n["id"] == "review")
    for key in ("escalation", "quorum", "allow_self_approval"):
        review.pop(key)
    review.update(due_hours=2, on_timeout="reassign", timeout_assignee="morgan")
    wf = load_workflow_json(json.dumps(old))
    cp = open_checkpoint(app, wf)
    assert cp.action_at == pytest.approx(cp.created_at + 2 * HOUR)
    assert app.engine.apply_timers(at=cp.created_at + HOUR) == []
    assert [e.action for e in app.engine.apply_timers(at=cp.created_at + 3 * HOUR)] == ["reassign"]
    assert [c.id for c in app.inbox("morgan")] == [cp.id]
    with pytest.raises(NotAllowedError, match="started this run"):
        app.decide(cp.id, "riley", Approve())


def test_business_hours_skip_the_weekend(app: Loopdesk) -> None:
    hours = {"days": "mon-fri", "start": "09:00", "end": "17:00", "timezone": "Europe/Berlin"}
    wf = workflow(
        assignee="jamie",
        editable_values=[],
        escalation=[{"after_hours": 2, "action": "remind"}],
        business_hours=hours,
    )
    friday_4pm = datetime(2026, 12, 4, 15, 0, tzinfo=UTC).timestamp()  # 16:00 in Berlin
    app.store.clock = MovableClock(at=friday_4pm)
    cp = open_checkpoint(app, wf)
    app.store.clock = SYSTEM_CLOCK
    monday_10am = datetime(2026, 12, 7, 9, 0, tzinfo=UTC).timestamp()  # one hour Friday, one Monday
    assert cp.created_at == pytest.approx(friday_4pm, abs=60)
    assert cp.action_at == pytest.approx(monday_10am)
    assert app.engine.apply_timers(at=friday_4pm + 3 * HOUR) == []  # plain hours would be due
    assert app.engine.apply_timers(at=monday_10am - 60) == []
    assert [e.action for e in app.engine.apply_timers(at=monday_10am + 1)] == ["remind"]


def test_timers_command_prints_each_action_once(app: Loopdesk, db_path: str, capsys: Any) -> None:
    cp = open_checkpoint(app, workflow(assignee="jamie", editable_values=[], escalation=CHAIN))
    app.close()  # the command opens the database itself, as an operator would
    at = iso(cp.created_at + 30 * HOUR)
    assert engine_cli.main(["timers", "--at", at, "--db", db_path, "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(d["action"], d["checkpoint"], d["step"]) for d in lines] == [
        ("remind", cp.id, 1),
        ("reassign", cp.id, 2),
    ]
    assert engine_cli.main(["timers", "--at", at, "--db", db_path, "--json"]) == 0
    assert capsys.readouterr().out == ""  # applied already: nothing twice
    later = iso(cp.created_at + 50 * HOUR)
    assert engine_cli.main(["timers", "--at", later, "--db", db_path]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{cp.id} (run {cp.run_id}): approved as Loopdesk: no decision after 48 h")
    assert engine_cli.main(["timers", "--at", later, "--db", db_path]) == 0
    assert "nothing was due at" in capsys.readouterr().out


def test_timers_racing_apply_each_step_once(app: Loopdesk) -> None:
    cp = open_checkpoint(app, workflow(assignee="jamie", editable_values=[], escalation=CHAIN))
    at = cp.created_at + 50 * HOUR
    results: list[list[str]] = []
    barrier = threading.Barrier(4)

    def tick() -> None:
        barrier.wait()
        results.append([e.action for e in app.engine.apply_timers(at=at)])

    threads = [threading.Thread(target=tick) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(a for r in results for a in r) == ["approve", "reassign", "remind"]
    audit = [a.event for a in app.store.list_audit(cp.run_id)]
    assert (audit.count("reminded"), audit.count("reassigned"), audit.count("decision_approve")) == (1, 1, 1)


# -- quorum ----------------------------------------------------------------------------------------
def quorum(mode: str, count: int | None = None) -> Workflow:
    return workflow(assignee="group:editors", editable_values=[], quorum={"mode": mode, "count": count})


def test_quorum_all_needs_every_member_and_shows_progress(app: Loopdesk) -> None:
    cp = open_checkpoint(app, quorum("all"))
    app.decide(cp.id, "jamie", Approve(comment="fine by me"))
    after = app.engine.get_checkpoint(cp.id)
    assert after.status == "pending" and app.progress(after) == "1 of 3 approved: Jamie Rivera"
    # it no longer waits for Jamie, who approved; it still waits for the others
    assert [c.id for c in app.inbox("jamie")] == [] and app.inbox_count("jamie") == 0
    assert [c.id for c in app.inbox("morgan")] == [cp.id] and app.inbox_count("kai") == 1
    with pytest.raises(AlreadyDecidedError, match="Already approved by you at "):
        app.decide(cp.id, "jamie", Approve())
    app.decide(cp.id, "morgan", Approve())
    assert app.progress(app.engine.get_checkpoint(cp.id)) == "2 of 3 approved: Jamie Rivera, Morgan Lee"
    assert app.engine.get_run(cp.run_id).status == "waiting"
    run = app.decide(cp.id, "kai", Approve())
    assert run.status == "completed"
    closed = app.engine.get_checkpoint(cp.id)
    assert closed.decided_by == "kai" and decision_of(closed)["approvals"] == ["jamie", "morgan", "kai"]
    counted = [a for a in app.store.list_audit(cp.run_id) if a.event == "approval_counted"]
    assert [a.detail["progress"] for a in counted] == [
        "1 of 3 approved: Jamie Rivera",
        "2 of 3 approved: Jamie Rivera, Morgan Lee",
    ]


def test_quorum_count_and_a_rejection_short_circuits(app: Loopdesk) -> None:
    cp = open_checkpoint(app, quorum("count", 2))
    app.decide(cp.id, "jamie", Approve())
    assert app.progress(app.engine.get_checkpoint(cp.id)) == "1 of 2 approved: Jamie Rivera"
    assert app.decide(cp.id, "morgan", Approve()).status == "completed"

    cp = open_checkpoint(app, quorum("all"))
    app.decide(cp.id, "jamie", Approve())
    run = app.decide(cp.id, "morgan", Reject(comment="off-brand"))
    assert run.status == "completed" and run.outcome == "Rejected"  # one rejection decides at once
    with pytest.raises(AlreadyDecidedError):
        app.decide(cp.id, "kai", Approve())

    cp = open_checkpoint(app, quorum("all"))
    with pytest.raises(InvalidDecisionError, match="cannot be edited"):
        app.decide(cp.id, "jamie", Approve(edits={"draft": "mine"}))
    assert app.decide(cp.id, "kai", RequestChanges(comment="shorter")).status == "waiting"


def test_quorum_members_racing_count_each_vote_once(app: Loopdesk) -> None:
    cp = open_checkpoint(app, quorum("all"))
    barrier = threading.Barrier(6)
    errors: list[Exception] = []

    def vote(user: str) -> None:
        barrier.wait()
        try:
            app.decide(cp.id, user, Approve())
        except AlreadyDecidedError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=vote, args=(u,)) for u in ("jamie", "morgan", "kai") * 2]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 3  # each member's second click is refused
    closed = app.engine.get_checkpoint(cp.id)
    assert closed.status == "decided"
    assert sorted(decision_of(closed)["approvals"]) == ["jamie", "kai", "morgan"]
    assert app.engine.get_run(cp.run_id).status == "completed"
    steps = [s.node_id for s in app.store.list_steps(cp.run_id)]
    assert steps.count("review") == 1 and steps.count("translate") == 1


def test_quorum_policy_problems_are_named_at_the_node(app: Loopdesk) -> None:
    wf = workflow(assignee="group:editors", editable_values=[], quorum={"mode": "count", "count": 4})
    problems = app.problems(wf)
    assert [(p.node_id, p.message) for p in problems if "quorum" in p.message] == [
        ("review", "quorum needs 4 approvals but Editors (group) has 3 reviewer(s)")
    ]
    wf = workflow(assignee="jamie", editable_values=[], quorum={"mode": "all"})
    assert any("needs a group" in p.message and p.node_id == "review" for p in app.problems(wf))


# -- attacks on quorum: a reassignment never shrinks who must approve ------------------------------
def test_a_member_cannot_reassign_a_quorum_to_themselves_and_approve_alone(app: Loopdesk) -> None:
    """The attack: "May be reassigned to" empty, Jamie reassigns a `quorum: all` checkpoint to herself and
    approves alone. Refused: nobody reassigns to themselves, and an empty list means only admins may."""
    wf = workflow(assignee="group:editors", editable_values=[], quorum={"mode": "all"}, reassign_to=[])
    cp = open_checkpoint(app, wf, by="riley")
    with pytest.raises(NotAllowedError, match="nobody reassigns a checkpoint to themselves"):
        app.decide(cp.id, "jamie", Reassign(to="jamie"))
    with pytest.raises(NotAllowedError, match="lists nobody under “May be reassigned to”, so only an admin"):
        app.decide(cp.id, "jamie", Reassign(to="sam"))
    assert app.reassign_targets(app.engine.get_checkpoint(cp.id), "jamie") == []
    run = app.decide(cp.id, "jamie", Approve())
    assert run.status == "waiting" and app.engine.get_run(cp.run_id).status == "waiting"
    after = app.engine.get_checkpoint(cp.id)
    assert after.assignee == "group:editors" and app.progress(after) == "1 of 3 approved: Jamie Rivera"
    assert not [a for a in app.store.list_audit(cp.run_id) if a.event == "reassigned"]


def test_a_reassignment_on_a_quorum_replaces_one_member_who_has_not_voted(app: Loopdesk) -> None:
    wf = workflow(
        assignee="group:editors", editable_values=[], quorum={"mode": "all"}, reassign_to=["sam", "morgan"]
    )
    cp = open_checkpoint(app, wf, by="riley")
    # to someone already asked would need one approval fewer; to a group would hide who must approve
    with pytest.raises(NotAllowedError, match="Morgan Lee is already asked to approve it"):
        app.decide(cp.id, "jamie", Reassign(to="morgan"))
    with pytest.raises(NotAllowedError, match="hand a place in it to one person, not a group"):
        app.decide(cp.id, "alex", Reassign(to="group:leads"))
    # an admin who is not asked must say whose place the new person takes
    with pytest.raises(NotAllowedError, match="say whose place the new person takes"):
        app.decide(cp.id, "alex", Reassign(to="sam"))
    app.decide(cp.id, "morgan", Approve())
    with pytest.raises(NotAllowedError, match="Morgan Lee has approved it already"):
        app.decide(cp.id, "alex", Reassign(to="sam", replacing="morgan"))
    # Jamie hands her own place to Sam: three approvals are still needed, Sam's instead of hers
    app.decide(cp.id, "jamie", Reassign(to="sam", comment="on leave"))
    after = app.engine.get_checkpoint(cp.id)
    assert after.assignee == "group:editors" and after.policy.seat_holders() == {"jamie": "sam"}
    assert app.progress(after) == "1 of 3 approved: Morgan Lee"
    assert [c.id for c in app.inbox("sam")] == [cp.id] and app.inbox_count("sam") == 1
    assert app.inbox("jamie") == [] and app.inbox_count("jamie") == 0
    assert cp.run_id in [r.id for r in app.list_runs("sam")]  # Sam sees the run he is asked about
    assert app.get_run(cp.run_id, "sam").id == cp.run_id
    handed = "Jamie Rivera handed their place in this approval to Sam Ortiz"
    with pytest.raises(NotAllowedError, match=handed):
        app.decide(cp.id, "jamie", Approve())
    assert app.decide(cp.id, "sam", Approve()).status == "waiting"
    run = app.decide(cp.id, "kai", Approve())
    assert run.status == "completed"
    closed = app.engine.get_checkpoint(cp.id)
    assert sorted(decision_of(closed)["approvals"]) == ["kai", "morgan", "sam"]
    handovers = [a.detail for a in app.store.list_audit(cp.run_id) if a.event == "reassigned"]
    assert [(d["from"], d["to"], d["place_of"]) for d in handovers] == [("jamie", "sam", "jamie")]


def test_an_admin_replaces_a_member_by_name_and_the_place_can_be_handed_back(app: Loopdesk) -> None:
    two = {"mode": "count", "count": 2}
    wf = workflow(assignee="group:editors", editable_values=[], quorum=two, reassign_to=["kai"])
    cp = open_checkpoint(app, wf, by="riley")
    app.decide(cp.id, "alex", Reassign(to="sam", replacing="kai"))
    assert app.engine.get_checkpoint(cp.id).policy.seat_holders() == {"kai": "sam"}
    assert app.inbox("kai") == [] and [c.id for c in app.inbox("sam")] == [cp.id]
    with pytest.raises(NotAllowedError, match="Riley Chen started this run and may not become its approver"):
        app.decide(cp.id, "alex", Reassign(to="riley", replacing="sam"))
    with pytest.raises(NotAllowedError, match="may hand on only their own place"):
        app.decide(cp.id, "sam", Reassign(to="kai", replacing="jamie"))
    app.decide(cp.id, "sam", Reassign(to="kai"))  # back to where it started: no place is handed on
    back = app.engine.get_checkpoint(cp.id)
    assert back.policy.seat_holders() == {} and [c.id for c in app.inbox("kai")] == [cp.id]
    app.decide(cp.id, "kai", Approve())
    assert app.decide(cp.id, "jamie", Approve()).status == "completed"


def test_a_quorum_short_of_people_is_never_lowered_and_waits_for_an_admin(app: Loopdesk) -> None:
    """The attack: the requester is in the approving group and "count" silently became one fewer. It is
    not lowered: the checkpoint says it is short, at once, and one approval short never completes it."""
    cp = open_checkpoint(app, quorum("count", 3), by="jamie")  # Jamie, Morgan and Kai; Jamie asked it
    short = [a.detail for a in app.store.list_audit(cp.run_id) if a.event == "quorum_short"]
    assert len(short) == 1 and short[0]["needed"] == 3
    assert sorted(short[0]["may_approve"]) == ["kai", "morgan"]
    expected = (
        "only 2 people may approve it (Jamie Rivera may not: they started the run), so it waits for an "
        "admin to decide or for its escalation chain"
    )
    assert short[0]["reason"] == expected
    assert app.progress(cp) == f"0 of 3 approved; {expected}"
    app.decide(cp.id, "morgan", Approve())
    assert app.decide(cp.id, "kai", Approve()).status == "waiting"  # two of three: it does not complete
    after = app.engine.get_checkpoint(cp.id)
    assert after.status == "pending"
    assert app.progress(after).startswith("2 of 3 approved: Morgan Lee, Kai Berg;")
    with pytest.raises(InvalidDecisionError, match="as an admin you may approve it alone with a reason"):
        app.decide(cp.id, "alex", Approve())
    assert app.permissions.override_kind("alex", after) == "quorum"
    run = app.decide(cp.id, "alex", Approve(override_reason="launch today; Jamie's own draft is fine"))
    assert run.status == "completed"
    closed = app.engine.get_checkpoint(cp.id)
    assert decision_of(closed)["quorum_override"].startswith("2 of 3 approved: Morgan Lee, Kai Berg;")
    overridden = [a for a in app.store.list_audit(cp.run_id) if a.event == "quorum_overridden"]
    assert [(a.actor, a.detail["reason"]) for a in overridden] == [
        ("alex", "launch today; Jamie's own draft is fine")
    ]


def test_a_short_quorum_is_decided_by_its_escalation_chain(app: Loopdesk) -> None:
    wf = workflow(
        assignee="group:editors", editable_values=[], quorum={"mode": "count", "count": 3},
        escalation=[{"after_hours": 8, "action": "approve"}],
    )  # fmt: skip
    cp = open_checkpoint(app, wf, by="kai")
    app.decide(cp.id, "jamie", Approve())
    app.decide(cp.id, "morgan", Approve())
    assert app.engine.get_run(cp.run_id).status == "waiting"
    assert [e.action for e in app.engine.apply_timers(at=cp.created_at + 9 * HOUR)] == ["approve"]
    closed = app.engine.get_checkpoint(cp.id)
    assert closed.decided_by == "system"
    assert decision_of(closed)["quorum_override"].startswith("2 of 3 approved")
    assert app.engine.get_run(cp.run_id).status == "completed"


def test_a_quorum_every_starter_makes_short_is_a_problem_at_save_time(app: Loopdesk) -> None:
    wf = workflow(assignee="group:editors", editable_values=[], quorum={"mode": "count", "count": 3})
    assert not [p for p in app.problems(wf) if "quorum" in p.message]  # Riley may start it: reachable
    editors_start = wf.access.model_copy(update={"starters": ["group:editors"]})
    only_editors = wf.model_copy(update={"access": editors_start})
    assert [p.message for p in app.problems(only_editors) if "quorum" in p.message] == [
        "quorum needs 3 approval(s), but every run is started by one of Editors (group), who may not approve "
        "it, which leaves 2; lower the number or let someone else start it"
    ]


# -- self-approval -------------------------------------------------------------------------------
def test_no_self_approval_unless_allowed_and_admins_override_with_a_reason(app: Loopdesk) -> None:
    cp = open_checkpoint(app, workflow(assignee="group:editors", editable_values=[]), by="jamie")
    with pytest.raises(NotAllowedError, match="Jamie Rivera started this run"):
        app.decide(cp.id, "jamie", Approve())
    assert cp.id not in [c.id for c in app.inbox("jamie")]

    allowed = workflow(assignee="group:editors", editable_values=[], allow_self_approval=True)
    cp = open_checkpoint(app, allowed, by="jamie")
    assert cp.id in [c.id for c in app.inbox("jamie")]
    assert app.decide(cp.id, "jamie", Approve()).status == "completed"

    cp = open_checkpoint(app, workflow(assignee="jamie", editable_values=[]), by="alex")
    with pytest.raises(NotAllowedError, match="override this with a reason"):
        app.decide(cp.id, "alex", Approve())
    run = app.decide(cp.id, "alex", Approve(override_reason="Jamie is on leave; launch is today"))
    assert run.status == "completed"
    override = [a for a in app.store.list_audit(cp.run_id) if a.event == "self_approval_override"]
    assert [(a.actor, a.detail["reason"]) for a in override] == [
        ("alex", "Jamie is on leave; launch is today")
    ]
    decision = decision_of(app.engine.get_checkpoint(cp.id))
    assert decision["override_reason"] == "Jamie is on leave; launch is today"


# -- the revision cap counts per checkpoint --------------------------------------------------------
def test_the_revision_cap_is_per_checkpoint(app: Loopdesk) -> None:
    app.install_templates()
    run = app.start_run("blog-localisation", _blog_inputs(app), "riley")
    for _ in range(3):
        (cp,) = app.store.list_checkpoints(CheckpointQuery(status="pending", run_id=run.id))
        assert cp.node_id == "edit_review"
        app.decide(cp.id, "jamie", RequestChanges(comment="tighter intro"))
    (cp,) = app.store.list_checkpoints(CheckpointQuery(status="pending", run_id=run.id))
    with pytest.raises(InvalidDecisionError, match="already sent back 3 time"):
        app.decide(cp.id, "jamie", RequestChanges(comment="once more"))
    app.decide(cp.id, "jamie", Approve())
    (regional,) = app.store.list_checkpoints(CheckpointQuery(status="pending", run_id=run.id))
    assert regional.node_id == "regional_review"
    back = app.decide(regional.id, "morgan", RequestChanges(comment="use the local currency"))
    assert back.status in ("waiting", "running")  # the regional reviewer's first send-back counts from 0


def _blog_inputs(app: Loopdesk) -> dict[str, Any]:
    trigger = app.get_workflow("blog-localisation").definition.trigger()
    values: dict[str, Any] = {}
    for f in trigger.fields:
        if f.type == "choice":
            values[f.name] = f.options[0]
        elif f.type == "number":
            values[f.name] = 1
        elif f.type == "email":
            values[f.name] = "riley@example.com"
        else:
            values[f.name] = "Spring launch"
    return values


@pytest.mark.processes
def test_quorum_members_in_separate_processes_count_each_vote_once(
    pg_url: str, people: Directory, tmp_path: Path
) -> None:
    service = Loopdesk.open(pg_url, provider=DemoProvider(), directory=people, workers=2)
    try:
        cp = open_checkpoint(service, quorum("all"))
    finally:
        service.close()
    env = {**os.environ, "LOOPDESK_USERS": os.environ["LOOPDESK_USERS"], "LOOPDESK_WORKERS": "2"}
    voters = [
        subprocess.Popen(
            [sys.executable, "-m", "engine", "decide", cp.id, "--user", user, "--approve", "--db", pg_url],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for user in ("jamie", "morgan", "kai") * 2
    ]
    outcomes = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in voters]
    refused = [err for code, err in outcomes if code == 1]
    assert len(refused) == 3 and all("Already approved by " in err for err in refused), outcomes
    service = Loopdesk.open(pg_url, provider=DemoProvider(), directory=people, workers=2)
    try:
        closed = service.engine.get_checkpoint(cp.id)
        assert closed.status == "decided"
        assert sorted(decision_of(closed)["approvals"]) == ["jamie", "kai", "morgan"]
        steps = [s.node_id for s in service.store.list_steps(cp.run_id)]
        assert steps.count("review") == 1 and steps.count("translate") == 1
        assert service.engine.get_run(cp.run_id).status == "completed"
    finally:
        service.close()
