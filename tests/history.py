"""A year of history made fast: real runs of every shape made through the services, then cloned
through the store's bulk path with their ids and times moved (the growth benchmark's stores, and the
tests of that bulk path)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from engine.decisions import Approve, Decision, Reject, RequestChanges
from engine.demo_data import DEMO_RUNS, demo_inputs
from engine.directory import Directory
from engine.llm.demo import DemoProvider
from engine.notify.sender import Notifier
from engine.notify.settings import NotifySettings
from engine.records import CheckpointQuery, CheckpointRecord
from engine.services import Loopdesk

SHAPE = {"approved": 0.70, "edited": 0.10, "rejected": 0.10, "sent_back": 0.10}
WAITING = 0.01
YEAR = 365 * 86400.0
WEEK = 7 * 86400.0
CHUNK = 50_000
TIME_COLUMNS = {
    "runs": ("created_at", "updated_at"),
    "steps": ("started_at", "finished_at"),
    "checkpoints": ("created_at", "due_at", "decided_at", "action_at"),
    "pending_checkpoints": ("created_at", "due_at", "decided_at", "action_at"),
    "audit": ("ts",),
    "outbox": ("occurred_at", "next_at", "delivered_at"),
    "outbox_log": ("occurred_at", "next_at", "delivered_at"),
}
ID_COLUMNS = {
    "runs": ("id",),
    "steps": ("run_id",),
    "checkpoints": ("id", "run_id"),
    "pending_checkpoints": ("id", "run_id"),
    "audit": ("run_id",),
    "outbox": ("id", "run_id", "checkpoint_id"),
    "outbox_log": ("id", "run_id", "checkpoint_id"),
}


# -- samples: real runs made through the services ---------------------------------------------
def decision_for(shape: str, cp: CheckpointRecord, first: bool) -> Decision:
    """The decision a sample of this shape takes at a checkpoint."""
    if shape == "rejected":
        return Reject(comment="Not for us, thanks.")
    if shape == "sent_back" and first:
        return RequestChanges(comment="Shorter, and mention the date.")
    if shape == "edited" and first and cp.editable:
        name = cp.editable[0]
        old = cp.shown.get(name, "")
        new = old - 1 if isinstance(old, int | float) else f"{old} (edited by the reviewer)"
        return Approve(edits={name: new})
    return Approve()


def make_samples(app: Loopdesk) -> dict[str, list[str]]:
    """Finished runs of every shape for each demo input, and waiting ones; run ids by shape."""
    app.install_templates()
    samples: dict[str, list[str]] = {shape: [] for shape in [*SHAPE, "waiting"]}
    for demo in DEMO_RUNS:
        for shape in samples:
            run = app.start_run(demo.workflow_id, demo_inputs(app, demo), demo.user)
            first = True
            while shape != "waiting" and run.status == "waiting":
                cp = app.store.list_checkpoints(CheckpointQuery(status="pending", run_id=run.id))[0]
                run = app.decide(cp.id, app.permissions.deciders(cp)[0], decision_for(shape, cp, first))
                first = False
            samples[shape].append(run.id)
    # as a server would have long since: every announcement handled (no channel here: skipped)
    sender = Notifier(app.engine, NotifySettings(), app.link_signer)
    while sender.deliver_due():
        pass
    return samples


# -- cloning through the bulk path -------------------------------------------------------------
def clone_chunk(
    sample: dict[str, pa.Table], run_index: dict[str, int], picks: np.ndarray, starts: np.ndarray, first: int
) -> dict[str, pa.Table]:
    """Copies of sample runs: copy k is sample `picks[k]` moved to start at `starts[k]`."""
    out = {}
    origin = sample["runs"].column("created_at").to_numpy()
    shift = starts - origin[picks]
    suffix = pc.binary_join_element_wise(
        "_", pc.utf8_lpad(pc.cast(pa.array(np.arange(first, first + len(picks))), pa.string()), 8, "0"), ""
    )
    for table, rows in sample.items():
        key = "id" if table == "runs" else "run_id"
        owner = np.array([run_index[r] for r in rows.column(key).to_pylist()], dtype=np.int64)
        by_run = np.argsort(owner, kind="stable")
        counts = np.bincount(owner, minlength=len(run_index))
        offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
        lens = counts[picks]
        copy = np.repeat(np.arange(len(picks)), lens)
        within = np.arange(len(copy)) - np.repeat(np.cumsum(lens) - lens, lens)
        taken = rows.take(pa.array(by_run[np.repeat(offsets[picks], lens) + within]))
        copy_arr = pa.array(copy)
        for col in ID_COLUMNS[table]:
            i = taken.column_names.index(col)
            joined = pc.binary_join_element_wise(taken.column(col), pc.take(suffix, copy_arr), "")
            taken = taken.set_column(i, col, joined)
        delta = pa.array(shift[copy])
        for col in TIME_COLUMNS[table]:
            i = taken.column_names.index(col)
            taken = taken.set_column(i, col, pc.add(taken.column(col), delta))
        out[table] = taken
    return out


def build(db: str, runs: int, seed: int = 7) -> dict[str, Any]:
    """A store of `runs` runs with the benchmark's shape; returns how long it took."""
    started = time.perf_counter()
    app = Loopdesk.open(db, provider=DemoProvider(), directory=Directory.load(), workers=2)
    try:
        samples = make_samples(app)
        ids = [rid for shape_ids in samples.values() for rid in shape_ids]
        sample = app.store.export_rows(ids)
        order = sample["runs"].column("id").to_pylist()
        run_index = {rid: i for i, rid in enumerate(order)}
        by_shape = {shape: np.array([run_index[r] for r in rs]) for shape, rs in samples.items()}
        rng = np.random.default_rng(seed)
        made = sum(len(r) for r in samples.values())
        todo = runs - made
        end = time.time()
        waiting = rng.random(todo) < WAITING
        shapes = rng.choice(list(SHAPE), size=todo, p=list(SHAPE.values()))
        picks = np.empty(todo, dtype=np.int64)
        starts = np.empty(todo)
        for shape in SHAPE:
            mask = (shapes == shape) & ~waiting
            picks[mask] = rng.choice(by_shape[shape], size=int(mask.sum()))
        picks[waiting] = rng.choice(by_shape["waiting"], size=int(waiting.sum()))
        starts[~waiting] = end - WEEK - rng.random(int((~waiting).sum())) * YEAR
        starts[waiting] = end - rng.random(int(waiting.sum())) * WEEK
        order = np.argsort(starts, kind="stable")  # inserted oldest first, as a real store fills up
        picks, starts = picks[order], starts[order]
        for first in range(0, todo, CHUNK):
            chunk = slice(first, first + CHUNK)
            app.store.bulk_insert(clone_chunk(sample, run_index, picks[chunk], starts[chunk], first))
        return {"runs": runs, "build_s": time.perf_counter() - started}
    finally:
        app.close()
