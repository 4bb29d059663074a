"""Secrets never reach a message, a log line or an error: how addresses and settings that may hold
one are shown."""

from __future__ import annotations

from urllib.parse import urlsplit

HIDDEN = "(not shown: it may hold a secret)"


def redact_url(url: str) -> str:
    """A URL as messages show it: its scheme, user, host and port, never a password, path or query
    (a Slack webhook's path is its secret). Something that does not even parse as a URL is not shown."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return HIDDEN
    if not parts.scheme or not parts.hostname:
        return HIDDEN
    user = ""
    if parts.username:
        user = f"{parts.username}:***@" if parts.password is not None else f"{parts.username}@"
    rest = "/…" if parts.path not in ("", "/") or parts.query or parts.fragment else ""
    return f"{parts.scheme}://{user}{parts.hostname}{f':{port}' if port else ''}{rest}"
