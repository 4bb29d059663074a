"""The background sender: delivers every outbox event at least once to every channel, retrying
with backoff; a receiver that fails never blocks a run, and its failures are recorded.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage

from engine.directory import SYSTEM
from engine.errors import EngineError
from engine.links import LINK_ACTIONS, LinkSigner
from engine.notify.channels import DeliveryError, post_json, send_email
from engine.notify.events import OutboxEvent
from engine.notify.messages import ASKING_EVENTS, item_url, review_email, slack_payload, webhook_payload
from engine.notify.settings import NotifySettings, Smtp
from engine.runner import Engine, send_back_refusal
from engine.store.base import AuditEvent, CheckpointRecord, RunRecord, Transition, now

log = logging.getLogger("loopdesk.notify")

MAX_ATTEMPTS = 25
"""After this many failed rounds (about 5 hours with the backoff below) an event is marked failed."""
MAX_BACKOFF_SECONDS = 900.0
BATCH = 50
POLL_SECONDS = 2.0
CLAIM_SECONDS = 300.0
"""How long a sender holds the events it took (other processes skip them meanwhile); a sender that
dies mid-batch leaves them to be sent by another after this."""
"""How often the sender looks for due retries when nothing wakes it."""


def backoff(attempts: int) -> float:
    """Seconds before the next try after `attempts` failed rounds: 1, 2, 4, … up to 15 minutes."""
    return float(min(MAX_BACKOFF_SECONDS, 2 ** max(0, attempts - 1)))


@dataclass
class _Target:
    key: str
    send: Callable[[], None]


class Notifier:
    """Delivers due outbox events; `wake()` after a commit makes it look at once."""

    def __init__(self, engine: Engine, settings: NotifySettings, signer: LinkSigner) -> None:
        self.engine = engine
        self.store = engine.store
        self.settings = settings
        self.signer = signer
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- the loop ---------------------------------------------------------------------------
    def start(self) -> None:
        """Deliver in a daemon thread from now on (idempotent)."""
        if self._thread is not None:
            return
        for problem in self.settings.problems:
            log.warning("notifications: %s", problem)
        self.store.events_listener = self.wake
        self._thread = threading.Thread(target=self._loop, name="loopdesk-notify", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        """New events were committed: deliver them now rather than at the next poll."""
        self._wake.set()

    def stop(self) -> None:
        """Stop delivering (undelivered events stay in the outbox for the next start)."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=15)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(POLL_SECONDS)
            self._wake.clear()
            try:
                while not self._stop.is_set() and self.deliver_due() == BATCH:
                    pass  # a full batch: more may be due
            except Exception:  # keep delivering; the event stays due and is tried again
                log.exception("delivering notifications failed")

    # -- one round --------------------------------------------------------------------------
    def deliver_due(self) -> int:
        """Try every due event once on each channel that does not have it yet; return how many.

        With no channel configured, events are marked `skipped`: recorded, never sent later.
        """
        events = self.store.due_events(now(), BATCH, lease_seconds=CLAIM_SECONDS)
        handled = []
        for event in events:
            if self._stop.is_set():
                break
            try:
                self._deliver(event)
            except Exception as exc:  # one odd event must not hold up the others' progress
                log.exception("delivering event %s failed", event.id)
                self._failed(event, [f"unexpected: {type(exc).__name__}"])
            handled.append(event)
        self.store.update_events(handled)
        return len(handled)

    def _deliver(self, event: OutboxEvent) -> None:
        run = self.store.get_run(event.run_id)
        if run is None:
            event.status, event.last_error = "failed", "the run no longer exists"
            return
        if not self.settings.any:
            event.status = "skipped"
            return
        errors: list[str] = []
        for target in self._targets(event, run):
            if target.key in event.done:
                continue
            try:
                target.send()
                event.done.append(target.key)
            except DeliveryError as exc:
                errors.append(f"{target.key}: {exc}")
        if errors:
            self._failed(event, errors)
        else:
            event.status, event.delivered_at = "delivered", now()

    def _failed(self, event: OutboxEvent, errors: list[str]) -> None:
        """Count a failed round: try again after a backoff, or give up after the last attempt."""
        event.attempts += 1
        event.last_error = "; ".join(errors)
        if event.attempts >= MAX_ATTEMPTS:
            event.status = "failed"
        else:
            event.next_at = now() + backoff(event.attempts)
        if event.attempts == 1 or event.status == "failed":
            self._record_failure(event)

    def _record_failure(self, event: OutboxEvent) -> None:
        """Put the failure in the run's audit trail (first failure, and giving up)."""
        detail = {
            "event": event.event,
            "id": event.id,
            "error": event.last_error,
            "attempts": event.attempts,
            "gave_up": event.status == "failed",
        }
        try:
            audit = AuditEvent(event.run_id, SYSTEM, "notification_failed", detail)
            self.store.apply(Transition(audit=[audit]))
        except Exception:
            log.exception("could not record a notification failure of run %s", event.run_id)
        log.warning("notification %s (%s) not delivered: %s", event.id, event.event, event.last_error)

    # -- channels ---------------------------------------------------------------------------
    def _targets(self, event: OutboxEvent, run: RunRecord) -> list[_Target]:
        """Every channel this event goes to, each with how to send it."""
        settings = self.settings
        url = item_url(settings.base_url, event)
        name = self.engine.workflow_name(run)
        targets: list[_Target] = []
        decision = None
        if event.event == "checkpoint.decided" and event.checkpoint_id:
            decided = self.store.get_checkpoint(event.checkpoint_id)
            decision = decided.decision if decided is not None else None
        body = json.dumps(webhook_payload(event, run, settings.base_url, decision)).encode()
        for hook in settings.webhooks:
            if hook.format == "slack":
                slack = slack_payload(event, run, self.engine.directory, name, url, decision).encode()
                targets.append(_Target(hook.key, _post(hook.url, slack, event, settings.secret)))
            else:
                targets.append(_Target(hook.key, _post(hook.url, body, event, settings.secret)))
        if settings.smtp is not None and event.event in ASKING_EVENTS:
            targets += self._emails(event, run, name)
        return targets

    def _emails(self, event: OutboxEvent, run: RunRecord, workflow_name: str) -> list[_Target]:
        """One review email per person who may decide the checkpoint (while it still waits)."""
        smtp = self.settings.smtp
        cp = self.store.get_checkpoint(event.checkpoint_id or "")
        if smtp is None or cp is None or cp.status != "pending":
            return []  # decided meanwhile: nobody needs asking any more
        deciders = self.engine.permissions.deciders(cp)
        if cp.assignee != event.assignee:
            # one place in a quorum handed on asks only its new holder; else it was handed on meanwhile
            handed = event.event == "checkpoint.reassigned" and event.assignee in deciders
            if not handed or event.assignee not in cp.policy.seat_holders().values():
                return []
            deciders = [str(event.assignee)]
        out = []
        voted = cp.policy.voters  # members who approved already are not asked again
        demo = self._demo_values(run)
        for user in deciders:
            if user in voted:
                continue
            person = self.engine.directory.users[user]
            if not person.email:
                continue
            links = {
                action: f"{self.settings.base_url}/decide/{self.signer.make(cp, user, action)}"
                for action in self._allowed_actions(run, cp)
            }
            message = review_email(
                cp=cp,
                run=run,
                workflow_name=workflow_name,
                recipient=person,
                sender=self.settings.mail_from,
                links=links,
                open_url=item_url(self.settings.base_url, event),
                reminder=event.event == "checkpoint.reminded",
                demo_values={name for name in cp.shown if name in demo},
            )
            out.append(_Target(f"email:{user}", _mail(smtp, message, person.email)))
        return out

    def _demo_values(self, run: RunRecord) -> set[str]:
        """The values of this run the offline demo model wrote (labelled so in the email)."""
        try:
            nodes = self.engine.workflow_of(run).node_map()
        except EngineError:
            return set()
        return {
            str(getattr(nodes.get(s.node_id), "output_name", ""))
            for s in self.store.list_steps(run.id)
            if s.kind == "ai_step" and s.meta.get("demo")
        }

    def _allowed_actions(self, run: RunRecord, cp: CheckpointRecord) -> list[str]:
        """The link actions this checkpoint offers: no "request changes" where the step has no
        way back or the task was already sent back as often as the workflow allows."""
        try:
            refusal = send_back_refusal(self.engine.workflow_of(run), cp.node_id, cp.policy.revisions)
        except EngineError:
            refusal = "the workflow version cannot be read"
        return [a for a in LINK_ACTIONS if a != "request_changes" or refusal is None]


def _post(url: str, body: bytes, event: OutboxEvent, secret: str) -> Callable[[], None]:
    return lambda: post_json(url, body, event.id, event.event, secret)


def _mail(smtp: Smtp, message: EmailMessage, to: str) -> Callable[[], None]:
    return lambda: send_email(smtp, message, to)
