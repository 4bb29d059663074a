"""What a new version of a workflow would change: steps added, removed and changed, connections,
and workflow settings — in words, for the import preview (and anyone comparing two versions)."""

from __future__ import annotations

from dataclasses import dataclass, field

from engine.kinds import node_title
from engine.model import Workflow

IGNORED_STEP_FIELDS = frozenset({"position"})
"""Moving a step on the canvas is not a change anyone needs to approve."""


@dataclass(frozen=True)
class StepChange:
    """One step present in both versions whose settings differ."""

    node_id: str
    title: str
    fields: tuple[str, ...]


@dataclass(frozen=True)
class WorkflowChanges:
    """Differences between an old and a new definition of the same workflow."""

    added: tuple[str, ...] = ()
    """Titles of steps only the new definition has."""
    removed: tuple[str, ...] = ()
    """Titles of steps only the old definition has."""
    changed: tuple[StepChange, ...] = ()
    connections_added: int = 0
    connections_removed: int = 0
    settings: tuple[str, ...] = field(default_factory=tuple)
    """Workflow settings that differ (name, description, sections, access, …)."""
    moved: int = 0
    """Steps only moved on the canvas."""

    @property
    def empty(self) -> bool:
        """Whether nothing anyone would notice changes."""
        return not (
            self.added or self.removed or self.changed or self.connections_added
            or self.connections_removed or self.settings or self.moved
        )  # fmt: skip


def _edge_key(source: str, target: str, label: str | None) -> tuple[str, str, str]:
    return (source, target, label or "")


def compare(old: Workflow, new: Workflow) -> WorkflowChanges:
    """What replacing `old` by `new` changes."""
    before, after = old.node_map(), new.node_map()
    added = tuple(node_title(after[i]) for i in after if i not in before)
    removed = tuple(node_title(before[i]) for i in before if i not in after)
    changed: list[StepChange] = []
    moved = 0
    for nid in (i for i in after if i in before):
        a, b = before[nid].model_dump(), after[nid].model_dump()
        fields = tuple(
            k for k in sorted(set(a) | set(b)) if k not in IGNORED_STEP_FIELDS and a.get(k) != b.get(k)
        )
        if fields:
            changed.append(StepChange(nid, node_title(after[nid]), fields))
        elif a.get("position") != b.get("position"):
            moved += 1
    old_edges = {_edge_key(e.source, e.target, e.label) for e in old.edges}
    new_edges = {_edge_key(e.source, e.target, e.label) for e in new.edges}
    old_top = old.model_dump(exclude={"nodes", "edges"})
    new_top = new.model_dump(exclude={"nodes", "edges"})
    settings = tuple(k for k in sorted(set(old_top) | set(new_top)) if old_top.get(k) != new_top.get(k))
    return WorkflowChanges(
        added=added,
        removed=removed,
        changed=tuple(changed),
        connections_added=len(new_edges - old_edges),
        connections_removed=len(old_edges - new_edges),
        settings=settings,
        moved=moved,
    )
