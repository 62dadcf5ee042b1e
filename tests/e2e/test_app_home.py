"""The Home tab, opened through a real signed `app_home_opened` event: an approver sees the request waiting for
them with its buttons (and, as an audit admin, the configuration's state), the requester their own open request,
a bystander nobody else's requests; approving from the Home tab acts on the request like the card does."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bot.demo.localrun import APPROVER, OUTSIDER, REQUESTER, LocalWorld
from bot.offboarding.slack import blocks
from storage.models import RequestStatus
from tests.e2e.conftest import action_ids, card_text, complete_checklist, eventually, open_request, wait_for_status


@pytest.fixture
def world(database_url: str) -> Iterator[LocalWorld]:
    local = LocalWorld.start(database_url, settings={"audit_admins": [APPROVER]})
    yield local
    local.stop()


def open_home(world: LocalWorld, user: str) -> dict[str, Any]:
    """`user` opens the Home tab: the signed event goes in, and the view Slack then shows them comes back."""
    before = len([c for c in world.slack.calls("views.publish") if c.params.get("user_id") == user])
    response = world.driver.app_home_opened(user)
    assert response.status_code == 200
    eventually(lambda: len([c for c in world.slack.calls("views.publish")
                            if c.params.get("user_id") == user and c.ok]) > before, what=f"{user}'s Home tab")
    home = world.slack.home(user)
    assert home is not None and home["type"] == "home"
    return home


def test_each_viewer_sees_only_what_they_have_a_part_in_and_may_approve_from_home(world: LocalWorld) -> None:
    request_id = open_request(world, "dave@corp.com", ticket="HR-7")

    approver = open_home(world, APPROVER)
    text = card_text(approver)
    assert "Waiting for your approval" in text and "dave@corp.com" in text
    assert action_ids(approver) == [blocks.APPROVE, blocks.REJECT, blocks.CANCEL, blocks.DETAILS]
    assert "Tools configured: PostHog" in text and "Audit chain head: entry" in text
    assert "Last inactive-user sweep: _none yet_" in text

    bystander = open_home(world, OUTSIDER)
    assert "dave@corp.com" not in card_text(bystander) and action_ids(bystander) == []
    assert "Nothing is waiting for your approval" in card_text(bystander)
    assert "Configuration" not in card_text(bystander)  # not an audit admin

    requester = open_home(world, REQUESTER)
    mine = card_text(requester)
    assert "Your open requests" in mine and "dave@corp.com" in mine
    assert blocks.APPROVE not in action_ids(requester)  # nobody approves their own request
    assert "Nothing is waiting for your approval" in mine

    # Approve from the Home tab: the same listener as the card's, so the request goes ahead.
    world.driver.click_in_view(approver, blocks.APPROVE, APPROVER, value=str(request_id))
    wait_for_status(world, request_id, RequestStatus.AWAITING_MANUAL)
    # The Home tab the approver clicked in is published again: no Approve left for a decided request.
    eventually(lambda: blocks.APPROVE not in action_ids(world.slack.home(APPROVER) or {}), what="the Home tab anew")
    complete_checklist(world, request_id)
    done = card_text(open_home(world, APPROVER))
    assert "Completed in the last 7 days" in done and "dave@corp.com" in done
    assert "Nothing is waiting for your approval" in done
    assert "dave@corp.com" not in card_text(open_home(world, OUTSIDER))


def test_an_unacknowledged_emergency_is_shown_to_a_responder_not_to_a_bystander(database_url: str) -> None:
    from bot.demo.localrun import COMMAND_CHANNEL, RESPONDER

    world = LocalWorld.start(database_url, settings={"audit_admins": [APPROVER]})
    try:
        world.driver.slash_command("/offboard", "dave@corp.com emergency", user_id=RESPONDER,
                                   channel_id=COMMAND_CHANNEL)
        eventually(lambda: world.bot.workflow.open_request_for("dave@corp.com"), what="the emergency")
        seen = card_text(open_home(world, APPROVER))
        assert "Emergencies not acknowledged" in seen and "dave@corp.com" in seen
        assert "dave@corp.com" not in card_text(open_home(world, OUTSIDER))
    finally:
        world.stop()


def test_an_audit_admin_sees_the_last_sweep_and_the_audit_chain_head(world: LocalWorld) -> None:
    import re

    from sqlmodel import select

    from storage.models import AuditEvent, SweepRun, utcnow

    with world.bot.db.session() as session:
        session.add(SweepRun(trigger="cli", started_at=utcnow(), status="done"))
        session.commit()
    open_request(world, "dave@corp.com")  # writes audit entries
    text = card_text(open_home(world, APPROVER))
    assert "Last inactive-user sweep: <!date^" in text and "(done)" in text
    shown = re.search(r"Audit chain head: entry (\d+), hash `(\w{16})`", text)
    assert shown is not None
    with world.bot.db.session() as session:  # the entry shown is the chain's entry of that number
        entry = session.exec(select(AuditEvent).where(AuditEvent.seq == int(shown.group(1)))).one()
    assert entry.hash.startswith(shown.group(2))
    assert "(done)" not in card_text(open_home(world, REQUESTER))
