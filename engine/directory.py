"""Who is who: users, their roles and groups, loaded from a JSON config file."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.decisions import LOOPDESK
from engine.errors import EngineError

DEFAULT_USERS_FILE = Path(__file__).resolve().parent.parent / "config" / "users.json"
GROUP_PREFIX = "group:"

ROLES: tuple[str, ...] = ("admin", "designer", "requester", "reviewer")
"""admin: everything; designer: create and change workflows; requester: start runs;
reviewer: decide what is assigned to them or their groups."""
DEFAULT_ROLES: tuple[str, ...] = ("requester", "reviewer")
"""Roles of a directory entry that lists none."""
SYSTEM = LOOPDESK
"""The engine itself (due-time actions, auto-approvals): may do anything; what it decides is no review."""
OPERATOR = "cli"
"""The local operator: the command line without `--user` (whoever can open the database file)."""
RESERVED_USERS: frozenset[str] = frozenset({SYSTEM, OPERATOR})
ROLE_NOUNS: dict[str, str] = {
    "admin": "an admin",
    "designer": "a designer",
    "requester": "a requester",
    "reviewer": "a reviewer",
}


@dataclass(frozen=True)
class User:
    """A person who designs, requests or reviews."""

    name: str
    display_name: str
    email: str = ""
    title: str = ""
    """Job title shown next to the name (free text, grants nothing)."""
    groups: tuple[str, ...] = ()
    roles: frozenset[str] = frozenset(DEFAULT_ROLES)
    """What the person may do: a subset of ROLES."""

    @property
    def admin(self) -> bool:
        """Whether the user has the admin role."""
        return "admin" in self.roles

    def has_role(self, role: str) -> bool:
        """Whether the user has this role (admins have every role)."""
        return self.admin or role in self.roles


def _user(raw: Any, source: Path) -> User:
    """One directory entry, checked."""
    if not isinstance(raw, dict) or not raw.get("name"):
        raise EngineError(f"the user directory {source} has a user without a name: {raw!r}")
    name = str(raw["name"])
    if name in RESERVED_USERS:
        raise EngineError(f"the user directory {source} may not name a user `{name}` (reserved)")
    roles = set(raw["roles"]) if "roles" in raw else set(DEFAULT_ROLES)
    if raw.get("admin"):
        roles.add("admin")
    unknown = sorted(str(r) for r in roles - set(ROLES))
    if unknown:
        raise EngineError(
            f"the user directory {source}: user `{name}` has unknown role(s) {', '.join(unknown)} "
            f"(roles: {', '.join(ROLES)})"
        )
    return User(
        name=name,
        display_name=str(raw.get("display_name") or name),
        email=str(raw.get("email", "")),
        title=str(raw.get("title", raw.get("role", ""))),
        groups=tuple(raw.get("groups", [])),
        roles=frozenset(roles),
    )


@dataclass
class Directory:
    """Users and groups, and which assignee strings a user answers for."""

    users: dict[str, User]
    groups: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path | None = None) -> Directory:
        """Read the directory from `path`, `LOOPDESK_USERS` or config/users.json."""
        source = Path(path or os.environ.get("LOOPDESK_USERS") or DEFAULT_USERS_FILE)
        try:
            data = json.loads(source.read_text(encoding="utf-8"))
        except OSError as exc:
            raise EngineError(f"cannot read the user directory {source}: {exc.strerror}") from None
        except json.JSONDecodeError as exc:
            raise EngineError(f"the user directory {source} is not valid JSON: {exc}") from None
        users = {}
        for raw in data.get("users", []):
            user = _user(raw, source)
            users[user.name] = user
        return cls(users=users, groups=dict(data.get("groups", {})))

    def user(self, name: str) -> User:
        """The user with this name, or an error naming the known users."""
        if name not in self.users:
            raise EngineError(f"unknown user `{name}` (known: {', '.join(sorted(self.users))})")
        return self.users[name]

    def by_email(self, email: str) -> User | None:
        """The user with this email address (case-insensitive), if any."""
        for u in self.users.values():
            if u.email and u.email.lower() == email.lower():
                return u
        return None

    def is_group(self, assignee: str) -> bool:
        """Whether an assignee string names a group."""
        return assignee.startswith(GROUP_PREFIX) or (assignee in self.groups and assignee not in self.users)

    def group_name(self, assignee: str) -> str:
        """The bare group name of a group assignee."""
        return assignee[len(GROUP_PREFIX) :] if assignee.startswith(GROUP_PREFIX) else assignee

    def exists(self, assignee: str) -> bool:
        """Whether an assignee is a known user or group."""
        if self.is_group(assignee):
            return self.group_name(assignee) in self.groups
        return assignee in self.users

    def assignees_for(self, name: str) -> list[str]:
        """Assignee strings whose checkpoints this user works on: self and groups."""
        user = self.user(name)
        out = [user.name]
        for g in user.groups:
            out += [g, f"{GROUP_PREFIX}{g}"]
        return out

    def matches(self, name: str, entries: list[str]) -> bool:
        """Whether a user is named in a list of users and groups (directly or by a group)."""
        if name not in self.users:
            return False
        mine = set(self.assignees_for(name))
        return any(entry in mine for entry in entries)

    def members(self, assignee: str) -> list[str]:
        """The user names an assignee stands for: the user, or every member of the group."""
        if self.is_group(assignee):
            group = self.group_name(assignee)
            return [u.name for u in self.users.values() if group in u.groups]
        return [assignee] if assignee in self.users else []

    def label(self, assignee: str) -> str:
        """Human name of a user or group assignee."""
        if self.is_group(assignee):
            g = self.group_name(assignee)
            return f"{self.groups.get(g, g)} (group)"
        u = self.users.get(assignee)
        return u.display_name if u else assignee

    def name_of(self, user: str) -> str:
        """How to name a user in a message: the display name, or the local operator."""
        if user == OPERATOR:
            return "the local operator"
        if user == SYSTEM:
            return "Loopdesk"
        return self.label(user)

    def choices(self) -> list[str]:
        """Every user name, then every group as `group:NAME` (for pickers)."""
        return [*self.users, *(f"{GROUP_PREFIX}{g}" for g in self.groups)]
