"""Pending invitations end to end: `/onboard pending` with Resend and Cancel, acceptance, the
inviter's reminder after N days, the flag before PostHog's invitations lapse, and the access end date, with
time travel (time-machine). Real sandboxes, the Slack stand-in, signed requests, a SQLite file."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from bot.demo.localrun import APPROVALS_CHANNEL, APPROVER, COMMAND_CHANNEL, GROUP_APPROVER, OUTSIDER, LocalWorld
from bot.demo.standin.slack_api import SlackUser
from bot.offboarding.slack import blocks
from bot.offboarding.values import Reason
from bot.onboarding.slack import blocks as onboard_blocks
from storage.models import InviteSend, InviteState, InviteStep, OffboardRequest, RequestStatus, StepStatus
from tests.e2e.conftest import ephemerals_to, eventually
from tests.e2e.onboard_world import (
    audit_events,
    card,
    click,
    dms,
    latest_batch,
    onboard,
    pending_list,
    send_of,
    settled,
    start,
    text_of,
    tick_at,
)
from vendors.sandbox.amplitude import AmplitudeSandbox


@pytest.fixture
def world(database_url: str) -> Iterator[LocalWorld]:
    yield from start(database_url, ("posthog", "amplitude", "mixpanel"))


def amplitude(world: LocalWorld) -> AmplitudeSandbox:
    sandbox = world.sandboxes["amplitude"]
    assert isinstance(sandbox, AmplitudeSandbox)
    return sandbox


def invite(world: LocalWorld, text: str, user: str = APPROVER) -> int:
    assert "going out now" in onboard(world, text, user)
    batch = latest_batch(world)
    settled(world, batch)
    return batch


def answer_to_click(world: LocalWorld, message: dict, action_id: str, user: str, value: str) -> str:
    key = click(world, message, action_id, user, value, channel=COMMAND_CHANNEL)
    return text_of(eventually(lambda: world.slack.responses(key), what="the answer to the click")[0])


def test_pending_lists_invitations_and_resend_and_cancel_act_once_each(world: LocalWorld) -> None:
    batch = invite(world, "newbie@corp.com member vendors=posthog,amplitude,mixpanel")
    posthog_send = send_of(world, batch, "posthog")
    amplitude_send = send_of(world, batch, "amplitude")
    listed = pending_list(world, APPROVER)
    text = text_of(listed)
    assert "Pending invitations (2)" in text and "newbie@corp.com" in text and "PostHog" in text
    assert "Mixpanel" not in text  # Mixpanel's SCIM created the account: nothing is pending there
    assert "None of your invitations is pending" in text_of(pending_list(world, OUTSIDER))

    (first,) = world.posthog.invites_for("newbie@corp.com")
    answer = answer_to_click(world, listed, onboard_blocks.RESEND, APPROVER, str(posthog_send.id))
    assert "Resending newbie@corp.com's PostHog invitation" in answer
    eventually(lambda: send_of(world, batch, "posthog").resends == 1, what="the resend")
    (second,) = world.posthog.invites_for("newbie@corp.com")
    assert second.id != first.id and world.posthog.writes_about("newbie@corp.com") == 3  # POST, DELETE, POST
    assert send_of(world, batch, "posthog").status == InviteState.INVITED

    # Amplitude's SCIM cannot resend without risking a member: a person does it, and ticks it on the card
    answer = answer_to_click(world, listed, onboard_blocks.RESEND, APPROVER, str(amplitude_send.id))
    assert "cannot do this through its API" in answer and "Members &amp; Groups" in answer  # escaped for mrkdwn
    assert amplitude(world).writes_about("newbie@corp.com") == 1
    shown = eventually(lambda: _with_confirm(card(world, batch)), what="the resend step on the card")
    click(world, shown, onboard_blocks.CONFIRM, APPROVER)
    eventually(lambda: send_of(world, batch, "amplitude").resends == 1, what="the resend confirmed")

    answer = answer_to_click(world, listed, onboard_blocks.CANCEL_INVITE, APPROVER, str(posthog_send.id))
    assert "Cancelling" in answer
    eventually(lambda: send_of(world, batch, "posthog").status == InviteState.CANCELLED, what="the cancel")
    assert world.posthog.invites_for("newbie@corp.com") == [] and world.posthog.writes_about("newbie@corp.com") == 4
    # offboard sent the Amplitude invitation, so it may cancel it (SCIM cannot tell invitees from members)
    answer_to_click(world, listed, onboard_blocks.CANCEL_INVITE, APPROVER, str(amplitude_send.id))
    eventually(lambda: send_of(world, batch, "amplitude").status == InviteState.CANCELLED, what="Amplitude's cancel")
    assert amplitude(world).user("newbie@corp.com") is None

    again = answer_to_click(world, listed, onboard_blocks.CANCEL_INVITE, APPROVER, str(posthog_send.id))
    assert "nothing to cancel" in again and world.posthog.writes_about("newbie@corp.com") == 4
    refused = answer_to_click(world, listed, onboard_blocks.RESEND, OUTSIDER, str(posthog_send.id))
    assert "Only the inviter" in refused
    assert "No invitation is pending" in text_of(pending_list(world, APPROVER))
    actions = [e.action for e in audit_events(world)]
    for expected in ("invitation_resend_requested", "invitation_resent", "invitation_cancel_requested",
                     "invitation_cancelled"):
        assert expected in actions, expected
    cancelled = [e for e in audit_events(world, "invitation_cancel_requested")]
    assert {e.actor for e in cancelled} == {APPROVER}


def _with_confirm(message: dict) -> dict | None:
    return message if onboard_blocks.CONFIRM in text_of(message) else None


def test_acceptance_is_recorded_where_the_tool_shows_it(world: LocalWorld) -> None:
    batch = invite(world, "joiner@corp.com member vendors=posthog,amplitude")
    world.posthog.add_member("joiner@corp.com")  # they accepted PostHog's invitation
    now = datetime.now(UTC)
    tick_at(world, now + timedelta(minutes=5))
    assert send_of(world, batch, "posthog").status == InviteState.ACCEPTED
    assert send_of(world, batch, "amplitude").status == InviteState.INVITED  # SCIM cannot show it
    eventually(lambda: ":white_check_mark: joined" in text_of(card(world, batch)), what="the card to show it")
    tick_at(world, now + timedelta(hours=2))
    (accepted,) = audit_events(world, "invitation_accepted")
    assert accepted.details["vendor"] == "posthog" and accepted.details["email"] == "joiner@corp.com"


def test_the_inviter_is_reminded_once_after_a_week_and_warned_before_posthog_invitations_lapse(
        world: LocalWorld) -> None:
    batch = invite(world, "slow@corp.com member vendors=posthog,amplitude")
    sent = send_of(world, batch, "posthog").sent_at
    assert sent is not None

    tick_at(world, sent + timedelta(days=1, hours=23))
    assert not [m for m in dms(world, APPROVER) if "about to expire" in m]
    tick_at(world, sent + timedelta(days=2, minutes=1))  # PostHog's lapse in 3 days; the warning a day before
    tick_at(world, sent + timedelta(days=2, minutes=2))
    warnings = [m for m in dms(world, APPROVER) if "about to expire" in m]
    assert len(warnings) == 1 and "PostHog" in warnings[0] and "Amplitude" not in warnings[0]
    eventually(lambda: ":warning: expires" in text_of(card(world, batch)), what="the card to flag it")

    tick_at(world, sent + timedelta(days=6, hours=23))
    assert not [m for m in dms(world, APPROVER) if "still pending after 7 days" in m]
    tick_at(world, sent + timedelta(days=7, minutes=1))
    tick_at(world, sent + timedelta(days=8))
    reminders = [m for m in world.slack.messages(world.slack.dm_channel(APPROVER))
                 if "still pending after 7 days" in text_of(m)]
    assert len(reminders) == 1
    assert "PostHog" in text_of(reminders[0]) and "Amplitude" in text_of(reminders[0])
    assert len(audit_events(world, "invitation_reminder_sent")) == 2  # one per invitation, in one message
    assert len(audit_events(world, "invitation_expiry_flagged")) == 1

    # the reminder's own Resend button works
    value = str(send_of(world, batch, "posthog").id)
    key = click(world, reminders[0], onboard_blocks.RESEND, APPROVER, value,
                channel=world.slack.dm_channel(APPROVER))
    eventually(lambda: world.slack.responses(key), what="the answer to Resend")
    eventually(lambda: send_of(world, batch, "posthog").resends == 1, what="the resend")
    assert send_of(world, batch, "posthog").reminded_at is None  # a fresh invitation gets its own reminder


def test_the_access_end_date_reminds_the_day_before_and_asks_for_removal_on_the_day(world: LocalWorld) -> None:
    world.slack.add_user(SlackUser("UTINA", "tina", "Tina Temp", "tina@corp.com"))
    ends = (datetime.now(UTC) + timedelta(days=10)).date()
    assert "going out now" in onboard(world, f"tina@corp.com tom@corp.com member vendors=posthog,amplitude "
                                             f"until={ends.isoformat()}", APPROVER)
    batch = latest_batch(world)
    settled(world, batch)
    world.posthog.add_member("tina@corp.com")  # Tina joins PostHog; Tom never accepts
    day_before = datetime(ends.year, ends.month, ends.day, 9, tzinfo=UTC) - timedelta(days=1)

    tick_at(world, day_before - timedelta(minutes=1))
    assert audit_events(world, "access_end_reminder_sent") == []
    tick_at(world, day_before)
    tick_at(world, day_before + timedelta(minutes=1))
    inviter_notes = [m for m in dms(world, APPROVER) if "ends tomorrow" in m]
    assert len(inviter_notes) == 2  # one per person
    (tina_note,) = dms(world, "UTINA")
    assert "Your access to PostHog, Amplitude ends tomorrow" in tina_note and ends.isoformat() in tina_note
    assert len(audit_events(world, "access_end_reminder_sent")) == 2

    tick_at(world, day_before + timedelta(days=1))
    tick_at(world, day_before + timedelta(days=1, minutes=1))
    with world.bot.db.session() as session:
        requests = {r.subject_email: r for r in session.exec(select(OffboardRequest)).all()}
    assert set(requests) == {"tina@corp.com", "tom@corp.com"}
    tina = requests["tina@corp.com"]
    assert tina.reason == Reason.CONTRACT_END and tina.requester_id == APPROVER
    assert tina.vendors == ["posthog", "amplitude"] and tina.subject_slack_id == "UTINA"
    assert len(audit_events(world, "access_end_request_created")) == 2
    # Tom's PostHog invitation, never accepted, is cancelled; Amplitude's is left (SCIM cannot tell)
    eventually(lambda: world.posthog.invites_for("tom@corp.com") == [], what="Tom's invitation cancelled")
    assert send_of(world, batch, "amplitude", "tom@corp.com").status == InviteState.INVITED
    assert [m for m in dms(world, APPROVER) if "access end date is today" in m]

    tina_id = tina.id
    assert tina_id is not None
    eventually(lambda: _status(world, tina_id) == RequestStatus.PENDING_APPROVAL, what="the request's assessment")
    # The card is re-rendered after the status changes: wait until it asks for approval.
    request_card = eventually(lambda: (card := _request_card(world, tina_id)) and blocks.APPROVE in text_of(card)
                              and card, what="the offboarding card asking for approval")
    assert "Contract end" in text_of(request_card)
    click(world, request_card, blocks.APPROVE, APPROVER)  # the inviter asked for it: someone else decides
    eventually(lambda: any("someone else must decide" in t for t in ephemerals_to(world, APPROVER)),
               what="the inviter's own approval refused")
    assert _status(world, tina_id) == RequestStatus.PENDING_APPROVAL
    click(world, request_card, blocks.APPROVE, GROUP_APPROVER)
    eventually(lambda: world.posthog.member_by_email("tina@corp.com") is None, what="Tina's removal from PostHog")


def _status(world: LocalWorld, request_id: int) -> str:
    snapshot = world.bot.workflow.snapshot(request_id)
    assert snapshot is not None
    return snapshot.status


def _request_card(world: LocalWorld, request_id: int) -> dict | None:
    snapshot = world.bot.workflow.snapshot(request_id)
    ts = snapshot.request.card_ts if snapshot else None
    return world.slack.message(APPROVALS_CHANNEL, ts) if ts else None


def test_a_send_cut_off_mid_call_resumes_after_a_restart_without_inviting_twice(database_url: str) -> None:
    world = LocalWorld.start(database_url, vendors=("posthog",), background=True)
    try:
        batch = invite(world, "newbie@corp.com member")
        assert world.posthog.writes_about("newbie@corp.com") == 1
        # The process died after PostHog took the POST, before the outcome was stored.
        with world.bot.db.session() as session:
            send = session.exec(select(InviteSend).where(InviteSend.batch_id == batch)).one()
            step = session.exec(select(InviteStep).where(InviteStep.send_id == send.id)).one()
            send.status, send.summary, step.status, step.outcome = InviteState.SENDING, "", StepStatus.RUNNING, ""
            session.add_all([send, step])
        world.restart_bot()
        eventually(lambda: send_of(world, batch, "posthog").status == InviteState.ALREADY_INVITED,
                   what="the resumed send to settle")
        assert world.posthog.writes_about("newbie@corp.com") == 1  # looked up again, not sent again
        assert len(world.posthog.invites_for("newbie@corp.com")) == 1
        assert len(audit_events(world, "invite_step_interrupted")) == 1
    finally:
        world.stop()
