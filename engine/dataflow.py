"""What flows between the steps of a workflow: the values each step reads and writes (as its kind
declares them), what people call those values, where each one is available, and what is wrong with
a flow (a value read before anything writes it, an answer nothing uses, work a later step throws
away). Also the edits that keep a flow whole: renaming a value everywhere, removing its uses.

Pure functions of a Workflow: validation (so import, CLI and API), the canvas and the inspector all
read the same answers.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from engine.errors import Problem
from engine.graph import flow_order, forward_edges, nearest_first, predecessors, reachable, trigger_ids
from engine.kinds.base import BUILTIN_VALUES, kind_of, step_name
from engine.model import AIStepNode, ApprovalNode, EndNode, FormTriggerNode, Node, Workflow
from engine.templating import PlaceholderSyntaxError, placeholders

FEEDBACK = "feedback"
"""The reviewer's last note (built in: every step may use it)."""
FEEDBACK_LABEL = "Reviewer's feedback"
SHOWN_IN_LIST = 3
"""How many values a card names before it says "+2 more"."""


def in_words(name: str) -> str:
    """A value's name as words: `key_message` → "Key message"."""
    words = " ".join(name.replace("_", " ").split())
    return words[:1].upper() + words[1:]


def in_sentence(label: str) -> str:
    """A label as it reads inside a sentence: "Key message" → "key message" (an acronym stays)."""
    if len(label) > 1 and label[0].isupper() and label[1].islower():
        return label[0].lower() + label[1:]
    return label


def value_labels(wf: Workflow) -> dict[str, str]:
    """Every value's name → what people call it: a form field's label, an AI step's answer label (or
    its name in words); the first step writing a name names it."""
    labels: dict[str, str] = {FEEDBACK: FEEDBACK_LABEL}
    for node in wf.nodes:
        if isinstance(node, FormTriggerNode):
            for f in node.fields:
                labels.setdefault(f.name, f.label.strip() or in_words(f.name))
    for node in wf.nodes:
        if isinstance(node, AIStepNode):
            labels.setdefault(node.output_name, node.output_label.strip() or in_words(node.output_name))
    return labels


def value_label(wf: Workflow, name: str, labels: dict[str, str] | None = None) -> str:
    """What people call one value (its name in words when no step writes it)."""
    return (labels if labels is not None else value_labels(wf)).get(name) or in_words(name)


def listing(words: Sequence[str], most: int = SHOWN_IN_LIST) -> str:
    """ "Topic, Channel and Audience"; beyond `most`, "Topic, Channel, Audience +2 more"."""
    if len(words) > most:
        return f"{', '.join(words[:most])} +{len(words) - most} more"
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} and {words[-1]}"


# -- what each step reads and writes ---------------------------------------------------------------


@dataclass(frozen=True)
class StepFlow:
    """The values one step reads (in the order it first uses them) and writes."""

    reads: tuple[str, ...]
    writes: tuple[str, ...]
    reads_all: bool = False
    """It reads every value there is (an approval that lists none shows them all)."""

    def uses(self, name: str) -> bool:
        """Whether the step reads the value."""
        return name in self.reads or (self.reads_all and name != FEEDBACK)


def step_flow(node: Node) -> StepFlow:
    """What the step reads (placeholders in its prompts, the values its settings name) and writes."""
    kind = kind_of(node)
    reads: list[str] = []
    for _, names in kind.value_refs(node):
        reads += [n for n in names if n.strip()]
    for _, text in kind.prompts(node):
        try:
            found = placeholders(text)
        except PlaceholderSyntaxError:
            continue  # validation says what is wrong with the text
        reads += sorted(found, key=lambda n: (text.find(n), n))
    writes = tuple(dict.fromkeys(kind.produces(node)))
    return StepFlow(tuple(dict.fromkeys(reads)), writes, kind.reads_all(node))


def flows(wf: Workflow) -> dict[str, StepFlow]:
    """Every step's flow by id."""
    return {n.id: step_flow(n) for n in wf.nodes}


def writers(wf: Workflow, name: str) -> list[str]:
    """Ids of the steps that write the value."""
    return [n.id for n in wf.nodes if name in step_flow(n).writes]


def readers(wf: Workflow, name: str) -> list[str]:
    """Ids of the steps that read the value (an approval showing every value included)."""
    return [n.id for n in wf.nodes if step_flow(n).uses(name)]


def flow_summary(wf: Workflow, node: Node, labels: dict[str, str] | None = None) -> str:
    """What a step's card says it reads and writes: "uses Topic and Channel · writes Draft"."""
    labels = labels if labels is not None else value_labels(wf)
    kind = kind_of(node)
    flow = step_flow(node)
    parts = []
    used = [value_label(wf, n, labels) for n in flow.reads if n not in BUILTIN_VALUES]
    if flow.reads_all:
        parts.append(f"{kind.uses_word} every value")
    elif used:
        parts.append(f"{kind.uses_word} {listing(used)}")
    if flow.writes:
        parts.append(f"{kind.writes_word} {listing([value_label(wf, n, labels) for n in flow.writes])}")
    return " · ".join(parts)


# -- where values are available ------------------------------------------------------------------


def available_values(wf: Workflow) -> dict[str, set[str]]:
    """For each node, the values set on every path from the trigger to it."""
    nodes = wf.node_map()
    produced = {nid: set(step_flow(n).writes) for nid, n in nodes.items()}
    universe = set(BUILTIN_VALUES).union(*produced.values())
    preds = predecessors(wf, nodes)
    triggers = trigger_ids(wf)
    avail_in: dict[str, set[str]] = {n: set(universe) for n in nodes}
    for t in triggers:
        avail_in[t] = set(BUILTIN_VALUES)
    order = flow_order(wf, nodes, triggers)
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
    reached = reachable(wf, triggers)
    first = produced[triggers[0]] if triggers else set()
    for nid in nodes:
        if nid not in reached:
            avail_in[nid] = set(BUILTIN_VALUES) | first
    return avail_in


def _after(wf: Workflow, node_id: str, forward: dict[str, list[str]] | None = None) -> list[str]:
    """Ids of the steps after a step (forward connections), nearest first."""
    return nearest_first(forward if forward is not None else forward_edges(wf, wf.node_map()), node_id)


def _before(wf: Workflow, node_id: str) -> list[str]:
    """Ids of the steps before a step (forward connections only), nearest first."""
    nodes = wf.node_map()
    back: dict[str, list[str]] = {n: [] for n in nodes}
    for source, targets in forward_edges(wf, nodes).items():
        for t in targets:
            back[t].append(source)
    return nearest_first(back, node_id)


def revisable_values(wf: Workflow, node_id: str) -> list[str]:
    """The texts an AI step here could revise: text answers of earlier AI steps that every path to
    it writes, the nearest writer's first."""
    avail = available_values(wf).get(node_id, set())
    nodes = wf.node_map()
    out: list[str] = []
    for nid in _before(wf, node_id):
        node = nodes[nid]
        if isinstance(node, AIStepNode) and node.output_kind == "text" and node.output_name in avail:
            out.append(node.output_name)
    return list(dict.fromkeys(out))


def read_later(wf: Workflow, node_id: str, name: str) -> bool:
    """Whether a step after this one reads the value."""
    nodes = wf.node_map()
    return any(step_flow(nodes[n]).uses(name) for n in _after(wf, node_id))


def next_approval(wf: Workflow, node_id: str) -> ApprovalNode | None:
    """The nearest approval after a step (where a reviewer would see its answer)."""
    nodes = wf.node_map()
    for nid in _after(wf, node_id):
        node = nodes[nid]
        if isinstance(node, ApprovalNode):
            return node
    return None


# -- problems of a flow ------------------------------------------------------------------------------


def flow_problems(wf: Workflow) -> list[Problem]:
    """Values read where nothing has written them, AI answers nothing uses, and answers a later step
    writes over without reading (the workflow must have its form)."""
    return [*_unavailable_reads(wf), *_lost_work(wf)]


def _quoted(wf: Workflow, node: Node) -> str:
    return f"‘{step_name(wf, node)}’"


def _unavailable_reads(wf: Workflow) -> list[Problem]:
    nodes = wf.node_map()
    avail = available_values(wf)
    reached = reachable(wf, trigger_ids(wf))
    labels = value_labels(wf)
    forward = forward_edges(wf, nodes)
    out: list[Problem] = []

    def need(node: Node, names: Iterable[str], where: str) -> None:
        for name in sorted(set(names)):
            if name in avail.get(node.id, set()):
                continue
            label = value_label(wf, name, labels)
            who = _quoted(wf, node)
            makers = writers(wf, name)
            before = [w for w in makers if node.id in _after(wf, w, forward)]
            if not makers:
                fix = "no step writes: add a form field or an AI step that writes it, or take it out"
                out.append(Problem(f"{who} uses {label} in {where}, which {fix}", node.id, named=True))
            elif not before:
                maker = _quoted(wf, nodes[makers[0]])
                text = f"{who} uses {label} in {where}, which no earlier step writes: move it after {maker}"
                out.append(Problem(text, node.id, named=True))
            else:
                maker = _quoted(wf, nodes[before[0]])
                text = (
                    f"{who} uses {label} in {where}, which is not written on every path to it: "
                    f"a run can pass {maker} by; move the step after it"
                )
                out.append(Problem(text, node.id, named=True))

    for node in wf.nodes:
        if node.id not in reached:
            continue  # already reported as unreachable; its values are judged once connected
        kind = kind_of(node)
        for where, text in kind.prompts(node):
            try:
                need(node, placeholders(text), where)
            except PlaceholderSyntaxError as exc:
                out.append(Problem(f"{where} has a placeholder error ({exc})", node_id=node.id))
        for where, names in kind.value_refs(node):
            need(node, [n for n in names if n.strip()], where)
    return out


def _fate(
    wf: Workflow, start: str, name: str, forward: dict[str, list[str]], flow: dict[str, StepFlow]
) -> tuple[bool, list[str]]:
    """Follow a value written at `start` down every path: whether some step reads it, and the steps
    that write over it without reading it first."""
    used = False
    over: list[str] = []
    seen = {start}
    queue = deque(forward.get(start, ()))
    while queue:
        nid = queue.popleft()
        if nid in seen:
            continue
        seen.add(nid)
        if flow[nid].uses(name):
            used = True
            continue
        if name in flow[nid].writes:
            over.append(nid)
            continue
        queue.extend(forward.get(nid, ()))
    return used, over


def _lost_work(wf: Workflow) -> list[Problem]:
    """An AI answer no later step reads; a step writing over a value it never read."""
    nodes = wf.node_map()
    forward = forward_edges(wf, nodes)
    flow = {nid: step_flow(n) for nid, n in nodes.items()}
    reached = reachable(wf, trigger_ids(wf))
    labels = value_labels(wf)
    out: list[Problem] = []
    blamed: set[str] = set()
    for node in wf.nodes:
        if node.id not in reached:
            continue
        kind = kind_of(node)
        for name in flow[node.id].writes:
            used, over = _fate(wf, node.id, name, forward, flow)
            label = value_label(wf, name, labels)
            for nid in over:
                if nid in blamed:
                    continue
                blamed.add(nid)
                what = f"the answer of {_quoted(wf, node)}" if kind.asks_ai else f"{label} from the form"
                out.append(
                    Problem(
                        f"{_quoted(wf, nodes[nid])} writes {label} without reading it, so {what} is "
                        f"thrown away: let it revise {label}, or write something new",
                        nid,
                        named=True,
                    )
                )
            if kind.asks_ai and not used and not over:
                fix = (
                    "choose what it revises, or show it to the reviewer"
                    if next_approval(wf, node.id) is not None
                    else "use it in a later step, or deliver it when the run ends"
                )
                out.append(
                    Problem(f"The answer of {_quoted(wf, node)} is never used: {fix}", node.id, named=True)
                )
    return out


# -- edits that keep a flow whole --------------------------------------------------------------------


def rename_value(wf: Workflow, old: str, new: str) -> Workflow:
    """The workflow with value `old` called `new` by every step that writes or reads it."""
    if old == new:
        return wf
    nodes = [kind_of(n).swap_value(n, old, new) for n in wf.nodes]
    return wf.model_copy(update={"nodes": nodes})


def remove_uses(wf: Workflow, name: str, node_ids: Iterable[str]) -> Workflow:
    """The workflow with the steps `node_ids` no longer reading the value (what they write stays)."""
    chosen = set(node_ids)
    nodes = [kind_of(n).swap_value(n, name, None) if n.id in chosen else n for n in wf.nodes]
    return wf.model_copy(update={"nodes": nodes})


@dataclass(frozen=True)
class LostUse:
    """A value a step reads that nothing would write once another step is deleted."""

    name: str
    label: str
    readers: tuple[str, ...]
    """Ids of the steps that read it."""


def uses_lost_by_deleting(wf: Workflow, node_id: str, without: Workflow) -> list[LostUse]:
    """What deleting a step would leave unwritten: each value it writes that steps still read in
    `without` (the workflow once the step is gone) where nothing else writes it on every path."""
    if node_id not in wf.node_map():
        return []
    labels = value_labels(wf)
    avail = available_values(without)
    out: list[LostUse] = []
    for name in step_flow(wf.node(node_id)).writes:
        lost = tuple(
            n.id for n in without.nodes if name in step_flow(n).reads and name not in avail.get(n.id, set())
        )
        if lost:
            out.append(LostUse(name, value_label(wf, name, labels), lost))
    return out


def ends_after(wf: Workflow, node_id: str) -> list[EndNode]:
    """The Ends a run can finish at after a step that completes it (not a rejection's End)."""
    nodes = wf.node_map()
    return [
        n for nid in _after(wf, node_id) if isinstance(n := nodes[nid], EndNode) and n.status == "completed"
    ]


def delivered_at_end(wf: Workflow, node_id: str, name: str) -> bool:
    """Whether every End after the step delivers the value."""
    ends = ends_after(wf, node_id)
    return bool(ends) and all(name in end.result for end in ends)


def deliver(wf: Workflow, node_id: str, name: str, on: bool) -> Workflow:
    """The workflow with the value delivered (or no longer) by every End after the step."""
    ends = {e.id for e in ends_after(wf, node_id)}

    def changed(node: Node) -> Node:
        if node.id not in ends or not isinstance(node, EndNode):
            return node
        result = [n for n in node.result if n != name] + ([name] if on else [])
        return node.model_copy(update={"result": result})

    return wf.model_copy(update={"nodes": [changed(n) for n in wf.nodes]})


def shown_to_reviewer(wf: Workflow, node_id: str, name: str) -> bool | None:
    """Whether the nearest approval after a step shows the value (None: no approval follows)."""
    approval = next_approval(wf, node_id)
    if approval is None:
        return None
    return not approval.visible_values or name in approval.visible_values


def show_to_reviewer(wf: Workflow, node_id: str, name: str, show: bool) -> Workflow:
    """The workflow with the value shown (or no longer shown) by the nearest approval after the step;
    an approval that shows every value is left as it is."""
    approval = next_approval(wf, node_id)
    if approval is None or not approval.visible_values:
        return wf
    if show and name not in approval.visible_values:
        changed = approval.model_copy(update={"visible_values": [*approval.visible_values, name]})
    elif not show and name in approval.visible_values:
        changed = kind_of(approval).swap_value(approval, name, None)
        changed = changed.model_copy(update={"instructions": approval.instructions})  # the text stays
    else:
        return wf
    return wf.model_copy(update={"nodes": [changed if n.id == approval.id else n for n in wf.nodes]})


# -- what a finished run delivers --------------------------------------------------------------------


@dataclass(frozen=True)
class Delivered:
    """One value a run delivers at its end: its name, what people call it, and what it holds."""

    name: str
    label: str
    value: object


def end_reached(wf: Workflow, node_ids: Iterable[str]) -> str | None:
    """The End a run finished at, from the ids of the steps it ran (in order)."""
    nodes = wf.node_map()
    ends = [nid for nid in node_ids if isinstance(nodes.get(nid), EndNode)]
    return ends[-1] if ends else None


def delivered(wf: Workflow, end_id: str | None, values: dict[str, object]) -> list[Delivered]:
    """The values the End a run finished at (see `end_reached`) delivers (its result), as the run
    holds them."""
    node = wf.node_map().get(end_id or "")
    names = getattr(node, "result", None) or []
    labels = value_labels(wf)
    return [Delivered(n, value_label(wf, n, labels), values[n]) for n in names if n in values]
