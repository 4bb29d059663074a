"""The HTTP API's bodies and answers, as pydantic models (the OpenAPI document is built from them)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from engine.limits import MAX_COMMENT_CHARS


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StartRun(_Body):
    """Start a run of a workflow with its form's values."""

    inputs: dict[str, Any] = Field(default_factory=dict, description="Form values by field name.")


class DecisionBody(_Body):
    """Decide a pending checkpoint as the token's owner."""

    action: Literal["approve", "reject", "request_changes", "reassign"]
    comment: str | None = Field(
        None, description="Required to reject or request changes.", max_length=MAX_COMMENT_CHARS
    )
    edits: dict[str, Any] | None = Field(None, description="New values of editable values (approve only).")
    to: str | None = Field(None, description="User or `group:NAME` to hand the item to (reassign only).")
    override_reason: str | None = Field(
        None,
        description="An admin deciding a run they started themselves, or approving before the approvals "
        "it needs are in: why (recorded in the audit).",
        max_length=MAX_COMMENT_CHARS,
    )
    replacing: str | None = Field(
        None,
        description="Reassign on an approval several people must give: whose place `to` takes (a member "
        "hands on their own place; an admin names the member).",
    )


class Health(BaseModel):
    """The server answers (and, when it cannot use its database, says why)."""

    status: Literal["ok", "unavailable"]
    error: str | None = None


class WorkflowSummary(BaseModel):
    """A workflow the token's owner may start."""

    workflow_id: str
    name: str
    version: int


class Run(BaseModel):
    """A run, with the checkpoint it waits at while `status` is `waiting`."""

    run_id: str
    workflow_id: str
    version: int
    status: Literal["running", "waiting", "completed", "rejected", "failed", "cancelled"]
    section: str | None
    title: str
    current_node: str | None
    outcome: str | None
    error: str | None
    values: dict[str, Any]
    started_by: str = Field(description="Who started it.")
    created_at: float = Field(description="When it started (epoch seconds).")
    updated_at: float = Field(description="When it last changed (epoch seconds).")
    checkpoint_id: str | None = None
    assignee: str | None = None


class Checkpoint(BaseModel):
    """A pending checkpoint in the token owner's inbox."""

    checkpoint_id: str
    run_id: str
    workflow_id: str
    node_id: str
    assignee: str
    title: str
    status: str
    created_at: float
    due_at: float | None
    instructions: str
    values: dict[str, Any] = Field(description="What the reviewer is shown, by name.")
    editable: list[str]
    action_at: float | None = Field(None, description="When its next escalation step is due.")
    approvals: list[str] = Field(
        default_factory=list, description="Who has approved so far where several approvals are needed."
    )


class TimelineStep(BaseModel):
    """One step a run took."""

    node_id: str
    kind: str
    status: Literal["done", "failed"]
    started_at: float
    finished_at: float
    duration_ms: float
    error: str | None = None
    output: Any = None
    model: str | None = Field(None, description="AI steps: the model that answered.")
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    demo: bool | None = Field(None, description="AI steps: answered by the offline demo model.")
    cut_off: bool | None = Field(None, description="AI steps: the answer stopped at its token limit.")


class DecidedCheckpoint(Checkpoint):
    """A checkpoint of the run, with its decision once it was decided."""

    decided_by: str | None = None
    decided_at: float | None = None
    decision: dict[str, Any] | None = Field(
        None, description="kind, comment, edits (before/after per value), edit_size, approvals, …"
    )


class AuditEntry(BaseModel):
    """One event of the run's audit trail."""

    at: float
    actor: str
    event: str
    detail: dict[str, Any]


class Timeline(Run):
    """A run with what happened in it, in order."""

    steps: list[TimelineStep]
    checkpoints: list[DecidedCheckpoint]
    audit: list[AuditEntry]


class Error(BaseModel):
    """Every error: the engine's message, plus the fields at fault for invalid input."""

    error: str
    fields: dict[str, str] | None = Field(None, description="Field name → what is wrong with it (422).")
