"""The workflow definition: pydantic v2 models saved as JSON (a discriminated union on `type`)."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from engine.errors import ImportFormatError, Problem, WorkflowValidationError
from engine.json_guard import JsonTooComplexError, decode, has_surrogates, value_problems
from engine.limits import (
    MAX_EDGES,
    MAX_FILE_BYTES,
    MAX_ITEMS,
    MAX_NAME_CHARS,
    MAX_NODES,
    MAX_PROMPT_CHARS,
    MAX_TEXT_CHARS,
    count,
)

SCHEMA_VERSION = 2

FieldType = Literal["text", "long_text", "choice", "number", "email"]
OutputKind = Literal["text", "classification", "json"]
Outcome = Literal["approved", "rejected", "changes_requested"]
OUTCOMES: tuple[str, ...] = ("approved", "rejected", "changes_requested")
DEFAULT_CASE = "default"


def _not_blank(text: str) -> str:
    if not text.strip():
        raise ValueError("must not be empty")
    return text


Name = Annotated[str, Field(max_length=MAX_NAME_CHARS)]
"""A short name: a title, label, section, option, case or reference to a user or value."""
Id = Annotated[str, Field(max_length=MAX_NAME_CHARS), AfterValidator(_not_blank)]
"""An id that other parts of the workflow refer to."""
Prompt = Annotated[str, Field(max_length=MAX_PROMPT_CHARS)]
"""A prompt template (instruction, system prompt, reviewer instructions)."""
Names = Annotated[list[Name], Field(max_length=MAX_ITEMS)]
"""A list of short names."""


class _Strict(BaseModel):
    # finite numbers only (JSON has no NaN), and no text longer than a stated limit
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, str_max_length=MAX_TEXT_CHARS)


class Position(_Strict):
    """Where a node sits on the canvas."""

    x: float = 0.0
    """Horizontal canvas coordinate in pixels."""
    y: float = 0.0
    """Vertical canvas coordinate in pixels."""

    @field_validator("x", "y", mode="before")
    @classmethod
    def _missing_is_origin(cls, value: Any) -> Any:
        """A null coordinate (stored by versions that let NaN through) reads as 0."""
        return 0.0 if value is None else value


class FormField(_Strict):
    """One input of the trigger form."""

    name: Name
    """Identifier used in `{{ placeholders }}` and stored values."""
    label: Name = ""
    """What the requester sees next to the input."""
    type: FieldType = "text"
    """Input kind: text, long_text, choice, number or email."""
    required: bool = False
    """Whether the form refuses an empty value."""
    options: Names = Field(default_factory=list)
    """Allowed values of a choice field."""
    default: str | float | None = None
    """A real default, set on purpose by the designer: prefilled in the form and used when the input
    is left out (by the form, the API, the CLI)."""
    example: str | float | None = None
    """Sample data for demos: prefilled when a template is tried as it is, shown as the field's
    placeholder otherwise; never used to fill a blank."""
    help: str = ""
    """Hint shown under the input."""


class JsonOutputField(_Strict):
    """One named field of an AI step's JSON output."""

    name: Name
    """Key in the answer object."""
    type: Literal["string", "number", "boolean"] = "string"
    """JSON type the value must have."""
    description: str = ""
    """What the model should put there."""


class _NodeBase(_Strict):
    id: Id
    """Unique id of the node within the workflow."""
    title: Name = ""
    """Short name shown on the canvas; defaults to the kind."""
    position: Position = Field(default_factory=Position)
    """Canvas position."""


class FormTriggerNode(_NodeBase):
    """The single entry point: a form submission creates the task and starts a run."""

    type: Literal["form_trigger"] = "form_trigger"
    fields: list[FormField] = Field(default_factory=list, max_length=MAX_ITEMS)
    """The form's inputs, in order."""
    title_field: Name | None = None
    """Which field becomes the task title on the board."""


class AIStepNode(_NodeBase):
    """Ask a model and store its answer under `output_name`."""

    type: Literal["ai_step"] = "ai_step"
    instruction: Prompt = ""
    """Prompt with `{{ placeholders }}` for form fields and earlier outputs."""
    system_prompt: Prompt = ""
    """Optional system message."""
    model: Name | None = None
    """Model name; empty uses the workflow default."""
    reasoning: bool | None = None
    """Whether `model` (or the default it uses) is a reasoning model, sent `max_completion_tokens`
    and no temperature; None: known names (o1, o3, o4-mini, gpt-5…) are recognised. Set it for a
    gateway alias or an Azure deployment name."""
    temperature: float = Field(default=0.7, ge=0.0, le=2.0)
    """Sampling temperature."""
    max_tokens: int | None = Field(default=None, gt=0, le=1_000_000)
    """Cap on the answer's length in tokens."""
    output_name: Name = "output"
    """Name the answer is stored under for later steps."""
    output_label: Name = ""
    """What people call the answer ("Headline"); empty: its name in words (`key_message` → "Key
    message")."""
    output_kind: OutputKind = "text"
    """text, classification (one label of `labels`), or json (named `json_fields`)."""
    labels: Names = Field(default_factory=list)
    """Allowed labels of a classification."""
    json_fields: list[JsonOutputField] = Field(default_factory=list, max_length=MAX_ITEMS)
    """Fields of a JSON answer."""


class KeyValue(_Strict):
    """One row of a table of names and values: a header, or a key of a JSON body."""

    key: Name
    """The header's name, or the key in the body."""
    value: Prompt = ""
    """Text with `{{ placeholders }}`; exactly `{{ name }}` sends the value as it is (a number stays
    a number)."""


class ResponsePick(_Strict):
    """A field of a JSON answer kept as a value for later steps."""

    name: Name
    """The value it becomes."""
    path: Name
    """Where it is in the answer, keys and list positions joined by dots: `id`, `data.items.0.url`."""


HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]


class HttpRequestNode(_NodeBase):
    """Call an HTTP endpoint (through a named connection) and keep parts of its answer."""

    type: Literal["http_request"] = "http_request"
    connection: Name = ""
    """The `http` connection that gives the base URL and the secret headers; empty: the URL is whole."""
    method: HttpMethod = "POST"
    url: Prompt = ""
    """A path under the connection's base URL, or a whole http(s) URL; may use `{{ placeholders }}`."""
    headers: list[KeyValue] = Field(default_factory=list, max_length=MAX_ITEMS)
    """Headers besides the connection's."""
    body: list[KeyValue] = Field(default_factory=list, max_length=MAX_ITEMS)
    """The JSON body, key by key."""
    raw_body: Prompt = ""
    """For experts: the body as text, sent instead of `body` when set."""
    status_name: Name = ""
    """The value that gets the answer's status code (e.g. 201); empty: none."""
    picks: list[ResponsePick] = Field(default_factory=list, max_length=MAX_ITEMS)
    """Fields of the JSON answer kept as values."""
    timeout_seconds: float = Field(default=30.0, ge=1.0, le=300.0)
    """The longest one call may take, whatever the server does."""


class MoveToSectionNode(_NodeBase):
    """Move the task to a board section."""

    type: Literal["move_to_section"] = "move_to_section"
    section: Name = ""
    """One of the workflow's sections."""


EscalationAction = Literal["remind", "reassign", "approve", "reject"]
ESCALATION_VERBS: dict[str, str] = {
    "remind": "reminds",
    "reassign": "hands it to",
    "approve": "approves it",
    "reject": "rejects it",
}
"""How a step of an escalation chain reads before it happens ("reminds Jamie in 3 h")."""


class EscalationStep(_Strict):
    """One step of an approval's escalation chain, taken if nobody has decided by then."""

    after_hours: float = Field(gt=0, le=24 * 365 * 10)
    """Hours after the checkpoint opened (business hours when the workflow sets them)."""
    action: EscalationAction
    """remind the assignee again, reassign to `to`, or approve / reject as Loopdesk."""
    to: Name | None = None
    """Who receives the checkpoint (reassign only): a user or a group."""


class Quorum(_Strict):
    """How many members of a group assignee must approve."""

    mode: Literal["any", "all", "count"] = "any"
    """any: the first approval decides; all: every member; count: `count` members."""
    count: int | None = Field(default=None, ge=1, le=1000)
    """Approvals needed with mode `count`."""


class AutoApproval(_Strict):
    """Auto-approve with spot checks: once the drafts this checkpoint reviews have passed as they are
    often enough, most runs are approved by Loopdesk and a sample still goes to a person."""

    threshold: float = Field(default=0.9, gt=0, le=1)
    """Share of the last `window` reviews that must be approvals as-is before it switches on (0–1)."""
    window: int = Field(default=20, ge=1, le=1000)
    """How many of the latest reviews by people the share is measured over."""
    spot_check_every: int = Field(default=5, ge=2, le=1000)
    """One run in this many still goes to a person while it is on."""
    unusual_below: float = Field(default=0.5, ge=0, le=1)
    """A draft less alike than this (word similarity, 0–1) to every recently approved text goes to a
    person."""


class BusinessHours(_Strict):
    """When escalation and due times count: hours outside these are skipped."""

    days: Name = "mon-fri"
    """Working days: ranges and lists of mon…sun, e.g. `mon-fri` or `mon-thu,sat`."""
    start: Name = "09:00"
    """When the working day starts (24-hour HH:MM, local time)."""
    end: Name = "17:00"
    """When the working day ends (HH:MM, after `start`)."""
    timezone: Name = "UTC"
    """IANA time zone of the hours, e.g. Europe/Berlin."""


class ApprovalNode(_NodeBase):
    """Pause the run until the assignee approves, rejects or requests changes."""

    type: Literal["approval"] = "approval"
    assignee: Name = ""
    """User name or group name (prefix `group:` optional) who decides."""
    instructions: Prompt = ""
    """What the reviewer should check."""
    visible_values: Names = Field(default_factory=list)
    """Values shown to the reviewer (empty: all values)."""
    editable_values: Names = Field(default_factory=list)
    """Values the reviewer may edit before approving."""
    due_hours: float | None = Field(default=None, gt=0, le=24 * 365 * 10)
    """Hours until the checkpoint is overdue."""
    on_timeout: Literal["none", "approve", "reject", "reassign"] = "none"
    """What happens once the due time passes."""
    timeout_assignee: Name | None = None
    """Who receives the checkpoint when `on_timeout` is reassign."""
    reassign_to: Names = Field(default_factory=list)
    """Users and groups a reviewer may hand the checkpoint to, never themselves (empty: only admins and
    the escalation chain reassign it); on a quorum a reassignment replaces one member by another."""
    escalation: list[EscalationStep] = Field(default_factory=list, max_length=MAX_ITEMS)
    """Reminders and escalations in time order, taken while nobody decides; the due-time action
    (`due_hours` / `on_timeout`) is the chain's last step."""
    quorum: Quorum = Field(default_factory=Quorum)
    """How many members of a group assignee must approve (one rejection or send-back decides)."""
    allow_self_approval: bool = False
    """Whether the person who started the run may decide it (admins may override with a reason)."""
    auto_approval: AutoApproval | None = None
    """Opt-in: auto-approve with spot checks once the drafts have earned it (None: a person decides
    every run)."""


class BranchNode(_NodeBase):
    """Route on a value: each outgoing edge carries a case, or `default`."""

    type: Literal["branch"] = "branch"
    value: Name = ""
    """Name of the value to route on (a form field or an earlier output)."""
    cases: Names = Field(default_factory=list)
    """Values that have their own path; a case like `> 100` or `<= 5` compares numbers."""


class EndNode(_NodeBase):
    """Finish the run with an outcome label."""

    type: Literal["end"] = "end"
    outcome: Name = "Done"
    """Label recorded as the run's outcome."""
    status: Literal["completed", "rejected"] = "completed"
    """How the run finishes: `rejected` for the end of a rejection path."""
    result: Names = Field(default_factory=list)
    """Values the run delivers when it ends here: shown with its outcome on the run's page, in the
    requester's email and in the `run.completed` webhook."""


Node = Annotated[
    FormTriggerNode | AIStepNode | MoveToSectionNode | ApprovalNode | BranchNode | HttpRequestNode | EndNode,
    Field(discriminator="type"),
]
NodeKind = Literal["form_trigger", "ai_step", "move_to_section", "approval", "branch", "http_request", "end"]
NODE_KINDS: tuple[str, ...] = get_args(NodeKind)
"""The `type` of every node kind (what each one is and does: `engine.kinds`)."""


class Edge(_Strict):
    """A connection; edges out of approvals carry an outcome, out of branches a case."""

    id: Id
    """Unique id of the edge."""
    source: Name
    """Id of the node the edge leaves."""
    target: Name
    """Id of the node the edge enters."""
    label: Name | None = None
    """Outcome (approval), case or `default` (branch); empty elsewhere."""


class Access(_Strict):
    """Who may change a workflow, start it and see its runs; admins always may."""

    editors: Names = Field(default_factory=list)
    """Users and groups (`group:NAME`) who may change it; they need the designer role.
    Empty: every designer."""
    starters: Names = Field(default_factory=list)
    """Users and groups who may start runs; they need the requester role. Empty: every requester."""
    viewers: Names = Field(default_factory=list)
    """Users and groups who see every run of it (Runs, Board, Insights). Its editors always do;
    everyone sees the runs they started or were asked to review."""


class Workflow(_Strict):
    """A whole workflow design as saved, versioned and run."""

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        """Read an older format: schema version 1 kept the templates' sample data as `default`."""
        if isinstance(data, dict) and isinstance(data.get("nodes"), list):
            version = data.get("schema_version", 1)
            if isinstance(version, int) and not isinstance(version, bool) and version < 2:
                from engine.samples import examples_from_defaults

                data = {**examples_from_defaults(data), "schema_version": 2}
        return data

    schema_version: int = Field(default=SCHEMA_VERSION, ge=1, le=1000)
    """Version of this JSON format."""
    id: Id
    """Stable id across versions (a slug)."""
    name: Name
    """Name shown in lists."""
    description: str = ""
    """What the workflow is for."""
    sections: Names = Field(default_factory=list)
    """Board sections in order."""
    nodes: list[Node] = Field(default_factory=list, max_length=MAX_NODES)
    """Steps with their settings and canvas positions."""
    edges: list[Edge] = Field(default_factory=list, max_length=MAX_EDGES)
    """Connections between steps."""
    max_revisions: int = Field(default=3, ge=1, le=50)
    """How many times a checkpoint may send the task back before it must be decided."""
    default_model: Name = ""
    """Model used by AI steps that name none; empty: the app's default model (`LOOPDESK_MODEL`, or
    the setting an admin chose)."""
    default_reasoning: bool | None = None
    """Whether the default model is a reasoning model (None: recognised by its name)."""
    allow_cut_off: bool = False
    """Whether a text answer cut off by its token limit goes on to review (with a warning) instead
    of failing the step."""
    access: Access = Field(default_factory=Access)
    """Who may edit it, start it and see its runs."""
    business_hours: BusinessHours | None = None
    """When set, approvals' due times and escalation steps count only these hours."""

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


def _locate(loc: list[Any], data: Any) -> tuple[str | None, str | None, list[Any]]:
    """(node id, edge id, rest of the path) for a path into a workflow document."""
    if len(loc) >= 2 and loc[0] in ("nodes", "edges") and isinstance(loc[1], int):
        try:
            item = data[loc[0]][loc[1]]
            ident = item.get("id") if isinstance(item, dict) else None
        except (KeyError, IndexError, TypeError):
            ident = None
        # an id that is empty, not text or unreadable names the item by its position instead
        if (
            not isinstance(ident, str)
            or not ident.strip()
            or len(ident) > MAX_NAME_CHARS
            or has_surrogates(ident)
        ):
            ident = f"#{loc[1] + 1}"
        rest = loc[2:]
        # drop the union tag pydantic inserts for discriminated unions
        if rest and isinstance(rest[0], str) and rest[0] in NODE_KINDS:
            rest = rest[1:]
        return (ident, None, rest) if loc[0] == "nodes" else (None, ident, rest)
    return None, None, loc


def _problem(loc: list[Any], message: str, data: Any) -> Problem:
    node_id, edge_id, rest = _locate(loc, data)
    where = ".".join(str(p) for p in rest)
    return Problem(f"{where}: {message}" if where else message, node_id=node_id, edge_id=edge_id)


def _pydantic_problems(exc: ValidationError, data: Any) -> list[Problem]:
    """Turn pydantic errors into problems that name the node where possible."""
    problems: list[Problem] = []
    for err in exc.errors():
        msg = err["msg"]
        if err["type"] == "union_tag_invalid":
            msg = f"unknown step type (expected one of {', '.join(NODE_KINDS)})"
        elif err["type"] == "extra_forbidden":
            msg = "unknown setting"
        elif err["type"] == "value_error":
            msg = msg.removeprefix("Value error, ")
        problems.append(_problem(list(err["loc"]), msg, data))
    return problems


def _size_problems(data: dict[str, Any]) -> list[Problem]:
    """Step and connection counts beyond the limits, found before anything is validated one by one."""
    out = []
    for key, limit, noun in (("nodes", MAX_NODES, "step"), ("edges", MAX_EDGES, "connection")):
        items = data.get(key)
        if isinstance(items, list) and len(items) > limit:
            out.append(Problem(f"the workflow has {count(len(items), noun)}; the limit is {limit:,}"))
    return out


def _build(data: dict[str, Any]) -> Workflow | list[Problem]:
    """The workflow, or what makes the document unacceptable (values, sizes, then shape)."""
    problems = [_problem(list(path), message, data) for path, message in value_problems(data)]
    problems += _size_problems(data)
    if problems:
        return problems
    try:
        return Workflow.model_validate(data)
    except ValidationError as exc:
        return _pydantic_problems(exc, data)


def parse_workflow(data: Any, source: str | None = None) -> Workflow:
    """Build a Workflow from decoded JSON, raising WorkflowValidationError on bad shape."""
    if not isinstance(data, dict):
        raise ImportFormatError(
            f"{source + ': ' if source else ''}expected a JSON object describing a workflow"
        )
    built = _build(data)
    if isinstance(built, list):
        raise WorkflowValidationError(built, source)
    return built


def shape_problems(wf: Workflow) -> list[Problem]:
    """What a workflow built or changed in code (not parsed) breaks of the model's own limits."""
    built = _build(wf.model_dump())
    return built if isinstance(built, list) else []


def load_workflow_json(text: str | bytes, source: str | None = None) -> Workflow:
    """Parse workflow JSON text; a file that is too big or not JSON gets an ImportFormatError."""
    where = f"{source}: " if source else ""
    size = len(text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text)
    if size > MAX_FILE_BYTES:
        limit = f"{MAX_FILE_BYTES / 1e6:g} MB"
        raise ImportFormatError(
            f"{where}the file is {size / 1e6:.1f} MB; a workflow file may be at most {limit}"
        )
    try:
        data = decode(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        detail = (
            f"line {exc.lineno} column {exc.colno}: {exc.msg}"
            if isinstance(exc, json.JSONDecodeError)
            else "not UTF-8 text"
        )
        raise ImportFormatError(f"{where}not valid JSON ({detail})") from None
    except JsonTooComplexError as exc:
        raise ImportFormatError(f"{where}not a workflow: {exc}") from None
    return parse_workflow(data, source)


def workflow_json_schema() -> dict[str, Any]:
    """JSON Schema of the workflow format."""
    return Workflow.model_json_schema()
