"""Each Slack delivery acts at most once: Slack's retries (X-Slack-Retry-Num) and replays of the same
signed request within its 5-minute window are answered 200 and change nothing."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlmodel import func, select

from bot.demo.localrun import APPROVALS_CHANNEL, APPROVER, COMMAND_CHANNEL, REQUESTER, LocalWorld
from bot.offboarding.slack import blocks
from bot.slack.dedupe import KEEP_FOR, DeliveryLog
from storage.models import Approval, OffboardRequest, SlackDelivery, utcnow
from tests.e2e.conftest import complete_checklist, eventually, open_request, the_card


@pytest.fixture
def world(database_url: str) -> Iterator[LocalWorld]:
    local = LocalWorld.start(database_url, vendors=("posthog",))
    yield local
    local.stop()


def count(world: LocalWorld, model: type) -> int:
    with world.bot.db.session() as session:
        return session.exec(select(func.count()).select_from(model)).one()


def test_a_replayed_form_submission_makes_one_request(world: LocalWorld) -> None:
    open_request(world, "dave@corp.com")
    submission = world.driver.last_body
    assert count(world, OffboardRequest) == 1
    for retry in (1, 2):
        response = world.driver.send(submission, retry_num=retry)
        assert response.status_code == 200 and response.text == ""
    replay = world.driver.send(submission)  # no retry header: someone replaying a captured request
    assert replay.status_code == 200
    assert count(world, OffboardRequest) == 1


def test_a_slash_command_delivered_twice_opens_one_form(world: LocalWorld, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bot.slack.dedupe")
    response = world.driver.slash_command("/offboard", "dave@corp.com", user_id=REQUESTER, channel_id=COMMAND_CHANNEL)
    assert response.status_code == 200
    eventually(lambda: world.slack.calls("views.open"), what="the form")
    assert world.driver.send(world.driver.last_body, retry_num=1).status_code == 200
    # The repeat was stopped before any listener ran (the answer comes after that decision, not before).
    assert "ignored a repeated Slack delivery (retry 1)" in caplog.text
    assert len(world.slack.calls("views.open")) == 1


def test_an_approval_delivered_twice_is_one_decision_with_no_confusing_reply(world: LocalWorld) -> None:
    request_id = open_request(world, "dave@corp.com")
    world.driver.click(the_card(world), blocks.APPROVE, user_id=APPROVER, channel_id=APPROVALS_CHANNEL)
    again = world.driver.send(world.driver.last_body, retry_num=1, retry_reason="http_timeout")
    assert again.status_code == 200
    complete_checklist(world, request_id)
    assert count(world, Approval) == 1
    assert world.posthog.delete_count("dave@corp.com") == 1
    # The repeat never reached the workflow, so nobody is told "already decided".
    assert not [c for c in world.slack.calls("chat.postEphemeral") if c.params.get("user") == APPROVER]


def test_old_deliveries_are_forgotten_and_recent_ones_kept(world: LocalWorld) -> None:
    now = utcnow()
    log = DeliveryLog(world.bot.db, lambda: now - KEEP_FOR - timedelta(minutes=1))
    assert log.first_time(b"old delivery")
    recent = DeliveryLog(world.bot.db, lambda: now)
    assert recent.first_time(b"recent delivery") and not recent.first_time(b"recent delivery")
    before = count(world, SlackDelivery)
    assert recent.forget_old() == 1
    assert count(world, SlackDelivery) == before - 1
    assert not recent.first_time(b"recent delivery")
