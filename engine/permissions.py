"""Who may do what: every permission rule of Loopdesk lives here.

The engine (runs and decisions) and the services (workflows and what a person may see) call
these checks, so a rule holds in the pages, the CLI and the API alike; pages use them only to
decide what to offer. Each refusal names who is missing what.
"""

from __future__ import annotations

from collections.abc import Iterable

from engine.directory import RESERVED_USERS, ROLE_NOUNS, Directory
from engine.errors import NotAllowedError
from engine.model import ApprovalNode, Workflow
from engine.policies import QuorumState, quorum_state
from engine.records import CheckpointRecord, RunRecord


class Permissions:
    """The rules, applied against one user directory."""

    def __init__(self, directory: Directory) -> None:
        self.directory = directory

    # -- who someone is -------------------------------------------------------------------------
    def privileged(self, user: str) -> bool:
        """The engine itself, the local operator, or an admin: allowed everything but self-approval."""
        if user in RESERVED_USERS:
            return True
        u = self.directory.users.get(user)
        return u is not None and u.admin

    def check_settings(self, user: str, doing: str) -> None:
        """Only admins change the app's settings (the default AI model, …)."""
        if not self.privileged(user):
            raise NotAllowedError(user, f"{self._who(user)} may not {doing}: only an admin may")

    def has_role(self, user: str, role: str) -> bool:
        """Whether the user has the role (admins, the engine and the operator have every role)."""
        if user in RESERVED_USERS:
            return True
        u = self.directory.users.get(user)
        return u is not None and u.has_role(role)

    def _who(self, user: str) -> str:
        return self.directory.name_of(user)

    def _list(self, entries: Iterable[str]) -> str:
        return ", ".join(self.directory.label(e) for e in entries)

    def _require_role(self, user: str, role: str, doing: str) -> None:
        if user not in self.directory.users and user not in RESERVED_USERS:
            raise NotAllowedError(user, f"`{user}` is not in the user directory, so may not {doing}")
        if not self.has_role(user, role):
            raise NotAllowedError(user, f"{self._who(user)} is not {ROLE_NOUNS[role]}, so may not {doing}")

    # -- workflows ------------------------------------------------------------------------------
    def can_edit(self, user: str, wf: Workflow | None) -> bool:
        """Whether the user may change this workflow (None: create a new one)."""
        try:
            self.check_edit(user, wf)
        except NotAllowedError:
            return False
        return True

    def check_edit(self, user: str, wf: Workflow | None) -> None:
        """Refuse unless the user may change the workflow (None: create a new one)."""
        if self.privileged(user):
            return
        if wf is None:
            self._require_role(user, "designer", "create workflows")
            return
        editors = wf.access.editors
        if not self.has_role(user, "designer") or (editors and not self.directory.matches(user, editors)):
            hint = f" (its editors: {self._list(editors)})" if editors else ""
            raise NotAllowedError(user, f"{self._who(user)} is not a designer of {wf.name}{hint}")

    def check_keeps_editing(self, user: str, wf: Workflow) -> None:
        """Refuse a save that would take the saver's own edit rights away."""
        if not self.can_edit(user, wf):
            raise NotAllowedError(
                user,
                f"saving would remove {self._who(user)} from the editors of {wf.name}; "
                "keep yourself (or one of your groups) among its editors",
            )

    def can_start(self, user: str, wf: Workflow) -> bool:
        """Whether the user may start runs of this workflow."""
        try:
            self.check_start(user, wf)
        except NotAllowedError:
            return False
        return True

    def check_start(self, user: str, wf: Workflow) -> None:
        """Refuse unless the user may start runs of the workflow."""
        if self.privileged(user):
            return
        self._require_role(user, "requester", f"start {wf.name}")
        starters = wf.access.starters
        if starters and not self.directory.matches(user, starters):
            raise NotAllowedError(
                user, f"{self._who(user)} may not start {wf.name} (it is started by {self._list(starters)})"
            )

    def sees_all_runs(self, user: str, wf: Workflow) -> bool:
        """Whether the user sees every run of the workflow: admins, its editors and its viewers."""
        if self.privileged(user) or self.can_edit(user, wf):
            return True
        return self.directory.matches(user, wf.access.viewers)

    # -- runs -----------------------------------------------------------------------------------
    def can_see_run(
        self,
        user: str,
        run: RunRecord,
        wf: Workflow,
        checkpoints: list[CheckpointRecord],
        actors: set[str],
    ) -> bool:
        """Whether the user may see this run: whoever started it, is asked to review it or acted on
        it (`actors`: everyone in its audit trail), and whoever sees every run of the workflow."""
        if run.started_by == user or user in actors or self.sees_all_runs(user, wf):
            return True
        if user not in self.directory.users:
            return False
        mine = set(self.directory.assignees_for(user))
        return any(cp.assignee in mine or user in cp.policy.seat_holders().values() for cp in checkpoints)

    def can_manage_run(self, user: str, run: RunRecord, wf: Workflow) -> bool:
        """Whether the user may cancel or retry the run."""
        return self.privileged(user) or run.started_by == user or self.can_edit(user, wf)

    def check_manage_run(self, user: str, run: RunRecord, wf: Workflow, action: str) -> None:
        """Refuse a cancel or retry unless the user started the run, designs the workflow, or is an admin."""
        if self.can_manage_run(user, run, wf):
            return
        raise NotAllowedError(
            user,
            f"{self._who(user)} may not {action} this run: only the person who started it "
            f"({self._who(run.started_by)}), the designers of {wf.name} and admins may",
        )

    # -- checkpoints ----------------------------------------------------------------------------
    def self_approval(self, user: str, cp: CheckpointRecord) -> bool:
        """Whether the user started the run of this checkpoint and its step does not allow them to
        decide it (admins may still, with a reason: see `check_decide`)."""
        return (
            user not in RESERVED_USERS
            and bool(cp.requester)
            and cp.requester == user
            and not cp.policy.allow_self
        )

    def can_decide(self, user: str, cp: CheckpointRecord) -> bool:
        """Whether the user may approve, reject or send back this checkpoint (without an override)."""
        try:
            self.check_decide(user, cp)
        except NotAllowedError:
            return False
        return True

    def check_decide(self, user: str, cp: CheckpointRecord, override_reason: str = "") -> None:
        """Refuse unless the user may decide the checkpoint: its assignee (or group), or an admin,
        and not the person who started the run unless its step allows self-approval or they are
        an admin who gives a reason for overriding."""
        if self.self_approval(user, cp):
            if self.privileged(user) and override_reason.strip():
                return
            hint = " (as an admin you may override this with a reason)" if self.privileged(user) else ""
            raise NotAllowedError(
                user,
                f"{self._who(user)} started this run and may not decide its approval; "
                f"it is assigned to {self.directory.label(cp.assignee)}{hint}",
            )
        if self.privileged(user):
            return
        self._require_role(user, "reviewer", "decide checkpoints")
        if user not in self.asked(cp):
            holder = cp.policy.seat_holders().get(user) if self.is_quorum(cp) else None
            if holder is not None:
                raise NotAllowedError(
                    user,
                    f"{self._who(user)} handed their place in this approval to {self._who(holder)}",
                )
            raise NotAllowedError(
                user,
                f"{self._who(user)} may not decide this checkpoint: it is assigned to "
                f"{self.directory.label(cp.assignee)}",
            )

    def override_kind(self, user: str, cp: CheckpointRecord) -> str | None:
        """Where an admin may decide only with a reason: `self` (a run they started) or `quorum` (an
        approval still short of the approvals it needs, which they are not asked to give); None."""
        if not self.privileged(user) or user in RESERVED_USERS:
            return None
        if self.self_approval(user, cp):
            return "self"
        quorum = self.quorum(cp)
        return "quorum" if quorum.several and user not in quorum.deciders else None

    def is_quorum(self, cp: CheckpointRecord) -> bool:
        """Whether several of the assignee group's members may have to approve this checkpoint (quorum
        `all` or `count`): then a reassignment hands one member's place on, never the whole group."""
        return cp.policy.quorum in ("all", "count") and self.directory.is_group(cp.assignee)

    def asked(self, cp: CheckpointRecord) -> list[str]:
        """The people this checkpoint asks: its assignee (or the group's members), with the places in a
        quorum that were handed on held by whoever received them."""
        members = self.directory.members(cp.assignee)
        if not self.is_quorum(cp) or not cp.policy.seats:
            return members
        holders = cp.policy.seat_holders()
        return list(dict.fromkeys(holders.get(m, m) for m in members))

    def quorum(self, cp: CheckpointRecord) -> QuorumState:
        """How many approvals close this checkpoint, who may give one now and who has."""
        asked = self.asked(cp)
        deciders = [u for u in asked if self.can_decide(u, cp)]
        excluded = [u for u in asked if self.self_approval(u, cp)]
        return quorum_state(cp.policy, deciders, self.is_quorum(cp), excluded)

    def reassign_targets(self, user: str, cp: CheckpointRecord, node: ApprovalNode) -> list[str]:
        """Users and groups this user may hand the checkpoint to (empty: none): whom its step lists
        under "May be reassigned to" (admins: anyone), never themselves, and on a quorum only people
        not asked already."""
        if not self.can_reassign_at_all(user, cp):
            return []
        allowed = self.directory.choices() if self.privileged(user) else list(node.reassign_to)
        out: list[str] = []
        for target in allowed:
            if target and target not in out and self._target_refusal(user, cp, target) is None:
                out.append(target)
        return out

    def can_reassign_at_all(self, user: str, cp: CheckpointRecord) -> bool:
        """Whether the user may reassign this checkpoint to anyone (the people who may decide it)."""
        return self.privileged(user) or self.can_decide(user, cp)

    def _target_refusal(self, user: str, cp: CheckpointRecord, target: str) -> str | None:
        """Why `target` cannot receive this checkpoint from `user` (None: they can)."""
        if not self.directory.exists(target):
            return f"`{target}` is not a user or group in the directory"
        if target == user:
            return "nobody reassigns a checkpoint to themselves"
        if target == cp.assignee:
            return f"the checkpoint is already assigned to {self.directory.label(target)}"
        quorum = self.is_quorum(cp)
        if self.directory.is_group(target):
            if quorum:
                return "this approval needs several approvals: hand a place in it to one person, not a group"
            return None
        if cp.requester and target == cp.requester and not cp.policy.allow_self:
            return f"{self._who(target)} started this run and may not become its approver"
        if not self.has_role(target, "reviewer"):
            return f"{self._who(target)} is not a reviewer"
        if quorum and target in self.asked(cp):
            return f"{self._who(target)} is already asked to approve it; that would need one approval fewer"
        return None

    def seat_to_hand_on(self, user: str, cp: CheckpointRecord, replacing: str = "") -> str | None:
        """On a quorum checkpoint, whose place a reassignment by `user` hands on: their own when they
        are asked, else the member they name (admins, the escalation chain); None elsewhere. Refused
        when that member has approved already or is not asked at all."""
        if not self.is_quorum(cp):
            return None
        asked = self.asked(cp)
        seat = user if user in asked else replacing.strip()
        if replacing.strip() and seat != replacing.strip():
            raise NotAllowedError(
                user, f"{self._who(user)} may hand on only their own place in this approval"
            )
        open_places = [u for u in asked if cp.policy.vote_by(u) is None]
        if not seat:
            choices = self._list(open_places) or "nobody (everyone asked has approved)"
            raise NotAllowedError(
                user,
                "this approval needs several approvals, so a reassignment replaces one of the people asked: "
                f"say whose place the new person takes ({choices})",
            )
        if seat not in asked:
            raise NotAllowedError(user, f"{self._who(seat)} is not asked to approve this checkpoint")
        if cp.policy.vote_by(seat) is not None:
            raise NotAllowedError(
                user, f"{self._who(seat)} has approved it already; a given approval cannot be handed on"
            )
        return seat

    def check_reassign(
        self, user: str, cp: CheckpointRecord, node: ApprovalNode, target: str, replacing: str = ""
    ) -> str | None:
        """Refuse unless the user may hand the checkpoint to `target`; on a quorum checkpoint, return
        whose place `target` takes (a reassignment never shrinks who must approve)."""
        if user not in RESERVED_USERS:
            self.check_decide(user, cp)
        refusal = self._target_refusal(user, cp, target)
        if refusal is not None:
            raise NotAllowedError(user, f"cannot reassign to {self.directory.label(target)}: {refusal}")
        seat = self.seat_to_hand_on(user, cp, replacing)
        if user in RESERVED_USERS or target in self.reassign_targets(user, cp, node):
            return seat
        if not node.reassign_to:
            raise NotAllowedError(
                user,
                f"{self._who(user)} may not reassign this checkpoint: its step lists nobody under "
                "“May be reassigned to”, so only an admin may",
            )
        allowed = self.reassign_targets(user, cp, node)
        options = self._list(allowed) if allowed else "nobody (ask an admin)"
        raise NotAllowedError(
            user,
            f"{self._who(user)} may not reassign this checkpoint to {self.directory.label(target)}: "
            f"it may go to {options}",
        )

    # -- API tokens -----------------------------------------------------------------------------
    def check_archive(self, user: str) -> None:
        """Refuse unless the user is an admin (or the operator): archiving moves everyone's history."""
        if not self.privileged(user):
            raise NotAllowedError(user, f"{self._who(user)} is not an admin, so may not archive runs")

    def check_manage_tokens(self, user: str, owner: str) -> None:
        """Refuse unless the user manages their own tokens, or is an admin (or the operator)."""
        if user == owner or self.privileged(user):
            return
        raise NotAllowedError(
            user,
            f"{self._who(user)} may not manage the API tokens of {self._who(owner)} (only they and admins)",
        )

    def deciders(self, cp: CheckpointRecord) -> list[str]:
        """Everyone who may decide this checkpoint now: the people it asks who are reviewers,
        except whoever started the run (whom to ask, e.g. by email)."""
        return [u for u in self.asked(cp) if self.can_decide(u, cp)]
