"""Which state changes are announced, derived from the audit events of a transition.

The store writes these in the same commit as the change itself, so a crash can neither lose an
announcement nor announce something that did not happen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.store.base import AuditEvent, new_id

EVENTS: dict[str, str] = {
    "checkpoint_opened": "checkpoint.opened",
    "decision_approve": "checkpoint.decided",
    "decision_reject": "checkpoint.decided",
    "decision_request_changes": "checkpoint.decided",
    "reassigned": "checkpoint.reassigned",
    "reminded": "checkpoint.reminded",
    "completed": "run.completed",
    "rejected": "run.rejected",
    "failed": "run.failed",
}
"""Audit event → the notification event it causes."""


@dataclass
class OutboxEvent:
    """One announcement waiting to be delivered (or delivered) to every channel."""

    id: str
    event: str
    run_id: str
    at: float
    checkpoint_id: str | None = None
    assignee: str | None = None
    actor: str | None = None
    """Who decided (checkpoint.decided) or reassigned."""
    action: str | None = None
    """approve, reject or request_changes (checkpoint.decided)."""
    status: str = "pending"
    """pending → delivered; failed after the last attempt; skipped when no channel is configured."""
    attempts: int = 0
    next_at: float = 0.0
    done: list[str] = field(default_factory=list)
    """Channels that have it (each gets it at least once, never again after success)."""
    last_error: str | None = None
    delivered_at: float | None = None


def events_from(audit: list[AuditEvent]) -> list[OutboxEvent]:
    """The announcements a transition's audit events call for."""
    out = []
    for a in audit:
        kind = EVENTS.get(a.event)
        if kind is None:
            continue
        detail: dict[str, Any] = a.detail
        event = OutboxEvent(id=new_id("evt"), event=kind, run_id=a.run_id, at=a.ts, next_at=a.ts)
        if kind.startswith("checkpoint."):
            event.checkpoint_id = detail.get("checkpoint")
            event.actor = a.actor
        if kind in ("checkpoint.opened", "checkpoint.reminded"):
            event.assignee = detail.get("assignee")
            event.actor = None
        elif kind == "checkpoint.reassigned":
            event.assignee = detail.get("to")
        elif kind == "checkpoint.decided":
            event.action = a.event.removeprefix("decision_")
        out.append(event)
    return out
