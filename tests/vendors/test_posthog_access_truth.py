"""The PostHog connector tells what PostHog enforces, against the sandbox over real HTTP: project access
from roles and the everyone row, personal API keys nobody can list, guests the plain member list hides."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from bot.offboarding.modes import ChangeConfig, plan_for, verify_change
from storage.models import RequestMode
from vendors.base import AssessmentStatus, PlannedStep, UnseenError, VendorError
from vendors.http import RetryPolicy
from vendors.posthog import GUESTS_UNSEEN, PostHogVendor
from vendors.sandbox.posthog import (
    FINANCE_ID,
    KEY_OWNER_EMAIL,
    PRODUCTION_ID,
    SANDBOX_API_KEY,
    STAGING_ID,
    PostHogSandbox,
)
from vendors.sandbox.server import Fault

GRACE = "grace@corp.com"  # a member: Production and Staging as everyone, Finance by her own entry
GUEST = "visitor@agency.example"


MakeVendor = Callable[..., PostHogVendor]


@pytest.fixture
def make_vendor() -> Iterator[MakeVendor]:
    """Connectors to the shared sandbox, closed after the test: a keep-alive connection left open would
    hold one of the sandbox's threads."""
    made: list[PostHogVendor] = []

    def make(sandbox: PostHogSandbox, key: str = SANDBOX_API_KEY) -> PostHogVendor:
        made.append(PostHogVendor(key, sandbox.url, page_size=4,
                                  policy=RetryPolicy(backoff=0.001, max_attempts=2, sleep=lambda s: None)))
        return made[-1]

    yield make
    for connector in made:
        connector.close()


@pytest.fixture
def vendor(sandbox: PostHogSandbox, make_vendor: MakeVendor) -> PostHogVendor:
    return make_vendor(sandbox)


def projects(vendor: PostHogVendor, email: str) -> dict[str, str]:
    member = vendor.assess(email).member
    assert member is not None
    return {p.project_name: p.level for p in member.projects}


def project_only(vendor: PostHogVendor, email: str, *names: str) -> list[PlannedStep]:
    return plan_for(RequestMode.PROJECTS, vendor, vendor.assess(email), email=email, new_owner_email=None,
                    mode_params={"projects": list(names)}, config=ChangeConfig())


# -- project access: own row and roles (highest wins), else everyone, else the fixed default ---------------
def test_a_role_gives_access_that_her_own_no_access_does_not_end(sandbox: PostHogSandbox,
                                                                 vendor: PostHogVendor) -> None:
    sandbox.add_role("Analysts", members=[GRACE])
    sandbox.set_role_access("Analysts", FINANCE_ID, "admin")
    sandbox.set_access(GRACE, FINANCE_ID, "none")
    assessment = vendor.assess(GRACE)
    assert assessment.member is not None
    assert {p.project_name: p.level for p in assessment.member.projects}["Finance"] == "admin"
    finance = assessment.member.extra["project_access"][str(FINANCE_ID)]
    assert (finance["source"], finance["roles"]) == ("role", ["Analysts"])
    assert any("Finance (admin) through role Analysts" in w for w in assessment.warnings)


def test_a_private_project_is_its_everyone_row_and_the_reported_default_is_not_the_projects(
    sandbox: PostHogSandbox, vendor: PostHogVendor,
) -> None:
    # Finance's everyone row is "none" while the list reports PostHog's fixed default ("admin"): dave,
    # with no entry of his own, cannot open it.
    assert projects(vendor, "dave@corp.com") == {"Production": "member", "Staging": "member"}
    sandbox.set_everyone_access(STAGING_ID, None)  # no everyone row: the fixed default applies
    assert projects(vendor, "dave@corp.com")["Staging"] == "admin"
    member = vendor.assess("dave@corp.com").member
    assert member is not None and member.extra["project_access"][str(STAGING_ID)]["source"] == "default"


def test_roles_nobody_can_read_make_the_access_unknown_not_absent(sandbox: PostHogSandbox,
        make_vendor: MakeVendor) -> None:
    sandbox.add_role("Analysts", members=["dave@corp.com"])
    sandbox.set_role_access("Analysts", FINANCE_ID, "member")
    scopes = ["organization_member:read", "project:read", "access_control:read", "user:read", "dashboard:read",
              "insight:read", "feature_flag:read", "cohort:read", "experiment:read", "notebook:read"]
    # ... and no organization:read, which reading the roles needs
    assessment = make_vendor(sandbox, sandbox.issue_key(KEY_OWNER_EMAIL, scopes=scopes)).assess("dave@corp.com")
    assert assessment.member is not None
    assert {p.project_name: p.level for p in assessment.member.projects}["Finance"] == "unknown"
    assert any("Could not read the organization's roles" in w for w in assessment.warnings)


# -- project-only removal where a role gives the access ----------------------------------------------------
def test_project_only_removal_names_the_role_and_never_says_removed_while_it_gives_access(
    sandbox: PostHogSandbox, vendor: PostHogVendor,
) -> None:
    sandbox.add_role("Analysts", members=[GRACE])
    sandbox.set_role_access("Analysts", FINANCE_ID, "member")
    plan = project_only(vendor, GRACE, "Finance")
    assert [(s.kind, s.manual) for s in plan] == [("remove_from_project", False), ("manual", True),
                                                  ("verify_change", False)]
    assert plan[0].title == "Set their own access to Finance to No access"
    assert plan[1].title == "Take grace@corp.com out of role Analysts (it gives them Finance)"
    assert "Roles" in plan[1].instructions and plan[1].key == f"posthog_leave_role_{FINANCE_ID}"

    outcome = vendor.execute(plan[0])
    assert not outcome.summary.startswith("Removed") and "role Analysts still gives them member" in outcome.summary
    assert outcome.details["removed"] is False
    assert sandbox.access_level_of(GRACE, FINANCE_ID) == "member"  # what PostHog enforces
    with pytest.raises(VendorError, match="can still open Finance"):
        verify_change(vendor, plan[2].params)

    sandbox.remove_from_role("Analysts", GRACE)  # the manual step, done in PostHog's UI
    assert "Finance" not in verify_change(vendor, plan[2].params).summary.split("with ", 1)[1]
    assert sandbox.access_level_of(GRACE, FINANCE_ID) == "none"


def test_project_only_removal_by_her_own_entry_is_removed_and_checked(sandbox: PostHogSandbox,
                                                                      vendor: PostHogVendor) -> None:
    plan = project_only(vendor, GRACE, "Finance")
    assert [s.kind for s in plan] == ["remove_from_project", "verify_change"]
    assert vendor.execute(plan[0]).summary.startswith("Removed grace@corp.com from Finance (was member)")
    verify_change(vendor, plan[1].params)


def test_an_open_project_is_closed_for_her_by_her_own_entry(sandbox: PostHogSandbox, vendor: PostHogVendor) -> None:
    # Production is open to everyone: her own "none" is a specific row, and it beats the everyone row.
    plan = project_only(vendor, GRACE, "Production")
    vendor.execute(plan[0])
    assert sandbox.access_level_of(GRACE, PRODUCTION_ID) == "none"
    verify_change(vendor, plan[1].params)


# -- personal API keys: nobody can list them, so the step is always a person's ----------------------------
def test_replacing_personal_api_keys_is_always_planned_by_hand(sandbox: PostHogSandbox,
                                                               vendor: PostHogVendor) -> None:
    plan = vendor.plan_removal(vendor.assess("dave@corp.com"), None)
    keys = next(s for s in plan if s.key == "posthog_personal_api_keys")
    assert keys.manual and "ask dave@corp.com" in keys.instructions and "phx_" in keys.instructions
    assert keys.params["credentials_to_rotate"]
    assert not sandbox.requests("GET", "scoped_api_keys")


# -- guests --------------------------------------------------------------------------------------------------
def test_a_guest_is_a_member_and_is_removed_by_hand_then_checked_with_guests(sandbox: PostHogSandbox,
                                                                            vendor: PostHogVendor) -> None:
    sandbox.add_member(GUEST, first_name="Vic", is_guest=True)
    assessment = vendor.assess(GUEST)
    assert assessment.status == AssessmentStatus.MEMBER
    assert assessment.member is not None and assessment.member.extra["is_guest"] is True
    plan = vendor.plan_removal(assessment, None)
    removal = next(s for s in plan if s.key == "posthog_remove_member")
    assert removal.manual and "guest" in removal.instructions
    assert "remove_member" not in [s.kind for s in plan if not s.manual]

    verify = next(s for s in plan if s.kind == "verify_removed")
    with pytest.raises(VendorError, match="still a guest of Corp"):
        vendor.execute(verify)
    with pytest.raises(UnseenError, match="is a guest"):  # even if someone ran the API's removal
        vendor.execute(PlannedStep("remove_member", "Remove", {"email": GUEST}))
    sandbox.remove_by_hand(GUEST)
    asked = len(sandbox.member_list_queries)
    assert "guests included" in vendor.execute(verify).summary
    lookups = sandbox.member_list_queries[asked:]
    assert lookups and all(q.get("include_guests") == ["true"] for q in lookups)  # every miss asked for guests


def test_a_delete_answered_404_is_already_removed_only_if_a_lookup_with_guests_agrees(
    sandbox: PostHogSandbox, vendor: PostHogVendor,
) -> None:
    sandbox.inject(Fault("status", 404, {"type": "invalid_request", "code": "not_found", "detail": "Not found.",
                                         "attr": None}, method="DELETE", times=None))
    with pytest.raises(UnseenError, match="yet still lists them"):
        vendor.execute(PlannedStep("remove_member", "Remove", {"email": "dave@corp.com"}))
    assert sandbox.member_by_email("dave@corp.com") is not None
    sandbox.clear_faults()
    sandbox.remove_by_hand("dave@corp.com")  # gone for real: the lookup with guests agrees, so "already removed"
    sandbox.inject(Fault("status", 404, {"type": "invalid_request", "code": "not_found", "detail": "Not found.",
                                         "attr": None}, method="DELETE", times=None))
    outcome = vendor.execute(PlannedStep("remove_member", "Remove", {"email": "dave@corp.com"}))
    assert outcome.details["already_removed"] is True


def test_an_older_server_that_ignores_include_guests_cannot_call_anyone_absent(sandbox: PostHogSandbox,
        make_vendor: MakeVendor) -> None:
    sandbox.add_member(GUEST, is_guest=True)
    sandbox.honours_include_guests = False
    vendor = make_vendor(sandbox)
    for email in (GUEST, "nobody@corp.com"):
        assessment = vendor.assess(email)
        assert assessment.status == AssessmentStatus.UNKNOWN and GUESTS_UNSEEN in assessment.warnings
        plan = vendor.plan_removal(assessment, None)
        assert all(s.manual for s in plan) and "guests included" in plan[0].instructions
    with pytest.raises(UnseenError):
        vendor.execute(PlannedStep("verify_removed", "Check", {"email": GUEST}))
    assert vendor.assess("bob@corp.com").status == AssessmentStatus.MEMBER  # whom it can see, it sees


def test_a_server_that_lists_guests_when_asked_is_believed_on_a_miss(sandbox: PostHogSandbox,
        make_vendor: MakeVendor) -> None:
    sandbox.add_member(GUEST, is_guest=True)
    vendor = make_vendor(sandbox)
    assert vendor.assess("nobody@corp.com").status == AssessmentStatus.NOT_MEMBER
