"""The background sender: delivers every outbox event at least once to every channel, retrying
with backoff; a receiver that fails never blocks a run, and its failures are recorded.

Receivers are delivered independently: each has a lane of its own (a few threads at most), and each
delivery a total deadline, so a slow or dead webhook never delays an email or another webhook.

Several processes may share one database with different channels set up (an app server with SMTP,
a worker without). Each process delivers only the channels it has and records them done; the
channels every configured process announced (`CHANNELS_SETTING`) say when an event is delivered
everywhere. A process with no channel leaves events to the others, unless no process has announced
any channel lately: then nothing would ever send them, and they are marked `skipped`.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from email.message import EmailMessage

from engine.dataflow import Delivered, delivered, end_reached
from engine.deciding import send_back_refusal
from engine.directory import SYSTEM
from engine.errors import EngineError
from engine.forms import as_text
from engine.links import LINK_ACTIONS, LinkSigner
from engine.notify.channels import DeliveryError, post_json, send_email
from engine.notify.messages import (
    ASKING_EVENTS,
    EMAIL_EVENTS,
    OUTCOME_EVENTS,
    item_url,
    outcome_email,
    review_email,
    slack_payload,
    webhook_payload,
)
from engine.notify.settings import NotifySettings, Smtp
from engine.records import AuditEvent, CheckpointRecord, OutboxEvent, RunRecord, Transition, now
from engine.runner import Engine

log = logging.getLogger("loopdesk.notify")

MAX_ATTEMPTS = 25
"""After this many failed rounds (about 5 hours with the backoff below) an event is marked failed."""
MAX_BACKOFF_SECONDS = 900.0
BATCH = 50
POLL_SECONDS = 2.0
"""How often the sender looks for due retries when nothing wakes it."""
CLAIM_SECONDS = 300.0
"""How long a sender holds the events it took (other processes skip them meanwhile); a sender that
dies mid-batch leaves them to be sent by another after this."""
LANE_THREADS = 4
"""Deliveries to one receiver at the same time, at most."""
EMAIL_CHANNEL = "email"
CHANNELS_SETTING = "notify.channels"
"""The channels configured processes announce: channel → when last announced (epoch seconds)."""
ANNOUNCE_SECONDS = 600.0
"""How often a configured process announces its channels again."""
CHANNEL_TTL_SECONDS = 24 * 3600.0
"""A channel nobody announced for this long is no longer waited for (it was taken out of the setup)."""
HANDOFF_SECONDS = 5.0
"""How soon this process looks again at an event it has done its part of (another process delivers the
rest meanwhile); an event waiting longer for the others is looked at less often (a tenth of its age, at
most every `MAX_BACKOFF_SECONDS`)."""


def backoff(attempts: int) -> float:
    """Seconds before the next try after `attempts` failed rounds: 1, 2, 4, … up to 15 minutes."""
    return float(min(MAX_BACKOFF_SECONDS, 2 ** max(0, attempts - 1)))


@dataclass
class _Target:
    key: str
    """How the event's progress names this delivery (`done`)."""
    channel: str
    """The channel it belongs to (a webhook's key, or `email`)."""
    receiver: str
    """Whose lane it goes through (one webhook, one SMTP server)."""
    send: Callable[[], None]


@dataclass
class _Delivery:
    """One event's deliveries in flight: finished when the last of its targets answers."""

    event: OutboxEvent
    needed: set[str]
    """Channels that must have it before it counts as delivered."""
    mine: set[str]
    """Channels of this process that it goes to."""
    waiting: int = 0
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    finished: threading.Event = field(default_factory=threading.Event)


def channels_of(settings: NotifySettings) -> list[str]:
    """The channels a process with these settings delivers: each webhook, and email."""
    return [h.key for h in settings.webhooks] + ([EMAIL_CHANNEL] if settings.smtp is not None else [])


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
        self._lanes: dict[str, ThreadPoolExecutor] = {}
        self._lanes_lock = threading.Lock()
        self._in_flight: set[str] = set()
        """Events this process is delivering right now (not taken again meanwhile)."""
        self._in_flight_lock = threading.Lock()
        self._announced_at = 0.0

    # -- the loop ---------------------------------------------------------------------------
    def start(self) -> None:
        """Deliver in a daemon thread from now on (idempotent)."""
        if self._thread is not None:
            return
        for problem in self.settings.problems:
            log.warning("notifications: %s", problem)
        try:
            self.announce()
        except EngineError as exc:  # the database is not usable yet: announced at the first round
            log.warning("notifications: could not announce this process's channels yet: %s", exc)
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
        with self._lanes_lock:
            lanes, self._lanes = list(self._lanes.values()), {}
        for lane in lanes:
            lane.shutdown(wait=False, cancel_futures=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(POLL_SECONDS)
            self._wake.clear()
            try:
                while not self._stop.is_set() and self.deliver_due(wait=False) == BATCH:
                    pass  # a full batch: more may be due
            except Exception:  # keep delivering; the event stays due and is tried again
                log.exception("delivering notifications failed")

    # -- which channels exist ---------------------------------------------------------------
    def announce(self) -> None:
        """Record this process's channels as ones every event must reach (kept while announced)."""
        mine = channels_of(self.settings)
        if not mine:
            return
        for _ in range(3):  # processes announcing at the same instant: read back, merge again
            known = self._announced()
            at = now()
            known.update({c: at for c in mine})
            self.store.put_setting(CHANNELS_SETTING, json.dumps(known, sort_keys=True))
            if set(mine) <= set(self._announced()):
                break
        self._announced_at = now()

    def _announced(self) -> dict[str, float]:
        """Every channel announced, with when it was last (an unreadable setting counts as none)."""
        try:
            raw = json.loads(self.store.setting(CHANNELS_SETTING, "{}"))
            return {str(k): float(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
        except (ValueError, TypeError):
            return {}

    def _live_channels(self) -> set[str]:
        """Channels some configured process announced within the last day (this one's included)."""
        if channels_of(self.settings) and now() - self._announced_at > ANNOUNCE_SECONDS:
            self.announce()
        since = now() - CHANNEL_TTL_SECONDS
        return {c for c, at in self._announced().items() if at >= since} | set(channels_of(self.settings))

    # -- one round --------------------------------------------------------------------------
    def deliver_due(self, wait: bool = True) -> int:
        """Start delivering every due event on each of this process's channels that does not have it
        yet; return how many events were taken. With `wait`, return once they are all answered (each
        delivery ends by its deadline); else they finish in their receivers' lanes.

        With no channel configured here, events are left to the processes that have one; with none
        configured anywhere, they are marked `skipped`: recorded, never sent later.
        """
        live = self._live_channels()
        mine = set(channels_of(self.settings))
        if not mine and live:
            return 0  # other processes deliver them
        events = [e for e in self._claim() if not self._stop.is_set()]
        deliveries = [self._start(event, live, mine) for event in events]
        if wait:
            for delivery in deliveries:
                delivery.finished.wait()
        return len(events)

    def _claim(self) -> list[OutboxEvent]:
        """Due events not already being delivered here, claimed from every other sender."""
        events = self.store.due_events(now(), BATCH, lease_seconds=CLAIM_SECONDS)
        with self._in_flight_lock:
            fresh = [e for e in events if e.id not in self._in_flight]
            self._in_flight.update(e.id for e in fresh)
        return fresh

    def _start(self, event: OutboxEvent, live: set[str], mine: set[str]) -> _Delivery:
        """Send the event on every target of this process that does not have it yet, each in its
        receiver's lane; the last one to answer records how it went."""
        needed = {c for c in live if c != EMAIL_CHANNEL or event.event in EMAIL_EVENTS}
        delivery = _Delivery(event, needed, mine & needed)
        try:
            run = self.store.get_run(event.run_id)
            if run is None:
                event.status, event.last_error = "failed", "the run no longer exists"
                return self._finish(delivery)
            if not needed:
                event.status = "skipped"
                return self._finish(delivery)
            targets = [t for t in self._targets(event, run) if t.key not in event.done]
        except Exception as exc:  # one odd event must not hold up the others' progress
            log.exception("delivering event %s failed", event.id)
            delivery.errors.append(f"unexpected: {type(exc).__name__}")
            return self._finish(delivery)
        if not targets:
            return self._finish(delivery)
        delivery.waiting = len(targets)
        for target in targets:
            future: Future[None]
            try:
                future = self._lane(target.receiver).submit(target.send)
            except RuntimeError:  # stopping: the rest stays due for the next start
                future = Future()
                future.set_exception(DeliveryError("the sender stopped"))
            future.add_done_callback(self._answer_of(delivery, target))
        return delivery

    def _answer_of(self, delivery: _Delivery, target: _Target) -> Callable[[Future[None]], None]:
        return lambda future: self._answered(delivery, target, future)

    def _lane(self, receiver: str) -> ThreadPoolExecutor:
        """The threads that deliver to one receiver (a slow one fills only its own)."""
        with self._lanes_lock:
            lane = self._lanes.get(receiver)
            if lane is None:
                if self._stop.is_set():
                    raise RuntimeError("stopped")
                lane = ThreadPoolExecutor(LANE_THREADS, thread_name_prefix="loopdesk-deliver")
                self._lanes[receiver] = lane
            return lane

    def _answered(self, delivery: _Delivery, target: _Target, future: Future[None]) -> None:
        """One target answered (or failed, or ran out of time); the last one finishes the event."""
        error = future.exception()
        with delivery.lock:
            if error is None:
                delivery.event.done.append(target.key)
            elif isinstance(error, DeliveryError):
                delivery.errors.append(f"{target.key}: {error}")
            else:
                log.error("delivering event %s to %s crashed", delivery.event.id, target.key, exc_info=error)
                delivery.errors.append(f"{target.key}: unexpected: {type(error).__name__}")
            delivery.waiting -= 1
            last = delivery.waiting == 0
        if last:
            self._finish(delivery)

    def _finish(self, delivery: _Delivery) -> _Delivery:
        """Record how the event went: delivered everywhere, failed this round, or (this process's
        part done) left for the processes that deliver its other channels."""
        event = delivery.event
        try:
            if event.status == "pending":
                self._settle(delivery)
            self.store.update_events([event])
        except Exception:  # the event stays claimed until its claim runs out, then is tried again
            log.exception("recording the delivery of event %s failed", event.id)
        finally:
            with self._in_flight_lock:
                self._in_flight.discard(event.id)
            delivery.finished.set()
        return delivery

    def _settle(self, delivery: _Delivery) -> None:
        event = delivery.event
        if delivery.errors:
            self._failed(event, delivery.errors)
            return
        if EMAIL_CHANNEL in delivery.mine and EMAIL_CHANNEL not in event.done:
            event.done.append(EMAIL_CHANNEL)  # every person asked by email has it
        left = sorted(delivery.needed - set(event.done))
        if not left:
            event.status, event.delivered_at = "delivered", now()
        else:  # another process delivers these; this one looks again later
            age = now() - event.at
            event.next_at = now() + min(MAX_BACKOFF_SECONDS, max(HANDOFF_SECONDS, age / 10))
            event.last_error = f"waiting for another process to deliver: {', '.join(left)}"

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
        result = self._result(run) if event.event == "run.completed" else []
        delivered_values = {item.name: item.value for item in result}
        body = json.dumps(webhook_payload(event, run, settings.base_url, decision, delivered_values)).encode()
        for hook in settings.webhooks:
            if hook.format == "slack":
                slack = slack_payload(event, run, self.engine.directory, name, url, decision).encode()
                send = _post(hook.url, slack, event, settings.secret)
            else:
                send = _post(hook.url, body, event, settings.secret)
            targets.append(_Target(hook.key, hook.key, hook.key, send))
        if settings.smtp is not None and event.event in ASKING_EVENTS:
            targets += self._emails(event, run, name)
        elif settings.smtp is not None and event.event in OUTCOME_EVENTS:
            targets += self._requester_email(event, run, name, result)
        return targets

    def _result(self, run: RunRecord) -> list[Delivered]:
        """What a finished run delivers (its End's result), or nothing when its workflow cannot be read."""
        try:
            wf = self.engine.workflow_of(run)
            end = end_reached(wf, [s.node_id for s in self.store.list_steps(run.id)])
            return delivered(wf, end, run.values)
        except EngineError:
            return []

    def _requester_email(
        self, event: OutboxEvent, run: RunRecord, workflow_name: str, result: list[Delivered]
    ) -> list[_Target]:
        """The email telling the person who started the run how it ended (when they have an address)."""
        smtp = self.settings.smtp
        person = self.engine.directory.users.get(run.started_by)
        if smtp is None or person is None or not person.email:
            return []
        reason = ""
        if event.event == "run.rejected":  # the reviewer's reason (the path after it may name none)
            rejections = [a for a in self.store.list_audit(run.id) if a.event == "decision_reject"]
            reason = str(rejections[-1].detail.get("comment") or "") if rejections else ""
        message = outcome_email(
            event=event, run=run, workflow_name=workflow_name, recipient=person,
            sender=self.settings.mail_from, url=item_url(self.settings.base_url, event), reason=reason,
            result=[(item.label, as_text(item.value)) for item in result],
        )  # fmt: skip
        receiver = f"smtp:{smtp.host}:{smtp.port}"
        return [_Target(f"email:{person.name}", EMAIL_CHANNEL, receiver, _mail(smtp, message, person.email))]

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
            receiver = f"smtp:{smtp.host}:{smtp.port}"
            out.append(_Target(f"email:{user}", EMAIL_CHANNEL, receiver, _mail(smtp, message, person.email)))
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
