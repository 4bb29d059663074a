"""PostgreSQL backend: all its SQL lives here. Any number of processes, on any number of machines,
share one database.

Every state change is decided by the database, in one transaction: the rows a transition depends
on are locked (`SELECT … FOR UPDATE`, a run before its checkpoints, always in that order), the
shared precondition is checked against what the database holds at that moment, and the writes are
conditional (`… WHERE status = %s`, `DELETE … RETURNING`). Nothing in one process's memory is
needed to keep another process's writes correct. Work is claimed with `FOR UPDATE SKIP LOCKED`
under a lease (runs to drive, due checkpoints, announcements to send), and a commit that makes a
run runnable wakes waiting workers with `NOTIFY`.
"""

from __future__ import annotations

import io
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from psycopg import errors as pg_errors
from psycopg_pool import ConnectionPool, PoolTimeout

from engine.decisions import counts_as_sql
from engine.errors import EngineError, StoreOpenError, StoreUnavailableError
from engine.model import Workflow
from engine.records import (
    FINISHED_STATUSES,
    PENDING,
    CheckpointQuery,
    CheckpointRecord,
    OutboxEvent,
    RunFilter,
    RunRecord,
    RunScope,
    Transition,
    WorkflowVersion,
    now,
)
from engine.store.counters import (
    AI_METRICS,
    DAY_SECONDS,
    DECISION_METRICS,
    RUNS_PREFIX,
    CounterDeltas,
    decision_columns,
)
from engine.store.filters import checkpoint_order, checkpoint_query, run_filter
from engine.store.location import redacted
from engine.store.outbox import events_from
from engine.store.rows import (
    AUDIT_COLS,
    CATALOG_TABLES,
    CP_COLS,
    OUTBOX_COLS,
    RUN_COLS,
    STEP_COLS,
    STEP_INSERT_COLS,
    WORKFLOW_COLS,
    RunState,
    catalog_queries,
    checkpoint_record,
    checkpoint_values,
    dumps,
    made_runnable,
    open_update,
    outbox_event,
    outbox_values,
    precondition,
    run_record,
    run_values,
    step_values,
)
from engine.store.sql import SqlStore, find_checkpoint

log = logging.getLogger("loopdesk.store")

WORK_CHANNEL = "loopdesk_work"
"""`NOTIFY` channel: a run became runnable with nobody leased to drive it."""
_SCHEMA_LOCK = 0x10_0D_DE_5C
"""Advisory lock taken while the schema is created or migrated (several processes start at once)."""
_COMPACT_LOCK = _SCHEMA_LOCK + 1
COUNTER_DELTAS_BEFORE_COMPACTING = 20_000

_CHECKPOINT_COLUMNS = """
        id TEXT PRIMARY KEY, run_id TEXT NOT NULL, workflow_id TEXT NOT NULL, node_id TEXT NOT NULL,
        status TEXT NOT NULL, assignee TEXT NOT NULL, created_at DOUBLE PRECISION NOT NULL,
        due_at DOUBLE PRECISION, shown TEXT NOT NULL, editable TEXT NOT NULL, instructions TEXT NOT NULL,
        title TEXT NOT NULL, decision TEXT, decided_by TEXT, decided_at DOUBLE PRECISION,
        requester TEXT NOT NULL DEFAULT '', action_at DOUBLE PRECISION"""
_COUNTER_COLUMNS = """
        workflow_id TEXT NOT NULL, node_id TEXT NOT NULL, day INTEGER NOT NULL, metric TEXT NOT NULL,
        value DOUBLE PRECISION NOT NULL"""
_OUTBOX_COLUMNS = """
        id TEXT PRIMARY KEY, event TEXT NOT NULL, run_id TEXT NOT NULL, checkpoint_id TEXT,
        assignee TEXT, actor TEXT, action TEXT, occurred_at DOUBLE PRECISION NOT NULL, status TEXT NOT NULL,
        attempts INTEGER NOT NULL, next_at DOUBLE PRECISION NOT NULL, done TEXT NOT NULL, last_error TEXT,
        delivered_at DOUBLE PRECISION"""


def _stats_query(runs: str = "runs", checkpoints: str = "checkpoints", steps: str = "steps") -> str:
    """The insight counters computed from scratch over these relations (rows as in stats_counters)."""
    kind = "(decision::jsonb ->> 'kind')"
    auto = "coalesce(jsonb_typeof(decision::jsonb -> 'auto_approved') = 'object', false)"
    edits = (
        "coalesce(jsonb_typeof(decision::jsonb -> 'edits') = 'object' "
        "AND decision::jsonb -> 'edits' <> '{}'::jsonb, false)"
    )

    def unpivot(alias: str, metrics: tuple[str, ...]) -> str:
        pairs = ", ".join(f"('{m}', {alias}.{m})" for m in metrics)
        return f"CROSS JOIN LATERAL (VALUES {pairs}) AS v(metric, value)"

    def token(name: str) -> str:
        return f"sum(coalesce((s.meta::jsonb ->> '{name}')::bigint, 0))::float8 AS {name}"

    return f"""
        SELECT workflow_id, '' AS node_id, 0 AS day, '{RUNS_PREFIX}' || status AS metric,
               count(*)::float8 AS value
        FROM {runs} AS r GROUP BY workflow_id, status
        UNION ALL
        SELECT d.workflow_id, d.node_id, d.day, v.metric, v.value FROM (
            SELECT workflow_id, node_id, floor(decided_at / {DAY_SECONDS!r})::int AS day, {decision_columns()}
            FROM (
                SELECT workflow_id, node_id, created_at, decided_at, {kind} AS kind,
                    {edits} AS has_edits, {counts_as_sql(kind, "decided_by", auto)} AS counted
                FROM {checkpoints} AS c0 WHERE status = 'decided'
            ) AS c GROUP BY 1, 2, 3
        ) AS d {unpivot("d", DECISION_METRICS)}
        UNION ALL
        SELECT a.workflow_id, a.node_id, a.day, v.metric, v.value FROM (
            SELECT r.workflow_id, s.node_id, floor(s.finished_at / {DAY_SECONDS!r})::int AS day,
                count(*)::float8 AS ai_steps, {token("prompt_tokens")}, {token("completion_tokens")},
                sum(coalesce((s.meta::jsonb ->> 'cost_usd')::float8, 0)) AS cost_usd,
                (count(*) FILTER (WHERE (s.meta::jsonb ->> 'cost_usd') IS NULL
                    AND (s.meta::jsonb ->> 'model') IS NOT NULL
                    AND coalesce((s.meta::jsonb ->> 'demo')::boolean, false) = false))::float8
                    AS unpriced_steps
            FROM {steps} AS s JOIN {runs} AS r ON r.id = s.run_id WHERE s.kind = 'ai_step' GROUP BY 1, 2, 3
        ) AS a {unpivot("a", AI_METRICS)}
    """


MIGRATIONS: list[list[str]] = [
    [  # 1: the schema of the DuckDB store, plus run leases, with indexes for every page's query
        """CREATE TABLE workflow_versions (
            workflow_id TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL, definition TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL, created_by TEXT NOT NULL, note TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (workflow_id, version))""",
        """CREATE TABLE runs (
            id TEXT PRIMARY KEY, workflow_id TEXT NOT NULL, version INTEGER NOT NULL, status TEXT NOT NULL,
            current_node TEXT, section TEXT, title TEXT NOT NULL, vals TEXT NOT NULL,
            started_by TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL,
            revisions INTEGER NOT NULL DEFAULT 0, outcome TEXT, error TEXT, failed_node TEXT,
            lease_owner TEXT, lease_until DOUBLE PRECISION)""",
        """CREATE TABLE steps (
            seq BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, run_id TEXT NOT NULL,
            node_id TEXT NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL, input TEXT NOT NULL, output TEXT,
            error TEXT, started_at DOUBLE PRECISION NOT NULL, finished_at DOUBLE PRECISION NOT NULL,
            meta TEXT NOT NULL)""",
        f"CREATE TABLE checkpoints ({_CHECKPOINT_COLUMNS})",
        f"CREATE TABLE pending_checkpoints ({_CHECKPOINT_COLUMNS})",
        f"CREATE TABLE stats_counters ({_COUNTER_COLUMNS})",
        f"CREATE TABLE archived_counters ({_COUNTER_COLUMNS})",
        "CREATE TABLE store_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        f"CREATE TABLE outbox ({_OUTBOX_COLUMNS})",
        f"CREATE TABLE outbox_log ({_OUTBOX_COLUMNS})",
        """CREATE TABLE api_tokens (
            id TEXT PRIMARY KEY, user_name TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, label TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL, created_by TEXT NOT NULL, revoked_at DOUBLE PRECISION)""",
        """CREATE TABLE audit (
            id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, run_id TEXT NOT NULL,
            ts DOUBLE PRECISION NOT NULL, actor TEXT NOT NULL, event TEXT NOT NULL, detail TEXT NOT NULL)""",
        "CREATE INDEX runs_newest ON runs (created_at DESC, id)",
        "CREATE INDEX runs_of_workflow ON runs (workflow_id, created_at DESC)",
        "CREATE INDEX runs_of_starter ON runs (started_by)",
        "CREATE INDEX runs_runnable ON runs (updated_at) WHERE status = 'running'",
        "CREATE INDEX steps_of_run ON steps (run_id, seq)",
        "CREATE INDEX audit_of_run ON audit (run_id, id)",
        "CREATE INDEX audit_of_actor ON audit (actor)",
        "CREATE INDEX checkpoints_of_run ON checkpoints (run_id)",
        "CREATE INDEX checkpoints_of_assignee ON checkpoints (assignee)",
        "CREATE INDEX checkpoints_of_decider ON checkpoints (decided_by, decided_at DESC)",
        "CREATE INDEX pending_of_run ON pending_checkpoints (run_id)",
        "CREATE INDEX pending_due ON pending_checkpoints (action_at) WHERE action_at IS NOT NULL",
        "CREATE INDEX outbox_of_run ON outbox (run_id)",
        "CREATE INDEX outbox_due ON outbox (next_at) WHERE status = 'pending'",
        "CREATE INDEX outbox_log_of_run ON outbox_log (run_id)",
    ],
    [  # 2: checkpoint policy state (escalation progress, quorum votes, the rules it opened under)
        "ALTER TABLE checkpoints ADD COLUMN policy TEXT NOT NULL DEFAULT '{}'",
        "ALTER TABLE pending_checkpoints ADD COLUMN policy TEXT NOT NULL DEFAULT '{}'",
    ],
    [  # 3: AI steps in flight (the answer so far while it streams; read by every app server)
        """CREATE UNLOGGED TABLE live_steps (
            run_id TEXT PRIMARY KEY, node_id TEXT NOT NULL, attempt INTEGER NOT NULL, text TEXT NOT NULL,
            started_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL)""",
    ],
    [  # 4: designers' unsaved working copies (restored after a reload or a restart)
        """CREATE TABLE design_drafts (
            user_name TEXT NOT NULL, workflow_id TEXT NOT NULL, definition TEXT NOT NULL,
            saved_at DOUBLE PRECISION NOT NULL, PRIMARY KEY (user_name, workflow_id))""",
    ],
    [  # 5: a step's newest closed checkpoints (auto-approval's standing, review figures, past drafts)
        "CREATE INDEX checkpoints_of_step ON checkpoints (workflow_id, node_id, created_at DESC)",
        "CREATE INDEX checkpoints_of_workflow ON checkpoints (workflow_id, created_at DESC)",
    ],
    [  # 6: the insight counters counted again: a timeout is no review (`timed_out`, no longer `decided`)
        "DELETE FROM stats_counters",
        f"INSERT INTO stats_counters SELECT * FROM ({_stats_query()}) AS s WHERE value <> 0",
    ],
    [  # 7: named connections to services outside (plain settings as JSON, secrets as one encrypted token)
        """CREATE TABLE connections (
            name TEXT PRIMARY KEY, type TEXT NOT NULL, settings TEXT NOT NULL, secrets TEXT NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL, updated_by TEXT NOT NULL)""",
    ],
]
"""Schema versions in order: version N is `MIGRATIONS[N-1]`. A later schema change appends a step;
a database records the version it has reached in `schema_version`."""

_HISTORY = (("runs", "id"), ("steps", "run_id"), ("checkpoints", "run_id"),
            ("pending_checkpoints", "run_id"), ("audit", "run_id"), ("outbox", "run_id"),
            ("outbox_log", "run_id"))  # fmt: skip
_ARCHIVED = tuple(t for t in _HISTORY if t[0] != "pending_checkpoints")
_COLUMNS = {"runs": RUN_COLS, "steps": STEP_COLS, "checkpoints": CP_COLS, "pending_checkpoints": CP_COLS,
            "audit": AUDIT_COLS, "outbox": OUTBOX_COLS, "outbox_log": OUTBOX_COLS}  # fmt: skip
"""The columns every backend shares (a run's lease is this backend's own)."""
_ORDER = {"steps": "seq", "audit": "id"}
_ARROW_TYPES = {25: pa.string(), 1043: pa.string(), 701: pa.float64(), 23: pa.int32(), 20: pa.int64()}
"""PostgreSQL type oid → Arrow type, for the column types this schema uses."""


def _shared(conn: psycopg.Connection[Any], sql: str, params: list[Any]) -> psycopg.Cursor[Any]:
    """Execute one statement written with `?` placeholders (the shared ones) on this connection."""
    if not params:
        return conn.execute(sql)  # nothing to bind: `%` in the text stays as it is
    return conn.execute(sql.replace("%", "%%").replace("?", "%s"), params)


def _fetch(conn: psycopg.Connection[Any]) -> Callable[[str, list[Any]], list[tuple[Any, ...]]]:
    """Run reads written with `?` placeholders (the shared ones) on this connection."""
    return lambda sql, params: _shared(conn, sql, params).fetchall()


_UNAVAILABLE = ("08", "53", "57", "58")
"""SQLSTATE classes of a server that cannot be used right now: connection lost, out of resources,
shut down or restarting, system error."""


def _unavailable(exc: BaseException) -> bool:
    """Whether an error means the server cannot be used right now (not that this one statement lost)."""
    state = getattr(exc, "sqlstate", None)
    return isinstance(exc, PoolTimeout) or state is None or str(state)[:2] in _UNAVAILABLE


def _values(rows: list[list[Any]]) -> tuple[str, list[Any]]:
    """`(%s,…),(%s,…)` for these rows, and their values flattened (one statement for many rows)."""
    row = "(" + ",".join(["%s"] * len(rows[0])) + ")"
    return ",".join([row] * len(rows)), [v for r in rows for v in r]


class PostgresStore(SqlStore):
    """The PostgreSQL-backed store; safe to share between threads and between processes."""

    def __init__(self, url: str, pool_size: int | None = None) -> None:
        self.source = url
        self.path = redacted(url)
        size = pool_size or int(os.environ.get("LOOPDESK_DB_POOL", "10"))
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max(2, size),
            kwargs={"autocommit": True},
            open=False,
            timeout=float(os.environ.get("LOOPDESK_DB_WAIT", "10")),
            name="loopdesk",
        )
        try:
            self._pool.open(wait=True, timeout=float(os.environ.get("LOOPDESK_DB_WAIT", "10")))
        except PoolTimeout:
            self._pool.close()
            raise StoreOpenError(self.path, self._why_not(url), verb="connect to") from None
        self._counter_rows = 0
        self._listen_lock = threading.Lock()
        self._listener: psycopg.Connection[Any] | None = None
        self._closed = False

    @staticmethod
    def _why_not(url: str) -> str:
        """The server's own reason a connection fails (the pool only says it timed out)."""
        try:
            psycopg.connect(url, connect_timeout=5).close()
        except psycopg.Error as exc:
            return str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        return "the server did not answer in time"

    # -- plumbing -------------------------------------------------------------
    @contextmanager
    def _conn(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection (autocommit: each statement commits unless in `transaction()`);
        a lost server or connection surfaces as StoreUnavailableError."""
        if self._closed:
            raise RuntimeError("store is closed")
        try:
            with self._pool.connection() as conn:
                yield conn
        except (psycopg.OperationalError, PoolTimeout) as exc:
            if not _unavailable(exc):
                raise  # a deadlock or a serialization conflict: `_write` tries again
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreUnavailableError(self.path, reason) from None

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """One read written with `?` placeholders."""
        with self._conn() as conn:
            return _fetch(conn)(sql, list(params))

    def _stats_sql(self) -> str:
        """The insight counters computed from scratch, in PostgreSQL's dialect."""
        return _stats_query()

    def _json_number(self, column: str, key: str) -> str:
        """`key` of the JSON text in `column` as a float8 (0 when absent)."""
        return f"coalesce(({column}::jsonb ->> '{key}')::float8, 0)"

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        with self._conn() as conn:
            return conn.execute(sql, params).fetchall()

    def _write(self, work: Callable[[psycopg.Connection[Any]], Any]) -> Any:
        """Run `work` in one transaction, again (up to 5 times) when the database chose it as the
        loser of a deadlock or a serialization conflict."""
        for attempt in range(5):
            try:
                with self._conn() as conn, conn.transaction():
                    return work(conn)
            except (pg_errors.DeadlockDetected, pg_errors.SerializationFailure):
                if attempt == 4:
                    raise
                time.sleep(0.01 * (attempt + 1))
        raise AssertionError("unreachable")

    def health(self) -> str | None:
        """Why the database cannot be used right now, or None (a round trip to the server)."""
        try:
            self._rows("SELECT 1")
        except StoreUnavailableError as exc:
            return str(exc)
        return None

    def initialize(self) -> None:
        """Create the schema, or bring it to the newest version, once (concurrent starts wait)."""

        def migrate(conn: psycopg.Connection[Any]) -> None:
            conn.execute("SELECT pg_advisory_xact_lock(%s)", [_SCHEMA_LOCK])
            conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
            reached = int(row[0]) if row and row[0] is not None else 0
            if reached > len(MIGRATIONS):
                raise EngineError(
                    f"the database {self.path} has schema version {reached}, newer than this Loopdesk "
                    f"knows ({len(MIGRATIONS)}); upgrade Loopdesk"
                )
            for version in range(reached + 1, len(MIGRATIONS) + 1):
                for stmt in MIGRATIONS[version - 1]:
                    conn.execute(stmt)
                conn.execute("INSERT INTO schema_version VALUES (%s)", [version])
                log.info("database %s: schema version %d", self.path, version)

        self._write(migrate)

    def schema_version(self) -> int:
        """The schema version the database has reached."""
        return int(self._rows("SELECT max(version) FROM schema_version")[0][0] or 0)

    def close(self) -> None:
        """Close every pooled connection (and the listener)."""
        if self._closed:
            return
        self._closed = True
        with self._listen_lock:
            if self._listener is not None:
                self._listener.close()
                self._listener = None
        self._pool.close()

    # -- the one write path ---------------------------------------------------
    def apply(self, transition: Transition) -> None:
        """Apply a transition in one transaction, or raise ConflictError and write nothing."""
        announced = self._write(lambda conn: self._apply(conn, transition))
        if announced and self.events_listener is not None:
            self.events_listener()
        self._compact_now_and_then()

    def _apply(self, conn: psycopg.Connection[Any], t: Transition) -> bool:
        """Lock what `t` depends on (run first, then checkpoint), check it, write it; whether it
        wrote announcements."""
        runs, cps = self._locked(conn, t)
        conflict = precondition(t, runs, cps)
        if conflict is not None:
            raise conflict
        counts = CounterDeltas()
        ts = now()
        self._write_run(conn, t, runs, counts, ts)
        if t.open_checkpoint is not None:
            conn.execute(
                f"INSERT INTO pending_checkpoints ({CP_COLS}) VALUES ({','.join(['%s'] * 18)})",
                checkpoint_values(t.open_checkpoint),
            )
        if t.close_checkpoint is not None:
            self._close(conn, t, cps[t.close_checkpoint.checkpoint_id], counts, ts)
        if t.cancel_checkpoints_of is not None:
            self._move_closed(conn, "run_id = %s", [t.cancel_checkpoints_of], "cancelled", None, None, ts)
        for step in t.steps:
            state = runs.get(step.run_id) or self._run_state(conn, step.run_id)
            if state is not None:
                counts.step(state.workflow_id, step)
        announced = self._write_history(conn, t, counts)
        runnable = made_runnable(t)
        if runnable is not None and t.lease is None:  # delivered when (and only if) this commits
            conn.execute("SELECT pg_notify(%s, %s)", [WORK_CHANNEL, runnable])
        return announced

    @staticmethod
    def _locked(
        conn: psycopg.Connection[Any], t: Transition
    ) -> tuple[dict[str, RunState], dict[str, CheckpointRecord]]:
        """The run `t` updates and the checkpoint it closes, locked for the rest of the transaction."""
        runs: dict[str, RunState] = {}
        if t.run_update is not None:
            row = conn.execute(
                "SELECT status, current_node, workflow_id FROM runs WHERE id = %s FOR UPDATE",
                [t.run_update.run_id],
            ).fetchone()
            if row is not None:
                runs[t.run_update.run_id] = RunState(*row)
        cps: dict[str, CheckpointRecord] = {}
        if t.close_checkpoint is not None:
            cp = find_checkpoint(_fetch(conn), t.close_checkpoint.checkpoint_id, lock=True)
            if cp is not None:
                cps[cp.id] = cp
        return runs, cps

    def _write_run(
        self,
        conn: psycopg.Connection[Any],
        t: Transition,
        runs: dict[str, RunState],
        counts: CounterDeltas,
        ts: float,
    ) -> None:
        """Insert `t`'s new run or update its run (leased to its driver when it says so), counted."""
        lease = [t.lease.owner, self.clock.now() + t.lease.seconds] if t.lease is not None else [None, None]
        if t.new_run is not None:
            r = t.new_run
            conn.execute(
                f"INSERT INTO runs ({RUN_COLS}, lease_owner, lease_until) VALUES ({','.join(['%s'] * 17)})",
                [*run_values(r), *lease],
            )
            runs[r.id] = RunState(r.status, r.current_node, r.workflow_id)
            counts.run_moved(r.workflow_id, None, r.status)
        if t.run_update is not None:
            u = t.run_update
            was = runs[u.run_id]
            keep = t.lease is None
            written = conn.execute(
                "UPDATE runs SET status = %s, current_node = %s, vals = %s, section = %s, revisions = %s, "
                "outcome = %s, error = %s, failed_node = %s, updated_at = %s, "
                "lease_owner = CASE WHEN %s THEN lease_owner ELSE %s END, "
                "lease_until = CASE WHEN %s THEN lease_until ELSE %s END "
                "WHERE id = %s AND status = %s",
                [u.status, u.current_node, dumps(u.values), u.section, u.revisions, u.outcome, u.error,
                 u.failed_node, ts, keep, lease[0], keep, lease[1], u.run_id, was.status],
            ).rowcount  # fmt: skip
            assert written == 1, "the locked run changed under its lock"
            runs[u.run_id] = RunState(u.status, u.current_node, was.workflow_id)
            counts.run_moved(was.workflow_id, was.status, u.status)

    def _write_history(self, conn: psycopg.Connection[Any], t: Transition, counts: CounterDeltas) -> bool:
        """Append `t`'s steps, counter deltas, audit events and the announcements they call for;
        whether it announced anything."""
        if t.steps:
            marks, params = _values([step_values(s) for s in t.steps])
            conn.execute(f"INSERT INTO steps ({STEP_INSERT_COLS}) VALUES {marks}", params)
        counted = counts.rows()
        if counted:
            marks, params = _values([list(r) for r in counted])
            conn.execute(f"INSERT INTO stats_counters VALUES {marks}", params)
            self._counter_rows += len(counted)
        if not t.audit:
            return False
        marks, params = _values([[a.run_id, a.ts, a.actor, a.event, dumps(a.detail)] for a in t.audit])
        conn.execute(f"INSERT INTO audit (run_id, ts, actor, event, detail) VALUES {marks}", params)
        events = events_from(t.audit)  # announced in the same commit as what they announce
        if events:
            marks, params = _values([outbox_values(e) for e in events])
            conn.execute(f"INSERT INTO outbox ({OUTBOX_COLS}) VALUES {marks}", params)
        return bool(events)

    def _close(
        self,
        conn: psycopg.Connection[Any],
        t: Transition,
        cp: CheckpointRecord,
        counts: CounterDeltas,
        ts: float,
    ) -> None:
        """Change a locked pending checkpoint kept open (reassigned, a vote, an escalation step), or
        move it to the history decided or cancelled."""
        c = t.close_checkpoint
        assert c is not None
        if c.status == "pending":
            sql, params = open_update(c)
            _shared(conn, sql, params)
            return
        policy = dumps((c.policy or cp.policy).to_dict())
        moved = self._move_closed(
            conn, "id = %s", [c.checkpoint_id], c.status, dumps(c.decision), c.actor, ts, policy
        )
        assert moved == 1, "the locked checkpoint left the pending table under its lock"
        if c.status == "decided":
            counts.decided(cp, c, ts)

    @staticmethod
    def _move_closed(
        conn: psycopg.Connection[Any],
        where: str,
        params: list[Any],
        status: str,
        decision: str | None,
        actor: str | None,
        ts: float,
        policy: str | None = None,
    ) -> int:
        """Move pending checkpoints to the history, closed as `status` by `actor` at `ts` (with this
        policy state; None keeps theirs); how many."""
        cur = conn.execute(
            f"WITH gone AS (DELETE FROM pending_checkpoints WHERE {where} RETURNING *) "
            f"INSERT INTO checkpoints ({CP_COLS}) SELECT id, run_id, workflow_id, node_id, %s, assignee, "
            "created_at, due_at, shown, editable, instructions, title, %s, %s, %s, requester, NULL, "
            "coalesce(%s, policy) FROM gone",
            [*params, status, decision, actor, ts, policy],
        )
        return cur.rowcount

    @staticmethod
    def _run_state(conn: psycopg.Connection[Any], run_id: str) -> RunState | None:
        row = conn.execute(
            "SELECT status, current_node, workflow_id FROM runs WHERE id = %s", [run_id]
        ).fetchone()
        return RunState(*row) if row else None

    def _compact_now_and_then(self) -> None:
        """Fold the counters' appended deltas into one row per key once this process has added many
        (one process at a time; rows committed meanwhile by others are kept as they are)."""
        if self._counter_rows <= COUNTER_DELTAS_BEFORE_COMPACTING:
            return
        self._counter_rows = 0

        def fold(conn: psycopg.Connection[Any]) -> None:
            row = conn.execute("SELECT pg_try_advisory_xact_lock(%s)", [_COMPACT_LOCK]).fetchone()
            if row and row[0]:
                _fold(conn, "stats_counters")

        try:
            self._write(fold)
        except Exception:  # folding is an optimisation; the deltas stay correct unfolded
            log.exception("folding the insight counters failed")

    # -- workflows ------------------------------------------------------------
    def save_workflow(self, wf: Workflow, created_by: str, note: str = "") -> WorkflowVersion:
        """Store a new version: the next number after the latest (concurrent saves queue up)."""

        def write(conn: psycopg.Connection[Any]) -> WorkflowVersion:
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"workflow:{wf.id}"])
            row = conn.execute(
                "SELECT coalesce(max(version), 0) FROM workflow_versions WHERE workflow_id = %s", [wf.id]
            ).fetchone()
            version = int(row[0] if row else 0) + 1
            ts = now()
            conn.execute(
                f"INSERT INTO workflow_versions ({WORKFLOW_COLS}) VALUES (%s,%s,%s,%s,%s,%s,%s)",
                [wf.id, version, wf.name, wf.model_dump_json(), ts, created_by, note],
            )
            return WorkflowVersion(wf.id, version, wf.name, wf, ts, created_by, note)

        result: WorkflowVersion = self._write(write)
        return result

    # -- runs -----------------------------------------------------------------
    def list_runs(
        self,
        status: str | None = None,
        workflow_id: str | None = None,
        limit: int = 500,
        scope: RunScope | None = None,
        offset: int = 0,
        where: RunFilter | None = None,
    ) -> list[RunRecord]:
        """Runs newest first, filtered by status, workflow and `where`, and limited to `scope`; one page."""
        clause, params = run_filter(status, workflow_id, scope, wanted=where)
        sql = f"SELECT {RUN_COLS} FROM runs {clause} ORDER BY created_at DESC, id LIMIT ? OFFSET ?"
        return [run_record(r) for r in self._query(sql, [*params, int(limit), int(offset)])]

    def runs_by_section(
        self, workflow_id: str, per_section: int, scope: RunScope | None = None
    ) -> tuple[dict[str | None, int], list[RunRecord]]:
        """For a board: how many runs are in each section, and the newest `per_section` of each."""
        clause, params = run_filter(None, workflow_id, scope)
        counts = {
            section: int(n)
            for section, n in self._query(
                f"SELECT section, count(*) FROM runs {clause} GROUP BY section", params
            )
        }
        rows = self._query(
            f"SELECT {RUN_COLS} FROM (SELECT {RUN_COLS}, row_number() OVER (PARTITION BY section "
            f"ORDER BY created_at DESC, id) AS n FROM runs {clause}) AS ranked WHERE n <= ? "
            "ORDER BY created_at DESC, id",
            [*params, int(per_section)],
        )
        return counts, [run_record(r) for r in rows]

    # -- checkpoints ----------------------------------------------------------
    def list_checkpoints(
        self, query: CheckpointQuery = PENDING, limit: int | None = None, offset: int = 0
    ) -> list[CheckpointRecord]:
        """Checkpoints oldest first (newest decision first with `decided_by`), filtered, one page."""
        found = checkpoint_query(query)
        if found is None:
            return []
        tables, clause, params = found
        order = checkpoint_order(query)
        page, paging = ("", []) if limit is None else (" LIMIT ? OFFSET ?", [int(limit), int(offset)])
        union = " UNION ALL ".join(f"SELECT {CP_COLS} FROM {t}{clause}" for t in tables)
        rows = self._query(
            f"SELECT * FROM ({union}) AS c ORDER BY {order}{page}", [*params * len(tables), *paging]
        )
        return [checkpoint_record(r) for r in rows]

    def due_checkpoints(self, at: float, lease_seconds: float = 0.0) -> list[CheckpointRecord]:
        """Pending checkpoints whose timeout action is due by `at`; with a lease, claimed (skipping
        those another process is claiming right now)."""
        if lease_seconds <= 0:
            sql = f"SELECT {CP_COLS} FROM pending_checkpoints WHERE action_at <= %s ORDER BY action_at"
            return [checkpoint_record(r) for r in self._rows(sql, [at])]
        rows = self._claim(
            "pending_checkpoints",
            "action_at",
            "action_at <= %s",
            [at],
            "action_at",
            500,
            lease_seconds,
            CP_COLS,
        )
        return sorted((checkpoint_record(r) for r in rows), key=lambda c: (c.action_at or 0.0, c.id))

    def _claim(
        self,
        table: str,
        due_col: str,
        where: str,
        params: list[Any],
        order: str,
        limit: int,
        lease_seconds: float,
        cols: str,
    ) -> list[tuple[Any, ...]]:
        """Claim due rows: move their `due_col` `lease_seconds` ahead of now, skipping rows another
        transaction holds; the rows as they were before the claim."""
        sql = (
            f"WITH due AS (SELECT id FROM {table} WHERE {where} ORDER BY {order} LIMIT %s "
            f"FOR UPDATE SKIP LOCKED), old AS (SELECT {cols} FROM {table} WHERE id IN (SELECT id FROM due)) "
            f"UPDATE {table} AS t SET {due_col} = %s FROM old WHERE t.id = old.id "
            f"RETURNING {', '.join('old.' + c.strip() for c in cols.split(','))}"
        )
        with self._conn() as conn:
            return conn.execute(sql, [*params, int(limit), self.clock.now() + lease_seconds]).fetchall()

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """One write written with `?` placeholders; it commits by itself."""
        with self._conn() as conn:
            _shared(conn, sql, list(params))

    def _execute_returning(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """One write written with `?` placeholders (it commits by itself); its `RETURNING` rows."""
        with self._conn() as conn:
            return _shared(conn, sql, list(params)).fetchall()

    def _rows_written(self, sql: str, params: list[Any]) -> int:
        """Run one write statement (it commits by itself); how many rows it changed."""
        with self._conn() as conn:
            return conn.execute(sql, params).rowcount

    # -- driving runs across processes --------------------------------------------
    def claim_runs(
        self, owner: str, lease_seconds: float, run_ids: list[str] | None = None, limit: int = 100
    ) -> dict[str, str | None]:
        """Lease running runs whose lease is free or has run out (these, also when `owner`'s; or any,
        then skipping runs another transaction has locked: being written, or claimed right now)."""
        if run_ids is not None and not run_ids:
            return {}
        ts = self.clock.now()
        free: list[Any] = [ts]
        if run_ids is None:  # any work: not `owner`'s own live leases (it drives those already)
            which = "(lease_until IS NULL OR lease_until < %s)"
        else:  # these runs, also when `owner` holds them already
            which = "(lease_until IS NULL OR lease_until < %s OR lease_owner = %s) AND id = ANY(%s)"
            free = [ts, owner, run_ids]
        # Looking for any work skips rows others hold; claiming given runs waits for them instead
        # (a conflicting writer's brief lock must not make a driver give up a run it leased).
        lock = "FOR UPDATE SKIP LOCKED" if run_ids is None else "FOR UPDATE"
        sql = (
            "UPDATE runs SET lease_owner = %s, lease_until = %s FROM ("
            f"SELECT id, lease_owner AS was FROM runs WHERE status = 'running' AND {which} "
            f"ORDER BY updated_at LIMIT %s {lock}) AS free "
            "WHERE runs.id = free.id RETURNING runs.id, free.was"
        )
        params: list[Any] = [owner, ts + lease_seconds, *free]
        with self._conn() as conn:
            return {rid: was for rid, was in conn.execute(sql, [*params, int(limit)]).fetchall()}

    def renew_leases(self, owner: str, run_ids: list[str], lease_seconds: float) -> list[str]:
        """Extend `owner`'s leases on these runs; those it still holds."""
        if not run_ids:
            return []
        with self._conn() as conn:
            rows = conn.execute(
                "UPDATE runs SET lease_until = %s WHERE id = ANY(%s) AND lease_owner = %s RETURNING id",
                [self.clock.now() + lease_seconds, run_ids, owner],
            ).fetchall()
        return [r[0] for r in rows]

    def release_runs(self, owner: str, run_ids: list[str]) -> None:
        """Give up `owner`'s leases on these runs; still-running ones are announced to workers."""
        if not run_ids:
            return

        def release(conn: psycopg.Connection[Any]) -> None:
            rows = conn.execute(
                "UPDATE runs SET lease_owner = NULL, lease_until = NULL "
                "WHERE id = ANY(%s) AND lease_owner = %s RETURNING id, status",
                [run_ids, owner],
            ).fetchall()
            for rid, status in rows:
                if status == "running":  # left unfinished (shutting down): someone else takes it
                    conn.execute("SELECT pg_notify(%s, %s)", [WORK_CHANNEL, rid])

        self._write(release)

    def wait_for_work(self, timeout: float) -> bool:
        """Wait for a `NOTIFY` that a run became runnable, or `timeout` seconds (workers then look
        anyway: polling is the fallback when a notification is missed)."""
        with self._listen_lock:
            if self._listener is None or self._listener.closed:
                try:
                    self._listener = psycopg.connect(self.source, autocommit=True)
                    self._listener.execute(f"LISTEN {WORK_CHANNEL}")
                except psycopg.Error as exc:
                    log.warning("cannot listen for new work on %s: %s", self.path, exc)
                    time.sleep(min(timeout, 1.0))
                    return False
            listener = self._listener
        try:
            woke = False
            for _ in listener.notifies(timeout=timeout, stop_after=1):
                woke = True
            return woke
        except psycopg.Error:
            with self._listen_lock:
                if self._listener is listener:
                    listener.close()
                    self._listener = None
            return False

    # -- bulk history -----------------------------------------------------------
    def export_rows(self, run_ids: list[str]) -> dict[str, pa.Table]:
        """The stored rows of these runs, table by table, in the layout every backend shares."""
        out = {}
        with self._conn() as conn:
            for table, key in _HISTORY:
                order = f" ORDER BY {_ORDER[table]}" if table in _ORDER else ""
                cur = conn.execute(
                    f"SELECT {_COLUMNS[table]} FROM {table} WHERE {key} = ANY(%s){order}", [run_ids]
                )
                out[table] = _arrow(cur)
        return out

    def export_catalog(self) -> dict[str, pa.Table]:
        """Everything that is not a run's: workflow versions, API tokens, connections, settings,
        archived counters."""
        with self._conn() as conn:
            return {table: _arrow(conn.execute(sql)) for table, sql in catalog_queries().items()}

    def bulk_insert(self, tables: dict[str, pa.Table]) -> None:
        """Add rows in the shared layout in one commit (runs' history and catalog tables alike);
        step and audit order are numbered afresh, in the order given. Runs' counters are added."""

        def write(conn: psycopg.Connection[Any]) -> None:
            for table in (*CATALOG_TABLES, *(t for t, _ in _HISTORY)):
                rows = tables.get(table)
                if rows is None or rows.num_rows == 0:
                    continue
                cols = [c for c in rows.column_names if (table, c) not in (("steps", "seq"), ("audit", "id"))]
                _copy_in(conn, table, rows.select(cols))
            runs = tables.get("runs")
            if runs is not None and runs.num_rows:
                conn.execute("CREATE TEMP TABLE bulk_ids (id TEXT PRIMARY KEY) ON COMMIT DROP")
                _copy_in(conn, "bulk_ids", runs.select(["id"]))
                stats = _stats_query(*_of_runs("bulk_ids"))
                conn.execute(f"INSERT INTO stats_counters SELECT * FROM ({stats}) AS s WHERE value <> 0")
            for table in tables:  # the planner's statistics, before autovacuum gets round to it
                conn.execute(f"ANALYZE {table}")

        self._write(write)

    # -- insight counters --------------------------------------------------------
    # -- archiving ----------------------------------------------------------------
    def archive_runs(self, before: float, folder: str) -> dict[str, dict[str, int]]:
        """Move finished runs created before `before` to Parquet files, a folder per month (UTC)
        and a file per table, verified by reading the files back before anything is deleted."""
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        root = Path(folder).resolve()

        def work(conn: psycopg.Connection[Any]) -> dict[str, dict[str, int]]:
            conn.execute(
                "CREATE TEMP TABLE archiving ON COMMIT DROP AS SELECT id, "
                "to_char(to_timestamp(created_at) AT TIME ZONE 'UTC', 'YYYY-MM') AS month FROM runs "
                "WHERE status = ANY(%s) AND created_at < %s",
                [list(FINISHED_STATUSES), before],
            )
            months = [
                m for (m,) in conn.execute("SELECT DISTINCT month FROM archiving ORDER BY 1").fetchall()
            ]
            written: list[Path] = []
            try:
                moved = {m: _archive_month(conn, m, root / m, stamp, written) for m in months}
                stats = f"SELECT * FROM ({_stats_query(*_of_runs('archiving'))}) AS s WHERE value <> 0"
                conn.execute(
                    "INSERT INTO stats_counters SELECT workflow_id, node_id, day, metric, -value "
                    f"FROM ({stats}) AS x"
                )
                conn.execute(f"INSERT INTO archived_counters {stats}")
                _fold(conn, "stats_counters")
                _fold(conn, "archived_counters")
                for table, key in reversed(_ARCHIVED):
                    conn.execute(f"DELETE FROM {table} WHERE {key} IN (SELECT id FROM archiving)")
            except BaseException:
                for path in written:  # the transaction rolls back: no file may claim those rows
                    path.unlink(missing_ok=True)
                raise
            return moved

        result: dict[str, dict[str, int]] = self._write(work)
        return result

    # -- notifications ----------------------------------------------------------
    def due_events(self, at: float, limit: int = 100, lease_seconds: float = 0.0) -> list[OutboxEvent]:
        """Undelivered events whose next attempt is due, oldest first; with a lease, claimed (so
        one process sends each)."""
        where = "status = 'pending' AND next_at <= %s"
        if lease_seconds <= 0:
            sql = f"SELECT {OUTBOX_COLS} FROM outbox WHERE {where} ORDER BY occurred_at, id LIMIT %s"
            rows = self._rows(sql, [at, int(limit)])
        else:
            rows = self._claim(
                "outbox", "next_at", where, [at], "occurred_at, id", limit, lease_seconds, OUTBOX_COLS
            )
        return sorted((outbox_event(r) for r in rows), key=lambda e: (e.at, e.id))

    def update_events(self, events: list[OutboxEvent]) -> None:
        """Record delivery progress: status, attempts, next attempt, channels done, last error."""
        if not events:
            return

        def write(conn: psycopg.Connection[Any]) -> None:
            for e in events:
                conn.execute(
                    "UPDATE outbox SET status = %s, attempts = %s, next_at = %s, done = %s, last_error = %s, "
                    "delivered_at = %s WHERE id = %s",
                    [e.status, e.attempts, e.next_at, dumps(e.done), e.last_error, e.delivered_at, e.id],
                )
            ids = [e.id for e in events if e.status != "pending"]
            if ids:  # done with: into the log, out of what senders read
                conn.execute(
                    f"WITH gone AS (DELETE FROM outbox WHERE id = ANY(%s) RETURNING *) "
                    f"INSERT INTO outbox_log ({OUTBOX_COLS}) SELECT {OUTBOX_COLS} FROM gone",
                    [ids],
                )

        self._write(write)

    # -- API tokens and settings ------------------------------------------------
    def setting(self, key: str, default: str) -> str:
        """The stored value of a setting, or `default`, stored first, when there is none yet (the
        first process to store one wins; every process then reads the same)."""
        rows = self._rows(
            "WITH added AS (INSERT INTO store_meta VALUES (%s, %s) ON CONFLICT DO NOTHING RETURNING value) "
            "SELECT value FROM added UNION ALL SELECT value FROM store_meta WHERE key = %s",
            [f"setting:{key}", default, f"setting:{key}"],
        )
        if not rows:  # another process stored it in the same instant: a new statement sees its row
            rows = self._rows("SELECT value FROM store_meta WHERE key = %s", [f"setting:{key}"])
        return str(rows[0][0]) if rows else default


def _copy_in(conn: psycopg.Connection[Any], table: str, rows: pa.Table) -> None:
    """Append Arrow rows to a table with one `COPY … (FORMAT csv)`: Arrow quotes every text, so an
    empty text stays empty and only a missing value (unquoted, empty) is NULL."""
    buffer = io.BytesIO()
    pa_csv.write_csv(rows, buffer, pa_csv.WriteOptions(include_header=False))
    names = ", ".join(rows.column_names)
    with conn.cursor().copy(f"COPY {table} ({names}) FROM STDIN WITH (FORMAT csv)") as copy:
        view = buffer.getbuffer()
        for start in range(0, len(view), 1 << 20):
            copy.write(view[start : start + (1 << 20)])


def _of_runs(ids_table: str) -> tuple[str, str, str]:
    """The runs, checkpoints and steps of the runs whose ids a temp table holds, as relations."""
    return (
        f"(SELECT * FROM runs WHERE id IN (SELECT id FROM {ids_table}))",
        f"(SELECT * FROM checkpoints WHERE run_id IN (SELECT id FROM {ids_table}))",
        f"(SELECT * FROM steps WHERE run_id IN (SELECT id FROM {ids_table}))",
    )


def _fold(conn: psycopg.Connection[Any], table: str) -> None:
    """Fold a counter table's deltas into one row per key (zero totals dropped), atomically."""
    conn.execute(
        f"WITH gone AS (DELETE FROM {table} RETURNING *) INSERT INTO {table} "
        "SELECT workflow_id, node_id, day, metric, sum(value) FROM gone "
        "GROUP BY workflow_id, node_id, day, metric HAVING sum(value) <> 0"
    )


def _arrow(cur: psycopg.Cursor[Any]) -> pa.Table:
    """A result as an Arrow table, typed by its columns (so an empty result keeps its layout)."""
    desc = cur.description or []
    rows = cur.fetchall()
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in desc]
    return pa.table(
        {
            d.name: pa.array(list(col), type=_ARROW_TYPES.get(d.type_code, pa.string()))
            for d, col in zip(desc, columns, strict=True)
        }
    )


def _archive_month(
    conn: psycopg.Connection[Any], month: str, target: Path, stamp: str, written: list[Path]
) -> dict[str, int]:
    """Write one month's rows of every table to Parquet and check each file's row count."""
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EngineError(f"cannot write the archive to {target}: {exc.strerror or exc}") from None
    moved = {}
    for table, key in _ARCHIVED:
        cur = conn.execute(
            f"SELECT {_COLUMNS[table]} FROM {table} "
            f"WHERE {key} IN (SELECT id FROM archiving WHERE month = %s)",
            [month],
        )
        rows = _arrow(cur)
        if not rows.num_rows:
            continue
        path = target / f"{table}-{stamp}.parquet"
        written.append(path)
        pq.write_table(rows, path)
        found = pq.read_metadata(path).num_rows
        if found != rows.num_rows:
            raise EngineError(f"{path} holds {found} rows of {table}, not {rows.num_rows}; nothing was moved")
        moved[table] = found
    return moved
