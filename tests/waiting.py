"""One way for a test to wait for something another thread or process does: poll, never a fixed
sleep, and fail naming what never happened."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(check: Callable[[], T], what: str, timeout: float = 30.0, every: float = 0.02) -> T:
    """Poll `check` until it returns something truthy, and return that; fail after `timeout` seconds
    with "timed out waiting until <what>" (and the last answer)."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting until {what} (last: {got!r})")
        time.sleep(every)
