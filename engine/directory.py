"""Who is who: users, groups and admins, loaded from a JSON config file."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from engine.errors import EngineError

DEFAULT_USERS_FILE = Path(__file__).resolve().parent.parent / "config" / "users.json"
GROUP_PREFIX = "group:"


@dataclass(frozen=True)
class User:
    """A person who designs, requests or reviews."""

    name: str
    display_name: str
    email: str = ""
    role: str = ""
    groups: tuple[str, ...] = ()
    admin: bool = False


@dataclass
class Directory:
    """Users and groups; decides who may act on an assignment."""

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
        for u in data.get("users", []):
            if not isinstance(u, dict) or not u.get("name"):
                raise EngineError(f"the user directory {source} has a user without a name: {u!r}")
            if u["name"] == "system":
                raise EngineError(f"the user directory {source} may not name a user `system` (reserved)")
            name = str(u["name"])
            user = User(
                name=name,
                display_name=str(u.get("display_name") or name),
                email=str(u.get("email", "")),
                role=str(u.get("role", "")),
                groups=tuple(u.get("groups", [])),
                admin=bool(u.get("admin", False)),
            )
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

    def can_decide(self, name: str, assignee: str) -> bool:
        """Whether the user may decide a checkpoint assigned to `assignee`."""
        user = self.users.get(name)
        if user is None:
            return False
        return user.admin or assignee in self.assignees_for(name)

    def label(self, assignee: str) -> str:
        """Human name of a user or group assignee."""
        if self.is_group(assignee):
            g = self.group_name(assignee)
            return f"{self.groups.get(g, g)} (group)"
        u = self.users.get(assignee)
        return u.display_name if u else assignee
