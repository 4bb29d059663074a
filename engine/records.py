"""The records the engine keeps and the store writes: runs, steps, checkpoints, the audit log, the
outbox, leases and transitions. Every layer may import these; none of them imports the store."""

from __future__ import annotations

import time
import uuid
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

from engine.model import Workflow

RunStatus = Literal["running", "waiting", "completed", "rejected", "failed", "cancelled"]
RUN_STATUSES: tuple[str, ...] = ("running", "waiting", "completed", "rejected", "failed", "cancelled")
OPEN_STATUSES: tuple[str, ...] = ("running", "waiting")
FINISHED_STATUSES: tuple[str, ...] = ("completed", "rejected", "failed", "cancelled")
CheckpointStatus = Literal["pending", "decided", "cancelled"]


def now() -> float:
    """Current time as epoch seconds (the store's time unit)."""
    return time.time()


def new_id(prefix: str) -> str:
    """A short random id with a readable prefix, e.g. `run_3f9a1c2b7d`."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@dataclass
class WorkflowVersion:
    """One saved version of a workflow."""

    workflow_id: str
    version: int
    name: str
    definition: Workflow
    created_at: float
    created_by: str
    note: str = ""


@dataclass
class RunRecord:
    """A task's journey through one workflow version."""

    id: str
    workflow_id: str
    version: int
    status: str
    current_node: str | None
    section: str | None
    title: str
    values: dict[str, Any]
    started_by: str
    created_at: float
    updated_at: float
    revisions: int = 0
    outcome: str | None = None
    error: str | None = None
    failed_node: str | None = None


@dataclass
class StepRecord:
    """One executed node: inputs, output, status, duration and AI usage."""

    run_id: str
    node_id: str
    kind: str
    status: str
    input: dict[str, Any]
    output: Any
    started_at: float
    finished_at: float
    error: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    seq: int = 0

    @property
    def duration_ms(self) -> float:
        """How long the step took in milliseconds."""
        return (self.finished_at - self.started_at) * 1000.0


@dataclass
class PolicyState:
    """What a checkpoint's policy has done so far, and the rules it opened under."""

    stage: int = 0
    """How many steps of the escalation chain were taken."""
    votes: list[dict[str, Any]] = field(default_factory=list)
    """Approvals of group members so far (`by`, `at`, `comment`), while a quorum is not reached."""
    quorum: str = "any"
    """any, all or count (see `ApprovalNode.quorum`)."""
    quorum_count: int | None = None
    """Approvals needed with quorum `count`."""
    allow_self: bool = False
    """Whether the person who started the run may decide it."""
    revisions: int = 0
    """How often this step sent this task back before (the workflow's cap counts these)."""
    reminders: int = 0
    """How many reminders were sent."""
    reminded_at: float | None = None
    """When the last reminder went out."""
    spot_check: str = ""
    """Why a person sees this checkpoint although auto-approval is on ('' when it was not picked)."""
    auto_approve: dict[str, Any] | None = None
    """Set while Loopdesk auto-approves it: what the audit records of why."""
    prompt: str = ""
    """Which prompts wrote the drafts it shows (`engine.autonomy.prompt_signature`): auto-approval
    counts only the reviews of drafts from the prompts in use."""
    seats: list[dict[str, str]] = field(default_factory=list)
    """Places in a quorum handed on: the member first asked (`seat_of`) and who holds that place now
    (`held_by`); a reassignment on a quorum replaces one member by another, never the group."""

    @property
    def voters(self) -> list[str]:
        """Who has approved so far, in order."""
        return [str(v.get("by")) for v in self.votes]

    def vote_by(self, user: str) -> dict[str, Any] | None:
        """This member's approval, if they gave one."""
        return next((v for v in self.votes if v.get("by") == user), None)

    def seat_holders(self) -> dict[str, str]:
        """Member first asked → who holds their place in the quorum now (only places handed on)."""
        return {s["seat_of"]: s["held_by"] for s in self.seats}

    def with_seat(self, seat_of: str, held_by: str) -> PolicyState:
        """This state with `seat_of`'s place in the quorum held by `held_by` (handed back: dropped)."""
        seats = [s for s in self.seats if s["seat_of"] != seat_of]
        if held_by != seat_of:
            seats.append({"seat_of": seat_of, "held_by": held_by})
        return replace(self, seats=seats)

    def to_dict(self) -> dict[str, Any]:
        """As stored (JSON)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> PolicyState:
        """From stored JSON; keys a newer version added are ignored, missing ones take defaults."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (data or {}).items() if k in known})


@dataclass(frozen=True)
class AiUsage:
    """What one AI step's calls used in the stored runs of one workflow version."""

    node_id: str
    version: int
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float


@dataclass(frozen=True)
class DesignDraft:
    """A designer's unsaved working copy of a workflow, kept so a reload or restart loses nothing."""

    user: str
    workflow_id: str
    definition: str
    """The working copy as workflow JSON."""
    saved_at: float


@dataclass(frozen=True)
class LiveStep:
    """An AI step while it runs: which attempt it is on and the answer so far (while it streams)."""

    run_id: str
    node_id: str
    attempt: int
    text: str
    started_at: float
    updated_at: float


@dataclass
class CheckpointRecord:
    """A pending or decided approval: a row, not a sleeping thread."""

    id: str
    run_id: str
    workflow_id: str
    node_id: str
    status: str
    assignee: str
    created_at: float
    due_at: float | None
    shown: dict[str, Any]
    editable: list[str]
    instructions: str
    title: str = ""
    decision: dict[str, Any] | None = None
    decided_by: str | None = None
    decided_at: float | None = None
    requester: str = ""
    """Who started the run (they may not decide it)."""
    action_at: float | None = None
    """When its next escalation step is due (None: no step left)."""
    policy: PolicyState = field(default_factory=PolicyState)
    """Escalation progress, quorum votes and the rules the checkpoint opened under."""


@dataclass
class TokenRecord:
    """An API token: only its hash is kept; it acts with exactly its user's rights."""

    id: str
    user: str
    hash: str
    label: str
    created_at: float
    created_by: str
    revoked_at: float | None = None


@dataclass(frozen=True)
class ConnectionRecord:
    """A named connection to a service outside (an SMTP server, an HTTP API, Slack), as stored: its
    plain settings as JSON and its secrets as one encrypted token that only `engine.secret_box` reads."""

    name: str
    type: str
    settings: str
    """JSON object of the settings that are not secret (a base URL, a sender address)."""
    secrets: str
    """The secret settings' JSON object, encrypted (Fernet); never a plain value."""
    updated_at: float
    updated_by: str


RunKey = tuple[float, str]
"""A run's place in history: (created_at, id)."""


@dataclass(frozen=True)
class RunScope:
    """The runs one person may see: every run of some workflows, plus the runs they take part in."""

    workflow_ids: frozenset[str]
    """Workflows whose every run is visible."""
    user: str
    """Runs this user started or acted on (decided, reassigned, cancelled…)."""
    assignees: tuple[str, ...]
    """Runs with a checkpoint assigned to one of these (the user and their groups)."""


@dataclass(frozen=True)
class RunFilter:
    """Which runs a list shows besides status and workflow (every field optional)."""

    section: str | None = None
    """Runs in this board section ("" : in none)."""
    started_by: str | None = None
    """Runs this user started."""
    since: float | None = None
    """Runs created at or after this time (epoch seconds)."""
    until: float | None = None
    """Runs created before this time (epoch seconds)."""


@dataclass(frozen=True)
class CheckpointQuery:
    """Which checkpoints a list or a count asks for, and in which order (paging is the call's)."""

    status: str | None = "pending"
    """pending, decided or cancelled; None: any."""
    assignees: list[str] | None = None
    """Assigned to one of these (an empty list matches nothing)."""
    run_id: str | None = None
    decided_by: str | None = None
    """Decided by this person (their latest decisions first)."""
    actionable_by: str | None = None
    """What this person can act on: not their own request unless the step allows it, not one they
    approved already while the quorum's others are awaited; also a quorum place handed to them."""
    workflow_id: str | None = None
    node_id: str | None = None
    newest_first: bool = False
    """Newest first (else oldest first)."""
    by_due: bool = False
    """Soonest due first, those without a due time last."""


PENDING = CheckpointQuery()
"""Every pending checkpoint, oldest first (the default of a checkpoint list)."""


@dataclass
class AuditEvent:
    """An append-only record of a state change: who, when, what."""

    run_id: str
    actor: str
    event: str
    detail: dict[str, Any] = field(default_factory=dict)
    ts: float = field(default_factory=now)
    id: int = 0


@dataclass
class RunUpdate:
    """New run fields, applied only if the run is still in the expected state."""

    run_id: str
    expect_status: tuple[str, ...]
    status: str
    current_node: str | None
    values: dict[str, Any]
    section: str | None
    revisions: int
    expect_node: str | None = None
    outcome: str | None = None
    error: str | None = None
    failed_node: str | None = None


@dataclass
class CheckpointClose:
    """Close (decide or cancel) a checkpoint if it is still pending, or (status `pending`) keep it
    open and reassign it or record a vote or escalation step."""

    checkpoint_id: str
    status: str
    actor: str
    decision: dict[str, Any] | None = None
    new_assignee: str | None = None
    expect_assignee: str | None = None
    clear_due: bool = False
    """With a reassignment: the due time has been acted on, so drop it."""
    policy: PolicyState | None = None
    """New policy state (a vote, an escalation step taken), kept open or closed with the checkpoint."""
    expect_policy: PolicyState | None = None
    """Apply only if the policy state is still this one (no other vote or step landed meanwhile)."""
    action_at: float | None = None
    """With `policy`: when the next escalation step is due (None: none left)."""


@dataclass(frozen=True)
class Lease:
    """A run handed to one driver (a process) for `seconds` from the commit; it renews the lease
    while it works, and anyone may take the run over once the lease has run out."""

    owner: str
    seconds: float


@dataclass
class Transition:
    """Everything one engine move writes, applied atomically or not at all."""

    run_update: RunUpdate | None = None
    new_run: RunRecord | None = None
    steps: list[StepRecord] = field(default_factory=list)
    open_checkpoint: CheckpointRecord | None = None
    close_checkpoint: CheckpointClose | None = None
    cancel_checkpoints_of: str | None = None
    audit: list[AuditEvent] = field(default_factory=list)
    lease: Lease | None = None
    """Lease the transition's run (new or updated) to this driver in the same commit: the one who
    made it runnable drives it next, and no worker takes it meanwhile."""


class ConflictError(Exception):
    """A transition's precondition no longer holds; nothing of it was written."""

    def __init__(self, message: str, checkpoint: CheckpointRecord | None = None) -> None:
        super().__init__(message)
        self.checkpoint = checkpoint


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
