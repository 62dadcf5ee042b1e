"""/onboard end to end: real signed Slack requests into the bot, the vendor sandboxes over real HTTP,
the Slack stand-in, a real SQLite file. Invitations that need no approval, approvals and their refusals, the
personal-domain policy, the tools' refusals in plain words, the form."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlmodel import select

from bot.demo.localrun import (
    APPROVALS_CHANNEL,
    APPROVER,
    COMMAND_CHANNEL,
    GROUP_APPROVER,
    OUTSIDER,
    REQUESTER,
    LocalWorld,
)
from bot.onboarding.slack import blocks as onboard_blocks
from storage.models import Invitation, InviteState
from tests.e2e.conftest import action_ids, ephemerals_to, eventually
from tests.e2e.onboard_world import (
    audit_events,
    card,
    click,
    dms,
    latest_batch,
    onboard,
    send_of,
    settled,
    start,
    text_of,
)
from tests.e2e.onboard_world import (
    onboarding as onboarding_of,
)
from vendors.sandbox.amplitude import AmplitudeSandbox
from vendors.sandbox.mixpanel import MixpanelSandbox
from vendors.sandbox.posthog import ADMIN, MEMBER, PRODUCTION_ID


@pytest.fixture
def world(database_url: str) -> Iterator[LocalWorld]:
    yield from start(database_url)


def amplitude(world: LocalWorld) -> AmplitudeSandbox:
    sandbox = world.sandboxes["amplitude"]
    assert isinstance(sandbox, AmplitudeSandbox)
    return sandbox


def mixpanel(world: LocalWorld) -> MixpanelSandbox:
    sandbox = world.sandboxes["mixpanel"]
    assert isinstance(sandbox, MixpanelSandbox)
    return sandbox


def confirm_value(message: dict, text: str) -> str:
    """The Mark done button of the manual step whose text contains `text`."""
    for block in message["blocks"]:
        accessory = block.get("accessory") or {}
        if accessory.get("action_id") == onboard_blocks.CONFIRM and text in block["text"]["text"]:
            return str(accessory["value"])
    raise AssertionError(f"no open manual step mentioning {text!r}")


def test_a_member_invitation_by_an_admin_goes_straight_out_to_every_tool(world: LocalWorld) -> None:
    answer = onboard(world, "newbie@corp.com member projects=posthog:1001 message=Welcome aboard!", APPROVER)
    assert "1 invitation going out now" in answer
    batch = latest_batch(world)
    result = settled(world, batch)

    (invite,) = world.posthog.invites_for("newbie@corp.com")
    assert invite.level == MEMBER and invite.message == "Welcome aboard!"
    assert invite.private_project_access == [{"id": 1001, "level": "member"}]
    assert world.posthog.writes_about("newbie@corp.com") == 1  # one POST, nothing else
    seat = amplitude(world).seat("newbie@corp.com")
    assert seat is not None and seat.pending and amplitude(world).writes_about("newbie@corp.com") == 1
    assert mixpanel(world).seat("newbie@corp.com") is not None
    assert {v: s.status for (_, v), s in result.items()} == {
        "posthog": InviteState.INVITED, "amplitude": InviteState.INVITED, "mixpanel": InviteState.CREATED,
        "kissmetrics": InviteState.MANUAL}

    shown = card(world, batch)
    text = text_of(shown)
    assert onboard_blocks.APPROVE not in action_ids(shown)  # no approval asked
    assert "Sent, no approval needed" in text and "projects 1001" in text
    assert "Make them Member in Amplitude" in text  # SCIM invites Viewers: the role is set by hand
    assert "Invite newbie@corp.com to Kissmetrics" in text  # no API: the runbook's clicks
    assert "account created" in text and "cannot show whether they accepted" in text

    click(world, shown, onboard_blocks.CONFIRM, APPROVER, confirm_value(shown, "Kissmetrics"))
    eventually(lambda: send_of(world, batch, "kissmetrics").status == InviteState.INVITED,
               what="the Kissmetrics invitation to be confirmed")
    requested = audit_events(world, "invitation_requested")
    assert len(requested) == 1 and requested[0].actor == APPROVER and requested[0].details["role"] == "member"
    assert {e.details["vendor"] for e in audit_events(world, "invitation_sent")} == {"posthog", "amplitude",
                                                                                      "mixpanel", "kissmetrics"}
    confirmed = audit_events(world, "invite_manual_step_confirmed")
    assert [e.actor for e in confirmed] == [APPROVER]
    outcome = eventually(lambda: dms(world, APPROVER), what="the inviter's outcome DM")
    assert "newbie@corp.com" in outcome[0] and "PostHog" in outcome[0]


def test_an_admin_invitation_waits_for_an_approver_who_is_not_the_inviter(world: LocalWorld) -> None:
    answer = onboard(world, "boss@corp.com admin vendors=posthog", APPROVER)
    assert "waiting for an approver's click" in answer
    batch = latest_batch(world)
    shown = card(world, batch)
    assert onboard_blocks.APPROVE in action_ids(shown)
    assert "Admin and owner invitations need an approver" in text_of(shown)
    assert world.posthog.invites_for("boss@corp.com") == []

    click(world, shown, onboard_blocks.APPROVE, APPROVER)  # the inviter, though an approver
    refusal = eventually(lambda: ephemerals_to(world, APPROVER), what="the refusal")
    assert "someone else must approve them" in refusal[0]
    click(world, shown, onboard_blocks.APPROVE, OUTSIDER)  # not an approver at all
    assert "Only approvers" in eventually(lambda: ephemerals_to(world, OUTSIDER), what="the outsider's refusal")[0]
    assert send_of(world, batch, "posthog").status == InviteState.WAITING
    assert world.posthog.writes_about("boss@corp.com") == 0

    click(world, shown, onboard_blocks.APPROVE, GROUP_APPROVER)
    # The click is acked before it is handled: until then the send still waits, which `settled` would take.
    eventually(lambda: send_of(world, batch, "posthog").status != InviteState.WAITING, what="the approval taken")
    settled(world, batch)
    (invite,) = world.posthog.invites_for("boss@corp.com")
    assert invite.level == ADMIN and world.posthog.writes_about("boss@corp.com") == 1
    eventually(lambda: f"Approved by <@{GROUP_APPROVER}>" in text_of(card(world, batch)), what="the approval shown")
    assert onboard_blocks.APPROVE not in action_ids(card(world, batch))
    refused = audit_events(world, "action_refused")
    assert [(e.actor, e.details["invitation_batch"]) for e in refused] == [(APPROVER, batch), (OUTSIDER, batch)]
    (approved,) = audit_events(world, "invitation_approved")
    assert approved.actor == GROUP_APPROVER

    assert onboarding_of(world).approve(batch, GROUP_APPROVER).message.startswith(f"Invitation #{batch} was already "
                                                                                 "approved")
    assert world.posthog.writes_about("boss@corp.com") == 1  # a second approval sends nothing


def test_a_member_invitation_by_someone_who_is_not_an_onboarding_admin_waits_and_can_be_rejected(
        world: LocalWorld) -> None:
    answer = onboard(world, "helper@corp.com member vendors=posthog", REQUESTER)
    assert "waiting for an approver's click" in answer
    batch = latest_batch(world)
    assert "is not an onboarding admin" in text_of(card(world, batch))

    click(world, card(world, batch), onboard_blocks.REJECT, APPROVER)
    modal = world.slack.wait_for("views.open").params["view"]
    submitted = world.driver.submit_view(modal, {"comment": "Use the shared analyst account"}, user_id=APPROVER)
    assert submitted.status_code == 200
    eventually(lambda: send_of(world, batch, "posthog").status == InviteState.REJECTED, what="the rejection")
    assert world.posthog.writes_about("helper@corp.com") == 0
    eventually(lambda: "Rejected by" in text_of(card(world, batch)), what="the card to show the rejection")
    told = eventually(lambda: dms(world, REQUESTER), what="the inviter hearing of the rejection")
    assert "Use the shared analyst account" in told[0]
    (rejected,) = audit_events(world, "invitation_rejected")
    assert rejected.actor == APPROVER and rejected.details["comment"] == "Use the shared analyst account"


def test_personal_addresses_are_refused_unless_an_onboarding_admin_allows_them(world: LocalWorld) -> None:
    refused = onboard(world, "jane@gmail.com member vendors=posthog", APPROVER)
    assert "personal address (gmail.com)" in refused and "Nothing was sent" in refused
    not_admin = onboard(world, "jane@gmail.com member vendors=posthog allow-personal", REQUESTER)
    assert "Only onboarding admins may allow personal email addresses" in not_admin
    assert world.posthog.writes_about("jane@gmail.com") == 0
    assert world.slack.messages(APPROVALS_CHANNEL) == []  # no card for a refusal
    assert len(audit_events(world, "invitation_refused")) == 2

    allowed = onboard(world, "jane@gmail.com member vendors=posthog allow-personal", APPROVER)
    assert "going out now" in allowed
    batch = latest_batch(world)
    settled(world, batch)
    assert len(world.posthog.invites_for("jane@gmail.com")) == 1
    assert f"allowed by <@{APPROVER}>" in text_of(card(world, batch))
    (override,) = audit_events(world, "personal_domain_allowed")
    assert override.actor == APPROVER and override.details["emails"] == ["jane@gmail.com"]


def test_a_full_seat_plan_and_an_unverified_domain_fail_in_plain_words_and_retry_works(world: LocalWorld) -> None:
    seats = amplitude(world)
    seats.seat_limit = len(seats.users)  # every seat is taken
    onboard(world, "new.analyst@corp.com read-only vendors=amplitude", APPROVER)
    batch = latest_batch(world)
    settled(world, batch)
    failed = send_of(world, batch, "amplitude")
    assert failed.status == InviteState.FAILED and failed.failure_kind == "seat_limit"
    shown = card(world, batch)
    text = text_of(shown)
    assert "Amplitude: seat limit reached." in text and "seats of the organization's plan are in use" in text
    assert seats.user("new.analyst@corp.com") is None

    seats.seat_limit = None  # a seat was bought
    click(world, shown, onboard_blocks.RETRY, APPROVER)
    eventually(lambda: send_of(world, batch, "amplitude").status == InviteState.INVITED, what="the retried invite")
    assert seats.user("new.analyst@corp.com") is not None and seats.writes_about("new.analyst@corp.com") == 2

    onboard(world, "casey@agency.io member vendors=mixpanel", APPROVER)
    other = latest_batch(world)
    settled(world, other)
    refused = send_of(world, other, "mixpanel")
    assert refused.status == InviteState.FAILED and refused.failure_kind == "domain"
    assert "Mixpanel: email domain not allowed." in text_of(card(world, other))
    assert "verified domains" in text_of(card(world, other))
    assert len(audit_events(world, "invitation_failed")) == 2


def test_someone_already_in_a_tool_is_shown_with_their_role_and_not_invited_again(world: LocalWorld) -> None:
    onboard(world, "<@UALICE|alice> member vendors=posthog", APPROVER)  # a mention: her email comes from Slack
    batch = latest_batch(world)
    settled(world, batch)
    assert send_of(world, batch, "posthog").status == InviteState.ALREADY_MEMBER
    assert "already a member (as admin), no invitation sent" in text_of(card(world, batch))
    assert world.posthog.writes_about("alice@corp.com") == 0

    again = onboard(world, "newbie@corp.com member vendors=posthog", APPROVER)
    assert "going out now" in again
    settled(world, latest_batch(world))
    twice = onboard(world, "newbie@corp.com member vendors=posthog", APPROVER)
    assert "already has an open invitation to PostHog" in twice
    assert world.posthog.writes_about("newbie@corp.com") == 1


def test_the_form_opens_prefilled_and_invites_what_it_says(world: LocalWorld) -> None:
    world.driver.slash_command("/onboard", "intern@corp.com until=2099-06-30", user_id=APPROVER,
                               channel_id=COMMAND_CHANNEL)
    view = world.slack.wait_for("views.open").params["view"]
    blocks = {b.get("block_id"): b for b in view["blocks"]}
    assert blocks["emails"]["element"]["initial_value"] == "intern@corp.com"
    assert blocks["end_date"]["element"]["initial_date"] == "2099-06-30"
    # Amplitude's SCIM knows no projects, and Mixpanel's gives no project access: only PostHog asks.
    assert "projects_posthog" in blocks and "projects_amplitude" not in blocks and "projects_mixpanel" not in blocks

    missing = world.driver.submit_view(view, {"vendors": ["posthog"]}, user_id=APPROVER)
    assert "Choose a role" in missing.text  # answered in the form; nothing sent
    submitted = world.driver.submit_view(view, {"role": "read-only", "vendors": ["posthog", "amplitude", "mixpanel"],
                                                "projects_posthog": str(PRODUCTION_ID)}, user_id=APPROVER)
    assert submitted.status_code == 200 and submitted.text in ("", "{}")
    batch = latest_batch(world)
    result = settled(world, batch)
    assert {v for (_, v) in result} == {"posthog", "amplitude", "mixpanel"}
    # Amplitude's SCIM invites Viewers: read-only is exactly what it sends, with no step by hand after it
    assert result[("intern@corp.com", "amplitude")].status == InviteState.INVITED
    assert amplitude(world).seat("intern@corp.com") is not None
    # PostHog and Mixpanel have no read-only organization role: their invitations are the clicks, by hand
    assert result[("intern@corp.com", "posthog")].status == InviteState.MANUAL
    assert result[("intern@corp.com", "mixpanel")].status == InviteState.MANUAL
    assert world.posthog.writes_about("intern@corp.com") == 0 and mixpanel(world).writes_about("intern@corp.com") == 0
    text = text_of(card(world, batch))
    assert "access ends 2099-06-30" in text and "Make them Member in Amplitude" not in text
    with world.bot.db.session() as session:
        (invitation,) = session.exec(select(Invitation)).all()
    assert invitation.access_ends_on is not None and invitation.access_ends_on.isoformat() == "2099-06-30"
    assert invitation.projects == {"posthog": [str(PRODUCTION_ID)]}
