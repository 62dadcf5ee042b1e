"""The bot's end of the ack front (bot.runtime.front_link): a delivery the front has answered runs its listener
in full, and handing it to the app does not wait for that listener's ack()."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from slack_bolt import Ack, App, BoltRequest
from slack_sdk import WebClient

from bot.demo.localrun import BOT_TOKEN
from bot.demo.standin.slack_api import SlackStandIn
from bot.runtime.front_link import AlreadyAnswered

FORM = {"content-type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as standin:  # Bolt asks auth.test who the bot is before the first listener
        yield standin


def app_with(slack: SlackStandIn, finished: threading.Event, **ack_with: str) -> App:
    client = WebClient(token=BOT_TOKEN, base_url=f"{slack.url}/api/")
    app = App(client=client, request_verification_enabled=False)

    @app.command("/offboard")
    def slow(ack: Ack) -> None:
        time.sleep(0.5)  # busy listener threads: before the front, this is where acks queued
        ack(**ack_with)
        finished.set()

    return app


def command() -> BoltRequest:
    body = urlencode({"command": "/offboard", "text": "help", "team_id": "T1", "user_id": "U1"})
    return BoltRequest(body=body, headers=FORM, context={"ack": AlreadyAnswered()})


def test_an_answered_delivery_is_handed_over_without_waiting_for_its_ack(slack: SlackStandIn) -> None:
    finished = threading.Event()
    app = app_with(slack, finished)
    begun = time.perf_counter()
    response = app.dispatch(command())
    assert time.perf_counter() - begun < 0.4
    assert (response.status, response.body) == (200, "")
    assert finished.wait(5), "the listener still ran in full"


def test_a_listener_that_acks_with_content_behind_the_front_is_reported(
    slack: SlackStandIn, caplog: pytest.LogCaptureFixture,
) -> None:
    finished = threading.Event()
    app_with(slack, finished, text="this answer cannot reach Slack").dispatch(command())
    assert finished.wait(5)
    assert any(r.levelno == logging.ERROR and "front" in r.getMessage() for r in caplog.records)
