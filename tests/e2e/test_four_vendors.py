"""One person in all four tools, offboarded through Slack: PostHog, Amplitude and Mixpanel through
their sandboxes' APIs, Kissmetrics as the manual checklist it is without an API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.demo.localrun import ALL_VENDORS, APPROVER, GROUP_APPROVER, NOTIFY_CHANNEL, LocalWorld
from bot.offboarding.slack import blocks
from storage import audit
from storage.models import RequestStatus
from tests.e2e.conftest import (
    card_text,
    click,
    confirm_values,
    eventually,
    mark_done,
    open_request,
    the_card,
    wait_for_status,
)
from vendors.sandbox.amplitude import AmplitudeSandbox
from vendors.sandbox.mixpanel import MixpanelSandbox


@pytest.fixture
def world(database_url: str) -> Iterator[LocalWorld]:
    local = LocalWorld.start(database_url, vendors=ALL_VENDORS)
    yield local
    local.stop()


def test_alice_leaves_all_four_tools(world: LocalWorld) -> None:
    amplitude = world.sandboxes["amplitude"]
    mixpanel = world.sandboxes["mixpanel"]
    assert isinstance(amplitude, AmplitudeSandbox) and isinstance(mixpanel, MixpanelSandbox)

    request_id = open_request(world, "alice@corp.com", new_owner="UBOB")
    text = card_text(the_card(world))
    for label in ("PostHog", "Amplitude", "Mixpanel", "Kissmetrics"):
        assert label in text, label

    click(world, blocks.APPROVE, APPROVER)
    wait_for_status(world, request_id, RequestStatus.AWAITING_MANUAL)
    # PostHog has no step that must wait for a person; Amplitude and Mixpanel wait for their hand-overs.
    assert world.posthog.member_by_email("alice@corp.com") is None
    assert amplitude.user("alice@corp.com") is not None
    assert amplitude.delete_count("alice@corp.com") == 0

    # A person works through the checklist; each tick lets the automated steps behind it run.
    for _ in range(30):
        values = confirm_values(world.driver, the_card(world))
        if not values:
            break
        mark_done(world.driver, the_card(world), GROUP_APPROVER, values[0])
        eventually(lambda ticked=values[0]: ticked not in confirm_values(world.driver, the_card(world)),
                   what="the tick to show")
    wait_for_status(world, request_id, RequestStatus.COMPLETED)

    assert world.posthog.delete_count("alice@corp.com") == 1
    assert amplitude.user("alice@corp.com") is None and amplitude.delete_count("alice@corp.com") == 1
    deactivated = mixpanel.user("alice@corp.com")
    assert deactivated is None or not deactivated.active
    assert mixpanel.groups_of("alice@corp.com") == []



@pytest.fixture
def world_with_kissmetrics_api(database_url: str) -> Iterator[LocalWorld]:
    local = LocalWorld.start(database_url, vendors=ALL_VENDORS, manual=())
    yield local
    local.stop()


def test_alice_leaves_all_four_sandboxes_with_kissmetrics_opt_in_api(world_with_kissmetrics_api: LocalWorld) -> None:
    world = world_with_kissmetrics_api
    sandboxes = world.sandboxes
    before = {name: sandboxes[name].seat("alice@corp.com") for name in ALL_VENDORS}
    assert all(seat is not None for seat in before.values()), before

    request_id = open_request(world, "alice@corp.com", new_owner="UBOB")
    text = card_text(the_card(world))
    assert "could not check" not in text  # every tool, Kissmetrics too, was looked up through its API
    click(world, blocks.APPROVE, APPROVER)
    wait_for_status(world, request_id, RequestStatus.AWAITING_MANUAL)
    for _ in range(30):
        values = confirm_values(world.driver, the_card(world))
        if not values:
            break
        mark_done(world.driver, the_card(world), GROUP_APPROVER, values[0])
        eventually(lambda ticked=values[0]: ticked not in confirm_values(world.driver, the_card(world)),
                   what="the tick to show")
    wait_for_status(world, request_id, RequestStatus.COMPLETED)

    for name in ALL_VENDORS:
        seat = sandboxes[name].seat("alice@corp.com")
        assert seat is None or not seat.active, (name, seat)
        assert sandboxes[name].writes_about("alice@corp.com") >= 1, name
    with world.bot.db.session() as session:
        flagged = [e.details for e in audit.events_for(session, request_id)
                   if e.action == "credentials_flagged_for_rotation"]
    assert {d["vendor"] for d in flagged} == {"posthog", "mixpanel"}
    assert any("PostHog personal API keys of alice@corp.com" in c for d in flagged for c in d["credentials"])
    notice = card_text(eventually(lambda: world.slack.messages(NOTIFY_CHANNEL), what="the notification")[0])
    for label in ("PostHog", "Amplitude", "Mixpanel", "Kissmetrics"):
        assert f"{label}: removed through its API and verified" in notice, label
