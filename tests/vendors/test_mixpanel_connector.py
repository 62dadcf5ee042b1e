"""The Mixpanel connector against the Mixpanel sandbox over real HTTP: assess, plan, execute, verify."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from vendors import mixpanel
from vendors.base import (
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
from vendors.mixpanel import MixpanelVendor, mixpanel_host
from vendors.planning import InviteCancellation, ProjectRemoval, RoleChange, plan_change
from vendors.sandbox.mixpanel import (
    DEACTIVATED,
    ORG_ID,
    SA_SECRET,
    SA_USERNAME,
    SANDBOX_SCIM_TOKEN,
    MixpanelSandbox,
)
from vendors.sandbox.server import Fault

ALICE = "alice@corp.com"


@pytest.fixture(scope="module")
def server() -> Iterator[MixpanelSandbox]:
    with MixpanelSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(server: MixpanelSandbox) -> MixpanelSandbox:
    server.reset(page_size=100)
    return server


@pytest.fixture
def sleeps() -> list[float]:
    return []


def make_vendor(sandbox: MixpanelSandbox, sleeps: list[float], token: str = SANDBOX_SCIM_TOKEN,
                service_account: bool = True, sa_secret: str = SA_SECRET) -> MixpanelVendor:
    policy = RetryPolicy(backoff=0.001, max_attempts=3, sleep=sleeps.append)
    extra = ({"service_account_username": SA_USERNAME, "service_account_secret": sa_secret,
              "organization_id": ORG_ID} if service_account else {})
    return MixpanelVendor(token, sandbox.url, page_size=2, policy=policy, **extra)  # type: ignore[arg-type]


@pytest.fixture
def vendor(sandbox: MixpanelSandbox, sleeps: list[float]) -> Iterator[MixpanelVendor]:
    vendor = make_vendor(sandbox, sleeps)
    yield vendor
    vendor.close()


def run_plan(vendor: MixpanelVendor, steps: list[PlannedStep]) -> dict[str, StepOutcome]:
    return {step.kind: vendor.execute(step) for step in steps if not step.manual}


# -- pure helpers -----------------------------------------------------------------------------------
def test_hosts() -> None:
    assert mixpanel_host("us") == "https://mixpanel.com"
    assert mixpanel_host("EU") == "https://eu.mixpanel.com"
    assert mixpanel_host("in") == "https://in.mixpanel.com"
    assert mixpanel_host("http://127.0.0.1:9000/anything") == "http://127.0.0.1:9000"
    with pytest.raises(ValueError):
        mixpanel_host("")
    with pytest.raises(ValueError):
        MixpanelVendor("", "us")


def test_is_a_vendor(vendor: MixpanelVendor) -> None:
    assert isinstance(vendor, Vendor) and vendor.name == "mixpanel" and vendor.label == "Mixpanel"
    assert SANDBOX_SCIM_TOKEN not in repr(vendor) and SA_SECRET not in repr(vendor)


# -- assess -----------------------------------------------------------------------------------------
def test_assess_member_with_teams(vendor: MixpanelVendor, sandbox: MixpanelSandbox) -> None:
    result = vendor.assess("ALICE@corp.com")
    assert result.status == AssessmentStatus.MEMBER
    member = result.member
    assert member is not None and member.email == ALICE and member.name == "Alice Anders"
    assert member.role == Role.MEMBER and member.vendor_role == "member (from their Teams)"
    assert sorted(t["name"] for t in member.extra["teams"]) == ["Finance Viewers", "Product Analytics"]
    assert {(p.project_name, p.level) for p in member.projects} == {
        ("Web App", "analyst"), ("Mobile", "analyst"), ("Finance", "consumer")}
    assert member.last_login is None and any("no last login" in w and "UNVERIFIED" in w for w in result.warnings)
    assert [a["username"] for a in member.extra["service_accounts"]] == ["etl-export.5f6e7d.mp-service-account"]
    # Three Teams at two a page: the groups were streamed over two pages.
    assert len(sandbox.requests("GET", r"/Groups$")) == 2
    assert assessment_from_json(result.to_json()) == result


def test_admin_role_comes_from_a_team(vendor: MixpanelVendor) -> None:
    member = vendor.assess("carol@corp.com").member
    assert member is not None and member.role == Role.ADMIN and member.vendor_role.startswith("admin")


def test_no_team_no_service_account_credentials(sandbox: MixpanelSandbox, sleeps: list[float]) -> None:
    result = make_vendor(sandbox, sleeps, service_account=False).assess("dave@corp.com")
    assert result.status == AssessmentStatus.MEMBER and result.member is not None
    assert "unknown" in result.member.vendor_role
    assert any("in no Team" in w for w in result.warnings)
    assert any("no Mixpanel service-account credentials" in w for w in result.warnings)


def test_bad_service_account_is_only_a_warning(sandbox: MixpanelSandbox, sleeps: list[float]) -> None:
    result = make_vendor(sandbox, sleeps, sa_secret="wrong-secret-789").assess(ALICE)
    assert result.status == AssessmentStatus.MEMBER
    assert any("Could not list Mixpanel service accounts" in w for w in result.warnings)
    assert not any("wrong-secret-789" in w for w in result.warnings)


def test_not_member(vendor: MixpanelVendor) -> None:
    result = vendor.assess("nobody@corp.com")
    assert result.status == AssessmentStatus.NOT_MEMBER and vendor.plan_removal(result, None) == []


def test_unknown_on_persistent_500(vendor: MixpanelVendor, sandbox: MixpanelSandbox, sleeps: list[float]) -> None:
    sandbox.inject(Fault("status", 503, times=None))
    result = vendor.assess(ALICE)
    assert result.status == AssessmentStatus.UNKNOWN and result.email == ALICE and len(sleeps) == 2


def test_unknown_on_bad_token(sandbox: MixpanelSandbox, sleeps: list[float]) -> None:
    result = make_vendor(sandbox, sleeps, token="bad-token-321").assess(ALICE)
    assert result.status == AssessmentStatus.UNKNOWN
    assert "MIXPANEL_SCIM_TOKEN" in (result.error or "") and "bad-token-321" not in (result.error or "")


def test_429_retry_after_is_honoured(vendor: MixpanelVendor, sandbox: MixpanelSandbox, sleeps: list[float]) -> None:
    sandbox.throttle(4, times=1, path_pattern=r"/Groups")
    assert vendor.assess(ALICE).status == AssessmentStatus.MEMBER
    assert sleeps == [4.0]


# -- plan and execute -------------------------------------------------------------------------------
def test_plan(vendor: MixpanelVendor) -> None:
    steps = vendor.plan_removal(vendor.assess(ALICE), "bob@corp.com")
    assert [s.kind for s in steps] == ["manual", "remove_from_teams", "remove_member", "verify_removed", "manual"]
    transfer, rotate = steps[0], steps[-1]
    assert "Organization Settings → Members" in transfer.instructions and "bob@corp.com" in transfer.instructions
    assert "Dashboards/Reports" in transfer.instructions
    assert "Settings → API Tokens" in rotate.instructions
    assert "etl-export.5f6e7d.mp-service-account" in rotate.instructions
    assert "Finance Viewers" in steps[1].title


def test_remove_deactivates_and_verifies(vendor: MixpanelVendor, sandbox: MixpanelSandbox) -> None:
    outcomes = run_plan(vendor, vendor.plan_removal(vendor.assess(ALICE), None))
    assert sorted(outcomes["remove_from_teams"].details["teams"]) == ["Finance Viewers", "Product Analytics"]
    assert outcomes["remove_member"].details["already_removed"] is False
    assert "Checked" in outcomes["verify_removed"].summary
    user = sandbox.user(ALICE)
    assert user is not None and user.active is False and sandbox.groups_of(ALICE) == []
    assert sorted(g for g, _ in sandbox.group_removals) == ["Finance Viewers", "Product Analytics"]
    assert vendor.assess(ALICE).status == AssessmentStatus.NOT_MEMBER


def test_execute_twice_acts_once(vendor: MixpanelVendor, sandbox: MixpanelSandbox) -> None:
    steps = [s for s in vendor.plan_removal(vendor.assess(ALICE), None) if not s.manual]
    first = run_plan(vendor, steps)
    second = run_plan(vendor, steps)
    assert first["remove_member"].details["already_removed"] is False
    assert second["remove_member"].details["already_removed"] is True
    assert second["remove_from_teams"].details["teams"] == []
    assert sandbox.deactivations[ALICE] == 1
    assert len(sandbox.requests("PATCH", r"/Users/")) == 1
    assert len(sandbox.requests("PATCH", r"/Groups/")) == 2


def test_unknown_still_plans_removal(vendor: MixpanelVendor, sandbox: MixpanelSandbox) -> None:
    sandbox.inject(Fault("status", 500, times=None))
    steps = vendor.plan_removal(vendor.assess(ALICE), None)
    assert steps[0].key == "mixpanel_check_by_hand" and "Organization Settings → Members" in steps[0].instructions
    assert [s.kind for s in steps if not s.manual] == ["remove_from_teams", "remove_member", "verify_removed"]
    sandbox.clear_faults()
    run_plan(vendor, steps)
    user = sandbox.user(ALICE)
    assert user is not None and not user.active


def test_verify_fails_while_active(vendor: MixpanelVendor) -> None:
    with pytest.raises(VendorError) as caught:
        vendor.execute(PlannedStep("verify_removed", "Check", {"email": ALICE}))
    assert "still an active Mixpanel user" in caught.value.message


def test_execute_refusals(vendor: MixpanelVendor, sandbox: MixpanelSandbox, sleeps: list[float]) -> None:
    with pytest.raises(VendorError):
        vendor.execute(PlannedStep("manual", "Do it", manual=True))
    with pytest.raises(VendorError):
        vendor.execute(PlannedStep("remove_member", "Deactivate", {}))
    with pytest.raises(AuthError) as caught:
        make_vendor(sandbox, sleeps, token="bad-token-654").execute(
            PlannedStep("remove_member", "Deactivate", {"email": ALICE}))
    assert "MIXPANEL_SCIM_TOKEN" in caught.value.message


# -- capabilities -----------------------------------------------------------------------------------
def test_declares_what_scim_and_teams_can_do(vendor: MixpanelVendor) -> None:
    assert vendor.capabilities == {
        Capability.FIND_MEMBER, Capability.LIST_MEMBERS, Capability.READ_ROLE, Capability.READ_PROJECTS,
        Capability.CHANGE_ROLE, Capability.REMOVE_FROM_PROJECT, Capability.REMOVE_MEMBER, Capability.VERIFY_REMOVAL,
        Capability.INVITE}
    assert not hasattr(vendor, "invite_role")  # SCIM creates Members, and Teams give the role asked for


def test_there_is_no_invitation_to_cancel(vendor: MixpanelVendor, sandbox: MixpanelSandbox) -> None:
    with pytest.raises(UnsupportedError):
        vendor.execute(PlannedStep(StepKind.CANCEL_INVITE, "Cancel", {"email": ALICE}))
    [step] = plan_change(vendor, ALICE, InviteCancellation())
    assert step.manual and step.key == "mixpanel_cancel_invite"
    assert "creates users directly" in step.instructions and "Remove Member" in step.instructions
    assert sandbox.requests("PATCH") == [] and sandbox.requests("DELETE") == []


# -- listing ----------------------------------------------------------------------------------------
def test_iter_members_is_lazy_and_lists_teams_once(sandbox: MixpanelSandbox, sleeps: list[float]) -> None:
    vendor = MixpanelVendor(SANDBOX_SCIM_TOKEN, sandbox.url, page_size=40,
                            policy=RetryPolicy(backoff=0.001, sleep=sleeps.append))
    for i in range(40):  # more Teams than one page holds
        sandbox.add_team(f"Squad {i:02d}", [], projects={102: "consumer"})
    members = vendor.iter_members()
    first = next(members)
    assert len(sandbox.requests("GET", r"/Users$")) == 1  # one item, one users page
    assert len(sandbox.requests("GET", r"/Groups$")) == 2  # every Team, once (44 at 40 a page)
    everyone = [first, *members]
    assert len(sandbox.requests("GET", r"/Groups$")) == 2, "Teams are listed once per iteration, not per user"
    assert len(sandbox.requests("GET", r"/Users$")) == 7  # 256 listed at 40 a page
    assert len(everyone) == sandbox.member_count() == 255
    assert DEACTIVATED not in {m.email for m in everyone}
    for member in everyone:
        seat = sandbox.seat(member.email)
        assert seat is not None and member.role == seat.role
        assert {p.project_id for p in member.projects} == seat.project_ids
    by_email = {m.email: m for m in everyone}
    assert by_email["it-ops@corp.com"].role == Role.OWNER and by_email["carol@corp.com"].role == Role.ADMIN
    assert {p.project_name for p in by_email[ALICE].projects} == {"Web App", "Mobile", "Finance"}


# -- role change ------------------------------------------------------------------------------------
def role_step(vendor: MixpanelVendor, email: str, role: Role) -> PlannedStep:
    [step] = plan_change(vendor, email, RoleChange(role))
    assert not step.manual
    return step


def test_promotion_joins_a_team_with_the_role_once(vendor: MixpanelVendor, sandbox: MixpanelSandbox) -> None:
    outcome = vendor.execute(role_step(vendor, "bob@corp.com", Role.ADMIN))
    assert outcome.details["joined"] == ["Org Admins"] and outcome.details["left"] == []
    assert outcome.details["projects_gained"] == ["103"] and "also gave them projects 103" in outcome.summary
    seat = sandbox.seat("bob@corp.com")
    assert seat is not None and seat.role == Role.ADMIN
    assert sorted(sandbox.groups_of("bob@corp.com")) == ["Org Admins", "Product Analytics"]
    writes = sandbox.writes_about("bob@corp.com")
    again = vendor.execute(role_step(vendor, "bob@corp.com", Role.ADMIN))
    assert again.details["status"] == "already" and sandbox.writes_about("bob@corp.com") == writes == 1


def test_demotion_leaves_higher_teams_and_keeps_what_a_member_team_gives(vendor: MixpanelVendor,
                                                                          sandbox: MixpanelSandbox) -> None:
    outcome = vendor.execute(role_step(vendor, "carol@corp.com", Role.MEMBER))
    assert outcome.details["left"] == ["Org Admins"] and outcome.details["joined"] == ["Product Analytics"]
    assert outcome.details["projects_lost"] == ["103"] and "lost projects 103" in outcome.summary
    seat = sandbox.seat("carol@corp.com")
    assert seat is not None and seat.role == Role.MEMBER and seat.project_ids == {"101", "102"}


def test_no_team_with_the_role_is_a_conflict_naming_what_to_create(vendor: MixpanelVendor,
                                                                    sandbox: MixpanelSandbox) -> None:
    admins = sandbox.group("Org Admins")
    assert admins is not None
    del sandbox.groups[admins.id]
    with pytest.raises(ConflictError) as caught:
        vendor.execute(role_step(vendor, ALICE, Role.ADMIN))
    assert "Create a Team with the admin organization role" in caught.value.message
    assert "Organization Settings → Members" in caught.value.message
    assert sandbox.writes_about(ALICE) == 0


def test_only_an_owner_gives_the_owner_role(vendor: MixpanelVendor, sandbox: MixpanelSandbox) -> None:
    with pytest.raises(ConflictError) as caught:
        vendor.execute(role_step(vendor, ALICE, Role.OWNER))
    assert "only an Owner" in caught.value.message
    assert "SCIM token acts as an organization Admin" in caught.value.message
    assert sandbox.org_role(ALICE) == Role.MEMBER and "Owners" not in sandbox.groups_of(ALICE)


def test_the_last_owner_cannot_be_demoted_or_deactivated(vendor: MixpanelVendor, sandbox: MixpanelSandbox) -> None:
    with pytest.raises(ConflictError) as caught:
        vendor.execute(role_step(vendor, "it-ops@corp.com", Role.ADMIN))
    assert "without an Owner" in caught.value.message
    with pytest.raises(ConflictError):
        vendor.execute(PlannedStep(StepKind.REMOVE_MEMBER, "Deactivate", {"email": "it-ops@corp.com"}))
    seat = sandbox.seat("it-ops@corp.com")
    assert seat is not None and seat.active and seat.role == Role.OWNER


def test_an_owner_can_be_deprovisioned_while_another_remains(vendor: MixpanelVendor, sandbox: MixpanelSandbox) -> None:
    sandbox.seed_person("second.owner@corp.com", Role.OWNER)
    outcome = vendor.execute(role_step(vendor, "it-ops@corp.com", Role.ADMIN))
    assert outcome.details["left"] == ["Owners"] and sandbox.org_role("it-ops@corp.com") == Role.ADMIN


# -- project removal --------------------------------------------------------------------------------
def project_step(vendor: MixpanelVendor, email: str, project_id: str, name: str) -> PlannedStep:
    [step] = plan_change(vendor, email, ProjectRemoval({project_id: name}))
    return step


def test_project_removal_leaves_the_team_that_gives_it_once(vendor: MixpanelVendor, sandbox: MixpanelSandbox) -> None:
    sandbox.seed_person("pat@corp.com", Role.MEMBER, ["101", "102"])
    step = project_step(vendor, "pat@corp.com", "101", "Web App")
    outcome = vendor.execute(step)
    assert outcome.details == {"status": "removed", "teams": ["Members · Web App"]}
    assert "not visible to SCIM" in outcome.summary
    seat = sandbox.seat("pat@corp.com")
    assert seat is not None and seat.project_ids == {"102"} and seat.role == Role.MEMBER
    again = vendor.execute(step)
    assert again.details["status"] == "no_access" and "no access to remove" in again.summary
    assert sandbox.writes_about("pat@corp.com") == 1


def test_project_removal_refuses_to_take_other_projects(vendor: MixpanelVendor, sandbox: MixpanelSandbox) -> None:
    with pytest.raises(ConflictError) as caught:
        vendor.execute(project_step(vendor, ALICE, "101", "Web App"))
    assert "Product Analytics also gives Mobile" in caught.value.message
    assert sandbox.writes_about(ALICE) == 0 and "Product Analytics" in sandbox.groups_of(ALICE)


def test_project_removal_goes_ahead_when_another_team_keeps_the_rest(vendor: MixpanelVendor,
                                                                      sandbox: MixpanelSandbox) -> None:
    sandbox.add_team("Mobile Crew", [ALICE], projects={102: "analyst"})
    vendor.execute(project_step(vendor, ALICE, "101", "Web App"))
    assert sorted(sandbox.groups_of(ALICE)) == ["Finance Viewers", "Mobile Crew"]
    seat = sandbox.seat(ALICE)
    assert seat is not None and seat.project_ids == {"102", "103"}


def test_project_removal_refuses_to_lower_the_org_role(vendor: MixpanelVendor, sandbox: MixpanelSandbox) -> None:
    sandbox.seed_person("fin.admin@corp.com", Role.ADMIN, ["103"])
    with pytest.raises(ConflictError) as caught:
        vendor.execute(project_step(vendor, "fin.admin@corp.com", "103", "Finance"))
    assert "admin organization role" in caught.value.message and "Admins · Finance" in caught.value.message
    assert sandbox.org_role("fin.admin@corp.com") == Role.ADMIN


def test_no_team_gives_the_project_makes_no_call(vendor: MixpanelVendor, sandbox: MixpanelSandbox) -> None:
    outcome = vendor.execute(project_step(vendor, "bob@corp.com", "103", "Finance"))
    assert outcome.details["status"] == "no_access" and sandbox.writes_about("bob@corp.com") == 0


# -- invite -----------------------------------------------------------------------------------------
NEW = "new.person@corp.com"


def invite_step(email: str = NEW, role: Role = Role.MEMBER, projects: tuple[str, ...] = (),
                message: str = "") -> PlannedStep:
    return PlannedStep(StepKind.INVITE, "Invite", {"email": email, "role": role.value, "projects": list(projects),
                                                   "message": message})


def test_invite_creates_a_member_once(vendor: MixpanelVendor, sandbox: MixpanelSandbox) -> None:
    first = vendor.execute(invite_step())
    assert first.details["status"] == "invited" and first.details["not_given"] == []
    seat = sandbox.seat(NEW)
    assert seat is not None and seat.role == Role.MEMBER and seat.project_ids == frozenset() and seat.active
    again = vendor.execute(invite_step())
    assert again.details["status"] == "already_member"
    assert sandbox.writes_about(NEW) == 1


def test_invite_gives_role_and_projects_through_a_team_that_grants_exactly_them(vendor: MixpanelVendor,
                                                                                 sandbox: MixpanelSandbox) -> None:
    step = invite_step(role=Role.ADMIN, projects=("101", "102", "103"))
    outcome = vendor.execute(step)
    assert outcome.details["teams"] == ["Org Admins"] and outcome.details["not_given"] == []
    seat = sandbox.seat(NEW)
    assert seat is not None and seat.role == Role.ADMIN and seat.project_ids == {"101", "102", "103"}
    vendor.execute(step)
    assert sandbox.writes_about(NEW) == 2  # the create and the Team, once each


def test_invite_reports_what_no_team_grants_exactly(vendor: MixpanelVendor, sandbox: MixpanelSandbox) -> None:
    outcome = vendor.execute(invite_step(projects=("101", "103"), message="hi"))
    assert outcome.details["teams"] == ["Finance Viewers"]  # Product Analytics would also give Mobile
    assert outcome.details["projects_given"] == ["103"] and outcome.details["projects_not_given"] == ["101"]
    assert "not given: project 101" in outcome.summary and "no invitation text" in outcome.summary
    seat = sandbox.seat(NEW)
    assert seat is not None and seat.project_ids == {"103"}


def test_invite_as_owner_creates_a_member_and_says_so(vendor: MixpanelVendor, sandbox: MixpanelSandbox) -> None:
    outcome = vendor.execute(invite_step(role=Role.OWNER, projects=("101", "102", "103")))
    assert outcome.details["teams"] == [] and outcome.details["role_given"] == "member"
    assert "the Team Owners" in outcome.summary and "the owner role" in outcome.summary
    assert sandbox.org_role(NEW) == Role.MEMBER


def test_invite_off_a_verified_domain_is_refused(vendor: MixpanelVendor, sandbox: MixpanelSandbox) -> None:
    with pytest.raises(ConflictError) as caught:
        vendor.execute(invite_step("eve@gmail.com"))
    assert "verified domains" in caught.value.message and sandbox.user("eve@gmail.com") is None


def test_invite_reactivates_a_deactivated_user(vendor: MixpanelVendor, sandbox: MixpanelSandbox) -> None:
    outcome = vendor.execute(invite_step(DEACTIVATED))
    assert outcome.details["status"] == "reactivated"
    seat = sandbox.seat(DEACTIVATED)
    assert seat is not None and seat.active and len(sandbox.requests("POST", r"/Users$")) == 0


# -- manual steps -----------------------------------------------------------------------------------
def test_every_capability_has_a_click_path() -> None:
    details = {"role": "read-only", "project_id": "101", "project_name": "Web App", "new_owner_email": "bob@corp.com"}
    steps = {c: mixpanel.manual_step(c, ALICE, details) for c in Capability}
    assert {s.key for s in steps.values()} == {f"mixpanel_{c}_101" for c in Capability}
    assert all(s.manual and ALICE in s.instructions for s in steps.values())
    assert "Consumer" in steps[Capability.CHANGE_ROLE].instructions  # no read-only org role at Mixpanel
    assert "Web App (project 101)" in steps[Capability.REMOVE_FROM_PROJECT].instructions
    assert "three-dot menu or Actions" in steps[Capability.REMOVE_MEMBER].instructions
    assert "bob@corp.com" in steps[Capability.HANDOVER_ASSETS].instructions


def test_a_deactivation_the_vendor_acknowledged_but_did_not_do_is_not_reported_done(vendor: MixpanelVendor,
                                                                                     sandbox: MixpanelSandbox) -> None:
    sandbox.inject(Fault("status", 200, {}, method="PATCH", path_pattern=r"/Users/"))  # "done", without acting
    with pytest.raises(VendorError) as caught:
        vendor.execute(PlannedStep(StepKind.REMOVE_MEMBER, "Deactivate", {"email": ALICE}))
    assert "still an active Mixpanel user" in caught.value.message
    sandbox.inject(Fault("status", 200, {}, method="PATCH", path_pattern=r"/Groups/"))
    with pytest.raises(VendorError) as caught:
        vendor.execute(PlannedStep("remove_from_teams", "Leave Teams", {"email": ALICE}))
    assert "still in the Mixpanel Teams" in caught.value.message
    seat = sandbox.seat(ALICE)
    assert seat is not None and seat.active
