"""Render a prompt that loops or builds text in a child process that can be stopped.

A thread cannot be interrupted in the middle of a Jinja loop and shares the app's memory, so
such prompts render in a process of their own. Forking the app itself is unsafe (it runs many
threads), so a small fork server is started once (`python -m engine.render_sandbox`, with only
Jinja loaded, single-threaded) and forks one child per render. The child caps its own memory
and CPU time; the caller waits at most the time budget, checks between polls whether the run was
cancelled, and kills the child in either case.

Protocol: the caller passes one end of a fresh socket pair to the server (SCM_RIGHTS); the server
forks, answers with the child's pid, and the child reads its request from that socket and writes
its answer back, each as a length-prefixed JSON document.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from engine.errors import StepError
from engine.templating import (
    ENV,
    OutputBudgetError,
    RenderBudget,
    RenderBudgetError,
    over_chars,
    over_memory,
    over_time,
    render_failure,
)

POLL_SECONDS = 0.02
_ROOT = Path(__file__).resolve().parent.parent
_LENGTH = struct.Struct("!I")
_PID = struct.Struct("!i")


def _send(sock: socket.socket, doc: Any) -> None:
    data = json.dumps(doc).encode("utf-8")
    sock.sendall(_LENGTH.pack(len(data)) + data)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(min(n - len(buf), 1 << 20))
        if not chunk:
            raise EOFError("the other side closed the connection")
        buf += chunk
    return bytes(buf)


def _recv(sock: socket.socket) -> Any:
    (size,) = _LENGTH.unpack(_recv_exact(sock, _LENGTH.size))
    return json.loads(_recv_exact(sock, size))


# -- the child: one render ---------------------------------------------------------------------------


def _vm_bytes() -> int:
    """This process's current virtual memory size."""
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[0]) * resource.getpagesize()


def _render_child(conn: socket.socket) -> None:
    """Read one request, render it under caps, send back what happened."""
    request = _recv(conn)
    cpu = int(request["seconds"]) + 2  # a backstop: the caller kills at the budget already
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    limit = _vm_bytes() + int(request["memory"])
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    ENV.output_chars = int(request["chars"])  # this process renders this one request
    try:
        parts: list[str] = []
        size = 0
        for chunk in ENV.from_string(request["text"]).generate(request["values"]):
            size += len(chunk)
            if size > request["chars"]:
                _send(conn, {"kind": "chars"})
                return
            parts.append(chunk)
        reply: dict[str, Any] = {"kind": "ok", "text": "".join(parts)}
    except MemoryError:
        reply = {"kind": "memory"}
    except OutputBudgetError:
        reply = {"kind": "chars"}
    except Exception as exc:
        reply = {"kind": "error", "message": render_failure("\x00", exc)}
    _send(conn, reply)


def serve(control_fd: int) -> None:
    """The fork server: fork a child per request until the app closes the control socket."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # finished children are reaped by the kernel
    control = socket.socket(fileno=control_fd)
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(control, 1, 1)
        except OSError:
            return
        if not msg:
            return  # the app has gone
        if not fds:
            continue
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                control.close()
                _render_child(socket.socket(fileno=fds[0]))
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        os.close(fds[0])
        control.sendall(_PID.pack(pid))


# -- the app's side ----------------------------------------------------------------------------------


class _ForkServer:
    """The running fork server and the socket to it (one per app process)."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(_ROOT), os.environ.get("PYTHONPATH", "")])}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "engine.render_sandbox", str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=str(_ROOT),
        )
        theirs.close()
        self.control = ours
        self.lock = threading.Lock()

    def fork(self) -> tuple[int, socket.socket]:
        """A new render child: its pid and the socket to talk to it."""
        mine, childs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with self.lock:
                socket.send_fds(self.control, [b"r"], [childs.fileno()])
                (pid,) = _PID.unpack(_recv_exact(self.control, _PID.size))
        except BaseException:
            mine.close()
            raise
        finally:
            childs.close()
        return pid, mine

    def close(self) -> None:
        """Stop the server (running renders finish or hit their CPU cap)."""
        self.control.close()
        self.process.wait(timeout=5)


_server: _ForkServer | None = None
_server_lock = threading.Lock()
RUNNING: set[int] = set()
"""Pids of the render children now running (for tests and diagnostics)."""


def _fork() -> tuple[int, socket.socket]:
    """A render child from the fork server, starting (or restarting) the server when needed."""
    global _server
    with _server_lock:
        if _server is None or _server.process.poll() is not None:
            _server = _ForkServer()
        server = _server
    try:
        return server.fork()
    except (OSError, EOFError):
        with _server_lock:  # the server died under us: start a fresh one once
            if _server is server:
                _server = _ForkServer()
            server = _server
        return server.fork()


def render_isolated(
    text: str,
    values: dict[str, Any],
    what: str,
    should_stop: Callable[[], bool],
    budget: RenderBudget,
) -> str:
    """Render in a child process within the budget; a StepError names `what` and the budget."""
    started = time.monotonic()
    pid, conn = _fork()
    RUNNING.add(pid)
    finished = False  # the child answered or died; only a child still working is killed
    try:
        _send(conn, {
            "text": text, "values": values, "chars": budget.chars,
            "memory": budget.memory_bytes, "seconds": budget.seconds,
        })  # fmt: skip
        while not select.select([conn], [], [], POLL_SECONDS)[0]:
            if should_stop():
                raise RenderBudgetError(f"{what} stopped rendering: the run was cancelled")
            if time.monotonic() - started > budget.seconds:
                raise RenderBudgetError(over_time(what, budget))
        finished = True
        try:
            reply = _recv(conn)
        except (EOFError, OSError, ValueError):
            raise RenderBudgetError(over_memory(what, budget)) from None  # killed by its caps
    finally:
        conn.close()
        if not finished:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        RUNNING.discard(pid)
    if reply["kind"] == "ok":
        return str(reply["text"])
    if reply["kind"] == "chars":
        raise RenderBudgetError(over_chars(what, budget))
    if reply["kind"] == "memory":
        raise RenderBudgetError(over_memory(what, budget))
    raise StepError(str(reply["message"]).replace("\x00", what, 1))


if __name__ == "__main__":
    serve(int(sys.argv[1]))
