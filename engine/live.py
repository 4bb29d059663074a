"""AI steps in flight: each one's attempt and answer so far, kept in the store while it runs, so
every page (in any process) can show a draft growing as its tokens arrive."""

from __future__ import annotations

import logging
import threading
import time

from engine.records import LiveStep
from engine.store.base import Store

log = logging.getLogger(__name__)

TEXT_EVERY_SECONDS = 0.5
"""How often the answer so far is written while it streams (a new attempt is written at once)."""


class LiveRecorder:
    """Hears one AI call (engine.llm.base.CallProgress) and records it for the pages."""

    def __init__(self, store: Store, run_id: str, node_id: str) -> None:
        self.store = store
        self.started = time.time()
        self._live = LiveStep(run_id, node_id, 1, "", self.started, self.started)
        self._written = 0.0
        """When the step was last written (0: never; until then the pages say "Running …")."""
        self._lock = threading.Lock()

    def attempt(self, number: int, why: str) -> None:
        """A new attempt starts: the text so far is dropped (the answer starts over)."""
        with self._lock:
            self._live = LiveStep(
                self._live.run_id, self._live.node_id, number, "", self.started, time.time()
            )
        self._write(force=True)

    def text(self, so_far: str) -> None:
        """The answer so far (written at most every TEXT_EVERY_SECONDS)."""
        with self._lock:
            live = self._live
            self._live = LiveStep(
                live.run_id, live.node_id, live.attempt, so_far, live.started_at, time.time()
            )
        self._write()

    def finish(self) -> None:
        """The step ended (however): nothing is in flight any more."""
        if not self._written:
            return  # nothing was recorded (an answer that arrived whole, at the first attempt)
        try:
            self.store.clear_live(self._live.run_id)
        except Exception:  # progress is a courtesy; the step's own record is what counts
            log.warning("could not clear the live step of run %s", self._live.run_id, exc_info=True)

    def _write(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._written < TEXT_EVERY_SECONDS:
            return
        self._written = now
        try:
            self.store.put_live(self._live)
        except Exception:  # a full disk must not fail the AI call it reports on
            log.warning("could not record the live step of run %s", self._live.run_id, exc_info=True)
