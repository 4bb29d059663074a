"""Local receivers for notifications: a webhook endpoint and an SMTP server, on 127.0.0.1 only."""

from __future__ import annotations

import contextlib
import email
import email.policy
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

from tests.servers import free_port


@dataclass
class Delivery:
    """One POST the webhook receiver got."""

    body: bytes
    headers: dict[str, str]
    status: int
    received_at: float = 0.0
    """Epoch seconds when the request arrived."""

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class WebhookReceiver:
    """An HTTP endpoint that records every POST; `answers` scripts the status codes it returns
    (then 200), and `hang` makes it hold requests until released."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.answers: list[int] = []
        self.hang = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                arrived = time.time()
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                while receiver.hang.is_set():
                    time.sleep(0.05)
                with receiver._lock:
                    status = receiver.answers.pop(0) if receiver.answers else 200
                    receiver.deliveries.append(
                        Delivery(body, {k.lower(): v for k, v in self.headers.items()}, status, arrived)
                    )
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.hang.clear()
        self._server.shutdown()
        self._server.server_close()

    def accepted(self) -> list[Delivery]:
        """The deliveries answered with 2xx."""
        with self._lock:
            return [d for d in self.deliveries if 200 <= d.status < 300]

    def wait_for(self, test: Callable[[list[Delivery]], bool], timeout: float = 15.0) -> list[Delivery]:
        """Wait until the accepted deliveries pass `test`; return them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.accepted()
            if test(got):
                return got
            time.sleep(0.05)
        raise AssertionError(f"webhook never got what was expected; got {[d.json for d in self.accepted()]}")


class RawReceiver:
    """A TCP server on 127.0.0.1 that hands each connection to `handle` in a thread of its own (for
    receivers that misbehave below HTTP); `hits` counts connections, `close()` stops it."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"
        self.hits = 0
        self.stopped = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def handle(self, conn: socket.socket) -> None:
        """Answer one connection (subclasses say how)."""
        raise NotImplementedError

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.hits += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            self.handle(conn)

    def close(self) -> None:
        """Stop accepting and end the connections' work."""
        self.stopped.set()
        self.sock.close()


class _Collect:
    def __init__(self, inbox: SmtpInbox) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self.inbox.lock:
            self.inbox.messages.append((list(envelope.rcpt_tos), message))
        return "250 OK"


class SmtpInbox:
    """A local SMTP server keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.lock = threading.Lock()
        self.port = free_port()
        self.url = f"smtp://127.0.0.1:{self.port}"
        self._controller = Controller(_Collect(self), hostname="127.0.0.1", port=self.port)

    def __enter__(self) -> SmtpInbox:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()

    def wait_for(self, to: str, count: int = 1, timeout: float = 15.0) -> list[EmailMessage]:
        """Wait until `count` messages reached `to`; return them."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                got = [m for rcpt, m in self.messages if to in rcpt]
            if len(got) >= count:
                return got
            time.sleep(0.05)
        raise AssertionError(f"{to} got {len(got)} email(s), expected {count}")


def text_part(message: EmailMessage) -> str:
    """The plain-text body of an email."""
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def html_part(message: EmailMessage) -> str:
    """The HTML body of an email."""
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())
