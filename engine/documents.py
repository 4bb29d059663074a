"""Runs and checkpoints as JSON documents: what the CLI prints and the HTTP API returns."""

from __future__ import annotations

from typing import Any

from engine.store.base import CheckpointRecord, RunRecord, Store


def run_document(store: Store, run: RunRecord) -> dict[str, Any]:
    """The run, with the checkpoint it waits at (`checkpoint_id`, `assignee`) while waiting."""
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
    }
    if run.status == "waiting":
        pending = store.list_checkpoints(status="pending", run_id=run.id)
        if pending:
            doc["checkpoint_id"] = pending[0].id
            doc["assignee"] = pending[0].assignee
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
        "auto_approved": bool((cp.decision or {}).get("auto_approved")),
    }
