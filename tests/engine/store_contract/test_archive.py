"""The archive: finished runs move to monthly Parquet files with everything of theirs, and what they
counted moves to the archive's counters."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from engine.errors import EngineError
from engine.records import AuditEvent, CheckpointClose, CheckpointQuery, RunRecord, RunUpdate, Transition
from engine.store.base import Store
from tests.engine.store_contract.builders import ai_step, checkpoint, run_at

MARCH = 1_709_900_000.0  # 2024-03-08 UTC
APRIL = 1_712_600_000.0  # 2024-04-08 UTC
BEFORE = 1_713_000_000.0  # 2024-04-13 UTC


def reviewed(store: Store, created_at: float, outcome: str) -> RunRecord:
    """A run created at `created_at` that ran an AI step, was reviewed and ended as `outcome`
    ("waiting": still waiting for its review), with its announcements."""
    run = run_at(created_at, status="waiting", current_node="review")
    cp = checkpoint(run.id)
    cp.created_at = created_at
    opened = {"checkpoint": cp.id, "assignee": "jamie"}
    store.apply(
        Transition(
            new_run=run,
            steps=[ai_step(run.id, {"prompt_tokens": 3, "model": "m"})],
            open_checkpoint=cp,
            audit=[AuditEvent(run.id, "system", "checkpoint_opened", opened, created_at)],
        )
    )
    if outcome != "waiting":
        kind = "approve" if outcome == "completed" else "reject"
        store.apply(
            Transition(
                run_update=RunUpdate(run.id, ("waiting",), outcome, None, run.values, None, 0),
                close_checkpoint=CheckpointClose(cp.id, "decided", "jamie", {"kind": kind}),
                audit=[AuditEvent(run.id, "jamie", f"decision_{kind}", {"checkpoint": cp.id})],
            )
        )
    return run


def test_finished_runs_move_to_monthly_files_and_their_counters_with_them(
    store: Store, tmp_path: Path
) -> None:
    """`archive_runs` moves finished runs created before `before`, with their steps, checkpoints,
    audit and announcements, to a folder per month; live totals plus the archive's are unchanged,
    and the archive's counters equal a recomputation from its files."""
    march = reviewed(store, MARCH, "completed")
    april = reviewed(store, APRIL, "rejected")
    waiting = reviewed(store, MARCH + 60, "waiting")  # not finished: stays
    recent = reviewed(store, BEFORE + 60, "completed")  # created after `before`: stays
    (handled, *_) = store.list_events(march.id)
    store.update_events([replace(handled, status="delivered", attempts=1, done=["email"])])
    all_time = store.stat_totals()
    folder = tmp_path / "archive"
    moved = store.archive_runs(BEFORE, str(folder))
    per_run = {"runs": 1, "steps": 1, "checkpoints": 1, "audit": 2}
    assert moved == {
        "2024-03": {**per_run, "outbox": 1, "outbox_log": 1},
        "2024-04": {**per_run, "outbox": 2},
    }
    assert sorted(p.parent.name for p in folder.glob("*/runs-*.parquet")) == ["2024-03", "2024-04"]
    for gone in (march, april):
        assert store.get_run(gone.id) is None
        assert store.list_steps(gone.id) == [] and store.list_audit(gone.id) == []
        assert store.list_checkpoints(CheckpointQuery(status=None, run_id=gone.id)) == []
        assert store.list_events(gone.id) == []
    assert {r.id for r in store.list_runs()} == {waiting.id, recent.id}
    assert store.stat_totals(include_archived=True) == pytest.approx(all_time)
    assert store.stat_totals()[("wf", "", "runs:completed")] == 1  # the recent one
    assert store.counters() == pytest.approx(store.recomputed_stats())
    archived = store.archived_counters()
    assert archived == pytest.approx(store.recomputed_archive_stats(str(folder)))
    assert archived[("wf", "", 0, "runs:completed")] == 1 and archived[("wf", "", 0, "runs:rejected")] == 1
    assert store.archive_runs(BEFORE, str(folder)) == {}  # nothing left to move


def test_with_nothing_to_archive_nothing_is_written(store: Store, tmp_path: Path) -> None:
    """Archiving when no finished run is old enough moves nothing and counts nothing as archived."""
    reviewed(store, MARCH, "waiting")
    reviewed(store, BEFORE + 60, "completed")
    folder = tmp_path / "archive"
    assert store.archive_runs(BEFORE, str(folder)) == {}
    assert store.archived_counters() == {}
    assert store.recomputed_archive_stats(str(folder)) == {}
    assert list(folder.glob("*/*.parquet")) == []
    assert store.stat_totals(include_archived=True) == store.stat_totals()


def test_an_archive_that_cannot_be_written_changes_nothing(store: Store, tmp_path: Path) -> None:
    """When the files cannot be written, `archive_runs` raises EngineError and every run, row and
    counter stays where it was."""
    done = reviewed(store, MARCH, "completed")
    before_totals, before_steps = store.stat_totals(), store.list_steps(done.id)
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the archive's folder should be")
    with pytest.raises(EngineError):
        store.archive_runs(BEFORE, str(blocked))
    assert store.get_run(done.id) is not None and store.list_steps(done.id) == before_steps
    assert store.stat_totals() == before_totals and store.archived_counters() == {}
