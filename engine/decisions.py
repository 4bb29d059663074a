"""What a reviewer can decide at a checkpoint (a discriminated union on `kind`), and what a stored
decision counts as: a review by a person, an auto-approval or a timeout, and under which outcome.

The rule has this one home: the insight counters kept at write time, both backends' recounts (SQL built
from `counts_as_sql`), the review figures and auto-approval's standing all read decisions through it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, Field

from engine.limits import MAX_COMMENT_CHARS


class Approve(BaseModel):
    """Approve, optionally replacing editable values for every later step."""

    kind: Literal["approve"] = "approve"
    comment: str = ""
    """Optional note for the audit trail."""
    edits: dict[str, Any] = Field(default_factory=dict)
    """New values for editable values, by name."""
    override_reason: str = ""
    """An admin deciding a run they started themselves says why (recorded in the audit)."""


class Reject(BaseModel):
    """Reject with a reason: follow `rejected`, else stop the run as rejected."""

    kind: Literal["reject"] = "reject"
    comment: str = ""
    """The reason (required)."""
    override_reason: str = ""
    """An admin deciding a run they started themselves says why (recorded in the audit)."""


class RequestChanges(BaseModel):
    """Send the task back along `changes_requested` with a note (`{{ feedback }}`)."""

    kind: Literal["request_changes"] = "request_changes"
    comment: str = ""
    """What to change (required)."""
    override_reason: str = ""
    """An admin deciding a run they started themselves says why (recorded in the audit)."""


class Reassign(BaseModel):
    """Hand the checkpoint to another reviewer; it stays open."""

    kind: Literal["reassign"] = "reassign"
    to: str
    """User or group that receives the checkpoint."""
    comment: str = ""
    """Optional note."""
    replacing: str = ""
    """On an approval several people must give: whose place `to` takes (a member hands on their own
    place; an admin names the member). Elsewhere unused."""


Decision = Annotated[Approve | Reject | RequestChanges | Reassign, Field(discriminator="kind")]


def note_problem(decision: Approve | Reject | RequestChanges | Reassign) -> str | None:
    """Why a decision's comment or reason is too long to accept (None: it is fine); the same limit
    holds in the pages, the API, decision links and the CLI, and what is accepted always renders."""
    texts = {"comment": decision.comment, "reason": getattr(decision, "override_reason", "")}
    for what, text in texts.items():
        if len(text) > MAX_COMMENT_CHARS:
            return f"the {what} is {len(text):,} characters long; at most {MAX_COMMENT_CHARS:,} are accepted"
    return None


DECISION_VERBS = {"approve": "approved", "reject": "rejected", "request_changes": "sent back for changes"}
"""How a decision reads after the fact: "Already approved by …", "was sent back for changes by …"."""


def when(ts: float | None) -> str:
    """A moment as people read it in a message: '10:42 UTC on 3 Dec 2026'."""
    if ts is None:
        return "an unknown time"
    t = time.gmtime(ts)
    return f"{time.strftime('%H:%M', t)} UTC on {t.tm_mday} {time.strftime('%b %Y', t)}"


def already_decided(action: str | None, who: str, at: float | None) -> str:
    """'Already approved by Jamie Rivera at 10:42 UTC on 3 Dec 2026' (`who`: a person's name)."""
    return f"Already {DECISION_VERBS.get(action or '', 'decided')} by {who} at {when(at)}"


def decision_of(
    action: str,
    comment: str = "",
    edits: dict[str, Any] | None = None,
    to: str | None = None,
    override_reason: str = "",
    replacing: str = "",
) -> Decision:
    """The decision an action name stands for (`approve`, `reject`, `request_changes`, `reassign`),
    as the API, decision links and timeouts name them."""
    if action == "approve":
        return Approve(comment=comment, edits=edits or {}, override_reason=override_reason)
    if action == "reject":
        return Reject(comment=comment, override_reason=override_reason)
    if action == "request_changes":
        return RequestChanges(comment=comment, override_reason=override_reason)
    if action == "reassign":
        return Reassign(to=to or "", comment=comment, replacing=replacing)
    raise ValueError(f"no decision is called `{action}`")


LOOPDESK = "system"
"""Who Loopdesk's own decisions are recorded as (the directory's `SYSTEM` user): auto-approvals, and the
approvals and rejections of escalation chains and due times."""

OUTCOMES: dict[str, str] = {
    "approve": "approved",
    "reject": "rejected",
    "request_changes": "changes_requested",
}
"""The kinds of decision that close a checkpoint, each as the outcome it counts under."""

REVIEW = "review"
"""A decision by a person: whoever the checkpoint was assigned to (an escalation chain's reassignment
included: the person it handed the checkpoint to reviews it), a quorum's last approver, an admin or the
operator."""
AUTO_APPROVAL = "auto_approval"
"""An approval by Loopdesk under auto-approval (`auto_approved` in the decision): no review."""
TIMEOUT = "timeout"
"""An approval or rejection by Loopdesk because nobody decided in time (an escalation chain's step or
the due time): no review."""


@dataclass(frozen=True)
class DecisionRecord:
    """A closed checkpoint's decision, read once from its stored JSON (whose format this does not
    change) and from who decided it when."""

    kind: str
    """approve, reject or request_changes ('' when the stored decision names none)."""
    by: str
    """Who decided ('' when unknown); `LOOPDESK` for auto-approvals and timeouts."""
    at: float | None
    comment: str = ""
    edits: Mapping[str, Any] = field(default_factory=dict)
    """Edited values by name, each {"before": …, "after": …} (approvals only)."""
    edit_size: float | None = None
    """Words changed over words in the draft, as recorded with the approval (None: not recorded)."""
    auto_approved: Mapping[str, Any] | None = None
    """Why Loopdesk approved it under auto-approval (None: it did not)."""

    @classmethod
    def read(cls, stored: Mapping[str, Any], by: str | None, at: float | None) -> DecisionRecord:
        """The record of a decision as stored, decided by `by` at `at`."""
        edits = stored.get("edits")
        size = stored.get("edit_size")
        auto = stored.get("auto_approved")
        return cls(
            kind=str(stored.get("kind") or ""),
            by=by or "",
            at=at,
            comment=str(stored.get("comment") or ""),
            edits=edits if isinstance(edits, Mapping) else {},
            edit_size=float(size) if size is not None else None,
            auto_approved=auto if isinstance(auto, Mapping) else None,
        )

    @property
    def outcome(self) -> str | None:
        """approved, rejected or changes_requested (None for a kind that closes nothing)."""
        return OUTCOMES.get(self.kind)

    @property
    def counts_as(self) -> str | None:
        """`REVIEW`, `AUTO_APPROVAL` or `TIMEOUT` (None: a decision of no kind, or by nobody known)."""
        if self.auto_approved is not None:
            return AUTO_APPROVAL
        if self.by == LOOPDESK:
            return TIMEOUT
        return REVIEW if self.by and self.outcome is not None else None

    @property
    def is_review(self) -> bool:
        """Decided by a person."""
        return self.counts_as == REVIEW

    @property
    def is_auto(self) -> bool:
        """Approved by Loopdesk under auto-approval."""
        return self.counts_as == AUTO_APPROVAL

    @property
    def edited(self) -> bool:
        """Approved with changes to the values shown."""
        return self.kind == "approve" and bool(self.edits)

    @property
    def as_is(self) -> bool:
        """Approved with nothing changed."""
        return self.kind == "approve" and not self.edits


class Closed(Protocol):
    """A checkpoint as the decision rule reads it (a `CheckpointRecord`)."""

    @property
    def status(self) -> str: ...
    @property
    def decision(self) -> dict[str, Any] | None: ...
    @property
    def decided_by(self) -> str | None: ...
    @property
    def decided_at(self) -> float | None: ...


def decision_record(cp: Closed) -> DecisionRecord | None:
    """A checkpoint's decision (None while it is open, once cancelled, or when it keeps none)."""
    if cp.status != "decided" or cp.decision is None:
        return None
    return DecisionRecord.read(cp.decision, cp.decided_by, cp.decided_at)


def is_review(cp: Closed) -> bool:
    """Decided by a person (not by Loopdesk: neither an auto-approval nor a timeout)."""
    record = decision_record(cp)
    return record is not None and record.is_review


def is_auto(cp: Closed) -> bool:
    """Approved by Loopdesk under auto-approval."""
    record = decision_record(cp)
    return record is not None and record.is_auto


def counts_as_sql(kind: str, by: str, auto: str) -> str:
    """`DecisionRecord.counts_as` as a SQL expression, over a dialect's expressions for the stored kind,
    the decider and whether the decision was an auto-approval (both backends' recounts use it)."""
    kinds = ", ".join(f"'{k}'" for k in OUTCOMES)
    return (
        f"CASE WHEN {auto} THEN '{AUTO_APPROVAL}' WHEN {by} = '{LOOPDESK}' THEN '{TIMEOUT}' "
        f"WHEN {by} <> '' AND {kind} IN ({kinds}) THEN '{REVIEW}' END"
    )
