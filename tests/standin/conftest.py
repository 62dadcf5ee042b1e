"""Fixtures for the Slack stand-in's own tests: a started stand-in, a real WebClient pointed at it,
and a loopback receiver that keeps the driver's raw requests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_sdk import WebClient

from bot.demo.standin.driver import SlackDriver
from bot.demo.standin.slack_api import DEFAULT_TOKEN, SlackStandIn
from vendors.sandbox.server import LoopbackServer, Request, Response

SECRET = "test-signing-secret"


class Receiver(LoopbackServer):
    """Stands where the bot's /slack/events would be and keeps what arrives."""

    name = "receiver"

    def __init__(self) -> None:
        super().__init__()
        self.received: list[Request] = []
        self.route("POST", r"/slack/events", self._keep)

    def _keep(self, request: Request) -> Response:
        self.received.append(request)
        return Response(200, b"", {"Content-Type": "text/plain"})

    @property
    def last(self) -> Request:
        assert self.received, "nothing arrived"
        return self.received[-1]


@pytest.fixture
def slack() -> Iterator[SlackStandIn]:
    with SlackStandIn() as standin:
        assert isinstance(standin, SlackStandIn)
        yield standin


@pytest.fixture
def client(slack: SlackStandIn) -> WebClient:
    return WebClient(token=DEFAULT_TOKEN, base_url=slack.url + "/api/")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as server:
        assert isinstance(server, Receiver)
        yield server


@pytest.fixture
def driver(slack: SlackStandIn, receiver: Receiver) -> Iterator[SlackDriver]:
    with SlackDriver(receiver.url + "/slack/events", SECRET, slack) as slack_driver:
        yield slack_driver
