"""Deciding from an email link: what the link's page shows, and applying its one decision through
the same engine call as the Inbox (so exactly-once and every permission rule hold)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from engine.decisions import DECISION_VERBS, decision_of, when
from engine.errors import AlreadyDecidedError, EngineError, NotAllowedError, NotFoundError
from engine.links import LinkClaims, LinkError, content_hash
from engine.records import CheckpointRecord, RunRecord

if TYPE_CHECKING:
    from engine.services import Loopdesk


@dataclass
class LinkPage:
    """What a decision link's page shows."""

    state: str
    """`ready` (the button is offered), `done` (this link just decided it), or why not: `decided`,
    `closed`, `changed`, `not_yours`, `expired`, `invalid`."""
    message: str
    claims: LinkClaims | None = None
    checkpoint: CheckpointRecord | None = None
    run: RunRecord | None = None
    workflow_name: str = ""
    reviewer: str = ""
    error: str = ""
    """A problem with what was submitted (e.g. a missing reason); the button is offered again."""

    @property
    def ready(self) -> bool:
        """Whether the page offers the decision button."""
        return self.state == "ready"


def view_link(app: Loopdesk, token: str) -> LinkPage:
    """What a link's page shows; opening it never decides anything."""
    try:
        claims = app.link_signer.read(token)
    except LinkError as exc:
        if "expired" not in str(exc):
            return LinkPage("invalid", "This link is not valid: it may have been cut short or changed.")
        claims = app.link_signer.read(token, expired_ok=True)
        return LinkPage("expired", "This link has expired — open the item in Loopdesk.", claims)
    cp = app.store.get_checkpoint(claims.checkpoint_id)
    run = app.store.get_run(cp.run_id) if cp is not None else None
    if cp is None or run is None:
        return LinkPage("invalid", "This item no longer exists.", claims)
    page = LinkPage(
        "ready",
        "",
        claims,
        cp,
        run,
        workflow_name=app.engine.workflow_name(run),
        reviewer=app.directory.name_of(claims.user),
    )
    if cp.status == "decided":
        page.state, page.message = "decided", f"{AlreadyDecidedError.of(cp, app.directory.name_of)}."
    elif cp.status != "pending":
        page.state, page.message = "closed", "This task was cancelled; there is nothing left to decide."
    elif content_hash(cp) != claims.content:
        page.state = "changed"
        page.message = "This item changed since the email was sent — open it in Loopdesk."
    elif (vote := cp.policy.vote_by(claims.user)) is not None:
        page.state = "decided"
        waits = app.progress(cp) or "it waits for more approvals"
        page.message = f"You already approved this at {when(vote.get('at'))}; {waits}."
    elif not app.permissions.can_decide(claims.user, cp):
        page.state = "not_yours"
        page.message = f"This item is now with {app.directory.label(cp.assignee)}; it no longer waits on you."
    return page


def decide_by_link(app: Loopdesk, token: str, comment: str) -> LinkPage:
    """Apply the link's decision as its reviewer, once; the page says what happened."""
    page = view_link(app, token)
    if not page.ready or page.claims is None or page.checkpoint is None:
        return page
    claims = page.claims
    try:
        run = app.decide(claims.checkpoint_id, claims.user, decision_of(claims.action, comment))
    except (AlreadyDecidedError, NotAllowedError, NotFoundError):
        return view_link(app, token)  # someone was faster, or the item moved: say so
    except EngineError as exc:
        page.error = str(exc)
        return page
    page.state = "done"
    page.run = run
    page.message = f"{DECISION_VERBS[claims.action].capitalize()} by {page.reviewer}. Thank you!"
    after = app.store.get_checkpoint(claims.checkpoint_id)
    if after is not None and after.status == "pending":  # a vote: the quorum is not reached yet
        page.message = f"Your approval is counted ({app.progress(after) or 'more are needed'}). Thank you!"
    return page
