"""The Amplitude connector against the Amplitude sandbox over real HTTP: assess, plan, execute, verify."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from vendors import amplitude
from vendors.amplitude import UNKNOWN_ROLE, AmplitudeVendor, amplitude_base_url
from vendors.base import (
    Assessment,
    AssessmentStatus,
    AuthError,
    Capability,
    ConflictError,
    PlannedStep,
    Role,
    StepKind,
    StepOutcome,
    UnsupportedError,
    Vendor,
    VendorError,
    assessment_from_json,
)
from vendors.http import RetryPolicy
from vendors.manual import REMOVAL_BY_HAND, ManualVendor
from vendors.planning import Invitation, InviteCancellation, ProjectRemoval, RoleChange, plan_change
from vendors.sandbox.amplitude import SANDBOX_SCIM_KEY, AmplitudeSandbox
from vendors.sandbox.scim import scim_error
from vendors.sandbox.server import Fault, Response

ALICE = "alice@corp.com"


@pytest.fixture(scope="module")
def server() -> Iterator[AmplitudeSandbox]:
    with AmplitudeSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(server: AmplitudeSandbox) -> AmplitudeSandbox:
    server.reset(page_size=100)
    return server


@pytest.fixture
def sleeps() -> list[float]:
    return []


def make_vendor(sandbox: AmplitudeSandbox, sleeps: list[float], key: str = SANDBOX_SCIM_KEY) -> AmplitudeVendor:
    # A small page size makes every list the connector reads span several pages.
    policy = RetryPolicy(backoff=0.001, max_attempts=3, sleep=sleeps.append)
    return AmplitudeVendor(key, sandbox.url, page_size=30, policy=policy)


@pytest.fixture
def vendor(sandbox: AmplitudeSandbox, sleeps: list[float]) -> Iterator[AmplitudeVendor]:
    vendor = make_vendor(sandbox, sleeps)
    yield vendor
    vendor.close()


def run_plan(vendor: AmplitudeVendor, steps: list[PlannedStep]) -> dict[str, StepOutcome]:
    return {step.kind: vendor.execute(step) for step in steps if not step.manual}


# -- pure helpers -----------------------------------------------------------------------------------
def test_base_urls() -> None:
    assert amplitude_base_url("us") == "https://core.amplitude.com/scim/1"
    assert amplitude_base_url("EU") == "https://core.eu.amplitude.com/scim/1"
    assert amplitude_base_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080/scim/1"
    assert amplitude_base_url("https://proxy.corp.com/amp/scim/1/") == "https://proxy.corp.com/amp/scim/1"
    with pytest.raises(ValueError):
        amplitude_base_url("")
    with pytest.raises(ValueError):
        AmplitudeVendor("", "us")


def test_is_a_vendor(vendor: AmplitudeVendor) -> None:
    assert isinstance(vendor, Vendor) and vendor.name == "amplitude" and vendor.label == "Amplitude"
    assert SANDBOX_SCIM_KEY not in repr(vendor)


# -- assess -----------------------------------------------------------------------------------------
def test_assess_member(vendor: AmplitudeVendor, sandbox: AmplitudeSandbox) -> None:
    result = vendor.assess("Alice@Corp.com ")
    assert result.status == AssessmentStatus.MEMBER and result.email == "Alice@Corp.com"
    member = result.member
    assert member is not None and member.email == ALICE and member.member_id == ALICE
    assert member.name == "Alice Anders"
    assert member.role == Role.MEMBER and member.vendor_role == UNKNOWN_ROLE
    assert member.last_login is None and member.projects == ()
    assert [g["name"] for g in member.extra["permission_groups"]] == ["Analysts", "Growth"]
    assert any("does not show a member's role, last login, projects" in w for w in result.warnings)
    assert assessment_from_json(result.to_json()) == result


def test_assess_finds_someone_on_a_late_page(vendor: AmplitudeVendor, sandbox: AmplitudeSandbox) -> None:
    last = list(sandbox.users.values())[-1].user_name
    assert vendor.assess(last).status == AssessmentStatus.MEMBER
    # Groups are listed page by page too: 4 groups at 30 a page is one page; the user lookup is one.
    assert len(sandbox.requests("GET", r"/Users$")) == 1


def test_pending_invitee_is_a_member(vendor: AmplitudeVendor) -> None:
    result = vendor.assess("dave@corp.com")
    assert result.status == AssessmentStatus.MEMBER
    assert any("pending invitees look the same" in w for w in result.warnings)


def test_not_member(vendor: AmplitudeVendor) -> None:
    result = vendor.assess("nobody@corp.com")
    assert result.status == AssessmentStatus.NOT_MEMBER and result.email == "nobody@corp.com"
    assert vendor.plan_removal(result, None) == []


def test_unknown_on_persistent_500(vendor: AmplitudeVendor, sandbox: AmplitudeSandbox, sleeps: list[float]) -> None:
    sandbox.inject(Fault("status", 500, {"detail": "boom"}, times=None))
    result = vendor.assess(ALICE)
    assert result.status == AssessmentStatus.UNKNOWN and result.email == ALICE
    assert "not answering properly" in (result.error or "") and len(sleeps) == 2


def test_unknown_on_bad_key(sandbox: AmplitudeSandbox, sleeps: list[float]) -> None:
    result = make_vendor(sandbox, sleeps, key="wrong-key-123").assess(ALICE)
    assert result.status == AssessmentStatus.UNKNOWN
    assert "AMPLITUDE_SCIM_KEY" in (result.error or "") and "wrong-key-123" not in (result.error or "")


def test_429_retry_after_is_honoured(vendor: AmplitudeVendor, sandbox: AmplitudeSandbox, sleeps: list[float]) -> None:
    sandbox.throttle(3, times=2)
    assert vendor.assess(ALICE).status == AssessmentStatus.MEMBER
    assert sleeps == [3.0, 3.0]


# -- plan -------------------------------------------------------------------------------------------
def test_plan_has_manual_steps_with_ui_paths(vendor: AmplitudeVendor) -> None:
    steps = vendor.plan_removal(vendor.assess(ALICE), "bob@corp.com")
    kinds = [s.kind for s in steps]
    assert kinds == ["manual", "manual", "remove_member", "verify_removed"]
    transfer, admin = steps[0], steps[1]
    assert transfer.manual and "change the Owner field to bob@corp.com" in transfer.instructions
    assert "Dashboards section" in transfer.instructions and "BEFORE the removal" in transfer.instructions
    assert admin.manual and "Settings → Members & Groups" in admin.instructions
    assert "last one" in admin.instructions
    assert len({s.key for s in steps if s.manual}) == 2
    assert all(s.params == {"email": ALICE} for s in steps if not s.manual)


def test_unknown_still_plans_removal(vendor: AmplitudeVendor, sandbox: AmplitudeSandbox) -> None:
    sandbox.inject(Fault("status", 500, times=None))
    result = vendor.assess(ALICE)
    steps = vendor.plan_removal(result, None)
    assert steps[0].manual and steps[0].key == "amplitude_check_by_hand"
    assert "Settings → Members & Groups" in steps[0].instructions and ALICE in steps[0].instructions
    assert [s.kind for s in steps if not s.manual] == ["remove_member", "verify_removed"]
    sandbox.clear_faults()
    run_plan(vendor, steps)
    assert sandbox.user(ALICE) is None


def test_unknown_without_email_plans_a_check() -> None:
    vendor = AmplitudeVendor("k", "us")
    steps = vendor.plan_removal(Assessment("amplitude", AssessmentStatus.UNKNOWN, error="down"), None)
    assert len(steps) == 1 and steps[0].manual


# -- execute ----------------------------------------------------------------------------------------
def test_remove_then_verify(vendor: AmplitudeVendor, sandbox: AmplitudeSandbox) -> None:
    outcomes = run_plan(vendor, vendor.plan_removal(vendor.assess(ALICE), None))
    assert outcomes["remove_member"].details["already_removed"] is False
    assert "Checked" in outcomes["verify_removed"].summary
    assert sandbox.user(ALICE) is None and sandbox.delete_count(ALICE) == 1
    assert vendor.assess(ALICE).status == AssessmentStatus.NOT_MEMBER


def test_remove_twice_deletes_once(vendor: AmplitudeVendor, sandbox: AmplitudeSandbox) -> None:
    step = PlannedStep("remove_member", "Remove", {"email": ALICE})
    vendor.execute(step)
    again = vendor.execute(step)
    assert again.details == {"already_removed": True} and "already removed" in again.summary
    assert len(sandbox.requests("DELETE", r"/Users/")) == 1 and sandbox.delete_count(ALICE) == 1


def test_verify_fails_while_still_there(vendor: AmplitudeVendor) -> None:
    with pytest.raises(VendorError) as caught:
        vendor.execute(PlannedStep("verify_removed", "Check", {"email": ALICE}))
    assert "still a member" in caught.value.message and "Remove from Organization" in caught.value.message


def test_last_admin_is_a_conflict(vendor: AmplitudeVendor, sandbox: AmplitudeSandbox) -> None:
    sandbox.make_sole_admin("carol@corp.com")
    with pytest.raises(ConflictError) as caught:
        vendor.execute(PlannedStep("remove_member", "Remove", {"email": "carol@corp.com"}))
    assert "last Admin" in caught.value.message and "Settings → Members & Groups" in caught.value.message
    assert sandbox.user("carol@corp.com") is not None


def test_execute_refuses_manual_and_bad_steps(vendor: AmplitudeVendor, sandbox: AmplitudeSandbox,
                                              sleeps: list[float]) -> None:
    with pytest.raises(VendorError):
        vendor.execute(PlannedStep("manual", "Do it", manual=True))
    with pytest.raises(VendorError):
        vendor.execute(PlannedStep("remove_member", "Remove", {}))
    with pytest.raises(AuthError) as caught:
        make_vendor(sandbox, sleeps, key="bad-key-456").execute(PlannedStep("remove_member", "R", {"email": ALICE}))
    assert "AMPLITUDE_SCIM_KEY" in caught.value.message


def test_execute_retries_throttled_delete(vendor: AmplitudeVendor, sandbox: AmplitudeSandbox,
                                          sleeps: list[float]) -> None:
    sandbox.throttle(1, times=1, path_pattern=r"/Users/")
    outcome = vendor.execute(PlannedStep("remove_member", "Remove", {"email": ALICE}))
    assert outcome.details["already_removed"] is False and sleeps == [1.0]
    assert sandbox.delete_count(ALICE) == 1


# -- capabilities -----------------------------------------------------------------------------------
def test_declares_what_scim_can_do(vendor: AmplitudeVendor) -> None:
    assert vendor.capabilities == {Capability.FIND_MEMBER, Capability.LIST_MEMBERS, Capability.REMOVE_MEMBER,
                                   Capability.VERIFY_REMOVAL, Capability.INVITE, Capability.CANCEL_INVITE}
    assert vendor.invite_role == Role.READ_ONLY


@pytest.mark.parametrize("kind", [StepKind.CHANGE_ROLE, StepKind.REMOVE_FROM_PROJECT, StepKind.HANDOVER_ASSETS])
def test_what_scim_cannot_do_is_refused_without_a_call(vendor: AmplitudeVendor, sandbox: AmplitudeSandbox,
                                                       kind: StepKind) -> None:
    with pytest.raises(UnsupportedError):
        vendor.execute(PlannedStep(kind, "Do it", {"email": ALICE, "role": "admin", "project_id": "1"}))
    assert sandbox.requests() == []


def test_role_and_project_changes_are_planned_by_hand(vendor: AmplitudeVendor) -> None:
    [role] = plan_change(vendor, ALICE, RoleChange(Role.MEMBER))
    assert role.manual and role.key == "amplitude_change_role"
    assert "Organization Role: Member" in role.instructions and "Settings → Members & Groups" in role.instructions
    [project] = plan_change(vendor, ALICE, ProjectRemoval({"77": "Web"}))
    assert project.manual and project.key == "amplitude_remove_from_project_77"
    assert "Web (project 77)" in project.instructions and ALICE in project.instructions


# -- listing ----------------------------------------------------------------------------------------
def test_iter_members_streams_pages_lazily_without_groups(vendor: AmplitudeVendor, sandbox: AmplitudeSandbox) -> None:
    members = vendor.iter_members()
    first = next(members)
    assert len(sandbox.requests("GET", r"/Users$")) == 1  # one item, one page
    everyone = [first, *members]
    assert len(everyone) == sandbox.member_count() == 255
    assert len({m.email for m in everyone}) == 255
    assert len(sandbox.requests("GET", r"/Users$")) == 9  # 255 at 30 a page
    assert sandbox.requests("GET", r"/Groups") == []  # groups are left out of the stream
    dave = next(m for m in everyone if m.email == "dave@corp.com")  # pending: listed like everyone else
    assert dave.role == Role.MEMBER and dave.vendor_role == UNKNOWN_ROLE and not dave.last_login_known


# -- invite -----------------------------------------------------------------------------------------
NEW = "new.person@corp.com"


def invite_step(email: str = NEW, role: Role = Role.READ_ONLY, projects: tuple[str, ...] = ()) -> PlannedStep:
    return PlannedStep(StepKind.INVITE, "Invite", {"email": email, "role": role.value, "projects": list(projects),
                                                   "message": ""})


def test_invite_creates_a_viewer_once(vendor: AmplitudeVendor, sandbox: AmplitudeSandbox) -> None:
    first = vendor.execute(invite_step())
    assert first.details["status"] == "invited" and first.details["not_given"] == []
    assert first.details["invited_by_offboard"] is True
    seat = sandbox.seat(NEW)
    assert seat is not None and seat.role == Role.READ_ONLY and seat.pending
    user = sandbox.user(NEW)
    assert user is not None and (user.given_name, user.family_name) == ("New", "Person")
    again = vendor.execute(invite_step())
    assert again.details["status"] == "already_member" and "joined or invited" in again.summary
    assert sandbox.writes_about(NEW) == 1 and len(sandbox.requests("POST", r"/Users$")) == 1


def test_inviting_someone_listed_sends_nothing(vendor: AmplitudeVendor, sandbox: AmplitudeSandbox) -> None:
    outcome = vendor.execute(invite_step(ALICE))
    assert outcome.details["status"] == "already_member"
    assert sandbox.writes_about(ALICE) == 0 and sandbox.role(ALICE) == "Manager"


def test_a_409_race_reads_as_already_listed(vendor: AmplitudeVendor, sandbox: AmplitudeSandbox,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    def someone_else_invites_first(user_name: str) -> Response:
        sandbox.add_user(user_name)
        return scim_error(409, f"User {user_name} already exists", "uniqueness")

    monkeypatch.setattr(sandbox, "refuse_create", someone_else_invites_first)
    outcome = vendor.execute(invite_step())
    assert outcome.details["status"] == "already_member"
    assert len(sandbox.requests("POST", r"/Users$")) == 1 and sandbox.user(NEW) is not None


def test_a_409_for_someone_still_unlisted_is_not_success(vendor: AmplitudeVendor, sandbox: AmplitudeSandbox) -> None:
    sandbox.inject(Fault("status", 409, {"schemas": [], "status": "409", "detail": "taken"}, method="POST"))
    with pytest.raises(ConflictError):
        vendor.execute(invite_step())
    assert sandbox.user(NEW) is None


def test_invite_at_another_role_says_what_it_did_not_give(vendor: AmplitudeVendor, sandbox: AmplitudeSandbox) -> None:
    invite, raise_role = plan_change(vendor, NEW, Invitation(Role.MEMBER, ("7",), "welcome"))
    assert raise_role.manual and raise_role.params["after_invite"] is True
    assert "Organization Role: Member" in raise_role.instructions
    assert "accepted the invitation" in raise_role.instructions
    outcome = vendor.execute(invite)
    assert outcome.details["status"] == "invited" and len(outcome.details["not_given"]) == 3
    assert "the member role" in outcome.summary and "projects 7" in outcome.summary
    assert sandbox.role(NEW) == "Viewer"


# -- cancel invite ----------------------------------------------------------------------------------
def cancel_step(email: str = NEW, **extra: object) -> PlannedStep:
    return PlannedStep(StepKind.CANCEL_INVITE, "Cancel", {"email": email, **extra})


def test_cancel_an_invitation_offboard_sent(vendor: AmplitudeVendor, sandbox: AmplitudeSandbox) -> None:
    invited = vendor.execute(invite_step())
    step = cancel_step(invited_by_offboard=invited.details["invited_by_offboard"])
    outcome = vendor.execute(step)
    assert outcome.details["status"] == "cancelled" and "cannot tell" in outcome.summary
    assert sandbox.seat(NEW) is None and sandbox.delete_count(NEW) == 1
    writes = sandbox.writes_about(NEW)
    again = vendor.execute(step)
    assert again.details["status"] == "already_gone" and sandbox.writes_about(NEW) == writes == 2


def test_cancel_refuses_to_guess_without_offboard_having_invited(vendor: AmplitudeVendor,
                                                                 sandbox: AmplitudeSandbox) -> None:
    [step] = plan_change(vendor, "dave@corp.com", InviteCancellation())
    with pytest.raises(ConflictError) as caught:
        vendor.execute(step)
    assert "same way" in caught.value.message and "Settings → Members & Groups" in caught.value.message
    assert sandbox.seat("dave@corp.com") is not None and sandbox.writes_about("dave@corp.com") == 0


def test_cancel_for_someone_not_listed_makes_no_call(vendor: AmplitudeVendor, sandbox: AmplitudeSandbox) -> None:
    outcome = vendor.execute(cancel_step("nobody@corp.com", invited_by_offboard=True))
    assert outcome.details["status"] == "already_gone" and sandbox.requests("DELETE") == []


# -- manual steps -----------------------------------------------------------------------------------
def test_every_capability_has_a_click_path() -> None:
    details = {"role": "read-only", "new_owner_email": "bob@corp.com", "reason": "manual-only"}
    steps = {c: amplitude.manual_step(c, ALICE, details) for c in Capability}
    assert len({s.key for s in steps.values()}) == len(Capability)
    for capability, step in steps.items():
        assert step.manual and step.kind == StepKind.MANUAL and step.key == f"amplitude_{capability}"
        assert ALICE in step.instructions and step.params["email"] == ALICE
    assert "Organization Role: Viewer" in steps[Capability.CHANGE_ROLE].instructions
    assert "bob@corp.com" in steps[Capability.HANDOVER_ASSETS].instructions
    assert "manual-only" in steps[Capability.FIND_MEMBER].instructions
    assert "Remove from Organization → Remove" in steps[Capability.REMOVE_MEMBER].instructions
    assert "Last Login column" in steps[Capability.READ_LAST_LOGIN].instructions


def test_manual_only_amplitude_uses_these_click_paths() -> None:
    vendor = ManualVendor("amplitude", "Amplitude", amplitude.manual_step)
    plan = vendor.plan_removal(vendor.assess(ALICE), "bob@corp.com")
    assert [s.key for s in plan] == [f"amplitude_{c}" for c in REMOVAL_BY_HAND]
    assert "change the Owner field to bob@corp.com" in plan[1].instructions


def test_a_removal_the_vendor_acknowledged_but_did_not_do_is_not_reported_done(vendor: AmplitudeVendor,
                                                                                sandbox: AmplitudeSandbox) -> None:
    sandbox.inject(Fault("status", 204, method="DELETE"))  # answers "done" without acting
    with pytest.raises(VendorError) as caught:
        vendor.execute(PlannedStep(StepKind.REMOVE_MEMBER, "Remove", {"email": ALICE}))
    assert "still lists" in caught.value.message and "Remove from Organization" in caught.value.message
    assert sandbox.user(ALICE) is not None


# -- what Amplitude documents: the id on create, the case-insensitive GET by id ------------------------
def test_a_filter_miss_is_looked_up_by_id_before_calling_them_absent(vendor: AmplitudeVendor,
                                                                      sandbox: AmplitudeSandbox) -> None:
    # The sandbox's filter matches exactly (undocumented, so the worst case); GET /Users/{email} does not.
    result = vendor.assess("Alice@CORP.com")
    assert result.status == AssessmentStatus.MEMBER and result.member is not None
    assert result.member.email == ALICE
    assert sandbox.requests("GET", r"/Users/Alice@CORP\.com$")
    outcomes = run_plan(vendor, vendor.plan_removal(result, None))
    assert outcomes[StepKind.REMOVE_MEMBER].details["already_removed"] is False
    assert sandbox.user(ALICE) is None and sandbox.delete_count(ALICE) == 1
    assert vendor.assess("Alice@CORP.com").status == AssessmentStatus.NOT_MEMBER


def test_verify_looks_up_by_id_too(vendor: AmplitudeVendor) -> None:
    with pytest.raises(VendorError) as caught:
        vendor.execute(PlannedStep(StepKind.VERIFY_REMOVED, "Check", {"email": "BOB@corp.com"}))
    assert "still a member" in caught.value.message


def test_invite_sends_the_email_as_id_beside_the_user_name(vendor: AmplitudeVendor, sandbox: AmplitudeSandbox) -> None:
    outcome = vendor.execute(invite_step("Ann.Lee@corp.com"))
    assert outcome.details["status"] == "invited"  # the sandbox refuses a POST without `id` (400)
    user = sandbox.user("ann.lee@corp.com")
    assert user is not None and user.id == "Ann.Lee@corp.com"
    again = vendor.execute(invite_step("ann.lee@CORP.com"))  # another case: found by id, nothing sent
    assert again.details["status"] == "already_member" and len(sandbox.requests("POST", r"/Users$")) == 1


# -- the deployment check ---------------------------------------------------------------------------
def test_check_with_a_good_and_a_rejected_key(vendor: AmplitudeVendor, sandbox: AmplitudeSandbox,
                                              sleeps: list[float]) -> None:
    assert vendor.check() == []
    [call] = sandbox.requests("GET")
    assert call[1].endswith("/Users")
    [problem] = make_vendor(sandbox, sleeps, key="amp_regenerated_key_123").check()
    assert "SCIM key was refused" in problem and "AMPLITUDE_SCIM_KEY" in problem
    assert "amp_regenerated_key_123" not in problem
    assert sandbox.requests("POST") == [] and sandbox.requests("DELETE") == []
