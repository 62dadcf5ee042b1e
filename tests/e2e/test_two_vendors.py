"""PostHog (automated) beside Kissmetrics (manual only) on one card, through Slack."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.demo.localrun import APPROVER, GROUP_APPROVER, NOTIFY_CHANNEL, LocalWorld
from bot.offboarding.slack import blocks
from storage.models import RequestStatus
from tests.e2e.conftest import (
    card_text,
    click,
    confirm_values,
    eventually,
    mark_done,
    open_request,
    seen_text,
    the_card,
    wait_for_status,
)


@pytest.fixture
def world(database_url: str) -> Iterator[LocalWorld]:
    local = LocalWorld.start(database_url, vendors=("posthog", "kissmetrics"))
    yield local
    local.stop()


def test_a_manual_vendor_waits_for_its_checklist_beside_an_automated_one(world: LocalWorld) -> None:
    request_id = open_request(world, "dave@corp.com")
    text = seen_text(world.driver, the_card(world))
    assert "PostHog" in text and "Kissmetrics" in text
    assert "done by hand" in text and "Settings" in text and "Team" in text  # the runbook's click path

    click(world, blocks.APPROVE, APPROVER)
    wait_for_status(world, request_id, RequestStatus.AWAITING_MANUAL)
    assert world.posthog.member_by_email("dave@corp.com") is None  # the API part is done at once
    values = confirm_values(world.driver, the_card(world))
    assert len(values) >= 3  # check, (hand over,) remove, verify: each confirmed by a person
    for value in values:
        mark_done(world.driver, the_card(world), GROUP_APPROVER, value)
    wait_for_status(world, request_id, RequestStatus.COMPLETED)
    notice = card_text(eventually(lambda: world.slack.messages(NOTIFY_CHANNEL), what="the notification")[0])
    assert "PostHog" in notice
