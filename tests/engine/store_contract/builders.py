"""Records the contract tests write (runs, checkpoints and steps of the workflow `wf`), and callers
that call at the same time."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

from engine.records import CheckpointRecord, RunRecord, StepRecord, new_id, now

HOUR = 3600.0
T = TypeVar("T")


def new_run(run_id: str | None = None, status: str = "running", node: str = "form") -> RunRecord:
    """A run of `wf` version 1 started by `u` just now, in section Intake."""
    ts = now()
    return RunRecord(
        id=run_id or new_id("run"), workflow_id="wf", version=1, status=status, current_node=node,
        section="Intake", title="t", values={"topic": "x"}, started_by="u", created_at=ts, updated_at=ts,
    )  # fmt: skip


def run_at(created_at: float, **changes: Any) -> RunRecord:
    """A run created (and last changed) at `created_at`, with other fields changed as given."""
    return replace(new_run(), created_at=created_at, updated_at=created_at, **changes)


def checkpoint(run_id: str, assignee: str = "jamie") -> CheckpointRecord:
    """A pending review of `run_id` at step `review`, assigned to `assignee`, opened just now."""
    return CheckpointRecord(
        id=new_id("cp"), run_id=run_id, workflow_id="wf", node_id="review", status="pending",
        assignee=assignee, created_at=now(), due_at=None, shown={"draft": "d"}, editable=["draft"],
        instructions="check",
    )  # fmt: skip


def ai_step(run_id: str, meta: dict[str, object]) -> StepRecord:
    """A finished AI step `draft` of the run, with this usage in its meta."""
    return StepRecord(
        run_id=run_id, node_id="draft", kind="ai_step", status="done", input={}, output="x",
        started_at=now(), finished_at=now(), meta=meta,
    )  # fmt: skip


def at_once(callers: int, call: Callable[[], T]) -> list[T]:
    """What `call` returned in each of `callers` threads, released together by a barrier."""
    start = threading.Barrier(callers)
    results: list[T] = []
    lock = threading.Lock()

    def one() -> None:
        start.wait()
        result = call()
        with lock:
            results.append(result)

    threads = [threading.Thread(target=one) for _ in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == callers, "a caller failed (its error is printed above)"
    return results
