"""Calls to the world outside: refused before anything is sent to metadata, link-local, private and
loopback addresses (the last two allowed by LOOPDESK_HTTP_ALLOW_PRIVATE=1), to other schemes, and
with headers that could split the request; one deadline for the whole call; answers cut at a size."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from engine.outbound import OutboundFailed, OutboundRefused, call, checked_url


class Receiver(BaseHTTPRequestHandler):
    """Answers by path: /ok (JSON), /big (2 MB), /dribble (a byte every 0.2 s), /slow (nothing for 5 s)."""

    heard: ClassVar[list[tuple[str, str, dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        """Record the call and answer as the path says."""
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        Receiver.heard.append((self.command, self.path, dict(self.headers), body))
        self.do_GET()

    def do_GET(self) -> None:
        """Answer as the path says."""
        if self.path == "/slow":
            time.sleep(5)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        if self.path == "/big":
            self.wfile.write(b"x" * 2_000_000)
        elif self.path == "/dribble":
            for _ in range(50):
                self.wfile.write(b".")
                self.wfile.flush()
                time.sleep(0.2)
        else:
            self.wfile.write(b'{"ok": true}')

    def log_message(self, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def receiver() -> Iterator[str]:
    """A receiver on 127.0.0.1, its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Receiver.heard = []
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def private_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """As the tests' receivers need: private and loopback addresses allowed."""
    monkeypatch.setenv("LOOPDESK_HTTP_ALLOW_PRIVATE", "1")


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata address"),
        ("http://[fd00:ec2::254]/", "fd00:ec2::254 is a cloud metadata address"),
        ("http://169.254.10.1/", "is a link-local address"),
        ("http://[fe80::1]/", "is a link-local address"),
        ("http://[::ffff:169.254.169.254]/", "is a cloud metadata address"),
        ("http://0.0.0.0:8080/", "is not an address a server answers on"),
    ],
)
def test_metadata_and_link_local_addresses_are_always_refused(
    private_allowed: None, url: str, why: str
) -> None:
    with pytest.raises(OutboundRefused, match=why):
        call("GET", url, timeout_seconds=2)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/",
        "http://localhost:9/",
        "http://2130706433:9/",
        "http://10.1.2.3/",
        "http://[::1]:9/",
    ],
)
def test_private_and_loopback_addresses_are_refused_unless_allowed(url: str) -> None:
    with pytest.raises(OutboundRefused, match=r"private or loopback address \(LOOPDESK_HTTP_ALLOW_PRIVATE=1"):
        checked_url(url)


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "gopher://x", "http://"])
def test_only_http_and_https_urls_with_a_host(url: str) -> None:
    with pytest.raises(OutboundRefused, match="is not an http:// or https:// URL with a host"):
        checked_url(url)


def test_a_header_that_could_split_the_request_is_refused_before_anything_is_sent(
    private_allowed: None, receiver: str
) -> None:
    with pytest.raises(OutboundRefused, match="the header “X-Note” has a line break"):
        call("POST", f"{receiver}/ok", {"X-Note": "hi\r\nX-Admin: yes"}, b"{}")
    assert Receiver.heard == []


def test_a_call_reaches_the_checked_address_with_its_host_and_headers(
    private_allowed: None, receiver: str
) -> None:
    answer = call("POST", f"{receiver}/ok", {"Idempotency-Key": "run_1:send:1"}, b'{"a": 1}')
    assert (answer.status, answer.text(), answer.cut) == (200, '{"ok": true}', False)
    [(method, path, headers, body)] = Receiver.heard
    assert (method, path, body) == ("POST", "/ok", b'{"a": 1}')
    assert headers["Idempotency-Key"] == "run_1:send:1"
    assert headers["Host"] == receiver.removeprefix("http://")


def test_an_answer_is_cut_at_its_size_limit(private_allowed: None, receiver: str) -> None:
    answer = call("GET", f"{receiver}/big", max_bytes=1000)
    assert (len(answer.body), answer.cut) == (1000, True)


def test_one_deadline_holds_for_the_whole_call(private_allowed: None, receiver: str) -> None:
    started = time.monotonic()
    with pytest.raises(OutboundFailed, match="did not answer within 1 s"):
        call("GET", f"{receiver}/dribble", timeout_seconds=1)  # a byte every 0.2 s: never a read timeout
    with pytest.raises(OutboundFailed, match="did not answer within 1 s"):
        call("GET", f"{receiver}/slow", timeout_seconds=1)
    assert time.monotonic() - started < 4


def test_a_host_that_does_not_exist_is_named(private_allowed: None) -> None:
    with pytest.raises(OutboundFailed, match=r"nowhere\.invalid could not be found"):
        call("GET", "http://nowhere.invalid/", timeout_seconds=2)
