"""Slack failing while a request moves: the card a request should show is owed until Slack has taken it, so
after an outage of chat.update or chat.postMessage the card catches up (buttons included) with no click, no
restart, and never a second card."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlmodel import select

from bot.demo.localrun import (
    APPROVALS_CHANNEL,
    APPROVER,
    COMMAND_CHANNEL,
    REQUESTER,
    SIGNING_SECRET,
    LocalWorld,
    start_bot,
)
from bot.demo.standin.driver import SlackDriver
from bot.offboarding.slack import blocks
from bot.offboarding.values import STATUS_WORDS
from storage.models import AuditEvent, CardOwed, OffboardRequest, RequestStatus
from tests.e2e.conftest import (
    action_ids,
    card_text,
    click,
    confirm_values,
    eventually,
    mark_done,
    open_request,
    the_card,
)
from vendors.base import Role

LEAVER = "dave@corp.com"
FAST = {"scheduler_interval_seconds": 1, "lease_seconds": 2}  # the periodic checks every second


@pytest.fixture
def world(database_url: str) -> Iterator[LocalWorld]:
    local = LocalWorld.start(database_url, vendors=("posthog", "kissmetrics"), settings=FAST)
    local.posthog.seed_person(LEAVER, Role.MEMBER, local.posthog.project_ids()[:1])
    yield local
    local.stop()


def status(world: LocalWorld, request_id: int) -> RequestStatus:
    snapshot = world.bot.workflow.snapshot(request_id)
    assert snapshot is not None
    return snapshot.status


def shows(world: LocalWorld, words: str) -> bool:
    cards = world.slack.messages(APPROVALS_CHANNEL)
    return len(cards) == 1 and words in card_text(cards[0])


def test_a_card_update_refused_during_the_approval_catches_up_with_its_buttons(world: LocalWorld) -> None:
    request_id = open_request(world, LEAVER)
    outage = world.slack.fail("chat.update")
    click(world, blocks.APPROVE, APPROVER)
    # The removal goes on without Slack; Kissmetrics' checklist now waits for a person.
    eventually(lambda: status(world, request_id) == RequestStatus.AWAITING_MANUAL, what="the removal to run")
    assert blocks.APPROVE in action_ids(world.slack.messages(APPROVALS_CHANNEL)[0]), "Slack took no update"
    world.slack.heal(outage)

    awaiting = STATUS_WORDS[RequestStatus.AWAITING_MANUAL].capitalize()
    eventually(lambda: shows(world, awaiting), timeout=15, what="the card to catch up after the outage")
    card = world.slack.messages(APPROVALS_CHANNEL)[0]
    assert blocks.APPROVE not in action_ids(card)
    assert confirm_values(world.driver, card, APPROVER), "Mark done is there, so the checklist can be finished"
    for _ in range(10):
        values = confirm_values(world.driver, world.slack.messages(APPROVALS_CHANNEL)[0], APPROVER)
        if not values:
            break
        assert mark_done(world.driver, the_card(world), APPROVER, values[0]).status_code == 200
        eventually(lambda v=values[0]: v not in confirm_values(world.driver, the_card(world), APPROVER),
                   what="the tick to show")
    eventually(lambda: shows(world, STATUS_WORDS[RequestStatus.COMPLETED].capitalize()), what="the completed card")
    assert status(world, request_id) == RequestStatus.COMPLETED
    assert len(world.slack.messages(APPROVALS_CHANNEL)) == 1


def submit_request(world: LocalWorld) -> int:
    before = len(world.slack.calls("views.open"))
    world.driver.slash_command("/offboard", LEAVER, user_id=REQUESTER, channel_id=COMMAND_CHANNEL)
    eventually(lambda: len(world.slack.calls("views.open")) > before, what="the request modal")
    view = world.slack.calls("views.open")[-1].params["view"]
    assert world.driver.submit_view(view, {"reason": "resignation"}, user_id=REQUESTER).status_code == 200
    return eventually(lambda: request_row(world), what="the request row")


def request_row(world: LocalWorld) -> int | None:
    with world.bot.db.session() as session:
        return session.exec(select(OffboardRequest.id)).first()


def owed(world: LocalWorld, request_id: int) -> CardOwed | None:
    return world.bot.workflow.cards.owed(request_id)


def test_a_card_slack_would_not_post_while_assessing_is_posted_once_it_can(world: LocalWorld) -> None:
    outage = world.slack.fail("chat.postMessage")
    request_id = submit_request(world)
    eventually(lambda: status(world, request_id) == RequestStatus.PENDING_APPROVAL, what="the assessment")
    eventually(lambda: (row := owed(world, request_id)) is not None and row.attempts >= 2,
               what="the post to be tried again")
    assert world.slack.messages(APPROVALS_CHANNEL) == []
    world.slack.heal(outage)

    waiting = STATUS_WORDS[RequestStatus.PENDING_APPROVAL].capitalize()
    eventually(lambda: shows(world, waiting), timeout=15, what="the card to be posted")
    assert blocks.APPROVE in action_ids(world.slack.messages(APPROVALS_CHANNEL)[0])
    row = eventually(lambda: (r := owed(world, request_id)) is not None and r.shown == r.wanted and r,
                     what="the card to be recorded as delivered")
    assert row.ts == world.slack.messages(APPROVALS_CHANNEL)[0]["ts"]
    posted = [c for c in world.slack.calls("chat.postMessage") if c.ok and c.params.get("channel") == APPROVALS_CHANNEL]
    assert len(posted) == 1, "one card, however many attempts"


def test_a_card_owed_when_the_bot_stopped_is_posted_by_the_next_start(world: LocalWorld) -> None:
    outage = world.slack.fail("chat.postMessage")
    request_id = submit_request(world)
    eventually(lambda: status(world, request_id) == RequestStatus.PENDING_APPROVAL, what="the assessment")
    world.stop_bot()
    world.slack.heal(outage)
    assert world.slack.messages(APPROVALS_CHANNEL) == []

    world.bot = start_bot(world.database, world.slack, world.sandboxes, world.vendors, settings=world.settings)
    world.http = world.bot.start_http()
    world.driver = SlackDriver(world.http.url, SIGNING_SECRET, world.slack)
    waiting = STATUS_WORDS[RequestStatus.PENDING_APPROVAL].capitalize()
    eventually(lambda: shows(world, waiting), timeout=15, what="the owed card to be posted after the restart")
    assert json.dumps(world.slack.messages(APPROVALS_CHANNEL)[0]).count(blocks.APPROVE) >= 1


def test_a_notice_slack_could_not_take_is_sent_by_itself_once_slack_is_back(world: LocalWorld) -> None:
    request_id = open_request(world, LEAVER)
    outage = world.slack.fail("conversations.open")  # DMs cannot be opened; the card is unaffected
    click(world, blocks.APPROVE, APPROVER)
    values = eventually(lambda: confirm_values(world.driver, world.slack.messages(APPROVALS_CHANNEL)[0], APPROVER),
                        what="the checklist")
    for value in values:
        assert mark_done(world.driver, world.slack.messages(APPROVALS_CHANNEL)[0], APPROVER, value).status_code == 200
    eventually(lambda: status(world, request_id) == RequestStatus.COMPLETED, what="the removal")
    eventually(lambda: "Slack refused the message" in card_text(world.slack.messages(APPROVALS_CHANNEL)[0]),
               what="the card to say the notice failed")
    world.slack.heal(outage)

    requester_dm = world.slack.dm_channel(REQUESTER)
    eventually(lambda: world.slack.messages(requester_dm), timeout=15, what="the requester's DM, with no Retry click")
    eventually(lambda: "Slack refused the message" not in card_text(world.slack.messages(APPROVALS_CHANNEL)[0]),
               what="the card to show the notice sent")
    assert len(world.slack.messages(requester_dm)) == 1, "told once"


def test_a_card_someone_deleted_is_posted_again_and_the_request_goes_on_there(world: LocalWorld) -> None:
    """Slack answers message_not_found to every update of a deleted message: rather than owe that card for ever,
    the bot posts it again where it was, moves the request to the new post, and keeps it up to date there."""
    request_id = open_request(world, LEAVER)
    [deleted] = world.slack.messages(APPROVALS_CHANNEL)
    world.slack.delete_message(APPROVALS_CHANNEL, deleted["ts"])

    click_result = world.driver.click(deleted, blocks.APPROVE, user_id=APPROVER, channel_id=APPROVALS_CHANNEL)
    assert click_result.status_code == 200  # the click came from the card as someone still had it on screen
    awaiting = STATUS_WORDS[RequestStatus.AWAITING_MANUAL].capitalize()
    eventually(lambda: shows(world, awaiting), timeout=15, what="the card posted again, up to date")
    [again] = world.slack.messages(APPROVALS_CHANNEL)
    assert again["ts"] != deleted["ts"] and blocks.APPROVE not in action_ids(again)
    with world.bot.db.session() as session:
        request = session.get(OffboardRequest, request_id)
        assert request is not None and request.card_ts == again["ts"]
        [posted] = [e for e in session.exec(select(AuditEvent).where(AuditEvent.request_id == request_id,
                                                                     AuditEvent.action == "card_posted"))
                    if e.details.get("replaces")]
    assert posted.details == {"channel": APPROVALS_CHANNEL, "ts": again["ts"], "replaces": deleted["ts"]}
    row = eventually(lambda: (r := owed(world, request_id)) is not None and r.shown == r.wanted and r,
                     what="the card to be recorded as delivered")
    assert row.ts == again["ts"]
    # Later changes go to the new post, and no third card appears.
    values = confirm_values(world.driver, again, APPROVER)
    assert values and mark_done(world.driver, again, APPROVER, values[0]).status_code == 200
    eventually(lambda: values[0] not in confirm_values(world.driver, the_card(world), APPROVER), what="the tick")
    assert [m["ts"] for m in world.slack.messages(APPROVALS_CHANNEL)] == [again["ts"]]
