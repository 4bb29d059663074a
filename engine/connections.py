"""Named connections to services outside (an SMTP server, an HTTP API, Slack): what each type keeps,
the checks of its settings, and the admin-only service that saves them with their secrets encrypted.

Secrets are sealed by `engine.secret_box` before they reach the store, are never returned to a page,
the CLI or the API (only their last four characters), and never go into logs or audit events.
Everyone may list connections by name and type (to pick one in a step); only admins see their
settings or change them.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from engine.errors import EngineError, MissingConnectionError, NotFoundError
from engine.notify.settings import parse_smtp
from engine.permissions import Permissions
from engine.records import ConnectionRecord, now
from engine.secret_box import SecretBox, SecretKeyError
from engine.store.base import Store

log = logging.getLogger("loopdesk.connections")

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
"""What a connection's name looks like (`crm`, `support-smtp`): how steps and exports name it."""
HEADER_PREFIX = "header."
HEADER_NAME_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
"""An HTTP header's name (RFC 9110 token)."""
MASK = "••••"


@dataclass(frozen=True)
class Setting:
    """One setting a connection type keeps."""

    key: str
    label: str
    secret: bool
    help: str
    required: bool = False


@dataclass(frozen=True)
class ConnectionType:
    """What a type of connection keeps and how its settings are checked."""

    name: str
    label: str
    settings: tuple[Setting, ...]
    check: Callable[[dict[str, str]], list[str]]
    header_settings: bool = False
    """Whether it also keeps `header.<Name>` settings (secret HTTP headers, e.g. `header.Authorization`)."""

    def setting(self, key: str) -> Setting | None:
        """The setting `key` keeps (a header setting for `header.<Name>`), or None."""
        if self.header_settings and key.startswith(HEADER_PREFIX):
            return Setting(key, f"Header {key[len(HEADER_PREFIX) :]}", True, "sent with every request")
        return next((s for s in self.settings if s.key == key), None)

    def known(self) -> str:
        """The keys it keeps, for messages."""
        keys = [s.key for s in self.settings] + ([f"{HEADER_PREFIX}<Name>"] if self.header_settings else [])
        return ", ".join(keys)


def _http_url(value: str, what: str) -> list[str]:
    """Problems of a URL that must be http(s) with a host."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return [f"{what} is not a URL"]
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return [f"{what} must be an http:// or https:// URL with a host"]
    return []


def _no_line_breaks(values: dict[str, str]) -> list[str]:
    return [f"{k} cannot contain a line break" for k, v in values.items() if "\r" in v or "\n" in v]


def _check_smtp(values: dict[str, str]) -> list[str]:
    problems = _no_line_breaks(values)
    if not values.get("url"):
        return [*problems, "url is required (smtp://user:password@host:587?starttls=1)"]
    try:
        parse_smtp(values["url"])
    except EngineError:
        problems.append(
            "url must look like smtp://user:password@host:port (or smtps:// for TLS from the start)"
        )
    return problems


def _check_http(values: dict[str, str]) -> list[str]:
    problems = _no_line_breaks(values)
    if not values.get("base_url"):
        problems.append("base_url is required (e.g. https://api.example.com)")
    else:
        problems += _http_url(values["base_url"], "base_url")
    for key in values:
        name = key[len(HEADER_PREFIX) :] if key.startswith(HEADER_PREFIX) else None
        if name is not None and not HEADER_NAME_RE.match(name):
            problems.append(f"“{name}” is not an HTTP header name")
    timeout = values.get("timeout_seconds", "")
    if timeout and not _number_between(timeout, 1, 300):
        problems.append("timeout_seconds must be a number of seconds from 1 to 300")
    return problems


def _check_slack(values: dict[str, str]) -> list[str]:
    problems = _no_line_breaks(values)
    if not values.get("webhook_url") and not values.get("bot_token"):
        problems.append("set webhook_url (an incoming webhook) or bot_token (a bot's xoxb- token)")
    if values.get("webhook_url"):
        problems += _http_url(values["webhook_url"], "webhook_url")
    return problems


def _number_between(text: str, low: float, high: float) -> bool:
    try:
        return low <= float(text) <= high
    except ValueError:
        return False


TYPES: dict[str, ConnectionType] = {
    t.name: t
    for t in (
        ConnectionType(
            "smtp",
            "Email server (SMTP)",
            (
                Setting("url", "Server", True, "smtp://user:password@host:587?starttls=1", required=True),
                Setting("from", "Sender", False, "the From address, e.g. Support <support@example.com>"),
                Setting("reply_to", "Reply-to", False, "where replies go, when not to the sender"),
            ),
            _check_smtp,
        ),
        ConnectionType(
            "http",
            "HTTP API",
            (
                Setting("base_url", "Base URL", False, "requests' URLs start with it", required=True),
                Setting("timeout_seconds", "Timeout (s)", False, "longest wait for one call (default 30)"),
            ),
            _check_http,
            header_settings=True,
        ),
        ConnectionType(
            "slack",
            "Slack",
            (
                Setting("webhook_url", "Incoming webhook URL", True, "posts to the channel it was made for"),
                Setting("bot_token", "Bot token", True, "xoxb-…, for chat.postMessage and review cards"),
                Setting("signing_secret", "Signing secret", True, "checks requests Slack sends to Loopdesk"),
                Setting("channel", "Channel", False, "the default channel, e.g. #launches"),
            ),
            _check_slack,
        ),
    )
}
"""Every connection type by name, in the order the Connections page offers them."""


def masked(value: str) -> str:
    """A secret as it may be shown once saved: its last four characters (none of a short one)."""
    return MASK + value[-4:] if len(value) >= 12 else MASK


@dataclass(frozen=True)
class ConnectionView:
    """A connection as pages, the CLI and the API show it: never a secret, only its last characters."""

    name: str
    type: str
    settings: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    """Secret settings by key, masked (`••••a1b2`)."""
    updated_at: float = 0.0
    updated_by: str = ""
    problem: str = ""
    """Why its secrets cannot be read now (saved with another secret key), or ""."""

    def doc(self) -> dict[str, object]:
        """As JSON."""
        doc: dict[str, object] = {
            "name": self.name,
            "type": self.type,
            "settings": self.settings,
            "secrets": self.secrets,
            "updated_at": self.updated_at,
            "updated_by": self.updated_by,
        }
        return {**doc, "problem": self.problem} if self.problem else doc


@dataclass(frozen=True)
class Connection:
    """A connection with its secrets readable: for the steps that use it, never shown to anyone."""

    name: str
    type: str
    values: dict[str, str]

    def __repr__(self) -> str:
        return f"Connection(name={self.name!r}, type={self.type!r}, keys={sorted(self.values)!r})"


class Connections:
    """Saving, listing, using and deleting named connections (admins change them; anyone lists names)."""

    def __init__(self, store: Store, permissions: Permissions, box: Callable[[], SecretBox]) -> None:
        self.store = store
        self.permissions = permissions
        self._box = box

    def set(
        self,
        user: str,
        name: str,
        type_name: str,
        values: Mapping[str, str | None],
        replace: bool = False,
        new: bool = False,
    ) -> ConnectionView:
        """Save a connection. A value of None keeps what was saved, "" removes the setting; `replace`
        (or a change of type) starts from nothing; `new` refuses a name already taken. Refused, with
        every problem named, when the settings do not make a usable connection of that type."""
        self.permissions.check_settings(user, "change connections")
        name = name.strip()
        if not NAME_RE.match(name):
            raise EngineError(
                f"“{name[:40]}” cannot name a connection: use lowercase letters, digits, - and _ "
                "(up to 64, starting with a letter or digit)"
            )
        kind = TYPES.get(type_name)
        if kind is None:
            raise EngineError(f"“{type_name}” is not a connection type (known: {', '.join(TYPES)})")
        unknown = [k for k in values if kind.setting(k) is None]
        if unknown:
            raise EngineError(
                f"{kind.label} connections keep no {', '.join(sorted(unknown))} (they keep {kind.known()})"
            )
        existing = self.store.get_connection(name)
        if new and existing is not None:
            raise EngineError(f"there is already a connection named “{name}”; choose it to change it")
        merged: dict[str, str] = {}
        if existing is not None and existing.type == kind.name and not replace:
            merged = self._values(existing)
        for key, value in values.items():
            if value is None:
                continue
            if value.strip():
                merged[key] = value.strip()
            else:
                merged.pop(key, None)
        problems = kind.check(merged)
        if problems:
            raise EngineError(f"connection “{name}” was not saved: " + "; ".join(problems))
        secret = {k: v for k, v in merged.items() if _is_secret(kind, k)}
        plain = {k: v for k, v in merged.items() if not _is_secret(kind, k)}
        record = ConnectionRecord(
            name=name,
            type=kind.name,
            settings=json.dumps(plain, sort_keys=True),
            secrets=self._box().seal(secret) if secret else "",
            updated_at=now(),
            updated_by=user,
        )
        self.store.put_connection(record)
        log.info("connection %s (%s) saved by %s", name, kind.name, user)
        return _view(record, plain, secret)

    def list(self, user: str) -> list[ConnectionView]:
        """Every connection by name and type; admins also see the settings and masked secrets."""
        records = self.store.list_connections()
        if not self.permissions.privileged(user):
            return [ConnectionView(r.name, r.type) for r in records]
        return [self._admin_view(r) for r in records]

    def delete(self, user: str, name: str) -> None:
        """Forget a connection (admins only); steps that name it then fail with a clear message."""
        self.permissions.check_settings(user, "delete connections")
        if not self.store.delete_connection(name):
            raise NotFoundError("connection", name)
        log.info("connection %s deleted by %s", name, user)

    def use(self, name: str, type_name: str) -> Connection:
        """A connection's settings and secrets, for the step that calls out with them."""
        record = self.store.get_connection(name)
        if record is None:
            raise MissingConnectionError(name)
        if record.type != type_name:
            raise EngineError(
                f"connection “{name}” is of type {record.type}; this step needs a {type_name} one"
            )
        return Connection(record.name, record.type, self._values(record))

    def _admin_view(self, record: ConnectionRecord) -> ConnectionView:
        plain = json.loads(record.settings or "{}")
        try:
            return _view(record, plain, self._secrets(record))
        except SecretKeyError as exc:  # listed still, so an admin can set it again or delete it
            return replace(_view(record, plain, {}), problem=str(exc))

    def _values(self, record: ConnectionRecord) -> dict[str, str]:
        return {**json.loads(record.settings or "{}"), **self._secrets(record)}

    def _secrets(self, record: ConnectionRecord) -> dict[str, str]:
        return self._box().open(record.secrets, f"connection “{record.name}”")


def _is_secret(kind: ConnectionType, key: str) -> bool:
    setting = kind.setting(key)
    return setting is not None and setting.secret


def _view(record: ConnectionRecord, plain: dict[str, str], secret: dict[str, str]) -> ConnectionView:
    return ConnectionView(
        record.name,
        record.type,
        dict(plain),
        {k: masked(v) for k, v in sorted(secret.items())},
        record.updated_at,
        record.updated_by,
    )
