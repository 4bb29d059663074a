"""Auto-arrange: a top-down layered layout of a workflow, computed in Python (deterministic, undoable).

Steps are put in rows by their longest path from the form along forward connections (a “changes
requested” loop back is not a step down), rows are ordered to keep connected steps above each other
(mean position of the steps leading in), and each row is centred under the form.
"""

from __future__ import annotations

from engine.graph import forward_edges
from engine.model import Position, Workflow
from ui.canvas import NODE_WIDTH

ROW_GAP = 120.0
"""Distance between rows (a card is about 60 px tall: room for the edge labels between)."""
COLUMN_GAP = NODE_WIDTH + 50.0
"""Distance between the centres of steps side by side."""


def _forward(wf: Workflow) -> dict[str, list[str]]:
    """Connections that go down the flow: from the forms onwards, depth first, without loops back."""
    nodes = wf.node_map()
    out = forward_edges(wf, nodes)
    forward: dict[str, list[str]] = {n: [] for n in nodes}
    state: dict[str, int] = {}  # 1: on the path being walked, 2: done

    def walk(start: str) -> None:
        stack = [(start, iter(out[start]))]
        state[start] = 1
        while stack:
            nid, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[nid] = 2
                stack.pop()
            elif state.get(child) == 1:
                continue  # a loop back up the path: not a step down
            else:
                forward[nid].append(child)
                if child not in state:
                    state[child] = 1
                    stack.append((child, iter(out[child])))

    starts = [n.id for n in wf.nodes if n.type == "form_trigger"]
    for nid in [*starts, *(n.id for n in wf.nodes)]:
        if nid not in state:
            walk(nid)
    return forward


def layers(wf: Workflow) -> list[list[str]]:
    """Step ids by row, top to bottom, each row ordered left to right."""
    forward = _forward(wf)
    depth: dict[str, int] = {nid: 0 for nid in forward}
    order = _topological(forward)
    for nid in order:
        for child in forward[nid]:
            depth[child] = max(depth[child], depth[nid] + 1)
    rows: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
    position_in_file = {n.id: i for i, n in enumerate(wf.nodes)}
    for nid in sorted(depth, key=position_in_file.__getitem__):
        rows[depth[nid]].append(nid)
    parents: dict[str, list[str]] = {nid: [] for nid in forward}
    for nid, children in forward.items():
        for child in children:
            parents[child].append(nid)
    for r in range(1, len(rows)):
        above = {nid: i for i, nid in enumerate(rows[r - 1])}
        earlier = {nid: i for i, nid in enumerate(rows[r])}

        def centre(nid: str, above: dict[str, int] = above, earlier: dict[str, int] = earlier) -> float:
            places = [above[p] for p in parents[nid] if p in above]
            return sum(places) / len(places) if places else len(above) + earlier[nid]

        rows[r].sort(key=lambda nid, c=centre: (c(nid), earlier[nid]))  # type: ignore[misc]
    return rows


def _topological(forward: dict[str, list[str]]) -> list[str]:
    """The steps so every step comes after the steps leading to it (forward connections only)."""
    incoming = {nid: 0 for nid in forward}
    for children in forward.values():
        for child in children:
            incoming[child] += 1
    ready = [nid for nid, n in incoming.items() if n == 0]
    order: list[str] = []
    while ready:
        nid = ready.pop(0)
        order.append(nid)
        for child in forward[nid]:
            incoming[child] -= 1
            if incoming[child] == 0:
                ready.append(child)
    return order


def arrange(wf: Workflow) -> Workflow:
    """The workflow with every step placed on its row, rows centred under the first step."""
    rows = layers(wf)
    nodes = wf.node_map()
    top = rows[0][0] if rows and rows[0] else None
    centre_x = nodes[top].position.x if top else 0.0
    top_y = min((n.position.y for n in wf.nodes), default=0.0)
    placed: dict[str, Position] = {}
    for r, row in enumerate(rows):
        width = (len(row) - 1) * COLUMN_GAP
        for i, nid in enumerate(row):
            placed[nid] = Position(x=round(centre_x - width / 2 + i * COLUMN_GAP), y=top_y + r * ROW_GAP)
    return wf.model_copy(
        update={"nodes": [n.model_copy(update={"position": placed[n.id]}) for n in wf.nodes]}
    )
