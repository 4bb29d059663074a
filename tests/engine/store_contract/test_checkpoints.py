"""Checkpoints and their queries: read one, list and count with filters, the open one of each run."""

from __future__ import annotations

from engine.records import CheckpointClose, RunUpdate, Transition, now
from engine.store.base import Store
from tests.engine.store_contract.builders import checkpoint, new_run


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
            status="decided", workflow_id="wf", newest_first=True, limit=limit, offset=offset
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
