"""Calls from a workflow to the world outside, made safely: http(s) only, never to link-local or
cloud-metadata addresses, to private and loopback ones only with `LOOPDESK_HTTP_ALLOW_PRIVATE=1`,
headers without line breaks, one deadline for the whole call, and answers cut at a size.

The host is resolved once and the call goes to the address that was checked (TLS still verifies the
certificate for the host's name), so a name that resolves differently a moment later cannot steer a
call to an address that was refused. Redirects are not followed: a step calls the URL it names.
"""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import certifi
import httpx

from engine.errors import EngineError

ALLOW_PRIVATE_ENV = "LOOPDESK_HTTP_ALLOW_PRIVATE"
MAX_RESPONSE_BYTES = 1_000_000
"""The most of an answer that is read (the rest is dropped, and the response says it was cut)."""
DEFAULT_TIMEOUT_SECONDS = 30.0

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
METADATA = {
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254", "192.0.0.192")
}
"""Cloud providers' instance-metadata addresses (AWS, ECS, Alibaba, AWS over IPv6, Oracle)."""


class OutboundRefused(EngineError):
    """A call that is not made: a scheme, an address or a header that is not allowed."""


class OutboundFailed(EngineError):
    """A call that was made but did not get an answer in time (or the connection failed)."""


@dataclass(frozen=True)
class Answer:
    """What the server answered."""

    status: int
    headers: dict[str, str]
    body: bytes
    cut: bool
    """Whether the body was longer than the cap and only its start was read."""
    seconds: float

    def text(self) -> str:
        """The body as text (undecodable bytes replaced)."""
        return self.body.decode("utf-8", errors="replace")


@functools.cache
def _tls() -> ssl.SSLContext:
    """One TLS context for every call (making one loads the CA bundle: ~100 ms each time)."""
    return ssl.create_default_context(cafile=certifi.where())


def allow_private() -> bool:
    """Whether private and loopback addresses may be called (`LOOPDESK_HTTP_ALLOW_PRIVATE=1`)."""
    return os.environ.get(ALLOW_PRIVATE_ENV, "").strip().lower() in ("1", "true", "yes")


def refusal(address: IP) -> str | None:
    """Why an address may not be called, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in METADATA:
        return "it is a cloud metadata address"
    if address.is_link_local:
        return "it is a link-local address"
    if address.is_unspecified or address.is_multicast:
        return "it is not an address a server answers on"
    if address.is_private or address.is_loopback:
        return (
            None
            if allow_private()
            else f"it is a private or loopback address ({ALLOW_PRIVATE_ENV}=1 allows those)"
        )
    if address.is_reserved:
        return "it is not an address a server answers on"
    return None


def checked_url(url: str) -> tuple[str, str, int, list[IP]]:
    """(scheme, host, port, addresses) of a URL that may be called; OutboundRefused naming why not."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise OutboundRefused(f"“{url[:80]}” is not a URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OutboundRefused(f"“{url[:80]}” is not an http:// or https:// URL with a host")
    host = parts.hostname
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise OutboundFailed(f"{host} could not be found ({exc})") from None
    addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in found))
    for address in addresses:  # every address the name has must be allowed, not just the first
        reason = refusal(address)
        if reason:
            raise OutboundRefused(f"calls to {host} are refused: {address} {reason.removeprefix('it ')}")
    return parts.scheme, host, port, addresses


def check_headers(headers: Mapping[str, str]) -> None:
    """Refuse a header whose name or value could split the request (a line break)."""
    for name, value in headers.items():
        if any(c in name + value for c in "\r\n\0") or not name.strip():
            raise OutboundRefused(f"the header “{name[:40]}” has a line break or no name")


def call(
    method: str,
    url: str,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    max_bytes: int = MAX_RESPONSE_BYTES,
) -> Answer:
    """Make one call within `timeout_seconds` in all and return the answer whatever its status;
    OutboundRefused before anything is sent, OutboundFailed when no answer came in time."""
    headers = dict(headers or {})
    check_headers(headers)
    scheme, host, port, addresses = checked_url(url)
    parts = urlsplit(url.strip())
    pinned = str(addresses[0])
    netloc = f"[{pinned}]:{port}" if ":" in pinned else f"{pinned}:{port}"
    target = urlunsplit(parts._replace(netloc=netloc))
    headers.setdefault("Host", parts.netloc.rsplit("@", 1)[-1])
    started = time.monotonic()
    ends = started + timeout_seconds
    extensions = {"sni_hostname": host} if scheme == "https" else {}
    timeout = httpx.Timeout(timeout_seconds)
    try:
        with httpx.Client(trust_env=False, follow_redirects=False, timeout=timeout, verify=_tls()) as client:
            request = client.build_request(
                method, target, headers=headers, content=body, extensions=extensions
            )
            response = client.send(request, stream=True)
            try:
                with deadline(max(0.0, ends - time.monotonic()), lambda: _socket_of(response)) as expired:
                    try:
                        data, cut = _read(response, max_bytes, ends)
                    except httpx.HTTPError:
                        if not expired.is_set():
                            raise
                    if expired.is_set():  # cut off: a read failed, or the answer ended early
                        raise httpx.ReadTimeout("deadline", request=request)
            finally:
                response.close()
            return Answer(
                response.status_code, dict(response.headers), data, cut, round(time.monotonic() - started, 3)
            )
    except httpx.TimeoutException:
        raise OutboundFailed(f"{host} did not answer within {timeout_seconds:g} s") from None
    except httpx.HTTPError as exc:
        raise OutboundFailed(f"the call to {host} failed: {exc}") from None


@contextlib.contextmanager
def deadline(seconds: float, sock_of: Callable[[], socket.socket | None]) -> Iterator[threading.Event]:
    """Shut the connection's socket once `seconds` have passed (a blocked read then returns at
    once); the event yielded is set when that happened."""
    expired = threading.Event()

    def cut_off() -> None:
        expired.set()
        sock = sock_of()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(seconds, cut_off)
    timer.daemon = True
    timer.start()
    try:
        yield expired
    finally:
        timer.cancel()


def _socket_of(response: httpx.Response) -> socket.socket | None:
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    return sock if isinstance(sock, socket.socket) else None


def _read(response: httpx.Response, max_bytes: int, ends: float) -> tuple[bytes, bool]:
    """Up to `max_bytes` of the body, by the deadline (a server dribbling its answer is cut off)."""
    out = bytearray()
    for chunk in response.iter_bytes():
        out += chunk
        if len(out) > max_bytes:
            return bytes(out[:max_bytes]), True
        if time.monotonic() > ends:
            raise httpx.ReadTimeout("the answer took too long", request=response.request)
    return bytes(out), False
