"""API tokens: random secrets shown once, kept only as hashes."""

from __future__ import annotations

import hashlib
import secrets

PREFIX = "ldk_"
"""Every Loopdesk token starts with this, so secret scanners and people recognise one."""


def new_secret() -> str:
    """A fresh token (256 random bits)."""
    return PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """What is stored instead of the token (a plain hash suffices for 256-bit random secrets)."""
    return hashlib.sha256(token.strip().encode("utf-8", "surrogatepass")).hexdigest()
