"""Advance runs until they wait or end; apply decisions; retry, cancel and recover.

A paused run is data: the run row says `waiting` and a checkpoint row is pending.
Every finished step is committed together with the run's new position, so after a
crash a run restarts at the step that was in flight and never repeats finished ones.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future
from contextlib import contextmanager
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
from engine.decisions import (
    Approve,
    Decision,
    Reassign,
    Reject,
    RequestChanges,
    decision_of,
    decision_record,
    note_problem,
)
from engine.diffs import edit_size
from engine.directory import RESERVED_USERS, SYSTEM, Directory
from engine.errors import (
    AlreadyDecidedError,
    EngineError,
    InvalidDecisionError,
    InvalidStateError,
    NotAllowedError,
    NotFoundError,
    StoreUnavailableError,
)
from engine.forms import as_text, coerce_field, coerce_form, parse_number
from engine.json_guard import has_surrogates
from engine.kept_answers import KeptAnswers
from engine.kinds import kind_of
from engine.limits import MAX_FORM_TEXT
from engine.live import LiveRecorder
from engine.llm.base import LLMError, LLMProvider
from engine.llm.choice import BUILTIN_MODEL, MODEL_SETTING, app_default_model
from engine.llm.structured import parse_answer
from engine.model import AIStepNode, ApprovalNode, EscalationStep, FormTriggerNode, Node, Workflow
from engine.permissions import Permissions
from engine.policies import (
    Escalated,
    QuorumState,
    chain,
    due_time,
    next_action_at,
    opening_policy,
    progress,
    short_reason,
    step_time,
)
from engine.steps import StepContext, StepOutcome
from engine.steps.base import Revision
from engine.store.base import (
    AuditEvent,
    CheckpointClose,
    CheckpointRecord,
    ConflictError,
    Lease,
    PolicyState,
    RunRecord,
    RunUpdate,
    StepRecord,
    Store,
    Transition,
    new_id,
    now,
)
from engine.templating import render
from engine.validation import ensure_valid
from engine.workers import WorkerPool

log = logging.getLogger("loopdesk.engine")

DEFAULT_LEASE_SECONDS = 30.0


def lease_seconds() -> float:
    """How long a driver's hold on a run lasts unless renewed (`LOOPDESK_LEASE_SECONDS`, default 30):
    after a driver dies, its runs wait this long before another driver continues them."""
    value = os.environ.get("LOOPDESK_LEASE_SECONDS", "").strip()
    try:
        seconds = float(value) if value else DEFAULT_LEASE_SECONDS
    except ValueError:
        raise EngineError(f"LOOPDESK_LEASE_SECONDS is '{value}'; use a number of seconds, e.g. 30") from None
    if seconds < 1:
        raise EngineError(f"LOOPDESK_LEASE_SECONDS is {value}; use at least 1 second")
    return seconds


DEFAULT_STORE_RETRY_SECONDS = 15.0


def store_retry_seconds() -> float:
    """How long a step's result is tried again while the database refuses writes, before the run waits
    for it (`LOOPDESK_STORE_RETRY_SECONDS`, default 15)."""
    value = os.environ.get("LOOPDESK_STORE_RETRY_SECONDS", "").strip()
    try:
        return max(0.0, float(value)) if value else DEFAULT_STORE_RETRY_SECONDS
    except ValueError:
        raise EngineError(
            f"LOOPDESK_STORE_RETRY_SECONDS is '{value}'; use a number of seconds, e.g. 15"
        ) from None


def driver_id() -> str:
    """A name for this process as a driver of runs: host, process id and a random suffix."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


_VOTE_ATTEMPTS = 50
"""How often a decision is tried again when other members' votes land first (each try counts them)."""

MAX_STEPS_PER_DRIVE = 1000
"""A run that takes this many steps without pausing is stopped as failed (a loop)."""
_MAX_HELD = 50


class _RunLocks:
    """One lock per run id, dropped when nobody holds it."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, run_id: str) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.get(run_id, (threading.Lock(), 0))
            self._locks[run_id] = (lock, users + 1)
        lock.acquire()
        try:
            yield
        finally:
            lock.release()
            with self._guard:
                lock, users = self._locks[run_id]
                if users <= 1:
                    del self._locks[run_id]
                else:
                    self._locks[run_id] = (lock, users - 1)


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
        self._leased: set[str] = set()
        """Runs this process drives right now; their leases are renewed while it does."""
        self._heartbeat: threading.Thread | None = None
        self._heartbeat_lock = threading.Lock()
        self._drive_ended = threading.Event()
        """Set whenever a drive ends (a worker waiting for room to take more work wakes up)."""
        self._timers_stop = threading.Event()
        self._timers: threading.Thread | None = None
        self._locks = _RunLocks()
        self._wf_cache: dict[tuple[str, int], Workflow] = {}
        self._valid: set[tuple[str, int]] = set()
        self._busy: set[str] = set()
        """Runs this process has queued or is driving."""
        self._cancelled: set[str] = set()
        """Runs cancelled while this process drives them: their prompt renders stop."""
        self.store_retry_seconds = store_retry_seconds()
        self._answers = KeptAnswers()
        """Paid AI answers the database refused to save, kept until it takes them (never asked again)."""

    # -- helpers --------------------------------------------------------------
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

    def submit(self, run_id: str) -> Future[RunRecord]:
        """Drive a run on the worker pool (AI steps of different runs run in parallel); without a
        pool, leave it to the workers (the store has announced it) and return it as it is."""
        if self._pool is None:
            left: Future[RunRecord] = Future()
            left.set_result(self.get_run(run_id))
            return left
        self._busy.add(run_id)
        return self._pool.submit(self.drive, run_id, None, time.monotonic())

    def _lease(self, background: bool) -> Lease | None:
        """The lease to take in the commit that makes a run runnable: this process's, when it will
        drive the run itself (now, or on its pool); None leaves the run to whichever worker claims it."""
        if background and self._pool is None:
            return None
        return Lease(self.owner, self.lease_seconds)

    def _renew_leases(self) -> None:
        """Keep renewing the leases of the runs this process drives (a third of the lease apart);
        a lease found lost (this process stalled past it) stops that drive's long work."""
        while not self._timers_stop.wait(self.lease_seconds / 3):
            held = list(self._leased)
            if not held:
                continue
            try:
                kept = set(self.store.renew_leases(self.owner, held, self.lease_seconds))
            except Exception:  # the next beat tries again; a lease outlives a few missed beats
                log.exception("renewing run leases failed")
                continue
            for rid in held:
                if rid not in kept and rid in self._leased:
                    log.warning("lost the lease on run %s; another driver continues it", rid)
                    self._cancelled.add(rid)

    def _start_heartbeat(self) -> None:
        with self._heartbeat_lock:
            if self._heartbeat is None:
                beat = threading.Thread(target=self._renew_leases, name="loopdesk-leases", daemon=True)
                beat.start()
                self._heartbeat = beat

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
        held = list(self._leased)
        if held:
            self._cancelled.update(held)  # long renders stop; their results would conflict anyway
            try:
                self.store.release_runs(self.owner, held)
            except Exception:  # the leases then simply run out
                log.exception("releasing %d run(s) failed", len(held))
        return held

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
        ts = now()
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
        lease = None if detach else self._lease(background)
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
            return self.drive(committed.id, known=committed, leased_at=time.monotonic())
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
                fresh = leased_at is not None and time.monotonic() - leased_at < self.lease_seconds / 3
                if not fresh and not self.store.claim_runs(self.owner, self.lease_seconds, [run_id]):
                    return self.get_run(run_id)  # another process drives it (or it is not running)
                self._leased.add(run_id)
                self._start_heartbeat()
                try:
                    return self._drive(run_id, known)
                finally:
                    self._leased.discard(run_id)
                    try:
                        self.store.release_runs(self.owner, [run_id])
                    except StoreUnavailableError:  # the lease runs out by itself
                        log.warning("could not release run %s: the database is away", run_id)
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
                t, run = self._failure(run, node, now(), message), None
            else:
                before = run
                kept = self._answers.take(run, node.id) if external else None
                t, run = kept if kept is not None else self._step(wf, node, run)
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
                run = self._auto_approve(
                    wf, opened, run, Lease(self.owner, self.lease_seconds)
                ) or self.get_run(run_id)
        if held and not self._commit(held):
            return self.get_run(run_id)
        return run if run is not None else self.get_run(run_id)

    def _commit(self, held: list[Transition]) -> bool:
        """Apply the held transitions as one, trying again for up to `store_retry_seconds` while the
        database refuses writes (a server restarting, a disk briefly full); False if the run changed
        meanwhile or failed."""
        merged = merge_transitions(held)
        held.clear()
        deadline = time.monotonic() + self.store_retry_seconds
        pause = 0.25
        while True:
            try:
                self.store.apply(merged)
                return True
            except ConflictError:
                return False  # cancelled meanwhile, or a try that failed had landed after all
            except StoreUnavailableError as exc:
                if time.monotonic() + pause <= deadline and not self._timers_stop.is_set():
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
            self.store.apply(self._failure(run, node, now(), message))
        except Exception:  # the run stays 'running' and is retried on recovery
            log.exception("could not record the failure of run %s", run.id)

    def default_model(self) -> str:
        """The model of workflows that name none: the admin's choice, else `LOOPDESK_MODEL`, else
        gpt-4o-mini (read each time, so a change reaches every process)."""
        return app_default_model(self.store.setting(MODEL_SETTING, ""))

    def _step(self, wf: Workflow, node: Node, run: RunRecord) -> tuple[Transition, RunRecord]:
        """Run one node; return what to write and the run as it will be once written."""
        started = now()
        handler = kind_of(node).handler
        ai = kind_of(node).calls_out
        live = LiveRecorder(self.store, run.id, node.id) if ai else None
        ctx = StepContext(
            wf, node, run, self.provider, self.prices, self._stopper(run.id),
            default_model=self.default_model() if ai else BUILTIN_MODEL, progress=live,
            revision=self._revision(node, run) if ai else None,
        )  # fmt: skip
        try:
            outcome = handler(ctx)
            t = self._transition(wf, node, run, outcome, started, now())
        except EngineError as exc:
            t = self._failure(run, node, started, str(exc), getattr(exc, "meta", None))
        except Exception as exc:  # a bug, but the run must not stay 'running' forever
            log.exception("step %s of run %s crashed", node.id, run.id)
            t = self._failure(run, node, started, f"unexpected error: {exc}")
        finally:
            if live is not None:
                live.finish()
        assert t.run_update is not None
        return t, _updated(run, t.run_update)

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
                cp.action_at = now() + AUTO_APPROVAL_GRACE
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
        nxt = _next_node(wf, node.id, outcome.edge_label)
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
        ts = now()
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

    def _auto_approve(
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
        t = self._decision_transition(wf, node, cp, run, SYSTEM, Approve(comment=comment), auto=why)
        t.lease = lease
        try:
            self.store.apply(t)
        except ConflictError:
            return None
        assert t.run_update is not None
        return _updated(run, t.run_update)

    def _finish_auto_approval(self, cp: CheckpointRecord) -> None:
        """An auto-approval whose opening was committed but whose approval was not (see `_transition`):
        approve it now and drive the run on."""
        run = self.get_run(cp.run_id)
        if run.status != "waiting" or run.current_node != cp.node_id:
            return
        after = self._auto_approve(self.workflow_of(run), cp, run, self._lease(self._pool is None))
        if after is None or after.status != "running":
            return
        if self._pool is None:
            self._drive_on(after)
        else:
            self.submit(run.id)

    def _send_backs(self, run_id: str, node_id: str) -> int:
        """How often the approval `node_id` has sent this run back for changes so far."""
        return sum(
            1
            for c in self.store.list_checkpoints(status="decided", run_id=run_id)
            if c.node_id == node_id and (d := decision_record(c)) is not None and d.kind == "request_changes"
        )

    def _failure(
        self, run: RunRecord, node: Node, started: float, message: str, meta: dict[str, Any] | None = None
    ) -> Transition:
        step = StepRecord(
            run_id=run.id, node_id=node.id, kind=node.type, status="failed", input={},
            output=None, started_at=started, finished_at=now(), error=message, meta=meta or {},
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
            t = self._decision_transition(wf, node, cp, run, user, decision, seat=seat)
            if t.run_update is not None and t.run_update.status == "running":
                t.lease = self._lease(background)
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
        after = _updated(run, t.run_update)
        if after.status == "running" and t.lease is not None:
            if background:
                self.submit(run.id)
            else:
                return self._drive_on(after)
        return after

    def _decision_transition(
        self,
        wf: Workflow,
        node: ApprovalNode,
        cp: CheckpointRecord,
        run: RunRecord,
        user: str,
        decision: Decision,
        auto: dict[str, Any] | None = None,
        seat: str | None = None,
    ) -> Transition:
        comment = decision.comment.strip()
        if isinstance(decision, Reassign):
            return self._reassign_transition(cp, run, user, decision, seat)
        if isinstance(decision, (Reject, RequestChanges)) and not comment:
            what = "a reason" if isinstance(decision, Reject) else "a note saying what to change"
            raise InvalidDecisionError(f"{decision.kind.replace('_', ' ')} needs {what}")
        override = decision.override_reason.strip() if self.permissions.self_approval(user, cp) else ""
        policy = cp.policy
        quorum_override = ""
        if isinstance(decision, Approve):
            quorum = self.permissions.quorum(cp)
            if quorum.several and user in quorum.deciders:
                policy = self._with_vote(cp, user, decision, quorum.needed)
                after = self.permissions.quorum(replace(cp, policy=policy))
                if len(after.approved) < after.needed:  # the checkpoint stays open
                    return self._vote_transition(cp, node, run, user, policy, after)
            elif quorum.several:  # an admin, the operator or the escalation chain, before the quorum
                quorum_override = self._quorum_override(cp, user, decision, quorum)
        values = dict(run.values)
        edits: dict[str, dict[str, Any]] = {}
        status, next_node, outcome, revisions = "running", None, None, run.revisions
        if isinstance(decision, Approve):
            for name, new in decision.edits.items():
                if name not in cp.editable:
                    allowed = ", ".join(cp.editable) or "none"
                    raise InvalidDecisionError(f"`{name}` is not editable here (editable: {allowed})")
                new_value = coerce_edit(wf, name, new)
                if new_value != values.get(name):
                    edits[name] = {"before": values.get(name), "after": new_value}
                    values[name] = new_value
            next_node = _next_node(wf, node.id, "approved")
            values["feedback"] = ""  # a note answered by a revision must not reach later steps
        elif isinstance(decision, Reject):
            values["feedback"] = ""
            edge = _edge_target(wf, node.id, "rejected")
            if edge is None:
                status, outcome = "rejected", "Rejected"
            next_node = edge
        else:
            refusal = send_back_refusal(wf, node.id, cp.policy.revisions)
            if refusal is not None:
                raise InvalidDecisionError(refusal)
            edge = _edge_target(wf, node.id, "changes_requested")
            values["feedback"] = comment
            revisions += 1
            next_node = edge
        record: dict[str, Any] = {"kind": decision.kind, "comment": comment, "edits": edits}
        if isinstance(decision, Approve):
            record["edit_size"] = edit_size(edits)  # words changed / words in the draft
        if policy.votes:
            record["approvals"] = policy.voters
        if override:
            record["override_reason"] = override
        if quorum_override:
            record["quorum_override"] = quorum_override
        if auto is not None:
            record["auto_approved"] = auto
        ts = now()
        step = StepRecord(
            run_id=run.id, node_id=node.id, kind=node.type, status="done",
            input={"shown": cp.shown, "editable": cp.editable, "assignee": cp.assignee},
            output={**record, "by": user}, started_at=cp.created_at, finished_at=ts,
            meta={"checkpoint": cp.id, "review_seconds": ts - cp.created_at},
        )  # fmt: skip
        update = RunUpdate(
            run.id, ("waiting",), status, next_node, values, run.section, revisions,
            expect_node=node.id, outcome=outcome,
        )  # fmt: skip
        decided = {"checkpoint": cp.id, "node": node.id, **record, "shown": cp.shown}
        audit = [AuditEvent(run.id, user, f"decision_{decision.kind}", decided, ts)]
        if override:
            detail = {"checkpoint": cp.id, "node": node.id, "reason": override, "decision": decision.kind}
            audit.append(AuditEvent(run.id, user, "self_approval_override", detail, ts))
        if quorum_override:
            detail = {"checkpoint": cp.id, "node": node.id, "progress": quorum_override, "comment": comment}
            if isinstance(decision, Approve) and decision.override_reason.strip():
                detail["reason"] = decision.override_reason.strip()
            audit.append(AuditEvent(run.id, user, "quorum_overridden", detail, ts))
        if auto is not None:
            audit.append(
                AuditEvent(
                    run.id, SYSTEM, "auto_approved", {"checkpoint": cp.id, "node": node.id, **auto}, ts
                )
            )
        if status == "rejected":
            audit.append(AuditEvent(run.id, SYSTEM, "rejected", {"reason": comment}, ts))
        close = CheckpointClose(
            cp.id, "decided", user, decision=record, expect_assignee=cp.assignee,
            policy=policy if policy != cp.policy else None, expect_policy=cp.policy,
        )  # fmt: skip
        return Transition(run_update=update, steps=[step], close_checkpoint=close, audit=audit)

    def _reassign_transition(
        self, cp: CheckpointRecord, run: RunRecord, user: str, decision: Reassign, seat: str | None
    ) -> Transition:
        """Hand the checkpoint on, or on a quorum hand one person's place on (`seat`): who must approve
        never shrinks. The checkpoint stays open."""
        comment = decision.comment.strip()
        if seat is None:
            close = CheckpointClose(
                cp.id, "pending", user, new_assignee=decision.to, expect_assignee=cp.assignee,
                clear_due=user == SYSTEM,  # the timeout acted once; a person may reassign again
            )  # fmt: skip
            detail = {"checkpoint": cp.id, "from": cp.assignee, "to": decision.to, "comment": comment}
            return Transition(close_checkpoint=close, audit=[AuditEvent(run.id, user, "reassigned", detail)])
        first = next((k for k, v in cp.policy.seat_holders().items() if v == seat), seat)
        policy = cp.policy.with_seat(first, decision.to)
        close = CheckpointClose(
            cp.id, "pending", user, expect_assignee=cp.assignee, policy=policy,
            expect_policy=cp.policy, action_at=cp.action_at,
        )  # fmt: skip
        detail = {
            "checkpoint": cp.id, "from": seat, "to": decision.to, "comment": comment, "place_of": seat,
        }  # fmt: skip
        return Transition(close_checkpoint=close, audit=[AuditEvent(run.id, user, "reassigned", detail)])

    def _quorum_override(
        self, cp: CheckpointRecord, user: str, decision: Approve, quorum: QuorumState
    ) -> str:
        """An approval by someone not asked (an admin, the operator, the escalation chain) before the
        quorum is reached: allowed with a reason (admins) and recorded; what it overrode, in words."""
        standing = progress(quorum, self.directory) or f"{len(quorum.approved)} of {quorum.needed} approved"
        if user not in RESERVED_USERS and not decision.override_reason.strip():
            raise InvalidDecisionError(
                f"this approval needs {quorum.needed} approvals ({standing}); as an admin you may approve "
                "it alone with a reason (recorded in the audit trail)"
            )
        return standing

    @staticmethod
    def _with_vote(cp: CheckpointRecord, user: str, decision: Approve, needed: int) -> PolicyState:
        """The policy state with this member's approval added, where several are needed; refused
        for a second vote, and for edits (each approver would edit differently)."""
        mine = cp.policy.vote_by(user)
        if mine is not None:
            raise AlreadyDecidedError(cp.id, user, "decided", mine.get("at"), "approve", "you")
        if decision.edits:
            raise InvalidDecisionError(
                f"this approval needs {needed} approvals, so it cannot be edited by one of them; "
                "approve as it is, or request changes"
            )
        ballot = {"by": user, "at": now(), "comment": decision.comment.strip()}
        return replace(cp.policy, votes=[*cp.policy.votes, ballot])

    def _vote_transition(
        self,
        cp: CheckpointRecord,
        node: ApprovalNode,
        run: RunRecord,
        user: str,
        policy: PolicyState,
        quorum: QuorumState,
    ) -> Transition:
        """Record one member's approval short of the quorum; the checkpoint stays open."""
        close = CheckpointClose(
            cp.id, "pending", user, expect_assignee=cp.assignee, policy=policy,
            expect_policy=cp.policy, action_at=cp.action_at,
        )  # fmt: skip
        detail = {
            "checkpoint": cp.id, "node": node.id, "comment": policy.votes[-1]["comment"],
            "progress": progress(quorum, self.directory),
        }  # fmt: skip
        counted = AuditEvent(run.id, user, "approval_counted", detail)
        return Transition(close_checkpoint=close, audit=[counted])

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
        lease = self._lease(background)
        try:
            self.store.apply(Transition(run_update=update, audit=[audit], lease=lease))
        except ConflictError:
            raise InvalidStateError(f"run `{run_id}` changed meanwhile; reload it") from None
        if background or lease is None:
            self.submit(run.id)
            return self.get_run(run.id)
        return self.drive(run.id, leased_at=time.monotonic())

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
                    self.drive(rid, leased_at=time.monotonic())
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
        timeout) that is due by `at` (default: now), in order; return what was done. Each step is
        applied once however many processes or `timers` commands run at the same time: the
        checkpoints are claimed with a lease, and each step's write expects the step before it."""
        at = now() if at is None else at
        done: list[Escalated] = []
        idle: list[str] = []
        for cp in self.store.due_checkpoints(at, lease_seconds=self.lease_seconds):
            try:
                acted, finished = self._escalate(cp, at)
            except EngineError as exc:
                log.warning("escalation of checkpoint %s not applied: %s", cp.id, exc)
                continue
            done += acted
            if finished:
                idle.append(cp.id)
        self.store.clear_actions(idle)
        return done

    def _escalate(self, cp: CheckpointRecord, at: float) -> tuple[list[Escalated], bool]:
        """Take the due steps of one checkpoint's chain; (what was done, whether it has no step
        left, so its due action can be forgotten)."""
        if cp.policy.auto_approve is not None:  # an auto-approval that did not finish: finish it
            self._finish_auto_approval(cp)
            return [], True
        run = self.get_run(cp.run_id)
        wf = self.workflow_of(run)
        node = wf.node(cp.node_id)
        if not isinstance(node, ApprovalNode):
            return [], True
        steps = chain(node)
        acted: list[Escalated] = []
        while cp.status == "pending" and cp.policy.stage < len(steps):
            stage = cp.policy.stage
            step = steps[stage]
            due = step_time(cp, step, wf)
            if due > at:  # claimed early (its stored time was counted differently): put it back
                self._record_step(cp, replace(cp.policy), due, [])
                return acted, False
            taken = self._take_step(cp, node, wf, run, step, stage, due)
            if taken is None:
                return acted, False  # another process took this step; it carries on from here
            acted.append(taken)
            cp = self.get_checkpoint(cp.id)
        return acted, cp.status == "pending"

    def _take_step(
        self,
        cp: CheckpointRecord,
        node: ApprovalNode,
        wf: Workflow,
        run: RunRecord,
        step: EscalationStep,
        stage: int,
        due: float,
    ) -> Escalated | None:
        """Apply one escalation step exactly once; what was done (None: it was done elsewhere)."""
        legacy = stage >= len(node.escalation)
        reason = (
            f"due time passed ({step.after_hours:g} h)"
            if legacy
            else f"no decision after {step.after_hours:g} h (escalation step {stage + 1})"
        )
        taken = Escalated(cp.id, run.id, step.action, cp.assignee, step.to, stage + 1, due, reason)
        later = next_action_at(cp, node, wf, stage + 1)
        advanced = replace(cp.policy, stage=stage + 1)
        if step.action in ("approve", "reject"):
            try:  # a process that drives nothing itself leaves the run to the workers
                self.decide(cp.id, SYSTEM, decision_of(step.action, reason), background=self._pool is None)
            except AlreadyDecidedError:
                return None
            return taken
        if step.action == "remind":
            advanced = replace(advanced, reminders=cp.policy.reminders + 1, reminded_at=now())
            detail = {"checkpoint": cp.id, "node": node.id, "assignee": cp.assignee, "reason": reason}
            audit = [AuditEvent(run.id, SYSTEM, "reminded", detail)]
            return taken if self._record_step(cp, advanced, later, audit) else None
        target = step.to or ""
        if target == cp.assignee or not self.directory.exists(target):
            if target != cp.assignee:
                log.warning("escalation of %s skips a reassignment to unknown `%s`", cp.id, target)
            return taken if self._record_step(cp, advanced, later, []) else None
        detail = {"checkpoint": cp.id, "from": cp.assignee, "to": target, "comment": reason}
        audit = [AuditEvent(run.id, SYSTEM, "reassigned", detail)]
        return taken if self._record_step(cp, advanced, later, audit, target) else None

    def _record_step(
        self,
        cp: CheckpointRecord,
        policy: PolicyState,
        action_at: float | None,
        audit: list[AuditEvent],
        assignee: str | None = None,
    ) -> bool:
        """Write an escalation step's effect on a checkpoint that stays open, unless its policy
        moved on meanwhile; whether it was written."""
        close = CheckpointClose(
            cp.id, "pending", SYSTEM, new_assignee=assignee, expect_assignee=cp.assignee,
            policy=policy, expect_policy=cp.policy, action_at=action_at,
        )  # fmt: skip
        try:
            self.store.apply(Transition(close_checkpoint=close, audit=audit))
        except ConflictError:
            return False
        return True


def _updated(run: RunRecord, u: RunUpdate) -> RunRecord:
    """The run as it is once the update is committed."""
    return replace(
        run, status=u.status, current_node=u.current_node, values=u.values, section=u.section,
        revisions=u.revisions, outcome=u.outcome, error=u.error, failed_node=u.failed_node,
        updated_at=now(),
    )  # fmt: skip


def merge_transitions(held: list[Transition]) -> Transition:
    """Consecutive transitions of one run as one: the first's expectations, the last's state."""
    if len(held) == 1:
        return held[0]
    first, last = held[0].run_update, held[-1].run_update
    assert first is not None and last is not None
    update = replace(last, expect_status=first.expect_status, expect_node=first.expect_node)
    opened = [t.open_checkpoint for t in held if t.open_checkpoint is not None]
    return Transition(
        run_update=update,
        steps=[s for t in held for s in t.steps],
        open_checkpoint=opened[-1] if opened else None,
        audit=[a for t in held for a in t.audit],
    )


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


def send_back_refusal(wf: Workflow, node_id: str, revisions: int) -> str | None:
    """Why a task at this approval cannot be sent back for changes now, or None when it can."""
    if _edge_target(wf, node_id, "changes_requested") is None:
        return "this step has no way back for changes; approve or reject it"
    if revisions >= wf.max_revisions:
        return (
            f"this task was already sent back {revisions} time(s), the workflow's limit; approve or reject it"
        )
    return None


def _edge_target(wf: Workflow, node_id: str, label: str | None) -> str | None:
    for e in wf.outgoing(node_id):
        if e.label == label:
            return e.target
    return None


def _next_node(wf: Workflow, node_id: str, label: str | None) -> str:
    """Target of the edge with this label (or the single edge); error if there is none."""
    edges = wf.outgoing(node_id)
    if label is None and len(edges) == 1:
        return edges[0].target
    target = _edge_target(wf, node_id, label)
    if target is None:
        raise InvalidStateError(f"node `{node_id}` has no `{label}` connection to follow")
    return target


def coerce_edit(wf: Workflow, name: str, new: Any) -> Any:
    """Give a reviewer's edit the type the workflow declares for that value."""
    for node in wf.nodes:
        if isinstance(node, FormTriggerNode):
            for f in node.fields:
                if f.name == name:
                    if new in (None, "") and not f.required:
                        return None if f.type == "number" else ""
                    try:
                        return coerce_field(f, new)
                    except ValueError as exc:
                        raise InvalidDecisionError(f"`{name}`: {exc}") from None
        if isinstance(node, AIStepNode) and node.output_name == name:
            try:
                if node.output_kind == "text":
                    return "" if new is None else _checked_text(as_text(new))
                return parse_answer(node.output_kind, node.labels, node.json_fields, _as_text(new))
            except (LLMError, ValueError) as exc:
                raise InvalidDecisionError(f"`{name}`: {exc}") from None
    try:  # a value no step declares: text or a number, as the reviewer typed it
        return new if isinstance(new, str) else parse_number(new)
    except ValueError as exc:
        raise InvalidDecisionError(f"`{name}`: {exc}") from None


def _checked_text(text: str) -> str:
    """A reviewer's text within the size a form value may have, with no broken characters."""
    if len(text) > MAX_FORM_TEXT:
        raise ValueError(f"is too long ({len(text):,} characters; at most {MAX_FORM_TEXT:,})")
    if has_surrogates(text):
        raise ValueError("contains a broken character (a lone surrogate); paste the text again")
    return text


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)
