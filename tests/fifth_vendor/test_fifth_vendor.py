"""A fifth vendor, Lumen, added with no change to the bot: its connector, its sandbox and its registry entry
(all in tests/fifth_vendor/), registered for these tests only. Through Slack it is offboarded (assess, approve,
remove, verify), invited and seen accepting, swept for inactivity and reviewed, by the real bot on a real
database; and each fact its entry declares is what the bot then says."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from bot.demo.localrun import APPROVER, GROUP_APPROVER, SIGNING_SECRET, LocalWorld, local_settings
from bot.demo.standin.driver import SlackDriver
from bot.demo.standin.slack_api import SlackStandIn
from bot.offboarding import modes
from bot.offboarding.slack import blocks
from bot.onboarding.due import OnboardingDue
from bot.reviews.inactivity import SweepPolicy, judge_vendor
from bot.reviews.review import review_vendor
from bot.runtime.app import create_bot, vendors_from_settings
from bot.runtime.config import Settings, SettingsProblems, load_settings
from storage.models import InviteState, RequestStatus, StepStatus, utcnow
from tests.e2e.conftest import card_text, click, complete_checklist, eventually, open_request, the_card
from tests.e2e.onboard_world import latest_batch, onboard, onboarding, send_of, settled
from tests.e2e.scheduled_world import ADMIN_CHANNEL, work
from tests.fifth_vendor.connector import LumenVendor
from tests.fifth_vendor.facts import CANNOT_COME_BACK, EXPORT_HINT, FOLLOW_UP, INVITE_LIFETIME, lumen_facts
from tests.fifth_vendor.sandbox import INVITED, SANDBOX_API_KEY, LumenSandbox
from vendors import registry
from vendors.base import Assessment, AssessmentStatus, Member, Role, StepKind
from vendors.manual import ManualVendor


@pytest.fixture
def lumen() -> Iterator[LumenSandbox]:
    """Lumen's sandbox, and its entry in the vendor registry for as long as the test runs."""
    sandbox = LumenSandbox(seeded=False)  # only the people each test adds
    sandbox.start()
    unregister = registry.register(lumen_facts(sandbox.url, SANDBOX_API_KEY))
    try:
        yield sandbox
    finally:
        unregister()
        sandbox.stop()


@pytest.fixture
def world(database_url: str, lumen: LumenSandbox) -> Iterator[LocalWorld]:
    """The real bot in HTTP mode with the Slack stand-in; its vendors are what the settings and the registry
    build (no connector handed in), and its settings name Lumen (a 60-day inactivity threshold for it)."""
    slack = SlackStandIn()
    slack.start()
    settings = local_settings(database_url, slack, {"admin_channel": ADMIN_CHANNEL,
                                                    "inactive_days_per_vendor": {"lumen": 60}})
    bot = create_bot(settings)
    http = bot.start_http()
    local = LocalWorld(database_url, slack, {}, bot, http, SlackDriver(http.url, SIGNING_SECRET, slack),
                       vendors=("lumen",))
    try:
        yield local
    finally:
        local.stop()


def test_the_bot_builds_lumen_from_its_registry_entry_alone(world: LocalWorld) -> None:
    assert {name: type(v) for name, v in world.bot.workflow.vendors.items()} == {"lumen": LumenVendor}


def test_lumen_is_offboarded_through_slack_assessed_approved_removed_and_verified(
    world: LocalWorld, lumen: LumenSandbox,
) -> None:
    lumen.add_member("ana@corp.com", role="admin", last_seen_at=utcnow() - timedelta(days=1))

    request_id = open_request(world, "ana@corp.com")
    snapshot = world.bot.workflow.snapshot(request_id)
    assert snapshot is not None and snapshot.assessments["lumen"].status == AssessmentStatus.MEMBER
    assert "Lumen" in card_text(the_card(world))
    assert lumen.member("ana@corp.com") is not None  # nothing happens before the approval

    click(world, blocks.APPROVE, APPROVER)
    complete_checklist(world, request_id)

    assert lumen.member("ana@corp.com") is None
    assert [c.status for c in lumen.calls("DELETE", r"^/api/members/")] == [204]
    snapshot = world.bot.workflow.snapshot(request_id)
    assert snapshot is not None and snapshot.status == RequestStatus.COMPLETED
    assert [(s.kind, s.status, s.done_by) for s in snapshot.steps if s.vendor == "lumen"] == [
        (StepKind.REMOVE_MEMBER, StepStatus.DONE, None),
        (StepKind.VERIFY_REMOVED, StepStatus.DONE, None),
        (StepKind.MANUAL, StepStatus.DONE, GROUP_APPROVER)]  # the boards, handed over by a person


def test_a_lumen_invitation_goes_out_lapses_by_its_entry_and_is_seen_accepted(
    world: LocalWorld, lumen: LumenSandbox,
) -> None:
    onboard(world, "newbie@corp.com member vendors=lumen", APPROVER)
    batch_id = latest_batch(world)
    send = settled(world, batch_id)[("newbie@corp.com", "lumen")]
    assert send.status == InviteState.INVITED
    invited = lumen.member("newbie@corp.com")
    assert invited is not None and invited.status == INVITED and invited.role == "member"
    assert send.sent_at is not None
    assert onboarding(world).expires_at(send) == send.sent_at + INVITE_LIFETIME  # its entry's lifetime

    due = OnboardingDue(onboarding(world))
    assert due.check_acceptance(utcnow()) == []  # still only invited: Lumen's list marks it pending
    lumen.accept("newbie@corp.com")
    assert due.check_acceptance(utcnow()) == [send.id]
    assert send_of(world, batch_id, "lumen").status == InviteState.ACCEPTED


def test_a_sweep_judges_lumen_by_its_own_threshold_and_leaves_its_invitees_out(
    world: LocalWorld, lumen: LumenSandbox,
) -> None:
    now = utcnow()
    long_ago = now - timedelta(days=400)
    lumen.add_member("stale@corp.com", last_seen_at=now - timedelta(days=75), joined_at=long_ago)  # > 60, < 90
    lumen.add_member("never@corp.com", joined_at=long_ago)
    lumen.add_member("active@corp.com", last_seen_at=now - timedelta(days=5), joined_at=long_ago)
    lumen.add_member("asked@corp.com", status=INVITED, joined_at=long_ago)

    sweep_id = work(world).sweeps.run("schedule")

    assert {f.email for f in work(world).sweeps.findings(sweep_id)} == {"stale@corp.com", "never@corp.com"}
    card = card_text(world.slack.messages(ADMIN_CHANNEL)[0])
    assert "1 pending invitation" in card and "4 seats checked" in card


def test_the_access_review_reports_lumen_with_its_own_threshold_and_counts_its_invitations(
    world: LocalWorld, lumen: LumenSandbox,
) -> None:
    now = utcnow()
    lumen.add_member("ana@corp.com", role="admin", last_seen_at=now - timedelta(days=2))
    lumen.add_member("bo@corp.com", last_seen_at=now - timedelta(days=75), joined_at=now - timedelta(days=400))
    lumen.add_member("asked@corp.com", status=INVITED)

    assert world.driver.slash_command("/offboard", "review", user_id=APPROVER).status_code == 200
    reports = eventually(lambda: [m for m in world.slack.messages(ADMIN_CHANNEL) if "Access review" in m["text"]],
                         timeout=30, what="the access review")
    text = card_text(reports[0])
    for line in ("*Lumen*: 2 members", "Admins (1): ana@corp.com", "Inactive 60+ days: 1",
                 "Pending invitations: 1"):  # its member stream marks invitees, so they are counted, not noted
        assert line in text, line


def _assessment(email: str) -> Assessment:
    member = Member(email=email, member_id="lm_9", name="Ana", role=Role.MEMBER, vendor_role="member")
    return Assessment("lumen", AssessmentStatus.MEMBER, member=member, email=email)


def test_what_the_bot_says_of_lumen_comes_from_its_entry(lumen: LumenSandbox) -> None:
    connector = lumen.connector()
    try:
        rotate, review = modes.follow_up_steps(connector, _assessment("ana@corp.com"))
    finally:
        connector.close()
    assert rotate.title == f"Rotate the {FOLLOW_UP.credential}s they could see"
    assert FOLLOW_UP.rotate in rotate.instructions
    assert FOLLOW_UP.audit.format(email="ana@corp.com", member_uuid="lm_9") in review.instructions

    lost = modes.cannot_come_back(["lumen"])
    assert lost[:len(CANNOT_COME_BACK)] == list(CANNOT_COME_BACK)
    assert "Lumen's invitations expire after 2 days" in lost[-1] and "PostHog's invitations expire" in lost[-1]

    # Worked by hand (OFFBOARD_MANUAL_VENDORS=lumen): the registry's label and the connector module's click paths.
    by_hand = vendors_from_settings(Settings(_env_file=None, manual_vendors=["lumen"]))
    manual = by_hand["lumen"]
    assert isinstance(manual, ManualVendor) and manual.label == "Lumen"
    assert "Lumen → Settings → Team" in manual.plan_removal(_assessment("ana@corp.com"), None)[0].instructions
    swept = judge_vendor(manual, SweepPolicy(), set(), utcnow())
    assert swept.unjudged and swept.hint == EXPORT_HINT
    assert review_vendor(manual, None, utcnow(), 90).listed is False


def test_settings_may_name_a_vendor_only_while_it_is_registered() -> None:
    named: dict[str, Any] = {"inactive_days_per_vendor": {"lumen": 30}, "idp_groups": {"lumen": "Lumen users"}}
    with pytest.raises(SettingsProblems, match="unknown vendor"):
        load_settings(_env_file=None, **named)
    assert any(p.startswith("No vendor is configured") for p in Settings(_env_file=None).problems())

    unregister = registry.register(lumen_facts("http://127.0.0.1:9", SANDBOX_API_KEY))  # never called
    try:
        assert load_settings(_env_file=None, **named).inactive_days_per_vendor == {"lumen": 30}
        assert not any(p.startswith("No vendor is configured") for p in Settings(_env_file=None).problems())
        with pytest.raises(ValueError, match="registered already"):
            registry.register(lumen_facts("http://127.0.0.1:9", SANDBOX_API_KEY))
    finally:
        unregister()
    assert "lumen" not in registry.names()
