"""The shape of a workflow as a graph: which steps lead where, in what order the flow visits them,
and which steps a run can reach. Pure functions of a Workflow (validation, data flow and the
Designer's layout read them)."""

from __future__ import annotations

from collections import deque

from engine.kinds.base import kind_of
from engine.model import Node, Workflow


def forward_edges(wf: Workflow, nodes: dict[str, Node]) -> dict[str, list[str]]:
    """Node id → targets, leaving out revision (`changes_requested`) connections and dangling ones
    (`nodes`: the workflow's node map)."""
    forward: dict[str, list[str]] = {n: [] for n in nodes}
    for e in wf.edges:
        if e.source not in nodes or e.target not in nodes:
            continue
        if e.label not in kind_of(nodes[e.source]).loop_back:
            forward[e.source].append(e.target)
    return forward


def predecessors(wf: Workflow, nodes: dict[str, Node]) -> dict[str, list[str]]:
    """Node id → the steps with a connection to it (revision connections included)."""
    preds: dict[str, list[str]] = {n: [] for n in nodes}
    for e in wf.edges:
        if e.source in nodes and e.target in nodes:
            preds[e.target].append(e.source)
    return preds


def flow_order(wf: Workflow, nodes: dict[str, Node], starts: list[str]) -> list[str]:
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


def reachable(wf: Workflow, starts: list[str]) -> set[str]:
    """Ids of the nodes reachable from `starts` (over every connection)."""
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


def nearest_first(edges: dict[str, list[str]], start: str) -> list[str]:
    """Ids of the nodes `edges` (node id → next ids) lead to from `start`, nearest first (breadth
    first; `start` itself is left out, even where a loop leads back to it)."""
    seen = {start}
    order: list[str] = []
    queue = deque(edges.get(start, ()))
    while queue:
        nid = queue.popleft()
        if nid in seen:
            continue
        seen.add(nid)
        order.append(nid)
        queue.extend(edges.get(nid, ()))
    return order


def trigger_ids(wf: Workflow) -> list[str]:
    """Ids of the steps where runs start (the form; more than one is a problem validation names)."""
    return [n.id for n in wf.nodes if kind_of(n).starts_runs]
