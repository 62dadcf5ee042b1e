"""End-to-end fixtures: the real bot in HTTP mode, driven by signed Slack requests, against the
PostHog sandbox and the Slack stand-in on loopback, on a real SQLite file."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from bot.demo.localrun import APPROVALS_CHANNEL, COMMAND_CHANNEL, GROUP_APPROVER, REQUESTER, LocalWorld
from bot.demo.standin.driver import SlackDriver
from bot.offboarding.slack import blocks
from bot.offboarding.values import STATUS_WORDS
from storage.models import OffboardRequest, RequestStatus


@pytest.fixture
def world(database_url: str) -> Iterator[LocalWorld]:
    local = LocalWorld.start(database_url)
    yield local
    local.stop()


def eventually(check: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    """Listeners run after the ack, in threads: poll for their effects."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def action_ids(message: dict[str, Any]) -> list[str]:
    found = []
    for block in message.get("blocks") or []:
        found += [e.get("action_id") for e in block.get("elements", []) if isinstance(e, dict)]
        if "accessory" in block:
            found.append(block["accessory"].get("action_id"))
    return [a for a in found if a]


def details_of(driver: SlackDriver, card: dict[str, Any], user: str = GROUP_APPROVER) -> dict[str, Any]:
    """The Details view as `user` sees it after clicking Details on the card (it is where Mark done is)."""
    assert blocks.DETAILS in action_ids(card), f"no Details button on the card: {action_ids(card)}"
    response = driver.click(card, blocks.DETAILS, user_id=user)
    assert response.status_code == 200
    trigger = driver.last_trigger_id
    call = driver.standin.wait_for("views.open", lambda c: c.params.get("trigger_id") == trigger)
    assert call.ok and call.response is not None, call.response
    opened = driver.standin.view(call.response["view"]["id"])
    assert opened is not None
    return opened


def confirm_values(driver: SlackDriver, card: dict[str, Any], user: str = GROUP_APPROVER) -> list[str]:
    """The values of the Mark done buttons in the card's Details view, one per open manual step."""
    if blocks.DETAILS not in action_ids(card):
        return []
    view = details_of(driver, card, user)
    return [b["accessory"]["value"] for b in view["blocks"]
            if b.get("accessory", {}).get("action_id") == blocks.CONFIRM]


def seen_text(driver: SlackDriver, card: dict[str, Any], user: str = GROUP_APPROVER) -> str:
    """What a person reads on the card and in its Details view together."""
    return card_text(card) + card_text(details_of(driver, card, user))


def mark_done(driver: SlackDriver, card: dict[str, Any], user: str, value: str) -> httpx.Response:
    """Open the card's Details view and click Mark done on the step `value` there, as a person does."""
    view = details_of(driver, card, user)
    return driver.click_in_view(view, blocks.CONFIRM, user_id=user, value=value)


def card_text(message: dict[str, Any]) -> str:
    return json.dumps(message.get("blocks") or []) + (message.get("text") or "")


def the_card(world: LocalWorld) -> dict[str, Any]:
    cards = world.slack.messages(APPROVALS_CHANNEL)
    assert len(cards) == 1, f"expected one card, found {len(cards)}"
    return cards[0]


def wait_for_status(world: LocalWorld, request_id: int, status: RequestStatus, timeout: float = 10.0) -> None:
    def reached() -> bool:
        snapshot = world.bot.workflow.snapshot(request_id)
        return snapshot is not None and snapshot.status == status

    eventually(reached, timeout, f"request #{request_id} to be {status}")
    # The card is updated right after the state changes: wait until it shows the new state too.
    eventually(lambda: _shows(world, status), timeout, f"the card to show {status}")


def complete_checklist(world: LocalWorld, request_id: int, user: str = GROUP_APPROVER, timeout: float = 15.0) -> None:
    """Wait for the request to complete, ticking on the way each manual step a person owes (a PostHog
    removal always has one: no API shows a member's personal API keys, so replacing them is by hand)."""
    deadline = time.monotonic() + timeout
    ticked: set[str] = set()
    while True:
        snapshot = world.bot.workflow.snapshot(request_id)
        assert snapshot is not None
        card = (world.slack.message(snapshot.request.card_channel or "", snapshot.request.card_ts)
                if snapshot.request.card_ts else None)
        if snapshot.status == RequestStatus.COMPLETED and card is not None:
            if STATUS_WORDS[RequestStatus.COMPLETED].capitalize() in card_text(card):
                return
        elif snapshot.status == RequestStatus.AWAITING_MANUAL and card is not None:
            for value in [v for v in confirm_values(world.driver, card, user) if v not in ticked]:
                mark_done(world.driver, card, user, value)
                ticked.add(value)
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for request #{request_id} to complete (now {snapshot.status})")
        time.sleep(0.02)


def _shows(world: LocalWorld, status: RequestStatus) -> bool:
    cards = world.slack.messages(APPROVALS_CHANNEL)
    return bool(cards) and STATUS_WORDS[status].capitalize() in card_text(cards[0])


def open_request(world: LocalWorld, text: str, *, user: str = REQUESTER, **form: Any) -> int:
    """/offboard <text>, then submit the modal it opened with `form` values; returns the request id
    once its card is waiting for approval."""
    before = len(world.slack.calls("views.open"))
    response = world.driver.slash_command("/offboard", text, user_id=user, channel_id=COMMAND_CHANNEL)
    assert response.status_code == 200
    eventually(lambda: len(world.slack.calls("views.open")) > before, what="the request modal")
    view = world.slack.calls("views.open")[-1].params["view"]
    values = {"reason": "resignation", **form}
    submitted = world.driver.submit_view(view, values, user_id=user)
    assert submitted.status_code == 200
    assert submitted.text in ("", "{}"), submitted.text  # no validation errors
    request_id = eventually(lambda: _latest_request(world), what="the request row")
    wait_for_status(world, request_id, RequestStatus.PENDING_APPROVAL)
    return request_id


def _latest_request(world: LocalWorld) -> int | None:
    with world.bot.db.session() as session:
        return session.exec(select(OffboardRequest.id).order_by(col(OffboardRequest.id).desc())).first()


def click(world: LocalWorld, action_id: str, user: str, value: str | None = None) -> None:
    card = the_card(world)
    assert action_id in action_ids(card), f"{action_id} not on the card: {action_ids(card)}"
    response = world.driver.click(card, action_id, user_id=user, value=value, channel_id=APPROVALS_CHANNEL)
    assert response.status_code == 200


def ephemerals_to(world: LocalWorld, user: str, channel: str = APPROVALS_CHANNEL) -> list[str]:
    """What only `user` was shown in `channel` (refusals on the card go to the card's channel)."""
    return [
        card_text(c.params)
        for c in world.slack.calls("chat.postEphemeral")
        if c.params.get("user") == user and c.params.get("channel") == channel
    ]

