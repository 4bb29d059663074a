"""How a process holds the runs it drives: one lock per run inside the process, a lease in the store
across processes (renewed by a heartbeat while it works), and the held transitions of one drive
merged into one commit."""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace

from engine.errors import EngineError, StoreUnavailableError
from engine.records import Lease, Transition
from engine.store.base import Store

log = logging.getLogger("loopdesk.engine")

DEFAULT_LEASE_SECONDS = 30.0
DEFAULT_STORE_RETRY_SECONDS = 15.0


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


class RunLocks:
    """One lock per run id, dropped when nobody holds it."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, run_id: str) -> Iterator[None]:
        """Hold the run's lock for the block (other threads of this process wait for it)."""
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


class Leases:
    """This process's leases on the runs it drives: taken in the store, renewed a third of the lease
    apart while the drive lasts, given back when it ends. A lease found lost (the process stalled past
    it and another driver took the run) is reported to `on_lost`, which stops that drive's long work."""

    def __init__(
        self, store: Store, owner: str, seconds: float, stop: threading.Event, on_lost: Callable[[str], None]
    ) -> None:
        self.store = store
        self.owner = owner
        self.seconds = seconds
        self._stop = stop
        self._on_lost = on_lost
        self._held: set[str] = set()
        self._heartbeat: threading.Thread | None = None
        self._heartbeat_lock = threading.Lock()

    def lease(self) -> Lease:
        """This process's lease, to take in the commit that makes a run runnable."""
        return Lease(self.owner, self.seconds)

    def fresh(self, leased_at: float | None) -> bool:
        """Whether a lease taken at `leased_at` (a monotonic time) is too recent to be worth asking for
        again."""
        return leased_at is not None and self.store.clock.monotonic() - leased_at < self.seconds / 3

    def take(self, run_id: str, fresh: bool) -> bool:
        """Hold the run while this process drives it: claimed in the store, unless the caller's
        commit leased it moments ago (`fresh`); False when another process drives it."""
        if not fresh and not self.store.claim_runs(self.owner, self.seconds, [run_id]):
            return False
        self._held.add(run_id)
        self._start_heartbeat()
        return True

    def give_back(self, run_id: str) -> None:
        """End the hold on a run whose drive ended (when the database is away, the lease runs out)."""
        self._held.discard(run_id)
        try:
            self.store.release_runs(self.owner, [run_id])
        except StoreUnavailableError:
            log.warning("could not release run %s: the database is away", run_id)

    def held(self) -> list[str]:
        """The runs held right now."""
        return list(self._held)

    def release_all(self) -> list[str]:
        """Give up the leases of runs still held (a stopping process); their ids."""
        held = list(self._held)
        if held:
            try:
                self.store.release_runs(self.owner, held)
            except Exception:  # the leases then simply run out
                log.exception("releasing %d run(s) failed", len(held))
        return held

    def _renew(self) -> None:
        """Keep renewing the leases of the runs held, until the process stops."""
        while not self._stop.wait(self.seconds / 3):
            held = list(self._held)
            if not held:
                continue
            try:
                kept = set(self.store.renew_leases(self.owner, held, self.seconds))
            except Exception:  # the next beat tries again; a lease outlives a few missed beats
                log.exception("renewing run leases failed")
                continue
            for rid in held:
                if rid not in kept and rid in self._held:
                    log.warning("lost the lease on run %s; another driver continues it", rid)
                    self._on_lost(rid)

    def _start_heartbeat(self) -> None:
        """Start the renewing thread at the first run held."""
        with self._heartbeat_lock:
            if self._heartbeat is None:
                beat = threading.Thread(target=self._renew, name="loopdesk-leases", daemon=True)
                beat.start()
                self._heartbeat = beat


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
