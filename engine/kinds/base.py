"""What a node kind declares about itself, and the rules several kinds share.

A kind's home (`engine/kinds/<kind>.py`) fills in one `Kind`: its label, its look on the canvas, the
one-line summary of its settings, its exits, the settings of a new step, the checks of its settings
and exits, the values it makes and reads, and the handler that runs it. Everything generic (the
runner, validation, the canvas, the palette, wiring, undo) reads these instead of asking which kind
a node is. The inspector form, the one part drawn with Streamlit, is declared next to the others in
`ui/inspector.FORMS` (the engine knows nothing of Streamlit); a test holds both lists equal.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from engine.errors import Problem
from engine.model import Edge, Node, Workflow, _NodeBase
from engine.steps.base import StepHandler
from engine.templating import drop_placeholder, rename_placeholder

N = TypeVar("N", bound=_NodeBase)
AssigneeLabel = Callable[[str], str]
"""How a person or group is named (`group:marketing` → `marketing (group)`)."""

BUILTIN_VALUES: frozenset[str] = frozenset({"feedback"})
"""Values every step may use: `feedback` is the last reviewer note ('' until one is given)."""
RESERVED_NAMES: frozenset[str] = BUILTIN_VALUES | {
    "self", "loop", "range", "dict", "lipsum", "cycler", "joiner", "namespace", "caller",
    "varargs", "kwargs", "true", "false", "none", "True", "False", "None",
}  # fmt: skip
"""Names a form field or output may not take (the prompt language uses them)."""
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
"""What a value name (form field, output) looks like."""


@dataclass(frozen=True)
class Look:
    """How a kind looks: the glyph and colours of its canvas card, the icon of its palette button."""

    icon: str
    background: str
    border: str
    palette_icon: str = ":material/add:"
    palette_label: str = ""
    """A shorter name for its palette button, so the palette stays one row on a laptop; "": the label."""


def _no_values(node: Any) -> Any:
    return {}


def _no_texts(node: Any) -> list[tuple[str, str]]:
    return []


def _no_refs(node: Any) -> list[tuple[str, list[str]]]:
    return []


def _no_settings(wf: Workflow, node_id: str) -> dict[str, Any]:
    return {}


def _one_way_on(node: Any) -> list[str | None]:
    return [None]


def _no_problems(wf: Workflow, node: Any) -> list[str]:
    return []


def _reads_some(node: Any) -> bool:
    return False


def _same_node(node: N, old: str, new: str | None) -> N:
    return node


def _stays(wf: Workflow, node: Any) -> Workflow:
    return wf


@dataclass(frozen=True)
class Kind(Generic[N]):
    """Everything the app knows about one node kind (the `type` of its nodes)."""

    type: str
    label: str
    """Its name in the palette, the inspector and lists ("Approval")."""
    node_class: builtins.type[N]
    look: Look
    handler: StepHandler
    """Runs a node of this kind (engine/runner)."""
    summary: Callable[[N, AssigneeLabel], list[str]]
    """The parts of the node's one-line summary after the kind's label ("Jamie", "due 48 h")."""
    check: Callable[[Workflow, N], list[str]] = _no_problems
    """What is wrong with the node's own settings, in a designer's words."""
    exit_labels: Callable[[N], list[str | None]] = _one_way_on
    """The labels of its ways on: `[None]` one plain next step, `[]` none (the run ends here)."""
    exit_name: Callable[[N, str | None], str] = lambda node, label: "Next step"
    """How the Designer names an exit ("Next step", "If approved", "Otherwise")."""
    exit_word: str = "Label"
    """What its connections' labels are called in the inspector ("Outcome", "Case")."""
    check_exits: Callable[[Workflow, N, list[Edge]], list[Problem]] | None = None
    """Checks of its outgoing connections (when it has some); None: the plain one-way-on rule."""
    new_settings: Callable[[Workflow, str], dict[str, Any]] = _no_settings
    """Settings of a new step of this kind (beyond id, title and position) in a workflow."""
    in_palette: bool = True
    """Whether people add it from the palette (the form trigger comes with every workflow)."""
    calls_out: bool = False
    """Whether running it calls a service outside (a model, a mail server, an HTTP API): what went
    before is written first, and a result it got is kept for the database, never asked for again."""
    acts: bool = False
    """Whether it changes something outside (sends mail, calls an API): before its call a "calling"
    record with the call's idempotency key is written, so a call interrupted by a crash is made again
    with the same key, and a finished one is never made again."""
    asks_ai: bool = False
    """Whether it asks a model: it gets the app's default model and a reviewer's revision note, its
    answer is shown growing, and the Designer checks that its answer is used."""
    starts_runs: bool = False
    """The form: where every run starts; nothing leads to it and it cannot be deleted."""
    canvas_role: str = "default"
    """The component's node type: `input` (no handle in), `output` (no handle out) or `default`."""
    produces: Callable[[N], list[str]] = lambda node: []
    """Values it adds for later steps, in the order people see them."""
    closed_values: Callable[[N], dict[str, list[str]]] = _no_values
    """Values it makes that can only take listed options (a choice field, a classification)."""
    prompts: Callable[[N], list[tuple[str, str]]] = _no_texts
    """Its prompt templates as (where, text), e.g. ("the instruction", "Write about {{ topic }}")."""
    value_refs: Callable[[N], list[tuple[str, list[str]]]] = _no_refs
    """Values it reads by name as (where, names), e.g. ("the branch", ["category"])."""
    loop_back: frozenset[str] = field(default_factory=frozenset)
    """Exit labels that may lead back to an earlier step (a revision loop)."""
    reads_all: Callable[[N], bool] = _reads_some
    """Whether it reads every value there is (an approval that lists none shows them all)."""
    swap_value: Callable[[N, str, str | None], N] = _same_node
    """The node with value `old` called `new` wherever it reads or writes it (a rename), or with
    its uses of `old` removed when `new` is None (what it writes stays)."""
    uses_word: str = "uses"
    """How its card says what it reads ("uses Topic", "shows Draft", "delivers Translation")."""
    writes_word: str = "writes"
    """How its card says what it writes ("writes Draft", "asks for Topic, Channel")."""
    placed: Callable[[Workflow, N], Workflow] = _stays
    """The workflow once a new step of this kind has been wired in (an AI step chooses what it
    revises)."""


def dupes(items: Iterable[str]) -> set[str]:
    """Items that occur more than once."""
    seen: set[str] = set()
    twice: set[str] = set()
    for item in items:
        (twice if item in seen else seen).add(item)
    return twice


def plain_exits(wf: Workflow, node: Any, edges: list[Edge]) -> list[Problem]:
    """A step with one way on: at most one connection, carrying no label."""
    out: list[Problem] = []
    if len(edges) > 1:
        out.append(
            Problem(
                f"has {len(edges)} outgoing connections; only approvals and branches may "
                "split, so delete the extra ones",
                node_id=node.id,
            )
        )
    for e in edges:
        if e.label:
            out.append(
                Problem(
                    f"carries the label “{e.label.replace('_', ' ')}”, but only connections leaving an "
                    "approval or a branch have outcomes or cases; clear it",
                    edge_id=e.id,
                )
            )
    return out


def swap_text(text: str, old: str, new: str | None) -> str:
    """A prompt with value `old` renamed to `new`, or its plain placeholders of `old` removed."""
    return drop_placeholder(text, old) if new is None else rename_placeholder(text, old, new)


def swap_names(names: list[str], old: str, new: str | None) -> list[str]:
    """A list of value names with `old` renamed to `new` (kept once), or left out when `new` is None."""
    out = [new if n == old else n for n in names]
    return list(dict.fromkeys(n for n in out if n is not None))


def twice_used(node: Any, edges: list[Edge]) -> list[Problem]:
    """An outcome or case used by two connections of the same step."""
    labels = [str(e.label) for e in edges if e.label]
    name = kind_of(node).exit_name
    return [
        Problem(f"has two “{name(node, d)}” connections; keep one", node_id=node.id)
        for d in sorted(dupes(labels))
    ]


# -- the registry ------------------------------------------------------------------------------------

KINDS: dict[str, Kind[Any]] = {}
"""Every kind by node `type`, in palette order. `engine.kinds` fills it from the kinds' homes, which
import this module and never the package, so the registry's readers and the kinds form no circle."""


def kind_of(node: Node) -> Kind[Any]:
    """The kind of a node."""
    return KINDS[node.type]


def kind_label(kind: str) -> str:
    """The name of a kind ("Approval"); an unknown one (an old step record) as it is stored."""
    known = KINDS.get(kind)
    return known.label if known is not None else kind


def node_title(node: Node) -> str:
    """The node's title, or its kind's name when it has none."""
    return node.title.strip() or kind_label(node.type)


def step_name(wf: Workflow, node: Node) -> str:
    """A step by its title; its id is added only when another step has the same title."""
    title = node_title(node)
    twins = sum(node_title(n) == title for n in wf.nodes)
    return title if twins == 1 else f"{title} ({node.id})"


def unique_title(wf: Workflow, base: str) -> str:
    """`base`, or `base 2`, `base 3`… whichever no step has yet (so steps are told apart by title)."""
    taken = {n.title.strip() for n in wf.nodes}
    if base not in taken:
        return base
    n = 2
    while f"{base} {n}" in taken:
        n += 1
    return f"{base} {n}"


def closed_values(wf: Workflow) -> dict[str, list[str]]:
    """Values that can only take listed options (choice fields, classifications), by name; the first
    step making a name wins."""
    out: dict[str, list[str]] = {}
    for node in wf.nodes:
        for name, options in kind_of(node).closed_values(node).items():
            out.setdefault(name, options)
    return out
