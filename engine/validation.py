"""Graph checks beyond field types; every problem names the node or edge and what to do."""

from __future__ import annotations

import re
from collections.abc import Iterable

from engine.business_hours import problems as business_hours_problems
from engine.errors import Problem, WorkflowValidationError
from engine.forms import coerce_field
from engine.limits import RENDER_CHARS, RENDER_SECONDS
from engine.model import (
    DEFAULT_CASE,
    OUTCOMES,
    AIStepNode,
    ApprovalNode,
    BranchNode,
    EndNode,
    FormTriggerNode,
    MoveToSectionNode,
    Node,
    Workflow,
    shape_problems,
)
from engine.policies import chain, chain_problems
from engine.templating import PlaceholderSyntaxError, loop_warnings, placeholders

BUILTIN_VALUES: frozenset[str] = frozenset({"feedback"})
"""Values every step may use: `feedback` is the last reviewer note ('' until one is given)."""
RESERVED_NAMES: frozenset[str] = BUILTIN_VALUES | {
    "self", "loop", "range", "dict", "lipsum", "cycler", "joiner", "namespace", "caller",
    "varargs", "kwargs", "true", "false", "none", "True", "False", "None",
}  # fmt: skip
"""Names a form field or output may not take (the prompt language uses them)."""

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def validate_workflow(wf: Workflow) -> list[Problem]:
    """Return every problem in the workflow (empty when it is valid)."""
    problems = shape_problems(wf)  # sizes and values, for workflows changed in place by the Designer
    if problems:
        return problems
    problems += _check_ids(wf)
    nodes = wf.node_map()
    triggers = [n for n in wf.nodes if isinstance(n, FormTriggerNode)]
    if not triggers:
        problems.append(Problem("the workflow needs a Form trigger to start it"))
    elif len(triggers) > 1:
        for extra in triggers[1:]:
            problems.append(Problem("only one Form trigger is allowed; delete this one", node_id=extra.id))
    problems += _check_sections(wf)
    problems += _check_edges(wf, nodes)
    for node in wf.nodes:
        problems += _check_node(wf, node)
        problems += _check_exits(wf, node)
    if triggers:
        problems += _check_reachable(wf, triggers[0])
        problems += _check_loops(wf, nodes)
        problems += _check_values(wf, triggers[0])
    return problems


def workflow_warnings(wf: Workflow) -> list[Problem]:
    """What may fail at run time though the workflow is valid: prompt loops that cannot be bounded
    (the render budget stops them, failing the step)."""
    out: list[Problem] = []
    for node in wf.nodes:
        texts: list[tuple[str, str]] = []
        if isinstance(node, AIStepNode):
            texts = [("the instruction", node.instruction), ("the system prompt", node.system_prompt)]
        elif isinstance(node, ApprovalNode):
            texts = [("the reviewer instructions", node.instructions)]
        for label, text in texts:
            for reason in loop_warnings(text):
                out.append(
                    Problem(
                        f"{label} has {reason}; if it runs longer than {RENDER_SECONDS:g} s or writes "
                        f"more than {RENDER_CHARS:,} characters, the step fails",
                        node_id=node.id,
                    )
                )
    return out


def _policy_problems(wf: Workflow, node: ApprovalNode) -> list[str]:
    """What is wrong with an approval's escalation chain, quorum and the business hours it counts in."""
    out = chain_problems(node)
    q = node.quorum
    if q.mode == "count" and q.count is None:
        out.append("quorum `count`: say how many approvals are needed")
    if q.mode != "count" and q.count is not None:
        out.append(f"quorum `{q.mode}` does not use a count; choose mode `count` or clear the count")
    if q.mode != "any" and node.editable_values:
        out.append(
            "when several reviewers must approve, none of them may edit the values (their edits would "
            "differ); clear the editable values or use quorum `any`"
        )
    if wf.business_hours is not None and (chain(node) or node.due_hours is not None):
        out += [f"business hours: {p}" for p in business_hours_problems(wf.business_hours)]
    return out


def ensure_valid(wf: Workflow, source: str | None = None) -> Workflow:
    """Raise WorkflowValidationError listing every problem, else return the workflow."""
    problems = validate_workflow(wf)
    if problems:
        raise WorkflowValidationError(problems, source)
    return wf


def _dupes(items: Iterable[str]) -> set[str]:
    seen: set[str] = set()
    dupes: set[str] = set()
    for item in items:
        (dupes if item in seen else seen).add(item)
    return dupes


def _check_ids(wf: Workflow) -> list[Problem]:
    out = [
        Problem("two steps share this id; give each step its own id", node_id=d)
        for d in sorted(_dupes(n.id for n in wf.nodes))
    ]
    out += [
        Problem("two connections share this id", edge_id=d) for d in sorted(_dupes(e.id for e in wf.edges))
    ]
    if not wf.id.strip():
        out.append(Problem("the workflow needs an id"))
    if not wf.name.strip():
        out.append(Problem("the workflow needs a name"))
    return out


def _check_sections(wf: Workflow) -> list[Problem]:
    out = [Problem(f"section `{d}` is listed twice") for d in sorted(_dupes(wf.sections))]
    if any(not s.strip() for s in wf.sections):
        out.append(Problem("a section has an empty name"))
    return out


def _check_edges(wf: Workflow, nodes: dict[str, Node]) -> list[Problem]:
    out: list[Problem] = []
    for e in wf.edges:
        if e.source not in nodes:
            out.append(Problem(f"starts at `{e.source}`, which is not a step", edge_id=e.id))
        if e.target not in nodes:
            out.append(Problem(f"points to `{e.target}`, which is not a step", edge_id=e.id))
        elif isinstance(nodes[e.target], FormTriggerNode):
            out.append(Problem("the Form trigger cannot have incoming connections", edge_id=e.id))
        if e.source == e.target:
            out.append(Problem("a step cannot connect to itself", edge_id=e.id))
    return out


def _check_node(wf: Workflow, node: Node) -> list[Problem]:
    out: list[Problem] = []

    def bad(msg: str) -> None:
        out.append(Problem(msg, node_id=node.id))

    if isinstance(node, FormTriggerNode):
        names = [f.name for f in node.fields]
        if not node.fields:
            bad("the form has no fields; add at least one")
        for d in sorted(_dupes(names)):
            bad(f"two form fields are named `{d}`")
        for f in node.fields:
            if not _NAME_RE.match(f.name):
                bad(f"form field `{f.name}` needs a name of letters, digits and _")
            if f.name in RESERVED_NAMES:
                bad(f"form field `{f.name}` uses a reserved name; rename it")
            if f.type == "choice" and not f.options:
                bad(f"choice field `{f.name}` has no options")
            if f.default not in (None, ""):
                try:
                    coerce_field(f, f.default)
                except ValueError as exc:
                    bad(f"the default of `{f.name}` is not valid: {exc}")
        if node.title_field and node.title_field not in names:
            bad(f"task title field `{node.title_field}` is not a form field")
    elif isinstance(node, AIStepNode):
        if not node.instruction.strip():
            bad("the AI step has no instruction; write what the model should do")
        if not _NAME_RE.match(node.output_name):
            bad(f"output name `{node.output_name}` must be letters, digits and _")
        if node.output_name in RESERVED_NAMES:
            bad(f"output name `{node.output_name}` is reserved; choose another")
        if node.output_kind == "classification" and len(node.labels) < 2:
            bad("a classification needs at least two labels")
        if node.output_kind == "json" and not node.json_fields:
            bad("a JSON output needs at least one field")
        for d in sorted(_dupes(f.name for f in node.json_fields)):
            bad(f"two JSON output fields are named `{d}`")
    elif isinstance(node, MoveToSectionNode):
        if not node.section:
            bad("choose the section to move the task to")
        elif node.section not in wf.sections:
            bad(
                f"section `{node.section}` is not one of the workflow's sections "
                f"({', '.join(wf.sections) or 'none declared'})"
            )
    elif isinstance(node, ApprovalNode):
        if not node.assignee.strip():
            bad("choose who approves (a user or a group)")
        if node.on_timeout != "none" and node.due_hours is None:
            bad("set a due time, or choose 'nothing' for what happens when it passes")
        if node.on_timeout == "reassign" and not (node.timeout_assignee or "").strip():
            bad("choose who receives the checkpoint when the due time passes")
        for name in node.editable_values:
            if node.visible_values and name not in node.visible_values:
                bad(f"editable value `{name}` must also be visible to the reviewer")
        for problem in _policy_problems(wf, node):
            bad(problem)
    elif isinstance(node, BranchNode):
        if not node.value.strip():
            bad("choose the value the branch routes on")
        if not node.cases:
            bad("add at least one case")
        for d in sorted(_dupes(node.cases)):
            bad(f"case `{d}` is listed twice")
    return out


def _check_exits(wf: Workflow, node: Node) -> list[Problem]:
    out: list[Problem] = []
    edges = wf.outgoing(node.id)

    def bad(msg: str) -> None:
        out.append(Problem(msg, node_id=node.id))

    if isinstance(node, EndNode):
        if edges:
            bad("an End step cannot have outgoing connections")
        return out
    if not edges:
        bad("has no way forward; connect it to the next step (or an End)")
        return out
    labels = [e.label for e in edges]
    if isinstance(node, ApprovalNode):
        for e in edges:
            if e.label not in OUTCOMES:
                shown = f"`{e.label}`" if e.label else "no outcome"
                out.append(
                    Problem(
                        f"connection from approval `{node.id}` has {shown}; choose "
                        "approved, rejected or changes_requested",
                        edge_id=e.id,
                    )
                )
        for d in sorted(_dupes(str(lbl) for lbl in labels if lbl)):
            bad(f"has two `{d}` connections; keep one")
        if "approved" not in labels:
            bad("has no `approved` connection; connect where the task goes when approved")
    elif isinstance(node, BranchNode):
        allowed = set(node.cases) | {DEFAULT_CASE}
        for e in edges:
            if e.label not in allowed:
                shown = f"`{e.label}`" if e.label else "no case"
                out.append(
                    Problem(
                        f"connection from branch `{node.id}` has {shown}; choose one of "
                        f"{', '.join(sorted(allowed))}",
                        edge_id=e.id,
                    )
                )
        for d in sorted(_dupes(str(lbl) for lbl in labels if lbl)):
            bad(f"has two `{d}` connections; keep one")
        if DEFAULT_CASE not in labels:
            missing = [c for c in node.cases if c not in labels]
            possible = _possible_values(wf, node.value)
            if missing:
                bad(
                    f"case(s) {', '.join(missing)} have no connection and there is no "
                    "`default`; connect them or add a default"
                )
            elif possible is None:
                bad(f"`{node.value}` can take values no case lists; add a `default` connection for them")
            elif uncovered := [v for v in possible if v not in node.cases]:
                bad(
                    f"`{node.value}` can also be {', '.join(uncovered)}, which no case covers; "
                    "add those cases or a `default` connection"
                )
    else:
        if len(edges) > 1:
            bad(
                f"has {len(edges)} outgoing connections; only approvals and branches may "
                "split, so delete the extra ones"
            )
        for e in edges:
            if e.label:
                out.append(
                    Problem(
                        f"carries the label `{e.label}`, but only connections leaving an approval "
                        "or a branch have outcomes or cases; clear it",
                        edge_id=e.id,
                    )
                )
    return out


def _possible_values(wf: Workflow, name: str) -> list[str] | None:
    """Every value a branch input can take when that set is closed (choice, classification)."""
    for n in wf.nodes:
        if isinstance(n, FormTriggerNode):
            for f in n.fields:
                if f.name == name and f.type == "choice":
                    return list(f.options)
        if isinstance(n, AIStepNode) and n.output_name == name and n.output_kind == "classification":
            return list(n.labels)
    return None


def _check_reachable(wf: Workflow, trigger: FormTriggerNode) -> list[Problem]:
    seen = _reachable(wf, [trigger.id])
    return [
        Problem("cannot be reached from the Form trigger; connect it or delete it", node_id=n.id)
        for n in wf.nodes
        if n.id not in seen
    ]


def forward_edges(wf: Workflow, nodes: dict[str, Node]) -> dict[str, list[str]]:
    """Node id → targets, leaving out revision (`changes_requested`) connections and dangling ones
    (`nodes`: the workflow's node map)."""
    forward: dict[str, list[str]] = {n: [] for n in nodes}
    for e in wf.edges:
        if e.source not in nodes or e.target not in nodes:
            continue
        revision = e.label == "changes_requested" and isinstance(nodes[e.source], ApprovalNode)
        if not revision:
            forward[e.source].append(e.target)
    return forward


def _check_loops(wf: Workflow, nodes: dict[str, Node]) -> list[Problem]:
    """Loops are allowed only through `changes_requested` edges (revision loops).

    An iterative depth-first search: a chain of any length cannot exhaust the stack.
    """
    forward = forward_edges(wf, nodes)
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    problems: list[Problem] = []
    for root in nodes:
        if root in state:
            continue
        path = [root]
        state[root] = 1
        stack = [iter(forward[root])]
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                stack.pop()
                state[path.pop()] = 2
            elif state.get(nxt) == 1:
                cycle = [*path[path.index(nxt) :], nxt]
                problems.append(
                    Problem(
                        "is part of a loop that does not go through a `changes_requested` "
                        f"connection ({' → '.join(cycle)}); only revision loops may go back",
                        node_id=nxt,
                    )
                )
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(forward[nxt]))
    return problems


def produced_values(node: Node) -> set[str]:
    """Values a node adds for later steps."""
    if isinstance(node, FormTriggerNode):
        return {f.name for f in node.fields}
    if isinstance(node, AIStepNode):
        return {node.output_name}
    return set()


def _flow_order(wf: Workflow, nodes: dict[str, Node], starts: list[str]) -> list[str]:
    """Every node, those reachable from `starts` first in the order the flow visits them
    (reverse post-order over forward connections), so one pass of a data-flow analysis
    sees each step after the steps that lead to it."""
    forward = forward_edges(wf, nodes)
    seen: set[str] = set()
    post: list[str] = []
    for root in [*starts, *nodes]:
        if root in seen or root not in nodes:
            continue
        seen.add(root)
        stack = [(root, iter(forward[root]))]
        while stack:
            nid, children = stack[-1]
            nxt = next(children, None)
            if nxt is None:
                stack.pop()
                post.append(nid)
            elif nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, iter(forward[nxt])))
    return post[::-1]


def available_values(wf: Workflow) -> dict[str, set[str]]:
    """For each node, the values set on every path from the trigger to it."""
    nodes = wf.node_map()
    produced = {nid: produced_values(n) for nid, n in nodes.items()}
    universe = set(BUILTIN_VALUES).union(*produced.values())
    preds: dict[str, list[str]] = {n: [] for n in nodes}
    for e in wf.edges:
        if e.source in nodes and e.target in nodes:
            preds[e.target].append(e.source)
    triggers = [n.id for n in wf.nodes if isinstance(n, FormTriggerNode)]
    avail_in: dict[str, set[str]] = {n: set(universe) for n in nodes}
    for t in triggers:
        avail_in[t] = set(BUILTIN_VALUES)
    order = _flow_order(wf, nodes, triggers)
    changed = True
    while changed:  # one pass in flow order settles everything but revision loops
        changed = False
        for nid in order:
            if nid in triggers or not preds[nid]:
                continue
            new = set(universe)
            for p in preds[nid]:
                new &= avail_in[p] | produced[p]
            if new != avail_in[nid]:
                avail_in[nid] = new
                changed = True
    # a step not yet connected to the form can count on nothing but the form's fields
    reachable = _reachable(wf, triggers)
    first = produced[triggers[0]] if triggers else set()
    for nid in nodes:
        if nid not in reachable:
            avail_in[nid] = set(BUILTIN_VALUES) | first
    return avail_in


def _reachable(wf: Workflow, starts: list[str]) -> set[str]:
    """Ids of the nodes reachable from `starts`."""
    targets: dict[str, list[str]] = {}
    for e in wf.edges:
        targets.setdefault(e.source, []).append(e.target)
    seen = set(starts)
    stack = list(starts)
    while stack:
        for nxt in targets.get(stack.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def _check_values(wf: Workflow, trigger: FormTriggerNode) -> list[Problem]:
    avail = available_values(wf)
    everything = set(BUILTIN_VALUES)
    for n in wf.nodes:
        everything |= produced_values(n)
    out: list[Problem] = []

    reachable = _reachable(wf, [trigger.id])

    def need(node: Node, names: Iterable[str], where: str) -> None:
        if node.id not in reachable:
            return  # already reported as unreachable; its values are judged once connected
        for name in sorted(set(names)):
            if name in avail.get(node.id, set()):
                continue
            if name not in everything:
                msg = f"{where} uses `{name}`, which is not a form field or an AI step's output"
            else:
                msg = (
                    f"{where} uses `{name}`, which is not set on every path to this step; "
                    "move the step after the one that produces it"
                )
            out.append(Problem(msg, node_id=node.id))

    for node in wf.nodes:
        if isinstance(node, AIStepNode):
            for label, text in (
                ("the instruction", node.instruction),
                ("the system prompt", node.system_prompt),
            ):
                try:
                    need(node, placeholders(text), label)
                except PlaceholderSyntaxError as exc:
                    out.append(Problem(f"{label} has a placeholder error ({exc})", node_id=node.id))
        elif isinstance(node, ApprovalNode):
            try:
                need(node, placeholders(node.instructions), "the instructions")
            except PlaceholderSyntaxError as exc:
                out.append(Problem(f"the instructions have a placeholder error ({exc})", node_id=node.id))
            need(node, node.visible_values, "the reviewer's view")
            need(node, node.editable_values, "the editable values")
        elif isinstance(node, BranchNode) and node.value.strip():
            need(node, [node.value], "the branch")
    return out
