"""A bounded pool of daemon worker threads that drive runs.

Unlike ThreadPoolExecutor, its threads never hold up interpreter exit: a run cut off
mid-step is simply left `running` in the store and recovered on the next start, which
is exactly what a crash does. Nothing durable depends on a step finishing here.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, TypeVar

from engine.errors import StoreUnavailableError

T = TypeVar("T")

log = logging.getLogger("loopdesk.workers")

_Item = tuple[Callable[..., Any], tuple[Any, ...], Future[Any]]


class WorkerPool:
    """`size` daemon threads taking work from one queue, started on first use."""

    def __init__(self, size: int, name: str = "loopdesk-run") -> None:
        if size < 1:
            raise ValueError(f"the worker pool needs at least 1 thread, got {size}")
        self.size = size
        self._name = name
        self._queue: queue.Queue[_Item | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        """Queue `fn(*args)`; the future holds its result or exception."""
        if self._closed:
            raise RuntimeError("the worker pool is shut down")
        self._start()
        future: Future[T] = Future()
        self._queue.put((fn, args, future))
        return future

    def _start(self) -> None:
        with self._lock:
            while len(self._threads) < self.size:
                t = threading.Thread(
                    target=self._work, name=f"{self._name}-{len(self._threads)}", daemon=True
                )
                t.start()
                self._threads.append(t)

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            fn, args, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except StoreUnavailableError as exc:  # expected while the database is away: no traceback
                log.warning("background work waits for the database: %s", exc)
                future.set_exception(exc)
            except BaseException as exc:  # handed to whoever waits on the future
                log.exception("background work failed")
                future.set_exception(exc)

    def shutdown(self, wait: bool = True, timeout: float = 30.0) -> None:
        """Stop taking work; with `wait`, let queued work finish (up to `timeout` seconds)."""
        self._closed = True
        for _ in self._threads:
            self._queue.put(None)
        if wait:
            deadline = time.monotonic() + timeout
            for t in self._threads:
                t.join(timeout=max(0.0, deadline - time.monotonic()))
