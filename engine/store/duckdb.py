"""DuckDB backend: all SQL lives here. One connection per process, one writer thread.

Writes are queued to a single writer thread that applies every waiting transition in
one commit (group commit): concurrent callers share an fdatasync, and because only
one thread ever writes, DuckDB's write-write conflict errors cannot happen.
Reads use a cursor per thread on the shared connection.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import shutil
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from engine.errors import (
    EngineError,
    StoreDamagedError,
    StoreLockedError,
    StoreOpenError,
    StoreUnavailableError,
)
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
from engine.store.archive import sql_text, stats_query
from engine.store.counters import DAY_SECONDS
from engine.store.duckdb_writer import (
    GroupCommitWriter,
    Job,
    compact_counters,
)
from engine.store.filters import checkpoint_order, checkpoint_query, given, run_filter
from engine.store.filters import marks as _marks
from engine.store.location import default_location
from engine.store.rows import (
    CATALOG_TABLES,
    CP_COLS,
    OUTBOX_COLS,
    RUN_COLS,
    RunState,
    catalog_queries,
    checkpoint_record,
    dumps,
    made_runnable,
    outbox_event,
    run_of,
    run_record,
)
from engine.store.sql import SqlStore

log = logging.getLogger("loopdesk.store")

_CHECKPOINT_COLUMNS = """
        id VARCHAR PRIMARY KEY, run_id VARCHAR NOT NULL, workflow_id VARCHAR NOT NULL,
        node_id VARCHAR NOT NULL, status VARCHAR NOT NULL, assignee VARCHAR NOT NULL,
        created_at DOUBLE NOT NULL, due_at DOUBLE, shown VARCHAR NOT NULL,
        editable VARCHAR NOT NULL, instructions VARCHAR NOT NULL, title VARCHAR NOT NULL,
        decision VARCHAR, decided_by VARCHAR, decided_at DOUBLE,
        requester VARCHAR NOT NULL DEFAULT '', action_at DOUBLE, policy VARCHAR NOT NULL DEFAULT '{}'"""
"""Open (`pending_checkpoints`) and closed (`checkpoints`) checkpoints have the same columns."""
_COUNTER_COLUMNS = """
        workflow_id VARCHAR NOT NULL, node_id VARCHAR NOT NULL, day INTEGER NOT NULL,
        metric VARCHAR NOT NULL, value DOUBLE NOT NULL"""
_OUTBOX_COLUMNS = """
        id VARCHAR PRIMARY KEY, event VARCHAR NOT NULL, run_id VARCHAR NOT NULL,
        checkpoint_id VARCHAR, assignee VARCHAR, actor VARCHAR, action VARCHAR, occurred_at DOUBLE NOT NULL,
        status VARCHAR NOT NULL, attempts INTEGER NOT NULL, next_at DOUBLE NOT NULL,
        done VARCHAR NOT NULL, last_error VARCHAR, delivered_at DOUBLE"""
"""Announcements to deliver (`outbox`) and handled ones (`outbox_log`) have the same columns."""

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
    f"CREATE TABLE IF NOT EXISTS checkpoints ({_CHECKPOINT_COLUMNS})",
    # Open checkpoints live in their own small table (what the inbox, the sidebar count and the
    # timers read, so they cost the same whatever the history); closed ones move to `checkpoints`.
    f"CREATE TABLE IF NOT EXISTS pending_checkpoints ({_CHECKPOINT_COLUMNS})",
    # Insight counters (engine/store/counters.py), kept up to date in the commit of what they count.
    # Deltas are appended (a plain insert is the cheapest write) and summed when read; the writer
    # folds them into one row per key now and then (`_compact_counters`), so reads stay small.
    f"CREATE TABLE IF NOT EXISTS stats_counters ({_COUNTER_COLUMNS})",
    f"CREATE TABLE IF NOT EXISTS archived_counters ({_COUNTER_COLUMNS})",
    "CREATE TABLE IF NOT EXISTS store_meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)",
    """CREATE TABLE IF NOT EXISTS design_drafts (
        user_name VARCHAR NOT NULL, workflow_id VARCHAR NOT NULL, definition VARCHAR NOT NULL,
        saved_at DOUBLE NOT NULL, PRIMARY KEY (user_name, workflow_id))""",
    # AI steps in flight: one small row per running run, rewritten while an answer streams in
    """CREATE TABLE IF NOT EXISTS live_steps (
        run_id VARCHAR PRIMARY KEY, node_id VARCHAR NOT NULL, attempt INTEGER NOT NULL,
        text VARCHAR NOT NULL, started_at DOUBLE NOT NULL, updated_at DOUBLE NOT NULL)""",
    f"CREATE TABLE IF NOT EXISTS outbox ({_OUTBOX_COLUMNS})",
    # Announcements still to deliver stay in `outbox` (what the sender reads after every commit);
    # delivered, skipped and failed ones move to `outbox_log`, which only grows at its end.
    f"CREATE TABLE IF NOT EXISTS outbox_log ({_OUTBOX_COLUMNS})",
    """CREATE TABLE IF NOT EXISTS api_tokens (
        id VARCHAR PRIMARY KEY, user_name VARCHAR NOT NULL, hash VARCHAR NOT NULL UNIQUE,
        label VARCHAR NOT NULL, created_at DOUBLE NOT NULL, created_by VARCHAR NOT NULL,
        revoked_at DOUBLE)""",
    # named connections to services outside: plain settings as JSON, secrets as one encrypted token
    """CREATE TABLE IF NOT EXISTS connections (
        name VARCHAR PRIMARY KEY, type VARCHAR NOT NULL, settings VARCHAR NOT NULL,
        secrets VARCHAR NOT NULL, updated_at DOUBLE NOT NULL, updated_by VARCHAR NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS audit (
        id BIGINT NOT NULL DEFAULT nextval('audit_seq'), run_id VARCHAR NOT NULL,
        ts DOUBLE NOT NULL, actor VARCHAR NOT NULL, event VARCHAR NOT NULL,
        detail VARCHAR NOT NULL)""",
]

INDEXES = [  # a run's rows are found through these, not by scanning every run's
    "CREATE INDEX IF NOT EXISTS steps_by_run ON steps (run_id)",
    "CREATE INDEX IF NOT EXISTS audit_by_run ON audit (run_id)",
    "CREATE INDEX IF NOT EXISTS checkpoints_by_run ON checkpoints (run_id)",
    "CREATE INDEX IF NOT EXISTS outbox_by_run ON outbox (run_id)",
    "CREATE INDEX IF NOT EXISTS outbox_log_by_run ON outbox_log (run_id)",
]


def _move_counters(cur: duckdb.DuckDBPyConnection) -> None:
    """Move what the runs in the temp table `archiving` counted from the live to the archive's counters."""
    leaving = {}
    for table, key in (("runs", "id"), ("checkpoints", "run_id"), ("steps", "run_id")):
        leaving[table] = f"(SELECT * FROM {table} WHERE {key} IN (SELECT id FROM archiving))"
    query = stats_query(leaving["runs"], leaving["checkpoints"], leaving["steps"])
    stats = f"SELECT * FROM ({query}) WHERE value <> 0"
    cur.execute(f"INSERT INTO stats_counters SELECT workflow_id, node_id, day, metric, -value FROM ({stats})")
    cur.execute(f"INSERT INTO archived_counters SELECT * FROM ({stats})")
    compact_counters(cur)
    compact_counters(cur, "archived_counters")


def _in_transaction(cur: duckdb.DuckDBPyConnection, *statements: str | tuple[str, list[Any]]) -> None:
    """Run statements (SQL, or SQL and parameters) as one transaction."""
    cur.execute("BEGIN TRANSACTION")
    try:
        for stmt in statements:
            sql, params = stmt if isinstance(stmt, tuple) else (stmt, [])
            cur.execute(sql, params)
        cur.execute("COMMIT")
    except BaseException:
        with suppress(duckdb.Error):
            cur.execute("ROLLBACK")
        raise


def _once(
    cur: duckdb.DuckDBPyConnection, key: str, migrate: Callable[[duckdb.DuckDBPyConnection], None]
) -> None:
    """Run a migration unless the file records that it ran (then record it)."""
    if cur.execute("SELECT 1 FROM store_meta WHERE key = ?", [key]).fetchall():
        return
    migrate(cur)
    cur.execute("INSERT INTO store_meta VALUES (?, '1')", [key])


def _split_tables(cur: duckdb.DuckDBPyConnection) -> None:
    """Migrate a file written before open checkpoints and due announcements had their own tables;
    a year of announcements moves a month per transaction (one would not fit in memory)."""
    _in_transaction(
        cur,
        f"INSERT INTO pending_checkpoints ({CP_COLS}) "
        f"SELECT {CP_COLS} FROM checkpoints WHERE status = 'pending'",
        "DELETE FROM checkpoints WHERE status = 'pending'",
    )
    (first, last) = cur.execute(
        "SELECT min(occurred_at), max(occurred_at) FROM outbox WHERE status <> 'pending'"
    ).fetchall()[0]
    month = 30 * DAY_SECONDS
    start = first
    while first is not None and start <= last:
        span = [start, start + month]
        handled = "status <> 'pending' AND occurred_at >= ? AND occurred_at < ?"
        _in_transaction(
            cur,
            (f"INSERT INTO outbox_log SELECT {OUTBOX_COLS} FROM outbox WHERE {handled}", span),
            (f"DELETE FROM outbox WHERE {handled}", span),
        )
        start += month


def _count_history(cur: duckdb.DuckDBPyConnection) -> None:
    """Fill the insight counters from what a file from before them (or a new one) holds."""
    cur.execute("DELETE FROM stats_counters")
    cur.execute(f"INSERT INTO stats_counters SELECT * FROM ({stats_query()}) WHERE value <> 0")


_OS_REASONS = (
    "No space left on device",
    "Read-only file system",
    "Permission denied",
    "Input/output error",
    "Disk quota exceeded",
)
_IO_WORDS = ("could not write", "could not read", "could not open", "could not fsync", "cannot open file")


def _fatal(exc: BaseException) -> bool:
    """Whether DuckDB gave up on this connection (it must be reopened before any further use)."""
    return isinstance(exc, duckdb.FatalException) or "has been invalidated" in str(exc)


def _io_reason(exc: BaseException) -> str | None:
    """What the operating system refused, for errors caused by the disk or the file; else None."""
    text = str(exc)
    for reason in _OS_REASONS:
        if reason.lower() in text.lower():
            return reason
    if _fatal(exc) or isinstance(exc, duckdb.IOException) or any(w in text.lower() for w in _IO_WORDS):
        return text.splitlines()[0] if text else type(exc).__name__
    return None


_ROOM_BYTES = 4 * 1024 * 1024


def _has_room(path: str) -> bool:
    """Whether the disk of the database has a few megabytes free again."""
    try:
        return shutil.disk_usage(Path(path).resolve().parent).free >= _ROOM_BYTES
    except OSError:
        return True


DEFAULT_MEMORY_LIMIT = "256MB"


def memory_limit() -> str:
    """How much memory DuckDB may use (`LOOPDESK_DB_MEMORY`, e.g. `512MB`, `2GB`); beyond it,
    large queries spill to disk instead of growing the process with the history."""
    value = os.environ.get("LOOPDESK_DB_MEMORY", "").strip() or DEFAULT_MEMORY_LIMIT
    if not re.fullmatch(r"\d+(\.\d+)?\s*([KMGT]i?B|B)?", value, flags=re.IGNORECASE):
        raise EngineError(f"LOOPDESK_DB_MEMORY is '{value}'; use a size such as 512MB or 2GB")
    return value


def _connect(path: str, wait_seconds: float, memory: str) -> duckdb.DuckDBPyConnection:
    """Open the file, waiting up to `wait_seconds` while another process holds it."""
    deadline = time.monotonic() + wait_seconds
    try:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        while True:
            try:
                return duckdb.connect(path, config={"memory_limit": memory})
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower():
                    raise
                if time.monotonic() >= deadline:
                    raise StoreLockedError(path) from None
                time.sleep(0.05)
    except (duckdb.Error, OSError) as exc:
        raise _open_failure(path, exc) from None


_DAMAGE_SIGNS = (
    "not a valid duckdb database file",
    "corrupt database file",
    "checksum",
    "could not read enough bytes",
    "failed to read",
    "invalid block",
    "serialization error",
    "deserialize",
)
"""How DuckDB says a file's content cannot be what it wrote (not a disk or permission fault)."""


def _open_failure(path: str, exc: BaseException) -> StoreOpenError:
    """Why a file cannot be opened: damaged (never touched again), or another fault (tried again)."""
    reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, duckdb.SerializationException) or any(s in reason.lower() for s in _DAMAGE_SIGNS):
        return StoreDamagedError(path, reason)
    return StoreOpenError(path, reason)


_OPEN_FILES: set[str] = set()
_OPEN_LOCK = threading.Lock()


def _claim(path: str) -> str | None:
    """Register a database file as open in this process; a second store on it is refused.

    Exactly-once decisions rely on one writer per file, and DuckDB would let a second
    connection in the same process open it.
    """
    if path == ":memory:":
        return None
    real = os.path.realpath(path)
    with _OPEN_LOCK:
        if real in _OPEN_FILES:
            raise EngineError(f"the database {path} is already open in this process")
        _OPEN_FILES.add(real)
    return real


class DuckDBStore(GroupCommitWriter, SqlStore):
    """The DuckDB-backed store; safe to share between threads of one process."""

    def __init__(
        self, path: str | None = None, lock_wait_seconds: float | None = None, memory: str | None = None
    ) -> None:
        self.path = path or default_location()
        self.source = self.path
        wait = (
            lock_wait_seconds
            if lock_wait_seconds is not None
            else float(os.environ.get("LOOPDESK_DB_WAIT", "10"))
        )
        self._memory = memory or memory_limit()
        """DuckDB's memory limit for this file (`LOOPDESK_DB_MEMORY` unless given)."""
        self._claimed = _claim(self.path)
        try:
            self._con = _connect(self.path, wait, self._memory)
        except BaseException:
            self._release()
            raise
        self._local = threading.local()
        self._queue: queue.Queue[Job | None] = queue.Queue()
        self._writer: threading.Thread | None = None
        self._writer_lock = threading.Lock()
        self._closed = False
        self.commits = 0
        """How many commits the writer has made (for benchmarks)."""
        self._states: OrderedDict[str, RunState] = OrderedDict()
        self._counter_rows = 0
        """Counter deltas appended since the writer last folded them (a hint for when to fold)."""
        self._cps: OrderedDict[str, CheckpointRecord] = OrderedDict()
        # Leases of runs to drivers. Only one process can open the file, so this process's memory
        # is where every lease is; the PostgreSQL store keeps them in the runs table instead.
        self._leases: dict[str, tuple[str, float]] = {}
        self._lease_lock = threading.Lock()
        self._event_claims: dict[str, float] = {}
        """Outbox events this process is delivering, until when (see `due_events`)."""
        self._event_claiming = threading.Lock()
        self._runnable = threading.Event()
        # Faults that heal: a write refused by the disk is reported until a later write succeeds;
        # a connection DuckDB invalidated (a failed checkpoint) is replaced by a fresh one.
        self._gen = 0
        """Bumped whenever the connection is replaced; cursors of older generations are dropped."""
        self._cache_gen = 0
        self._con_lock = threading.Lock()
        self._broken: str | None = None
        self._write_error: str | None = None
        self._retry_at = 0.0
        self._probe_at = 0.0

    # -- plumbing -------------------------------------------------------------
    def _cur(self) -> duckdb.DuckDBPyConnection:
        """This thread's cursor on the current connection (reopened first if DuckDB gave it up)."""
        self._usable()
        cur = getattr(self._local, "cur", None)
        if cur is None or getattr(self._local, "gen", -1) != self._gen:
            cur = self._con.cursor()
            self._local.cur, self._local.gen = cur, self._gen
        return cur

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """One read (DuckDB takes `?` placeholders as they are)."""
        return self._rows(sql, params)

    def _execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """One write, through the single writer (committed with whatever else it groups)."""
        self._submit(Job(work=lambda cur: cur.execute(sql, list(params))))

    def _execute_returning(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """One write through the single writer; the rows its `RETURNING` clause gives."""
        rows: list[tuple[Any, ...]] = self._submit(
            Job(work=lambda cur: cur.execute(sql, list(params)).fetchall())
        )
        return rows

    def _stats_sql(self) -> str:
        """The insight counters computed from scratch, in DuckDB's dialect."""
        return stats_query()

    def _json_number(self, column: str, key: str) -> str:
        """`key` of the JSON text in `column` as a DOUBLE (0 when absent)."""
        return f"coalesce(CAST(json_extract({column}, '$.{key}') AS DOUBLE), 0)"

    def _rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """One read on this thread's cursor (read again once if the connection was replaced)."""
        if self._closed:  # as a write on a closed store says (not DuckDB's own error)
            raise RuntimeError("store is closed")
        for attempt in range(2):
            gen = self._gen
            try:
                return self._cur().execute(sql, params).fetchall()
            except duckdb.Error as exc:
                if attempt == 0 and gen != self._gen:
                    continue  # the connection was replaced under this read: read again
                raise self._translate(exc) from None
        raise AssertionError("unreachable")

    def _translate(self, exc: BaseException) -> BaseException:
        """A disk or file failure as StoreUnavailableError (marking a dead connection); running out of
        the memory limit as advice to raise it; others as is."""
        if isinstance(exc, duckdb.OutOfMemoryException):
            return EngineError(
                f"DuckDB needs more memory than its limit of {self._memory} for this "
                f"({str(exc).splitlines()[0]}); set LOOPDESK_DB_MEMORY higher, e.g. 2GB, and try again"
            )
        reason = _io_reason(exc)
        if reason is None:
            return exc
        if _fatal(exc):
            with self._con_lock:
                if self._broken is None:
                    log.error("DuckDB gave up on %s (%s); it is reopened once that is fixed", self.path, exc)
                    self._broken = reason
        return StoreUnavailableError(self.path, reason)

    def _usable(self) -> None:
        """Reopen a connection DuckDB invalidated (at most once a second); raise while that fails."""
        if self._broken is None:
            return
        with self._con_lock:
            if self._broken is None:
                return
            if self.clock.monotonic() < self._retry_at:
                raise StoreUnavailableError(self.path, self._broken)
            self._retry_at = self.clock.monotonic() + 1.0
            with suppress(duckdb.Error):
                self._con.close()
            try:
                self._con = duckdb.connect(self.path, config={"memory_limit": self._memory})
            except duckdb.Error as exc:
                self._broken = _io_reason(exc) or str(exc).splitlines()[0]
                raise StoreUnavailableError(self.path, self._broken) from None
            self._gen += 1
            self._broken = None
            log.warning("reopened the database %s", self.path)

    def health(self) -> str | None:
        """Why the database cannot be used right now, or None; while it cannot, each call (at most
        every 2 s) tries a small write, so the answer turns None by itself once the cause is gone."""
        if self._broken is None and self._write_error is None:
            return None
        if self._write_error == "No space left on device" and not _has_room(self.path):
            return str(StoreUnavailableError(self.path, self._write_error))  # a tiny probe could fit
        if self.clock.monotonic() >= self._probe_at:
            self._probe_at = self.clock.monotonic() + 2.0

            def probe(cur: duckdb.DuckDBPyConnection) -> None:
                cur.execute("INSERT OR REPLACE INTO store_meta VALUES ('probe', ?)", [str(now())])

            try:
                self._submit(Job(work=probe))
            except StoreUnavailableError as exc:
                return str(exc)
            return None
        reason = self._broken or self._write_error
        return str(StoreUnavailableError(self.path, reason)) if reason else None

    def initialize(self) -> None:
        """Create tables and sequences if missing, and bring an older file's tables up to date; a file
        whose content DuckDB cannot read is reported damaged (StoreDamagedError)."""
        cur = self._con.cursor()
        try:
            for stmt in SCHEMA:
                cur.execute(stmt)
            self._migrate(cur)
            cur.execute("SELECT count(*) FROM runs").fetchall()  # the catalog and a table read back
        except duckdb.Error as exc:
            raise _open_failure(self.path, exc) from None
        finally:
            with suppress(duckdb.Error):
                cur.close()

    @staticmethod
    def _migrate(cur: duckdb.DuckDBPyConnection) -> None:
        """Columns added since the first release, filled in from what the file already holds."""

        def columns(table: str) -> set[str]:
            query = "SELECT column_name FROM information_schema.columns WHERE table_name = ?"
            return {r[0] for r in cur.execute(query, [table]).fetchall()}

        cols = columns("checkpoints")
        if "action_at" not in cols:  # until now every pending item with a due time was re-read
            cur.execute("ALTER TABLE checkpoints ADD COLUMN action_at DOUBLE")
            cur.execute("UPDATE checkpoints SET action_at = due_at WHERE status = 'pending'")
        if "requester" not in cols:
            cur.execute("ALTER TABLE checkpoints ADD COLUMN requester VARCHAR DEFAULT ''")
            cur.execute(
                "UPDATE checkpoints SET requester = runs.started_by FROM runs "
                "WHERE runs.id = checkpoints.run_id"
            )
        for table in ("checkpoints", "pending_checkpoints"):  # policy state came with escalation chains
            if "policy" not in columns(table):
                cur.execute(f"ALTER TABLE {table} ADD COLUMN policy VARCHAR NOT NULL DEFAULT '{{}}'")
        _once(cur, "split_tables", _split_tables)
        for stmt in INDEXES:
            cur.execute(stmt)
        _once(cur, "stats_counters", _count_history)
        _once(cur, "review_counters", _count_history)  # timeouts left `decided` for `timed_out`

    def _release(self) -> None:
        if self._claimed is not None:
            with _OPEN_LOCK:
                _OPEN_FILES.discard(self._claimed)
            self._claimed = None

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
        with suppress(duckdb.Error):
            self._con.close()
        self._release()

    # -- after a commit (the writer is `GroupCommitWriter`) ------------------------
    def _lease_or_announce(self, t: Transition) -> None:
        """After a commit: lease the run to its driver, or wake whoever waits for runnable runs."""
        leased = run_of(t)
        if t.lease is not None and leased is not None:
            with self._lease_lock:
                self._leases[leased] = (t.lease.owner, self.clock.now() + t.lease.seconds)
        elif made_runnable(t) is not None:
            self._runnable.set()

    def claim_runs(
        self, owner: str, lease_seconds: float, run_ids: list[str] | None = None, limit: int = 100
    ) -> dict[str, str | None]:
        """Lease running runs whose lease is free, run out or `owner`'s (these, or any)."""
        if run_ids is not None:
            if not run_ids:
                return {}
            sql = f"SELECT id FROM runs WHERE status = 'running' AND id IN ({_marks(len(run_ids))})"
            found = [r[0] for r in self._rows(sql, run_ids)]
        else:
            sql = "SELECT id FROM runs WHERE status = 'running' ORDER BY updated_at, id LIMIT ?"
            found = [r[0] for r in self._rows(sql, [limit + len(self._leases)])]
        ts, out = self.clock.now(), {}
        with self._lease_lock:
            for rid in found:
                held = self._leases.get(rid)
                mine = held is not None and held[0] == owner and run_ids is not None
                if held is None or mine or held[1] < ts:
                    self._leases[rid] = (owner, ts + lease_seconds)
                    out[rid] = None if held is None else held[0]
                    if len(out) >= limit:
                        break
        return out

    def renew_leases(self, owner: str, run_ids: list[str], lease_seconds: float) -> list[str]:
        """Extend `owner`'s leases on these runs; those it still holds."""
        until, held = self.clock.now() + lease_seconds, []
        with self._lease_lock:
            for rid in run_ids:
                if self._leases.get(rid, ("", 0.0))[0] == owner:
                    self._leases[rid] = (owner, until)
                    held.append(rid)
        return held

    def release_runs(self, owner: str, run_ids: list[str]) -> None:
        """Give up `owner`'s leases on these runs."""
        with self._lease_lock:
            for rid in run_ids:
                if self._leases.get(rid, ("", 0.0))[0] == owner:
                    del self._leases[rid]

    def wait_for_work(self, timeout: float) -> bool:
        """Wait until a commit made a run runnable with no driver, or `timeout` seconds passed."""
        woke = self._runnable.wait(timeout)
        self._runnable.clear()
        return woke

    def apply(self, transition: Transition) -> None:
        """Queue the transition for the writer and wait until it is committed."""
        self._submit(Job(transition=transition))

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

        result: WorkflowVersion = self._submit(Job(work=write))
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
        rows = self._newest_runs(status, workflow_id, None, scope, limit, offset, where)
        return [run_record(r) for r in rows]

    _WINDOWS = (3, 30, 365)
    """Days looked back before reading the whole history, for the newest rows of a list."""

    def _newest_runs(
        self,
        status: str | None,
        workflow_id: str | None,
        section: str | None,
        scope: RunScope | None,
        limit: int,
        offset: int,
        where: RunFilter | None = None,
    ) -> list[tuple[Any, ...]]:
        """One page of runs, newest first, reading recent history first (`_newest`); the scope's
        lookups in checkpoints and audit are narrowed to the same days."""

        def select(since: float | None) -> tuple[str, list[Any]]:
            clause, params = run_filter(status, workflow_id, scope, section, since, where)
            return f"SELECT {RUN_COLS} FROM runs {clause}", params

        return self._newest(select, "created_at", limit, offset)

    def _newest(
        self,
        select: Callable[[float | None], tuple[str, list[Any]]],
        time_col: str,
        limit: int,
        offset: int,
    ) -> list[tuple[Any, ...]]:
        """One page of rows, newest `time_col` first; `select(since)` gives the query (and its
        parameters) for rows from `since` on, or for all of them with None.

        Rows are appended in time order, so DuckDB skips every older block for `time_col >= t`;
        when the last few days already hold the whole page, nothing older is read (and a page
        the window holds is exactly the page a full sort gives, since every older row is older).
        """
        order = f" ORDER BY {time_col} DESC, id LIMIT {int(limit)} OFFSET {int(offset)}"
        for days in self._WINDOWS if limit + offset <= 1000 else ():  # pages, not bulk reads
            sql, params = select(now() - days * DAY_SECONDS)
            if self._rows(f"SELECT count(*) FROM ({sql})", params)[0][0] >= limit + offset:
                return self._rows(f"{sql}{order}", params)
        sql, params = select(None)
        return self._rows(f"{sql}{order}", params)

    def _newest_checkpoints(
        self, clause: str, params: list[Any], limit: int, offset: int
    ) -> list[tuple[Any, ...]]:
        """One page of closed checkpoints, newest opened first: the ids are ranked on two narrow
        columns (recent history first, `_newest`), then only the page's rows are read whole — ranking
        whole rows of a long history does not fit DuckDB's memory limit."""

        def select(since: float | None) -> tuple[str, list[Any]]:
            recent = "" if since is None else f"{' AND' if clause else ' WHERE'} created_at >= ?"
            return f"SELECT id, created_at FROM checkpoints{clause}{recent}", [*params, *given(since)]

        ranked = [str(r[0]) for r in self._newest(select, "created_at", limit, offset)]
        found: dict[str, tuple[Any, ...]] = {}
        for i in range(0, len(ranked), 1000):
            chunk = ranked[i : i + 1000]
            for row in self._rows(
                f"SELECT {CP_COLS} FROM checkpoints WHERE id IN ({_marks(len(chunk))})", chunk
            ):
                found[str(row[0])] = row
        return [found[i] for i in ranked if i in found]

    def runs_by_section(
        self, workflow_id: str, per_section: int, scope: RunScope | None = None
    ) -> tuple[dict[str | None, int], list[RunRecord]]:
        """For a board: how many runs are in each section, and the newest `per_section` of each."""
        clause, params = run_filter(None, workflow_id, scope)
        counts = {
            section: int(n)
            for section, n in self._rows(f"SELECT section, count(*) FROM runs {clause} GROUP BY ALL", params)
        }
        rows = [
            row
            for section in counts
            for row in self._newest_runs(None, workflow_id, section or "", scope, per_section, 0)
        ]
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
        page = "" if limit is None else f" LIMIT {int(limit)} OFFSET {int(offset)}"
        if query.decided_by and limit is not None:  # someone's latest decisions: the newest rows first

            def select(since: float | None) -> tuple[str, list[Any]]:
                recent = "" if since is None else " AND decided_at >= ?"
                return f"SELECT {CP_COLS} FROM checkpoints{clause}{recent}", [*params, *given(since)]

            rows = self._newest(select, "decided_at", limit, offset)
        elif tables == ["checkpoints"] and query.newest_first and limit is not None:
            rows = self._newest_checkpoints(clause, params, limit, offset)
        elif len(tables) == 1:  # the common case: one simple statement (a union costs more to plan)
            rows = self._rows(f"SELECT {CP_COLS} FROM {tables[0]}{clause} ORDER BY {order}{page}", params)
        elif limit is None and query.run_id:  # one run's checkpoints: two index lookups, merged here
            rows = [r for t in tables for r in self._rows(f"SELECT {CP_COLS} FROM {t}{clause}", params)]
            rows.sort(key=lambda r: (-r[6] if query.newest_first else r[6], r[0]))
        else:
            union = " UNION ALL ".join(f"SELECT {CP_COLS} FROM {t}{clause}" for t in tables)
            rows = self._rows(f"SELECT * FROM ({union}) ORDER BY {order}{page}", params * len(tables))
        return [checkpoint_record(r) for r in rows]

    def due_checkpoints(self, at: float, lease_seconds: float = 0.0) -> list[CheckpointRecord]:
        """Pending checkpoints whose timeout action is due by `at`; claimed for `lease_seconds`."""
        select = f"SELECT {CP_COLS} FROM pending_checkpoints WHERE action_at <= ? ORDER BY action_at"
        rows = self._claim_rows(select, [at], "pending_checkpoints", "action_at", lease_seconds)
        return [checkpoint_record(r) for r in rows]

    def _claim_rows(
        self, select: str, params: list[Any], table: str, due_col: str, lease_seconds: float
    ) -> list[tuple[Any, ...]]:
        """The rows `select` finds; with a lease, their `due_col` moves that far ahead of now in the
        same commit, so nothing (in this process: the one that may open the file) takes them twice."""
        if lease_seconds <= 0:
            return self._rows(select, params)

        def claim(cur: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
            rows = cur.execute(select, params).fetchall()
            if rows:
                ids = [r[0] for r in rows]
                cur.execute(
                    f"UPDATE {table} SET {due_col} = ? WHERE id IN ({_marks(len(ids))})",
                    [self.clock.now() + lease_seconds, *ids],
                )
            return rows

        result: list[tuple[Any, ...]] = self._submit(Job(work=claim))
        return result

    # -- bulk history -----------------------------------------------------------
    _HISTORY = (("runs", "id"), ("steps", "run_id"), ("checkpoints", "run_id"),
                ("pending_checkpoints", "run_id"), ("audit", "run_id"), ("outbox", "run_id"),
                ("outbox_log", "run_id"))  # fmt: skip

    def export_rows(self, run_ids: list[str]) -> dict[str, pa.Table]:
        """The stored rows of these runs, table by table, in the store's layout."""
        marks = _marks(len(run_ids)) or "NULL"
        out = {}
        for table, key in self._HISTORY:
            order = {"steps": " ORDER BY seq", "audit": " ORDER BY id"}.get(table, "")
            query = f"SELECT * FROM {table} WHERE {key} IN ({marks}){order}"
            try:
                out[table] = self._cur().sql(query, params=run_ids).to_arrow_table()
            except duckdb.Error as exc:
                raise self._translate(exc) from None
        return out

    def export_catalog(self) -> dict[str, pa.Table]:
        """Workflow versions, API tokens, connections, settings and archived counters, in the shared
        layout."""
        return {table: self._cur().sql(sql).to_arrow_table() for table, sql in catalog_queries().items()}

    def bulk_insert(self, tables: dict[str, pa.Table]) -> None:
        """Add rows in the store's layout in one commit; sequence columns (step and audit order)
        are numbered afresh, in the order given."""

        def write(cur: duckdb.DuckDBPyConnection) -> None:
            registered = []
            try:
                for table in CATALOG_TABLES:  # whole, in the shared layout
                    rows = tables.get(table)
                    if rows is not None and rows.num_rows:
                        cur.register(f"bulk_{table}", rows)
                        registered.append(f"bulk_{table}")
                        names = ", ".join(rows.column_names)
                        cur.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM bulk_{table}")
                for table, _key in self._HISTORY:
                    rows = tables.get(table)
                    if rows is None:  # nothing of this table: an empty one of its layout
                        rows = cur.sql(f"SELECT * FROM {table} LIMIT 0").to_arrow_table()
                    cur.register(f"bulk_{table}", rows)
                    registered.append(f"bulk_{table}")
                    if rows.num_rows == 0:
                        continue
                    numbered = (("steps", "seq"), ("audit", "id"))  # given afresh by the sequences
                    cols = [c for c in rows.column_names if (table, c) not in numbered]
                    names = ", ".join(cols)
                    cur.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM bulk_{table}")
                if tables.get("runs") is not None and tables["runs"].num_rows:
                    stats = stats_query("bulk_runs", "bulk_checkpoints", "bulk_steps")
                    cur.execute(f"INSERT INTO stats_counters SELECT * FROM ({stats}) WHERE value <> 0")
            finally:
                for name in registered:
                    cur.unregister(name)

        self._submit(Job(work=write))

    # -- insight counters --------------------------------------------------------
    # -- archiving ----------------------------------------------------------------
    _ARCHIVED = tuple(t for t in _HISTORY if t[0] != "pending_checkpoints")
    """Finished runs have no open checkpoint."""

    def archive_runs(self, before: float, folder: str) -> dict[str, dict[str, int]]:
        """Move finished runs created before `before` to Parquet files, a folder per month (UTC)
        and a file per table, verified by reading the files back before anything is deleted."""
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        root = Path(folder).resolve()

        def work(cur: duckdb.DuckDBPyConnection) -> dict[str, dict[str, int]]:
            cur.execute(
                "CREATE OR REPLACE TEMP TABLE archiving AS SELECT id, strftime(make_timestamp("
                "CAST(created_at * 1000000 AS BIGINT)), '%Y-%m') AS month FROM runs "
                f"WHERE status IN ({_marks(len(FINISHED_STATUSES))}) AND created_at < ?",
                [*FINISHED_STATUSES, before],
            )
            months = cur.execute("SELECT DISTINCT month FROM archiving ORDER BY 1").fetchall()
            written: list[Path] = []
            try:
                moved = {
                    str(m): self._archive_month(cur, str(m), root / str(m), stamp, written) for (m,) in months
                }
                _move_counters(cur)
                for table, key in reversed(self._ARCHIVED):
                    cur.execute(f"DELETE FROM {table} WHERE {key} IN (SELECT id FROM archiving)")
            except BaseException:
                for path in written:  # the transaction rolls back: no file may claim those rows
                    path.unlink(missing_ok=True)
                raise
            finally:
                cur.execute("DROP TABLE IF EXISTS archiving")
            return moved

        result: dict[str, dict[str, int]] = self._submit(Job(work=work))
        return result  # the writer's cache holds live runs only, so none of these

    def _archive_month(
        self, cur: duckdb.DuckDBPyConnection, month: str, target: Path, stamp: str, written: list[Path]
    ) -> dict[str, int]:
        """Write one month's rows of every table to Parquet and check each file's row count."""
        try:
            target.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EngineError(f"cannot write the archive to {target}: {exc.strerror or exc}") from None
        moved = {}
        for table, key in self._ARCHIVED:
            rows = f"SELECT * FROM {table} WHERE {key} IN (SELECT id FROM archiving WHERE month = '{month}')"
            expected = int(cur.execute(f"SELECT count(*) FROM ({rows})").fetchall()[0][0])
            if not expected:
                continue
            path = target / f"{table}-{stamp}.parquet"
            written.append(path)
            file = sql_text(str(path))
            cur.execute(f"COPY ({rows}) TO '{file}' (FORMAT parquet)")
            found = int(cur.execute(f"SELECT count(*) FROM read_parquet('{file}')").fetchall()[0][0])
            if found != expected:
                raise EngineError(f"{path} holds {found} rows of {table}, not {expected}; nothing was moved")
            moved[table] = found
        return moved

    # -- notifications ----------------------------------------------------------
    def due_events(self, at: float, limit: int = 100, lease_seconds: float = 0.0) -> list[OutboxEvent]:
        """Undelivered events whose next attempt is due, oldest first; claimed for `lease_seconds`.

        Only this process can open the file, so the claims live in its memory (as run leases do): a
        process killed mid-delivery leaves no claim behind, and its successor delivers at once."""
        with self._event_claiming:  # forget, read and claim as one: two callers never get one event
            with self._lease_lock:
                held = [i for i, until in self._event_claims.items() if until > at]
                self._event_claims = {i: self._event_claims[i] for i in held}
            skip = f" AND id NOT IN ({_marks(len(held))})" if held else ""
            select = (
                f"SELECT {OUTBOX_COLS} FROM outbox WHERE status = 'pending' AND next_at <= ?{skip} "
                f"ORDER BY occurred_at, id LIMIT {int(limit)}"
            )
            events = [outbox_event(r) for r in self._rows(select, [at, *held])]
            if lease_seconds > 0:
                with self._lease_lock:
                    self._event_claims.update({e.id: self.clock.now() + lease_seconds for e in events})
        return events

    def update_events(self, events: list[OutboxEvent]) -> None:
        """Record delivery progress: status, attempts, next attempt, channels done, last error (their
        claims end with it)."""
        if not events:
            return

        def write(cur: duckdb.DuckDBPyConnection) -> None:
            marks = ",".join(["(?,?,?,?,?,?,?)"] * len(events))
            params = [
                v
                for e in events
                for v in (e.id, e.status, e.attempts, e.next_at, dumps(e.done), e.last_error, e.delivered_at)
            ]
            cur.execute(
                "UPDATE outbox SET status = v.status, attempts = v.attempts::INTEGER, "
                "next_at = v.next_at::DOUBLE, done = v.done, last_error = v.last_error::VARCHAR, "
                "delivered_at = v.delivered_at::DOUBLE "
                f"FROM (VALUES {marks}) AS v(id, status, attempts, next_at, done, last_error, delivered_at) "
                "WHERE outbox.id = v.id",
                params,
            )
            ids = [e.id for e in events if e.status != "pending"]
            if ids:  # done with: into the log, out of what the sender reads
                marks = _marks(len(ids))
                cur.execute(
                    f"INSERT INTO outbox_log SELECT {OUTBOX_COLS} FROM outbox WHERE id IN ({marks})", ids
                )
                cur.execute(f"DELETE FROM outbox WHERE id IN ({marks})", ids)

        self._submit(Job(work=write))
        with self._lease_lock:  # written: their claims end (a read now sees the new state)
            for e in events:
                self._event_claims.pop(e.id, None)

    # -- API tokens and settings ------------------------------------------------
    def setting(self, key: str, default: str) -> str:
        """The stored value of a setting, or `default`, stored first, when there is none yet."""
        rows = self._rows("SELECT value FROM store_meta WHERE key = ?", [f"setting:{key}"])
        if rows:
            return str(rows[0][0])

        def write(cur: duckdb.DuckDBPyConnection) -> str:
            cur.execute(
                "INSERT INTO store_meta VALUES (?, ?) ON CONFLICT DO NOTHING", [f"setting:{key}", default]
            )
            return str(
                cur.execute("SELECT value FROM store_meta WHERE key = ?", [f"setting:{key}"]).fetchall()[0][0]
            )

        result: str = self._submit(Job(work=write))
        return result
