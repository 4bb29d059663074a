"""Graph checks beyond field types; every problem names the node or edge and what to do."""

from __future__ import annotations

from engine.dataflow import available_values, flow_problems
from engine.errors import Problem, WorkflowValidationError
from engine.graph import forward_edges, reachable
from engine.kinds import kind_of, step_name
from engine.kinds.base import dupes, plain_exits
from engine.limits import RENDER_CHARS, RENDER_SECONDS
from engine.model import Node, Workflow, shape_problems
from engine.templating import loop_warnings

__all__ = ["available_values", "ensure_valid", "forward_edges", "validate_workflow", "workflow_warnings"]


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
        problems += flow_problems(wf)
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
    seen = reachable(wf, [trigger.id])
    return [
        Problem("cannot be reached from the Form trigger; connect it or delete it", node_id=n.id)
        for n in wf.nodes
        if n.id not in seen
    ]


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
                cycle = [step_name(wf, nodes[i]) for i in [*path[path.index(nxt) :], nxt]]
                problems.append(
                    Problem(
                        f"is part of a loop ({' → '.join(cycle)}) that goes back without a reviewer "
                        "asking for changes; only an approval's “If changes requested” connection may "
                        "lead back",
                        node_id=nxt,
                    )
                )
            elif nxt not in state:
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(forward[nxt]))
    return problems
