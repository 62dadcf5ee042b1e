"""Helpers for the end-to-end tests of emergency removal, partial changes, bulk, restore and guards: finding a
request's card wherever it went, clicking on it, reading the audit log."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select

from bot.demo.localrun import COMMAND_CHANNEL, LocalWorld
from bot.offboarding.slack import blocks
from storage import audit
from storage.models import AuditEvent, OffboardRequest, RequestStatus, Step
from tests.e2e.conftest import action_ids, card_text, confirm_values, eventually, mark_done


def latest_request(world: LocalWorld) -> int | None:
    with world.bot.db.session() as session:
        return session.exec(select(OffboardRequest.id).order_by(col(OffboardRequest.id).desc())).first()


def card_of(world: LocalWorld, request_id: int) -> dict[str, Any]:
    """The request's card as Slack shows it now, wherever it was posted (approvals, security channel,
    a batch card's thread)."""
    def posted() -> dict[str, Any] | None:
        snapshot = world.bot.workflow.snapshot(request_id)
        if snapshot is None or not snapshot.request.card_ts:
            return None
        return world.slack.message(snapshot.request.card_channel or "", snapshot.request.card_ts)

    return eventually(posted, what=f"the card of request #{request_id}")


def status_of(world: LocalWorld, request_id: int) -> RequestStatus:
    snapshot = world.bot.workflow.snapshot(request_id)
    assert snapshot is not None
    return snapshot.status


def wait_status(world: LocalWorld, request_id: int, status: RequestStatus, timeout: float = 15.0) -> None:
    eventually(lambda: status_of(world, request_id) == status, timeout, f"request #{request_id} to be {status}")
    eventually(lambda: blocks.STATUS_WORDS[status].capitalize() in card_text(card_of(world, request_id)), timeout,
               f"the card of #{request_id} to show {status}")


def click_card(world: LocalWorld, request_id: int, action_id: str, user: str, value: str | None = None) -> None:
    card = card_of(world, request_id)
    assert action_id in action_ids(card), f"{action_id} not on the card: {action_ids(card)}"
    snapshot = world.bot.workflow.snapshot(request_id)
    assert snapshot is not None
    response = world.driver.click(card, action_id, user_id=user, value=value,
                                  channel_id=snapshot.request.card_channel)
    assert response.status_code == 200


def command(world: LocalWorld, text: str, user: str) -> list[dict[str, Any]]:
    """/offboard <text> typed by `user`; returns what the bot answered on the response_url (if anything)."""
    response = world.driver.slash_command("/offboard", text, user_id=user, channel_id=COMMAND_CHANNEL)
    assert response.status_code == 200
    key = world.driver.last_response_key
    return eventually(lambda: world.slack.responses(key), what=f"an answer to /offboard {text}")


def events(world: LocalWorld, action: str, request_id: int | None = None) -> list[AuditEvent]:
    with world.bot.db.session() as session:
        query = select(AuditEvent).where(AuditEvent.action == action)
        if request_id is not None:
            query = query.where(AuditEvent.request_id == request_id)
        return list(session.exec(query.order_by(col(AuditEvent.seq))))


def steps_of(world: LocalWorld, request_id: int, vendor: str | None = None) -> list[Step]:
    with world.bot.db.session() as session:
        query = select(Step).where(Step.request_id == request_id)
        if vendor:
            query = query.where(Step.vendor == vendor)
        return list(session.exec(query.order_by(col(Step.vendor), col(Step.seq))))


def chain_verifies(world: LocalWorld) -> bool:
    with world.bot.db.session() as session:
        return audit.verify_chain(session).ok


def tick_all(world: LocalWorld, request_id: int, user: str) -> None:
    """A person works through the card's checklist, one item at a time (each tick may free automated
    steps behind it)."""
    for _ in range(60):
        values = confirm_values(world.driver, card_of(world, request_id), user)
        if not values:
            return
        mark_done(world.driver, card_of(world, request_id), user, values[0])
        eventually(lambda v=values[0]: v not in confirm_values(world.driver, card_of(world, request_id), user),
                   what="the tick to show")
    raise AssertionError("the checklist never ended")
