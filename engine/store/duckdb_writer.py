"""DuckDB's group-commit writer: the one thread that writes the file. Transitions queued at the same
time are checked against the committed state (kept in memory for live runs and open checkpoints)
and written in one commit, one statement per table; other writes run alone in their own commit.

`GroupCommitWriter` is the write half of `DuckDBStore`; the store supplies the connection, the
translation of DuckDB's errors and what happens after a commit (leases, waking the sender).
"""

from __future__ import annotations

import queue
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import suppress
from dataclasses import replace
from typing import Any

import duckdb

from engine.errors import StoreUnavailableError
from engine.records import (
    OPEN_STATUSES,
    AuditEvent,
    CheckpointClose,
    CheckpointRecord,
    ConflictError,
    RunRecord,
    RunUpdate,
    StepRecord,
    Transition,
    now,
)
from engine.store.counters import CounterDeltas
from engine.store.filters import marks
from engine.store.outbox import events_from
from engine.store.rows import (
    CP_COLS,
    OUTBOX_COLS,
    RUN_COLS,
    STEP_INSERT_COLS,
    RunState,
    checkpoint_values,
    closed,
    dumps,
    kept_open,
    open_update,
    outbox_values,
    precondition,
    run_values,
    step_values,
)
from engine.store.sql import find_checkpoint, summed

MAX_BATCH = 512
"""The most transitions one commit takes."""


STATE_CACHE = 100_000
"""How many live runs' and pending checkpoints' states the writer keeps in memory."""


COUNTER_DELTAS_BEFORE_COMPACTING = 20_000


class Job:
    """One unit of work for the writer: a transition, or a function of the writer's cursor."""

    __slots__ = ("future", "transition", "work")

    def __init__(
        self,
        transition: Transition | None = None,
        work: Callable[[duckdb.DuckDBPyConnection], Any] | None = None,
    ) -> None:
        self.transition = transition
        self.work = work
        self.future: Future[Any] = Future()


class Pending:
    """The writes of the accepted transitions of one batch, merged into few statements."""

    def __init__(self) -> None:
        self.new_runs: list[RunRecord] = []
        self.run_updates: dict[str, RunUpdate] = {}
        self.steps: list[StepRecord] = []
        self.opens: list[CheckpointRecord] = []
        self.closes: list[CheckpointClose] = []
        self.cancels: list[str] = []
        self.audit: list[AuditEvent] = []
        self.announced = False
        """Whether the batch wrote outbox events (the sender is woken after the commit)."""
        self.deciding: dict[str, tuple[CheckpointRecord, CheckpointClose]] = {}
        """Checkpoints this batch decides: as they were, and the decision (for the counters)."""
        self.counts = CounterDeltas()

    def add(self, t: Transition) -> None:
        """Take an accepted transition's writes."""
        if t.new_run is not None:
            self.new_runs.append(t.new_run)
        if t.run_update is not None:
            self.run_updates[t.run_update.run_id] = t.run_update  # the last state wins
        self.steps += t.steps
        if t.open_checkpoint is not None:
            self.opens.append(t.open_checkpoint)
        if t.close_checkpoint is not None:
            self.closes.append(t.close_checkpoint)
        if t.cancel_checkpoints_of is not None:
            self.cancels.append(t.cancel_checkpoints_of)
        self.audit += t.audit


def insert_rows(cur: duckdb.DuckDBPyConnection, table: str, cols: str, rows: list[list[Any]]) -> None:
    """One multi-row INSERT (statements cost far more than rows in DuckDB)."""
    width = len(rows[0])
    marks = ",".join(["(" + ",".join("?" * width) + ")"] * len(rows))
    cur.execute(f"INSERT INTO {table} ({cols}) VALUES {marks}", [v for row in rows for v in row])


def move_closed(cur: duckdb.DuckDBPyConnection, closing: str, params: list[Any], ts: float) -> None:
    """Copy pending checkpoints to the history, closed as `closing` says (a relation `v` of id,
    status, decision, actor and policy, NULL to keep it) at `ts`; the caller then deletes them
    from the pending table."""
    cur.execute(
        f"INSERT INTO checkpoints ({CP_COLS}) SELECT p.id, p.run_id, p.workflow_id, p.node_id, v.status, "
        "p.assignee, p.created_at, p.due_at, p.shown, p.editable, p.instructions, p.title, "
        f"CAST(v.decision AS VARCHAR), CAST(v.actor AS VARCHAR), {ts!r}, p.requester, NULL, "
        "coalesce(CAST(v.policy AS VARCHAR), p.policy) "
        f"FROM pending_checkpoints p JOIN {closing} ON p.id = v.id",
        params,
    )


def compact_counters(cur: duckdb.DuckDBPyConnection, table: str = "stats_counters") -> None:
    """Fold a counter table's appended deltas into one row per key (zero totals dropped)."""
    cur.execute(f"CREATE OR REPLACE TEMP TABLE compacted AS {summed(table)}")
    cur.execute(f"DELETE FROM {table}")
    cur.execute(f"INSERT INTO {table} SELECT * FROM compacted")
    cur.execute("DROP TABLE compacted")


def add_counters(cur: duckdb.DuckDBPyConnection, rows: list[tuple[str, str, int, str, float]]) -> None:
    """Add deltas to the insight counters (one row per key, created at its first delta)."""
    marks = ",".join(["(?,?,?,?,?)"] * len(rows))
    cols = "workflow_id, node_id, day, metric, value"
    cur.execute(
        f"INSERT INTO stats_counters ({cols}) VALUES {marks}",
        [v for row in rows for v in row],
    )


class GroupCommitWriter:
    """The writer thread, its queue and its cache of committed state (mixed into `DuckDBStore`)."""

    # what the store provides
    _queue: queue.Queue[Job | None]
    _writer: threading.Thread | None
    _writer_lock: threading.Lock
    _closed: bool
    commits: int
    _states: OrderedDict[str, RunState]
    _cps: OrderedDict[str, CheckpointRecord]
    _counter_rows: int
    _gen: int
    _cache_gen: int
    _write_error: str | None
    events_listener: Callable[[], None] | None

    def _cur(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor (the store's)."""
        raise NotImplementedError

    def _translate(self, exc: BaseException) -> BaseException:
        """DuckDB's error as the store reports it (the store's)."""
        raise NotImplementedError

    def _lease_or_announce(self, t: Transition) -> None:
        """After a commit: lease the transition's run, or announce it runnable (the store's)."""
        raise NotImplementedError

    def _ensure_writer(self) -> None:
        if self._writer is None:
            with self._writer_lock:
                if self._writer is None:
                    t = threading.Thread(target=self._write_loop, name="loopdesk-writer", daemon=True)
                    t.start()
                    self._writer = t

    def _submit(self, job: Job) -> Any:
        if self._closed:
            raise RuntimeError("store is closed")
        self._ensure_writer()
        self._queue.put(job)
        return job.future.result()

    def _writer_cur(self) -> duckdb.DuckDBPyConnection:
        """The writer's cursor; after the connection was replaced, a new one and an empty cache
        (the cache only ever held committed state, but the new connection is the truth now)."""
        cur = self._cur()
        if self._cache_gen != self._gen:
            self._states.clear()
            self._cps.clear()
            self._cache_gen = self._gen
        return cur

    def _write_loop(self) -> None:
        """Drain the queue: consecutive transitions share one commit; other work runs alone."""
        held: Job | None = None
        while True:
            job = held if held is not None else self._queue.get()
            held = None
            if job is None:  # close() asked us to stop
                break
            try:
                cur = self._writer_cur()
            except StoreUnavailableError as exc:
                job.future.set_exception(exc)
                continue
            if job.transition is None:
                self._run_alone(cur, job)
                continue
            batch = [job]
            while len(batch) < MAX_BATCH:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None or nxt.transition is None:
                    held = nxt
                    if nxt is None:
                        self._queue.put(None)  # stop after this batch
                        held = None
                    break
                batch.append(nxt)
            self._write_transitions(cur, batch)

    def _run_alone(self, cur: duckdb.DuckDBPyConnection, job: Job) -> None:
        assert job.work is not None
        try:
            cur.execute("BEGIN TRANSACTION")
            result = job.work(cur)
            cur.execute("COMMIT")
            self.commits += 1
        except Exception as exc:  # surfaced to the caller
            with suppress(duckdb.Error):
                cur.execute("ROLLBACK")
            job.future.set_exception(self._write_failed(exc))
            return
        self._write_error = None
        job.future.set_result(result)

    def _write_failed(self, exc: BaseException) -> BaseException:
        """The error to hand the writer's caller; a disk or file failure is remembered for `health`."""
        translated = self._translate(exc)
        if isinstance(translated, StoreUnavailableError):
            self._write_error = translated.reason
        return translated

    def _write_transitions(self, cur: duckdb.DuckDBPyConnection, batch: list[Job]) -> None:
        """Apply a batch in one commit; on an unexpected error retry each job alone."""
        try:
            cur.execute("BEGIN TRANSACTION")
            results, runs, cps, announced = self._apply_batch(
                cur, [job.transition for job in batch if job.transition]
            )
            cur.execute("COMMIT")
            self.commits += 1
            self._remember(runs, cps)  # only committed state enters the cache
            for job, res in zip(batch, results, strict=True):
                if res is None and job.transition is not None:
                    self._lease_or_announce(job.transition)
            self._write_error = None
            if announced and self.events_listener is not None:
                self.events_listener()
        except Exception as exc:
            with suppress(duckdb.Error):
                cur.execute("ROLLBACK")
            failure = self._write_failed(exc)
            if len(batch) == 1 or isinstance(failure, StoreUnavailableError):
                for job in batch:  # the disk refuses every one of them alike
                    job.future.set_exception(failure)
            else:
                for job in batch:
                    self._write_transitions(cur, [job])
            return
        for job, res in zip(batch, results, strict=True):
            if res is None:
                job.future.set_result(None)
            else:
                job.future.set_exception(res)

    def _run_state(self, cur: duckdb.DuckDBPyConnection, run_id: str) -> RunState | None:
        """Status, current node and workflow of a run: from the writer's cache, else a point lookup.

        Only the writer changes runs, so what it committed is what the table holds.
        """
        state = self._states.get(run_id)
        if state is not None:
            self._states.move_to_end(run_id)
            return state
        sql = "SELECT status, current_node, workflow_id FROM runs WHERE id = ?"
        rows = cur.execute(sql, [run_id]).fetchall()
        return RunState(*rows[0]) if rows else None

    def _checkpoint_state(
        self, cur: duckdb.DuckDBPyConnection, checkpoint_id: str
    ) -> CheckpointRecord | None:
        """A checkpoint as committed: from the writer's cache of pending ones, else a lookup."""
        cp = self._cps.get(checkpoint_id)
        if cp is not None:
            return cp
        return find_checkpoint(lambda sql, params: cur.execute(sql, params).fetchall(), checkpoint_id)

    def _remember(self, states: dict[str, RunState], cps: dict[str, CheckpointRecord]) -> None:
        """Cache committed states of live runs and pending checkpoints (oldest entries are
        forgotten; a finished run leaves the cache, so it holds what is in flight, not history)."""
        for run_id, state in states.items():
            if state.status in OPEN_STATUSES:
                self._states[run_id] = state
                self._states.move_to_end(run_id)
            else:
                self._states.pop(run_id, None)
        while len(self._states) > STATE_CACHE:
            self._states.popitem(last=False)
        for cp in cps.values():
            if cp.status == "pending":
                self._cps[cp.id] = cp
            else:
                self._cps.pop(cp.id, None)
        while len(self._cps) > STATE_CACHE:
            self._cps.popitem(last=False)

    def _apply_batch(
        self, cur: duckdb.DuckDBPyConnection, batch: list[Transition]
    ) -> tuple[list[ConflictError | None], dict[str, RunState], dict[str, CheckpointRecord], bool]:
        """Check every transition against the current state, then write the accepted ones.

        The writer is the only writer, so state read at the start of the batch stays
        true except for what the batch itself changes, which is tracked in memory.
        Returns each transition's conflict (or None), the run and checkpoint states the batch
        leaves (for the cache once the batch is committed) and whether it wrote notification events.
        """
        runs, cps = self._states_of(cur, batch)
        before = dict(runs)
        results: list[ConflictError | None] = []
        pending = Pending()
        for t in batch:
            conflict = precondition(t, runs, cps)
            results.append(conflict)
            if conflict is None:
                pending.add(t)
                self._track(t, runs, cps, pending)
        for rid in {*(r.id for r in pending.new_runs), *pending.run_updates}:
            was = before.get(rid)
            pending.counts.run_moved(runs[rid].workflow_id, was.status if was else None, runs[rid].status)
        for step in pending.steps:
            state = runs.get(step.run_id) or self._run_state(cur, step.run_id)
            if state is not None:
                pending.counts.step(state.workflow_id, step)
        self._write(cur, pending)
        return results, runs, cps, pending.announced

    def _states_of(
        self, cur: duckdb.DuckDBPyConnection, batch: list[Transition]
    ) -> tuple[dict[str, RunState], dict[str, CheckpointRecord]]:
        """The committed state of every run the batch updates and every checkpoint it closes."""
        runs: dict[str, RunState] = {}
        cps: dict[str, CheckpointRecord] = {}
        for t in batch:
            if t.run_update is not None and t.run_update.run_id not in runs:
                state = self._run_state(cur, t.run_update.run_id)
                if state is not None:
                    runs[t.run_update.run_id] = state
            if t.close_checkpoint is not None and t.close_checkpoint.checkpoint_id not in cps:
                cp = self._checkpoint_state(cur, t.close_checkpoint.checkpoint_id)
                if cp is not None:
                    cps[cp.id] = cp
        return runs, cps

    def _track(
        self, t: Transition, runs: dict[str, RunState], cps: dict[str, CheckpointRecord], pending: Pending
    ) -> None:
        """Carry an accepted transition into the batch's view of runs and checkpoints, so the
        transitions after it in the batch are checked against it."""
        if t.new_run is not None:
            r = t.new_run
            runs[r.id] = RunState(r.status, r.current_node, r.workflow_id)
        if t.run_update is not None:
            u = t.run_update
            runs[u.run_id] = RunState(u.status, u.current_node, runs[u.run_id].workflow_id)
        if t.open_checkpoint is not None:
            cps[t.open_checkpoint.id] = t.open_checkpoint
        if t.cancel_checkpoints_of is not None:
            for cp in [*self._cps.values(), *cps.values()]:
                if cp.run_id == t.cancel_checkpoints_of and cp.status == "pending":
                    cps[cp.id] = replace(cp, status="cancelled")
        if t.close_checkpoint is not None and t.close_checkpoint.checkpoint_id in cps:
            c = t.close_checkpoint
            old = cps[c.checkpoint_id]
            if c.status == "decided":
                pending.deciding[c.checkpoint_id] = (old, c)
            cps[c.checkpoint_id] = kept_open(old, c) if c.status == "pending" else closed(old, c)

    def _write(self, cur: duckdb.DuckDBPyConnection, p: Pending) -> None:
        """Write merged changes: one statement per table, whatever the batch size."""
        ts = now()
        if p.new_runs:
            insert_rows(cur, "runs", RUN_COLS, [run_values(r) for r in p.new_runs])
        if p.opens:
            insert_rows(cur, "pending_checkpoints", CP_COLS, [checkpoint_values(c) for c in p.opens])
        if p.run_updates:
            _update_runs(cur, list(p.run_updates.values()), ts)
        for c in p.closes:
            if c.status == "pending":
                sql, params = open_update(c)
                cur.execute(sql, params)
        self._close_checkpoints(cur, p, ts)
        counted = p.counts.rows()
        if counted:
            add_counters(cur, counted)
            self._counter_rows += len(counted)
            if self._counter_rows > COUNTER_DELTAS_BEFORE_COMPACTING:
                compact_counters(cur)
                self._counter_rows = 0
        if p.steps:
            insert_rows(cur, "steps", STEP_INSERT_COLS, [step_values(s) for s in p.steps])
        if p.audit:
            rows = [[a.run_id, a.ts, a.actor, a.event, dumps(a.detail)] for a in p.audit]
            insert_rows(cur, "audit", "run_id, ts, actor, event, detail", rows)
            events = events_from(p.audit)  # announced in the same commit as what they announce
            if events:
                insert_rows(cur, "outbox", OUTBOX_COLS, [outbox_values(e) for e in events])
                p.announced = True

    def _close_checkpoints(self, cur: duckdb.DuckDBPyConnection, p: Pending, ts: float) -> None:
        """Move decided and cancelled checkpoints from the pending table to the history (counting
        the decisions)."""
        decided = {c.checkpoint_id: c for c in p.closes if c.status != "pending"}
        if decided:
            ids = list(decided)
            params: list[Any] = []
            for i in ids:
                c = decided[i]
                policy = None if c.policy is None else dumps(c.policy.to_dict())
                params += [i, c.status, dumps(c.decision), c.actor, policy]
            tuples = ",".join(["(?,?,?,?,?)"] * len(ids))
            values = f"(VALUES {tuples}) AS v(id, status, decision, actor, policy)"
            move_closed(cur, values, params, ts)
            cur.execute(f"DELETE FROM pending_checkpoints WHERE id IN ({marks(len(ids))})", ids)
            for cp, close in p.deciding.values():
                p.counts.decided(cp, close, ts)
        if p.cancels:
            which = marks(len(p.cancels))
            closing = (
                "(SELECT id, 'cancelled' AS status, NULL AS decision, NULL AS actor, NULL AS policy "
                f"FROM pending_checkpoints WHERE run_id IN ({which})) AS v"
            )
            move_closed(cur, closing, p.cancels, ts)
            cur.execute(f"DELETE FROM pending_checkpoints WHERE run_id IN ({which})", p.cancels)


def _update_runs(cur: duckdb.DuckDBPyConnection, updates: list[RunUpdate], ts: float) -> None:
    """Every updated run's new state in one statement."""
    rows = ",".join(["(?,?,?,?,?,?,?,?,?)"] * len(updates))
    params: list[Any] = []
    for u in updates:
        params += [
            u.run_id, u.status, u.current_node, dumps(u.values), u.section, u.revisions,
            u.outcome, u.error, u.failed_node,
        ]  # fmt: skip
    # measured: cheaper than `CASE id WHEN …` with `id IN (…)`, on an empty store and at 1M runs
    cur.execute(
        "UPDATE runs SET status = v.status, current_node = v.node::VARCHAR, vals = v.vals, "
        "section = v.section::VARCHAR, revisions = v.revisions::INTEGER, "
        "outcome = v.outcome::VARCHAR, error = v.error::VARCHAR, "
        f"failed_node = v.failed_node::VARCHAR, updated_at = {ts!r} "
        f"FROM (VALUES {rows}) AS v(id, status, node, vals, section, revisions, outcome, "
        "error, failed_node) WHERE runs.id = v.id",
        params,
    )
