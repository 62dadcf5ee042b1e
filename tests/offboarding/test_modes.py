"""Planning by kind of request (bot/offboarding/modes.py) with the real connectors' plans: emergency order and
follow-up, partial changes (automated where declared, manual otherwise, then a fresh check), restore, and guards.
Planning calls no vendor, so the connectors point at an address nothing listens on."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.offboarding import modes
from storage.changes import add_business_days
from storage.models import RequestMode
from vendors.amplitude import AmplitudeVendor
from vendors.base import (
    CREDENTIALS_PARAM,
    Assessment,
    AssessmentStatus,
    Asset,
    Capability,
    Member,
    PlannedStep,
    ProjectAccess,
    Role,
    StepKind,
    StepOutcome,
    VendorError,
)
from vendors.kissmetrics import KissmetricsVendor
from vendors.mixpanel import MixpanelVendor
from vendors.posthog import PostHogVendor

NOWHERE = "http://127.0.0.1:9"
CONFIG = modes.ChangeConfig()
PROJECTS = (ProjectAccess("1001", "Production", "member"), ProjectAccess("1003", "Finance", "member"))


def posthog() -> PostHogVendor:
    return PostHogVendor("phx_unit", NOWHERE, "org")


def member(email: str = "alice@corp.com", role: Role = Role.ADMIN, **extra: Any) -> Member:
    # The organization's name is in the member, as the PostHog assessment leaves it: no call for it.
    return Member(email=email, member_id="uuid-1", name="Alice", role=role, vendor_role=role.value,
                  projects=PROJECTS, extra={"user_id": 42, "organization_name": "Corp", **extra})


def assessed(vendor: str, who: Member | None = None, **kwargs: Any) -> Assessment:
    who = who or member()
    return Assessment(vendor, AssessmentStatus.MEMBER, member=who, email=who.email, **kwargs)


def plan(mode: RequestMode, vendor: Any, assessment: Assessment, config: modes.ChangeConfig = CONFIG,
         **params: Any) -> list[PlannedStep]:
    return modes.plan_for(mode, vendor, assessment, email=assessment.email, new_owner_email="bob@corp.com",
                          mode_params=params, config=config)


# -- emergency ---------------------------------------------------------------------------------------------------
def test_an_emergency_removes_first_hands_over_after_and_adds_the_security_follow_up() -> None:
    asset = Asset("dashboard", "7", "Growth", "1001", "Production", restricted=True)
    who = member(personal_api_keys=[{"name": "Zapier export", "last_used_at": None}])
    normal = plan(RequestMode.FULL, posthog(), assessed("posthog", who, assets=(asset,)))
    assert [s.kind for s in normal][:3] == ["handover_assets", "remove_member", "verify_removed"]

    steps = plan(RequestMode.EMERGENCY, posthog(), assessed("posthog", who, assets=(asset,)))
    assert [s.kind for s in steps][:3] == ["remove_member", "verify_removed", "handover_assets"]
    assert [s.key for s in steps][-2:] == ["posthog_emergency_rotate", "posthog_emergency_audit_log"]
    assert sorted(s.key for s in steps) == sorted([s.key for s in normal] + [s.key for s in steps[-2:]])
    rotate = steps[-2]
    assert rotate.params[CREDENTIALS_PARAM] == ["PostHog project API key of Production",
                                                "PostHog project API key of Finance"]
    assert "activity_log/?user=uuid-1" in steps[-1].instructions


def test_an_emergency_at_a_manual_only_vendor_checks_removes_and_verifies_before_the_hand_over() -> None:
    unknown = Assessment("kissmetrics", AssessmentStatus.UNKNOWN, error="no API", email="alice@corp.com")
    steps = plan(RequestMode.EMERGENCY, KissmetricsVendor(), unknown)
    assert [s.key for s in steps] == ["kissmetrics_find_member", "kissmetrics_remove_member",
                                      "kissmetrics_verify_removal", "kissmetrics_handover_assets",
                                      "kissmetrics_emergency_rotate", "kissmetrics_emergency_audit_log"]
    assert [modes.is_removal_critical(s.kind, s.key, s.manual) for s in steps] == [True, True, True, False, False,
                                                                                  False]


def test_an_emergency_at_amplitude_does_not_wait_for_the_manual_transfer() -> None:
    amplitude = AmplitudeVendor("scim", region=NOWHERE)
    steps = plan(RequestMode.EMERGENCY, amplitude, assessed("amplitude"))
    assert [s.kind if not s.manual else s.key for s in steps][:4] == [
        "remove_member", "verify_removed", "amplitude_transfer_assets", "amplitude_last_admin"]


def test_nothing_is_planned_for_someone_who_is_not_there() -> None:
    gone = Assessment("posthog", AssessmentStatus.NOT_MEMBER, email="x@corp.com")
    for mode in (RequestMode.FULL, RequestMode.EMERGENCY, RequestMode.PROJECTS, RequestMode.READ_ONLY):
        assert plan(mode, posthog(), gone, projects=["Finance"]) == []


# -- partial modes -----------------------------------------------------------------------------------------------
def test_project_removal_is_automated_where_declared_then_checked() -> None:
    steps = plan(RequestMode.PROJECTS, posthog(), assessed("posthog", member(role=Role.MEMBER)),
                 projects=["finance", "Marketing"])
    assert [(s.kind, s.params.get("project_id")) for s in steps] == [(StepKind.REMOVE_FROM_PROJECT, "1003"),
                                                                    (modes.VERIFY_CHANGE, None)]
    assert steps[1].params["expect"] == {"without_projects": ["1003"]}
    # A project they are not in: nothing to do there.
    assert plan(RequestMode.PROJECTS, posthog(), assessed("posthog"), projects=["Marketing"]) == []


def test_project_removal_where_nobody_can_see_projects_is_by_hand_without_a_check() -> None:
    amplitude = AmplitudeVendor("scim", region=NOWHERE)
    steps = plan(RequestMode.PROJECTS, amplitude, assessed("amplitude"), projects=["Finance", "Web"])
    assert [s.manual for s in steps] == [True, True]
    assert [s.params["project_name"] for s in steps] == ["Finance", "Web"]
    assert not [s for s in steps if s.kind == modes.VERIFY_CHANGE]


def test_read_only_is_the_nearest_role_a_vendor_has_and_is_checked() -> None:
    assert modes.nearest_role("posthog", Role.READ_ONLY) == Role.MEMBER
    assert modes.nearest_role("mixpanel", Role.READ_ONLY) == Role.MEMBER
    assert modes.nearest_role("amplitude", Role.READ_ONLY) == Role.READ_ONLY
    steps = plan(RequestMode.READ_ONLY, posthog(), assessed("posthog"))
    assert steps[0].manual and "nearest PostHog has to read-only" in steps[0].title
    assert steps[1].kind == modes.VERIFY_CHANGE and steps[1].params["expect"] == {"role_at_most": "member"}
    mixpanel = MixpanelVendor("scim", region=NOWHERE)
    # Mixpanel's SCIM shows no role, so "already member" cannot be read: a person sets Consumer per project.
    [by_hand] = plan(RequestMode.READ_ONLY, mixpanel, assessed("mixpanel", member(role=Role.MEMBER)))
    assert by_hand.manual and by_hand.key == "mixpanel_change_role" and "Consumer" in by_hand.instructions
    reader = KissmetricsVendor(api_key="km", base_url=NOWHERE)
    kiss = plan(RequestMode.READ_ONLY, reader, assessed("kissmetrics"))
    assert kiss[0].manual and kiss[1].params["expect"] == {"role_at_most": "read-only"}


class Looker:
    """A vendor whose fresh lookup answers what the test says (verify_change only calls `assess`)."""

    name, label = "acme", "Acme"
    capabilities = frozenset({Capability.FIND_MEMBER, Capability.READ_ROLE, Capability.READ_PROJECTS})

    def __init__(self, answer: Assessment) -> None:
        self.answer = answer

    def assess(self, email: str) -> Assessment:
        return self.answer

    def iter_members(self) -> Iterator[Member]:
        raise AssertionError("not used")

    def manual_step(self, capability: Capability, email: str, details: Mapping[str, Any]) -> PlannedStep:
        raise AssertionError("not used")

    def plan_removal(self, assessment: Assessment, new_owner_email: str | None) -> list[PlannedStep]:
        raise AssertionError("not used")

    def execute(self, step: PlannedStep) -> StepOutcome:
        raise AssertionError("not used")


def test_the_check_after_a_change_says_what_is_still_there() -> None:
    still = Looker(assessed("acme", member(role=Role.ADMIN)))
    with pytest.raises(VendorError, match=r"is still admin .* and can still open Finance \(member\)"):
        modes.verify_change(still, {"email": "alice@corp.com",
                                    "expect": {"role_at_most": "member", "without_projects": ["1003"]}})
    done = Looker(assessed("acme", Member("alice@corp.com", "u", "Alice", Role.MEMBER, "member",
                                          projects=(PROJECTS[0],))))
    outcome = modes.verify_change(done, {"email": "alice@corp.com",
                                         "expect": {"role_at_most": "member", "without_projects": ["1003"]}})
    assert outcome.details["after"]["projects"] == {"1001": {"name": "Production", "level": "member"}}
    down = Looker(Assessment("acme", AssessmentStatus.UNKNOWN, error="503", email="alice@corp.com"))
    with pytest.raises(VendorError, match="could not be asked"):
        modes.verify_change(down, {"email": "alice@corp.com", "expect": {}})


# -- guards ---------------------------------------------------------------------------------------------------------
def test_offboard_refuses_its_own_account_in_every_mode() -> None:
    own = assessed("posthog", member(is_api_key_owner=True))
    for mode in (RequestMode.FULL, RequestMode.EMERGENCY, RequestMode.PROJECTS, RequestMode.READ_ONLY):
        [step] = plan(mode, posthog(), own, projects=["Finance"])
        assert step.manual and step.key == "posthog_own_account" and "will not change or remove" in step.instructions
    named = modes.ChangeConfig(bot_accounts=frozenset({"alice@corp.com"}))
    [step] = plan(RequestMode.FULL, MixpanelVendor("scim", region=NOWHERE), assessed("mixpanel"), named)
    assert step.key == "mixpanel_own_account"
    assert modes.is_removal_critical(step.kind, step.key, step.manual)


def test_an_idp_provisioned_account_gets_the_idp_group_item_last() -> None:
    config = modes.ChangeConfig(idp_groups={"posthog": "Analytics"}, idp_name="Okta")
    steps = plan(RequestMode.FULL, posthog(), assessed("posthog"), config)
    assert steps[-1].key == "posthog_idp_group" and "Okta" in steps[-1].title and "re-creates" in steps[-1].instructions
    marked = plan(RequestMode.FULL, posthog(), assessed("posthog", member(scim_managed=True)))
    assert marked[-1].key == "posthog_idp_group"
    partial = plan(RequestMode.PROJECTS, posthog(), assessed("posthog", member(role=Role.MEMBER)), config,
                   projects=["Finance"])
    assert partial[-1].key == "posthog_idp_group" and "gives the old access back" in partial[-1].instructions
    assert plan(RequestMode.FULL, posthog(), assessed("posthog"))[-1].key != "posthog_idp_group"


# -- restore ---------------------------------------------------------------------------------------------------------
def test_a_restore_invites_with_the_role_and_projects_the_removal_took() -> None:
    taken = modes.snapshot_entry(assessed("posthog"))
    gone = Assessment("posthog", AssessmentStatus.NOT_MEMBER, email="alice@corp.com")
    [invite] = plan(RequestMode.RESTORE, posthog(), gone, snapshot={"posthog": taken})
    assert invite.kind == StepKind.INVITE and invite.params["role"] == "admin"
    assert invite.params["projects"] == ["1001", "1003"]
    amplitude = plan(RequestMode.RESTORE, AmplitudeVendor("scim", region=NOWHERE),
                     Assessment("amplitude", AssessmentStatus.NOT_MEMBER, email="alice@corp.com"),
                     snapshot={"amplitude": modes.snapshot_entry(assessed("amplitude"))})
    assert [s.kind for s in amplitude] == [StepKind.INVITE, "manual"]  # invited as Viewer; the role by hand
    assert plan(RequestMode.RESTORE, posthog(), assessed("posthog"), snapshot={"posthog": taken}) == []  # back
    assert plan(RequestMode.RESTORE, posthog(), gone, snapshot={}) == []  # nothing was taken there
    unknown = modes.snapshot_entry(Assessment("kissmetrics", AssessmentStatus.UNKNOWN, error="no API"))
    [by_hand] = plan(RequestMode.RESTORE, KissmetricsVendor(), gone, snapshot={"kissmetrics": unknown})
    assert by_hand.manual


def test_what_cannot_come_back_is_said_per_vendor() -> None:
    lines = modes.cannot_come_back(["posthog", "amplitude"])
    assert any("personal API keys" in line for line in lines)
    assert any("deletion is permanent" in line for line in lines)
    assert lines[-1].startswith("they must accept the invitation")


@pytest.mark.parametrize(("start", "closes"), [
    (datetime(2025, 6, 6, 15, 0, tzinfo=UTC), datetime(2025, 6, 13, 15, 0, tzinfo=UTC)),  # Friday → Friday
    (datetime(2025, 6, 2, 9, 0, tzinfo=UTC), datetime(2025, 6, 9, 9, 0, tzinfo=UTC)),  # Monday → Monday
    (datetime(2025, 6, 7, 9, 0, tzinfo=UTC), datetime(2025, 6, 13, 9, 0, tzinfo=UTC)),  # Saturday → Friday
])
def test_the_dispute_window_counts_business_days(start: datetime, closes: datetime) -> None:
    assert add_business_days(start, 5) == closes


def test_project_lists_are_read_from_commas_or_lines() -> None:
    assert modes.parse_project_list("Finance, Staging\nfinance;Web") == ["Finance", "Staging", "finance", "Web"]
    assert modes.parse_project_list("  ") == []
