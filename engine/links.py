"""Signed decision links: bound to one checkpoint, one reviewer, one action and the content the
reviewer was shown; they expire, and a tampered one is refused.

A link is `<claims>.<signature>`, both URL-safe base64; the signature is an HMAC-SHA256 of the
claims under a key kept with the data (or `LOOPDESK_LINK_SECRET`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from typing import Any

from engine.errors import EngineError
from engine.records import CheckpointRecord, now

LINK_ACTIONS = ("approve", "reject", "request_changes")
DEFAULT_TTL_HOURS = 72.0


class LinkError(EngineError):
    """A decision link that cannot be used: tampered with, expired or malformed."""


@dataclass(frozen=True)
class LinkClaims:
    """What a link says: who may do what to which checkpoint, about which content, until when."""

    checkpoint_id: str
    user: str
    action: str
    content: str
    """Hash of what the reviewer was shown when the link was made."""
    expires_at: float


def content_hash(cp: CheckpointRecord) -> str:
    """A short hash of what a reviewer is shown at a checkpoint (values and instructions)."""
    shown = json.dumps({"values": cp.shown, "instructions": cp.instructions}, sort_keys=True, default=str)
    return hashlib.sha256(shown.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def ttl_hours() -> float:
    """How long a link lives: `LOOPDESK_LINK_TTL_HOURS`, default 72."""
    try:
        hours = float(os.environ.get("LOOPDESK_LINK_TTL_HOURS", DEFAULT_TTL_HOURS))
    except ValueError:
        return DEFAULT_TTL_HOURS
    return hours if hours > 0 else DEFAULT_TTL_HOURS


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class LinkSigner:
    """Makes and checks decision links with one key."""

    def __init__(self, key: bytes, ttl: float | None = None) -> None:
        self._key = key
        self.ttl_hours = ttl if ttl is not None else ttl_hours()

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode("utf-8", "surrogatepass"), hashlib.sha256).digest())

    def make(self, cp: CheckpointRecord, user: str, action: str, at: float | None = None) -> str:
        """A link token letting `user` take `action` on this checkpoint as it is now."""
        if action not in LINK_ACTIONS:
            raise ValueError(f"no decision link for `{action}`")
        expires = (now() if at is None else at) + self.ttl_hours * 3600
        claims = {"c": cp.id, "u": user, "a": action, "h": content_hash(cp), "e": round(expires)}
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        return f"{payload}.{self._sign(payload)}"

    def read(self, token: str, at: float | None = None, expired_ok: bool = False) -> LinkClaims:
        """The claims of a genuine, unexpired link (or an expired one, with `expired_ok`);
        LinkError otherwise."""
        payload, _, signature = token.partition(".")
        expected = self._sign(payload).encode("ascii")
        given = signature.encode("utf-8", "surrogatepass")  # bytes: any text compares, none raises
        if not payload or not signature or not hmac.compare_digest(expected, given):
            raise LinkError("this link is not valid (it may have been cut short or changed)")
        try:
            data: dict[str, Any] = json.loads(_unb64(payload))
            claims = LinkClaims(
                checkpoint_id=str(data["c"]),
                user=str(data["u"]),
                action=str(data["a"]),
                content=str(data["h"]),
                expires_at=float(data["e"]),
            )
        except (ValueError, KeyError, TypeError):
            raise LinkError("this link is not valid (it may have been cut short or changed)") from None
        if not expired_ok and (now() if at is None else at) > claims.expires_at:
            raise LinkError("this link has expired")
        return claims
