"""What pages and the CLI call: one facade over the store, the engine and the directory."""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from engine.autonomy import current_standing
from engine.catalog import TEMPLATE_AUTHOR, copy_for_user, find_template, list_templates, template_ids
from engine.connections import Connections
from engine.decisions import Decision
from engine.directory import Directory
from engine.errors import (
    EngineError,
    InvalidStateError,
    NotAllowedError,
    NotAuthenticatedError,
    NotFoundError,
    Problem,
    WorkflowValidationError,
)
from engine.insights import CheckpointStats, WorkflowStats, checkpoint_stats, workflow_stats
from engine.learning import DRIFT_MARGIN, READ_WORDS_PER_SECOND, per_approved_task
from engine.learning import report as review_report
from engine.limits import MAX_NAME_CHARS
from engine.links import LinkSigner
from engine.llm.base import LLMProvider
from engine.llm.choice import MODEL_SETTING
from engine.llm.factory import provider_from_settings
from engine.model import (
    Access,
    AIStepNode,
    ApprovalNode,
    Edge,
    EndNode,
    FormField,
    FormTriggerNode,
    Position,
    Workflow,
    load_workflow_json,
)
from engine.notify.sender import Notifier
from engine.notify.settings import NotifySettings
from engine.notify.settings import from_env as notify_settings
from engine.permissions import Permissions
from engine.policies import next_step, progress
from engine.prompt_advice import Suggestion, suggest
from engine.prompt_feedback import DEFAULT_RUNS, reviewed_drafts, reviewed_steps
from engine.records import (
    AuditEvent,
    CheckpointQuery,
    CheckpointRecord,
    DesignDraft,
    LiveStep,
    OutboxEvent,
    RunFilter,
    RunRecord,
    RunScope,
    StepRecord,
    TokenRecord,
    WorkflowVersion,
    new_id,
    now,
)
from engine.replay import MAX_RUNS as MAX_REPLAY_RUNS
from engine.replay import (
    Replay,
    ReplayCase,
    ReplayPlan,
    changed_ai_steps,
    estimate,
    replay_log,
    replay_step,
    spent,
)
from engine.replay import record as record_replay
from engine.runner import Engine
from engine.secret_box import SecretBox, box_for
from engine.store.base import Store
from engine.store.factory import open_store
from engine.store.location import is_postgres_url
from engine.tokens import new_secret, token_hash
from engine.trial import StepTrial, try_ai_step
from engine.validation import validate_workflow
from engine.workflow_diff import WorkflowChanges, compare


@dataclass
class RunDetail:
    """Everything the Runs page shows about one run."""

    run: RunRecord
    workflow: Workflow
    steps: list[StepRecord]
    audit: list[AuditEvent]
    checkpoints: list[CheckpointRecord]
    notifications: list[OutboxEvent] = field(default_factory=list)
    """What was announced about the run, with each announcement's delivery state."""

    @property
    def open_checkpoint(self) -> CheckpointRecord | None:
        """The pending checkpoint, if the run waits."""
        return next((c for c in self.checkpoints if c.status == "pending"), None)


@dataclass(frozen=True)
class InboxState:
    """What waits in one person's Inbox at one moment."""

    count: int
    """How many checkpoints wait for them (not counting ones they approved while others still must)."""
    newest: tuple[tuple[str, str], ...]
    """(id, title) of the newest of them (a change here or in `count` means the Inbox changed)."""


@dataclass
class Board:
    """A workflow's runs by section: the newest cards of each, and how many each holds."""

    columns: dict[str, list[RunRecord]]
    counts: dict[str, int]

    @property
    def total(self) -> int:
        """Every run on the board, shown or not."""
        return sum(self.counts.values())


def background_workers() -> int:
    """How many runs a process drives at once in the background (`LOOPDESK_WORKERS`, default 8);
    0: none, dedicated workers (`python -m engine worker`) drive every run."""
    value = os.environ.get("LOOPDESK_WORKERS", "").strip() or "8"
    if not value.isdigit():
        raise EngineError(f"LOOPDESK_WORKERS is '{value}'; use a whole number (0: leave runs to workers)")
    return int(value)


def slugify(text: str) -> str:
    """A lowercase id made of letters, digits and dashes."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug or "workflow"


WorkflowPurpose = str
"""Why workflows are listed: `edit` (Designer), `start` (Start a run) or `view` (Board, Insights)."""


@dataclass(frozen=True)
class ImportPreview:
    """What importing a file would do, before anything is saved."""

    workflow: Workflow
    source: str
    current: WorkflowVersion | None
    """The latest saved version it would follow (None: it becomes a new workflow)."""
    changes: WorkflowChanges | None
    """What it changes against `current` (None for a new workflow)."""


class Loopdesk:
    """The application service: owns the store, engine and directory of one process.

    Every method that acts or shows something takes the acting user and applies the rules in
    `engine.permissions`; pages, the CLI and the API all come through here.
    """

    def __init__(self, store: Store, engine: Engine, directory: Directory) -> None:
        self.store = store
        self.engine = engine
        self.directory = directory
        self.notifier: Notifier | None = None
        self._signer: LinkSigner | None = None
        self._box: SecretBox | None = None
        self.connections = Connections(store, engine.permissions, self.secret_box)
        """Named connections to services outside (admins change them; anyone lists them by name)."""
        engine.connection = lambda name, type_name: self.connections.use(name, type_name).values

    @property
    def permissions(self) -> Permissions:
        """The permission rules (the engine's, so both apply the same ones)."""
        return self.engine.permissions

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
        store = open_store(db_path, lock_wait_seconds=lock_wait_seconds)
        try:
            store.initialize()
            provider = provider or provider_from_settings(secrets=secrets)
            directory = directory or Directory.load()
            n = workers if workers is not None else background_workers()
            return cls(store, Engine(store, provider, directory, workers=n), directory)
        except BaseException:
            store.close()  # a failed start must not keep the file claimed by this process
            raise

    def health(self) -> str | None:
        """Why the database cannot be used right now (None when all is well)."""
        return self.store.health()

    def start_background(self, notify: NotifySettings | None = None) -> None:
        """Start the work a server does on its own (idempotent): due checkpoints, stalled runs, and
        delivering notifications (`notify`, default: from the environment)."""
        self.engine.start_timers()
        self.start_notifier(notify)

    def start_notifier(self, notify: NotifySettings | None = None) -> None:
        """Deliver notifications from this process too (idempotent); with several processes on one
        database, each announcement is claimed by one of them and sent once."""
        if self.notifier is None:
            self.notifier = Notifier(self.engine, notify or notify_settings(), self.link_signer)
            self.notifier.start()

    def default_model(self) -> str:
        """The model of every workflow that names none (the admin's choice, else `LOOPDESK_MODEL`,
        else gpt-4o-mini)."""
        return self.engine.default_model()

    def set_default_model(self, user: str, model: str) -> str:
        """Choose the app's default model (admins only); empty goes back to `LOOPDESK_MODEL` or the
        built-in default. Returns the model now in use."""
        self.permissions.check_settings(user, "change the default AI model")
        chosen = model.strip()
        if len(chosen) > 200 or any(c.isspace() for c in chosen):
            raise EngineError(f"“{chosen[:60]}” is not a model name (one word, no spaces)")
        self.store.put_setting(MODEL_SETTING, chosen)
        return self.default_model()

    @property
    def link_signer(self) -> LinkSigner:
        """Signs decision links: with `LOOPDESK_LINK_SECRET`, else a random key kept with the data."""
        if self._signer is None:
            key = os.environ.get("LOOPDESK_LINK_SECRET", "") or self.store.setting(
                "link_key", secrets.token_hex(32)
            )
            self._signer = LinkSigner(key.encode())
        return self._signer

    def secret_box(self) -> SecretBox:
        """Encrypts connection secrets: with `LOOPDESK_SECRET_KEY`, else a key file beside the data
        (made on first use, never inside the database)."""
        if self._box is None:
            self._box = box_for(self.store.source)
        return self._box

    def __enter__(self) -> Loopdesk:
        """Use as a context manager: the service closes on exit."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the service."""
        self.close()

    def close(self, grace_seconds: float = 30.0) -> None:
        """Stop workers (giving drives in progress `grace_seconds` to finish) and close the database."""
        if self.notifier is not None:
            self.notifier.stop()
        self.engine.shutdown(wait=True, timeout=grace_seconds)
        self.store.close()

    # -- workflows ------------------------------------------------------------
    def list_workflows(self) -> list[WorkflowVersion]:
        """Latest version of every workflow (names for labels; use `workflows_for` to offer them)."""
        return self.store.list_workflows()

    def workflows_for(self, user: str, purpose: WorkflowPurpose) -> list[WorkflowVersion]:
        """The workflows a user may `edit`, `start`, or `view` every run of."""
        allowed = {
            "edit": self.may_change,
            "start": self.permissions.can_start,
            "view": self.permissions.sees_all_runs,
        }[purpose]
        return [w for w in self.store.list_workflows() if allowed(user, w.definition)]

    def may_change(self, user: str, wf: Workflow) -> bool:
        """Whether the user may save new versions of this workflow (never a shipped template)."""
        return not self.is_template(wf.id) and self.permissions.can_edit(user, wf)

    def workflows_to_look_at(self, user: str) -> list[WorkflowVersion]:
        """The workflows a user may look at read-only: the shipped templates and those the user
        may change, start, or see every run of."""
        return [
            w
            for w in self.store.list_workflows()
            if self.is_template(w.workflow_id)
            or self.permissions.can_edit(user, w.definition)
            or self.permissions.can_start(user, w.definition)
            or self.permissions.sees_all_runs(user, w.definition)
        ]

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
        """Everything wrong with a workflow, including people unknown to the directory."""
        out = validate_workflow(wf)
        for node in wf.nodes:
            if not isinstance(node, ApprovalNode):
                continue
            escalated = [step.to or "" for step in node.escalation]
            for who in (node.assignee, node.timeout_assignee or "", *node.reassign_to, *escalated):
                if not who.strip():
                    continue
                if not self.directory.exists(who):
                    out.append(Problem(f"`{who}` is not a user or group in the directory", node_id=node.id))
                elif not self.directory.is_group(who) and not self.permissions.has_role(who, "reviewer"):
                    label = self.directory.label(who)
                    out.append(Problem(f"{label} is not a reviewer, so cannot approve", node_id=node.id))
            out += [Problem(p, node_id=node.id) for p in self._quorum_problems(wf, node)]
        for kind, entries in (
            ("editors", wf.access.editors),
            ("starters", wf.access.starters),
            ("viewers", wf.access.viewers),
        ):
            for who in entries:
                if not self.directory.exists(who):
                    out.append(Problem(f"access: {kind} lists `{who}`, which is not a user or group"))
        return out

    def _quorum_problems(self, wf: Workflow, node: ApprovalNode) -> list[str]:
        """A quorum the assignee cannot reach: no group, a count larger than its reviewers, or larger
        than the reviewers left once whoever starts the run (always one of them) steps aside."""
        q = node.quorum
        if q.mode == "any" or not node.assignee.strip() or not self.directory.exists(node.assignee):
            return []
        if not self.directory.is_group(node.assignee):
            return [f"quorum `{q.mode}` needs a group to approve; {node.assignee} is one person"]
        members = self.directory.members(node.assignee)
        reviewers = [u for u in members if self.permissions.has_role(u, "reviewer")]
        group = self.directory.label(node.assignee)
        needed = len(reviewers) if q.mode == "all" else (q.count or 1)
        if q.mode == "count" and needed > len(reviewers):
            return [f"quorum needs {needed} approvals but {group} has {len(reviewers)} reviewer(s)"]
        starters = [u for u in self.directory.users if self.directory.matches(u, wf.access.starters)]
        if not node.allow_self_approval and starters and all(u in reviewers for u in starters):
            left = len(reviewers) - 1
            if needed > left and (q.mode == "count" or left == 0):
                return [
                    f"quorum needs {needed} approval(s), but every run is started by one of {group}, who "
                    f"may not approve it, which leaves {left}; lower the number or let someone else start it"
                ]
        return []

    def save_workflow(self, wf: Workflow, user: str, note: str = "") -> WorkflowVersion:
        """Validate and save as a new version; nothing is written when it is invalid or not allowed."""
        latest = self.store.get_workflow(wf.id)
        # the rights of the version saved so far decide, so nobody can grant themselves access
        self.permissions.check_edit(user, latest.definition if latest else None)
        if self.is_template(wf.id):
            return self._keep_template(wf)
        problems = self.problems(wf)
        if problems:
            raise WorkflowValidationError(problems, f"workflow `{wf.id}`")
        if not self.permissions.privileged(user):
            self.permissions.check_keeps_editing(user, wf)
        saved = self.store.save_workflow(wf, user, note)
        self.store.drop_draft(user, wf.id)  # what the draft kept is saved now
        return saved

    def keep_design_draft(self, user: str, wf: Workflow) -> None:
        """Keep the user's unsaved working copy of a workflow (restored after a reload or restart)."""
        self.store.put_draft(DesignDraft(user, wf.id, wf.model_dump_json(), time.time()))

    def design_draft(self, user: str, workflow_id: str) -> DesignDraft | None:
        """The user's unsaved working copy of a workflow, if one was kept."""
        return self.store.get_draft(user, workflow_id)

    def drop_design_draft(self, user: str, workflow_id: str) -> None:
        """Forget the user's unsaved working copy (saved, or discarded)."""
        self.store.drop_draft(user, workflow_id)

    def unsaved_workflows(self, user: str) -> list[Workflow]:
        """New workflows the user started in the Designer and never saved (kept as drafts), newest first."""
        found = []
        for draft in self.store.list_drafts(user):
            if self.store.get_workflow(draft.workflow_id) is not None:
                continue  # a draft of a saved workflow: offered when that workflow is opened
            try:
                found.append(Workflow.model_validate_json(draft.definition))
            except ValueError:  # kept by an older version that no longer reads: not offered
                continue
        return found

    def save_if_changed(self, wf: Workflow, user: str, note: str = "") -> WorkflowVersion:
        """Save a new version only when the definition differs from the latest."""
        latest = self.store.get_workflow(wf.id)
        if latest is not None and latest.definition.model_dump() == wf.model_dump():
            self.permissions.check_edit(user, latest.definition)
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

    def try_step(self, wf: Workflow, node_id: str, values: Mapping[str, Any], user: str) -> StepTrial:
        """Run only one AI step of a (possibly unsaved) workflow on sample values, for someone who
        may change it: the real model call, recorded nowhere (no run, no step, no insight)."""
        latest = self.store.get_workflow(wf.id)
        self.permissions.check_edit(user, latest.definition if latest else None)
        return try_ai_step(
            wf, node_id, values, self.engine.provider, user, self.engine.default_model(), self.engine.prices
        )

    def sample_runs(self, workflow_id: str, user: str, limit: int = 20) -> list[RunRecord]:
        """Recent runs of a workflow this user may see, whose values can feed a step test."""
        return self.list_runs(user, workflow_id=workflow_id, limit=limit)

    def preview_import(self, text: str | bytes, user: str, source: str = "file") -> ImportPreview:
        """Check a file as `import_workflow` would (it parses, is valid, the user may save it, a
        template stays as shipped) and say what it would change; nothing is saved."""
        wf = load_workflow_json(text, source)
        problems = self.problems(wf)
        if problems:
            raise WorkflowValidationError(problems, source)
        latest = self.store.get_workflow(wf.id)
        self.permissions.check_edit(user, latest.definition if latest else None)
        if self.is_template(wf.id):
            self._check_template(wf)
        elif not self.permissions.privileged(user):
            self.permissions.check_keeps_editing(user, wf)
        changes = compare(latest.definition, wf) if latest is not None else None
        return ImportPreview(wf, source, latest, changes)

    def export_workflow(self, workflow_id: str, version: int | None = None) -> str:
        """The workflow as pretty JSON."""
        return self.get_workflow(workflow_id, version).definition.to_json()

    def new_workflow(self, name: str, user: str) -> Workflow:
        """A blank workflow (form trigger → End) with a unique id, editable by its creator."""
        self.permissions.check_edit(user, None)
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
            access=Access(editors=self._owners(user)),
        )

    def _owners(self, user: str) -> list[str]:
        """The editors of a workflow someone creates: that person (the operator names nobody)."""
        return [user] if user in self.directory.users else []

    def install_templates(self) -> list[str]:
        """Save every shipped template that is not in the database as shipped yet (idempotent): a
        new template is installed, and one whose stored version differs (an older release, or an
        edit made before templates were read-only) gets the shipped definition as its newest version."""
        installed = []
        for template in list_templates():
            latest = self.store.get_workflow(template.workflow.id)
            if latest is None or latest.definition.model_dump() != template.workflow.model_dump():
                note = "installed template" if latest is None else "template as shipped"
                self.store.save_workflow(template.workflow, TEMPLATE_AUTHOR, note)
                installed.append(template.workflow.id)
        return installed

    def is_template(self, workflow_id: str) -> bool:
        """Whether a workflow id is one of the shipped templates (read-only: “Use template” copies it)."""
        return workflow_id in template_ids()

    def _check_template(self, wf: Workflow) -> None:
        """Templates stay as shipped: a definition with a template's id must be the shipped one."""
        shipped = find_template(wf.id)
        if shipped is None or shipped.workflow.model_dump() != wf.model_dump():
            raise NotAllowedError(
                "",
                f"“{wf.name}” is a shipped template and stays as shipped; "
                "use “Use template” to make your own copy to change",
            )

    def _keep_template(self, wf: Workflow) -> WorkflowVersion:
        """Saving a template exactly as shipped installs it (a template file run as is, say); any
        change is refused, pointing at “Use template”."""
        self._check_template(wf)
        self.install_templates()
        return self.get_workflow(wf.id)

    def _copy_name(self, name: str) -> str:
        """ "Name (copy)", or "Name (copy 2)"…: a name no workflow has yet."""
        taken = {w.name.casefold() for w in self.store.list_workflows()}
        candidate, n = f"{name} (copy)", 2
        while candidate.casefold() in taken:
            candidate, n = f"{name} (copy {n})", n + 1
        return candidate

    def use_template(
        self, template_id: str, user: str, instructions: Mapping[str, str] | None = None
    ) -> WorkflowVersion:
        """Create the user's own editable workflow from a template; `instructions` (AI step id → a new
        instruction, e.g. one improved from the template's reviewed runs) replace the template's."""
        template = find_template(template_id)
        if template is None:
            raise NotFoundError("template", template_id)
        fresh = self.new_workflow(f"{template.workflow.name} {user}", user)  # its id says whose it is
        wf = copy_for_user(template.workflow, fresh.id, self._copy_name(template.workflow.name))
        for node_id, instruction in (instructions or {}).items():
            node = wf.node_map().get(node_id)
            if not isinstance(node, AIStepNode):
                raise InvalidStateError(f"the template has no AI step `{node_id}` to give a new instruction")
            changed = node.model_copy(update={"instruction": instruction})
            wf = wf.model_copy(update={"nodes": [changed if n.id == node_id else n for n in wf.nodes]})
        # the copy is its creator's to change; the template's team still starts and sees it
        access = wf.access.model_copy(update={"editors": self._owners(user)})
        return self.save_workflow(
            wf.model_copy(update={"access": access}), user, note=f"from template {template_id}"
        )

    # -- runs -----------------------------------------------------------------
    def start_run(
        self,
        workflow_id: str,
        inputs: Mapping[str, Any],
        user: str,
        background: bool = False,
        detach: bool = False,
    ) -> RunRecord:
        """Start a run from form values (the engine checks the user may start it); with `detach`,
        only create it, for a worker process to drive."""
        return self.engine.start_run(workflow_id, inputs, user, background=background, detach=detach)

    def _visible_run(self, run_id: str, user: str) -> tuple[RunRecord, Workflow]:
        """The run and its workflow, or NotFoundError for whoever may not see it.

        What decides it is read only as far as needed: the run itself (its starter, and the
        workflow's designers and viewers), then its checkpoints (who is asked to review it), and
        its audit trail (who acted on it) last.
        """
        run = self.engine.get_run(run_id)
        wf = self.engine.workflow_of(run)
        see = self.permissions.can_see_run
        if not (
            see(user, run, wf, [], set())
            or see(
                user, run, wf, self.store.list_checkpoints(CheckpointQuery(status=None, run_id=run_id)), set()
            )
            or see(user, run, wf, [], {a.actor for a in self.store.list_audit(run_id)})
        ):
            raise NotFoundError("run", run_id)  # the same answer as for a run that does not exist
        return run, wf

    def get_run(self, run_id: str, user: str) -> RunRecord:
        """A run by id, if the user may see it."""
        return self._visible_run(run_id, user)[0]

    def run_scope(self, user: str) -> RunScope | None:
        """What `list_runs` shows this user (None: everything, for admins and the operator)."""
        if self.permissions.privileged(user):
            return None
        return RunScope(
            workflow_ids=frozenset(w.workflow_id for w in self.workflows_for(user, "view")),
            user=user,
            assignees=tuple(self.directory.assignees_for(user)) if user in self.directory.users else (),
        )

    def list_runs(
        self,
        user: str,
        status: str | None = None,
        workflow_id: str | None = None,
        limit: int = 500,
        offset: int = 0,
        where: RunFilter | None = None,
    ) -> list[RunRecord]:
        """The runs this user may see, newest first, filtered by status, workflow and `where`; one page
        with `limit`/`offset`."""
        return self.store.list_runs(
            status=status,
            workflow_id=workflow_id,
            limit=limit,
            scope=self.run_scope(user),
            offset=offset,
            where=where,
        )

    def count_runs(
        self,
        user: str,
        status: str | None = None,
        workflow_id: str | None = None,
        where: RunFilter | None = None,
    ) -> int | None:
        """How many runs `list_runs` would show this user with these filters; None when only
        reading every run they ever took part in could tell (their list is paged without a total)."""
        scope = self.run_scope(user)
        if scope is not None and not (workflow_id and workflow_id in scope.workflow_ids):
            return None
        return self.store.count_runs(status=status, workflow_id=workflow_id, where=where)

    def run_detail(self, run_id: str, user: str) -> RunDetail:
        """The run with its workflow, steps, audit trail and checkpoints, if the user may see it."""
        run, wf = self._visible_run(run_id, user)
        return RunDetail(
            run=run,
            workflow=wf,
            steps=self.store.list_steps(run_id),
            audit=self.store.list_audit(run_id),
            checkpoints=self.store.list_checkpoints(CheckpointQuery(status=None, run_id=run_id)),
            notifications=self.store.list_events(run_id),
        )

    def inbox(
        self,
        user: str,
        limit: int | None = None,
        offset: int = 0,
        newest_first: bool = False,
        workflow_id: str | None = None,
        node_id: str | None = None,
        by_due: bool = False,
    ) -> list[CheckpointRecord]:
        """Pending checkpoints waiting for the user: assigned to them or their groups, not their own
        requests unless the step allows it, not ones they approved already while the other approvals
        of a quorum are awaited; oldest first (or soonest due), of one workflow and step when given;
        one page with `limit`/`offset`."""
        waiting = self._waiting_for(user, workflow_id, node_id)
        order = replace(waiting, newest_first=newest_first, by_due=by_due)
        return self.store.list_checkpoints(order, limit=limit, offset=offset)

    def inbox_state(self, user: str, newest: int = 50) -> InboxState:
        """How many checkpoints wait for the user and which are the newest: what every count and list of
        their Inbox is drawn from (read together, so they agree)."""
        count = self.inbox_count(user)
        items = self.inbox(user, limit=newest, newest_first=True) if count else []
        return InboxState(count, tuple((cp.id, cp.title) for cp in items))

    def inbox_count(self, user: str, workflow_id: str | None = None, node_id: str | None = None) -> int:
        """How many checkpoints wait for the user (what `inbox` would list, counted, not read)."""
        return self.store.count_checkpoints(self._waiting_for(user, workflow_id, node_id))

    def _waiting_for(self, user: str, workflow_id: str | None, node_id: str | None) -> CheckpointQuery:
        """The pending checkpoints `user` can act on (of one workflow and step when given): what the
        Inbox lists and counts, asked the same way for both."""
        return CheckpointQuery(
            status="pending",
            assignees=self.directory.assignees_for(user),
            actionable_by=user,
            workflow_id=workflow_id,
            node_id=node_id,
        )

    def decide_many(
        self, checkpoint_ids: list[str], user: str, decision: Decision, background: bool = True
    ) -> dict[str, RunRecord | EngineError]:
        """Apply one decision to several checkpoints, each as its own decision, exactly once; a
        checkpoint decided meanwhile (or refused) gets its error, the rest go ahead."""
        out: dict[str, RunRecord | EngineError] = {}
        for cp_id in dict.fromkeys(checkpoint_ids):
            try:
                out[cp_id] = self.decide(cp_id, user, decision, background=background)
            except EngineError as exc:
                out[cp_id] = exc
        return out

    def decided(self, user: str, limit: int = 50, offset: int = 0) -> list[CheckpointRecord]:
        """Checkpoints the user decided, newest first, one page."""
        return self.store.list_checkpoints(
            CheckpointQuery(status=None, decided_by=user), limit=limit, offset=offset
        )

    def decided_count(self, user: str) -> int:
        """How many checkpoints the user has decided."""
        return self.store.count_checkpoints(CheckpointQuery(status=None, decided_by=user))

    def live_step(self, run_id: str, user: str) -> LiveStep | None:
        """The run's AI step in flight (attempt and answer so far), if the user may see the run."""
        self._visible_run(run_id, user)
        return self.store.get_live(run_id)

    def checkpoint(self, checkpoint_id: str, user: str) -> CheckpointRecord:
        """A checkpoint by id, if the user may see its run."""
        cp = self.engine.get_checkpoint(checkpoint_id)
        try:
            self._visible_run(cp.run_id, user)
        except NotFoundError:
            raise NotFoundError("checkpoint", checkpoint_id) from None
        return cp

    def progress(self, cp: CheckpointRecord) -> str:
        """ "2 of 3 approved: Jamie Rivera, Morgan Lee" where several approvals are needed, else ''."""
        return progress(self.permissions.quorum(cp), self.directory) or ""

    def next_escalation(self, cp: CheckpointRecord, at: float | None = None) -> str:
        """What the checkpoint's escalation chain does next and when ("reminds Jamie Rivera in
        3 h"), or '' when nothing more happens by itself."""
        if cp.status != "pending" or cp.action_at is None:
            return ""  # decided, or no step left: no need to read its workflow
        wf = self.engine.workflow_of(self.engine.get_run(cp.run_id))
        node = wf.node(cp.node_id)
        step = next_step(cp, node, wf) if isinstance(node, ApprovalNode) else None
        if step is None:
            return ""
        return step.describe(self.directory, cp.assignee, now() if at is None else at)

    def reassign_targets(self, checkpoint: CheckpointRecord, user: str) -> list[str]:
        """Who the user may hand this checkpoint to."""
        node = self.engine.workflow_of(self.engine.get_run(checkpoint.run_id)).node(checkpoint.node_id)
        if not isinstance(node, ApprovalNode):
            return []
        return self.permissions.reassign_targets(user, checkpoint, node)

    def places_to_hand_on(self, checkpoint: CheckpointRecord, user: str) -> list[str]:
        """On an approval several people must give, reassigned by someone not asked (an admin): the
        people asked who have not approved yet, one of whose place the new person takes; else []."""
        if not self.permissions.is_quorum(checkpoint) or user in self.permissions.asked(checkpoint):
            return []
        return [u for u in self.permissions.asked(checkpoint) if checkpoint.policy.vote_by(u) is None]

    def decide(
        self, checkpoint_id: str, user: str, decision: Decision, background: bool = False
    ) -> RunRecord:
        """Apply a decision (the engine checks who may decide)."""
        self.checkpoint(checkpoint_id, user)  # someone who may not see it is told it does not exist
        return self.engine.decide(checkpoint_id, user, decision, background=background)

    def retry(self, run_id: str, user: str, background: bool = False) -> RunRecord:
        """Retry a failed run from its failed step."""
        self.get_run(run_id, user)
        return self.engine.retry(run_id, user, background=background)

    def cancel(self, run_id: str, user: str) -> RunRecord:
        """Cancel a running or waiting run."""
        self.get_run(run_id, user)
        return self.engine.cancel(run_id, user)

    def recover(self, background: bool = False) -> list[str]:
        """Continue runs interrupted by a crash; return their ids."""
        return self.engine.recover(background=background)

    def waiting_for(self, run_ids: list[str]) -> dict[str, str]:
        """Run id → assignee of its open checkpoint, for those of these runs that wait for one."""
        return {rid: cp.assignee for rid, cp in self.store.open_checkpoints(run_ids).items()}

    # -- API tokens -----------------------------------------------------------
    def create_token(self, owner: str, user: str, label: str = "") -> tuple[TokenRecord, str]:
        """A new API token acting as `owner`; the secret is returned once and only its hash kept."""
        self.directory.user(owner)  # a token belongs to a person in the directory
        self.permissions.check_manage_tokens(user, owner)
        secret = new_secret()
        record = TokenRecord(
            id=new_id("tok"),
            user=owner,
            hash=token_hash(secret),
            label=label.strip()[:MAX_NAME_CHARS],
            created_at=now(),
            created_by=user,
        )
        self.store.save_token(record)
        return record, secret

    def list_tokens(self, user: str, owner: str | None = None) -> list[TokenRecord]:
        """Tokens of `owner` (default: the user's own; everyone's for admins asking for None)."""
        owner = user if owner is None and not self.permissions.privileged(user) else owner
        if owner is not None:
            self.permissions.check_manage_tokens(user, owner)
        return self.store.list_tokens(owner)

    def revoke_token(self, token_id: str, user: str) -> TokenRecord:
        """Revoke a token for good: every later request with it is refused."""
        mine = {t.id: t for t in self.store.list_tokens(None if self.permissions.privileged(user) else user)}
        if token_id not in mine:
            raise NotFoundError("API token", token_id)
        self.permissions.check_manage_tokens(user, mine[token_id].user)
        revoked = self.store.revoke_token(token_id, now())
        if revoked is None:
            raise NotFoundError("API token", token_id)
        return revoked

    def user_for_token(self, token: str) -> str:
        """Who a request's token acts as; NotAuthenticatedError when it is missing, unknown or revoked."""
        if not token.strip():
            raise NotAuthenticatedError("send an API token: Authorization: Bearer <token>")
        record = self.store.token_by_hash(token_hash(token))
        if record is None:
            raise NotAuthenticatedError("this API token is not known")
        if record.revoked_at is not None:
            raise NotAuthenticatedError("this API token was revoked")
        if record.user not in self.directory.users:
            raise NotAuthenticatedError(f"this API token belongs to `{record.user}`, who is no longer a user")
        return record.user

    def checkpoint_stats(self, user: str, include_archived: bool = False) -> list[CheckpointStats]:
        """Approval, rejection, change and edit rates and time in review per checkpoint."""
        seen = self._viewable_ids(user)
        totals = self.store.stat_totals(include_archived)
        return [
            s
            for s in checkpoint_stats(totals, self.store.pending_counts())
            if seen is None or s.workflow_id in seen
        ]

    def review_report(
        self,
        user: str,
        workflow_id: str | None = None,
        words_per_second: float = READ_WORDS_PER_SECOND,
        drift_margin: float = DRIFT_MARGIN,
    ) -> list[dict[str, Any]]:
        """What reviewers' decisions say of each workflow the user sees every run of (or of one):
        rates, edit size and time in review overall, per AI step and prompt version, per reviewer,
        possible rubber stamps and AI steps drifting (runs moved to an archive are not counted)."""
        shown = [w for w in self.workflows_for(user, "view") if workflow_id in (None, w.workflow_id)]
        if workflow_id is not None and not shown:
            raise NotFoundError("workflow whose runs you may see", workflow_id)
        usage = {s.workflow_id: s for s in workflow_stats(self.store.stat_totals())}
        out = []
        for w in shown:
            report = review_report(
                self.store, w.workflow_id, words_per_second=words_per_second, margin=drift_margin
            )
            report["overall"].update(per_approved_task(usage.get(w.workflow_id)))
            out.append(report)
        return out

    # -- learning from reviewers: improve a prompt, replay it on past runs -------------------------
    def _learning_source(self, user: str, workflow_id: str) -> WorkflowVersion:
        """The saved workflow whose review history a designer learns from: only someone who may change
        it (and so sees every run of it) may read its history this way."""
        latest = self.get_workflow(workflow_id)
        self.permissions.check_edit(user, latest.definition)
        return latest

    @staticmethod
    def _how_many(last: int) -> int:
        if not 1 <= last <= MAX_REPLAY_RUNS:
            raise InvalidStateError(f"choose between 1 and {MAX_REPLAY_RUNS} past runs (not {last})")
        return last

    def suggest_instruction(
        self, wf: Workflow, node_id: str, user: str, last: int = DEFAULT_RUNS
    ) -> Suggestion:
        """A revised instruction for AI step `node_id` of this (possibly unsaved) workflow, learned
        from the edits and notes on its last `last` reviewed runs; nothing is saved."""
        self._learning_source(user, wf.id)
        node = wf.node_map().get(node_id)
        if not isinstance(node, AIStepNode):
            raise InvalidStateError(f"only AI steps have an instruction to improve; `{node_id}` is not one")
        drafts = reviewed_drafts(self.store, wf.id, node_id, self._how_many(last))
        return suggest(
            node, wf, drafts, self.engine.provider, self.engine.default_model(), self.engine.prices
        )

    def replay_plan(
        self, wf: Workflow, user: str, against: str | None = None, last: int = DEFAULT_RUNS
    ) -> ReplayPlan:
        """What "Test against past runs" would replay (the AI steps changed against the saved workflow
        `against`, by default the same id, each on its last `last` approved runs) and its estimate."""
        saved = self._learning_source(user, against or wf.id)
        changed = changed_ai_steps(saved.definition, wf)
        reviewed = reviewed_steps(saved.definition)
        cases = {
            node_id: reviewed_drafts(
                self.store, saved.workflow_id, node_id, self._how_many(last), approved_only=True
            )
            if node_id in reviewed
            else []  # no reviewer sees its answer: there is nothing to compare a new one with
            for node_id in changed
        }
        provider, model = self.engine.provider, self.engine.default_model()
        return ReplayPlan(saved, cases, estimate(wf, cases, provider, model, self.engine.prices))

    def replay(
        self,
        wf: Workflow,
        user: str,
        against: str | None = None,
        last: int = DEFAULT_RUNS,
        on_case: Callable[[ReplayCase], None] | None = None,
        plan: ReplayPlan | None = None,
    ) -> Replay:
        """Replay the changed AI steps of `wf` on past runs in a sandbox (no run, checkpoint,
        notification or board move) and record what it cost in the workflow's replay log; `plan` is
        the one `replay_plan` gave for the same workflow (its estimate is what was shown)."""
        if plan is None:
            plan = self.replay_plan(wf, user, against, last)
        else:
            self._learning_source(user, plan.saved.workflow_id)
        if not plan.cases:
            raise InvalidStateError(
                f"no AI step's prompt differs from version {plan.saved.version} of "
                f"{plan.saved.definition.name}: change one, then test it against past runs"
            )
        if not any(plan.cases.values()):
            raise InvalidStateError(
                f"{plan.saved.definition.name} has no approved runs of the changed steps to compare with yet"
            )
        provider, model, prices = self.engine.provider, self.engine.default_model(), self.engine.prices
        steps = [
            replay_step(wf, node_id, drafts, provider, user, model, prices, on_case)
            for node_id, drafts in plan.cases.items()
            if drafts
        ]
        prompt, completion, cost, demo = spent(steps)
        done = Replay(
            plan.saved.workflow_id, plan.saved.version, steps, plan.estimate,
            prompt, completion, cost, demo, time.time(), user,
        )  # fmt: skip
        record_replay(self.store, done)
        return done

    def auto_approval_standing(self, wf: Workflow, node_id: str) -> str | None:
        """Where auto-approval of an approval step stands now, in words, judged by the rule as set
        in `wf` against the saved history (None: the step does not auto-approve)."""
        node = wf.node_map().get(node_id)
        if not isinstance(node, ApprovalNode) or node.auto_approval is None:
            return None
        return current_standing(self.store, wf, node, node.auto_approval).describe(node.auto_approval)

    def replay_log(self, workflow_id: str, user: str) -> list[dict[str, Any]]:
        """The replays recorded for a workflow, newest first: when, by whom, what they cost."""
        self._learning_source(user, workflow_id)
        return replay_log(self.store, workflow_id)

    def workflow_stats(self, user: str, include_archived: bool = False) -> list[WorkflowStats]:
        """Runs by status and AI tokens and cost per workflow."""
        seen = self._viewable_ids(user)
        stats = workflow_stats(self.store.stat_totals(include_archived))
        return [s for s in stats if seen is None or s.workflow_id in seen]

    def has_archive(self) -> bool:
        """Whether some runs were archived (Insights can then include them)."""
        return bool(self.store.archived_counters())

    def archive_folder(self) -> Path:
        """Where archives go by default: `LOOPDESK_ARCHIVE_DIR`, else `archive/` next to the database
        file (for a database server: data/archive)."""
        chosen = os.environ.get("LOOPDESK_ARCHIVE_DIR", "").strip()
        if chosen:
            return Path(chosen).resolve()
        if is_postgres_url(self.store.source):
            return Path("data/archive").resolve()
        return Path(self.store.source).resolve().parent / "archive"

    def archive(
        self, before: float, user: str, folder: str | Path | None = None
    ) -> dict[str, dict[str, int]]:
        """Move finished runs created before `before` to monthly Parquet files (admins only);
        month → table → rows moved."""
        self.permissions.check_archive(user)
        return self.store.archive_runs(before, str(folder or self.archive_folder()))

    def _viewable_ids(self, user: str) -> set[str] | None:
        """Workflows whose every run the user sees (None: all of them)."""
        if self.permissions.privileged(user):
            return None
        return {w.workflow_id for w in self.workflows_for(user, "view")}

    def board(self, workflow_id: str, user: str, per_section: int = 50) -> Board:
        """The runs of a workflow this user may see, by current section in section order: the
        newest `per_section` cards of each section and how many there are in all."""
        wf = self.get_workflow(workflow_id).definition
        first = wf.sections[0] if wf.sections else ""
        counts, runs = self.store.runs_by_section(workflow_id, per_section, self.run_scope(user))
        board = Board({s: [] for s in wf.sections}, {s: 0 for s in wf.sections})
        for section, n in counts.items():
            board.counts[section or first] = board.counts.get(section or first, 0) + n
        for run in runs:
            board.columns.setdefault(run.section or first, []).append(run)
        for section in board.counts:
            board.columns.setdefault(section, [])
        return board
