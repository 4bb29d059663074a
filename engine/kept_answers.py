"""Paid AI answers the database refused to save, kept in memory until it takes them.

An AI call costs money. When the write that records its answer fails even after the engine tried
again (a database server restarting, a full disk), the answer is kept here; the next drive of the
run, at the same step with the same values, saves it instead of asking the model again. An answer
the run no longer needs (another driver went on meanwhile) is reported, with what it cost, rather
than forgotten silently.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any

from engine.records import RunRecord, Transition

MAX_KEPT = 1000
"""Answers kept at most (the oldest go first): a store down for long loses memory, not the process."""
KEEP_SECONDS = 24 * 3600.0


def _state(run: RunRecord) -> str:
    """What a run's next step depends on: where it is and the values it carries."""
    values = json.dumps(run.values, sort_keys=True, default=str)
    return f"{run.status}|{run.current_node}|{run.revisions}|{values}"


@dataclass(frozen=True)
class Kept:
    """One step's result that could not be written."""

    run_id: str
    node_id: str
    state: str
    transition: Transition
    after: RunRecord
    kept_at: float

    def usage(self) -> dict[str, Any]:
        """What the kept call used and cost (from its step record)."""
        meta = self.transition.steps[0].meta if self.transition.steps else {}
        keys = ("model", "prompt_tokens", "completion_tokens", "cost_usd")
        return {"node": self.node_id, **{k: meta[k] for k in keys if k in meta}}


class KeptAnswers:
    """The kept answers of this process, by run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._kept: OrderedDict[str, Kept] = OrderedDict()

    def __len__(self) -> int:
        with self._lock:
            return len(self._kept)

    def keep(self, before: RunRecord, node_id: str, transition: Transition, after: RunRecord) -> None:
        """Keep the result of the step `node_id` computed on the run as it was (`before`)."""
        with self._lock:
            self._kept[before.id] = Kept(
                before.id, node_id, _state(before), transition, after, time.monotonic()
            )
            self._kept.move_to_end(before.id)
            while len(self._kept) > MAX_KEPT:
                self._kept.popitem(last=False)

    def take(self, run: RunRecord, node_id: str) -> tuple[Transition, RunRecord] | None:
        """The kept result of this step, if the run is still exactly where it was computed (marked in
        its step record as saved late), else None; either way it is no longer kept."""
        with self._lock:
            kept = self._kept.get(run.id)
            if kept is None or kept.node_id != node_id or kept.state != _state(run):
                return None
            del self._kept[run.id]
        held = round(time.monotonic() - kept.kept_at, 3)
        steps = [replace(s, meta={**s.meta, "saved_late_seconds": held}) for s in kept.transition.steps]
        return replace(kept.transition, steps=steps), kept.after

    def unneeded(self, current: dict[str, RunRecord | None]) -> list[Kept]:
        """Kept answers their runs no longer need (moved on, gone, or kept a day); dropped from here.
        `current` holds the runs as they are now, by id (a run not in it is not judged)."""
        out: list[Kept] = []
        with self._lock:
            for run_id, kept in list(self._kept.items()):
                if run_id not in current:
                    continue
                run = current[run_id]
                stale = time.monotonic() - kept.kept_at > KEEP_SECONDS
                if run is None or stale or _state(run) != kept.state:
                    out.append(self._kept.pop(run_id))
        return out

    def run_ids(self) -> list[str]:
        """The runs with an answer kept."""
        with self._lock:
            return list(self._kept)
