"""What every SQL backend shares: the column layout of records, how records become rows and back,
and the one rule for whether a transition may apply to the state it finds."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, NamedTuple

from pydantic import ValidationError

from engine.errors import UnreadableRecordError
from engine.model import Workflow
from engine.records import (
    CheckpointClose,
    CheckpointRecord,
    ConflictError,
    ConnectionRecord,
    OutboxEvent,
    PolicyState,
    RunRecord,
    StepRecord,
    TokenRecord,
    Transition,
    WorkflowVersion,
    now,
)

RUN_COLS = (
    "id, workflow_id, version, status, current_node, section, title, vals, started_by, "
    "created_at, updated_at, revisions, outcome, error, failed_node"
)
CP_COLS = (
    "id, run_id, workflow_id, node_id, status, assignee, created_at, due_at, shown, editable, "
    "instructions, title, decision, decided_by, decided_at, requester, action_at, policy"
)
OUTBOX_COLS = (
    "id, event, run_id, checkpoint_id, assignee, actor, action, occurred_at, status, attempts, "
    "next_at, done, last_error, delivered_at"
)
STEP_INSERT_COLS = "run_id, node_id, kind, status, input, output, error, started_at, finished_at, meta"
STEP_COLS = f"seq, {STEP_INSERT_COLS}"
AUDIT_COLS = "id, run_id, ts, actor, event, detail"
TOKEN_COLS = "id, user_name, hash, label, created_at, created_by, revoked_at"
WORKFLOW_COLS = "workflow_id, version, name, definition, created_at, created_by, note"
CONNECTION_COLS = "name, type, settings, secrets, updated_at, updated_by"


def dumps(value: Any) -> str:
    """A value as stored JSON text; ASCII escapes keep any text storable, even half of an emoji
    cut off by a token limit."""
    return json.dumps(value, default=str, ensure_ascii=True)


def loads(text: str | None) -> Any:
    """Stored JSON text as a value (None stays None)."""
    return None if text is None else json.loads(text)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def run_values(r: RunRecord) -> list[Any]:
    """A run as a row in `RUN_COLS` order."""
    return [
        r.id, r.workflow_id, r.version, r.status, r.current_node, r.section, r.title, dumps(r.values),
        r.started_by, r.created_at, r.updated_at, r.revisions, r.outcome, r.error, r.failed_node,
    ]  # fmt: skip


def run_record(row: tuple[Any, ...]) -> RunRecord:
    """A row in `RUN_COLS` order as a run."""
    (rid, wid, version, status, node, section, title, vals, started_by, created_at,
     updated_at, revisions, outcome, error, failed_node) = row  # fmt: skip
    return RunRecord(
        id=rid, workflow_id=wid, version=int(version), status=status, current_node=node,
        section=section, title=title, values=loads(vals), started_by=started_by,
        created_at=float(created_at), updated_at=float(updated_at),
        revisions=int(revisions), outcome=outcome, error=error, failed_node=failed_node,
    )  # fmt: skip


def checkpoint_values(c: CheckpointRecord) -> list[Any]:
    """A checkpoint as a row in `CP_COLS` order."""
    return [
        c.id, c.run_id, c.workflow_id, c.node_id, c.status, c.assignee, c.created_at, c.due_at,
        dumps(c.shown), dumps(c.editable), c.instructions, c.title, dumps(c.decision), c.decided_by,
        c.decided_at, c.requester, c.action_at, dumps(c.policy.to_dict()),
    ]  # fmt: skip


def checkpoint_record(row: tuple[Any, ...]) -> CheckpointRecord:
    """A row in `CP_COLS` order as a checkpoint."""
    (cid, rid, wid, node, status, assignee, created_at, due_at, shown, editable,
     instructions, title, decision, decided_by, decided_at, requester, action_at, policy) = row  # fmt: skip
    return CheckpointRecord(
        id=cid, run_id=rid, workflow_id=wid, node_id=node, status=status, assignee=assignee,
        created_at=float(created_at), due_at=_float(due_at), shown=loads(shown),
        editable=loads(editable), instructions=instructions, title=title, decision=loads(decision),
        decided_by=decided_by, decided_at=_float(decided_at), requester=requester,
        action_at=_float(action_at), policy=PolicyState.from_dict(loads(policy)),
    )  # fmt: skip


def step_values(s: StepRecord) -> list[Any]:
    """A step as a row in `STEP_INSERT_COLS` order (its `seq` is given by the database)."""
    return [
        s.run_id, s.node_id, s.kind, s.status, dumps(s.input), dumps(s.output), s.error,
        s.started_at, s.finished_at, dumps(s.meta),
    ]  # fmt: skip


def step_record(row: tuple[Any, ...]) -> StepRecord:
    """A row in `STEP_COLS` order as a step."""
    seq, rid, node, kind, status, inp, out, err, started, finished, meta = row
    return StepRecord(
        run_id=rid, node_id=node, kind=kind, status=status, input=loads(inp), output=loads(out),
        started_at=float(started), finished_at=float(finished), error=err, meta=loads(meta),
        seq=int(seq),
    )  # fmt: skip


def outbox_values(e: OutboxEvent) -> list[Any]:
    """An announcement as a row in `OUTBOX_COLS` order."""
    return [
        e.id, e.event, e.run_id, e.checkpoint_id, e.assignee, e.actor, e.action, e.at, e.status,
        e.attempts, e.next_at, dumps(e.done), e.last_error, e.delivered_at,
    ]  # fmt: skip


def outbox_event(row: tuple[Any, ...]) -> OutboxEvent:
    """A row in `OUTBOX_COLS` order as an announcement."""
    (eid, event, run_id, checkpoint_id, assignee, actor, action, at, status, attempts, next_at, done,
     last_error, delivered_at) = row  # fmt: skip
    return OutboxEvent(
        id=eid, event=event, run_id=run_id, at=float(at), checkpoint_id=checkpoint_id,
        assignee=assignee, actor=actor, action=action, status=status, attempts=int(attempts),
        next_at=float(next_at), done=list(loads(done) or []), last_error=last_error,
        delivered_at=_float(delivered_at),
    )  # fmt: skip


def workflow_version(row: tuple[Any, ...]) -> WorkflowVersion:
    """A row in `WORKFLOW_COLS` order as a workflow version (a damaged definition says which)."""
    wid, version, name, definition, created_at, created_by, note = row
    try:
        wf = Workflow.model_validate_json(definition)
    except ValidationError as exc:
        raise UnreadableRecordError(f"workflow `{wid}` version {version}", exc) from None
    return WorkflowVersion(wid, int(version), name, wf, float(created_at), created_by, note)


def token_record(row: tuple[Any, ...]) -> TokenRecord:
    """A row in `TOKEN_COLS` order as an API token."""
    tid, user, token_hash, label, created_at, created_by, revoked_at = row
    return TokenRecord(tid, user, token_hash, label, float(created_at), created_by, _float(revoked_at))


def connection_values(c: ConnectionRecord) -> list[Any]:
    """A connection as a row in `CONNECTION_COLS` order (its secrets stay the ciphertext they are)."""
    return [c.name, c.type, c.settings, c.secrets, c.updated_at, c.updated_by]


def connection_record(row: tuple[Any, ...]) -> ConnectionRecord:
    """A row in `CONNECTION_COLS` order as a connection."""
    name, kind, settings, secrets, updated_at, updated_by = row
    return ConnectionRecord(name, kind, settings, secrets, float(updated_at), updated_by)


class RunState(NamedTuple):
    """What a writer checks and counts of a run: its status, position and workflow."""

    status: str
    node: str | None
    workflow_id: str


def precondition(
    t: Transition, runs: dict[str, RunState], cps: dict[str, CheckpointRecord]
) -> ConflictError | None:
    """Why a transition cannot apply to the current state, or None when it can."""
    if t.close_checkpoint is not None:
        c = t.close_checkpoint
        cp = cps.get(c.checkpoint_id)
        if cp is None:
            return ConflictError(f"no checkpoint `{c.checkpoint_id}`")
        if cp.status != "pending":
            return ConflictError("checkpoint is not pending", cp)
        if c.expect_assignee is not None and cp.assignee != c.expect_assignee:
            return ConflictError("checkpoint was reassigned", cp)
        if c.expect_policy is not None and cp.policy != c.expect_policy:
            return ConflictError("checkpoint's policy moved on (another vote or escalation step)", cp)
    if t.run_update is not None:
        u = t.run_update
        if u.run_id not in runs:
            return ConflictError(f"no run `{u.run_id}`")
        status, node, _ = runs[u.run_id]
        if status not in u.expect_status or (u.expect_node is not None and node != u.expect_node):
            return ConflictError(f"run is {status} at `{node}`")
    return None


def open_update(c: CheckpointClose) -> tuple[str, list[Any]]:
    """The statement (`?` placeholders) that changes a checkpoint kept open: reassigned, a vote or
    an escalation step recorded."""
    sets: list[str] = []
    params: list[Any] = []
    if c.new_assignee is not None:
        sets.append("assignee = ?")
        params.append(c.new_assignee)
    if c.clear_due:
        sets.append("due_at = NULL")
    if c.policy is not None:
        sets += ["policy = ?", "action_at = ?"]
        params += [dumps(c.policy.to_dict()), c.action_at]
    elif c.clear_due:
        sets.append("action_at = NULL")
    assert sets, "a checkpoint kept open must change something"
    return f"UPDATE pending_checkpoints SET {', '.join(sets)} WHERE id = ?", [*params, c.checkpoint_id]


def kept_open(cp: CheckpointRecord, c: CheckpointClose) -> CheckpointRecord:
    """The checkpoint as `open_update` leaves it."""
    action_at = c.action_at if c.policy is not None else None if c.clear_due else cp.action_at
    return replace(
        cp,
        assignee=c.new_assignee or cp.assignee,
        due_at=None if c.clear_due else cp.due_at,
        action_at=action_at,
        policy=c.policy or cp.policy,
    )


def closed(cp: CheckpointRecord, c: CheckpointClose) -> CheckpointRecord:
    """The checkpoint as closing it (decided or cancelled) leaves it."""
    return replace(
        cp, status=c.status, decided_by=c.actor, decision=c.decision, decided_at=now(), action_at=None,
        policy=c.policy or cp.policy,
    )  # fmt: skip


def made_runnable(t: Transition) -> str | None:
    """The run this transition makes runnable (new and running, or back to running from waiting,
    failed…), which some driver must now take up; None when it makes none."""
    if t.new_run is not None and t.new_run.status == "running":
        return t.new_run.id
    u = t.run_update
    if u is not None and u.status == "running" and "running" not in u.expect_status:
        return u.run_id
    return None


def run_of(t: Transition) -> str | None:
    """The run a transition creates or moves (None when it only closes a checkpoint or logs)."""
    if t.new_run is not None:
        return t.new_run.id
    return None if t.run_update is None else t.run_update.run_id


CATALOG_TABLES = ("workflow_versions", "api_tokens", "connections", "store_meta", "archived_counters")
"""Tables that belong to no single run (copied whole when a database moves to another backend)."""


def catalog_queries() -> dict[str, str]:
    """How every backend reads its catalog tables in the shared layout (of store_meta: settings)."""
    return {
        "workflow_versions": f"SELECT {WORKFLOW_COLS} FROM workflow_versions ORDER BY workflow_id, version",
        "api_tokens": f"SELECT {TOKEN_COLS} FROM api_tokens ORDER BY created_at",
        "connections": f"SELECT {CONNECTION_COLS} FROM connections ORDER BY name",
        "store_meta": "SELECT key, value FROM store_meta WHERE key LIKE 'setting:%' ORDER BY key",
        "archived_counters": "SELECT workflow_id, node_id, day, metric, value FROM archived_counters",
    }


COUNTED_TABLES = (
    "workflow_versions", "runs", "steps", "checkpoints", "pending_checkpoints", "audit", "outbox",
    "outbox_log", "api_tokens", "connections",
)  # fmt: skip
"""The tables a copy of a database must hold exactly as many rows of (counters are compared by value)."""
