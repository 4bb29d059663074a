"""What reviewers did with an AI step's drafts, run by run: the first draft they saw, the text they
finally approved, their edits and their notes. "Improve this prompt" learns from it and "Test against
past runs" compares new drafts with it.

Read from the newest decided checkpoints backwards, one page at a time, until enough runs are found:
the cost follows the runs asked for, not the length of the history.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from engine.autonomy import draft_names
from engine.decisions import decision_record
from engine.model import AIStepNode, ApprovalNode, Workflow
from engine.records import CheckpointQuery, CheckpointRecord, RunRecord
from engine.store.base import Store

PAGE = 200
"""Decided checkpoints read per query while looking for reviewed runs."""
DEFAULT_RUNS = 20
"""How many of the newest reviewed runs are read when nobody says."""
MAX_LOOKED = 500
"""Runs looked at (at least; five per run asked for) before giving up on finding more reviewed ones."""


@dataclass(frozen=True)
class ReviewedDraft:
    """One run's draft of an AI step and what its reviewers made of it."""

    run_id: str
    title: str
    version: int
    """The workflow version the run ran (and whose prompt wrote the draft)."""
    values: dict[str, Any]
    """The values to render the step's prompt with: the run's as it ended, with no reviewer feedback
    and no answer of the step itself (values a later reviewer edited keep their edit)."""
    draft: Any
    """The first draft a reviewer saw (before any send-back)."""
    approved: Any | None
    """The text as finally approved, edits included (None: it was never approved)."""
    edits: tuple[tuple[Any, Any], ...]
    """(before, after) of each approval that changed the step's answer."""
    notes: tuple[tuple[str, str], ...]
    """(kind, comment) of every change request and rejection, in order."""
    decided_at: float
    """When its last decision was made."""

    @property
    def approved_as_is(self) -> bool:
        """Approved with no change to the step's answer."""
        return self.approved is not None and not self.edits


def _decided_pages(store: Store, workflow_id: str) -> Iterator[CheckpointRecord]:
    """A workflow's decided checkpoints, newest first, read a page at a time."""
    offset = 0
    while True:
        page = store.list_checkpoints(
            CheckpointQuery(status="decided", workflow_id=workflow_id, newest_first=True),
            limit=PAGE,
            offset=offset,
        )
        yield from page
        if len(page) < PAGE:
            return
        offset += PAGE


def reviewed_steps(wf: Workflow) -> set[str]:
    """The AI steps whose answers some approval of the workflow shows its reviewers."""
    shown = {name for n in wf.nodes if isinstance(n, ApprovalNode) for name in draft_names(wf, n)}
    return {n.id for n in wf.nodes if isinstance(n, AIStepNode) and n.output_name in shown}


def output_name(wf: Workflow, node_id: str) -> str | None:
    """The value an AI step writes its answer to in this version (None: no such AI step)."""
    node = wf.node_map().get(node_id)
    return node.output_name if isinstance(node, AIStepNode) else None


def reviewed_draft(run: RunRecord, name: str, checkpoints: list[CheckpointRecord]) -> ReviewedDraft | None:
    """One run's history with the answer `name`, from its checkpoints oldest first (None when no
    person decided on it: an auto-approval or a timeout is no review)."""
    decided = [(cp, decision_record(cp)) for cp in checkpoints if name in cp.shown]
    seen = [(cp, d) for cp, d in decided if d is not None and d.is_review]
    if not seen:
        return None
    approved: Any | None = None
    edits: list[tuple[Any, Any]] = []
    notes: list[tuple[str, str]] = []
    for cp, decision in seen:
        if decision.kind == "approve":
            change = decision.edits.get(name)
            if change is not None:
                edits.append((change.get("before"), change.get("after")))
            approved = change.get("after") if change is not None else cp.shown[name]
        elif decision.kind in ("reject", "request_changes") and decision.comment.strip():
            notes.append((decision.kind, decision.comment.strip()))
    values = {**run.values, "feedback": "", name: ""}
    return ReviewedDraft(
        run_id=run.id,
        title=run.title,
        version=run.version,
        values=values,
        draft=seen[0][0].shown[name],
        approved=approved,
        edits=tuple(edits),
        notes=tuple(notes),
        decided_at=max(decision.at or 0.0 for _, decision in seen),
    )


def reviewed_drafts(
    store: Store, workflow_id: str, node_id: str, last: int = DEFAULT_RUNS, approved_only: bool = False
) -> list[ReviewedDraft]:
    """The newest `last` runs whose drafts of AI step `node_id` a reviewer decided on, newest first
    (with `approved_only`, only runs whose draft was finally approved: those a new draft can be
    compared with)."""
    definitions = {v.version: v.definition for v in store.list_versions(workflow_id)}
    out: list[ReviewedDraft] = []
    looked: set[str] = set()
    for cp in _decided_pages(store, workflow_id):
        if len(out) >= last or len(looked) >= max(MAX_LOOKED, last * 5):
            break
        if cp.run_id in looked:
            continue
        looked.add(cp.run_id)
        run = store.get_run(cp.run_id)
        wf = definitions.get(run.version) if run is not None else None
        name = output_name(wf, node_id) if wf is not None else None
        if run is None or name is None:
            continue
        found = reviewed_draft(run, name, store.list_checkpoints(CheckpointQuery(status=None, run_id=run.id)))
        if found is not None and (found.approved is not None or not approved_only):
            out.append(found)
    return out
