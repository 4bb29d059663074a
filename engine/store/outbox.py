"""Which state changes are announced, derived from the audit events of a transition.

The store writes these in the same commit as the change itself, so a crash can neither lose an
announcement nor announce something that did not happen.
"""

from __future__ import annotations

from typing import Any

from engine.records import AuditEvent, OutboxEvent, new_id

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
