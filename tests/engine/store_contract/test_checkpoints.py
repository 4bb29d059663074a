"""Checkpoints and their queries: read one, list and count with filters, the open one of each run."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from engine.records import CheckpointClose, CheckpointQuery, PolicyState, RunUpdate, Transition, now
from engine.store.base import Store
from tests.engine.store_contract.builders import HOUR, checkpoint, new_run


def test_the_newest_closed_checkpoints_come_a_page_at_a_time(store: Store) -> None:
    """Newest opened first, also across the recent-history windows a backend may read first."""
    opened = [now() - days * 86400 for days in (400, 40, 5, 1, 0)]
    ids = []
    for at in opened:
        run = new_run(status="waiting", node="review")
        cp = checkpoint(run.id)
        cp.created_at = at
        store.apply(Transition(new_run=run, open_checkpoint=cp))
        store.apply(
            Transition(close_checkpoint=CheckpointClose(cp.id, "decided", "jamie", {"kind": "approve"}))
        )
        ids.append(cp.id)
    newest = ids[::-1]

    def page(limit: int, offset: int = 0) -> list[str]:
        found = store.list_checkpoints(
            CheckpointQuery(status="decided", workflow_id="wf", newest_first=True), limit=limit, offset=offset
        )
        return [c.id for c in found]

    assert page(2) == newest[:2] and page(2, 2) == newest[2:4] and page(10) == newest
    assert page(3, 3) == newest[3:]


def test_the_open_checkpoints_of_several_runs_are_read_at_once(store: Store) -> None:
    """`open_checkpoints` maps each waiting run to its open checkpoint and leaves the others out."""
    waiting, running = new_run(status="running"), new_run()
    store.apply(Transition(new_run=waiting))
    store.apply(Transition(new_run=running))
    cp = checkpoint(waiting.id)
    update = RunUpdate(waiting.id, ("running",), "waiting", "review", waiting.values, "Review", 0)
    store.apply(Transition(run_update=update, open_checkpoint=cp))
    found = store.open_checkpoints([waiting.id, running.id, "run_nowhere"])
    assert list(found) == [waiting.id] and found[waiting.id].id == cp.id
    assert found[waiting.id].assignee == "jamie" and store.open_checkpoints([]) == {}


def test_a_checkpoint_reads_back_as_opened_then_as_closed(store: Store) -> None:
    """`get_checkpoint` returns a pending checkpoint as written, a decided or cancelled one with its
    decision, decider and time (and no due action left); an unknown id is None."""
    run, other = new_run(status="waiting", node="review"), new_run(status="waiting", node="review")
    cp = replace(
        checkpoint(run.id), title="Review the post", requester="riley", due_at=now() + HOUR,
        action_at=now() + HOUR, policy=PolicyState(stage=1, quorum="all", votes=[{"by": "sam", "at": 1.0}]),
    )  # fmt: skip
    store.apply(Transition(new_run=run, open_checkpoint=cp))
    store.apply(Transition(new_run=other, open_checkpoint=(cancelled := checkpoint(other.id))))
    assert store.get_checkpoint(cp.id) == cp
    before = now()
    decision = {"kind": "approve", "comment": "fine", "edits": {}}
    store.apply(Transition(close_checkpoint=CheckpointClose(cp.id, "decided", "jamie", decision)))
    got = store.get_checkpoint(cp.id)
    assert got is not None and (got.status, got.decided_by, got.decision) == ("decided", "jamie", decision)
    assert got.decided_at is not None and got.decided_at >= before and got.action_at is None
    assert (got.policy, got.title, got.requester, got.shown) == (cp.policy, cp.title, "riley", cp.shown)
    store.apply(Transition(cancel_checkpoints_of=other.id))
    gone = store.get_checkpoint(cancelled.id)
    assert gone is not None and gone.status == "cancelled" and gone.decision is None
    assert store.get_checkpoint("cp_nowhere") is None


def test_checkpoints_are_listed_and_counted_with_every_filter(store: Store) -> None:
    """Each filter of `list_checkpoints` narrows the list (oldest first), and `count_checkpoints`
    with the same filters counts what it lists."""
    base = now() - 600
    specs = {  # name: (workflow, step, assignee, requester, policy, decided)
        "mine": ("wf", "review", "jamie", "u", PolicyState(), False),
        "sams": ("wf", "review", "sam", "u", PolicyState(), False),
        "decided": ("wf", "legal", "jamie", "u", PolicyState(), True),
        "elsewhere": ("other", "review", "jamie", "u", PolicyState(), False),
        "own_request": ("wf", "review", "jamie", "jamie", PolicyState(), False),
        "own_allowed": ("wf", "review", "jamie", "jamie", PolicyState(allow_self=True), False),
        "voted": ("wf", "review", "editors", "u", PolicyState(quorum="all", votes=[{"by": "jamie"}]), False),
        "group": ("wf", "review", "editors", "u", PolicyState(quorum="all"), False),
    }
    ids: dict[str, str] = {}
    runs: dict[str, str] = {}
    for i, (name, (wf, node, assignee, requester, policy, decided)) in enumerate(specs.items()):
        run = replace(new_run(status="waiting", node=node), workflow_id=wf)
        cp = replace(
            checkpoint(run.id, assignee), workflow_id=wf, node_id=node, requester=requester,
            policy=policy, created_at=base + i,
        )  # fmt: skip
        store.apply(Transition(new_run=run, open_checkpoint=cp))
        if decided:
            store.apply(
                Transition(close_checkpoint=CheckpointClose(cp.id, "decided", "jamie", {"kind": "approve"}))
            )
        ids[name], runs[name] = cp.id, run.id

    def listed(**filters: Any) -> list[str]:
        query = CheckpointQuery(**filters)
        found = [c.id for c in store.list_checkpoints(query)]
        assert store.count_checkpoints(query) == len(found), filters
        return found

    def named(*names: str) -> list[str]:
        return [ids[n] for n in names]

    pending = ["mine", "sams", "elsewhere", "own_request", "own_allowed", "voted", "group"]
    assert listed() == named(*pending)  # pending, oldest first
    assert listed(status=None) == named(*specs)
    assert listed(status="decided") == named("decided")
    assert listed(assignees=["jamie"]) == named("mine", "elsewhere", "own_request", "own_allowed")
    assert listed(assignees=[]) == []
    assert listed(status=None, decided_by="jamie") == named("decided")
    assert listed(assignees=["jamie", "editors"], actionable_by="jamie") == named(
        "mine", "elsewhere", "own_allowed", "group"
    )  # not their own request (unless allowed), not one they approved already
    assert listed(workflow_id="other") == named("elsewhere")
    assert listed(status=None, node_id="legal") == named("decided")
    assert listed(workflow_id="wf", node_id="review", assignees=["sam"]) == named("sams")
    assert [c.id for c in store.list_checkpoints(limit=2, offset=1)] == named(*pending[1:3])
    assert [c.id for c in store.list_checkpoints(CheckpointQuery(newest_first=True), limit=2)] == named(
        *pending[::-1][:2]
    )
    assert [
        c.id for c in store.list_checkpoints(CheckpointQuery(status=None, run_id=runs["decided"]))
    ] == named("decided")


def test_by_due_lists_the_soonest_due_first_and_those_without_a_due_time_last(store: Store) -> None:
    """`list_checkpoints(by_due=True)` orders by due time, checkpoints without one last."""
    base = now()
    ids = []
    for due in (None, base + 3 * HOUR, base + HOUR):
        run = new_run(status="waiting", node="review")
        cp = replace(checkpoint(run.id), due_at=due)
        store.apply(Transition(new_run=run, open_checkpoint=cp))
        ids.append(cp.id)
    assert [c.id for c in store.list_checkpoints(CheckpointQuery(by_due=True))] == [ids[2], ids[1], ids[0]]
