"""Invitations through the same faults as requests: the batch card is owed until Slack takes it, so it catches
up after a chat.update outage by itself; and a send left with a step 'running' and nobody on it is taken up by
the periodic check, its step put back and finished, the invitation sent once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from bot.demo.localrun import APPROVER, LocalWorld
from storage.models import InviteSend, InviteState, InviteStep, StepStatus
from tests.e2e.conftest import eventually
from tests.e2e.onboard_world import card, latest_batch, onboard, onboarding, send_of, settled, start, text_of

BUSY_WORDS = ("sending…", "resending…", "cancelling…")


@pytest.fixture
def world(database_url: str) -> Iterator[LocalWorld]:
    local = LocalWorld.start(database_url, vendors=("amplitude",),
                             settings={"scheduler_interval_seconds": 1, "lease_seconds": 2})
    yield local
    local.stop()


def test_an_invitation_card_slack_would_not_update_catches_up_by_itself(world: LocalWorld) -> None:
    # Amplitude: its invitations do not lapse, so no later flag re-renders the card and hides the defect.
    outage = world.slack.fail("chat.update")
    assert "going out now" in onboard(world, "newbie@corp.com member vendors=amplitude", APPROVER)
    batch = latest_batch(world)
    eventually(lambda: send_of(world, batch, "amplitude").status == InviteState.INVITED, what="the invitation")
    assert any(w in text_of(card(world, batch)) for w in BUSY_WORDS), "Slack took no update during the outage"
    world.slack.heal(outage)

    eventually(lambda: not any(w in text_of(card(world, batch)) for w in BUSY_WORDS), timeout=15,
               what="the card to show the invitation sent")


@pytest.fixture
def quiet_world(database_url: str) -> Iterator[LocalWorld]:
    yield from start(database_url, ("posthog",))  # no scheduler: the test runs the periodic check itself


def test_a_send_left_running_with_nobody_on_it_is_taken_up_by_the_periodic_check(quiet_world: LocalWorld) -> None:
    world = quiet_world
    assert "going out now" in onboard(world, "newbie@corp.com member vendors=posthog", APPROVER)
    batch = latest_batch(world)
    settled(world, batch)
    send = send_of(world, batch, "posthog")

    # As if its worker had let go while the step's outcome could not be stored (a full disk): sending, the
    # invitation step 'running', nobody holding the send.
    with world.bot.db.session() as session:
        session.execute(update(InviteSend).where(col(InviteSend.id) == send.id).values(status=InviteState.SENDING))
        session.execute(update(InviteStep).where(col(InviteStep.send_id) == send.id, col(InviteStep.kind) == "invite")
                        .values(status=StepStatus.RUNNING))

    assert onboarding(world).reclaim() == [send.id]
    # The connector looks first, finds the invitation the cut-off step sent, and does not send another.
    eventually(lambda: send_of(world, batch, "posthog").status == InviteState.ALREADY_INVITED,
               what="the send to settle")
    with world.bot.db.session() as session:
        steps = list(session.exec(select(InviteStep).where(InviteStep.send_id == send.id)))
    assert all(s.status == StepStatus.DONE for s in steps if s.kind == "invite")
    assert len(world.posthog.invites_for("newbie@corp.com")) == 1, "looked up first: invited once"
    assert onboarding(world).reclaim() == []
