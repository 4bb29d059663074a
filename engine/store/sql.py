"""What every SQL backend reads with the same statements. They are written with `?` placeholders;
a backend whose driver wants another style converts them in `_query`."""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from engine.errors import UnreadableRecordError
from engine.records import (
    PENDING,
    AiUsage,
    AuditEvent,
    CheckpointQuery,
    CheckpointRecord,
    ConnectionRecord,
    DesignDraft,
    LiveStep,
    OutboxEvent,
    RunFilter,
    RunKey,
    RunRecord,
    RunScope,
    StepRecord,
    TokenRecord,
    WorkflowVersion,
)
from engine.store.archive import archive_stats
from engine.store.base import Store
from engine.store.filters import checkpoint_query, marks, run_filter
from engine.store.rows import (
    AUDIT_COLS,
    CONNECTION_COLS,
    COUNTED_TABLES,
    CP_COLS,
    OUTBOX_COLS,
    RUN_COLS,
    STEP_COLS,
    TOKEN_COLS,
    WORKFLOW_COLS,
    checkpoint_record,
    connection_record,
    connection_values,
    loads,
    outbox_event,
    run_record,
    step_record,
    token_record,
    workflow_version,
)

log = logging.getLogger("loopdesk.store")

Rows = list[tuple[Any, ...]]
Fetch = Callable[[str, list[Any]], Rows]
"""Runs one statement written with `?` placeholders and returns its rows."""


def find_checkpoint(fetch: Fetch, checkpoint_id: str, lock: bool = False) -> CheckpointRecord | None:
    """A checkpoint wherever it is, the open ones first (they are looked up most); with `lock`, an
    open one is locked for the rest of the transaction (`SELECT … FOR UPDATE`)."""
    for table in ("pending_checkpoints", "checkpoints"):
        suffix = " FOR UPDATE" if lock and table == "pending_checkpoints" else ""
        rows = fetch(f"SELECT {CP_COLS} FROM {table} WHERE id = ?{suffix}", [checkpoint_id])
        if rows:
            return checkpoint_record(rows[0])
    return None


def summed(table: str) -> str:
    """A counter table's appended deltas added up per key (zero totals left out)."""
    return (
        f"SELECT workflow_id, node_id, day, metric, sum(value) AS value FROM {table} "
        "GROUP BY workflow_id, node_id, day, metric HAVING sum(value) <> 0"
    )


class SqlStore(Store):
    """The reads both SQL backends share; each backend adds its writes and its dialect's queries."""

    @abstractmethod
    def _query(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        """Run one read written with `?` placeholders; its rows."""

    @abstractmethod
    def _execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one write written with `?` placeholders, committed by itself (through the backend's
        write path)."""

    @abstractmethod
    def _execute_returning(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        """Run one write written with `?` placeholders, committed by itself like `_execute`; the
        rows of its `RETURNING` clause (what it wrote, read in the same statement)."""

    @abstractmethod
    def _stats_sql(self) -> str:
        """The insight counters computed from scratch, in this backend's dialect."""

    @abstractmethod
    def _json_number(self, column: str, key: str) -> str:
        """An expression reading `key` of the JSON text in `column` as a number (0 when absent)."""

    def run_versions(self, run_ids: list[str]) -> dict[str, int]:
        """The workflow version each of these runs ran (runs not stored are left out)."""
        out: dict[str, int] = {}
        for i in range(0, len(run_ids), 500):
            chunk = run_ids[i : i + 500]
            rows = self._query(f"SELECT id, version FROM runs WHERE id IN ({marks(len(chunk))})", chunk)
            out.update({str(r): int(v) for r, v in rows})
        return out

    def ai_usage(self, workflow_id: str, since: float | None = None) -> list[AiUsage]:
        """AI calls, tokens and cost per AI step and workflow version over a workflow's stored runs
        (of the calls finished at or after `since`)."""
        number = self._json_number
        recent, params = (
            ("", [workflow_id]) if since is None else (" AND s.finished_at >= ?", [workflow_id, since])
        )
        rows = self._query(
            f"SELECT s.node_id, r.version, count(*), sum({number('s.meta', 'prompt_tokens')}), "
            f"sum({number('s.meta', 'completion_tokens')}), sum({number('s.meta', 'cost_usd')}) "
            "FROM steps AS s JOIN runs AS r ON r.id = s.run_id "
            f"WHERE r.workflow_id = ? AND s.kind = 'ai_step'{recent} GROUP BY s.node_id, r.version "
            "ORDER BY s.node_id, r.version",
            params,
        )
        return [AiUsage(str(n), int(v), int(c), int(p), int(q), float(cost)) for n, v, c, p, q, cost in rows]

    # -- workflows ------------------------------------------------------------
    def get_workflow(self, workflow_id: str, version: int | None = None) -> WorkflowVersion | None:
        """The given version of a workflow, or its latest."""
        select = f"SELECT {WORKFLOW_COLS} FROM workflow_versions WHERE workflow_id = ?"
        if version is None:
            rows = self._query(f"{select} ORDER BY version DESC LIMIT 1", [workflow_id])
        else:
            rows = self._query(f"{select} AND version = ?", [workflow_id, version])
        return workflow_version(rows[0]) if rows else None

    def latest_version(self, workflow_id: str) -> int | None:
        """The newest version number of a workflow, or None."""
        rows = self._query("SELECT max(version) FROM workflow_versions WHERE workflow_id = ?", [workflow_id])
        return None if rows[0][0] is None else int(rows[0][0])

    def list_workflows(self) -> list[WorkflowVersion]:
        """Latest version of each workflow, ordered by name."""
        rows = self._query(
            f"SELECT {WORKFLOW_COLS} FROM workflow_versions w WHERE version = "
            "(SELECT max(version) FROM workflow_versions v WHERE v.workflow_id = w.workflow_id) "
            "ORDER BY lower(name), workflow_id"
        )
        out = []
        for r in rows:
            try:
                out.append(workflow_version(r))
            except UnreadableRecordError as exc:  # one damaged row must not hide every workflow
                log.error("%s", exc)
        return out

    def list_versions(self, workflow_id: str) -> list[WorkflowVersion]:
        """Every version of a workflow, newest first."""
        rows = self._query(
            f"SELECT {WORKFLOW_COLS} FROM workflow_versions WHERE workflow_id = ? ORDER BY version DESC",
            [workflow_id],
        )
        return [workflow_version(r) for r in rows]

    # -- runs -----------------------------------------------------------------
    def get_run(self, run_id: str) -> RunRecord | None:
        """One run by id."""
        rows = self._query(f"SELECT {RUN_COLS} FROM runs WHERE id = ?", [run_id])
        return run_record(rows[0]) if rows else None

    def count_runs(
        self,
        status: str | None = None,
        workflow_id: str | None = None,
        scope: RunScope | None = None,
        where: RunFilter | None = None,
    ) -> int:
        """How many runs `list_runs` would list with these filters (counted, not read)."""
        clause, params = run_filter(status, workflow_id, scope, wanted=where)
        return int(self._query(f"SELECT count(*) FROM runs {clause}", params)[0][0])

    def run_keys(self, after: RunKey | None = None, limit: int = 10_000) -> list[RunKey]:
        """(created_at, id) of the runs after `after`, oldest first (two columns read)."""
        where, params = "", []
        if after is not None:
            where, params = "WHERE created_at > ? OR (created_at = ? AND id > ?) ", [after[0], *after]
        sql = f"SELECT created_at, id FROM runs {where}ORDER BY created_at, id LIMIT {int(limit)}"
        return [(float(ts), str(rid)) for ts, rid in self._query(sql, params)]

    def list_steps(self, run_id: str) -> list[StepRecord]:
        """Steps of a run in the order they ran."""
        rows = self._query(f"SELECT {STEP_COLS} FROM steps WHERE run_id = ? ORDER BY seq", [run_id])
        return [step_record(r) for r in rows]

    def list_audit(self, run_id: str | None = None, limit: int = 1000) -> list[AuditEvent]:
        """Audit events oldest first (a run's), or the newest `limit` overall."""
        if run_id is not None:
            rows = self._query(f"SELECT {AUDIT_COLS} FROM audit WHERE run_id = ? ORDER BY id", [run_id])
        else:
            rows = self._query(f"SELECT {AUDIT_COLS} FROM audit ORDER BY id DESC LIMIT {int(limit)}")
        return [
            AuditEvent(run_id=r[1], actor=r[3], event=r[4], detail=loads(r[5]), ts=float(r[2]), id=int(r[0]))
            for r in rows
        ]

    def table_counts(self) -> dict[str, int]:
        """How many rows each table holds."""
        return {t: int(self._query(f"SELECT count(*) FROM {t}")[0][0]) for t in COUNTED_TABLES}

    # -- checkpoints ----------------------------------------------------------
    def get_checkpoint(self, checkpoint_id: str) -> CheckpointRecord | None:
        """One checkpoint by id."""
        return find_checkpoint(self._query, checkpoint_id)

    def count_checkpoints(self, query: CheckpointQuery = PENDING) -> int:
        """How many checkpoints `list_checkpoints` would list for `query`."""
        found = checkpoint_query(replace(query, run_id=None))
        if found is None:
            return 0
        tables, clause, params = found
        return sum(int(self._query(f"SELECT count(*) FROM {t}{clause}", params)[0][0]) for t in tables)

    def open_checkpoints(self, run_ids: list[str]) -> dict[str, CheckpointRecord]:
        """Run id → its open checkpoint, for those of these runs that wait for one (one read)."""
        if not run_ids:
            return {}
        sql = f"SELECT {CP_COLS} FROM pending_checkpoints WHERE run_id IN ({marks(len(run_ids))})"
        return {cp.run_id: cp for cp in map(checkpoint_record, self._query(sql, run_ids))}

    def pending_counts(self) -> dict[tuple[str, str], int]:
        """(workflow, approval step) → how many checkpoints wait there now."""
        rows = self._query(
            "SELECT workflow_id, node_id, count(*) FROM pending_checkpoints GROUP BY workflow_id, node_id"
        )
        return {(w, n): int(c) for w, n, c in rows}

    # -- insight counters --------------------------------------------------------
    def stat_totals(self, include_archived: bool = False) -> dict[tuple[str, str, str], float]:
        """(workflow, node, metric) → its counter summed over every day (and the archive's)."""
        source = "stats_counters"
        if include_archived:
            source = "(SELECT * FROM stats_counters UNION ALL SELECT * FROM archived_counters) AS c"
        rows = self._query(
            f"SELECT workflow_id, node_id, metric, sum(value) FROM {source} "
            "GROUP BY workflow_id, node_id, metric HAVING sum(value) <> 0"
        )
        return {(w, n, m): float(v) for w, n, m, v in rows}

    def recomputed_stats(self) -> dict[tuple[str, str, int, str], float]:
        """The counters computed from scratch over every stored run (for checking; reads everything)."""
        return self._counter_dict(f"SELECT * FROM ({self._stats_sql()}) AS s WHERE value <> 0")

    def counters(self) -> dict[tuple[str, str, int, str], float]:
        """The counters as kept (zero ones left out)."""
        return self._counter_dict(summed("stats_counters"))

    def archived_counters(self) -> dict[tuple[str, str, int, str], float]:
        """The insight counters of archived runs (zero ones left out)."""
        return self._counter_dict(summed("archived_counters"))

    def _counter_dict(self, sql: str) -> dict[tuple[str, str, int, str], float]:
        """Counter rows (workflow, node, day, metric, value) as a dict by key."""
        return {(w, n, int(d), m): float(v) for w, n, d, m, v in self._query(sql)}

    # -- notifications and tokens ------------------------------------------------
    def list_events(self, run_id: str) -> list[OutboxEvent]:
        """Every announcement of one run, oldest first, with its delivery state."""
        rows = self._query(
            f"SELECT {OUTBOX_COLS} FROM outbox_log WHERE run_id = ? UNION ALL "
            f"SELECT {OUTBOX_COLS} FROM outbox WHERE run_id = ? ORDER BY occurred_at, id",
            [run_id, run_id],
        )
        return [outbox_event(r) for r in rows]

    def token_by_hash(self, token_hash: str) -> TokenRecord | None:
        """The token with this hash (revoked ones included), or None."""
        rows = self._query(f"SELECT {TOKEN_COLS} FROM api_tokens WHERE hash = ?", [token_hash])
        return token_record(rows[0]) if rows else None

    def list_tokens(self, user: str | None = None) -> list[TokenRecord]:
        """Tokens of one user (or everyone's), newest first."""
        if user is None:
            rows = self._query(f"SELECT {TOKEN_COLS} FROM api_tokens ORDER BY created_at DESC")
        else:
            rows = self._query(
                f"SELECT {TOKEN_COLS} FROM api_tokens WHERE user_name = ? ORDER BY created_at DESC", [user]
            )
        return [token_record(r) for r in rows]

    # -- what both backends write with one statement ---------------------------------
    def __enter__(self) -> SqlStore:
        """Use as a context manager: the store closes on exit."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the store."""
        self.close()

    def clear_actions(self, checkpoint_ids: list[str]) -> None:
        """Forget the due actions of these checkpoints (they turned out to have nothing to do)."""
        if checkpoint_ids:
            sql = (
                f"UPDATE pending_checkpoints SET action_at = NULL WHERE id IN ({marks(len(checkpoint_ids))})"
            )
            self._execute(sql, checkpoint_ids)

    def recomputed_archive_stats(self, folder: str) -> dict[tuple[str, str, int, str], float]:
        """The archive's counters computed from scratch from its Parquet files."""
        return archive_stats(folder)

    def save_token(self, token: TokenRecord) -> None:
        """Store a new token record."""
        row = [token.id, token.user, token.hash, token.label, token.created_at, token.created_by, None]
        self._execute(f"INSERT INTO api_tokens ({TOKEN_COLS}) VALUES ({marks(7)})", row)

    def revoke_token(self, token_id: str, at: float) -> TokenRecord | None:
        """Mark a token revoked (idempotent: the first time stays); the record, or None when there is
        no such token."""
        self._execute(
            "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?", [at, token_id]
        )
        rows = self._query(f"SELECT {TOKEN_COLS} FROM api_tokens WHERE id = ?", [token_id])
        return token_record(rows[0]) if rows else None

    def put_setting(self, key: str, value: str) -> None:
        """Store a setting's value, replacing what was stored."""
        self._execute(
            "INSERT INTO store_meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            [f"setting:{key}", value],
        )

    def put_connection(self, connection: ConnectionRecord) -> None:
        """Store a connection, replacing the one of that name (its type, settings and secrets)."""
        self._execute(
            f"INSERT INTO connections ({CONNECTION_COLS}) VALUES ({marks(6)}) ON CONFLICT (name) "
            "DO UPDATE SET type = excluded.type, settings = excluded.settings, "
            "secrets = excluded.secrets, updated_at = excluded.updated_at, updated_by = excluded.updated_by",
            connection_values(connection),
        )

    def get_connection(self, name: str) -> ConnectionRecord | None:
        """The connection of this name, or None."""
        rows = self._query(f"SELECT {CONNECTION_COLS} FROM connections WHERE name = ?", [name])
        return connection_record(rows[0]) if rows else None

    def list_connections(self) -> list[ConnectionRecord]:
        """Every connection, by name."""
        rows = self._query(f"SELECT {CONNECTION_COLS} FROM connections ORDER BY name")
        return [connection_record(r) for r in rows]

    def delete_connection(self, name: str) -> bool:
        """Forget a connection; whether there was one of that name (told by the delete itself, so
        of two callers deleting it at once only one hears True)."""
        return bool(self._execute_returning("DELETE FROM connections WHERE name = ? RETURNING name", [name]))

    def put_draft(self, draft: DesignDraft) -> None:
        """Keep a designer's unsaved working copy."""
        self._execute(
            "INSERT INTO design_drafts VALUES (?, ?, ?, ?) ON CONFLICT (user_name, workflow_id) "
            "DO UPDATE SET definition = excluded.definition, saved_at = excluded.saved_at",
            [draft.user, draft.workflow_id, draft.definition, draft.saved_at],
        )

    def get_draft(self, user: str, workflow_id: str) -> DesignDraft | None:
        """The designer's unsaved working copy of the workflow."""
        sql = "SELECT * FROM design_drafts WHERE user_name = ? AND workflow_id = ?"
        rows = self._query(sql, [user, workflow_id])
        return DesignDraft(*rows[0]) if rows else None

    def drop_draft(self, user: str, workflow_id: str) -> None:
        """Forget the designer's unsaved working copy."""
        self._execute(
            "DELETE FROM design_drafts WHERE user_name = ? AND workflow_id = ?", [user, workflow_id]
        )

    def list_drafts(self, user: str) -> list[DesignDraft]:
        """Every unsaved working copy the designer has kept, newest first."""
        sql = "SELECT * FROM design_drafts WHERE user_name = ? ORDER BY saved_at DESC, workflow_id"
        return [DesignDraft(*r) for r in self._query(sql, [user])]

    def put_live(self, live: LiveStep) -> None:
        """Record how far a running AI step is."""
        self._execute(
            "INSERT INTO live_steps VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (run_id) DO UPDATE SET "
            "node_id = excluded.node_id, attempt = excluded.attempt, text = excluded.text, "
            "started_at = excluded.started_at, updated_at = excluded.updated_at",
            [live.run_id, live.node_id, live.attempt, live.text, live.started_at, live.updated_at],
        )

    def get_live(self, run_id: str) -> LiveStep | None:
        """How far the run's AI step in flight is."""
        rows = self._query("SELECT * FROM live_steps WHERE run_id = ?", [run_id])
        return LiveStep(*rows[0]) if rows else None

    def clear_live(self, run_id: str) -> None:
        """Forget the run's step in flight."""
        self._execute("DELETE FROM live_steps WHERE run_id = ?", [run_id])
