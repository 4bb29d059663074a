"""Delivering one message: an HTTP POST to a webhook, or an email through SMTP."""

from __future__ import annotations

import hashlib
import hmac
import smtplib
import ssl
import urllib.error
import urllib.request
from email.message import EmailMessage

from engine.notify.settings import Smtp

TIMEOUT_SECONDS = 5.0
"""How long one receiver may take; a slower one counts as failed and is tried again later."""


class DeliveryError(Exception):
    """A receiver did not take the message; the reason is shown where failures are listed."""


def signature(secret: str, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256 of the raw body>`, as sent in `X-Loopdesk-Signature`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def post_json(url: str, body: bytes, event_id: str, event: str, secret: str = "") -> None:
    """POST a JSON body; anything but a 2xx answer is a DeliveryError naming what happened."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Loopdesk-Webhook/1",
        "X-Loopdesk-Event": event,
        "X-Loopdesk-Delivery": event_id,
    }
    if secret:
        headers["X-Loopdesk-Signature"] = signature(secret, body)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:
            answer.read(1024)
    except urllib.error.HTTPError as exc:
        raise DeliveryError(f"HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DeliveryError(f"cannot reach it: {reason}") from None
    except Exception as exc:  # a garbled answer, a malformed URL: still just a failed delivery
        raise DeliveryError(f"unusable answer or address: {type(exc).__name__}") from None


def send_email(server: Smtp, message: EmailMessage, to: str) -> None:
    """Send one email; any refusal is a DeliveryError naming the SMTP server's reason."""
    try:
        client: smtplib.SMTP
        if server.ssl:
            client = smtplib.SMTP_SSL(
                server.host, server.port, timeout=TIMEOUT_SECONDS, context=ssl.create_default_context()
            )
        else:
            client = smtplib.SMTP(server.host, server.port, timeout=TIMEOUT_SECONDS)
        with client:
            if server.starttls:
                client.starttls(context=ssl.create_default_context())
            if server.username:
                client.login(server.username, server.password)
            client.send_message(message, to_addrs=[to])
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"email to {to}: {exc}") from None
    except Exception as exc:  # e.g. a header the server cannot take: a failed delivery, not a crash
        raise DeliveryError(f"email to {to}: {type(exc).__name__}: {exc}") from None
