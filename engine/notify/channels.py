"""Delivering one message: an HTTP POST to a webhook, or an email through SMTP.

Each delivery has one total deadline, not a timeout per read: a receiver that answers one byte at a
time is cut off when the deadline passes (its socket is shut from a watchdog), so it can never hold
a delivery longer than that.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import smtplib
import ssl
from email.message import EmailMessage
from urllib.parse import urlsplit

from engine.notify.settings import Smtp
from engine.outbound import deadline
from engine.redaction import redact_url

TIMEOUT_SECONDS = 5.0
"""How long one step of a delivery (connecting, one read) may take."""
DEADLINE_SECONDS = 15.0
"""How long one whole delivery may take, however the receiver dribbles its answer; a slower one
counts as failed and is tried again later."""


class DeliveryError(Exception):
    """A receiver did not take the message; the reason is shown where failures are listed."""


def signature(secret: str, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256 of the raw body>`, as sent in `X-Loopdesk-Signature`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_json(
    url: str, body: bytes, event_id: str, event: str, secret: str = "", seconds: float | None = None
) -> None:
    """POST a JSON body within `seconds` in all (default `DEADLINE_SECONDS`); anything but a 2xx answer
    in time is a DeliveryError naming what happened (never the URL, which may hold a secret)."""
    seconds = DEADLINE_SECONDS if seconds is None else seconds
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Loopdesk-Webhook/1",
        "X-Loopdesk-Event": event,
        "X-Loopdesk-Delivery": event_id,
    }
    if secret:
        headers["X-Loopdesk-Signature"] = signature(secret, body)
    try:
        parts = urlsplit(url)
        kind = {"http": http.client.HTTPConnection, "https": http.client.HTTPSConnection}.get(parts.scheme)
        if kind is None or not parts.hostname:
            raise DeliveryError(f"unusable address: {redact_url(url)} is not an http(s) URL")
        conn = kind(parts.hostname, parts.port, timeout=min(TIMEOUT_SECONDS, seconds))
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    except DeliveryError:
        raise
    except Exception as exc:  # a malformed URL: a failed delivery, not a crash
        raise DeliveryError(f"unusable address: {type(exc).__name__}") from None
    with deadline(seconds, lambda: conn.sock) as expired:
        try:
            conn.request("POST", path, body=body, headers=headers)
            answer = conn.getresponse()
            answer.read(1024)
        except Exception as exc:
            raise DeliveryError(_post_failure(exc, expired.is_set(), seconds)) from None
        finally:
            conn.close()
    if not 200 <= answer.status < 300:
        raise DeliveryError(f"HTTP {answer.status} {answer.reason}")


def _post_failure(exc: Exception, expired: bool, seconds: float) -> str:
    """Why a POST failed, in words."""
    if expired:
        return f"no answer within {seconds:g} s"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "cannot reach it: it closed the connection without answering"
    if isinstance(exc, (http.client.BadStatusLine, http.client.LineTooLong, http.client.IncompleteRead)):
        return f"unusable answer or address: {type(exc).__name__}"  # not HTTP at all
    if isinstance(exc, (OSError, http.client.HTTPException)):
        return f"cannot reach it: {exc}"
    return f"unusable answer or address: {type(exc).__name__}"


def send_email(server: Smtp, message: EmailMessage, to: str, seconds: float | None = None) -> None:
    """Send one email within `seconds` in all (default `DEADLINE_SECONDS`); any refusal is a
    DeliveryError naming the SMTP server's reason."""
    seconds = DEADLINE_SECONDS if seconds is None else seconds
    client: smtplib.SMTP | None = None
    with deadline(seconds, lambda: getattr(client, "sock", None)) as expired:
        try:
            step = min(TIMEOUT_SECONDS, seconds)
            if server.ssl:
                client = smtplib.SMTP_SSL(timeout=step, context=ssl.create_default_context())
            else:
                client = smtplib.SMTP(timeout=step)
            with client:
                client.connect(server.host, server.port)
                if server.starttls:
                    client.starttls(context=ssl.create_default_context())
                if server.username:
                    client.login(server.username, server.password)
                client.send_message(message, to_addrs=[to])
        except Exception as exc:
            if expired.is_set():
                raise DeliveryError(f"email to {to}: no answer within {seconds:g} s") from None
            if isinstance(exc, (smtplib.SMTPException, OSError)):
                raise DeliveryError(f"email to {to}: {exc}") from None
            # e.g. a header the server cannot take: a failed delivery, not a crash
            raise DeliveryError(f"email to {to}: {type(exc).__name__}: {exc}") from None
