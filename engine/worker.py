"""`python -m engine worker`: a process that only drives runs. It claims runs nobody drives (new
ones left to workers, and ones whose driver stopped or died), applies due timeouts and sends
notifications, until SIGTERM or Ctrl-C; then it lets what it drives finish for a grace period
and releases the rest, which another worker continues at the step in flight."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

from engine.services import Loopdesk

log = logging.getLogger("loopdesk.worker")

POLL_SECONDS = 5.0
"""How often a worker looks for work it was not told about (a missed notification, a lease that ran
out, a timeout that fell due)."""
STOP_GRACE_SECONDS = 10.0
"""How long a stopping worker lets its drives in progress finish before releasing them."""
STOP_CHECK_SECONDS = 0.5
"""The longest a worker waits for work without looking whether it was told to stop (a notification
arriving meanwhile is queued on its connection and read at the next look)."""


@dataclass
class WorkerReport:
    """What one worker did before it stopped."""

    driven: list[str] = field(default_factory=list)
    """Runs it took up (a run taken up again later counts again)."""
    timeouts: list[str] = field(default_factory=list)
    """Checkpoints whose due action it applied."""
    released: list[str] = field(default_factory=list)
    """Runs it was still driving when it stopped (left for another worker)."""


class Worker:
    """Drives runs of one Loopdesk service until `stop` is set."""

    def __init__(
        self, app: Loopdesk, poll_seconds: float = POLL_SECONDS, grace_seconds: float = STOP_GRACE_SECONDS
    ) -> None:
        if not app.engine.drives_in_background:
            raise ValueError("a worker needs at least one thread to drive runs (--concurrency 1 or more)")
        self.app = app
        self.poll_seconds = poll_seconds
        self.grace_seconds = grace_seconds
        self.report = WorkerReport()

    def run(self, stop: threading.Event) -> WorkerReport:
        """Work until `stop` is set, then finish or release what is held; what was done."""
        engine, store = self.app.engine, self.app.store
        self.app.start_notifier()
        next_due = time.monotonic()
        while not stop.is_set():
            try:
                taken = engine.take_work()
                self.report.driven += taken
                if time.monotonic() >= next_due:
                    self.report.timeouts += [e.checkpoint_id for e in engine.apply_timers()]
                    next_due = time.monotonic() + self.poll_seconds
            except Exception:  # the database may be away for a moment: keep the worker alive
                log.exception("looking for work failed; trying again in %.0f s", self.poll_seconds)
                stop.wait(self.poll_seconds)
                continue
            wait = max(0.05, min(self.poll_seconds, next_due - time.monotonic()))
            if engine.room() == 0:
                engine.wait_for_room(wait)  # then claim again: more may be waiting
            elif not taken:  # nothing left to claim: wait to be told (or for the next look)
                store.wait_for_work(min(wait, STOP_CHECK_SECONDS))
        self.report.released = self.app.engine.shutdown(wait=True, timeout=self.grace_seconds)
        return self.report
