"""Where notifications go, from the environment (`LOOPDESK_WEBHOOK_URL`, `LOOPDESK_SMTP_URL`, …)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

from engine.errors import EngineError
from engine.redaction import redact_url

DEFAULT_BASE_URL = "http://localhost:8501"


@dataclass(frozen=True)
class Webhook:
    """One receiver: plain JSON (signed), or a readable Slack message."""

    url: str
    format: str = "json"
    """`json` or `slack`."""

    @property
    def key(self) -> str:
        """How delivery progress names this receiver: its host and a short hash of the URL, never
        the URL itself (a Slack webhook URL is a secret, and runs are seen by many people)."""
        host = urlsplit(self.url).hostname or "?"
        digest = hashlib.sha256(self.url.encode("utf-8", "surrogatepass")).hexdigest()[:8]
        return f"{self.format}:{host}#{digest}"


@dataclass(frozen=True)
class Smtp:
    """An SMTP server to send review emails through."""

    host: str
    port: int
    username: str = ""
    password: str = ""
    starttls: bool = False
    ssl: bool = False


@dataclass(frozen=True)
class NotifySettings:
    """Every channel, the webhook signing secret and the app's public address."""

    webhooks: tuple[Webhook, ...] = ()
    secret: str = ""
    smtp: Smtp | None = None
    mail_from: str = "Loopdesk <loopdesk@localhost>"
    base_url: str = DEFAULT_BASE_URL
    problems: tuple[str, ...] = field(default=())
    """Settings that could not be used, named (shown to admins and logged)."""

    @property
    def any(self) -> bool:
        """Whether anything is configured to receive notifications."""
        return bool(self.webhooks or self.smtp)


def _webhook(entry: str) -> Webhook:
    entry = entry.strip()
    if entry.startswith("slack:") and not entry.startswith("slack://"):
        return Webhook(entry.removeprefix("slack:"), "slack")
    try:
        host = urlsplit(entry).hostname or ""
    except ValueError:  # refused by `from_env` as not an http(s) URL
        host = ""
    return Webhook(entry, "slack" if host == "hooks.slack.com" else "json")


def _is_http(url: str) -> bool:
    try:
        parts = urlsplit(url)
        return parts.scheme in ("http", "https") and bool(parts.hostname) and parts.port != 0
    except ValueError:
        return False


def parse_smtp(url: str) -> Smtp:
    """`smtp://[user:password@]host[:port][?starttls=true]` or `smtps://…` (TLS from the start)."""
    problem = EngineError(f"LOOPDESK_SMTP_URL must look like smtp://host:port, got {redact_url(url)}")
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:  # a port that is not a number, a broken IPv6 address
        raise problem from None
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise problem
    query = parse_qs(parts.query)
    starttls = query.get("starttls", ["false"])[0].lower() in ("1", "true", "yes")
    return Smtp(
        host=parts.hostname,
        port=port or (465 if parts.scheme == "smtps" else 25),
        username=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        starttls=starttls,
        ssl=parts.scheme == "smtps",
    )


def from_env(env: Mapping[str, str] | None = None) -> NotifySettings:
    """The notification settings of this process."""
    env = os.environ if env is None else env
    problems: list[str] = []
    hooks = tuple(_webhook(u) for u in env.get("LOOPDESK_WEBHOOK_URL", "").split(",") if u.strip())
    for hook in hooks:
        if not _is_http(hook.url):
            problems.append(f"LOOPDESK_WEBHOOK_URL: {redact_url(hook.url)} is not an http(s) URL")
    smtp = None
    if env.get("LOOPDESK_SMTP_URL", "").strip():
        try:
            smtp = parse_smtp(env["LOOPDESK_SMTP_URL"])
        except EngineError as exc:
            problems.append(str(exc))
    return NotifySettings(
        webhooks=tuple(h for h in hooks if _is_http(h.url)),
        secret=env.get("LOOPDESK_WEBHOOK_SECRET", ""),
        smtp=smtp,
        mail_from=env.get("LOOPDESK_MAIL_FROM", "").strip() or NotifySettings.mail_from,
        base_url=(env.get("LOOPDESK_BASE_URL", "").strip() or DEFAULT_BASE_URL).rstrip("/"),
        problems=tuple(problems),
    )
