"""The workflow definition: pydantic v2 models saved as JSON (a discriminated union on `type`)."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from engine.errors import ImportFormatError, Problem, WorkflowValidationError

SCHEMA_VERSION = 1

FieldType = Literal["text", "long_text", "choice", "number", "email"]
OutputKind = Literal["text", "classification", "json"]
Outcome = Literal["approved", "rejected", "changes_requested"]
OUTCOMES: tuple[str, ...] = ("approved", "rejected", "changes_requested")
DEFAULT_CASE = "default"

NODE_KIND_LABELS: dict[str, str] = {
    "form_trigger": "Form trigger",
    "ai_step": "AI step",
    "move_to_section": "Move to section",
    "approval": "Approval",
    "branch": "Branch",
    "end": "End",
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Position(_Strict):
    """Where a node sits on the canvas."""

    x: float = 0.0
    """Horizontal canvas coordinate in pixels."""
    y: float = 0.0
    """Vertical canvas coordinate in pixels."""


class FormField(_Strict):
    """One input of the trigger form."""

    name: str
    """Identifier used in `{{ placeholders }}` and stored values."""
    label: str = ""
    """What the requester sees next to the input."""
    type: FieldType = "text"
    """Input kind: text, long_text, choice, number or email."""
    required: bool = False
    """Whether the form refuses an empty value."""
    options: list[str] = Field(default_factory=list)
    """Allowed values of a choice field."""
    default: str | float | None = None
    """Value prefilled in the form and used when the input is left out."""
    help: str = ""
    """Hint shown under the input."""


class JsonOutputField(_Strict):
    """One named field of an AI step's JSON output."""

    name: str
    """Key in the answer object."""
    type: Literal["string", "number", "boolean"] = "string"
    """JSON type the value must have."""
    description: str = ""
    """What the model should put there."""


class _NodeBase(_Strict):
    id: str
    """Unique id of the node within the workflow."""
    title: str = ""
    """Short name shown on the canvas; defaults to the kind."""
    position: Position = Field(default_factory=Position)
    """Canvas position."""


class FormTriggerNode(_NodeBase):
    """The single entry point: a form submission creates the task and starts a run."""

    type: Literal["form_trigger"] = "form_trigger"
    fields: list[FormField] = Field(default_factory=list)
    """The form's inputs, in order."""
    title_field: str | None = None
    """Which field becomes the task title on the board."""


class AIStepNode(_NodeBase):
    """Ask a model and store its answer under `output_name`."""

    type: Literal["ai_step"] = "ai_step"
    instruction: str = ""
    """Prompt with `{{ placeholders }}` for form fields and earlier outputs."""
    system_prompt: str = ""
    """Optional system message."""
    model: str | None = None
    """Model name; empty uses the workflow default."""
    temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    """Sampling temperature."""
    max_tokens: int | None = Field(default=None, gt=0)
    """Cap on the answer's length in tokens."""
    output_name: str = "output"
    """Name the answer is stored under for later steps."""
    output_kind: OutputKind = "text"
    """text, classification (one label of `labels`), or json (named `json_fields`)."""
    labels: list[str] = Field(default_factory=list)
    """Allowed labels of a classification."""
    json_fields: list[JsonOutputField] = Field(default_factory=list)
    """Fields of a JSON answer."""


class MoveToSectionNode(_NodeBase):
    """Move the task to a board section."""

    type: Literal["move_to_section"] = "move_to_section"
    section: str = ""
    """One of the workflow's sections."""


class ApprovalNode(_NodeBase):
    """Pause the run until the assignee approves, rejects or requests changes."""

    type: Literal["approval"] = "approval"
    assignee: str = ""
    """User name or group name (prefix `group:` optional) who decides."""
    instructions: str = ""
    """What the reviewer should check."""
    visible_values: list[str] = Field(default_factory=list)
    """Values shown to the reviewer (empty: all values)."""
    editable_values: list[str] = Field(default_factory=list)
    """Values the reviewer may edit before approving."""
    due_hours: float | None = Field(default=None, gt=0)
    """Hours until the checkpoint is overdue."""
    on_timeout: Literal["none", "approve", "reject", "reassign"] = "none"
    """What happens once the due time passes."""
    timeout_assignee: str | None = None
    """Who receives the checkpoint when `on_timeout` is reassign."""
    reassign_to: list[str] = Field(default_factory=list)
    """Users and groups a reviewer may hand the checkpoint to (empty: the assignee's group and
    the timeout assignee); admins may reassign to anyone."""


class BranchNode(_NodeBase):
    """Route on a value: each outgoing edge carries a case, or `default`."""

    type: Literal["branch"] = "branch"
    value: str = ""
    """Name of the value to route on (a form field or an earlier output)."""
    cases: list[str] = Field(default_factory=list)
    """Values that have their own path; a case like `> 100` or `<= 5` compares numbers."""


class EndNode(_NodeBase):
    """Finish the run with an outcome label."""

    type: Literal["end"] = "end"
    outcome: str = "Done"
    """Label recorded as the run's outcome."""
    status: Literal["completed", "rejected"] = "completed"
    """How the run finishes: `rejected` for the end of a rejection path."""


Node = Annotated[
    FormTriggerNode | AIStepNode | MoveToSectionNode | ApprovalNode | BranchNode | EndNode,
    Field(discriminator="type"),
]
NodeKind = Literal["form_trigger", "ai_step", "move_to_section", "approval", "branch", "end"]


class Edge(_Strict):
    """A connection; edges out of approvals carry an outcome, out of branches a case."""

    id: str
    """Unique id of the edge."""
    source: str
    """Id of the node the edge leaves."""
    target: str
    """Id of the node the edge enters."""
    label: str | None = None
    """Outcome (approval), case or `default` (branch); empty elsewhere."""


class Access(_Strict):
    """Who may change a workflow, start it and see its runs; admins always may."""

    editors: list[str] = Field(default_factory=list)
    """Users and groups (`group:NAME`) who may change it; they need the designer role.
    Empty: every designer."""
    starters: list[str] = Field(default_factory=list)
    """Users and groups who may start runs; they need the requester role. Empty: every requester."""
    viewers: list[str] = Field(default_factory=list)
    """Users and groups who see every run of it (Runs, Board, Insights). Its editors always do;
    everyone sees the runs they started or were asked to review."""


class Workflow(_Strict):
    """A whole workflow design as saved, versioned and run."""

    schema_version: int = SCHEMA_VERSION
    """Version of this JSON format."""
    id: str
    """Stable id across versions (a slug)."""
    name: str
    """Name shown in lists."""
    description: str = ""
    """What the workflow is for."""
    sections: list[str] = Field(default_factory=list)
    """Board sections in order."""
    nodes: list[Node] = Field(default_factory=list)
    """Steps with their settings and canvas positions."""
    edges: list[Edge] = Field(default_factory=list)
    """Connections between steps."""
    max_revisions: int = Field(default=3, ge=1, le=50)
    """How many times a checkpoint may send the task back before it must be decided."""
    default_model: str = "gpt-4o-mini"
    """Model used by AI steps that name none."""
    access: Access = Field(default_factory=Access)
    """Who may edit it, start it and see its runs."""

    def node(self, node_id: str) -> Node:
        """Return the node with this id or raise KeyError."""
        for n in self.nodes:
            if n.id == node_id:
                return n
        raise KeyError(node_id)

    def node_map(self) -> dict[str, Node]:
        """Map node id to node."""
        return {n.id: n for n in self.nodes}

    def trigger(self) -> FormTriggerNode:
        """Return the form trigger (the workflow must be valid)."""
        for n in self.nodes:
            if isinstance(n, FormTriggerNode):
                return n
        raise KeyError("form_trigger")

    def outgoing(self, node_id: str) -> list[Edge]:
        """Edges leaving a node, in declaration order."""
        return [e for e in self.edges if e.source == node_id]

    def to_json(self) -> str:
        """Serialize to pretty JSON."""
        return self.model_dump_json(indent=2)


def _pydantic_problems(exc: ValidationError, data: Any) -> list[Problem]:
    """Turn pydantic errors into problems that name the node where possible."""
    problems: list[Problem] = []
    for err in exc.errors():
        loc = list(err["loc"])
        node_id: str | None = None
        edge_id: str | None = None
        if len(loc) >= 2 and loc[0] in ("nodes", "edges") and isinstance(loc[1], int):
            try:
                item = data[loc[0]][loc[1]]
                ident = item.get("id") if isinstance(item, dict) else None
            except (KeyError, IndexError, TypeError):
                ident = None
            if loc[0] == "nodes":
                node_id = ident or f"#{loc[1] + 1}"
            else:
                edge_id = ident or f"#{loc[1] + 1}"
            loc = loc[2:]
            # drop the union tag pydantic inserts for discriminated unions
            if loc and isinstance(loc[0], str) and loc[0] in NODE_KIND_LABELS:
                loc = loc[1:]
        where = ".".join(str(p) for p in loc)
        msg = err["msg"]
        if err["type"] == "union_tag_invalid":
            msg = f"unknown step type (expected one of {', '.join(NODE_KIND_LABELS)})"
        elif err["type"] == "extra_forbidden":
            msg = "unknown setting"
        problems.append(Problem(f"{where}: {msg}" if where else msg, node_id=node_id, edge_id=edge_id))
    return problems


def parse_workflow(data: Any, source: str | None = None) -> Workflow:
    """Build a Workflow from decoded JSON, raising WorkflowValidationError on bad shape."""
    if not isinstance(data, dict):
        raise ImportFormatError(
            f"{source + ': ' if source else ''}expected a JSON object describing a workflow"
        )
    try:
        return Workflow.model_validate(data)
    except ValidationError as exc:
        raise WorkflowValidationError(_pydantic_problems(exc, data), source) from None


def load_workflow_json(text: str | bytes, source: str | None = None) -> Workflow:
    """Parse workflow JSON text; a non-JSON file gets an ImportFormatError naming the spot."""
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        where = f"{source}: " if source else ""
        detail = (
            f"line {exc.lineno} column {exc.colno}: {exc.msg}"
            if isinstance(exc, json.JSONDecodeError)
            else "not UTF-8 text"
        )
        raise ImportFormatError(f"{where}not valid JSON ({detail})") from None
    return parse_workflow(data, source)


def workflow_json_schema() -> dict[str, Any]:
    """JSON Schema of the workflow format."""
    return Workflow.model_json_schema()
