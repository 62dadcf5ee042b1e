"""Restore through Slack: within the dispute window an approver's Restore re-invites the person
with the role and projects the removal took (PostHog and Mixpanel sandboxes), and says what cannot come
back; after the window the button is gone and a stale click is refused (time-machine)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import time_machine

from bot.demo.localrun import (
    APPROVALS_CHANNEL,
    APPROVER,
    COMMAND_CHANNEL,
    GROUP_APPROVER,
    OUTSIDER,
    REQUESTER,
    LocalWorld,
)
from bot.offboarding.slack import blocks, change_blocks
from storage.models import RequestStatus, RestoreWindow
from tests.e2e.change_support import card_of, click_card, events, latest_request, tick_all, wait_status
from tests.e2e.conftest import action_ids, card_text, ephemerals_to, eventually, seen_text
from vendors.base import Role
from vendors.sandbox.mixpanel import MixpanelSandbox
from vendors.sandbox.posthog import ADMIN, FINANCE_ID, PRODUCTION_ID, STAGING_ID


@pytest.fixture
def world(database_url: str) -> Iterator[LocalWorld]:
    local = LocalWorld.start(database_url, vendors=("posthog", "mixpanel"))
    yield local
    local.stop()


def offboard(world: LocalWorld, email: str) -> int:
    before = latest_request(world)
    world.driver.slash_command("/offboard", email, user_id=REQUESTER, channel_id=COMMAND_CHANNEL)
    view = eventually(lambda: world.slack.calls("views.open"), what="the form")[-1].params["view"]
    world.driver.submit_view(view, {"reason": "termination"}, user_id=REQUESTER)
    request_id = eventually(lambda: latest_request(world) != before and latest_request(world), what="the request")
    wait_status(world, request_id, RequestStatus.PENDING_APPROVAL)
    click_card(world, request_id, blocks.APPROVE, APPROVER)
    eventually(lambda: world.bot.workflow.snapshot(request_id).status in (RequestStatus.AWAITING_MANUAL,
                                                                         RequestStatus.COMPLETED), what="removal")
    tick_all(world, request_id, GROUP_APPROVER)
    wait_status(world, request_id, RequestStatus.COMPLETED)
    return request_id


def window_of(world: LocalWorld, request_id: int) -> RestoreWindow:
    with world.bot.db.session() as session:
        found = session.get(RestoreWindow, request_id)
    assert found is not None
    return found


def test_an_approver_restores_alice_with_her_role_and_projects_within_the_window(world: LocalWorld) -> None:
    mixpanel = world.sandboxes["mixpanel"]
    assert isinstance(mixpanel, MixpanelSandbox)
    mixpanel_before = mixpanel.seat("alice@corp.com")
    removal = offboard(world, "alice@corp.com")
    assert world.posthog.member_by_email("alice@corp.com") is None
    card = card_of(world, removal)
    assert change_blocks.RESTORE in action_ids(card) and "may restore this access until" in card_text(card)

    # Only approvers; the requester is none, nor an outsider.
    click_card(world, removal, change_blocks.RESTORE, OUTSIDER)
    click_card(world, removal, change_blocks.RESTORE, REQUESTER)
    eventually(lambda: ephemerals_to(world, OUTSIDER) and ephemerals_to(world, REQUESTER), what="the refusals")
    assert all("Only approvers can restore" in ephemerals_to(world, u)[0] for u in (OUTSIDER, REQUESTER))
    assert world.posthog.invites_for("alice@corp.com") == []

    click_card(world, removal, change_blocks.RESTORE, APPROVER)
    restore = eventually(lambda: window_of(world, removal).restore_request_id, what="the restore request")
    # Mixpanel's SCIM showed neither her role nor her projects: the account comes back through the API, and a
    # person gives back what she had.
    wait_status(world, restore, RequestStatus.AWAITING_MANUAL)
    assert "Give back their Mixpanel role, Teams and projects" in seen_text(world.driver, card_of(world, restore))
    mixpanel_back = mixpanel.seat("alice@corp.com")
    assert mixpanel_back is not None and mixpanel_back.active
    for name in ("Product Analytics", "Finance Viewers"):
        group = mixpanel.group(name)
        assert group is not None
        group.members.append(str(mixpanel.user_id_of("alice@corp.com")))  # what the person does in Mixpanel
    tick_all(world, restore, GROUP_APPROVER)
    wait_status(world, restore, RequestStatus.COMPLETED)

    # PostHog: invited again as the admin she was, with her projects; Mixpanel: reactivated, then given back by hand.
    [invite] = world.posthog.invites_for("alice@corp.com")
    assert invite.level == ADMIN
    assert {int(p["id"]) for p in invite.private_project_access} == {PRODUCTION_ID, STAGING_ID, FINANCE_ID}
    seat = world.posthog.seat("alice@corp.com")
    assert seat is not None and seat.pending and seat.role == Role.ADMIN
    after = mixpanel.seat("alice@corp.com")
    assert after is not None and after.active and after.role == mixpanel_before.role
    assert after.project_ids == mixpanel_before.project_ids

    text = card_text(card_of(world, restore))
    for fact in (f"Restores the access removed by request #{removal}", "What cannot come back",
                 "personal API keys", "API tokens (invalidated at the removal)", "Approved by <@UAPP1>"):
        assert fact in text, fact
    original = card_of(world, removal)
    assert change_blocks.RESTORE not in action_ids(original)
    assert "Restore requested by <@UAPP1>" in card_text(original) and f"#{restore}" in card_text(original)
    outcome = eventually(lambda: [card_text(m) for m in world.slack.messages(world.slack.dm_channel(APPROVER))
                                  if "Restore access" in card_text(m) or "restore access" in card_text(m)],
                         what="the restorer's DM")
    assert "What cannot come back" in outcome[0]
    [requested] = events(world, "restore_requested", removal)
    assert requested.actor == APPROVER and set(requested.details["vendors"]) == {"posthog", "mixpanel"}

    # A second click (a stale card) restores nothing twice.
    world.driver.click(card, change_blocks.RESTORE, user_id=GROUP_APPROVER, channel_id=APPROVALS_CHANNEL)
    eventually(lambda: ephemerals_to(world, GROUP_APPROVER), what="the refusal")
    assert "already being restored" in ephemerals_to(world, GROUP_APPROVER)[0]
    assert len(world.posthog.invites_for("alice@corp.com")) == 1


def test_after_the_dispute_window_restore_is_gone_and_refused(world: LocalWorld) -> None:
    removal = offboard(world, "dave@corp.com")
    stale_card = card_of(world, removal)
    closes_at = window_of(world, removal).closes_at
    completed_at = world.bot.workflow.snapshot(removal).request.completed_at
    assert timedelta(days=5) <= closes_at - completed_at <= timedelta(days=9)  # 5 business days
    assert closes_at.weekday() < 5

    with time_machine.travel(closes_at - timedelta(minutes=1), tick=False):
        assert world.bot.workflow.close_restore_windows() == []  # still open
    with time_machine.travel(closes_at + timedelta(minutes=1), tick=False):
        assert world.bot.workflow.close_restore_windows() == [removal]
        assert world.bot.workflow.close_restore_windows() == []  # once
        response = world.driver.click(stale_card, change_blocks.RESTORE, user_id=APPROVER, channel_id=APPROVALS_CHANNEL)
        assert response.status_code == 200
        eventually(lambda: ephemerals_to(world, APPROVER), what="the refusal")
    assert "dispute window" in ephemerals_to(world, APPROVER)[0] and "closed" in ephemerals_to(world, APPROVER)[0]
    # The card is re-rendered in the background: wait for it rather than read it at once.
    def closed_card() -> dict | None:
        card = card_of(world, removal)
        return card if "dispute window closed" in card_text(card) else None

    card = eventually(closed_card, what="the card to say the window closed")
    assert change_blocks.RESTORE not in action_ids(card)
    assert world.posthog.invites_for("dave@corp.com") == []
    assert window_of(world, removal).restore_request_id is None
    assert [e.actor for e in events(world, "restore_refused", removal)] == [APPROVER]
