"""Plans for access changes follow what a connector declares; roles map in one place."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from vendors.base import (
    Assessment,
    AssessmentStatus,
    Capability,
    Member,
    PlannedStep,
    Role,
    StepKind,
    StepOutcome,
    UnsupportedError,
)
from vendors.manual import REMOVAL_BY_HAND, ManualVendor
from vendors.planning import Invitation, InviteCancellation, ProjectRemoval, RoleChange, plan_change
from vendors.roles import ROLE_MAPS, common_role, normalize, vendor_role


def by_hand(capability: Capability, email: str, details: Mapping[str, Any]) -> PlannedStep:
    suffix = f"_{details['project_id']}" if details.get("project_id") else ""
    return PlannedStep("manual", f"By hand: {capability}", dict(details), manual=True,
                       instructions=f"In Acme's UI do {capability} for {email}", key=f"acme_{capability}{suffix}")


class Acme:
    """A connector that declares exactly the capabilities it is given."""

    label = "Acme"

    def __init__(self, *capabilities: Capability, name: str = "acme", invite_role: Role | None = None) -> None:
        self.name = name
        self.capabilities = frozenset(capabilities)
        if invite_role:
            self.invite_role = invite_role

    def assess(self, email: str) -> Assessment:
        raise AssertionError("planning must not call the vendor")

    def iter_members(self) -> Iterator[Member]:
        raise AssertionError("planning must not call the vendor")

    def plan_removal(self, assessment: Assessment, new_owner_email: str | None) -> list[PlannedStep]:
        raise AssertionError("not a full removal")

    def manual_step(self, capability: Capability, email: str, details: Mapping[str, Any]) -> PlannedStep:
        return by_hand(capability, email, details)

    def execute(self, step: PlannedStep) -> StepOutcome:
        raise AssertionError("planning must not call the vendor")


CHANGES = [
    (RoleChange(Role.ADMIN), Capability.CHANGE_ROLE, StepKind.CHANGE_ROLE),
    (ProjectRemoval({"7": "Web"}), Capability.REMOVE_FROM_PROJECT, StepKind.REMOVE_FROM_PROJECT),
    (Invitation(Role.MEMBER, ("7",)), Capability.INVITE, StepKind.INVITE),
    (InviteCancellation(), Capability.CANCEL_INVITE, StepKind.CANCEL_INVITE),
]


@pytest.mark.parametrize(("change", "capability", "kind"), CHANGES)
def test_a_declared_capability_becomes_an_automated_step(change: Any, capability: Capability, kind: StepKind) -> None:
    [step] = plan_change(Acme(capability), "ann@corp.com", change)
    assert (step.kind, step.manual, step.params["email"]) == (kind, False, "ann@corp.com")


@pytest.mark.parametrize(("change", "capability", "kind"), CHANGES)
def test_a_missing_capability_becomes_the_vendors_manual_step(change: Any, capability: Capability,
                                                              kind: StepKind) -> None:
    others = set(Capability) - {capability}
    [step] = plan_change(Acme(*others), "ann@corp.com", change)
    assert step.manual and step.key.startswith(f"acme_{capability}")
    assert "ann@corp.com" in step.instructions


def test_step_params_carry_what_the_runner_needs() -> None:
    [role] = plan_change(Acme(Capability.CHANGE_ROLE), "a@corp.com", RoleChange(Role.READ_ONLY))
    assert role.params == {"email": "a@corp.com", "role": "read-only"}
    steps = plan_change(Acme(Capability.REMOVE_FROM_PROJECT), "a@corp.com", ProjectRemoval({"1": "Web", "2": "App"}))
    assert [(s.params["project_id"], s.title) for s in steps] == [("1", "Remove from project Web"),
                                                                  ("2", "Remove from project App")]
    [invite] = plan_change(Acme(Capability.INVITE), "a@corp.com", Invitation(Role.MEMBER, ("1",), "hi"))
    assert invite.params == {"email": "a@corp.com", "role": "member", "projects": ["1"], "message": "hi"}
    assert invite.title == "Invite to Acme as member"


def test_manual_steps_for_several_projects_have_distinct_keys() -> None:
    steps = plan_change(Acme(), "a@corp.com", ProjectRemoval({"1": "Web", "2": "App"}))
    assert len({s.key for s in steps}) == 2 and all(s.manual for s in steps)


def test_a_role_the_vendor_does_not_have_is_changed_by_hand() -> None:
    # PostHog has no read-only organization role, whatever its API can do with the others.
    posthog = Acme(*Capability, name="posthog")
    [step] = plan_change(posthog, "a@corp.com", RoleChange(Role.READ_ONLY))
    assert step.manual and step.params["role"] == "read-only"
    [step] = plan_change(posthog, "a@corp.com", RoleChange(Role.ADMIN))
    assert not step.manual


def test_an_invite_at_a_fixed_role_is_followed_by_a_manual_role_change() -> None:
    amplitude_like = Acme(Capability.INVITE, invite_role=Role.READ_ONLY)
    invite, raise_role = plan_change(amplitude_like, "a@corp.com", Invitation(Role.MEMBER))
    assert not invite.manual and raise_role.manual and raise_role.params["role"] == "member"
    assert len(plan_change(amplitude_like, "a@corp.com", Invitation(Role.READ_ONLY))) == 1


def test_a_manual_only_vendor_never_calls_and_plans_the_removal_by_hand() -> None:
    vendor = ManualVendor("acme", "Acme", by_hand)
    assessment = vendor.assess(" ann@corp.com ")
    assert assessment.status == AssessmentStatus.UNKNOWN and "manual-only" in (assessment.error or "")
    plan = vendor.plan_removal(assessment, "bo@corp.com")
    assert [s.key for s in plan] == [f"acme_{c}" for c in REMOVAL_BY_HAND]
    assert all(s.manual for s in plan) and plan[1].params["new_owner_email"] == "bo@corp.com"
    assert vendor.capabilities == frozenset()
    with pytest.raises(UnsupportedError):
        vendor.execute(PlannedStep("remove_member", "Remove", {"email": "ann@corp.com"}))
    with pytest.raises(UnsupportedError):
        next(vendor.iter_members())
    assert vendor.plan_removal(Assessment("acme", AssessmentStatus.NOT_MEMBER, email="x@corp.com"), None) == []


# -- roles ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("vendor", "word", "role"),
    [
        ("posthog", "15", Role.OWNER), ("posthog", "8", Role.ADMIN), ("posthog", "1", Role.MEMBER),
        ("amplitude", "Admin", Role.ADMIN), ("amplitude", "Manager", Role.ADMIN),
        ("amplitude", "Viewer", Role.READ_ONLY),
        ("mixpanel", "Billing Admin", Role.MEMBER), ("mixpanel", "owner", Role.OWNER),
        ("kissmetrics", "account_owner", Role.OWNER), ("kissmetrics", "Read-Only", Role.READ_ONLY),
        ("kissmetrics", "something new", Role.MEMBER),
    ],
)
def test_vendor_words_read_as_our_roles(vendor: str, word: str, role: Role) -> None:
    assert common_role(vendor, word) == role


@pytest.mark.parametrize("vendor", sorted(ROLE_MAPS))
def test_every_role_a_vendor_can_be_given_reads_back_as_itself_or_stronger(vendor: str) -> None:
    rank = [Role.READ_ONLY, Role.MEMBER, Role.ADMIN, Role.OWNER]
    for role in Role:
        word = vendor_role(vendor, role)
        if word is None:
            continue
        # Amplitude has no owner: writing "owner" gives its top role, Admin, which reads as admin.
        assert rank.index(common_role(vendor, word)) >= rank.index(role) - (1 if role == Role.OWNER else 0)
        assert normalize(word) in ROLE_MAPS[vendor].reading


def test_roles_a_vendor_lacks_are_said_plainly() -> None:
    assert vendor_role("posthog", Role.READ_ONLY) is None
    assert vendor_role("mixpanel", Role.READ_ONLY) is None
    assert vendor_role("kissmetrics", Role.OWNER) is None
    assert vendor_role("amplitude", Role.READ_ONLY) == "Viewer"
