"""Kissmetrics: the manual checklist by default, and the opt-in (UNVERIFIED) API against the sandbox
over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from vendors.base import (
    Assessment,
    AssessmentStatus,
    AuthError,
    ConflictError,
    PlannedStep,
    Role,
    UnsupportedError,
    Vendor,
    VendorError,
    assessment_from_json,
)
from vendors.http import RetryPolicy
from vendors.kissmetrics import DEFAULT_POLICY, MANUAL_EXPLANATION, KissmetricsVendor
from vendors.roles import common_role, vendor_role
from vendors.sandbox.kissmetrics import ROLES, SANDBOX_API_KEY, KissmetricsSandbox
from vendors.sandbox.server import Fault

ALICE = "alice@corp.com"
RUNBOOK = Path("/work/shared/runbooks/kissmetrics-remove-user.txt")


@pytest.fixture(scope="module")
def km_server() -> Iterator[KissmetricsSandbox]:
    with KissmetricsSandbox() as server:
        yield server


@pytest.fixture
def sandbox(km_server: KissmetricsSandbox) -> KissmetricsSandbox:
    km_server.reset()
    return km_server


@pytest.fixture
def sleeps() -> list[float]:
    return []


def make_vendor(sandbox: KissmetricsSandbox, sleeps: list[float], key: str = SANDBOX_API_KEY) -> KissmetricsVendor:
    return KissmetricsVendor(key, sandbox.url, policy=RetryPolicy(backoff=0.001, max_attempts=3, sleep=sleeps.append))


@pytest.fixture
def vendor(sandbox: KissmetricsSandbox, sleeps: list[float]) -> Iterator[KissmetricsVendor]:
    connector = make_vendor(sandbox, sleeps)
    yield connector
    connector.close()


# -- manual mode ------------------------------------------------------------------------------------
def test_manual_is_the_default_and_is_a_vendor() -> None:
    manual = KissmetricsVendor()
    assert isinstance(manual, Vendor) and (manual.name, manual.label) == ("kissmetrics", "Kissmetrics")
    assert manual.manual and manual.base_url == "https://api.kissmetrics.com"
    assert manual.capabilities == frozenset()


def test_manual_assess_is_a_calm_unknown() -> None:
    assessment = KissmetricsVendor().assess(" alice@corp.com ")
    assert assessment.status == AssessmentStatus.UNKNOWN and assessment.member is None
    assert assessment.error == MANUAL_EXPLANATION == "Kissmetrics has no public API to look people up; check by hand"
    assert assessment.email == ALICE


def test_manual_plan_quotes_the_runbook() -> None:
    manual = KissmetricsVendor()
    plan = manual.plan_removal(manual.assess(ALICE), "bob@corp.com")
    assert all(s.manual and s.kind == "manual" for s in plan)
    assert [s.key for s in plan] == ["kissmetrics_find_member", "kissmetrics_handover_assets",
                                     "kissmetrics_remove_member", "kissmetrics_verify_removal"]
    assert all(s.params["email"] == ALICE for s in plan)
    check, handover, remove, verify = (s.instructions for s in plan)
    runbook = RUNBOOK.read_text() if RUNBOOK.exists() else ""
    quoted = ["Click your profile icon in the top-right corner", "Select Settings from the dropdown menu",
              "Click Team or Team Members in the left sidebar",
              "Click the Remove, Delete, or trash icon next to their name", "A confirmation dialog appears",
              "Read the confirmation message carefully", "Verify this is the correct user",
              "Click Confirm, Remove User, or Delete", "User is the Account Owner (cannot be removed)",
              "Account Owner must transfer ownership first", "Verify email address matches"]
    for line in quoted:
        assert line in remove + check, line
        assert not runbook or line in runbook, line  # really the runbook's words
    assert "Settings → Team → find the person → Remove" in remove and ALICE in remove
    assert "note their role and the products" in check.lower() and ALICE in check
    assert "bob@corp.com" in handover and "scheduled reports" in handover.lower()
    assert "disappears from the team member list" in verify and ALICE in verify
    assert KissmetricsVendor().plan_removal(Assessment("kissmetrics", AssessmentStatus.UNKNOWN), None)  # no email
    nobody_named = manual.plan_removal(manual.assess(ALICE), None)[1].instructions
    assert "the colleague taking over their work" in nobody_named


def test_manual_execute_refuses() -> None:
    manual = KissmetricsVendor()
    plan = manual.plan_removal(manual.assess(ALICE), None)
    with pytest.raises(UnsupportedError, match="cannot run the Kissmetrics step"):
        manual.execute(plan[2])
    with pytest.raises(UnsupportedError, match="no Kissmetrics API configured"):
        manual.execute(PlannedStep("remove_member", "Remove", {"email": ALICE}))


# -- roles, through vendors.roles ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("word", "role"),
    [("account_owner", Role.OWNER), ("Account Owner", Role.OWNER), ("admin", Role.ADMIN),
     ("Administrator", Role.ADMIN), ("user", Role.MEMBER), ("member", Role.MEMBER), ("read_only", Role.READ_ONLY),
     ("Read-Only", Role.READ_ONLY), ("viewer", Role.READ_ONLY), ("something new", Role.MEMBER)],
)
def test_kissmetrics_words_read_as_our_roles(word: str, role: Role) -> None:
    assert common_role("kissmetrics", word) == role


def test_the_role_table_speaks_the_sandbox_words() -> None:
    written = {role: vendor_role("kissmetrics", role) for role in Role}
    assert written == {Role.OWNER: None, Role.ADMIN: "admin", Role.MEMBER: "user", Role.READ_ONLY: "read_only"}
    assert set(ROLES) == {"account_owner", *(w for w in written.values() if w)}
    assert {common_role("kissmetrics", w) for w in ROLES} == set(Role)


def test_default_policy_suits_15_a_minute() -> None:
    assert DEFAULT_POLICY.max_concurrency == 1 and DEFAULT_POLICY.backoff == 4.0


# -- the sandbox itself -----------------------------------------------------------------------------
def test_sandbox_shapes(sandbox: KissmetricsSandbox) -> None:
    with httpx.Client(base_url=sandbox.url, headers={"Authorization": f"Bearer {SANDBOX_API_KEY}"}) as api:
        found = api.get("/v1/users", params={"email": "BOB@corp.com"}).json()
        assert found["total"] == 1 and found["users"][0]["email"] == "bob@corp.com"
        assert found["users"][0]["projects"] == [{"id": "prod_website", "name": "Corp Website"}]
        assert found["users"][0]["status"] == "active" and found["users"][0]["role"] == "user"
        assert len(api.get("/v1/users").json()["users"]) >= 7
        invite = api.post("/v1/users/invite", json={"email": "new@corp.com", "role": "user", "projects": []})
        assert invite.status_code == 201 and invite.json()["status"] == "pending"
        again = api.post("/v1/users/invite", json={"email": "new@corp.com", "role": "user"})
        assert again.status_code == 409 and again.json()["error"] == "already_invited"
        assert api.post("/v1/users/invite", json={"email": ALICE, "role": "user"}).json()["error"] == "already_exists"
        assert api.post("/v1/users/invite", json={"email": "x@corp.com", "role": "god"}).status_code == 400
        assert api.post("/v1/users/invite", json={"email": "x@corp.com", "role": "account_owner"}).status_code == 400
        pending = api.get("/v1/users", params={"email": "new@corp.com"}).json()["users"][0]
        assert pending["status"] == "pending" and api.delete(f"/v1/users/{pending['id']}").status_code == 409
        assert api.delete("/v1/users/usr_nope").json() == {"error": "not_found", "message": "User not found."}
        owner = sandbox.user("carol@corp.com")
        assert owner is not None and api.delete(f"/v1/users/{owner.id}").status_code == 409
    refused = httpx.get(sandbox.url + "/v1/users", headers={"Authorization": "Bearer wrong"})
    assert refused.status_code == 401 and refused.json() == {"error": "unauthorized", "message": "Invalid API key."}
    assert httpx.get(sandbox.url + "/v1/users").status_code == 401
    assert {"alice@corp.com", "bob@corp.com", "carol@corp.com", "dave@corp.com"} <= {u.email for u in sandbox.users()}


def test_sandbox_rate_limit() -> None:
    with KissmetricsSandbox(rate_limit_per_minute=2) as limited:
        headers = {"Authorization": f"Bearer {SANDBOX_API_KEY}"}
        statuses = [httpx.get(limited.url + "/v1/users", headers=headers) for _ in range(3)]
        assert [r.status_code for r in statuses] == [200, 200, 429]
        assert int(statuses[2].headers["Retry-After"]) > 0 and "15 requests" in statuses[2].json()["message"]


# -- API mode: assess -------------------------------------------------------------------------------
def test_assess_alice(vendor: KissmetricsVendor, sandbox: KissmetricsSandbox) -> None:
    assessment = vendor.assess(ALICE)
    assert assessment.status == AssessmentStatus.MEMBER and assessment.error is None
    member = assessment.member
    assert member is not None
    assert (member.email, member.name, member.role, member.vendor_role) == (ALICE, "Alice Anders", Role.ADMIN, "admin")
    assert member.member_id == sandbox.user(ALICE).id  # type: ignore[union-attr]
    assert [p.project_name for p in member.projects] == ["Corp Website", "Checkout"]
    assert assessment_from_json(assessment.to_json()) == assessment
    assert SANDBOX_API_KEY not in repr(vendor)


@pytest.mark.parametrize(("email", "role"), [("carol@corp.com", Role.OWNER), ("bob@corp.com", Role.MEMBER),
                                             ("dave@corp.com", Role.READ_ONLY), ("erin.ng@corp.com", Role.MEMBER)])
def test_roles_are_mapped(vendor: KissmetricsVendor, email: str, role: Role) -> None:
    member = vendor.assess(email).member
    assert member is not None and member.role == role


def test_not_a_member(vendor: KissmetricsVendor) -> None:
    assessment = vendor.assess("nobody@corp.com")
    assert assessment.status == AssessmentStatus.NOT_MEMBER and assessment.email == "nobody@corp.com"
    assert vendor.plan_removal(assessment, None) == []


def test_a_bad_key_is_unknown_without_the_key(sandbox: KissmetricsSandbox, sleeps: list[float]) -> None:
    key = "km_definitely_not_valid_0123456789"
    bad = make_vendor(sandbox, sleeps, key)
    assessment = bad.assess(ALICE)
    assert assessment.status == AssessmentStatus.UNKNOWN
    assert assessment.error and "Invalid API key." in assessment.error and "KISSMETRICS_API_KEY" in assessment.error
    assert key not in assessment.error and sleeps == []  # a 401 is not retried
    with pytest.raises(AuthError) as caught:
        bad.execute(PlannedStep("remove_member", "Remove", {"email": ALICE}))
    assert key not in caught.value.message and sandbox.delete_count(ALICE) == 0


def test_throttling_honours_retry_after(sandbox: KissmetricsSandbox, vendor: KissmetricsVendor,
                                        sleeps: list[float]) -> None:
    sandbox.throttle(7, times=2)
    assert vendor.assess(ALICE).status == AssessmentStatus.MEMBER
    assert sleeps == [7.0, 7.0]


def test_500s_make_it_unknown_and_the_removal_looks_again_when_it_runs(
    sandbox: KissmetricsSandbox, vendor: KissmetricsVendor, sleeps: list[float]
) -> None:
    sandbox.inject(Fault("status", 500, {"error": "server_error", "message": "Something went wrong."}, times=None))
    assessment = vendor.assess(ALICE)
    assert assessment.status == AssessmentStatus.UNKNOWN and assessment.email == ALICE
    assert assessment.error and "500" in assessment.error and "Something went wrong." in assessment.error
    assert len(sandbox.requests("GET")) == 3 and len(sleeps) == 2  # bounded retries
    plan = vendor.plan_removal(assessment, None)
    # An outage must not turn into a removal nobody makes: the API removal stays, and looks them up again.
    assert [s.kind for s in plan if not s.manual] == ["remove_member", "verify_removed"]
    check = next(s for s in plan if s.key == "kissmetrics_find_member")
    assert "could not check Kissmetrics" in check.instructions and "Something went wrong." in check.instructions
    sandbox.clear_faults()
    outcomes = [vendor.execute(s) for s in plan if not s.manual]
    assert sandbox.user(ALICE) is None and sandbox.delete_count(ALICE) == 1
    assert "Checked" in outcomes[-1].summary


def test_a_missing_api_is_not_read_as_not_a_member(sandbox: KissmetricsSandbox, sleeps: list[float]) -> None:
    elsewhere = KissmetricsVendor(SANDBOX_API_KEY, sandbox.url + "/nothing-here",
                                  policy=RetryPolicy(max_attempts=1, sleep=sleeps.append))
    assessment = elsewhere.assess(ALICE)
    assert assessment.status == AssessmentStatus.UNKNOWN and "may not have the user API" in (assessment.error or "")


# -- API mode: plan and execute ---------------------------------------------------------------------
def test_remove_alice(sandbox: KissmetricsSandbox, vendor: KissmetricsVendor) -> None:
    plan = vendor.plan_removal(vendor.assess(ALICE), "bob@corp.com")
    assert [(s.kind, s.manual) for s in plan] == [("remove_member", False), ("verify_removed", False),
                                                  ("manual", True)]
    assert "bob@corp.com" in plan[2].instructions
    outcomes = [vendor.execute(s) for s in plan if not s.manual]
    assert outcomes[0].summary == "Removed alice@corp.com from Kissmetrics"
    assert outcomes[0].details["already_removed"] is False
    assert outcomes[1].summary == "Checked: alice@corp.com is no longer a user in Kissmetrics"
    assert sandbox.user(ALICE) is None and sandbox.delete_count(ALICE) == 1


def test_removing_twice_deletes_once(sandbox: KissmetricsSandbox, vendor: KissmetricsVendor) -> None:
    step = PlannedStep("remove_member", "Remove", {"email": "bob@corp.com"})
    vendor.execute(step)
    again = vendor.execute(step)
    assert again.summary == "bob@corp.com was already removed from Kissmetrics" and again.details["already_removed"]
    assert sandbox.delete_count("bob@corp.com") == 1 and len(sandbox.requests("DELETE")) == 1


def test_verify_fails_while_they_are_there(vendor: KissmetricsVendor) -> None:
    with pytest.raises(VendorError, match=r"dave@corp.com is still a user in Kissmetrics \(read_only\)"):
        vendor.execute(PlannedStep("verify_removed", "Check", {"email": "dave@corp.com"}))


def test_the_account_owner(sandbox: KissmetricsSandbox, vendor: KissmetricsVendor) -> None:
    assessment = vendor.assess("carol@corp.com")
    assert any("transfer ownership first" in w for w in assessment.warnings)
    plan = vendor.plan_removal(assessment, None)
    assert plan[0].key == "kissmetrics_change_role" and plan[0].title == "Transfer account ownership first"
    assert plan[0].manual and "carol@corp.com" in plan[0].instructions and plan[1].kind == "remove_member"
    with pytest.raises(ConflictError, match="transfer ownership first"):
        vendor.execute(plan[1])
    assert sandbox.user("carol@corp.com") is not None


def test_removal_rides_out_a_flaky_delete(sandbox: KissmetricsSandbox, vendor: KissmetricsVendor) -> None:
    sandbox.inject(Fault("status", 503, method="DELETE", times=2))
    vendor.execute(PlannedStep("remove_member", "Remove", {"email": "dave@corp.com"}))
    assert sandbox.delete_count("dave@corp.com") == 1 and len(sandbox.requests("DELETE")) == 3


def test_other_steps_are_refused(vendor: KissmetricsVendor) -> None:
    with pytest.raises(UnsupportedError, match="by itself"):
        vendor.execute(PlannedStep("manual", "Hand over", manual=True, key="kissmetrics_handover_assets"))
    with pytest.raises(UnsupportedError, match="by itself"):
        vendor.execute(PlannedStep("launch_rocket", "Launch", {"email": ALICE}))
    with pytest.raises(UnsupportedError, match="by itself"):  # no documented call changes a role
        vendor.execute(PlannedStep("change_role", "Promote", {"email": ALICE, "role": "admin"}))
    with pytest.raises(VendorError, match="does not say whom"):
        vendor.execute(PlannedStep("remove_member", "Remove", {}))
