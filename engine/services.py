"""What pages and the CLI call: one facade over the store, the engine and the directory."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.catalog import TEMPLATE_AUTHOR, copy_for_user, list_templates
from engine.decisions import Decision
from engine.directory import Directory
from engine.errors import NotFoundError, Problem, WorkflowValidationError
from engine.insights import CheckpointStats, WorkflowStats, checkpoint_stats, workflow_stats
from engine.llm.base import LLMProvider
from engine.llm.factory import provider_from_settings
from engine.model import (
    ApprovalNode,
    Edge,
    EndNode,
    FormField,
    FormTriggerNode,
    Position,
    Workflow,
    load_workflow_json,
)
from engine.runner import Engine
from engine.store.base import (
    AuditEvent,
    CheckpointRecord,
    RunRecord,
    StepRecord,
    Store,
    WorkflowVersion,
)
from engine.store.duckdb import DuckDBStore
from engine.validation import validate_workflow


@dataclass
class RunDetail:
    """Everything the Runs page shows about one run."""

    run: RunRecord
    workflow: Workflow
    steps: list[StepRecord]
    audit: list[AuditEvent]
    checkpoints: list[CheckpointRecord]

    @property
    def open_checkpoint(self) -> CheckpointRecord | None:
        """The pending checkpoint, if the run waits."""
        return next((c for c in self.checkpoints if c.status == "pending"), None)


def slugify(text: str) -> str:
    """A lowercase id made of letters, digits and dashes."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug or "workflow"


class Loopdesk:
    """The application service: owns the store, engine and directory of one process."""

    def __init__(self, store: Store, engine: Engine, directory: Directory) -> None:
        self.store = store
        self.engine = engine
        self.directory = directory

    @classmethod
    def open(
        cls,
        db_path: str | None = None,
        provider: LLMProvider | None = None,
        directory: Directory | None = None,
        workers: int | None = None,
        secrets: Mapping[str, Any] | None = None,
        lock_wait_seconds: float | None = None,
    ) -> Loopdesk:
        """Open (and initialize) the database and wire the engine."""
        store = DuckDBStore(db_path, lock_wait_seconds=lock_wait_seconds)
        store.initialize()
        provider = provider or provider_from_settings(secrets=secrets)
        directory = directory or Directory.load()
        n = workers or int(os.environ.get("LOOPDESK_WORKERS", "8"))
        return cls(store, Engine(store, provider, directory, workers=n), directory)

    def close(self) -> None:
        """Stop workers and close the database."""
        self.engine.shutdown(wait=True)
        self.store.close()

    # -- workflows ------------------------------------------------------------
    def list_workflows(self) -> list[WorkflowVersion]:
        """Latest version of every workflow."""
        return self.store.list_workflows()

    def get_workflow(self, workflow_id: str, version: int | None = None) -> WorkflowVersion:
        """A saved workflow version, or NotFoundError."""
        wfv = self.store.get_workflow(workflow_id, version)
        if wfv is None:
            what = workflow_id if version is None else f"{workflow_id} v{version}"
            raise NotFoundError("workflow", what)
        return wfv

    def versions(self, workflow_id: str) -> list[WorkflowVersion]:
        """All versions of a workflow, newest first."""
        return self.store.list_versions(workflow_id)

    def problems(self, wf: Workflow) -> list[Problem]:
        """Everything wrong with a workflow, including reviewers unknown to the directory."""
        out = validate_workflow(wf)
        for node in wf.nodes:
            if not isinstance(node, ApprovalNode):
                continue
            for who in (node.assignee, node.timeout_assignee or ""):
                if who.strip() and not self.directory.exists(who):
                    out.append(Problem(f"`{who}` is not a user or group in the directory", node_id=node.id))
        return out

    def save_workflow(self, wf: Workflow, user: str, note: str = "") -> WorkflowVersion:
        """Validate and save as a new version; nothing is written when it is invalid."""
        problems = self.problems(wf)
        if problems:
            raise WorkflowValidationError(problems, f"workflow `{wf.id}`")
        return self.store.save_workflow(wf, user, note)

    def save_if_changed(self, wf: Workflow, user: str, note: str = "") -> WorkflowVersion:
        """Save a new version only when the definition differs from the latest."""
        latest = self.store.get_workflow(wf.id)
        if latest is not None and latest.definition.model_dump() == wf.model_dump():
            return latest
        return self.save_workflow(wf, user, note)

    def import_workflow(self, text: str | bytes, user: str, source: str = "file") -> WorkflowVersion:
        """Parse, validate and save imported JSON (a new version if the id exists)."""
        wf = load_workflow_json(text, source)
        problems = self.problems(wf)
        if problems:
            raise WorkflowValidationError(problems, source)
        # importing what is already the latest version (or the same file twice) adds nothing
        return self.save_if_changed(wf, user, note=f"imported from {source}")

    def export_workflow(self, workflow_id: str, version: int | None = None) -> str:
        """The workflow as pretty JSON."""
        return self.get_workflow(workflow_id, version).definition.to_json()

    def new_workflow(self, name: str) -> Workflow:
        """A blank workflow with a form trigger connected to an End, and a unique id."""
        base = slugify(name)
        taken = {w.workflow_id for w in self.store.list_workflows()}
        wid, n = base, 2
        while wid in taken:
            wid, n = f"{base}-{n}", n + 1
        trigger = FormTriggerNode(
            id="form",
            title="Request form",
            fields=[FormField(name="title", label="Title", required=True)],
            title_field="title",
            position=Position(x=0, y=0),
        )
        end = EndNode(id="end", title="Done", outcome="Done", position=Position(x=0, y=200))
        return Workflow(
            id=wid,
            name=name.strip() or "Untitled workflow",
            sections=["Intake", "Done"],
            nodes=[trigger, end],
            edges=[Edge(id="form-end", source="form", target="end")],
        )

    def install_templates(self) -> list[str]:
        """Save every shipped template that is not in the database yet (idempotent)."""
        installed = []
        for template in list_templates():
            if self.store.get_workflow(template.workflow.id) is None:
                self.store.save_workflow(template.workflow, TEMPLATE_AUTHOR, "installed template")
                installed.append(template.workflow.id)
        return installed

    def use_template(self, template_id: str, user: str) -> WorkflowVersion:
        """Create the user's own editable workflow from a template."""
        template = next((t for t in list_templates() if t.workflow.id == template_id), None)
        if template is None:
            raise NotFoundError("template", template_id)
        fresh = self.new_workflow(f"{template.workflow.name} ({user})")
        wf = copy_for_user(template.workflow, fresh.id, fresh.name)
        return self.save_workflow(wf, user, note=f"from template {template_id}")

    # -- runs -----------------------------------------------------------------
    def start_run(
        self,
        workflow_id: str,
        inputs: Mapping[str, Any],
        user: str,
        background: bool = False,
    ) -> RunRecord:
        """Start a run from form values."""
        return self.engine.start_run(workflow_id, inputs, user, background=background)

    def get_run(self, run_id: str) -> RunRecord:
        """A run by id."""
        return self.engine.get_run(run_id)

    def list_runs(self, status: str | None = None, workflow_id: str | None = None) -> list[RunRecord]:
        """Runs, newest first."""
        return self.store.list_runs(status=status, workflow_id=workflow_id)

    def run_detail(self, run_id: str) -> RunDetail:
        """The run with its workflow, steps, audit trail and checkpoints."""
        run = self.engine.get_run(run_id)
        return RunDetail(
            run=run,
            workflow=self.engine.workflow_of(run),
            steps=self.store.list_steps(run_id),
            audit=self.store.list_audit(run_id),
            checkpoints=self.store.list_checkpoints(status=None, run_id=run_id),
        )

    def inbox(self, user: str) -> list[CheckpointRecord]:
        """Pending checkpoints assigned to the user or their groups, oldest first."""
        return self.store.list_checkpoints(status="pending", assignees=self.directory.assignees_for(user))

    def decided(self, user: str) -> list[CheckpointRecord]:
        """Checkpoints the user decided, newest first."""
        return self.store.list_checkpoints(status=None, decided_by=user)

    def checkpoint(self, checkpoint_id: str) -> CheckpointRecord:
        """A checkpoint by id."""
        return self.engine.get_checkpoint(checkpoint_id)

    def decide(
        self, checkpoint_id: str, user: str, decision: Decision, background: bool = False
    ) -> RunRecord:
        """Apply a decision (the engine checks who may decide)."""
        return self.engine.decide(checkpoint_id, user, decision, background=background)

    def retry(self, run_id: str, user: str, background: bool = False) -> RunRecord:
        """Retry a failed run from its failed step."""
        return self.engine.retry(run_id, user, background=background)

    def cancel(self, run_id: str, user: str) -> RunRecord:
        """Cancel a running or waiting run."""
        return self.engine.cancel(run_id, user)

    def recover(self, background: bool = False) -> list[str]:
        """Continue runs interrupted by a crash; return their ids."""
        return self.engine.recover(background=background)

    def waiting_for(self, workflow_id: str) -> dict[str, str]:
        """Run id → assignee of its pending checkpoint, for one workflow's waiting runs."""
        return {
            cp.run_id: cp.assignee
            for cp in self.store.list_checkpoints(status="pending")
            if cp.workflow_id == workflow_id
        }

    def checkpoint_stats(self) -> list[CheckpointStats]:
        """Approval, rejection, change and edit rates and time in review per checkpoint."""
        return checkpoint_stats(self.store.checkpoint_stats())

    def workflow_stats(self) -> list[WorkflowStats]:
        """Runs by status and AI tokens and cost per workflow."""
        return workflow_stats(self.store.run_counts(), self.store.step_stats())

    def board(self, workflow_id: str) -> dict[str, list[RunRecord]]:
        """Runs of a workflow grouped by their current section, in section order."""
        wf = self.get_workflow(workflow_id).definition
        columns: dict[str, list[RunRecord]] = {s: [] for s in wf.sections}
        for run in self.store.list_runs(workflow_id=workflow_id, limit=5000):
            section = run.section or (wf.sections[0] if wf.sections else "")
            columns.setdefault(section, []).append(run)
        return columns
