"""The PostHog connector's access changes (role, project, invitations), member listing and manual
steps, against the sandbox over real HTTP. Every runner is run twice: the second run must not write."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from vendors.base import (
    AssessmentStatus,
    AuthError,
    Capability,
    ConflictError,
    NotFoundError,
    PlannedStep,
    Role,
    StepKind,
    StepOutcome,
    UnavailableError,
    UnsupportedError,
    VendorError,
)
from vendors.http import RetryPolicy
from vendors.manual import ManualVendor
from vendors.planning import Invitation, InviteCancellation, ProjectRemoval, RoleChange, plan_change
from vendors.posthog import PostHogVendor, manual_step
from vendors.sandbox.posthog import (
    ADMIN,
    FINANCE_ID,
    KEY_OWNER_EMAIL,
    MEMBER,
    OWNER,
    PRODUCTION_ID,
    STAGING_ID,
    PostHogSandbox,
)
from vendors.sandbox.server import Fault

BOB, ALICE, CAROL, GRACE = "bob@corp.com", "alice@corp.com", "carol@corp.com", "grace@corp.com"
MEMBERS_PATH = r"/members/$"
EVERY_PROJECT = frozenset({str(PRODUCTION_ID), str(STAGING_ID), str(FINANCE_ID)})


def policy() -> RetryPolicy:
    return RetryPolicy(backoff=0.001, max_attempts=3, sleep=lambda seconds: None)


@pytest.fixture
def vendor(sandbox: PostHogSandbox) -> Iterator[PostHogVendor]:
    connector = sandbox.connector(policy(), page_size=4)  # 300 members: 75 pages
    assert isinstance(connector, PostHogVendor)
    yield connector
    connector.close()  # its keep-alive connection would hold a thread of the shared sandbox


def run(vendor: PostHogVendor, kind: StepKind, email: str, **params: object) -> StepOutcome:
    return vendor.execute(PlannedStep(kind.value, kind.value, {"email": email, **params}))


def twice(vendor: PostHogVendor, kind: StepKind, email: str, **params: object) -> tuple[StepOutcome, StepOutcome]:
    return run(vendor, kind, email, **params), run(vendor, kind, email, **params)


def test_declares_everything_posthogs_api_can_do(vendor: PostHogVendor) -> None:
    assert vendor.capabilities == frozenset(Capability)


# -- iter_members -----------------------------------------------------------------------------------
def test_iter_members_walks_every_page_and_reads_each_projects_access_once(sandbox: PostHogSandbox,
                                                                          vendor: PostHogVendor) -> None:
    members = {m.email: m for m in vendor.iter_members()}
    assert len(members) == 300
    assert sandbox.member_count() == 300 and sandbox.seat("contractor@agency.example").pending  # no member yet
    assert len(sandbox.requests("GET", MEMBERS_PATH)) == 75  # 300 members, 4 a page
    assert len(sandbox.requests("GET", "access_controls")) == 3  # once per project, not once per member

    erin = members["Erin.Ng@Corp.com"]
    erin_seat = sandbox.member_by_email("Erin.Ng@Corp.com")
    assert erin_seat is not None
    assert (erin.role, erin.vendor_role) == (Role.MEMBER, "member (level 1)")
    assert [(p.project_id, p.project_name, p.level) for p in erin.projects] == [
        (str(PRODUCTION_ID), "Production", "member"), (str(FINANCE_ID), "Finance", "admin")]  # Staging: none
    assert erin.last_login == sandbox.now - timedelta(days=10)
    assert erin.joined_at == sandbox.now - timedelta(days=300)
    assert erin.member_id == erin_seat.user.uuid
    assert {k: erin.extra[k] for k in ("membership_id", "user_id", "user_uuid", "level")} == {
        "membership_id": erin_seat.id, "user_id": erin_seat.user.id, "user_uuid": erin_seat.user.uuid, "level": 1}

    alice = members[ALICE]
    assert alice.role == Role.ADMIN and {(p.project_id, p.level) for p in alice.projects} == {
        (pid, "admin") for pid in EVERY_PROJECT}
    assert members[CAROL].role == Role.OWNER
    assert members["frank@corp.com"].last_login is None
    assert {p.project_name for p in members["member005@corp.com"].projects} == {"Production", "Staging", "Finance"}
    assert {p.project_name for p in members["member009@corp.com"].projects} == {"Production"}


def test_iter_members_fetches_pages_only_as_they_are_consumed(sandbox: PostHogSandbox,
                                                             vendor: PostHogVendor) -> None:
    members = vendor.iter_members()
    assert sandbox.requests("GET") == []  # nothing is asked before the first member is wanted
    first = next(members)
    assert first.email == "member001@corp.com"  # newest first, as PostHog lists them
    assert len(sandbox.requests("GET", MEMBERS_PATH)) == 1
    for _ in range(3):
        next(members)
    assert len(sandbox.requests("GET", MEMBERS_PATH)) == 1  # the first page holds 4
    next(members)
    assert len(sandbox.requests("GET", MEMBERS_PATH)) == 2
    assert len(sandbox.requests("GET", "access_controls")) == 3  # read once, reused for every member since


def test_iter_members_shows_exactly_the_projects_a_member_was_given(sandbox: PostHogSandbox,
                                                                   vendor: PostHogVendor) -> None:
    sandbox.seed_person("pat@corp.com", Role.MEMBER, [str(FINANCE_ID)])
    pat = next(m for m in vendor.iter_members() if m.email == "pat@corp.com")
    assert [(p.project_name, p.level) for p in pat.projects] == [("Finance", "member")]


def test_iter_members_with_a_rejected_key_says_which_setting_to_fix(sandbox: PostHogSandbox) -> None:
    rejected = sandbox.connector(policy(), valid_credentials=False)
    with pytest.raises(AuthError, match="POSTHOG_API_KEY") as caught:
        next(rejected.iter_members())
    assert caught.value.status == 401


# -- change role --------------------------------------------------------------------------------------
def test_change_role_promotes_once(sandbox: PostHogSandbox, vendor: PostHogVendor) -> None:
    first, second = twice(vendor, StepKind.CHANGE_ROLE, BOB, role="admin")
    assert first.details == {"from_role": "member", "to_role": "admin", "changed": True}
    assert first.summary == "Changed bob@corp.com's role in Corp from member to admin"
    assert second.details == {"from_role": "admin", "to_role": "admin", "changed": False}
    assert "already admin" in second.summary
    seat = sandbox.seat(BOB)
    assert seat is not None and seat.role == Role.ADMIN and seat.project_ids == EVERY_PROJECT
    assert sandbox.level_changes == [(BOB, MEMBER, ADMIN)] and sandbox.writes_about(BOB) == 1


def test_change_role_demotes_an_owner_while_another_remains(sandbox: PostHogSandbox, vendor: PostHogVendor) -> None:
    outcome = run(vendor, StepKind.CHANGE_ROLE, CAROL, role="member")
    assert outcome.details == {"from_role": "owner", "to_role": "member", "changed": True}
    assert sandbox.level_changes == [(CAROL, OWNER, MEMBER)]


def test_the_only_owner_keeps_their_role(sandbox: PostHogSandbox, vendor: PostHogVendor) -> None:
    sandbox.make_sole_owner(CAROL)
    with pytest.raises(ConflictError, match=r"only owner of Corp\. Make someone else an owner first"):
        run(vendor, StepKind.CHANGE_ROLE, CAROL, role="admin")
    assert sandbox.seat(CAROL).role == Role.OWNER and sandbox.writes_about(CAROL) == 0  # type: ignore[union-attr]


def test_the_keys_own_account_cannot_change_its_level(sandbox: PostHogSandbox, vendor: PostHogVendor) -> None:
    with pytest.raises(ConflictError, match="owns the personal API key offboard uses") as caught:
        run(vendor, StepKind.CHANGE_ROLE, KEY_OWNER_EMAIL, role="admin")
    assert "another owner" in caught.value.message
    assert sandbox.writes_about(KEY_OWNER_EMAIL) == 0


def test_a_key_of_an_admin_cannot_make_an_owner(sandbox: PostHogSandbox) -> None:
    as_admin = PostHogVendor(sandbox.issue_key(ALICE), sandbox.url, page_size=50, policy=policy())
    with pytest.raises(ConflictError) as caught:
        run(as_admin, StepKind.CHANGE_ROLE, BOB, role="owner")
    message = caught.value.message
    assert caught.value.status == 403 and "only an owner can make or unmake owners" in message
    assert "lower or equal to your current one" in message and "POSTHOG_API_KEY" in message  # PostHog's words
    assert sandbox.seat(BOB).role == Role.MEMBER and sandbox.writes_about(BOB) == 1  # type: ignore[union-attr]


def test_read_only_is_no_posthog_role(sandbox: PostHogSandbox, vendor: PostHogVendor) -> None:
    with pytest.raises(UnsupportedError, match="no read-only organization role"):
        run(vendor, StepKind.CHANGE_ROLE, BOB, role="read-only")
    assert sandbox.writes_about(BOB) == 0
    [step] = plan_change(vendor, BOB, RoleChange(Role.READ_ONLY))
    assert step.manual and step.key == "posthog_change_role" and "no read-only organization role" in step.instructions


def test_changing_the_role_of_someone_who_is_not_there(sandbox: PostHogSandbox, vendor: PostHogVendor) -> None:
    with pytest.raises(NotFoundError, match=r"nobody@corp\.com is not a member of Corp"):
        run(vendor, StepKind.CHANGE_ROLE, "nobody@corp.com", role="admin")
    assert sandbox.requests("PATCH") == []


# -- remove from project --------------------------------------------------------------------------------
def test_remove_from_an_open_project_once(sandbox: PostHogSandbox, vendor: PostHogVendor) -> None:
    [step] = plan_change(vendor, BOB, ProjectRemoval({str(PRODUCTION_ID): "Production"}))
    assert (step.kind, step.manual) == ("remove_from_project", False)
    first, second = vendor.execute(step), vendor.execute(step)
    assert first.details == {"project_id": str(PRODUCTION_ID), "project_name": "Production", "from_level": "member",
                             "to_level": "none", "changed": True}
    assert first.summary == "Removed bob@corp.com from Production (was member); they stay in Corp"
    assert second.details["changed"] is False and "already cannot open Production" in second.summary
    seat = sandbox.seat(BOB)
    assert seat is not None and seat.role == Role.MEMBER and seat.project_ids == {str(STAGING_ID)}
    assert sandbox.writes_about(BOB) == 1


def test_remove_from_a_private_project(sandbox: PostHogSandbox, vendor: PostHogVendor) -> None:
    run(vendor, StepKind.REMOVE_FROM_PROJECT, GRACE, project_id=str(FINANCE_ID), project_name="Finance")
    seat = sandbox.seat(GRACE)
    assert seat is not None and seat.project_ids == {str(PRODUCTION_ID), str(STAGING_ID)}


def test_an_admin_sees_every_project_so_is_not_removed_from_one(sandbox: PostHogSandbox,
                                                                vendor: PostHogVendor) -> None:
    with pytest.raises(ConflictError, match="Lower them to member first") as caught:
        run(vendor, StepKind.REMOVE_FROM_PROJECT, ALICE, project_id=str(FINANCE_ID), project_name="Finance")
    assert "open every project" in caught.value.message
    assert sandbox.seat(ALICE).project_ids == EVERY_PROJECT and sandbox.writes_about(ALICE) == 0  # type: ignore[union-attr]


def test_removing_a_non_member_from_a_project_is_nothing_to_do(sandbox: PostHogSandbox,
                                                               vendor: PostHogVendor) -> None:
    outcome = run(vendor, StepKind.REMOVE_FROM_PROJECT, "nobody@corp.com", project_id=str(PRODUCTION_ID),
                  project_name="Production")
    assert outcome.summary == "nobody@corp.com is not a member of Corp; nothing to remove from Production"
    assert outcome.details["changed"] is False and sandbox.requests("PUT") == []


def test_removing_from_a_project_that_is_not_there(vendor: PostHogVendor) -> None:
    with pytest.raises(NotFoundError, match="no project Marketing"):
        run(vendor, StepKind.REMOVE_FROM_PROJECT, BOB, project_id="4242", project_name="Marketing")


# -- invite and cancel ------------------------------------------------------------------------------------
def test_invite_once(sandbox: PostHogSandbox, vendor: PostHogVendor) -> None:
    email = "new.hire@corp.com"
    [step] = plan_change(vendor, email, Invitation(Role.ADMIN, (str(FINANCE_ID),), "Welcome aboard"))
    first, second = vendor.execute(step), vendor.execute(step)
    [invite] = sandbox.invites_for(email)
    assert first.details == {"status": "invited", "invite_id": invite.id, "role": "admin"}
    assert (invite.level, invite.message, invite.private_project_access) == (
        ADMIN, "Welcome aboard", [{"id": FINANCE_ID, "level": "member"}])
    assert second.details == {"status": "already_invited", "invite_id": invite.id, "role": "admin"}
    assert "not sent again" in second.summary
    seat = sandbox.seat(email)
    assert seat is not None and seat.pending and seat.role == Role.ADMIN and seat.project_ids == {str(FINANCE_ID)}
    assert sandbox.writes_about(email) == 1


def test_a_lost_invitation_post_is_not_repeated_until_the_step_is_rerun(sandbox: PostHogSandbox,
                                                                     vendor: PostHogVendor) -> None:
    sandbox.inject(Fault("drop", method="POST", path_pattern="/invites/", times=1))
    with pytest.raises(UnavailableError):
        run(vendor, StepKind.INVITE, "new@corp.com", role="member", projects=[])
    assert len(sandbox.requests("POST")) == 1  # VendorHTTP does not resend a POST that may have arrived
    outcome = run(vendor, StepKind.INVITE, "new@corp.com", role="member", projects=[])
    assert outcome.details["status"] == "invited" and len(sandbox.invites_for("new@corp.com")) == 1
    assert sandbox.writes_about("new@corp.com") == 1  # the dropped call never reached PostHog


def test_inviting_a_member_sends_nothing(sandbox: PostHogSandbox, vendor: PostHogVendor) -> None:
    outcome = run(vendor, StepKind.INVITE, BOB, role="admin", projects=[])
    assert outcome.details == {"status": "already_member", "invite_id": None, "role": "member"}
    assert sandbox.requests("POST") == [] and sandbox.writes_about(BOB) == 0


def test_an_invitation_for_another_role_is_reported_not_replaced(sandbox: PostHogSandbox,
                                                                 vendor: PostHogVendor) -> None:
    invite = sandbox.add_invite("contractor2@agency.example", level=MEMBER)
    outcome = run(vendor, StepKind.INVITE, "contractor2@agency.example", role="admin", projects=[])
    assert outcome.details == {"status": "already_invited", "invite_id": invite.id, "role": "member"}
    assert "it is for member, not admin" in outcome.summary and sandbox.requests("POST") == []


def test_an_expired_invitation_is_sent_again(sandbox: PostHogSandbox, vendor: PostHogVendor) -> None:
    stale = sandbox.add_invite("late@corp.com", age=timedelta(days=5))
    outcome = run(vendor, StepKind.INVITE, "late@corp.com", role="member", projects=[])
    assert outcome.details["status"] == "invited" and outcome.details["invite_id"] != stale.id
    assert [i.id for i in sandbox.invites_for("late@corp.com")] == [outcome.details["invite_id"]]


def test_posthog_refusing_an_invitation_is_reported_in_its_words(sandbox: PostHogSandbox) -> None:
    as_admin = PostHogVendor(sandbox.issue_key(ALICE), sandbox.url, page_size=50, policy=policy())
    with pytest.raises(VendorError) as caught:
        run(as_admin, StepKind.INVITE, "boss@corp.com", role="owner", projects=[])
    assert caught.value.status == 403
    assert "You cannot invite a user with a higher permission level than your own." in caught.value.message
    assert "Only an owner can invite an owner" in caught.value.message
    assert sandbox.seat("boss@corp.com") is None


def test_an_invitation_to_an_unknown_project_is_refused(sandbox: PostHogSandbox, vendor: PostHogVendor) -> None:
    with pytest.raises(VendorError) as caught:
        run(vendor, StepKind.INVITE, "new@corp.com", role="member", projects=["4242"])
    assert caught.value.status == 400 and "Project does not exist on this organization" in caught.value.message
    assert sandbox.seat("new@corp.com") is None and sandbox.writes_about("new@corp.com") == 1


def test_read_only_invitations_are_not_posthogs(sandbox: PostHogSandbox, vendor: PostHogVendor) -> None:
    with pytest.raises(UnsupportedError):
        run(vendor, StepKind.INVITE, "new@corp.com", role="read-only", projects=[])
    assert sandbox.requests("POST") == []


def test_cancel_an_invitation_once(sandbox: PostHogSandbox, vendor: PostHogVendor) -> None:
    email = "contractor@agency.example"  # the seeded pending invitation
    invite_id = sandbox.invites_for(email)[0].id
    [step] = plan_change(vendor, email, InviteCancellation())
    first, second = vendor.execute(step), vendor.execute(step)
    assert first.details == {"cancelled": [invite_id], "changed": True}
    assert second.details == {"cancelled": [], "changed": False}
    assert "no pending invitation" in second.summary
    assert sandbox.seat(email) is None and sandbox.writes_about(email) == 1
    assert len(sandbox.requests("DELETE", "/invites/")) == 1


def test_cancelling_what_was_never_sent_makes_no_call(sandbox: PostHogSandbox, vendor: PostHogVendor) -> None:
    outcome = run(vendor, StepKind.CANCEL_INVITE, BOB)
    assert outcome.summary == "bob@corp.com has no pending invitation to Corp; nothing to cancel"
    assert sandbox.requests("DELETE") == []


def test_invite_then_cancel_round_trip(sandbox: PostHogSandbox, vendor: PostHogVendor) -> None:
    run(vendor, StepKind.INVITE, "temp@corp.com", role="member", projects=[])
    assert sandbox.seat("temp@corp.com") is not None
    run(vendor, StepKind.CANCEL_INVITE, "temp@corp.com")
    assert sandbox.seat("temp@corp.com") is None and sandbox.writes_about("temp@corp.com") == 2


# -- manual steps -----------------------------------------------------------------------------------
def test_every_capability_has_a_manual_step_with_its_own_key(vendor: PostHogVendor) -> None:
    steps = [manual_step(capability, BOB, {}) for capability in Capability]
    assert all(s.manual and s.kind == "manual" and s.title and s.params["email"] == BOB for s in steps)
    assert all(BOB in s.instructions for s in steps if s.key != "posthog_list_members")
    assert [s.key for s in steps] == [f"posthog_{c.value}" for c in Capability]
    assert all("Settings" in s.instructions or "Dashboards" in s.instructions for s in steps)
    assert vendor.manual_step(Capability.REMOVE_MEMBER, BOB, {}) == manual_step(Capability.REMOVE_MEMBER, BOB, {})


def test_manual_steps_use_the_details(vendor: PostHogVendor) -> None:
    project = manual_step(Capability.REMOVE_FROM_PROJECT, BOB, {"project_id": "1003", "project_name": "Finance"})
    assert project.key == "posthog_remove_from_project_1003"
    assert "switch to Finance" in project.instructions and "Settings → Project → Access control" in project.instructions
    handover = manual_step(Capability.HANDOVER_ASSETS, ALICE, {"new_owner_email": BOB})
    assert handover.title == "Hand over alice@corp.com's PostHog work to bob@corp.com"
    assert "the colleague taking over" in manual_step(Capability.HANDOVER_ASSETS, ALICE, {}).instructions
    find = manual_step(Capability.FIND_MEMBER, BOB, {"reason": "PostHog is set up as manual-only"})
    assert find.title == "Check whether they are in PostHog" and "manual-only" in find.instructions
    removal = manual_step(Capability.REMOVE_MEMBER, BOB, {})
    assert "Settings → Organization → Members" in removal.instructions and "Remove member" in removal.instructions
    invite = manual_step(Capability.INVITE, BOB, {"role": "admin", "projects": ["1003"]})
    assert "Invite team member" in invite.instructions and "level Admin" in invite.instructions


def test_the_read_only_manual_step_says_what_to_do_instead() -> None:
    step = manual_step(Capability.CHANGE_ROLE, BOB, {"role": "read-only", "after_invite": True})
    assert "PostHog has no read-only organization role" in step.instructions
    assert "set their level to Member" in step.instructions and "Access control" in step.instructions
    assert "Only those invited to this dashboard can edit" in step.instructions
    assert step.instructions.startswith("PostHog has no read-only") and "Once bob@corp.com has accepted" in (
        step.instructions)
    plain = manual_step(Capability.CHANGE_ROLE, BOB, {"role": "admin"})
    assert "change their level to Admin" in plain.instructions and plain.title == "Make bob@corp.com admin in PostHog"


def test_posthog_as_a_manual_only_vendor(sandbox: PostHogSandbox) -> None:
    manual = ManualVendor("posthog", "PostHog", manual_step)
    assessment = manual.assess(BOB)
    assert assessment.status == AssessmentStatus.UNKNOWN
    plan = manual.plan_removal(assessment, ALICE)
    assert [s.key for s in plan] == ["posthog_find_member", "posthog_handover_assets", "posthog_remove_member",
                                     "posthog_verify_removal"]
    assert "manual-only" in plan[0].instructions and ALICE in plan[1].instructions
    assert sandbox.requests() == []  # nobody called PostHog
