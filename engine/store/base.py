"""The store interface: every backend implements `Store` and passes the same contract tests."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import TYPE_CHECKING

from engine.clock import SYSTEM_CLOCK, Clock
from engine.model import Workflow
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
    RunRecord,
    RunScope,
    StepRecord,
    TokenRecord,
    Transition,
    WorkflowVersion,
)

if TYPE_CHECKING:
    import pyarrow as pa


class Store(ABC):
    """Durable state of workflows, runs, steps, checkpoints and the audit log."""

    path: str
    """Where the data lives (a file path or a database URL), as messages name it (no password)."""
    source: str
    """Where the data lives, exactly as the store was opened with it."""
    clock: Clock = SYSTEM_CLOCK
    """Where leases, claims and health checks read the time (tests move a clock of their own on)."""
    events_listener: Callable[[], None] | None = None
    """Called after a commit that wrote notification events (wakes the sender)."""

    @abstractmethod
    def initialize(self) -> None:
        """Create the schema if it is missing (idempotent)."""

    @abstractmethod
    def close(self) -> None:
        """Flush and release the backend."""

    @abstractmethod
    def health(self) -> str | None:
        """Why the database cannot be used right now (None when it can); recovers by itself."""

    @abstractmethod
    def save_workflow(self, wf: Workflow, created_by: str, note: str = "") -> WorkflowVersion:
        """Store a new version of the workflow and return it."""

    @abstractmethod
    def get_workflow(self, workflow_id: str, version: int | None = None) -> WorkflowVersion | None:
        """The given version (default: latest) or None."""

    @abstractmethod
    def latest_version(self, workflow_id: str) -> int | None:
        """The newest version number of a workflow, or None (cheap: no definition parsed)."""

    @abstractmethod
    def list_workflows(self) -> list[WorkflowVersion]:
        """The latest version of every workflow, by name."""

    @abstractmethod
    def list_versions(self, workflow_id: str) -> list[WorkflowVersion]:
        """All versions of one workflow, newest first."""

    @abstractmethod
    def apply(self, transition: Transition) -> None:
        """Write a transition atomically; raise ConflictError if a precondition failed."""

    @abstractmethod
    def get_run(self, run_id: str) -> RunRecord | None:
        """One run or None."""

    @abstractmethod
    def list_runs(
        self,
        status: str | None = None,
        workflow_id: str | None = None,
        limit: int = 500,
        scope: RunScope | None = None,
        offset: int = 0,
        where: RunFilter | None = None,
    ) -> list[RunRecord]:
        """Runs, newest first, optionally filtered (and limited to what `scope` lets someone see);
        one page with `limit`/`offset`."""

    @abstractmethod
    def count_runs(
        self,
        status: str | None = None,
        workflow_id: str | None = None,
        scope: RunScope | None = None,
        where: RunFilter | None = None,
    ) -> int:
        """How many runs `list_runs` would list with these filters (counted, not read)."""

    @abstractmethod
    def runs_by_section(
        self, workflow_id: str, per_section: int, scope: RunScope | None = None
    ) -> tuple[dict[str | None, int], list[RunRecord]]:
        """For a board: how many runs are in each section, and the newest `per_section` of each."""

    @abstractmethod
    def list_steps(self, run_id: str) -> list[StepRecord]:
        """A run's steps in execution order."""

    @abstractmethod
    def list_audit(self, run_id: str | None = None, limit: int = 1000) -> list[AuditEvent]:
        """Audit events in order (one run's, or the latest overall)."""

    @abstractmethod
    def get_checkpoint(self, checkpoint_id: str) -> CheckpointRecord | None:
        """One checkpoint or None."""

    @abstractmethod
    def list_checkpoints(
        self, query: CheckpointQuery = PENDING, limit: int | None = None, offset: int = 0
    ) -> list[CheckpointRecord]:
        """The checkpoints `query` asks for, in its order (oldest first unless it asks for newest, soonest
        due or someone's latest decisions first); one page with `limit`/`offset`."""

    @abstractmethod
    def count_checkpoints(self, query: CheckpointQuery = PENDING) -> int:
        """How many checkpoints `list_checkpoints` would list for `query` (not read)."""

    @abstractmethod
    def run_versions(self, run_ids: list[str]) -> dict[str, int]:
        """The workflow version each of these runs ran (runs not stored are left out)."""

    @abstractmethod
    def ai_usage(self, workflow_id: str, since: float | None = None) -> list[AiUsage]:
        """AI calls, tokens and cost per AI step and workflow version over a workflow's stored runs
        (of the calls finished at or after `since`; archived runs are not counted); one query."""

    @abstractmethod
    def open_checkpoints(self, run_ids: list[str]) -> dict[str, CheckpointRecord]:
        """Run id → its open checkpoint, for those of these runs that wait for one (one read)."""

    @abstractmethod
    def due_checkpoints(self, at: float, lease_seconds: float = 0.0) -> list[CheckpointRecord]:
        """Pending checkpoints whose timeout action is due by `at` (nothing else is read). With
        `lease_seconds`, they are claimed: nobody else gets them until that many seconds from now
        (by then the action was applied, or it is due again for anyone to take)."""

    @abstractmethod
    def clear_actions(self, checkpoint_ids: list[str]) -> None:
        """Forget the due actions of these checkpoints (they turned out to have nothing to do)."""

    @abstractmethod
    def stat_totals(self, include_archived: bool = False) -> dict[tuple[str, str, str], float]:
        """Insight counters (engine/store/counters.py): (workflow, node, metric) → the total over
        every day (with `include_archived`, archived runs' too); zero totals are left out."""

    @abstractmethod
    def archive_runs(self, before: float, folder: str) -> dict[str, dict[str, int]]:
        """Move finished runs created before `before`, with their steps, checkpoints, audit and
        notifications, to Parquet files under `folder` (a folder per month, a file per table),
        verifying the files' row counts before deleting; month → table → rows moved. What they
        counted moves to the archive's counters. Nothing changes when any part fails."""

    @abstractmethod
    def archived_counters(self) -> dict[tuple[str, str, int, str], float]:
        """The insight counters of archived runs, per day (zero ones left out)."""

    @abstractmethod
    def recomputed_archive_stats(self, folder: str) -> dict[tuple[str, str, int, str], float]:
        """The archive's counters computed from scratch from the Parquet files under `folder`."""

    @abstractmethod
    def counters(self) -> dict[tuple[str, str, int, str], float]:
        """The insight counters as kept, per day (zero ones left out)."""

    @abstractmethod
    def recomputed_stats(self) -> dict[tuple[str, str, int, str], float]:
        """The same counters computed from scratch over every stored run (reads everything; for
        checking that the counters kept equal a full recomputation)."""

    @abstractmethod
    def pending_counts(self) -> dict[tuple[str, str], int]:
        """(workflow, approval step) → how many checkpoints wait there now."""

    # -- driving runs across processes --------------------------------------------
    @abstractmethod
    def claim_runs(
        self, owner: str, lease_seconds: float, run_ids: list[str] | None = None, limit: int = 100
    ) -> dict[str, str | None]:
        """Lease `running` runs to `owner` whose lease is free or has run out: these (also when
        `owner` holds them already), or any (least recently changed first; not `owner`'s own);
        return each run now leased with who held it before (None: nobody; another owner: their
        lease ran out). Two drivers never hold one run at once."""

    @abstractmethod
    def renew_leases(self, owner: str, run_ids: list[str], lease_seconds: float) -> list[str]:
        """Extend `owner`'s leases on these runs; return those it still holds (a lease that ran out
        may have been taken over)."""

    @abstractmethod
    def release_runs(self, owner: str, run_ids: list[str]) -> None:
        """Give up `owner`'s leases on these runs (anyone may drive them at once)."""

    @abstractmethod
    def wait_for_work(self, timeout: float) -> bool:
        """Wait until a commit (of any process) made a run runnable with no driver, or `timeout`
        seconds passed; whether something was announced."""

    # -- bulk history -----------------------------------------------------------
    @abstractmethod
    def export_rows(self, run_ids: list[str]) -> dict[str, pa.Table]:
        """The stored rows of these runs, table by table (runs, steps, checkpoints, audit, outbox),
        in the store's own layout: what `bulk_insert` takes back."""

    @abstractmethod
    def run_keys(
        self, after: tuple[float, str] | None = None, limit: int = 10_000
    ) -> list[tuple[float, str]]:
        """(created_at, id) of the runs after `after`, oldest first: keyset pages over all of
        history that read two columns only (moving a database)."""

    @abstractmethod
    def table_counts(self) -> dict[str, int]:
        """How many rows each table holds (what a copy of the database is checked against)."""

    @abstractmethod
    def export_catalog(self) -> dict[str, pa.Table]:
        """Everything that belongs to no single run, table by table (workflow versions, API
        tokens, connections, settings, archived runs' counters), in the layout `bulk_insert` takes
        back."""

    @abstractmethod
    def bulk_insert(self, tables: dict[str, pa.Table]) -> None:
        """Add rows in the store's layout in one commit (history imports and benchmarks; the
        rows are trusted, so nothing is checked against the live state)."""

    # -- notifications ----------------------------------------------------------
    @abstractmethod
    def due_events(self, at: float, limit: int = 100, lease_seconds: float = 0.0) -> list[OutboxEvent]:
        """Undelivered events whose next attempt is due, oldest first; with `lease_seconds`, claimed
        as `due_checkpoints` claims (so one process sends each)."""

    @abstractmethod
    def update_events(self, events: list[OutboxEvent]) -> None:
        """Record delivery progress: status, attempts, next attempt, channels done, last error."""

    @abstractmethod
    def list_events(self, run_id: str) -> list[OutboxEvent]:
        """Every announcement of one run, oldest first, with its delivery state."""

    # -- API tokens and settings ------------------------------------------------
    @abstractmethod
    def save_token(self, token: TokenRecord) -> None:
        """Store a new token record."""

    @abstractmethod
    def token_by_hash(self, token_hash: str) -> TokenRecord | None:
        """The token with this hash (revoked ones included), or None."""

    @abstractmethod
    def list_tokens(self, user: str | None = None) -> list[TokenRecord]:
        """Tokens of one user (or everyone's), newest first."""

    @abstractmethod
    def revoke_token(self, token_id: str, at: float) -> TokenRecord | None:
        """Mark a token revoked (idempotent); the record, or None when there is no such token."""

    @abstractmethod
    def setting(self, key: str, default: str) -> str:
        """A value kept with the data (e.g. the key that signs links): the stored one, or
        `default`, stored first, when there is none yet."""

    @abstractmethod
    def put_setting(self, key: str, value: str) -> None:
        """Store a setting's value, replacing what was stored (every process then reads it)."""

    # -- connections to services outside ------------------------------------------
    @abstractmethod
    def put_connection(self, connection: ConnectionRecord) -> None:
        """Store a connection, replacing the one of that name (its type, settings and secrets)."""

    @abstractmethod
    def get_connection(self, name: str) -> ConnectionRecord | None:
        """The connection of this name, or None."""

    @abstractmethod
    def list_connections(self) -> list[ConnectionRecord]:
        """Every connection, by name."""

    @abstractmethod
    def delete_connection(self, name: str) -> bool:
        """Forget a connection; whether there was one of that name."""

    # -- Designer drafts ---------------------------------------------------------
    @abstractmethod
    def put_draft(self, draft: DesignDraft) -> None:
        """Keep a designer's unsaved working copy (replacing their earlier one of that workflow)."""

    @abstractmethod
    def get_draft(self, user: str, workflow_id: str) -> DesignDraft | None:
        """The designer's unsaved working copy of the workflow, or None."""

    @abstractmethod
    def drop_draft(self, user: str, workflow_id: str) -> None:
        """Forget the designer's unsaved working copy (saved or discarded)."""

    @abstractmethod
    def list_drafts(self, user: str) -> list[DesignDraft]:
        """Every unsaved working copy the designer has kept, newest first."""

    # -- AI steps in flight ---------------------------------------------------------
    @abstractmethod
    def put_live(self, live: LiveStep) -> None:
        """Record how far a running AI step is (replacing what was recorded for its run)."""

    @abstractmethod
    def get_live(self, run_id: str) -> LiveStep | None:
        """How far the run's AI step in flight is, or None when none is."""

    @abstractmethod
    def clear_live(self, run_id: str) -> None:
        """Forget the run's step in flight (it finished, failed or was cut short)."""
