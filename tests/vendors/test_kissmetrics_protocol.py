"""Kissmetrics under the new protocol: capabilities per mode, member listing page by page, the
invitation runner, pending invitations, manual steps for every capability, and the sandbox's
contract helpers. Over real HTTP against the sandbox (its API is UNVERIFIED, like the connector's)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from vendors.base import (
    AssessmentStatus,
    Capability,
    PlannedStep,
    Role,
    StepKind,
    UnsupportedError,
    VendorError,
)
from vendors.http import RetryPolicy
from vendors.kissmetrics import API_CAPABILITIES, KissmetricsVendor, manual_step
from vendors.manual import ManualVendor
from vendors.planning import Invitation, InviteCancellation, ProjectRemoval, RoleChange, plan_change
from vendors.sandbox.contract import ContractSandbox, Seat
from vendors.sandbox.kissmetrics import (
    APP_ID,
    CHECKOUT_ID,
    MAX_PAGE_SIZE,
    PENDING,
    SANDBOX_API_KEY,
    WEBSITE_ID,
    KissmetricsSandbox,
)
from vendors.sandbox.server import Fault

NEWCOMER = "new.hire@corp.com"
ADD_USER_RUNBOOK = Path("/work/shared/runbooks/kissmetrics-add-user.txt")
PAGE = 40


@pytest.fixture(scope="module")
def km_server() -> Iterator[KissmetricsSandbox]:
    with KissmetricsSandbox() as server:
        yield server


@pytest.fixture
def sandbox(km_server: KissmetricsSandbox) -> KissmetricsSandbox:
    km_server.reset()
    return km_server


@pytest.fixture
def vendor(sandbox: KissmetricsSandbox) -> Iterator[KissmetricsVendor]:
    connector = sandbox.connector(RetryPolicy(backoff=0.001, max_attempts=3, sleep=lambda _: None), page_size=PAGE)
    yield connector
    connector.close()


def posts(sandbox: KissmetricsSandbox) -> int:
    return len(sandbox.requests("POST", "/v1/users/invite"))


def invite_step(email: str, role: Role, projects: tuple[str, ...] = (), message: str = "") -> PlannedStep:
    [step] = plan_change(KissmetricsVendor(SANDBOX_API_KEY, "http://unused"), email,
                         Invitation(role, projects, message))
    return step


# -- capabilities ---------------------------------------------------------------------------------------------
def test_manual_mode_declares_nothing_and_api_mode_what_the_runbook_shows(vendor: KissmetricsVendor) -> None:
    assert KissmetricsVendor().capabilities == frozenset()
    assert vendor.capabilities == API_CAPABILITIES == {
        Capability.FIND_MEMBER, Capability.LIST_MEMBERS, Capability.READ_ROLE, Capability.READ_PROJECTS,
        Capability.REMOVE_MEMBER, Capability.VERIFY_REMOVAL, Capability.INVITE,
    }


def test_what_no_documented_call_does_is_planned_by_hand(vendor: KissmetricsVendor,
                                                          sandbox: KissmetricsSandbox) -> None:
    for change in (RoleChange(Role.ADMIN), ProjectRemoval({APP_ID: "Mobile App"}), InviteCancellation(),
                   Invitation(Role.OWNER)):
        [step] = plan_change(vendor, "bob@corp.com", change)
        assert step.manual and step.kind == StepKind.MANUAL and "bob@corp.com" in step.instructions, change
    for kind in (StepKind.CHANGE_ROLE, StepKind.REMOVE_FROM_PROJECT, StepKind.CANCEL_INVITE,
                 StepKind.HANDOVER_ASSETS):
        with pytest.raises(UnsupportedError):
            vendor.execute(PlannedStep(kind, "Do it", {"email": "bob@corp.com", "role": "admin", "project_id": APP_ID}))
    assert sandbox.writes_about("bob@corp.com") == 0


# -- listing --------------------------------------------------------------------------------------------------
def test_iter_members_streams_every_user_page_by_page(vendor: KissmetricsVendor, sandbox: KissmetricsSandbox) -> None:
    expected = sandbox.member_count()
    assert expected > 5 * PAGE, "the seeded world must span several pages"
    members = vendor.iter_members()
    assert sandbox.requests("GET") == [], "nothing is fetched before the stream is read"
    first = next(members)
    assert len(sandbox.requests("GET")) == 1
    everyone = [first, *members]
    pages = sandbox.requests("GET")
    assert len(pages) == -(-expected // PAGE)  # one call per page, none after the last one
    assert len(everyone) == expected == len({m.email.casefold() for m in everyone})
    [alice] = [m for m in everyone if m.email == "alice@corp.com"]
    assert alice.role == Role.ADMIN and {p.project_id for p in alice.projects} == {WEBSITE_ID, CHECKOUT_ID}
    assert {m.role for m in everyone} == set(Role) and not alice.last_login_known


def test_iter_members_includes_pending_invitations_as_pending(vendor: KissmetricsVendor,
                                                             sandbox: KissmetricsSandbox) -> None:
    vendor.execute(invite_step(NEWCOMER, Role.READ_ONLY))
    [newcomer] = [m for m in vendor.iter_members() if m.email == NEWCOMER]
    assert newcomer.extra["status"] == PENDING and newcomer.role == Role.READ_ONLY


def test_manual_mode_cannot_list() -> None:
    with pytest.raises(UnsupportedError, match="KISSMETRICS_API_KEY"):
        KissmetricsVendor().iter_members()


def test_a_failing_page_mid_stream_raises(vendor: KissmetricsVendor, sandbox: KissmetricsSandbox) -> None:
    members = vendor.iter_members()
    firsts = [next(members) for _ in range(PAGE)]
    sandbox.inject(Fault("status", 401, {"error": "unauthorized", "message": "Invalid API key."}, times=1))
    with pytest.raises(VendorError, match="KISSMETRICS_API_KEY") as caught:
        next(members)
    assert SANDBOX_API_KEY not in caught.value.message and len(firsts) == PAGE


def test_the_sandbox_pages_with_a_maximum(sandbox: KissmetricsSandbox) -> None:
    with httpx.Client(base_url=sandbox.url, headers={"Authorization": f"Bearer {SANDBOX_API_KEY}"}) as api:
        big = api.get("/v1/users", params={"limit": 500}).json()
        assert len(big["users"]) == MAX_PAGE_SIZE and big["total"] == sandbox.member_count()
        tail = api.get("/v1/users", params={"limit": 100, "offset": big["total"] - 3}).json()
        assert len(tail["users"]) == 3
        assert api.get("/v1/users", params={"offset": big["total"]}).json()["users"] == []
        for bad in ({"limit": 0}, {"limit": "ten"}, {"offset": -1}):
            assert api.get("/v1/users", params=bad).status_code == 400, bad


# -- the invitation runner ------------------------------------------------------------------------------------
def test_invite_sends_once_and_a_rerun_sends_nothing(vendor: KissmetricsVendor, sandbox: KissmetricsSandbox) -> None:
    step = invite_step(NEWCOMER, Role.READ_ONLY, (APP_ID, CHECKOUT_ID))
    assert step.kind == StepKind.INVITE and not step.manual
    outcome = vendor.execute(step)
    assert outcome.details["status"] == "invited" and outcome.details["role"] == "read-only"
    assert outcome.summary == f"Invited {NEWCOMER} to Kissmetrics as read-only, with access to prod_app, prod_checkout"
    assert sandbox.seat(NEWCOMER) == Seat(Role.READ_ONLY, frozenset({APP_ID, CHECKOUT_ID}), pending=True)
    assert posts(sandbox) == 1 and sandbox.writes_about(NEWCOMER) == 1

    again = vendor.execute(step)
    assert again.details["status"] == "already_invited" and again.details["role"] == "read-only"
    assert "not sent again" in again.summary
    assert posts(sandbox) == 1 and sandbox.writes_about(NEWCOMER) == 1


def test_inviting_a_user_sends_nothing(vendor: KissmetricsVendor, sandbox: KissmetricsSandbox) -> None:
    outcome = vendor.execute(invite_step("Alice@Corp.com", Role.MEMBER))
    assert outcome.details["status"] == "already_member" and outcome.details["role"] == "admin"
    assert "already a Kissmetrics user (as admin)" in outcome.summary and posts(sandbox) == 0


def test_an_invitation_at_another_role_is_named_not_resent(vendor: KissmetricsVendor,
                                                         sandbox: KissmetricsSandbox) -> None:
    vendor.execute(invite_step(NEWCOMER, Role.MEMBER))
    again = vendor.execute(invite_step(NEWCOMER, Role.ADMIN))
    assert again.details == {"status": "already_invited", "user_id": again.details["user_id"], "role": "member"}
    assert "it is for member, not admin" in again.summary and posts(sandbox) == 1


def test_the_account_owner_is_never_invited(vendor: KissmetricsVendor, sandbox: KissmetricsSandbox) -> None:
    step = PlannedStep(StepKind.INVITE, "Invite", {"email": NEWCOMER, "role": "owner", "projects": []})
    with pytest.raises(UnsupportedError, match="ownership transfer"):
        vendor.execute(step)
    assert posts(sandbox) == 0 and sandbox.seat(NEWCOMER) is None
    [by_hand] = plan_change(vendor, NEWCOMER, Invitation(Role.OWNER))
    assert by_hand.manual and "Select the permission level: Owner" in by_hand.instructions


def test_an_invitation_made_meanwhile_is_found_after_the_409(vendor: KissmetricsVendor,
                                                            sandbox: KissmetricsSandbox) -> None:
    # Someone invites them between our lookup (answered as "nobody" here) and our POST.
    sandbox.add_user(NEWCOMER, role="user", status=PENDING)
    sandbox.inject(Fault("status", 200, {"users": [], "total": 0}, method="GET", times=1))
    outcome = vendor.execute(invite_step(NEWCOMER, Role.MEMBER))
    assert outcome.details["status"] == "already_invited" and posts(sandbox) == 1
    assert sandbox.seat(NEWCOMER) == Seat(Role.MEMBER, frozenset(), pending=True)


def test_a_refused_invitation_says_what_to_do(vendor: KissmetricsVendor, sandbox: KissmetricsSandbox) -> None:
    with pytest.raises(VendorError, match=r"refused to invite .* as member .*Invite User") as caught:
        vendor.execute(invite_step(NEWCOMER, Role.MEMBER, ("prod_nope",)))
    assert "product ids" in caught.value.message and sandbox.seat(NEWCOMER) is None


def test_a_personal_message_is_not_claimed_as_sent(vendor: KissmetricsVendor) -> None:
    outcome = vendor.execute(invite_step(NEWCOMER, Role.MEMBER, message="Welcome!"))
    assert "personal message was not sent" in outcome.summary and outcome.details["message_sent"] is False


# -- pending invitations in a removal -------------------------------------------------------------------------
def test_someone_only_invited_is_planned_as_a_cancellation_by_hand(vendor: KissmetricsVendor,
                                                                   sandbox: KissmetricsSandbox) -> None:
    vendor.execute(invite_step(NEWCOMER, Role.MEMBER))
    assessment = vendor.assess(NEWCOMER)
    assert assessment.status == AssessmentStatus.MEMBER and any("pending" in w for w in assessment.warnings)
    cancel, verify = vendor.plan_removal(assessment, None)
    assert cancel.manual and cancel.key == "kissmetrics_cancel_invite"
    assert "Click Cancel or Revoke" in cancel.instructions and verify.kind == StepKind.VERIFY_REMOVED
    with pytest.raises(VendorError, match="still has a pending Kissmetrics invitation"):
        vendor.execute(verify)
    with pytest.raises(VendorError, match="Cancel it by hand"):
        vendor.execute(PlannedStep(StepKind.REMOVE_MEMBER, "Remove", {"email": NEWCOMER}))
    assert sandbox.requests("DELETE") == []


# -- manual steps ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("capability", list(Capability))
def test_every_capability_has_a_manual_step_naming_the_person(capability: Capability) -> None:
    step = manual_step(capability, "leaver@corp.com", {"role": "read-only", "new_owner_email": "bo@corp.com"})
    assert step.manual and step.kind == StepKind.MANUAL and step.params["email"] == "leaver@corp.com"
    assert "leaver@corp.com" in step.instructions and len(step.instructions) > 80 and step.title
    assert step.key == f"kissmetrics_{capability.value}"


def test_manual_step_keys_never_collide() -> None:
    details = {"project_id": APP_ID, "project_name": "Mobile App"}
    keys = [manual_step(c, "x@corp.com", details).key for c in Capability]
    keys.append(manual_step(Capability.REMOVE_FROM_PROJECT, "x@corp.com", {"project_id": WEBSITE_ID}).key)
    assert len(set(keys)) == len(keys) and f"kissmetrics_remove_from_project_{APP_ID}" in keys


def test_manual_steps_quote_the_runbooks_and_the_details() -> None:
    runbook = ADD_USER_RUNBOOK.read_text() if ADD_USER_RUNBOOK.exists() else ""
    invite = manual_step(Capability.INVITE, NEWCOMER, {"role": "member", "projects": [APP_ID], "message": "Hi"})
    cancel = manual_step(Capability.CANCEL_INVITE, NEWCOMER, {})
    for line in ("Click on your profile icon or account menu in the top-right corner",
                 "On the Team page, locate the Invite User or Add Team Member button",
                 "Click Send Invitation or Invite User", "Look for a Pending Invitations section or filter",
                 "Click Cancel or Revoke"):
        assert line in invite.instructions + cancel.instructions, line
        assert not runbook or line in runbook, line
    assert "Select the permission level: User" in invite.instructions and APP_ID in invite.instructions
    assert invite.title == f"Invite {NEWCOMER} to Kissmetrics as User"
    role = manual_step(Capability.CHANGE_ROLE, "bob@corp.com", {"role": "read-only", "after_invite": True})
    assert "Read-Only" in role.instructions and "once bob@corp.com has accepted" in role.instructions
    assert "do not describe" in role.instructions  # honest about the runbook's gap
    project = manual_step(Capability.REMOVE_FROM_PROJECT, "bob@corp.com", {"project_id": APP_ID,
                                                                           "project_name": "Mobile App"})
    assert "clear Mobile App" in project.instructions
    transfer = manual_step(Capability.CHANGE_ROLE, "carol@corp.com", {"role": "admin", "current_role": "owner",
                                                                      "new_owner_email": "bo@corp.com"})
    assert "must transfer ownership first" in transfer.instructions and "bo@corp.com" in transfer.instructions


def test_the_manual_only_vendor_plans_what_the_checklist_plans() -> None:
    by_hand = ManualVendor("kissmetrics", "Kissmetrics", manual_step)
    checklist = KissmetricsVendor()
    ours = checklist.plan_removal(checklist.assess("leaver@corp.com"), "bo@corp.com")
    theirs = by_hand.plan_removal(by_hand.assess("leaver@corp.com"), "bo@corp.com")
    assert [s.key for s in ours] == [s.key for s in theirs]
    assert [s.instructions for s in ours][1:] == [s.instructions for s in theirs][1:]  # only the reason differs


# -- the sandbox's contract helpers ---------------------------------------------------------------------------
def test_the_sandbox_is_a_contract_sandbox(sandbox: KissmetricsSandbox) -> None:
    assert isinstance(sandbox, ContractSandbox) and sandbox.vendor_name == "kissmetrics"
    assert sandbox.project_ids() == [WEBSITE_ID, APP_ID, CHECKOUT_ID] and sandbox.seed_assets("bob@corp.com") == 0
    assert sandbox.member_count() > 200
    sandbox.seed_person("seeded@corp.com", Role.READ_ONLY, [APP_ID])
    assert sandbox.seat("seeded@corp.com") == Seat(Role.READ_ONLY, frozenset({APP_ID}))
    assert sandbox.user("seeded@corp.com").role == "read_only"  # type: ignore[union-attr]
    sandbox.seed_person("seeded@corp.com", Role.OWNER)
    assert sandbox.user("seeded@corp.com").role == "account_owner"  # type: ignore[union-attr]
    assert sandbox.seat("carol@corp.com") == Seat(Role.ADMIN, frozenset({WEBSITE_ID, APP_ID, CHECKOUT_ID}))
    sandbox.reset()
    carol = sandbox.seat("carol@corp.com")
    assert sandbox.seat("seeded@corp.com") is None and carol is not None and carol.role == Role.OWNER


def test_writes_about_counts_every_mutating_call_that_reached_the_api(sandbox: KissmetricsSandbox) -> None:
    bob = sandbox.user("bob@corp.com")
    assert bob is not None
    with httpx.Client(base_url=sandbox.url, headers={"Authorization": f"Bearer {SANDBOX_API_KEY}"}) as api:
        assert api.delete(f"/v1/users/{bob.id}").status_code == 204
        assert api.delete(f"/v1/users/{bob.id}").status_code == 404  # refused, yet sent
        sandbox.inject(Fault("status", 503, method="DELETE", times=1))
        assert api.delete(f"/v1/users/{bob.id}").status_code == 503  # never reached the API
        assert api.post("/v1/users/invite", json={"email": "BOB@corp.com", "role": "user"}).status_code == 201
    assert sandbox.writes_about("bob@corp.com") == 3 and sandbox.writes_about("alice@corp.com") == 0


def test_rejected_credentials_are_refused_with_401(sandbox: KissmetricsSandbox) -> None:
    bad = sandbox.connector(RetryPolicy(max_attempts=1), valid_credentials=False)
    try:
        assessment = bad.assess("bob@corp.com")
        assert assessment.status == AssessmentStatus.UNKNOWN and "Invalid API key." in (assessment.error or "")
        assert sandbox.calls("GET")[-1].status == 401
    finally:
        bad.close()
