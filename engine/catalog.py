"""Shipped templates: read them from templates/, install them, copy one for a user."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from engine.model import AIStepNode, ApprovalNode, Workflow, load_workflow_json
from engine.validation import ensure_valid

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
TEMPLATE_AUTHOR = "loopdesk"


@dataclass(frozen=True)
class Template:
    """A shipped workflow and a few facts for its gallery card."""

    workflow: Workflow
    path: Path

    @property
    def ai_steps(self) -> int:
        """How many AI steps it has."""
        return sum(isinstance(n, AIStepNode) for n in self.workflow.nodes)

    @property
    def checkpoints(self) -> int:
        """How many approval checkpoints it has."""
        return sum(isinstance(n, ApprovalNode) for n in self.workflow.nodes)


def list_templates(directory: Path = TEMPLATES_DIR) -> list[Template]:
    """Every template file, validated, in file-name order."""
    out = []
    for path in sorted(directory.glob("*.json")):
        wf = load_workflow_json(path.read_text(encoding="utf-8"), str(path.name))
        out.append(Template(ensure_valid(wf, source=path.name), path))
    return out


def find_template(template_id: str, directory: Path = TEMPLATES_DIR) -> Template | None:
    """The shipped template with this workflow id, or None."""
    return next((t for t in list_templates(directory) if t.workflow.id == template_id), None)


def copy_for_user(template: Workflow, new_id: str, name: str) -> Workflow:
    """An editable copy of a template under a new id and name."""
    return template.model_copy(update={"id": new_id, "name": name}, deep=True)


@cache
def template_ids(directory: Path = TEMPLATES_DIR) -> frozenset[str]:
    """The ids of the shipped templates (read once per process: the files ship with the app)."""
    return frozenset(t.workflow.id for t in list_templates(directory))
