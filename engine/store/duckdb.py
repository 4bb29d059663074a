"""DuckDB backend: all SQL lives here. One connection per process, one writer thread.

Writes are queued to a single writer thread that applies every waiting transition in
one commit (group commit): concurrent callers share an fdatasync, and because only
one thread ever writes, DuckDB's write-write conflict errors cannot happen.
Reads use a cursor per thread on the shared connection.
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from contextlib import suppress
from pathlib import Path
from typing import Any

import duckdb

from engine.errors import StoreLockedError
from engine.model import Workflow
from engine.store.base import (
    AuditEvent,
    CheckpointRecord,
    ConflictError,
    RunRecord,
    StepRecord,
    Store,
    Transition,
    WorkflowVersion,
    now,
)

SCHEMA = [
    "CREATE SEQUENCE IF NOT EXISTS step_seq START 1",
    "CREATE SEQUENCE IF NOT EXISTS audit_seq START 1",
    """CREATE TABLE IF NOT EXISTS workflow_versions (
        workflow_id VARCHAR NOT NULL, version INTEGER NOT NULL, name VARCHAR NOT NULL,
        definition VARCHAR NOT NULL, created_at DOUBLE NOT NULL, created_by VARCHAR NOT NULL,
        note VARCHAR NOT NULL DEFAULT '', PRIMARY KEY (workflow_id, version))""",
    """CREATE TABLE IF NOT EXISTS runs (
        id VARCHAR PRIMARY KEY, workflow_id VARCHAR NOT NULL, version INTEGER NOT NULL,
        status VARCHAR NOT NULL, current_node VARCHAR, section VARCHAR, title VARCHAR NOT NULL,
        vals VARCHAR NOT NULL, started_by VARCHAR NOT NULL, created_at DOUBLE NOT NULL,
        updated_at DOUBLE NOT NULL, revisions INTEGER NOT NULL DEFAULT 0, outcome VARCHAR,
        error VARCHAR, failed_node VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS steps (
        seq BIGINT NOT NULL DEFAULT nextval('step_seq'), run_id VARCHAR NOT NULL,
        node_id VARCHAR NOT NULL, kind VARCHAR NOT NULL, status VARCHAR NOT NULL,
        input VARCHAR NOT NULL, output VARCHAR, error VARCHAR, started_at DOUBLE NOT NULL,
        finished_at DOUBLE NOT NULL, meta VARCHAR NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS checkpoints (
        id VARCHAR PRIMARY KEY, run_id VARCHAR NOT NULL, workflow_id VARCHAR NOT NULL,
        node_id VARCHAR NOT NULL, status VARCHAR NOT NULL, assignee VARCHAR NOT NULL,
        created_at DOUBLE NOT NULL, due_at DOUBLE, shown VARCHAR NOT NULL,
        editable VARCHAR NOT NULL, instructions VARCHAR NOT NULL, title VARCHAR NOT NULL,
        decision VARCHAR, decided_by VARCHAR, decided_at DOUBLE)""",
    """CREATE TABLE IF NOT EXISTS audit (
        id BIGINT NOT NULL DEFAULT nextval('audit_seq'), run_id VARCHAR NOT NULL,
        ts DOUBLE NOT NULL, actor VARCHAR NOT NULL, event VARCHAR NOT NULL,
        detail VARCHAR NOT NULL)""",
]

_RUN_COLS = (
    "id, workflow_id, version, status, current_node, section, title, vals, started_by, "
    "created_at, updated_at, revisions, outcome, error, failed_node"
)
_CP_COLS = (
    "id, run_id, workflow_id, node_id, status, assignee, created_at, due_at, shown, editable, "
    "instructions, title, decision, decided_by, decided_at"
)
_STEP_COLS = "seq, run_id, node_id, kind, status, input, output, error, started_at, finished_at, meta"


def _dumps(value: Any) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def default_db_path() -> str:
    """The database file: `LOOPDESK_DB` or data/loopdesk.duckdb."""
    return os.environ.get("LOOPDESK_DB", "data/loopdesk.duckdb")


def _connect(path: str, wait_seconds: float) -> duckdb.DuckDBPyConnection:
    """Open the file, waiting up to `wait_seconds` while another process holds it."""
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            return duckdb.connect(path)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            if time.monotonic() >= deadline:
                raise StoreLockedError(path) from None
            time.sleep(0.05)


class _Job:
    """One unit of work for the writer: a function of the writer's cursor."""

    __slots__ = ("future", "work")

    def __init__(self, work: Callable[[duckdb.DuckDBPyConnection], Any]) -> None:
        self.work = work
        self.future: Future[Any] = Future()


class DuckDBStore(Store):
    """The DuckDB-backed store; safe to share between threads of one process."""

    def __init__(self, path: str | None = None, lock_wait_seconds: float | None = None) -> None:
        self.path = path or default_db_path()
        wait = (
            lock_wait_seconds
            if lock_wait_seconds is not None
            else float(os.environ.get("LOOPDESK_DB_WAIT", "10"))
        )
        self._con = _connect(self.path, wait)
        self._local = threading.local()
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._writer: threading.Thread | None = None
        self._writer_lock = threading.Lock()
        self._closed = False
        self.commits = 0
        """How many commits the writer has made (for benchmarks)."""

    # -- plumbing -------------------------------------------------------------
    def _cur(self) -> duckdb.DuckDBPyConnection:
        cur = getattr(self._local, "cur", None)
        if cur is None:
            cur = self._con.cursor()
            self._local.cur = cur
        return cur

    def _rows(self, sql: str, params: list[Any] | tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self._cur().execute(sql, params).fetchall()

    def initialize(self) -> None:
        """Create tables and sequences if missing."""
        cur = self._con.cursor()
        for stmt in SCHEMA:
            cur.execute(stmt)
        cur.close()

    def close(self) -> None:
        """Stop the writer, checkpoint the WAL and close the file."""
        if self._closed:
            return
        self._closed = True
        if self._writer is not None:
            self._queue.put(None)
            self._writer.join(timeout=30)
        with suppress(duckdb.Error):  # a failed checkpoint only means a longer WAL replay
            self._con.execute("CHECKPOINT")
        self._con.close()

    def _ensure_writer(self) -> None:
        if self._writer is None:
            with self._writer_lock:
                if self._writer is None:
                    t = threading.Thread(target=self._write_loop, name="loopdesk-writer", daemon=True)
                    t.start()
                    self._writer = t

    def _submit(self, work: Callable[[duckdb.DuckDBPyConnection], Any]) -> Any:
        if self._closed:
            raise RuntimeError("store is closed")
        self._ensure_writer()
        job = _Job(work)
        self._queue.put(job)
        return job.future.result()

    def _write_loop(self) -> None:
        cur = self._con.cursor()
        while True:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            stop = False
            while len(batch) < 256:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            self._write_batch(cur, batch)
            if stop:
                break
        cur.close()

    def _write_batch(self, cur: duckdb.DuckDBPyConnection, batch: list[_Job]) -> None:
        """Apply a batch in one commit; on an unexpected error retry each job alone."""
        try:
            cur.execute("BEGIN TRANSACTION")
            results = [job.work(cur) for job in batch]
            cur.execute("COMMIT")
            self.commits += 1
        except Exception:
            cur.execute("ROLLBACK")
            if len(batch) == 1:
                try:
                    cur.execute("BEGIN TRANSACTION")
                    res = batch[0].work(cur)
                    cur.execute("COMMIT")
                    self.commits += 1
                    self._settle(batch[0], res)
                except Exception as exc:  # surfaced to the caller
                    with suppress(duckdb.Error):
                        cur.execute("ROLLBACK")
                    batch[0].future.set_exception(exc)
                return
            for job in batch:
                self._write_batch(cur, [job])
            return
        for job, res in zip(batch, results, strict=True):
            self._settle(job, res)

    @staticmethod
    def _settle(job: _Job, res: Any) -> None:
        if isinstance(res, ConflictError):
            job.future.set_exception(res)
        else:
            job.future.set_result(res)

    # -- the one write path ---------------------------------------------------
    def _apply_one(self, cur: duckdb.DuckDBPyConnection, t: Transition) -> ConflictError | None:
        """Write one transition; return a ConflictError (nothing written) if a CAS fails."""
        ts = now()
        conflict = self._check(cur, t)
        if conflict is not None:
            return conflict
        if t.close_checkpoint is not None:
            c = t.close_checkpoint
            if c.new_assignee is not None:
                cur.execute(
                    "UPDATE checkpoints SET assignee = ? WHERE id = ? AND status = 'pending'",
                    [c.new_assignee, c.checkpoint_id],
                )
            else:
                cur.execute(
                    "UPDATE checkpoints SET status = ?, decision = ?, decided_by = ?, "
                    "decided_at = ? WHERE id = ? AND status = 'pending'",
                    [c.status, _dumps(c.decision), c.actor, ts, c.checkpoint_id],
                )
        if t.cancel_checkpoints_of is not None:
            cur.execute(
                "UPDATE checkpoints SET status = 'cancelled', decided_at = ? "
                "WHERE run_id = ? AND status = 'pending'",
                [ts, t.cancel_checkpoints_of],
            )
        if t.new_run is not None:
            r = t.new_run
            cur.execute(
                f"INSERT INTO runs ({_RUN_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [
                    r.id, r.workflow_id, r.version, r.status, r.current_node, r.section,
                    r.title, _dumps(r.values), r.started_by, r.created_at, r.updated_at,
                    r.revisions, r.outcome, r.error, r.failed_node,
                ],
            )  # fmt: skip
        if t.run_update is not None:
            u = t.run_update
            cur.execute(
                "UPDATE runs SET status = ?, current_node = ?, vals = ?, section = ?, "
                "revisions = ?, outcome = ?, error = ?, failed_node = ?, updated_at = ? "
                "WHERE id = ?",
                [
                    u.status, u.current_node, _dumps(u.values), u.section, u.revisions,
                    u.outcome, u.error, u.failed_node, ts, u.run_id,
                ],
            )  # fmt: skip
        if t.steps:
            marks = ",".join(["(?,?,?,?,?,?,?,?,?,?)"] * len(t.steps))
            params: list[Any] = []
            for s in t.steps:
                params += [
                    s.run_id, s.node_id, s.kind, s.status, _dumps(s.input), _dumps(s.output),
                    s.error, s.started_at, s.finished_at, _dumps(s.meta),
                ]  # fmt: skip
            cur.execute(
                "INSERT INTO steps (run_id, node_id, kind, status, input, output, error, "
                f"started_at, finished_at, meta) VALUES {marks}",
                params,
            )
        if t.open_checkpoint is not None:
            cp = t.open_checkpoint
            cur.execute(
                f"INSERT INTO checkpoints ({_CP_COLS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [
                    cp.id, cp.run_id, cp.workflow_id, cp.node_id, cp.status, cp.assignee,
                    cp.created_at, cp.due_at, _dumps(cp.shown), _dumps(cp.editable),
                    cp.instructions, cp.title, _dumps(cp.decision), cp.decided_by, cp.decided_at,
                ],
            )  # fmt: skip
        if t.audit:
            marks = ",".join(["(?,?,?,?,?)"] * len(t.audit))
            params = []
            for a in t.audit:
                params += [a.run_id, a.ts, a.actor, a.event, _dumps(a.detail)]
            cur.execute(f"INSERT INTO audit (run_id, ts, actor, event, detail) VALUES {marks}", params)
        return None

    def _check(self, cur: duckdb.DuckDBPyConnection, t: Transition) -> ConflictError | None:
        """Check every precondition before writing anything (the writer is the only writer)."""
        if t.close_checkpoint is not None:
            c = t.close_checkpoint
            rows = cur.execute(
                f"SELECT {_CP_COLS} FROM checkpoints WHERE id = ?", [c.checkpoint_id]
            ).fetchall()
            if not rows:
                return ConflictError(f"no checkpoint `{c.checkpoint_id}`")
            cp = self._checkpoint(rows[0])
            if cp.status != "pending":
                return ConflictError("checkpoint is not pending", cp)
            if c.expect_assignee is not None and cp.assignee != c.expect_assignee:
                return ConflictError("checkpoint was reassigned", cp)
        if t.run_update is not None:
            u = t.run_update
            rows = cur.execute("SELECT status, current_node FROM runs WHERE id = ?", [u.run_id]).fetchall()
            if not rows:
                return ConflictError(f"no run `{u.run_id}`")
            status, node = rows[0]
            if status not in u.expect_status or (u.expect_node is not None and node != u.expect_node):
                return ConflictError(f"run is {status} at `{node}`")
        return None

    def apply(self, transition: Transition) -> None:
        """Queue the transition for the writer and wait until it is committed."""
        self._submit(lambda cur: self._apply_one(cur, transition))

    # -- workflows ------------------------------------------------------------
    def save_workflow(self, wf: Workflow, created_by: str, note: str = "") -> WorkflowVersion:
        """Store a new version: the next number after the latest."""

        def write(cur: duckdb.DuckDBPyConnection) -> WorkflowVersion:
            (latest,) = cur.execute(
                "SELECT coalesce(max(version), 0) FROM workflow_versions WHERE workflow_id = ?",
                [wf.id],
            ).fetchall()[0]
            ts = now()
            version = int(latest) + 1
            cur.execute(
                "INSERT INTO workflow_versions VALUES (?,?,?,?,?,?,?)",
                [wf.id, version, wf.name, wf.model_dump_json(), ts, created_by, note],
            )
            return WorkflowVersion(wf.id, version, wf.name, wf, ts, created_by, note)

        result: WorkflowVersion = self._submit(write)
        return result

    @staticmethod
    def _wfv(row: tuple[Any, ...]) -> WorkflowVersion:
        wid, version, name, definition, created_at, created_by, note = row
        return WorkflowVersion(
            wid, int(version), name, Workflow.model_validate_json(definition),
            float(created_at), created_by, note,
        )  # fmt: skip

    def get_workflow(self, workflow_id: str, version: int | None = None) -> WorkflowVersion | None:
        """The given version of a workflow, or its latest."""
        if version is None:
            rows = self._rows(
                "SELECT * FROM workflow_versions WHERE workflow_id = ? ORDER BY version DESC LIMIT 1",
                [workflow_id],
            )
        else:
            rows = self._rows(
                "SELECT * FROM workflow_versions WHERE workflow_id = ? AND version = ?",
                [workflow_id, version],
            )
        return self._wfv(rows[0]) if rows else None

    def list_workflows(self) -> list[WorkflowVersion]:
        """Latest version of each workflow, ordered by name."""
        rows = self._rows(
            "SELECT * FROM workflow_versions QUALIFY row_number() OVER "
            "(PARTITION BY workflow_id ORDER BY version DESC) = 1 ORDER BY lower(name), workflow_id"
        )
        return [self._wfv(r) for r in rows]

    def list_versions(self, workflow_id: str) -> list[WorkflowVersion]:
        """Every version of a workflow, newest first."""
        rows = self._rows(
            "SELECT * FROM workflow_versions WHERE workflow_id = ? ORDER BY version DESC",
            [workflow_id],
        )
        return [self._wfv(r) for r in rows]

    # -- runs -----------------------------------------------------------------
    @staticmethod
    def _run(row: tuple[Any, ...]) -> RunRecord:
        (rid, wid, version, status, node, section, title, vals, started_by, created_at,
         updated_at, revisions, outcome, error, failed_node) = row  # fmt: skip
        return RunRecord(
            id=rid, workflow_id=wid, version=int(version), status=status, current_node=node,
            section=section, title=title, values=_loads(vals), started_by=started_by,
            created_at=float(created_at), updated_at=float(updated_at),
            revisions=int(revisions), outcome=outcome, error=error, failed_node=failed_node,
        )  # fmt: skip

    def get_run(self, run_id: str) -> RunRecord | None:
        """One run by id."""
        rows = self._rows(f"SELECT {_RUN_COLS} FROM runs WHERE id = ?", [run_id])
        return self._run(rows[0]) if rows else None

    def list_runs(
        self,
        status: str | None = None,
        workflow_id: str | None = None,
        limit: int = 500,
    ) -> list[RunRecord]:
        """Runs newest first, filtered by status and workflow."""
        where, params = [], []
        if status:
            where.append("status = ?")
            params.append(status)
        if workflow_id:
            where.append("workflow_id = ?")
            params.append(workflow_id)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = self._rows(
            f"SELECT {_RUN_COLS} FROM runs {clause} ORDER BY created_at DESC LIMIT {int(limit)}",
            params,
        )
        return [self._run(r) for r in rows]

    @staticmethod
    def _step(row: tuple[Any, ...]) -> StepRecord:
        seq, rid, node, kind, status, inp, out, err, started, finished, meta = row
        return StepRecord(
            run_id=rid, node_id=node, kind=kind, status=status, input=_loads(inp),
            output=_loads(out), started_at=float(started), finished_at=float(finished),
            error=err, meta=_loads(meta), seq=int(seq),
        )  # fmt: skip

    def list_steps(self, run_id: str) -> list[StepRecord]:
        """Steps of a run in the order they ran."""
        rows = self._rows(f"SELECT {_STEP_COLS} FROM steps WHERE run_id = ? ORDER BY seq", [run_id])
        return [self._step(r) for r in rows]

    def last_step(self, run_id: str, node_id: str) -> StepRecord | None:
        """Latest successful step of a node in a run."""
        rows = self._rows(
            f"SELECT {_STEP_COLS} FROM steps WHERE run_id = ? AND node_id = ? AND status = 'done' "
            "ORDER BY seq DESC LIMIT 1",
            [run_id, node_id],
        )
        return self._step(rows[0]) if rows else None

    def list_audit(self, run_id: str | None = None, limit: int = 1000) -> list[AuditEvent]:
        """Audit events oldest first (a run's), or the newest `limit` overall."""
        if run_id is not None:
            rows = self._rows(
                "SELECT id, run_id, ts, actor, event, detail FROM audit WHERE run_id = ? ORDER BY id",
                [run_id],
            )
        else:
            rows = self._rows(
                f"SELECT id, run_id, ts, actor, event, detail FROM audit ORDER BY id DESC LIMIT {int(limit)}"
            )
        return [
            AuditEvent(run_id=r[1], actor=r[3], event=r[4], detail=_loads(r[5]), ts=float(r[2]), id=int(r[0]))
            for r in rows
        ]

    # -- checkpoints ----------------------------------------------------------
    @staticmethod
    def _checkpoint(row: tuple[Any, ...]) -> CheckpointRecord:
        (cid, rid, wid, node, status, assignee, created_at, due_at, shown, editable,
         instructions, title, decision, decided_by, decided_at) = row  # fmt: skip
        return CheckpointRecord(
            id=cid, run_id=rid, workflow_id=wid, node_id=node, status=status, assignee=assignee,
            created_at=float(created_at), due_at=None if due_at is None else float(due_at),
            shown=_loads(shown), editable=_loads(editable), instructions=instructions,
            title=title, decision=_loads(decision), decided_by=decided_by,
            decided_at=None if decided_at is None else float(decided_at),
        )  # fmt: skip

    def get_checkpoint(self, checkpoint_id: str) -> CheckpointRecord | None:
        """One checkpoint by id."""
        rows = self._rows(f"SELECT {_CP_COLS} FROM checkpoints WHERE id = ?", [checkpoint_id])
        return self._checkpoint(rows[0]) if rows else None

    def list_checkpoints(
        self,
        status: str | None = "pending",
        assignees: list[str] | None = None,
        run_id: str | None = None,
        decided_by: str | None = None,
    ) -> list[CheckpointRecord]:
        """Checkpoints oldest first, filtered."""
        where: list[str] = []
        params: list[Any] = []
        if status:
            where.append("status = ?")
            params.append(status)
        if assignees is not None:
            if not assignees:
                return []
            where.append(f"assignee IN ({','.join('?' * len(assignees))})")
            params += assignees
        if run_id:
            where.append("run_id = ?")
            params.append(run_id)
        if decided_by:
            where.append("decided_by = ?")
            params.append(decided_by)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        order = "decided_at DESC" if decided_by else "created_at"
        rows = self._rows(f"SELECT {_CP_COLS} FROM checkpoints {clause} ORDER BY {order}", params)
        return [self._checkpoint(r) for r in rows]

    def step_stats(self, workflow_id: str | None = None) -> list[dict[str, Any]]:
        """Per workflow and node: steps, tokens, cost and mean duration."""
        clause = "WHERE r.workflow_id = ?" if workflow_id else ""
        rows = self._rows(
            "SELECT r.workflow_id, s.node_id, s.kind, count(*) AS steps, "
            "sum(coalesce(CAST(json_extract(s.meta, '$.prompt_tokens') AS BIGINT), 0)), "
            "sum(coalesce(CAST(json_extract(s.meta, '$.completion_tokens') AS BIGINT), 0)), "
            "sum(coalesce(CAST(json_extract(s.meta, '$.cost_usd') AS DOUBLE), 0)), "
            "avg((s.finished_at - s.started_at) * 1000) "
            f"FROM steps s JOIN runs r ON r.id = s.run_id {clause} "
            "GROUP BY ALL ORDER BY 1, 2",
            [workflow_id] if workflow_id else [],
        )
        keys = [
            "workflow_id",
            "node_id",
            "kind",
            "steps",
            "prompt_tokens",
            "completion_tokens",
            "cost_usd",
            "avg_ms",
        ]
        return [dict(zip(keys, r, strict=True)) for r in rows]
