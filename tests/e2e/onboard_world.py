"""Helpers for the /onboard end-to-end tests: the real bot in HTTP mode on a SQLite file, driven by
signed Slack requests, against the vendor sandboxes and the Slack stand-in."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import time_machine
from sqlmodel import col, select

from bot.demo.localrun import APPROVALS_CHANNEL, COMMAND_CHANNEL, LocalWorld
from bot.onboarding.due import OnboardingDue
from bot.onboarding.workflow import Onboarding
from storage.models import AuditEvent, Invitation, InviteBatch, InviteSend, InviteState
from tests.e2e.conftest import eventually

ALL = ("posthog", "amplitude", "mixpanel", "kissmetrics")
BUSY = (InviteState.QUEUED, InviteState.SENDING, InviteState.RESENDING, InviteState.CANCELLING)


def text_of(message: dict[str, Any]) -> str:
    """A message's blocks and text as a person reads them (non-ASCII kept, unlike JSON's escapes)."""
    return json.dumps(message.get("blocks") or [], ensure_ascii=False) + (message.get("text") or "")


def start(database_url: str, vendors: tuple[str, ...] = ALL) -> Iterator[LocalWorld]:
    """A world without the background scheduler: tests tick the due work themselves, at the time they choose."""
    local = LocalWorld.start(database_url, vendors=vendors, background=False)
    try:
        yield local
    finally:
        local.stop()


def onboarding(world: LocalWorld) -> Onboarding:
    assert world.bot.onboarding is not None
    return world.bot.onboarding


def onboard(world: LocalWorld, text: str, user: str) -> str:
    """/onboard <text> as `user`; the text of its ephemeral answer."""
    response = world.driver.slash_command("/onboard", text, user_id=user, channel_id=COMMAND_CHANNEL)
    assert response.status_code == 200 and response.text == ""  # acked at once, answered after
    key = world.driver.last_response_key
    answers = eventually(lambda: world.slack.responses(key), what=f"the answer to /onboard {text}")
    assert answers[0]["response_type"] == "ephemeral"
    return text_of(answers[0])


def pending_list(world: LocalWorld, user: str) -> dict[str, Any]:
    """`/onboard pending` as `user`: the ephemeral message, with its buttons (it carries a ts to click on)."""
    world.driver.slash_command("/onboard", "pending", user_id=user, channel_id=COMMAND_CHANNEL)
    key = world.driver.last_response_key
    answer = eventually(lambda: world.slack.responses(key), what="the pending list")[0]
    return {"ts": "1.0", "blocks": answer["blocks"], "text": answer["text"]}


def click(world: LocalWorld, message: dict[str, Any], action_id: str, user: str, value: str | None = None,
          channel: str = APPROVALS_CHANNEL) -> str:
    """Click a button; the text of the answer to the click's response_url, if any, once it came."""
    response = world.driver.click(message, action_id, user_id=user, value=value, channel_id=channel)
    assert response.status_code == 200
    return world.driver.last_response_key


def latest_batch(world: LocalWorld) -> int:
    def found() -> int | None:
        with world.bot.db.session() as session:
            return session.exec(select(InviteBatch.id).order_by(col(InviteBatch.id).desc())).first()

    return eventually(found, what="an invitation batch")


def sends(world: LocalWorld, batch_id: int) -> dict[tuple[str, str], InviteSend]:
    """(email, vendor) → the send."""
    with world.bot.db.session() as session:
        rows = session.exec(select(InviteSend, Invitation).join(
            Invitation, col(Invitation.id) == col(InviteSend.invitation_id)).where(
            InviteSend.batch_id == batch_id)).all()
    return {(invitation.email, send.vendor): send for send, invitation in rows}


def send_of(world: LocalWorld, batch_id: int, vendor: str, email: str | None = None) -> InviteSend:
    found = [s for (e, v), s in sends(world, batch_id).items() if v == vendor and (email is None or e == email)]
    assert len(found) == 1, found
    return found[0]


def settled(world: LocalWorld, batch_id: int) -> dict[tuple[str, str], InviteSend]:
    """Waits until no send of the batch is being sent, resent or cancelled, and the card shows the last state."""
    def done() -> dict[tuple[str, str], InviteSend] | None:
        found = sends(world, batch_id)
        return found if found and all(s.status not in BUSY for s in found.values()) else None

    result = eventually(done, what=f"batch #{batch_id} to settle")
    eventually(lambda: not any(w in text_of(card(world, batch_id)) for w in ("sending…", "resending…",
                                                                               "cancelling…")),
               what=f"the card of #{batch_id} to show the outcome")
    return result


def card(world: LocalWorld, batch_id: int, channel: str = APPROVALS_CHANNEL) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        with world.bot.db.session() as session:
            batch = session.get(InviteBatch, batch_id)
            ts = batch.card_ts if batch else None
        return world.slack.message(channel, ts) if ts else None

    return eventually(found, what=f"the card of invitation #{batch_id}")


def audit_events(world: LocalWorld, action: str | None = None) -> list[AuditEvent]:
    with world.bot.db.session() as session:
        statement = select(AuditEvent).order_by(col(AuditEvent.seq))
        if action:
            statement = statement.where(AuditEvent.action == action)
        return list(session.exec(statement))


def tick_at(world: LocalWorld, moment: datetime) -> None:
    """One pass of the onboarding due work as if it were `moment`."""
    with time_machine.travel(moment, tick=False):
        OnboardingDue(onboarding(world)).tick()


def dms(world: LocalWorld, user: str) -> list[str]:
    return [text_of(m) for m in world.slack.messages(world.slack.dm_channel(user))]
