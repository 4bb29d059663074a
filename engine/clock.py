"""Where the store's leases and health checks and the engine read the time, so tests can move it on
instead of sleeping: wall time for what is stored and compared across processes (lease ends, claims),
a monotonic clock for intervals within one process (probes, retries)."""

from __future__ import annotations

import time


class Clock:
    """The system's clocks; a test hands the store and the engine one that it moves on itself."""

    def now(self) -> float:
        """Wall time as epoch seconds (what leases and claims store)."""
        return time.time()

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (intervals within this process)."""
        return time.monotonic()


SYSTEM_CLOCK = Clock()
"""The clock everything uses unless a test gives it another."""
