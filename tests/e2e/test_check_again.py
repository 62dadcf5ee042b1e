"""A vendor that is down while a request is assessed shows "unknown" with Check again; once it is
back, one click re-checks it and re-plans its steps before anyone approves."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.demo.localrun import APPROVER, OUTSIDER, LocalWorld
from bot.offboarding.slack import blocks
from storage import audit
from storage.models import RequestStatus
from tests.e2e.conftest import (
    action_ids,
    card_text,
    click,
    complete_checklist,
    eventually,
    open_request,
    the_card,
)
from vendors.sandbox.server import Fault


@pytest.fixture
def world(database_url: str) -> Iterator[LocalWorld]:
    local = LocalWorld.start(database_url, vendors=("posthog",))
    yield local
    local.stop()


def test_check_again_after_an_outage_replans_and_the_request_completes(world: LocalWorld) -> None:
    world.posthog.inject(Fault("status", 503, {"detail": "down for maintenance"}, times=None))
    request_id = open_request(world, "dave@corp.com")
    card = the_card(world)
    assert "could not check" in card_text(card) and blocks.REASSESS in action_ids(card)
    assert world.bot.workflow.snapshot(request_id).assessments["posthog"].member is None

    world.posthog.clear_faults()
    click(world, blocks.REASSESS, OUTSIDER, value=f"{request_id}:posthog")  # reading is harmless: anyone may
    eventually(lambda: blocks.REASSESS not in action_ids(the_card(world)), what="the re-checked card")
    snapshot = world.bot.workflow.snapshot(request_id)
    assert snapshot.assessments["posthog"].member is not None
    assert snapshot.status == RequestStatus.PENDING_APPROVAL
    assert "could not check" not in card_text(the_card(world))
    with world.bot.db.session() as session:
        requested = [e for e in audit.events_for(session, request_id) if e.action == "reassessment_requested"]
    assert [e.actor for e in requested] == [OUTSIDER]

    click(world, blocks.APPROVE, APPROVER)
    complete_checklist(world, request_id)
    assert world.posthog.member_by_email("dave@corp.com") is None
    assert world.posthog.delete_count("dave@corp.com") == 1
