"""Graph checks beyond field types; every problem names the node or edge and what to do."""

from __future__ import annotations

from collections.abc import Iterable

from engine.errors import Problem, WorkflowValidationError
from engine.kinds import kind_of
from engine.kinds.base import BUILTIN_VALUES, dupes, plain_exits
from engine.limits import RENDER_CHARS, RENDER_SECONDS
from engine.model import Node, Workflow, shape_problems
from engine.templating import PlaceholderSyntaxError, loop_warnings, placeholders


def validate_workflow(wf: Workflow) -> list[Problem]:
    """Return every problem in the workflow (empty when it is valid)."""
    problems = shape_problems(wf)  # sizes and values, for workflows changed in place by the Designer
    if problems:
        return problems
    problems += _check_ids(wf)
    nodes = wf.node_map()
    triggers = [n for n in wf.nodes if kind_of(n).starts_runs]
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
        for label, text in kind_of(node).prompts(node):
            for reason in loop_warnings(text):
                out.append(
                    Problem(
                        f"{label} has {reason}; if it runs longer than {RENDER_SECONDS:g} s or writes "
                        f"more than {RENDER_CHARS:,} characters, the step fails",
                        node_id=node.id,
                    )
                )
    return out


def ensure_valid(wf: Workflow, source: str | None = None) -> Workflow:
    """Raise WorkflowValidationError listing every problem, else return the workflow."""
    problems = validate_workflow(wf)
    if problems:
        raise WorkflowValidationError(problems, source)
    return wf


def _check_ids(wf: Workflow) -> list[Problem]:
    out = [
        Problem("two steps share this id; give each step its own id", node_id=d)
        for d in sorted(dupes(n.id for n in wf.nodes))
    ]
    out += [
        Problem("two connections share this id", edge_id=d) for d in sorted(dupes(e.id for e in wf.edges))
    ]
    if not wf.id.strip():
        out.append(Problem("the workflow needs an id"))
    if not wf.name.strip():
        out.append(Problem("the workflow needs a name"))
    return out


def _check_sections(wf: Workflow) -> list[Problem]:
    out = [Problem(f"section `{d}` is listed twice") for d in sorted(dupes(wf.sections))]
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
        elif kind_of(nodes[e.target]).starts_runs:
            out.append(Problem("the Form trigger cannot have incoming connections", edge_id=e.id))
        if e.source == e.target:
            out.append(Problem("a step cannot connect to itself", edge_id=e.id))
    return out


def _check_node(wf: Workflow, node: Node) -> list[Problem]:
    """What is wrong with a step's own settings (its kind says)."""
    return [Problem(msg, node_id=node.id) for msg in kind_of(node).check(wf, node)]


def _check_exits(wf: Workflow, node: Node) -> list[Problem]:
    """A step that leads on has a way forward; its connections follow its kind's rules."""
    kind = kind_of(node)
    edges = wf.outgoing(node.id)
    if not edges and kind.exit_labels(node):
        return [Problem("has no way forward; connect it to the next step (or an End)", node_id=node.id)]
    return (kind.check_exits or plain_exits)(wf, node, edges)


def _check_reachable(wf: Workflow, trigger: Node) -> list[Problem]:
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
        source = nodes[e.source]
        revision = e.label in kind_of(source).loop_back
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
    return kind_of(node).produces(node)


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
    triggers = [n.id for n in wf.nodes if kind_of(n).starts_runs]
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


def _check_values(wf: Workflow, trigger: Node) -> list[Problem]:
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
        kind = kind_of(node)
        for where, text in kind.prompts(node):
            try:
                need(node, placeholders(text), where)
            except PlaceholderSyntaxError as exc:
                out.append(Problem(f"{where} has a placeholder error ({exc})", node_id=node.id))
        for where, names in kind.value_refs(node):
            need(node, names, where)
    return out
