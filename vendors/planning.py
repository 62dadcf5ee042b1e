"""Plans for the access changes short of (or besides) a full removal, made from what a connector declares.

A full removal is planned by the connector itself (`Vendor.plan_removal`: its plans are rich and
vendor-specific). The other changes are the same everywhere: do it through the API when the
connector declares the capability, otherwise give a person the vendor's exact UI steps
(`Vendor.manual_step`) to do it by hand and confirm. Nothing here calls a vendor.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from vendors import registry
from vendors.base import Capability, PlannedStep, Role, StepKind, Vendor


@dataclass(frozen=True)
class RoleChange:
    role: Role


@dataclass(frozen=True)
class ProjectRemoval:
    """Take away these projects only; the person stays in the organization."""

    projects: dict[str, str]  # project id → name, for the step titles


@dataclass(frozen=True)
class Invitation:
    role: Role
    projects: tuple[str, ...] = ()  # project ids; empty means the vendor's default access
    message: str = ""


@dataclass(frozen=True)
class InviteCancellation:
    pass


Change = RoleChange | ProjectRemoval | Invitation | InviteCancellation

_NEEDS: dict[type, tuple[Capability, StepKind]] = {
    RoleChange: (Capability.CHANGE_ROLE, StepKind.CHANGE_ROLE),
    ProjectRemoval: (Capability.REMOVE_FROM_PROJECT, StepKind.REMOVE_FROM_PROJECT),
    Invitation: (Capability.INVITE, StepKind.INVITE),
    InviteCancellation: (Capability.CANCEL_INVITE, StepKind.CANCEL_INVITE),
}


@dataclass(frozen=True)
class _Step:
    title: str
    params: dict[str, object] = field(default_factory=dict)


def plan_change(vendor: Vendor, email: str, change: Change) -> list[PlannedStep]:
    """The steps that make `change` for `email` at `vendor`: automated where the connector can,
    manual (with the vendor's click path) where it declared it cannot."""
    capability, kind = _NEEDS[type(change)]
    steps = [_step_for(change, vendor.label, project_id, name) for project_id, name in _targets(change)]
    if capability not in vendor.capabilities or not _has_role(vendor, change):
        return [vendor.manual_step(capability, email, s.params) for s in steps]
    planned = [PlannedStep(kind, s.title, {"email": email, **s.params}) for s in steps]
    if isinstance(change, Invitation) and _invites_at_other_role(vendor, change.role):
        # The API invites at one fixed role (Amplitude: Viewer) and cannot change it: a person does.
        planned.append(vendor.manual_step(Capability.CHANGE_ROLE, email, {"role": change.role.value,
                                                                        "after_invite": True}))
    return planned


def _has_role(vendor: Vendor, change: Change) -> bool:
    """False when the change names a role this vendor does not have (e.g. read-only at PostHog)."""
    role = getattr(change, "role", None)
    roles = registry.facts_of(vendor.name).roles
    if role is None or roles is None:
        return True
    return role in roles.writing


def _invites_at_other_role(vendor: Vendor, role: Role) -> bool:
    fixed: Role | None = getattr(vendor, "invite_role", None)  # set by connectors whose invites ignore the role
    return fixed is not None and fixed != role and Capability.CHANGE_ROLE not in vendor.capabilities


def _targets(change: Change) -> list[tuple[str, str]]:
    if isinstance(change, ProjectRemoval):
        return list(change.projects.items())
    return [("", "")]


def _step_for(change: Change, label: str, project_id: str, project_name: str) -> _Step:
    match change:
        case RoleChange(role=role):
            return _Step(f"Change role to {role.value}", {"role": role.value})
        case ProjectRemoval():
            return _Step(f"Remove from project {project_name}",
                         {"project_id": project_id, "project_name": project_name})
        case Invitation(role=role, projects=projects, message=message):
            return _Step(f"Invite to {label} as {role.value}",
                         {"role": role.value, "projects": list(projects), "message": message})
        case InviteCancellation():
            return _Step("Cancel their pending invitation")
    raise TypeError(f"not a change: {change!r}")
