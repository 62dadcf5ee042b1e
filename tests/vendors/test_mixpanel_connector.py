"""The Mixpanel connector against the Mixpanel sandbox over real HTTP: assess, plan, execute, verify.

The sandbox behaves as Mixpanel documents: SCIM sees only the verified domains (the contractor at
agency.com is a member it cannot see), SCIM shows Teams by name only, and service accounts name their
creator by an integer user id."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from bot.reviews.review import review_vendor
from bot.reviews.slack.review_blocks import _vendor_text
from vendors import mixpanel
from vendors.base import (
    CREDENTIALS_PARAM,
    AssessmentStatus,
    AuthError,
    Capability,
    ConflictError,
    PlannedStep,
    Role,
    StepKind,
    StepOutcome,
    UnseenError,
    UnsupportedError,
    Vendor,
    VendorError,
    assessment_from_json,
)
from vendors.http import RetryPolicy
from vendors.mixpanel import DEFAULT_SCIM_URL, UNKNOWN_ROLE, MixpanelVendor, mixpanel_host, mixpanel_scim_url
from vendors.planning import Invitation, InviteCancellation, ProjectRemoval, RoleChange, plan_change
from vendors.sandbox.mixpanel import (
    CONTRACTOR,
    DEACTIVATED,
    ORG_ID,
    SA_SECRET,
    SA_USERNAME,
    SANDBOX_SCIM_TOKEN,
    VERIFIED_DOMAINS,
    MixpanelSandbox,
)
from vendors.sandbox.server import Fault

ALICE = "alice@corp.com"
USERS_UI = "Organization Settings → Users & Teams"


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
                service_account: bool = True, sa_secret: str = SA_SECRET,
                verified_domains: tuple[str, ...] = VERIFIED_DOMAINS, **kwargs: object) -> MixpanelVendor:
    policy = RetryPolicy(backoff=0.001, max_attempts=3, sleep=sleeps.append)
    extra = ({"service_account_username": SA_USERNAME, "service_account_secret": sa_secret,
              "organization_id": ORG_ID} if service_account else {})
    return MixpanelVendor(token, sandbox.url, page_size=2, policy=policy, verified_domains=verified_domains,
                          **extra, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def vendor(sandbox: MixpanelSandbox, sleeps: list[float]) -> Iterator[MixpanelVendor]:
    vendor = make_vendor(sandbox, sleeps)
    yield vendor
    vendor.close()


def run_plan(vendor: MixpanelVendor, steps: list[PlannedStep]) -> dict[str, StepOutcome]:
    return {step.kind: vendor.execute(step) for step in steps if not step.manual}


# -- hosts and the SCIM base -------------------------------------------------------------------------
def test_hosts_and_the_documented_scim_base() -> None:
    assert mixpanel_host("us") == "https://mixpanel.com"
    assert mixpanel_host("EU") == "https://eu.mixpanel.com"
    assert mixpanel_host("http://127.0.0.1:9000/anything") == "http://127.0.0.1:9000"
    # Only the US SCIM base is documented: a named region does not invent an EU or India one.
    assert mixpanel_scim_url("us") == mixpanel_scim_url("eu") == mixpanel_scim_url("in") == DEFAULT_SCIM_URL
    assert DEFAULT_SCIM_URL == "https://mixpanel.com/api/app/scim/v2"
    assert mixpanel_scim_url("eu", "https://scim.example.test/v2/") == "https://scim.example.test/v2"
    assert mixpanel_scim_url("http://127.0.0.1:9000") == "http://127.0.0.1:9000/api/app/scim/v2"
    with pytest.raises(ValueError):
        mixpanel_host("")
    with pytest.raises(ValueError):
        mixpanel_scim_url("us", "ftp://nowhere")
    with pytest.raises(ValueError):
        MixpanelVendor("", "us")


def test_the_scim_url_setting_is_where_scim_is_called(sandbox: MixpanelSandbox, sleeps: list[float]) -> None:
    vendor = make_vendor(sandbox, sleeps, service_account=False, scim_url=f"{sandbox.url}/api/app/scim/v2")
    try:
        assert MixpanelVendor("t", "eu", scim_url=f"{sandbox.url}/api/app/scim/v2").scim_url.startswith(sandbox.url)
        assert vendor.assess(ALICE).status == AssessmentStatus.MEMBER
    finally:
        vendor.close()


def test_is_a_vendor(vendor: MixpanelVendor) -> None:
    assert isinstance(vendor, Vendor) and vendor.name == "mixpanel" and vendor.label == "Mixpanel"
    assert SANDBOX_SCIM_TOKEN not in repr(vendor) and SA_SECRET not in repr(vendor)


# -- assess -----------------------------------------------------------------------------------------
def test_assess_member_role_and_projects_are_unknown(vendor: MixpanelVendor, sandbox: MixpanelSandbox) -> None:
    result = vendor.assess("ALICE@corp.com")
    assert result.status == AssessmentStatus.MEMBER
    member = result.member
    assert member is not None and member.email == ALICE and member.name == "Alice Anders"
    # SCIM shows no Team's role or projects: neither is guessed.
    assert member.role == Role.MEMBER and member.vendor_role == UNKNOWN_ROLE and member.projects == ()
    assert sorted(t["name"] for t in member.extra["teams"]) == ["Finance Viewers", "Product Analytics"]
    assert any("Finance Viewers" in w and "name only" in w for w in result.warnings)
    assert member.last_login is None and not member.last_login_known
    assert assessment_from_json(result.to_json()) == result


def test_the_sandbox_serves_no_team_role_or_project_extension(vendor: MixpanelVendor,
                                                              sandbox: MixpanelSandbox) -> None:
    page = vendor._http.get_json("/Groups", params={"count": "100"})
    for group in page["Resources"]:
        assert set(group) <= {"schemas", "id", "displayName", "members", "meta"}, group
        assert group["schemas"] == ["urn:ietf:params:scim:schemas:core:2.0:Group"]


def test_an_admin_is_not_read_as_an_admin(vendor: MixpanelVendor, sandbox: MixpanelSandbox) -> None:
    assert sandbox.org_role("carol@corp.com") == Role.ADMIN  # in the product, through a Team
    member = vendor.assess("carol@corp.com").member
    assert member is not None and member.vendor_role == UNKNOWN_ROLE and member.projects == ()


def test_not_member_on_a_verified_domain(vendor: MixpanelVendor) -> None:
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
    assert "MIXPANEL_SCIM_URL" in (result.error or "")


def test_429_retry_after_is_honoured(vendor: MixpanelVendor, sandbox: MixpanelSandbox, sleeps: list[float]) -> None:
    sandbox.throttle(4, times=1, path_pattern=r"/Groups")
    assert vendor.assess(ALICE).status == AssessmentStatus.MEMBER
    assert sleeps == [4.0]


# -- members SCIM cannot see ------------------------------------------------------------------------
def test_a_contractor_off_the_verified_domains_is_unknown_never_not_a_member(vendor: MixpanelVendor,
                                                                              sandbox: MixpanelSandbox) -> None:
    assert sandbox.seat(CONTRACTOR) is not None  # a member of the organization
    result = vendor.assess(CONTRACTOR)
    assert result.status == AssessmentStatus.UNKNOWN and result.email == CONTRACTOR
    assert "verified domains (corp.com)" in (result.error or "")
    plan = vendor.plan_removal(result, "bob@corp.com")
    assert plan and all(step.manual for step in plan), "no API step can prove anything about them"
    [removal] = [s for s in plan if s.key == "mixpanel_remove_member"]
    assert CONTRACTOR in removal.instructions and USERS_UI in removal.instructions
    assert "tick the checkbox next to their name" in removal.instructions and "Delete" in removal.instructions
    assert plan[0].key == "mixpanel_transfer_assets"  # the hand-over comes before the deletion


def test_without_verified_domains_a_scim_miss_is_unknown_and_says_what_to_set(sandbox: MixpanelSandbox,
                                                                              sleeps: list[float]) -> None:
    vendor = make_vendor(sandbox, sleeps, verified_domains=())
    for email in (CONTRACTOR, "nobody@corp.com"):
        result = vendor.assess(email)
        assert result.status == AssessmentStatus.UNKNOWN, email
        assert "MIXPANEL_VERIFIED_DOMAINS" in (result.error or "")
        plan = vendor.plan_removal(result, None)
        assert [s.key for s in plan if not s.manual] == []
        assert any(s.key == "mixpanel_remove_member" and "MIXPANEL_VERIFIED_DOMAINS" in s.instructions for s in plan)
    assert vendor.assess(ALICE).status == AssessmentStatus.MEMBER  # whom SCIM does list is still a member


@pytest.mark.parametrize("kind", [StepKind.VERIFY_REMOVED, StepKind.REMOVE_MEMBER, "remove_from_teams"])
def test_a_step_about_someone_scim_cannot_see_never_ends_done(vendor: MixpanelVendor, sandbox: MixpanelSandbox,
                                                              sleeps: list[float], kind: str) -> None:
    for connector in (vendor, make_vendor(sandbox, sleeps, verified_domains=())):
        with pytest.raises(UnseenError) as caught:
            connector.execute(PlannedStep(kind, "Step", {"email": CONTRACTOR}))
        assert "cannot say it is done" in caught.value.message and CONTRACTOR in caught.value.message
    assert sandbox.writes_about(CONTRACTOR) == 0


def test_listings_say_who_scim_cannot_see(vendor: MixpanelVendor) -> None:
    assert CONTRACTOR not in {m.email for m in vendor.iter_members()}
    assert "verified domains (corp.com)" in vendor.blind_spot and "invisible" in vendor.blind_spot
    assert USERS_UI in vendor.blind_spot


# -- service accounts ---------------------------------------------------------------------------------
def test_service_accounts_name_their_creator_by_integer_id(vendor: MixpanelVendor, sandbox: MixpanelSandbox) -> None:
    raw = vendor._service.get_json(f"/organizations/{ORG_ID}/service-accounts")  # type: ignore[union-attr]
    assert all(isinstance(a["creator"], int) for a in raw["results"])
    result = vendor.assess(ALICE)
    assert result.status == AssessmentStatus.MEMBER, result.error
    member = result.member
    assert member is not None and member.extra["service_accounts_matched"] is True
    assert [a["username"] for a in member.extra["service_accounts"]] == ["etl-export.5f6e7d.mp-service-account"]
    rotate = vendor.plan_removal(result, "bob@corp.com")[-1]
    assert rotate.key == "mixpanel_rotate_integrations"
    assert "etl-export.5f6e7d.mp-service-account" in rotate.instructions
    assert "warehouse-sync" not in rotate.instructions
    assert "Mixpanel service account etl-export.5f6e7d.mp-service-account" in rotate.params[CREDENTIALS_PARAM]


def test_an_unmatched_creator_lists_every_account_with_its_creator_id(vendor: MixpanelVendor,
                                                                      sandbox: MixpanelSandbox) -> None:
    sandbox.add_service_account("legacy-import.000.mp-service-account", creator=123)  # nobody SCIM shows
    result = vendor.assess("bob@corp.com")
    assert result.status == AssessmentStatus.MEMBER, result.error
    assert any("creator" in w and "rotate step lists every service account" in w for w in result.warnings)
    rotate = vendor.plan_removal(result, None)[-1]
    assert "could not tell which service accounts bob@corp.com created" in rotate.instructions
    for account in sandbox.service_accounts.values():
        assert f"{account['username']} (id {account['id']}, created by user id {account['creator']})" \
            in rotate.instructions
    assert any("bob@corp.com created" in c for c in rotate.params[CREDENTIALS_PARAM])


def test_no_service_account_credentials_is_a_warning(sandbox: MixpanelSandbox, sleeps: list[float]) -> None:
    result = make_vendor(sandbox, sleeps, service_account=False).assess("dave@corp.com")
    assert result.status == AssessmentStatus.MEMBER and result.member is not None
    assert any("no Mixpanel service-account credentials" in w for w in result.warnings)
    assert "Service Accounts" in vendor_rotate(make_vendor(sandbox, sleeps, service_account=False), "dave@corp.com")


def vendor_rotate(vendor: MixpanelVendor, email: str) -> str:
    return vendor.plan_removal(vendor.assess(email), None)[-1].instructions


def test_bad_service_account_is_only_a_warning(sandbox: MixpanelSandbox, sleeps: list[float]) -> None:
    result = make_vendor(sandbox, sleeps, sa_secret="wrong-secret-789").assess(ALICE)
    assert result.status == AssessmentStatus.MEMBER
    assert any("Could not list Mixpanel service accounts" in w for w in result.warnings)
    assert not any("wrong-secret-789" in w for w in result.warnings)


# -- plan and execute -------------------------------------------------------------------------------
def test_plan(vendor: MixpanelVendor) -> None:
    steps = vendor.plan_removal(vendor.assess(ALICE), "bob@corp.com")
    assert [s.kind for s in steps] == ["manual", "remove_from_teams", "remove_member", "verify_removed", "manual"]
    transfer, rotate = steps[0], steps[-1]
    assert "bob@corp.com" in transfer.instructions and "Dashboards/Reports" in transfer.instructions
    assert "Settings → API Tokens" in rotate.instructions
    assert "Finance Viewers" in steps[1].title


def test_remove_deactivates_and_verifies(vendor: MixpanelVendor, sandbox: MixpanelSandbox) -> None:
    outcomes = run_plan(vendor, vendor.plan_removal(vendor.assess(ALICE), None))
    assert sorted(outcomes["remove_from_teams"].details["teams"]) == ["Finance Viewers", "Product Analytics"]
    assert outcomes["remove_member"].details["already_removed"] is False
    assert "Checked" in outcomes["verify_removed"].summary
    user = sandbox.user(ALICE)
    assert user is not None and user.active is False and sandbox.groups_of(ALICE) == []
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


def test_a_user_deleted_on_a_verified_domain_is_gone(vendor: MixpanelVendor, sandbox: MixpanelSandbox) -> None:
    user = sandbox.user("bob@corp.com")
    assert user is not None
    del sandbox.users[user.id]
    outcome = vendor.execute(PlannedStep(StepKind.VERIFY_REMOVED, "Check", {"email": "bob@corp.com"}))
    assert "Checked" in outcome.summary


def test_unknown_on_a_verified_domain_still_plans_removal(vendor: MixpanelVendor, sandbox: MixpanelSandbox) -> None:
    sandbox.inject(Fault("status", 500, times=None))
    steps = vendor.plan_removal(vendor.assess(ALICE), None)
    assert steps[0].key == "mixpanel_check_by_hand" and USERS_UI in steps[0].instructions
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


def test_the_last_owner_cannot_be_deactivated(vendor: MixpanelVendor, sandbox: MixpanelSandbox) -> None:
    with pytest.raises(ConflictError) as caught:
        vendor.execute(PlannedStep(StepKind.REMOVE_MEMBER, "Deactivate", {"email": "it-ops@corp.com"}))
    assert "without an Owner" in caught.value.message and USERS_UI in caught.value.message
    seat = sandbox.seat("it-ops@corp.com")
    assert seat is not None and seat.active and seat.role == Role.OWNER


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


# -- capabilities: roles and projects are manual ----------------------------------------------------
def test_declares_only_what_scim_can_do(vendor: MixpanelVendor) -> None:
    assert vendor.capabilities == {Capability.FIND_MEMBER, Capability.LIST_MEMBERS, Capability.REMOVE_MEMBER,
                                   Capability.VERIFY_REMOVAL, Capability.INVITE}
    assert vendor.invite_role == Role.MEMBER


def test_role_changes_and_project_removals_are_manual_steps(vendor: MixpanelVendor, sandbox: MixpanelSandbox) -> None:
    for kind in (StepKind.CHANGE_ROLE, StepKind.REMOVE_FROM_PROJECT, StepKind.CANCEL_INVITE):
        with pytest.raises(UnsupportedError):
            vendor.execute(PlannedStep(kind, "Do it", {"email": ALICE, "role": "admin", "project_id": "101"}))
    [role] = plan_change(vendor, ALICE, RoleChange(Role.ADMIN))
    assert role.manual and role.key == "mixpanel_change_role" and USERS_UI in role.instructions
    [project] = plan_change(vendor, ALICE, ProjectRemoval({"101": "Web App"}))
    assert project.manual and "Web App (project 101)" in project.instructions
    assert "Project Settings → Project Users" in project.instructions
    [cancel] = plan_change(vendor, ALICE, InviteCancellation())
    assert cancel.manual and "creates users directly" in cancel.instructions
    assert sandbox.writes_about(ALICE) == 0


# -- listing ----------------------------------------------------------------------------------------
def test_iter_members_is_lazy(sandbox: MixpanelSandbox, sleeps: list[float]) -> None:
    vendor = MixpanelVendor(SANDBOX_SCIM_TOKEN, sandbox.url, page_size=40, verified_domains=VERIFIED_DOMAINS,
                            policy=RetryPolicy(backoff=0.001, sleep=sleeps.append))
    members = vendor.iter_members()
    first = next(members)
    assert len(sandbox.requests("GET", r"/Users$")) == 1  # one item, one users page
    everyone = [first, *members]
    assert len(sandbox.requests("GET", r"/Users$")) == 7  # 256 listed at 40 a page
    assert len(everyone) == sandbox.member_count() == 255
    assert DEACTIVATED not in {m.email for m in everyone}
    assert all(m.vendor_role == UNKNOWN_ROLE for m in everyone)


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


def test_invite_says_what_scim_cannot_give_and_plans_the_role_by_hand(vendor: MixpanelVendor,
                                                                      sandbox: MixpanelSandbox) -> None:
    steps = plan_change(vendor, NEW, Invitation(Role.ADMIN, ("101",), "hi"))
    assert [s.manual for s in steps] == [False, True] and steps[1].key == "mixpanel_change_role"
    outcome = vendor.execute(steps[0])
    assert "the admin role" in outcome.summary and "projects 101" in outcome.summary
    assert "no invitation text" in outcome.summary
    seat = sandbox.seat(NEW)
    assert seat is not None and seat.role == Role.MEMBER and seat.project_ids == frozenset()


def test_invite_off_a_verified_domain_is_refused_without_a_call(vendor: MixpanelVendor,
                                                               sandbox: MixpanelSandbox) -> None:
    with pytest.raises(ConflictError) as caught:
        vendor.execute(invite_step("eve@gmail.com"))
    assert "verified domains" in caught.value.message and USERS_UI in caught.value.message
    assert sandbox.requests("POST") == []


def test_invite_reactivates_a_deactivated_user(vendor: MixpanelVendor, sandbox: MixpanelSandbox) -> None:
    outcome = vendor.execute(invite_step(DEACTIVATED))
    assert outcome.details["status"] == "reactivated"
    seat = sandbox.seat(DEACTIVATED)
    assert seat is not None and seat.active and len(sandbox.requests("POST", r"/Users$")) == 0


# -- manual steps -----------------------------------------------------------------------------------
def test_every_capability_has_a_click_path_on_users_and_teams(vendor: MixpanelVendor) -> None:
    details = {"role": "read-only", "project_id": "101", "project_name": "Web App", "new_owner_email": "bob@corp.com"}
    steps = {c: mixpanel.manual_step(c, ALICE, details) for c in Capability}
    assert {s.key for s in steps.values()} == {f"mixpanel_{c}_101" for c in Capability}
    assert all(s.manual and ALICE in s.instructions for s in steps.values())
    assert "Consumer" in steps[Capability.CHANGE_ROLE].instructions  # no read-only org role at Mixpanel
    assert "tick the checkbox" in steps[Capability.REMOVE_MEMBER].instructions
    assert "bob@corp.com" in steps[Capability.HANDOVER_ASSETS].instructions
    plan = vendor.plan_removal(vendor.assess(ALICE), None)
    texts = [s.instructions for s in steps.values()] + [s.instructions for s in plan]
    assert not [t for t in texts if "Organization Settings → Members" in t], "the old click path is gone"


# -- the deployment check ---------------------------------------------------------------------------
def test_check_passes_with_good_credentials_and_domains(vendor: MixpanelVendor, sandbox: MixpanelSandbox) -> None:
    assert vendor.check() == []
    assert sandbox.requests("GET", r"/Users$") and not sandbox.requests("PATCH") and not sandbox.requests("POST")


def test_check_names_each_problem(sandbox: MixpanelSandbox, sleeps: list[float]) -> None:
    bad = make_vendor(sandbox, sleeps, token="bad-token-987", sa_secret="wrong-secret-987", verified_domains=())
    problems = bad.check()
    assert len(problems) == 3, problems
    token, domains, account = problems
    assert "SCIM token was refused" in token and "MIXPANEL_SCIM_TOKEN" in token
    assert "MIXPANEL_VERIFIED_DOMAINS" in domains
    assert "MIXPANEL_SERVICE_ACCOUNT_SECRET" in account
    assert not any("bad-token-987" in p or "wrong-secret-987" in p for p in problems)
    half = MixpanelVendor(SANDBOX_SCIM_TOKEN, sandbox.url, verified_domains=VERIFIED_DOMAINS,
                          organization_id=ORG_ID, policy=RetryPolicy(backoff=0.001, sleep=sleeps.append))
    assert ["MIXPANEL_ORG_ID" in p for p in half.check()] == [True]


def test_the_access_review_says_who_its_list_leaves_out(vendor: MixpanelVendor) -> None:
    out = io.StringIO()
    review = review_vendor(vendor, csv.writer(out), datetime.now(UTC), 90)
    assert review.listed and CONTRACTOR not in out.getvalue()
    text = _vendor_text(review.to_json())
    assert "Not in this list" in text and "invisible" in text and "verified domains (corp.com)" in text
    assert "Owners and admins: not shown by its API" in text  # SCIM shows no roles
