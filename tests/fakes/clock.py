"""A clock a test moves on instead of sleeping: time still flows, `advance` jumps it ahead."""

from __future__ import annotations

from engine.clock import Clock


class MovableClock(Clock):
    """The system's clocks plus an offset the test sets (both move together)."""

    def __init__(self, at: float | None = None) -> None:
        self.offset = 0.0
        if at is not None:
            self.offset = at - super().now()

    def now(self) -> float:
        """Wall time, moved on by the offset."""
        return super().now() + self.offset

    def monotonic(self) -> float:
        """The monotonic clock, moved on by the same offset."""
        return super().monotonic() + self.offset

    def advance(self, seconds: float) -> None:
        """Jump both clocks `seconds` ahead."""
        self.offset += seconds
