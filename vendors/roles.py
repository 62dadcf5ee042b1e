"""Every vendor's role words mapped onto our one vocabulary (owner, admin, member, read-only) and back.

This is the one place that knows them; connectors and sandboxes ask here. Reading is forgiving (any
case, spaces, dashes or underscores): a word we do not know reads as an ordinary member, and the
vendor's own word is always shown beside ours, so nobody is misled. Writing is strict: where a vendor
has no role for one of ours, `vendor_role` says None and the change becomes a manual step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from vendors.base import Role


@dataclass(frozen=True)
class RoleMap:
    vendor: str
    reading: Mapping[str, Role]  # normalized vendor word → ours
    writing: Mapping[Role, str]  # ours → the word the vendor's API takes; absent = the vendor has no such role
    note: str = ""  # why the mapping is as it is, for docs/vendors.md and the card


def normalize(word: str) -> str:
    return " ".join(str(word).replace("_", " ").replace("-", " ").lower().split())


ROLE_MAPS: dict[str, RoleMap] = {
    # PostHog organization levels (1 member, 8 admin, 15 owner) are written as their numbers.
    # PostHog has no read-only organization role: project access "member" is the least it grants.
    "posthog": RoleMap(
        "posthog",
        reading={"owner": Role.OWNER, "15": Role.OWNER, "admin": Role.ADMIN, "8": Role.ADMIN,
                 "member": Role.MEMBER, "1": Role.MEMBER},
        writing={Role.OWNER: "15", Role.ADMIN: "8", Role.MEMBER: "1"},
        note="no read-only organization role",
    ),
    # Amplitude's Admins hold what owners hold elsewhere (the org must keep one), and a Manager
    # administers projects. SCIM neither shows nor sets roles, so writing is by hand in any case.
    "amplitude": RoleMap(
        "amplitude",
        reading={"admin": Role.ADMIN, "manager": Role.ADMIN, "member": Role.MEMBER, "viewer": Role.READ_ONLY},
        writing={Role.OWNER: "Admin", Role.ADMIN: "Admin", Role.MEMBER: "Member", Role.READ_ONLY: "Viewer"},
        note="Admin is the top role (no owner); Manager reads as admin",
    ),
    # Mixpanel organization roles; a Team carries one. Read-only exists only per project (Consumer).
    "mixpanel": RoleMap(
        "mixpanel",
        reading={"owner": Role.OWNER, "admin": Role.ADMIN, "billing admin": Role.MEMBER, "member": Role.MEMBER,
                 "consumer": Role.READ_ONLY, "analyst": Role.MEMBER},
        writing={Role.OWNER: "owner", Role.ADMIN: "admin", Role.MEMBER: "member"},
        note="read-only exists per project (Consumer), not for the organization",
    ),
    # Kissmetrics (UNVERIFIED, as its whole user API): the seed runbook's words and the sandbox's.
    "kissmetrics": RoleMap(
        "kissmetrics",
        reading={"account owner": Role.OWNER, "owner": Role.OWNER, "admin": Role.ADMIN, "administrator": Role.ADMIN,
                 "member": Role.MEMBER, "user": Role.MEMBER, "editor": Role.MEMBER, "analyst": Role.MEMBER,
                 "read only": Role.READ_ONLY, "readonly": Role.READ_ONLY, "viewer": Role.READ_ONLY},
        # "user" for a member: the word the runbook's invite example sends (its "User" permission level).
        writing={Role.ADMIN: "admin", Role.MEMBER: "user", Role.READ_ONLY: "read_only"},
        note="the Account Owner is made only by an ownership transfer",
    ),
}


def common_role(vendor: str, vendor_role: str) -> Role:
    """A vendor's role word (or PostHog level) in our vocabulary; unknown words read as member."""
    return ROLE_MAPS[vendor].reading.get(normalize(vendor_role), Role.MEMBER)


def vendor_role(vendor: str, role: Role) -> str | None:
    """The word the vendor's API takes for `role`, or None when the vendor has no such role."""
    return ROLE_MAPS[vendor].writing.get(role)
