"""Emergency removal through Slack: `/offboard @alice emergency` by a responder removes her from
all four sandboxes at once, without approval; the security channel gets the card with what was removed,
by whom, the clock, and the follow-up checklist; a second person acknowledges; nobody else may start one;
unacknowledged emergencies are reminded (time-machine)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import time_machine
from sqlmodel import select

from bot.demo.localrun import (
    ALL_VENDORS,
    APPROVALS_CHANNEL,
    APPROVER,
    COMMAND_CHANNEL,
    OUTSIDER,
    REQUESTER,
    RESPONDER,
    SECURITY_CHANNEL,
    LocalWorld,
)
from bot.offboarding.slack import blocks, change_blocks
from storage.models import Emergency, OffboardRequest, RequestStatus, StepStatus, utcnow
from tests.e2e.change_support import (
    card_of,
    chain_verifies,
    click_card,
    command,
    events,
    latest_request,
    steps_of,
    tick_all,
    wait_status,
)
from tests.e2e.conftest import action_ids, card_text, ephemerals_to, eventually, seen_text
from vendors.sandbox.amplitude import AmplitudeSandbox


@pytest.fixture
def world(database_url: str) -> Iterator[LocalWorld]:
    local = LocalWorld.start(database_url, vendors=ALL_VENDORS, manual=())
    yield local
    local.stop()


@pytest.fixture
def posthog_world(database_url: str) -> Iterator[LocalWorld]:
    local = LocalWorld.start(database_url, vendors=("posthog",))
    yield local
    local.stop()


def emergency_of(world: LocalWorld, request_id: int) -> Emergency:
    with world.bot.db.session() as session:
        found = session.get(Emergency, request_id)
    assert found is not None
    return found


def removed_everywhere(world: LocalWorld, email: str) -> bool:
    return all(seat is None or not seat.active for seat in (s.seat(email) for s in world.sandboxes.values()))


def test_a_responder_removes_alice_everywhere_at_once_and_a_second_person_acknowledges(world: LocalWorld) -> None:
    before = {name: sandbox.seat("alice@corp.com") for name, sandbox in world.sandboxes.items()}
    assert all(seat is not None for seat in before.values())

    answer = command(world, "<@UALICE|alice> emergency phished through a fake SSO page", RESPONDER)
    assert "Emergency removal #" in answer[0]["text"] and f"<#{SECURITY_CHANNEL}>" in answer[0]["text"]
    request_id = latest_request(world)
    assert request_id is not None

    # Removed from every tool and verified, with no approval: nobody clicked anything.
    eventually(lambda: emergency_of(world, request_id).removed_at is not None, timeout=20,
               what="the removal to be verified everywhere")
    assert removed_everywhere(world, "alice@corp.com")
    assert world.posthog.delete_count("alice@corp.com") == 1
    amplitude = world.sandboxes["amplitude"]
    assert isinstance(amplitude, AmplitudeSandbox) and amplitude.delete_count("alice@corp.com") == 1
    with world.bot.db.session() as session:
        request = session.get(OffboardRequest, request_id)
        assert request.decided_by is None and request.mode == "emergency" and request.reason == "security_incident"
    assert not world.slack.messages(APPROVALS_CHANNEL)  # no approval card

    # The clock: from the command to the last verified removal, recorded once.
    emergency = emergency_of(world, request_id)
    assert emergency.responder_id == RESPONDER
    assert emergency.seconds_to_removal is not None and emergency.seconds_to_removal > 0
    [verified] = events(world, "emergency_removal_verified", request_id)
    assert verified.details["seconds"] == pytest.approx(emergency.seconds_to_removal, abs=0.001)
    assert set(verified.details["vendors"]) == set(ALL_VENDORS)

    # The hand-over ran after the removal, not before (PostHog's restricted dashboard is open now).
    posthog = steps_of(world, request_id, "posthog")
    remove = next(s for s in posthog if s.kind == "remove_member")
    handover = eventually(lambda: next((s for s in steps_of(world, request_id, "posthog")
                                        if s.kind == "handover_assets" and s.status == StepStatus.DONE), None),
                          what="PostHog's hand-over")
    assert handover.started_at >= remove.finished_at
    assert all(a.restriction_level == 21 for a in world.posthog.assets_of("alice@corp.com", "dashboard"))
    # Amplitude's manual transfer did not hold the removal up.
    transfer = next(s for s in steps_of(world, request_id, "amplitude") if s.key == "amplitude_transfer_assets")
    assert transfer.status == StepStatus.PENDING and transfer.seq > remove.seq

    # The security channel's card: what was removed, by whom, the clock, the follow-up checklist. It is
    # re-rendered after the clock is recorded: wait for that render.
    card = eventually(lambda: (c := card_of(world, request_id)) and "Removed and verified in every tool" in card_text(c)
                      and c, what="the card to show the verified removal")
    assert card in world.slack.messages(SECURITY_CHANNEL)
    text = seen_text(world.driver, card)
    for fact in ("Emergency removal", "<@UAPP2>", "Removed and verified in every tool", "phished",
                 "Rotate the project API keys they could see", "Review their recent activity in PostHog",
                 "Review their recent activity in Amplitude", "Access Logs", "Activity Log",
                 "Transfer their charts", "Not acknowledged yet", "admin (level 8)", "Production",
                 "the hand-over is done by hand after the removal"):
        assert fact in text, fact
    assert change_blocks.ACKNOWLEDGE in action_ids(card)
    flagged = {e.details["vendor"]: e.details["credentials"] for e in events(world, "credentials_flagged_for_rotation",
                                                                              request_id)}
    assert set(flagged) == set(ALL_VENDORS)
    assert "PostHog project API key of Finance" in flagged["posthog"]
    assert "PostHog personal API keys of alice@corp.com (PostHog shows them to nobody else)" in flagged["posthog"]

    # Acknowledgment: not the responder who started it, not an outsider; an approver may.
    click_card(world, request_id, change_blocks.ACKNOWLEDGE, RESPONDER)
    click_card(world, request_id, change_blocks.ACKNOWLEDGE, OUTSIDER)
    eventually(lambda: ephemerals_to(world, RESPONDER, SECURITY_CHANNEL) and ephemerals_to(world, OUTSIDER,
                                                                                           SECURITY_CHANNEL),
               what="the refusals")
    assert "second person" in ephemerals_to(world, RESPONDER, SECURITY_CHANNEL)[0]
    assert emergency_of(world, request_id).acknowledged_by is None
    click_card(world, request_id, change_blocks.ACKNOWLEDGE, APPROVER)
    eventually(lambda: "Acknowledged by <@UAPP1>" in card_text(card_of(world, request_id)), what="the acknowledgment")
    assert change_blocks.ACKNOWLEDGE not in action_ids(card_of(world, request_id))
    assert len(events(world, "emergency_acknowledged", request_id)) == 1

    # The follow-up is a checklist: the request completes when it is done, and everyone is told.
    tick_all(world, request_id, APPROVER)
    wait_status(world, request_id, RequestStatus.COMPLETED)
    assert "nobody: emergency removal by <@UAPP2>" in card_text(
        eventually(lambda: world.slack.messages("CNOTIFY"), what="the notification")[0])
    assert chain_verifies(world)


def test_the_form_with_reason_security_incident_is_an_emergency_for_a_responder(posthog_world: LocalWorld) -> None:
    world = posthog_world
    world.driver.slash_command("/offboard", "dave@corp.com", user_id=RESPONDER, channel_id=COMMAND_CHANNEL)
    view = eventually(lambda: world.slack.calls("views.open"), what="the form")[-1].params["view"]
    submitted = world.driver.submit_view(view, {"reason": "security_incident"}, user_id=RESPONDER)
    assert submitted.text in ("", "{}"), submitted.text
    request_id = eventually(lambda: latest_request(world), what="the request")
    eventually(lambda: emergency_of(world, request_id).removed_at is not None, what="the removal")
    assert world.posthog.member_by_email("dave@corp.com") is None
    assert card_of(world, request_id) in world.slack.messages(SECURITY_CHANNEL)


def test_anyone_but_a_responder_is_refused_and_the_attempt_is_recorded(posthog_world: LocalWorld) -> None:
    world = posthog_world
    for user in (REQUESTER, APPROVER):  # an approver is no responder either
        answer = command(world, "alice@corp.com emergency", user)
        assert "Only the configured emergency responders" in answer[0]["text"]
    # The form's way too: refused in the form, nothing created.
    world.driver.slash_command("/offboard", "alice@corp.com", user_id=REQUESTER, channel_id=COMMAND_CHANNEL)
    view = eventually(lambda: world.slack.calls("views.open"), what="the form")[-1].params["view"]
    refused = world.driver.submit_view(view, {"reason": "security_incident"}, user_id=REQUESTER)
    assert "responders" in refused.json()["errors"]["reason"]

    assert latest_request(world) is None
    assert world.posthog.member_by_email("alice@corp.com") is not None and world.posthog.writes_about(
        "alice@corp.com") == 0
    refusals = events(world, "emergency_refused")
    assert [e.actor for e in refusals] == [REQUESTER, APPROVER, REQUESTER]
    assert all(e.details["subject"] == "alice@corp.com" for e in refusals)


def test_an_emergency_supersedes_a_request_still_waiting_for_approval(posthog_world: LocalWorld) -> None:
    world = posthog_world
    world.driver.slash_command("/offboard", "dave@corp.com", user_id=REQUESTER, channel_id=COMMAND_CHANNEL)
    view = eventually(lambda: world.slack.calls("views.open"), what="the form")[-1].params["view"]
    world.driver.submit_view(view, {"reason": "resignation"}, user_id=REQUESTER)
    waiting = eventually(lambda: latest_request(world), what="the request")
    wait_status(world, waiting, RequestStatus.PENDING_APPROVAL)

    command(world, "dave@corp.com emergency", RESPONDER)
    emergency_id = eventually(lambda: (latest_request(world) or 0) > waiting and latest_request(world),
                              what="the emergency")
    eventually(lambda: emergency_of(world, emergency_id).removed_at is not None, what="the removal")
    wait_status(world, waiting, RequestStatus.CANCELLED)
    assert f"Superseded by emergency removal #{emergency_id}" in card_text(card_of(world, waiting))
    assert blocks.APPROVE not in action_ids(card_of(world, waiting))
    assert world.posthog.delete_count("dave@corp.com") == 1


def test_an_unacknowledged_emergency_is_reminded_until_someone_acknowledges(posthog_world: LocalWorld) -> None:
    world = posthog_world
    assert world.bot._scheduler is not None and world.bot._scheduler.get_job("run_due_changes") is not None
    command(world, "dave@corp.com emergency", RESPONDER)
    request_id = eventually(lambda: latest_request(world), what="the emergency")
    eventually(lambda: emergency_of(world, request_id).removed_at is not None, what="the removal")
    card_ts = card_of(world, request_id)["ts"]
    workflow = world.bot.workflow
    started = emergency_of(world, request_id).started_at

    def reminders() -> list[str]:
        return [card_text(m) for m in world.slack.replies(SECURITY_CHANNEL, card_ts)]

    assert workflow.remind_unacknowledged_emergencies() == []  # not due yet
    with time_machine.travel(started + timedelta(minutes=31), tick=False):
        assert workflow.remind_unacknowledged_emergencies() == [request_id]
        assert workflow.remind_unacknowledged_emergencies() == []  # claimed: once per interval
    assert len(reminders()) == 1 and "Reminder 1" in reminders()[0] and "<@UAPP2>" in reminders()[0]
    with time_machine.travel(started + timedelta(minutes=45), tick=False):
        assert workflow.remind_unacknowledged_emergencies() == []  # 14 minutes after the last one
    with time_machine.travel(started + timedelta(minutes=62), tick=False):
        assert workflow.remind_unacknowledged_emergencies() == [request_id]
    assert len(reminders()) == 2 and "Reminder 2" in reminders()[1]
    assert "reminders sent: 2" in card_text(eventually(
        lambda: "reminders sent: 2" in card_text(card_of(world, request_id)) and card_of(world, request_id),
        what="the card to count the reminders"))

    click_card(world, request_id, change_blocks.ACKNOWLEDGE, APPROVER)
    eventually(lambda: emergency_of(world, request_id).acknowledged_by == APPROVER, what="the acknowledgment")
    with time_machine.travel(utcnow() + timedelta(hours=5), tick=False):
        assert workflow.remind_unacknowledged_emergencies() == []
    assert len(reminders()) == 2
    assert [e.details["number"] for e in events(world, "emergency_reminder_sent", request_id)] == [1, 2]
    with world.bot.db.session() as session:
        assert session.exec(select(Emergency)).one().reminders_sent == 2
