"""Drive a run, apply one decision: advance runs until they wait or end; apply decisions; retry,
cancel and recover. The decision rules live in `engine.deciding`, due checkpoints in
`engine.timers`, leases and run locks in `engine.driving`.

A paused run is data: the run row says `waiting` and a checkpoint row is pending.
Every finished step is committed together with the run's new position, so after a
crash a run restarts at the step that was in flight and never repeats finished ones.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import replace
from typing import Any

from engine.autonomy import (
    AUTO_APPROVAL_GRACE,
    Routing,
    current_standing,
    draft_names,
    drafts_of,
    prompt_signature,
    route,
)
from engine.clock import Clock
from engine.deciding import decision_transition, next_node, updated
from engine.decisions import Approve, Decision, Reassign, decision_record, note_problem
from engine.directory import SYSTEM, Directory
from engine.driving import Leases, RunLocks, driver_id, lease_seconds, merge_transitions, store_retry_seconds
from engine.errors import (
    AlreadyDecidedError,
    EngineError,
    InvalidDecisionError,
    InvalidStateError,
    NotAllowedError,
    NotFoundError,
    StoreUnavailableError,
)
from engine.forms import coerce_form
from engine.kept_answers import KeptAnswers
from engine.kinds import kind_of
from engine.live import LiveRecorder
from engine.llm.base import LLMProvider
from engine.llm.choice import BUILTIN_MODEL, MODEL_SETTING, app_default_model
from engine.model import ApprovalNode, FormTriggerNode, Node, Workflow
from engine.permissions import Permissions
from engine.policies import (
    Escalated,
    due_time,
    next_action_at,
    opening_policy,
    short_reason,
)
from engine.prompts import render
from engine.records import (
    AuditEvent,
    CheckpointQuery,
    CheckpointRecord,
    ConflictError,
    Lease,
    RunRecord,
    RunUpdate,
    StepRecord,
    Transition,
    new_id,
)
from engine.steps import StepContext, StepOutcome
from engine.steps.base import CallTicket, ConnectionValues, Revision
from engine.store.base import Store
from engine.timers import Timers
from engine.validation import ensure_valid
from engine.workers import WorkerPool

log = logging.getLogger("loopdesk.engine")

_VOTE_ATTEMPTS = 50
"""How often a decision is tried again when other members' votes land first (each try counts them)."""

MAX_STEPS_PER_DRIVE = 1000
"""A run that takes this many steps without pausing is stopped as failed (a loop)."""
_MAX_HELD = 50


class Engine:
    """Runs workflows against a store; knows nothing of any UI."""

    def __init__(
        self,
        store: Store,
        provider: LLMProvider,
        directory: Directory,
        workers: int = 8,
        prices: Mapping[str, Sequence[float]] | None = None,
    ) -> None:
        self.store = store
        self.provider = provider
        self.directory = directory
        self.permissions = Permissions(directory)
        self.prices = prices
        self._pool = WorkerPool(workers) if workers > 0 else None
        """Threads driving runs in the background; None: dedicated workers drive them instead."""
        self.owner = driver_id()
        """Who this process is when it leases runs (the store keeps the lease)."""
        self.lease_seconds = lease_seconds()
        self._drive_ended = threading.Event()
        """Set whenever a drive ends (a worker waiting for room to take more work wakes up)."""
        self._timers_stop = threading.Event()
        self._timers: threading.Thread | None = None
        self._locks = RunLocks()
        self._wf_cache: dict[tuple[str, int], Workflow] = {}
        self._valid: set[tuple[str, int]] = set()
        self._busy: set[str] = set()
        """Runs this process has queued or is driving."""
        self._cancelled: set[str] = set()
        """Runs cancelled while this process drives them: their prompt renders stop."""
        self.store_retry_seconds = store_retry_seconds()
        self.connection: ConnectionValues | None = None
        """Reads named connections for the steps that act (set by the services that own them)."""
        self._answers = KeptAnswers()
        """Paid AI answers the database refused to save, kept until it takes them (never asked again)."""
        self._leases = Leases(store, self.owner, self.lease_seconds, self._timers_stop, self._cancelled.add)
        """This process's leases on the runs it drives right now, renewed while it does."""
        self._timers_due = Timers(self)

    # -- helpers --------------------------------------------------------------
    @property
    def clock(self) -> Clock:
        """The store's clock: due times, leases and retries read it (a test moves it on)."""
        return self.store.clock

    def workflow_of(self, run: RunRecord) -> Workflow:
        """The workflow version a run started on."""
        key = (run.workflow_id, run.version)
        wf = self._wf_cache.get(key)
        if wf is None:
            wfv = self.store.get_workflow(run.workflow_id, run.version)
            if wfv is None:
                raise NotFoundError("workflow version", f"{run.workflow_id} v{run.version}")
            wf = wfv.definition
            self._wf_cache[key] = wf
        return wf

    def workflow_name(self, run: RunRecord) -> str:
        """The name of a run's workflow, or its id when that version cannot be read."""
        try:
            return self.workflow_of(run).name
        except EngineError:
            return run.workflow_id

    def get_run(self, run_id: str) -> RunRecord:
        """A run by id, or NotFoundError."""
        run = self.store.get_run(run_id)
        if run is None:
            raise NotFoundError("run", run_id)
        return run

    def get_checkpoint(self, checkpoint_id: str) -> CheckpointRecord:
        """A checkpoint by id, or NotFoundError."""
        cp = self.store.get_checkpoint(checkpoint_id)
        if cp is None:
            raise NotFoundError("checkpoint", checkpoint_id)
        return cp

    @property
    def drives_in_background(self) -> bool:
        """Whether this process drives runs in background threads (else dedicated workers do)."""
        return self._pool is not None

    def lease_for(self, background: bool) -> Lease | None:
        """The lease to take in the commit that makes a run runnable: this process's, when it will
        drive the run itself (now, or on its pool); None leaves the run to whichever worker claims it."""
        if background and self._pool is None:
            return None
        return self._leases.lease()

    def continue_run(self, after: RunRecord) -> RunRecord:
        """Go on with a run whose last change was just committed: on the pool, or here when this
        process has none."""
        if self._pool is None:
            return self._drive_on(after)
        self.submit(after.id)
        return after

    def submit(self, run_id: str) -> Future[RunRecord]:
        """Drive a run on the worker pool (AI steps of different runs run in parallel); without a
        pool, leave it to the workers (the store has announced it) and return it as it is."""
        if self._pool is None:
            left: Future[RunRecord] = Future()
            left.set_result(self.get_run(run_id))
            return left
        self._busy.add(run_id)
        return self._pool.submit(self.drive, run_id, None, self.clock.monotonic())

    def start_timers(self, interval: float = 60.0, resume_interval: float = 15.0) -> None:
        """In daemon threads (idempotent): check due checkpoints every `interval` seconds; and, when
        this process drives runs in the background, take up runs nobody drives as soon as the
        store announces one (a run left to workers, a driver that stopped) and at least every
        `resume_interval` seconds (after a database fault, say)."""
        if self._timers is not None:
            return

        def every(
            seconds: float, work: Callable[[], object], what: str, wait: Callable[[float], object]
        ) -> None:
            while not self._timers_stop.is_set():
                try:
                    work()
                except StoreUnavailableError as exc:
                    log.warning("%s waits for the database: %s", what, exc)
                except Exception:  # keep the timer alive; the next tick tries again
                    log.exception("%s failed", what)
                wait(seconds)

        due = (interval, self.apply_timers, "checking due checkpoints", self._timers_stop.wait)
        self._timers = threading.Thread(target=every, args=due, name="loopdesk-timers", daemon=True)
        self._timers.start()
        if self._pool is not None:
            take = (resume_interval, self.take_work, "taking up runs", self.store.wait_for_work)
            threading.Thread(target=every, args=take, name="loopdesk-take-work", daemon=True).start()

    def shutdown(self, wait: bool = True, timeout: float = 30.0) -> list[str]:
        """Stop the due-time checks and the worker pool (with `wait`, drives in progress get up to
        `timeout` seconds to finish; one still busy after that is recovered at the next start)."""
        self._timers_stop.set()
        if self._pool is not None:
            self._pool.shutdown(wait=wait, timeout=timeout)
        return self.release_all()

    def release_all(self) -> list[str]:
        """Give up the leases of runs still being driven here (a stopping process): another driver
        continues each at its step in flight; return their ids."""
        self._cancelled.update(self._leases.held())  # long renders stop; their results would conflict anyway
        return self._leases.release_all()

    # -- starting -------------------------------------------------------------
    def start_run(
        self,
        workflow_id: str,
        inputs: Mapping[str, Any],
        actor: str,
        version: int | None = None,
        background: bool = False,
        detach: bool = False,
    ) -> RunRecord:
        """Check the form values, create the run, and drive it (now, or on the pool); with
        `detach`, only create it: a worker process picks it up."""
        wf, run_version = self._runnable(workflow_id, version)
        self.permissions.check_start(actor, wf)
        trigger = wf.trigger()
        values = coerce_form(trigger, inputs)
        title = _title(wf, trigger, values)
        values["feedback"] = ""
        ts = self.clock.now()
        run = RunRecord(
            id=new_id("run"),
            workflow_id=wf.id,
            version=run_version,
            status="running",
            current_node=trigger.id,
            section=wf.sections[0] if wf.sections else None,
            title=title,
            values=values,
            started_by=actor,
            created_at=ts,
            updated_at=ts,
        )
        audit = AuditEvent(run.id, actor, "run_started", {"workflow": wf.id, "version": run_version}, ts)
        lease = None if detach else self.lease_for(background)
        self.store.apply(Transition(new_run=run, audit=[audit], lease=lease))
        if detach or lease is None:
            return run
        if background:
            self.submit(run.id)
            return run
        return self._drive_on(run)

    def _runnable(self, workflow_id: str, version: int | None) -> tuple[Workflow, int]:
        """The workflow version to start, validated once per version and cached."""
        number = version if version is not None else self.store.latest_version(workflow_id)
        key = (workflow_id, number or 0)
        if key not in self._valid:
            wfv = self.store.get_workflow(workflow_id, number) if number else None
            if wfv is None:
                raise NotFoundError("workflow", workflow_id)
            self._wf_cache[key] = ensure_valid(wfv.definition, source=wf_label(wfv.definition))
            self._valid.add(key)
        return self._wf_cache[key], key[1]

    # -- driving --------------------------------------------------------------
    def _drive_on(self, committed: RunRecord) -> RunRecord:
        """Drive a run whose last change the caller just committed. If the database then refuses
        a write, what the caller did still stands: report that state; the run resumes later."""
        try:
            return self.drive(committed.id, known=committed, leased_at=self.clock.monotonic())
        except StoreUnavailableError as exc:
            log.warning("run %s paused: %s", committed.id, exc)
            return committed

    def drive(self, run_id: str, known: RunRecord | None = None, leased_at: float | None = None) -> RunRecord:
        """Execute steps until the run waits, ends, fails or is cancelled.

        The run is leased to this process first, unless the caller leased it moments ago
        (`leased_at`, a monotonic time: then asking again would only cost a round trip). A run
        another process drives is left to it.

        Steps that only move data (form, move, branch, approval, end) are committed
        together with the steps that follow them; before an AI step (an outside call
        that may cost money) everything so far is committed, and the AI step's result
        is committed before the run goes on. A crash can only lose instant steps,
        which simply run again on recovery.
        """
        with self._locks.hold(run_id):
            self._busy.add(run_id)
            try:
                if not self._leases.take(run_id, self._leases.fresh(leased_at)):
                    return self.get_run(run_id)  # another process drives it (or it is not running)
                try:
                    return self._drive(run_id, known)
                finally:
                    self._leases.give_back(run_id)
            finally:
                self._busy.discard(run_id)
                self._cancelled.discard(run_id)
                self._drive_ended.set()

    def _stopper(self, run_id: str) -> Callable[[], bool]:
        """Whether the run was cancelled while this process drives it (long work checks this)."""
        return lambda: run_id in self._cancelled

    def _drive(self, run_id: str, known: RunRecord | None) -> RunRecord:
        """`drive`'s loop; the caller holds the run's lock."""
        # `known` is the state the caller just committed; anything else is read back
        run: RunRecord | None = known if known is not None else self.get_run(run_id)
        held: list[Transition] = []
        steps = 0
        while run is not None and run.status == "running" and run.current_node is not None:
            wf = self.workflow_of(run)
            node = wf.node(run.current_node)
            external = kind_of(node).calls_out
            if (external or len(held) >= _MAX_HELD) and held and not self._commit(held):
                return self.get_run(run_id)
            steps += 1
            if steps > MAX_STEPS_PER_DRIVE:
                message = (
                    f"the run took {MAX_STEPS_PER_DRIVE} steps without pausing; check the workflow for a loop"
                )
                t, run = self._failure(run, node, self.clock.now(), message), None
            else:
                before = run
                kept = self._answers.take(run, node.id) if external else None
                ticket: CallTicket | None = None
                if kept is None and kind_of(node).acts:
                    ticket = self._begin_call(node, run)
                    if ticket is None:  # the run changed (cancelled) before the call was made
                        return self.get_run(run_id)
                t, run = kept if kept is not None else self._step(wf, node, run, ticket)
            held.append(t)
            if run is None:
                break
            if external or run.status != "running":
                try:
                    committed = self._commit(held)
                except StoreUnavailableError:
                    if external:  # the paid answer waits in memory for the database, not asked again
                        self._answers.keep(before, node.id, t, run)
                    raise
                if not committed:
                    return self.get_run(run_id)
            opened = t.open_checkpoint
            if run.status == "waiting" and opened is not None and opened.policy.auto_approve is not None:
                # this drive holds the run's lease: the approval keeps it (no worker is woken)
                run = self.auto_approve(wf, opened, run, self._leases.lease()) or self.get_run(run_id)
        if held and not self._commit(held):
            return self.get_run(run_id)
        return run if run is not None else self.get_run(run_id)

    def _commit(self, held: list[Transition]) -> bool:
        """Apply the held transitions as one, trying again for up to `store_retry_seconds` while the
        database refuses writes (a server restarting, a disk briefly full); False if the run changed
        meanwhile or failed."""
        merged = merge_transitions(held)
        held.clear()
        deadline = self.clock.monotonic() + self.store_retry_seconds
        pause = 0.25
        while True:
            try:
                self.store.apply(merged)
                return True
            except ConflictError:
                return False  # cancelled meanwhile, or a try that failed had landed after all
            except StoreUnavailableError as exc:
                if self.clock.monotonic() + pause <= deadline and not self._timers_stop.is_set():
                    self._timers_stop.wait(pause)
                    pause = min(pause * 2, 4.0)
                    continue
                # The run stays `running` at the step before and is driven again once the database
                # takes writes (see `take_work`).
                run_id = merged.run_update.run_id if merged.run_update else "?"
                log.warning("run %s waits for the database: %s", run_id, exc)
                raise
            except Exception as exc:  # the results cannot be stored: fail the run, visibly
                run_id = merged.run_update.run_id if merged.run_update else "?"
                log.exception("storing steps of run %s failed", run_id)
                self._store_failure(merged, f"the step's result could not be saved: {exc}")
                return False

    def _store_failure(self, merged: Transition, message: str) -> None:
        """Fail the run at the first held step when the held results could not be written."""
        u = merged.run_update
        run = self.store.get_run(u.run_id) if u is not None else None
        if u is None or run is None or u.expect_node is None:
            return
        node = self.workflow_of(run).node(u.expect_node)
        try:
            self.store.apply(self._failure(run, node, self.clock.now(), message))
        except Exception:  # the run stays 'running' and is retried on recovery
            log.exception("could not record the failure of run %s", run.id)

    def default_model(self) -> str:
        """The model of workflows that name none: the admin's choice, else `LOOPDESK_MODEL`, else
        gpt-4o-mini (read each time, so a change reaches every process)."""
        return app_default_model(self.store.setting(MODEL_SETTING, ""))

    def _begin_call(self, node: Node, run: RunRecord) -> CallTicket | None:
        """Before a step that acts outside calls: record "calling" with the call's idempotency key,
        in its own commit. The key is the same for this visit of the step however often the call is
        made (a retry after a failure, a crash before the result was written); a step that finished
        is a new visit next time (a revision loop sends the new text). None: the run changed."""
        mine = [s for s in self.store.list_steps(run.id) if s.node_id == node.id]
        visit = 1 + sum(1 for s in mine if s.status == "done")
        key = f"{run.id}:{node.id}:{visit}"
        if mine and mine[-1].status == "calling":  # the last call of this visit got no result
            return CallTicket(key, repeated=True)
        now = self.clock.now()
        calling = StepRecord(
            run_id=run.id, node_id=node.id, kind=node.type, status="calling", input={}, output=None,
            started_at=now, finished_at=now, meta={"idempotency_key": key},
        )  # fmt: skip
        keep = RunUpdate(
            run.id, ("running",), "running", node.id, run.values, run.section, run.revisions,
            expect_node=node.id,
        )  # fmt: skip
        try:
            self.store.apply(Transition(run_update=keep, steps=[calling]))
        except ConflictError:
            return None
        return CallTicket(key)

    def _step(
        self, wf: Workflow, node: Node, run: RunRecord, call: CallTicket | None = None
    ) -> tuple[Transition, RunRecord]:
        """Run one node; return what to write and the run as it will be once written."""
        started = self.clock.now()
        handler = kind_of(node).handler
        ai = kind_of(node).asks_ai
        live = LiveRecorder(self.store, run.id, node.id) if ai else None
        ctx = StepContext(
            wf, node, run, self.provider, self.prices, self._stopper(run.id),
            default_model=self.default_model() if ai else BUILTIN_MODEL, progress=live,
            revision=self._revision(node, run) if ai else None, call=call, connection=self.connection,
        )  # fmt: skip
        try:
            outcome = handler(ctx)
            t = self._transition(wf, node, run, outcome, started, self.clock.now())
        except EngineError as exc:
            t = self._failure(run, node, started, str(exc), getattr(exc, "meta", None))
        except Exception as exc:  # a bug, but the run must not stay 'running' forever
            log.exception("step %s of run %s crashed", node.id, run.id)
            t = self._failure(run, node, started, f"unexpected error: {exc}")
        finally:
            if live is not None:
                live.finish()
        assert t.run_update is not None
        return t, updated(run, t.run_update)

    def _revision(self, node: Node, run: RunRecord) -> Revision | None:
        """On the way back to a checkpoint that asked for changes: the reviewer's note and what the
        step answered last time in this run."""
        note = run.values.get("feedback")
        if not isinstance(note, str) or not note.strip():
            return None
        earlier = [s for s in self.store.list_steps(run.id) if s.node_id == node.id and s.status == "done"]
        return Revision(note, earlier[-1].output if earlier else None)

    def _transition(
        self,
        wf: Workflow,
        node: Node,
        run: RunRecord,
        outcome: StepOutcome,
        started: float,
        finished: float,
    ) -> Transition:
        values = dict(run.values)
        values.update(outcome.set_values)
        section = outcome.section or run.section
        audit: list[AuditEvent] = []
        if outcome.section and outcome.section != run.section:
            audit.append(AuditEvent(run.id, SYSTEM, "moved", {"from": run.section, "to": outcome.section}))
        if outcome.wait:
            assert isinstance(node, ApprovalNode)
            cp = self._open_checkpoint(wf, node, run, values)
            routing = self._route(wf, node, values)
            cp.policy = replace(cp.policy, prompt=prompt_signature(wf, node))
            if routing.auto:
                # opened unannounced; `_drive` approves it once this is committed, and should that
                # not happen (the process dies, the database refuses), the timers finish it
                cp.policy = replace(cp.policy, auto_approve=routing.detail)
                cp.action_at = self.clock.now() + AUTO_APPROVAL_GRACE
            else:
                cp.policy = replace(cp.policy, spot_check=routing.spot_check)
                detail = {"checkpoint": cp.id, "node": node.id, "assignee": cp.assignee}
                if routing.spot_check:
                    detail["spot_check"] = routing.spot_check
                audit.append(AuditEvent(run.id, SYSTEM, "checkpoint_opened", detail))
                quorum = self.permissions.quorum(cp)
                if quorum.short:  # said at once, in the audit trail as in the Inbox; it waits all the same
                    short = {
                        "checkpoint": cp.id, "node": node.id, "needed": quorum.needed,
                        "may_approve": list(quorum.deciders), "reason": short_reason(quorum, self.directory),
                    }  # fmt: skip
                    audit.append(AuditEvent(run.id, SYSTEM, "quorum_short", short))
            update = RunUpdate(
                run.id, ("running",), "waiting", node.id, values, section, run.revisions,
                expect_node=node.id,
            )  # fmt: skip
            return Transition(run_update=update, open_checkpoint=cp, audit=audit)
        step = StepRecord(
            run_id=run.id,
            node_id=node.id,
            kind=node.type,
            status="done",
            input=outcome.input,
            output=outcome.output,
            started_at=started,
            finished_at=finished,
            meta=outcome.meta,
        )
        if outcome.end_outcome is not None:
            audit.append(AuditEvent(run.id, SYSTEM, outcome.end_status, {"outcome": outcome.end_outcome}))
            update = RunUpdate(
                run.id, ("running",), outcome.end_status, None, values, section, run.revisions,
                expect_node=node.id, outcome=outcome.end_outcome,
            )  # fmt: skip
            return Transition(run_update=update, steps=[step], audit=audit)
        nxt = next_node(wf, node.id, outcome.edge_label)
        update = RunUpdate(
            run.id, ("running",), "running", nxt, values, section, run.revisions,
            expect_node=node.id,
        )  # fmt: skip
        return Transition(run_update=update, steps=[step], audit=audit)

    def _open_checkpoint(
        self, wf: Workflow, node: ApprovalNode, run: RunRecord, values: dict[str, Any]
    ) -> CheckpointRecord:
        names = node.visible_values or [k for k in values if k != "feedback"]
        shown = {k: values.get(k) for k in names}
        if values.get("feedback"):  # a revision: show the note it answers
            shown["feedback"] = values["feedback"]
        instructions = ""
        if node.instructions:
            what = f"the reviewer instructions of step `{node.id}`"
            instructions = render(node.instructions, values, what, self._stopper(run.id))
        ts = self.clock.now()
        cp = CheckpointRecord(
            id=new_id("cp"),
            run_id=run.id,
            workflow_id=wf.id,
            node_id=node.id,
            status="pending",
            assignee=node.assignee,
            created_at=ts,
            due_at=due_time(ts, node, wf),
            shown=shown,
            editable=list(node.editable_values),
            instructions=instructions,
            title=run.title,
            requester=run.started_by,
            policy=opening_policy(node, self._send_backs(run.id, node.id)),
        )
        cp.action_at = next_action_at(cp, node, wf, 0)
        return cp

    def _route(self, wf: Workflow, node: ApprovalNode, values: dict[str, Any]) -> Routing:
        """Whether Loopdesk approves a checkpoint opening now (auto-approval with spot checks), or a
        person decides it — as a spot check when auto-approval is on."""
        rule = node.auto_approval
        if rule is None:
            return Routing(False)
        now_standing = current_standing(self.store, wf, node, rule)
        draft = drafts_of(values, draft_names(wf, node))
        return route(rule, now_standing, draft, revision=bool(values.get("feedback")))

    def auto_approve(
        self, wf: Workflow, cp: CheckpointRecord, run: RunRecord, lease: Lease | None
    ) -> RunRecord | None:
        """Approve a checkpoint as Loopdesk under auto-approval, recorded as such; the run as it goes
        on (leased with `lease`), or None when something else decided or cancelled it first."""
        node = wf.node(cp.node_id)
        assert isinstance(node, ApprovalNode) and cp.policy.auto_approve is not None
        why = cp.policy.auto_approve
        comment = (
            f"Auto-approved: {why.get('rate', 0):.0%} of the last {why.get('reviews')} reviews were approved "
            f"as they were; one run in {why.get('spot_check_every')} still goes to a person."
        )
        t = decision_transition(
            self.permissions, wf, node, cp, run, SYSTEM, Approve(comment=comment), auto=why
        )
        t.lease = lease
        try:
            self.store.apply(t)
        except ConflictError:
            return None
        assert t.run_update is not None
        return updated(run, t.run_update)

    def _send_backs(self, run_id: str, node_id: str) -> int:
        """How often the approval `node_id` has sent this run back for changes so far."""
        return sum(
            1
            for c in self.store.list_checkpoints(CheckpointQuery(status="decided", run_id=run_id))
            if c.node_id == node_id and (d := decision_record(c)) is not None and d.kind == "request_changes"
        )

    def _failure(
        self, run: RunRecord, node: Node, started: float, message: str, meta: dict[str, Any] | None = None
    ) -> Transition:
        step = StepRecord(
            run_id=run.id, node_id=node.id, kind=node.type, status="failed", input={},
            output=None, started_at=started, finished_at=self.clock.now(), error=message, meta=meta or {},
        )  # fmt: skip
        update = RunUpdate(
            run.id, ("running",), "failed", node.id, run.values, run.section, run.revisions,
            expect_node=node.id, error=message, failed_node=node.id,
        )  # fmt: skip
        audit = AuditEvent(run.id, SYSTEM, "failed", {"node": node.id, "error": message})
        return Transition(run_update=update, steps=[step], audit=[audit])

    # -- deciding -------------------------------------------------------------
    def decide(
        self, checkpoint_id: str, user: str, decision: Decision, background: bool = False
    ) -> RunRecord:
        """Apply a reviewer's decision exactly once, then drive the run on. Where several members
        must approve, an approval is that member's vote (each member votes once) until the
        quorum is reached; one rejection or send-back decides at once."""
        problem = note_problem(decision)
        if problem is not None:
            raise InvalidDecisionError(problem)
        for _ in range(_VOTE_ATTEMPTS):
            cp = self.get_checkpoint(checkpoint_id)
            if cp.status != "pending":
                raise AlreadyDecidedError.of(cp, self.directory.name_of)
            run = self.get_run(cp.run_id)
            wf = self.workflow_of(run)
            node = wf.node(cp.node_id)
            assert isinstance(node, ApprovalNode)
            seat = None
            if isinstance(decision, Reassign):
                if not self.directory.exists(decision.to):
                    raise InvalidDecisionError(f"cannot reassign to `{decision.to}`: no such user or group")
                if decision.to == cp.assignee:
                    raise InvalidDecisionError(f"the checkpoint is already assigned to {decision.to}")
                seat = self.permissions.check_reassign(user, cp, node, decision.to, decision.replacing)
            else:
                self.permissions.check_decide(user, cp, decision.override_reason)
            t = decision_transition(self.permissions, wf, node, cp, run, user, decision, seat=seat)
            if t.run_update is not None and t.run_update.status == "running":
                t.lease = self.lease_for(background)
            try:
                self.store.apply(t)
            except ConflictError as exc:
                latest = exc.checkpoint or self.get_checkpoint(checkpoint_id)
                if latest.status != "pending":
                    raise AlreadyDecidedError.of(latest, self.directory.name_of) from None
                if latest.assignee != cp.assignee:
                    where = self.directory.label(latest.assignee)
                    raise NotAllowedError(user, f"this checkpoint was just reassigned to {where}") from None
                continue  # another member's vote (or an escalation step) landed first: count again
            break
        else:
            raise InvalidStateError("this item keeps changing (others decide it at the same time); try again")
        if t.run_update is None:  # a vote or a reassignment: the run is unchanged
            return run
        after = updated(run, t.run_update)
        if after.status == "running" and t.lease is not None:
            if background:
                self.submit(run.id)
            else:
                return self._drive_on(after)
        return after

    # -- lifecycle ------------------------------------------------------------
    def retry(self, run_id: str, actor: str, background: bool = False) -> RunRecord:
        """Continue a failed run from the step that failed (earlier steps are kept)."""
        run = self.get_run(run_id)
        self.permissions.check_manage_run(actor, run, self.workflow_of(run), "retry")
        if run.status != "failed":
            raise InvalidStateError(f"run `{run_id}` is {run.status}; only failed runs can be retried")
        node = run.failed_node or run.current_node
        update = RunUpdate(
            run.id, ("failed",), "running", node, run.values, run.section, run.revisions,
        )  # fmt: skip
        audit = AuditEvent(run.id, actor, "retried", {"node": node})
        lease = self.lease_for(background)
        try:
            self.store.apply(Transition(run_update=update, audit=[audit], lease=lease))
        except ConflictError:
            raise InvalidStateError(f"run `{run_id}` changed meanwhile; reload it") from None
        if background or lease is None:
            self.submit(run.id)
            return self.get_run(run.id)
        return self.drive(run.id, leased_at=self.clock.monotonic())

    def cancel(self, run_id: str, actor: str) -> RunRecord:
        """Stop a running or waiting run and close its open checkpoint."""
        run = self.get_run(run_id)
        self.permissions.check_manage_run(actor, run, self.workflow_of(run), "cancel")
        for _ in range(20):
            run = self.get_run(run_id)
            if run.status not in ("running", "waiting"):
                raise InvalidStateError(f"run `{run_id}` is {run.status}; it cannot be cancelled")
            # expect exactly the state read, so a step or decision landing meanwhile is kept
            update = RunUpdate(
                run.id, (run.status,), "cancelled", run.current_node, run.values, run.section,
                run.revisions, expect_node=run.current_node, outcome="Cancelled",
            )  # fmt: skip
            audit = AuditEvent(run.id, actor, "cancelled", {"at": run.current_node})
            try:
                self.store.apply(Transition(run_update=update, cancel_checkpoints_of=run.id, audit=[audit]))
            except ConflictError:
                continue  # the run moved on: read it again
            if run.id in self._busy:
                self._cancelled.add(run.id)  # a render in progress stops now, not at its budget
            return self.get_run(run.id)
        raise InvalidStateError(f"run `{run_id}` keeps changing; try cancelling again")

    def recover(self, background: bool = False) -> list[str]:
        """Continue runs cut off mid-step (status running, nobody's live lease on them) and apply due
        timeouts (those at once only when not in the background: a server's timers do it without
        holding up its start). A process without a pool leaves this to the workers."""
        if background and self._pool is None:
            return []
        ids = list(self.store.claim_runs(self.owner, self.lease_seconds, limit=100_000))
        for rid in ids:
            self.store.apply(Transition(audit=[AuditEvent(rid, SYSTEM, "recovered", {})]))
            if background:
                self.submit(rid)
            else:
                try:
                    self.drive(rid, leased_at=self.clock.monotonic())
                except Exception:  # one broken run must not keep the others from recovering
                    log.exception("recovering run %s failed", rid)
        if not background:  # in the background, the timers apply due actions on their first tick
            self.apply_timers()
        return ids

    def take_work(self) -> list[str]:
        """Claim runs that nobody drives (new ones left to workers, and ones whose driver stopped or
        died: their lease ran out) and drive them on the pool; return their ids. A run taken over
        from another driver says so in its audit trail."""
        if self._pool is None or self.store.health() is not None:
            return []  # no AI call is worth making while its answer cannot be saved
        self._report_unneeded_answers()
        room = self.room()
        if room == 0:
            return []
        claimed: dict[str, str | None] = {}
        kept = [rid for rid in self._answers.run_ids() if rid not in self._busy][:room]
        if kept:  # runs whose paid answer waits here: this process saves it (its lease may still hold)
            claimed.update(self.store.claim_runs(self.owner, self.lease_seconds, kept))
        if len(claimed) < room:
            claimed.update(self.store.claim_runs(self.owner, self.lease_seconds, limit=room - len(claimed)))
        taken = [rid for rid in claimed if rid not in self._busy]
        for rid in taken:
            was = claimed[rid]
            if was is not None and was != self.owner:
                detail = {"previous_driver": was, "driver": self.owner}
                self.store.apply(Transition(audit=[AuditEvent(rid, SYSTEM, "taken_over", detail)]))
            self.submit(rid)
        return taken

    def _report_unneeded_answers(self) -> None:
        """Answers kept while the database refused them whose runs went on without them (another
        driver took over): what they cost goes into the run's audit trail, not nowhere."""
        ids = self._answers.run_ids()
        if not ids:
            return
        for kept in self._answers.unneeded({rid: self.store.get_run(rid) for rid in ids}):
            why = "the database refused to save it and the run went on without it"
            detail = {**kept.usage(), "reason": why}
            self.store.apply(Transition(audit=[AuditEvent(kept.run_id, SYSTEM, "ai_answer_lost", detail)]))

    def room(self) -> int:
        """How many more runs the pool could drive right now."""
        return 0 if self._pool is None else max(0, self._pool.size - len(self._busy))

    def wait_for_room(self, timeout: float) -> None:
        """Wait until a drive ends or `timeout` seconds pass."""
        self._drive_ended.wait(timeout)
        self._drive_ended.clear()

    def apply_timers(self, at: float | None = None) -> list[Escalated]:
        """Take every escalation step (reminders, reassignments, approvals and rejections by
        timeout) that is due by `at` (default: now), once each; return what was done (see
        `engine.timers`)."""
        return self._timers_due.apply(at)


def wf_label(wf: Workflow) -> str:
    """How to name a workflow in messages."""
    return f"workflow `{wf.id}`"


def _title(wf: Workflow, trigger: FormTriggerNode, values: dict[str, Any]) -> str:
    if trigger.title_field and values.get(trigger.title_field) not in (None, ""):
        return str(values[trigger.title_field])[:120]
    for f in trigger.fields:
        if f.type in ("text", "email") and values.get(f.name):
            return str(values[f.name])[:120]
    return wf.name
