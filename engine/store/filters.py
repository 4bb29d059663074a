"""The filters of list pages as SQL clauses, shared by every backend so that who sees what is
decided in one place. Clauses use `?` placeholders (a backend with another style swaps them)."""

from __future__ import annotations

from typing import Any

from engine.records import CheckpointQuery, RunFilter, RunScope
from engine.store.rows import dumps

ALLOW_SELF_JSON = dumps({"allow_self": True})[1:-1]
"""How a checkpoint's stored policy says its requester may decide it (`"allow_self": true`)."""


def vote_json(user: str) -> str:
    """How a checkpoint's stored policy records this member's approval (`"by": "jamie"`)."""
    return dumps({"by": user})[1:-1]


def seat_json(role: str, user: str) -> str:
    """How a checkpoint's stored policy names a place in a quorum handed on (`"held_by": "riley"`)."""
    return dumps({role: user})[1:-1]


def like_literal(text: str) -> str:
    """`text` matched literally by `LIKE … ESCAPE '!'` (its `%`, `_` and `!` escaped)."""
    return text.replace("!", "!!").replace("%", "!%").replace("_", "!_")


def marks(n: int) -> str:
    """`n` comma-separated `?` placeholders."""
    return ",".join("?" * n)


def given(since: float | None) -> list[float]:
    """The parameter of an optional `>= since` condition."""
    return [] if since is None else [since]


def equals(**columns: str | None) -> tuple[list[str], list[Any]]:
    """`column = ?` conditions (and their parameters) for the columns given a value."""
    given_columns = {c: v for c, v in columns.items() if v}
    return [f"{c} = ?" for c in given_columns], list(given_columns.values())


def run_filter(
    status: str | None,
    workflow_id: str | None,
    scope: RunScope | None,
    section: str | None = None,
    since: float | None = None,
    wanted: RunFilter | None = None,
) -> tuple[str, list[Any]]:
    """The WHERE clause (and its parameters) for runs with these filters, created `since` (a window
    a backend reads first; the filter's own `since` narrows it further)."""
    wanted = wanted or RunFilter()
    if wanted.section is not None:
        section = wanted.section
    if wanted.since is not None:
        since = wanted.since if since is None else max(since, wanted.since)
    where, params = equals(status=status, workflow_id=workflow_id, started_by=wanted.started_by)
    if wanted.until is not None:
        where.append("created_at < ?")
        params.append(wanted.until)
    if section is not None:
        where.append("section IS NULL" if section == "" else "section = ?")
        params += [] if section == "" else [section]
    recent = "" if since is None else " AND created_at >= ?"
    if since is not None:
        where.append("created_at >= ?")
        params.append(since)
    if scope is not None and not (workflow_id and workflow_id in scope.workflow_ids):
        visible = ["started_by = ?"]
        params.append(scope.user)
        if scope.workflow_ids:
            visible.append(f"workflow_id IN ({','.join('?' * len(scope.workflow_ids))})")
            params += sorted(scope.workflow_ids)
        mine = ",".join("?" * len(scope.assignees)) or "NULL"
        # a run's checkpoints and audit events are never older than the run
        held = "policy LIKE ? ESCAPE '!'"  # a place in a quorum handed to them
        asked = f"(assignee IN ({mine}) OR {held}){recent}"
        visible.append(
            f"id IN (SELECT run_id FROM checkpoints WHERE {asked} "
            f"UNION ALL SELECT run_id FROM pending_checkpoints WHERE {asked})"
        )
        visible.append(
            f"id IN (SELECT run_id FROM audit WHERE actor = ?{recent.replace('created_at', 'ts')})"
        )
        holder = f"%{like_literal(seat_json('held_by', scope.user))}%"
        params += [
            *scope.assignees,
            holder,
            *given(since),
            *scope.assignees,
            holder,
            *given(since),
            scope.user,
            *given(since),
        ]
        where.append(f"({' OR '.join(visible)})")
    return (f"WHERE {' AND '.join(where)}" if where else ""), params


def checkpoint_query(q: CheckpointQuery) -> tuple[list[str], str, list[Any]] | None:
    """The tables that can hold such checkpoints, the WHERE clause and its parameters (None
    when no checkpoint can match)."""
    status, assignees, decided_by, actionable_by = q.status, q.assignees, q.decided_by, q.actionable_by
    where, params = equals(
        workflow_id=q.workflow_id, node_id=q.node_id, status=status, run_id=q.run_id, decided_by=decided_by
    )
    if assignees is not None:
        if not assignees:
            return None
        if actionable_by:  # also a place in a quorum handed to them (`PolicyState.seats`)
            where.append(f"(assignee IN ({marks(len(assignees))}) OR policy LIKE ? ESCAPE '!')")
            params += [*assignees, f"%{like_literal(seat_json('held_by', actionable_by))}%"]
            # but not one whose place they handed on
            where.append("(policy IS NULL OR policy NOT LIKE ? ESCAPE '!')")
            params.append(f"%{like_literal(seat_json('seat_of', actionable_by))}%")
        else:
            where.append(f"assignee IN ({marks(len(assignees))})")
            params += assignees
    if actionable_by:
        # not their own request, unless the step lets its requester decide (`PolicyState.allow_self`)
        where.append(f"(requester <> ? OR policy LIKE '%{ALLOW_SELF_JSON}%')")
        # nor one they approved already, while it waits for the quorum's others (`PolicyState.votes`)
        where.append("(policy IS NULL OR policy NOT LIKE ? ESCAPE '!')")
        params += [actionable_by, f"%{like_literal(vote_json(actionable_by))}%"]
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    tables = []
    if status in (None, "pending") and not decided_by:
        tables.append("pending_checkpoints")
    if status != "pending":
        tables.append("checkpoints")
    return tables, clause, params


def checkpoint_order(q: CheckpointQuery) -> str:
    """How `list_checkpoints` orders: oldest first, newest first, soonest due first (those without a
    due time last), or someone's latest decisions first."""
    if q.decided_by:
        return "decided_at DESC, id"
    if q.by_due:
        return "due_at IS NULL, due_at, created_at, id"
    return "created_at DESC, id" if q.newest_first else "created_at, id"
