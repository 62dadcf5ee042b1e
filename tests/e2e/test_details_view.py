"""The card's Details view through signed clicks: the click paths and Mark done are there, a tick shows in the
open view at once, and the person leaving cannot open it."""

from __future__ import annotations

from bot.demo.localrun import APPROVALS_CHANNEL, APPROVER, GROUP_APPROVER, LocalWorld
from bot.demo.standin.slack_api import SlackUser
from bot.offboarding.slack import blocks
from storage.models import RequestStatus
from tests.e2e.conftest import (
    action_ids,
    card_text,
    click,
    details_of,
    ephemerals_to,
    eventually,
    open_request,
    the_card,
    wait_for_status,
)


def mark_done_buttons(view: dict) -> list[str]:
    return [b["accessory"]["value"] for b in view["blocks"]
            if b.get("accessory", {}).get("action_id") == blocks.CONFIRM]


def test_mark_done_in_the_details_view_ticks_the_step_there_and_on_the_card(world: LocalWorld) -> None:
    request_id = open_request(world, "dave@corp.com")
    pending = details_of(world.driver, the_card(world))
    assert "Personal API keys" in card_text(pending)  # the click path, not on the card
    assert "Personal API keys" not in card_text(the_card(world))
    assert mark_done_buttons(pending) == []  # nothing to tick before the approval

    click(world, blocks.APPROVE, APPROVER)
    wait_for_status(world, request_id, RequestStatus.AWAITING_MANUAL)
    view = details_of(world.driver, the_card(world))
    values = mark_done_buttons(view)
    assert values
    world.driver.click_in_view(view, blocks.CONFIRM, GROUP_APPROVER, value=values[0])

    # The open view is refreshed in place: the step is ticked, with who did it.
    def refreshed() -> dict | None:
        now = world.slack.view(view["id"])
        return now if now and values[0] not in mark_done_buttons(now) else None

    ticked = eventually(refreshed, what="the Details view to show the tick")
    assert "confirmed by <@UAPP2>" in card_text(ticked)
    # The card counts it in PostHog's one progress line.
    eventually(lambda: "by hand, 1 done" in card_text(the_card(world)), what="the card to count the tick")


def test_the_person_leaving_cannot_open_the_details_view(world: LocalWorld) -> None:
    world.slack.add_user(SlackUser("UDAVE2", "dave2", "Dave Two", "dave2@corp.com"))
    open_request(world, "dave2@corp.com")
    card = the_card(world)
    assert blocks.DETAILS in action_ids(card)
    before = len(world.slack.calls("views.open"))
    # A click on the card by the leaver themselves: refused, and told only to them.
    world.driver.click(card, blocks.DETAILS, user_id="UDAVE2", channel_id=APPROVALS_CHANNEL)
    eventually(lambda: ephemerals_to(world, "UDAVE2"), what="the refusal")
    assert len(world.slack.calls("views.open")) == before
