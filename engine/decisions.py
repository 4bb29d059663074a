"""What a reviewer can decide at a checkpoint: a discriminated union on `kind`."""

from __future__ import annotations

import time
from typing import Annotated, Any, Literal

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
