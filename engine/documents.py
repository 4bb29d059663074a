"""Runs and checkpoints as JSON documents: what the CLI prints and the HTTP API returns."""

from __future__ import annotations

from typing import Any

from engine.decisions import is_auto
from engine.records import AuditEvent, CheckpointRecord, RunRecord, StepRecord
from engine.store.base import Store


def run_document(store: Store, run: RunRecord) -> dict[str, Any]:
    """The run, with the checkpoint it waits at (`checkpoint_id`, `assignee`) while waiting."""
    return run_documents(store, [run])[0]


def run_documents(store: Store, runs: list[RunRecord]) -> list[dict[str, Any]]:
    """Runs as documents, their open checkpoints read in one query."""
    waiting = [r.id for r in runs if r.status == "waiting"]
    open_at = store.open_checkpoints(waiting) if waiting else {}
    return [_run_document(run, open_at.get(run.id)) for run in runs]


def _run_document(run: RunRecord, pending: CheckpointRecord | None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "run_id": run.id,
        "workflow_id": run.workflow_id,
        "version": run.version,
        "status": run.status,
        "section": run.section,
        "title": run.title,
        "current_node": run.current_node,
        "outcome": run.outcome,
        "error": run.error,
        "values": run.values,
        "started_by": run.started_by,
        "created_at": run.created_at,
        "updated_at": run.updated_at,
    }
    if pending is not None:
        doc["checkpoint_id"] = pending.id
        doc["assignee"] = pending.assignee
    return doc


def checkpoint_document(cp: CheckpointRecord) -> dict[str, Any]:
    """A checkpoint as a reviewer's tools see it."""
    return {
        "checkpoint_id": cp.id,
        "run_id": cp.run_id,
        "workflow_id": cp.workflow_id,
        "node_id": cp.node_id,
        "assignee": cp.assignee,
        "title": cp.title,
        "status": cp.status,
        "created_at": cp.created_at,
        "due_at": cp.due_at,
        "instructions": cp.instructions,
        "values": cp.shown,
        "editable": cp.editable,
        "action_at": cp.action_at,
        "approvals": cp.policy.voters,
        "spot_check": cp.policy.spot_check or None,
        "auto_approved": is_auto(cp),
    }


def timeline_document(
    steps: list[StepRecord],
    checkpoints: list[CheckpointRecord],
    audit: list[AuditEvent],
) -> dict[str, Any]:
    """What happened in a run, in order: each step (with an AI step's model, tokens and cost), each
    checkpoint with its decision, and the audit trail."""
    usage = ("model", "prompt_tokens", "completion_tokens", "cost_usd", "demo", "cut_off")
    return {
        "steps": [
            {
                "node_id": s.node_id,
                "kind": s.kind,
                "status": s.status,
                "started_at": s.started_at,
                "finished_at": s.finished_at,
                "duration_ms": round(s.duration_ms, 1),
                "error": s.error,
                "output": s.output,
                **{k: s.meta[k] for k in usage if k in s.meta},
            }
            for s in steps
        ],
        "checkpoints": [
            {
                **checkpoint_document(cp),
                "decided_by": cp.decided_by,
                "decided_at": cp.decided_at,
                "decision": cp.decision,
            }
            for cp in checkpoints
        ],
        "audit": [{"at": a.ts, "actor": a.actor, "event": a.event, "detail": a.detail} for a in audit],
    }
