"""How the Designer names steps, connections and problems: by title, never by id alone."""

from __future__ import annotations

from engine.errors import Problem
from engine.kinds import node_title, step_name
from engine.model import Workflow
from ui.format import md_escape, md_message

__all__ = ["connection_name", "problem_label", "problem_target", "problem_text", "sentence", "step_name"]


def connection_name(wf: Workflow, source: str, target: str) -> str:
    """A connection by the titles of its ends ("Draft the post → Review")."""
    nodes = wf.node_map()
    return " → ".join(node_title(nodes[i]) if i in nodes else i for i in (source, target))


def problem_text(wf: Workflow, p: Problem) -> str:
    """Where a problem is, in words a designer knows: the step's title or the connection's ends."""
    nodes = wf.node_map()
    if p.named:
        return p.message[:1].upper() + p.message[1:]
    if p.node_id:
        node = nodes.get(p.node_id)
        return f"{step_name(wf, node) if node else p.node_id}: {p.message}"
    if p.edge_id:
        edge = next((e for e in wf.edges if e.id == p.edge_id), None)
        if edge is not None:
            return f"Connection {connection_name(wf, edge.source, edge.target)}: {p.message}"
        return f"Connection `{p.edge_id}`: {p.message}"
    return p.message


def problem_label(wf: Workflow, p: Problem) -> str:
    """A problem as a button label (escaped, no code spans)."""
    return md_escape(problem_text(wf, p).replace("`", "'"))


def problem_target(wf: Workflow, p: Problem) -> str | None:
    """The step to select for a problem (a connection's problem selects the step it leaves)."""
    if p.node_id and any(n.id == p.node_id for n in wf.nodes):
        return p.node_id
    edge = next((e for e in wf.edges if e.id == p.edge_id), None) if p.edge_id else None
    return edge.source if edge is not None else None


def sentence(message: str) -> str:
    """An engine message as a sentence (code spans kept; `capitalize` would lowercase “End”)."""
    text = md_message(message)
    return f"{text[:1].upper()}{text[1:]}."
