"""The PostHog connector against the sandbox over real HTTP: assess, plan, execute, verify."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from vendors.base import (
    Assessment,
    AssessmentStatus,
    AuthError,
    ConflictError,
    PlannedStep,
    Role,
    StepOutcome,
    Vendor,
    VendorError,
    assessment_from_json,
)
from vendors.http import RetryPolicy
from vendors.posthog import (
    PostHogVendor,
    level_name,
    posthog_base_url,
    posthog_level,
    role_for_level,
    throttle_wait,
)
from vendors.roles import vendor_role
from vendors.sandbox.posthog import (
    ADMIN,
    EDITABLE,
    KEY_OWNER_EMAIL,
    OWNER,
    RESTRICTED,
    SANDBOX_API_KEY,
    PostHogSandbox,
)
from vendors.sandbox.server import Fault

ALICE = "alice@corp.com"


@pytest.fixture
def sleeps() -> list[float]:
    return []


def make_vendor(sandbox: PostHogSandbox, sleeps: list[float], key: str = SANDBOX_API_KEY) -> PostHogVendor:
    # A small page size makes every list the connector reads span several pages.
    policy = RetryPolicy(backoff=0.001, max_attempts=3, sleep=sleeps.append)
    return PostHogVendor(key, sandbox.url, page_size=4, policy=policy)


@pytest.fixture
def vendor(sandbox: PostHogSandbox, sleeps: list[float]) -> Iterator[PostHogVendor]:
    connector = make_vendor(sandbox, sleeps)
    yield connector
    connector.close()  # its keep-alive connection would hold a thread of the shared sandbox


def run_plan(vendor: PostHogVendor, steps: list[PlannedStep]) -> dict[str, StepOutcome]:
    return {step.kind: vendor.execute(step) for step in steps if not step.manual}


# -- pure helpers -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("host", "url"),
    [("us", "https://us.posthog.com"), ("EU", "https://eu.posthog.com"),
     ("https://posthog.corp.com/", "https://posthog.corp.com"), ("posthog.corp.com", "https://posthog.corp.com"),
     ("http://localhost:8000", "http://localhost:8000")],
)
def test_hosts(host: str, url: str) -> None:
    assert posthog_base_url(host) == url


@pytest.mark.parametrize("host", ["", "ftp://posthog.corp.com"])
def test_bad_hosts(host: str) -> None:
    with pytest.raises(ValueError):
        posthog_base_url(host)


@pytest.mark.parametrize(("level", "role"), [(1, Role.MEMBER), (8, Role.ADMIN), (15, Role.OWNER), (5, Role.MEMBER),
                                            (10, Role.ADMIN), (20, Role.OWNER), (0, Role.MEMBER)])
def test_role_for_level(level: int, role: Role) -> None:
    assert role_for_level(level) == role  # levels between PostHog's round down


def test_levels_come_from_the_one_role_table() -> None:
    assert [posthog_level(r) for r in (Role.MEMBER, Role.ADMIN, Role.OWNER)] == [
        int(vendor_role("posthog", r) or 0) for r in (Role.MEMBER, Role.ADMIN, Role.OWNER)] == [1, 8, 15]
    assert posthog_level(Role.READ_ONLY) is None
    assert [level_name(level) for level in (1, 8, 15, 5)] == ["member", "admin", "owner", "level 5"]


def test_throttle_wait_reads_posthogs_detail() -> None:
    body = {"detail": "Request was throttled. Expected available in 17 seconds."}
    assert throttle_wait(httpx.Response(429, json=body)) == 17.0
    assert throttle_wait(httpx.Response(429, json={"detail": "slow down"})) is None


def test_is_a_vendor_and_keeps_its_key_to_itself(vendor: PostHogVendor) -> None:
    assert isinstance(vendor, Vendor) and (vendor.name, vendor.label) == ("posthog", "PostHog")
    assert SANDBOX_API_KEY not in repr(vendor) and SANDBOX_API_KEY not in repr(vars(vendor))


# -- assess ---------------------------------------------------------------------------------------
def test_assess_alice(sandbox: PostHogSandbox, vendor: PostHogVendor) -> None:
    assessment = vendor.assess(ALICE)
    assert assessment.status == AssessmentStatus.MEMBER and assessment.error is None
    member = assessment.member
    assert member is not None
    assert (member.email, member.name, member.role, member.vendor_role) == (
        ALICE, "Alice Anders", Role.ADMIN, "admin (level 8)")
    assert member.member_id == sandbox.member_by_email(ALICE).user.uuid  # type: ignore[union-attr]
    assert [(p.project_name, p.level) for p in member.projects] == [
        ("Production", "admin"), ("Staging", "admin"), ("Finance", "admin")]
    assert member.last_login == sandbox.now - timedelta(days=2)
    assert member.joined_at == sandbox.now - timedelta(days=700)

    kinds = Counter(a.kind for a in assessment.assets)
    assert kinds == {"dashboard": 3, "insight": 4, "feature_flag": 1, "cohort": 1, "experiment": 2, "notebook": 1}
    by_name = {a.name: a for a in assessment.assets}
    assert by_name["Alice's scratchpad"].restricted and not by_name["Growth KPIs"].restricted
    assert "Old launch dashboard" not in by_name and "Board metrics" not in by_name  # deleted; carol's
    assert "Pageview count" in by_name  # an insight named only by PostHog
    assert by_name["Revenue by plan"].project_name == "Finance"
    assert by_name["new-checkout"].url == f"{sandbox.url}/project/1001/feature_flags/{by_name['new-checkout'].asset_id}"
    assert by_name["Q3 research notes"].asset_id == "q3NoTeS1"

    extra = member.extra
    assert "personal_api_keys" not in extra  # PostHog shows no personal API key another member's keys
    assert not sandbox.requests("GET", "scoped_api_keys")  # so offboard does not ask
    assert extra["running_experiments"] == [by_name["Checkout redesign"].asset_id]
    assert extra["pending_invites_sent"] == ["contractor@agency.example"]
    assert (extra["user_id"], extra["organization_name"], extra["level"]) == (42, "Corp", ADMIN)
    assert assessment.warnings == ()
    assert assessment.to_json()["member"]["email"] == ALICE  # storable as JSON


def test_projects_follow_access_controls(vendor: PostHogVendor) -> None:
    def projects(email: str) -> list[tuple[str, str]]:
        member = vendor.assess(email).member
        assert member is not None
        return [(p.project_name, p.level) for p in member.projects]

    assert projects("Erin.Ng@Corp.com") == [("Production", "member"), ("Finance", "admin")]  # Staging: none
    assert projects("grace@corp.com") == [("Production", "member"), ("Staging", "member"), ("Finance", "member")]
    assert projects("dave@corp.com") == [("Production", "member"), ("Staging", "member")]


def test_assess_finds_people_whatever_the_case(vendor: PostHogVendor) -> None:
    assessment = vendor.assess("erin.ng@corp.com")
    assert assessment.status == AssessmentStatus.MEMBER
    assert assessment.member is not None and assessment.member.email == "Erin.Ng@Corp.com"


def test_assess_someone_who_is_not_there(vendor: PostHogVendor) -> None:
    assert vendor.assess("nobody@corp.com").status == AssessmentStatus.NOT_MEMBER
    assert vendor.assess("ghost@corp.com").status == AssessmentStatus.NOT_MEMBER  # inactive
    assert vendor.plan_removal(vendor.assess("nobody@corp.com"), "bob@corp.com") == []


def test_assess_an_owner(vendor: PostHogVendor) -> None:
    assessment = vendor.assess("carol@corp.com")
    assert assessment.member is not None and assessment.member.role == Role.OWNER
    assert assessment.warnings == (
        "carol@corp.com is an owner: will be demoted to admin before removal (PostHog does not remove owners).",)
    kinds = [s.kind for s in vendor.plan_removal(assessment, "bob@corp.com")]
    assert kinds[:4] == ["handover_assets", "demote_owner", "remove_member", "verify_removed"]


def test_assess_the_only_owner(sandbox: PostHogSandbox, vendor: PostHogVendor) -> None:
    sandbox.make_sole_owner("carol@corp.com")
    warnings = vendor.assess("carol@corp.com").warnings
    assert warnings == ("carol@corp.com is the ONLY owner of Corp: make someone else an owner first "
                        "(Settings → Organization → Members), or removal will stop.",)


def test_assess_the_key_owner_warns(vendor: PostHogVendor) -> None:
    warnings = vendor.assess(KEY_OWNER_EMAIL).warnings
    assert any("owns the personal API key offboard uses" in w for w in warnings)


def test_assess_is_unknown_when_posthog_keeps_failing(sandbox: PostHogSandbox, vendor: PostHogVendor,
                                                      sleeps: list[float]) -> None:
    sandbox.inject(Fault("status", 500, {"type": "server_error", "code": "error", "detail": "A server error occurred."},
                         times=None))
    assessment = vendor.assess(ALICE)
    assert assessment.status == AssessmentStatus.UNKNOWN and assessment.member is None
    assert assessment.error and "500" in assessment.error and "A server error occurred." in assessment.error
    assert len(sandbox.requests("GET")) == 3 and len(sleeps) == 2  # bounded retries

    plan = vendor.plan_removal(assessment, "bob@corp.com")
    assert [s.kind for s in plan] == ["remove_member", "verify_removed", "manual"]
    assert plan[0].params == {"email": ALICE} and plan[2].key == "posthog_review_unassessed"

    sandbox.clear_faults()  # PostHog is back when the approved removal runs
    outcomes = run_plan(vendor, plan)
    assert "Removed alice@corp.com from Corp" in outcomes["remove_member"].summary
    assert sandbox.delete_count(ALICE) == 1


def test_assess_is_unknown_with_a_bad_key(sandbox: PostHogSandbox, sleeps: list[float]) -> None:
    key = "phx_definitely_not_valid_0123456789"
    assessment = make_vendor(sandbox, sleeps, key).assess(ALICE)
    assert assessment.status == AssessmentStatus.UNKNOWN
    assert assessment.error and "Authorization header is invalid." in assessment.error and key not in assessment.error
    assert sleeps == []  # a 401 is not retried
    assert "POSTHOG_API_KEY" in assessment.error
    with pytest.raises(AuthError, match="POSTHOG_API_KEY") as caught:
        make_vendor(sandbox, sleeps, key).execute(PlannedStep("remove_member", "Remove", {"email": ALICE}))
    assert key not in caught.value.message and sandbox.delete_count(ALICE) == 0


def test_assess_rides_out_throttling(sandbox: PostHogSandbox, vendor: PostHogVendor, sleeps: list[float]) -> None:
    sandbox.throttle(3, times=1)
    sandbox.throttle(5, times=1, header=False)  # older PostHog: the wait is only in the detail
    assert vendor.assess(ALICE).status == AssessmentStatus.MEMBER
    assert sleeps == [3.0, 5.0]


def test_a_missing_scope_for_a_detail_is_a_warning(sandbox: PostHogSandbox, sleeps: list[float]) -> None:
    scopes = ["organization_member:read", "organization:read", "project:read", "access_control:read",
              "dashboard:read", "insight:read", "feature_flag:read", "cohort:read", "notebook:read", "experiment:read"]
    key = sandbox.issue_key(KEY_OWNER_EMAIL, scopes=scopes)
    sandbox.inject(Fault("status", 403, {"type": "authentication_error", "code": "permission_denied",
                                         "detail": "API key missing required scope", "attr": None},
                         path_pattern="invites", times=None))
    assessment = make_vendor(sandbox, sleeps, key).assess(ALICE)
    assert assessment.status == AssessmentStatus.MEMBER
    assert any("the invites they sent" in w for w in assessment.warnings)


# -- plan -------------------------------------------------------------------------------------------
def test_plan_for_alice(vendor: PostHogVendor) -> None:
    plan = vendor.plan_removal(vendor.assess(ALICE), "bob@corp.com")
    automated = [s for s in plan if not s.manual]
    manual = {s.key: s for s in plan if s.manual}
    assert [s.kind for s in automated] == ["handover_assets", "remove_member", "verify_removed"]  # admin: no demote
    handover = automated[0]
    assert handover.params["email"] == ALICE and handover.params["new_owner_email"] == "bob@corp.com"
    assert handover.title == "Hand over 12 assets to bob@corp.com (opens 1 restricted dashboard)"
    assert set(manual) == {"posthog_feature_flags", "posthog_running_experiments", "posthog_personal_api_keys",
                           "posthog_admin_review"}
    assert len({s.key for s in plan if s.manual}) == len(manual)
    flags = manual["posthog_feature_flags"].instructions
    assert "new-checkout (active) in Production" in flags and "Feature Flags" in flags and "bob@corp.com" in flags
    experiments = manual["posthog_running_experiments"].instructions
    assert "Checkout redesign" in experiments and "Pricing page test" not in experiments  # that one has ended
    keys = manual["posthog_personal_api_keys"].instructions
    assert "Zapier export" not in keys  # nobody but alice can see her keys' names
    assert "ask alice@corp.com" in keys and "Settings → User → Personal API keys" in keys and "phx_" in keys
    review = manual["posthog_admin_review"].instructions
    assert "Production, Staging, Finance" in review and "contractor@agency.example" in review
    assert not any("rotate" in s.instructions.lower() for s in plan)  # only for security incidents


def test_plan_for_a_member_without_assets(vendor: PostHogVendor) -> None:
    plan = vendor.plan_removal(vendor.assess("dave@corp.com"), None)
    assert [(s.kind, s.key) for s in plan] == [
        ("remove_member", ""), ("verify_removed", ""), ("manual", "posthog_personal_api_keys")]
    assert plan[0].params == {"email": "dave@corp.com"}


def test_plan_from_a_stored_assessment(vendor: PostHogVendor) -> None:
    stored = assessment_from_json(vendor.assess(ALICE).to_json())
    assert [s.kind for s in vendor.plan_removal(stored, "bob@corp.com")] == [
        s.kind for s in vendor.plan_removal(vendor.assess(ALICE), "bob@corp.com")]


def test_an_unknown_assessment_without_an_email_still_plans_something(vendor: PostHogVendor) -> None:
    plan = vendor.plan_removal(Assessment("posthog", AssessmentStatus.UNKNOWN, error="down"), None)
    assert [(s.kind, s.manual) for s in plan] == [("manual", True)]


# -- execute ----------------------------------------------------------------------------------------
def test_full_removal_of_alice(sandbox: PostHogSandbox, vendor: PostHogVendor) -> None:
    scratchpad = next(a for a in sandbox.assets_of(ALICE, "dashboard") if a.name == "Alice's scratchpad")
    outcomes = run_plan(vendor, vendor.plan_removal(vendor.assess(ALICE), "bob@corp.com"))

    handover = outcomes["handover_assets"]
    assets: list[dict[str, Any]] = handover.details["assets"]
    assert handover.details["new_owner_email"] == "bob@corp.com" and len(assets) == 12
    assert all(a["new_owner_email"] == "bob@corp.com" for a in assets)
    opened = [a for a in assets if a["action"] == "made editable by everyone in the project"]
    assert [(a["name"], a["was_restricted"]) for a in opened] == [("Alice's scratchpad", True)]
    assert "Alice's scratchpad" in handover.summary
    assert any("bob@corp.com cannot open Finance" in n for n in handover.details["notes"])

    assert sandbox.asset(scratchpad.id).restriction_level == EDITABLE
    assert sandbox.member_by_email(ALICE) is None and sandbox.removed_members == [ALICE]
    assert outcomes["remove_member"].summary == "Removed alice@corp.com from Corp"
    assert outcomes["verify_removed"].summary == ("Checked: alice@corp.com is no longer a member of Corp, guests "
                                                  "included")
    assert len(sandbox.assets_of(ALICE)) == 12  # assets belong to the project and stay


def test_every_step_is_safe_to_run_twice(sandbox: PostHogSandbox, vendor: PostHogVendor) -> None:
    plan = vendor.plan_removal(vendor.assess("carol@corp.com"), "bob@corp.com")
    first = run_plan(vendor, plan)
    second = run_plan(vendor, plan)
    assert sandbox.delete_count("carol@corp.com") == 1
    assert len(sandbox.requests("DELETE", "/members/")) == 1
    assert sandbox.level_changes == [("carol@corp.com", OWNER, ADMIN)]
    assert len(sandbox.restriction_changes) == 1
    assert first["demote_owner"].details["changed"] is True
    assert second["demote_owner"].details == {"already_removed": True}
    assert second["remove_member"].summary == "carol@corp.com was already removed from Corp"
    assert second["handover_assets"].details["assets"][0]["action"] == "recorded new owner"


def test_removing_an_owner_demotes_first_even_without_the_demote_step(sandbox: PostHogSandbox,
                                                                       vendor: PostHogVendor) -> None:
    outcome = vendor.execute(PlannedStep("remove_member", "Remove", {"email": "carol@corp.com"}))
    assert outcome.summary == "Removed carol@corp.com from Corp (demoted from owner first)"
    assert sandbox.level_changes == [("carol@corp.com", OWNER, ADMIN)] and sandbox.delete_count("carol@corp.com") == 1


def test_the_only_owner_is_not_removed(sandbox: PostHogSandbox, vendor: PostHogVendor) -> None:
    sandbox.make_sole_owner("carol@corp.com")
    plan = vendor.plan_removal(vendor.assess("carol@corp.com"), "bob@corp.com")
    demote = next(s for s in plan if s.kind == "demote_owner")
    remove = next(s for s in plan if s.kind == "remove_member")
    expected = ("carol@corp.com is the only owner of Corp. Make someone else an owner first "
                "(Settings → Organization → Members), then press Retry.")
    for step in (demote, remove):
        with pytest.raises(ConflictError) as caught:
            vendor.execute(step)
        assert caught.value.message == expected
    assert sandbox.member_by_email("carol@corp.com") is not None
    assert sandbox.requests("PATCH", "/members/") == [] and sandbox.requests("DELETE") == []


def test_a_key_of_an_admin_cannot_demote_an_owner(sandbox: PostHogSandbox, sleeps: list[float]) -> None:
    as_admin = make_vendor(sandbox, sleeps, sandbox.issue_key(ALICE))
    assert any("only an owner can demote" in w for w in as_admin.assess("carol@corp.com").warnings)
    with pytest.raises(ConflictError, match="POSTHOG_API_KEY") as caught:
        as_admin.execute(PlannedStep("demote_owner", "Demote", {"email": "carol@corp.com"}))
    assert caught.value.status == 403
    assert sandbox.member_by_email("carol@corp.com").level == OWNER  # type: ignore[union-attr]


def test_posthogs_owner_refusal_becomes_a_conflict(sandbox: PostHogSandbox, vendor: PostHogVendor) -> None:
    sandbox.inject(Fault("status", 400, {"type": "validation_error", "code": "invalid_input",
                                         "detail": "Cannot leave the organization as its owner!", "attr": None},
                         method="DELETE", times=1))
    with pytest.raises(ConflictError, match="Demote them to admin first"):
        vendor.execute(PlannedStep("remove_member", "Remove", {"email": "bob@corp.com"}))


def test_removal_rides_out_a_flaky_posthog(sandbox: PostHogSandbox, vendor: PostHogVendor) -> None:
    sandbox.inject(Fault("status", 503, method="DELETE", times=2))
    vendor.execute(PlannedStep("remove_member", "Remove", {"email": "bob@corp.com"}))
    assert sandbox.delete_count("bob@corp.com") == 1 and len(sandbox.requests("DELETE")) == 3


def test_verify_fails_while_they_are_still_there(vendor: PostHogVendor) -> None:
    with pytest.raises(VendorError, match=r"bob@corp.com is still a member of Corp in PostHog \(member\)"):
        vendor.execute(PlannedStep("verify_removed", "Check", {"email": "bob@corp.com"}))


def test_handover_without_a_new_owner(sandbox: PostHogSandbox, vendor: PostHogVendor) -> None:
    outcome = vendor.execute(PlannedStep("handover_assets", "Hand over", {"email": "carol@corp.com"}))
    assert outcome.details["new_owner_email"] is None and outcome.details["notes"] == []
    assert outcome.summary.startswith("2 assets recorded as handed over to the project")
    board = next(a for a in sandbox.assets_of("carol@corp.com") if a.kind == "dashboard")
    assert board.restriction_level == EDITABLE
    assert all(a.restriction_level == RESTRICTED for a in sandbox.assets_of(ALICE, "dashboard")
               if a.name == "Alice's scratchpad")  # nobody else's dashboards are touched


def test_unknown_and_manual_steps_are_not_run(vendor: PostHogVendor) -> None:
    with pytest.raises(VendorError):
        vendor.execute(PlannedStep("manual", "Do it", manual=True, key="x"))
    with pytest.raises(VendorError):
        vendor.execute(PlannedStep("launch_rocket", "Launch", {"email": ALICE}))
    with pytest.raises(VendorError, match="does not say whom"):
        vendor.execute(PlannedStep("remove_member", "Remove", {}))
