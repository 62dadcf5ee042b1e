"""The Socket Mode stand-in speaks Slack's protocol: a raw WebSocket client (not slack_sdk's) sees what an app
sees from Slack."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from bot.demo.standin.slack_api import DEFAULT_TOKEN, SlackStandIn
from bot.demo.standin.socket_mode import DEFAULT_APP_TOKEN, SocketModeStandIn


@pytest.fixture
def stand_ins() -> Iterator[tuple[SlackStandIn, SocketModeStandIn]]:
    with SlackStandIn() as slack, SocketModeStandIn(slack, ack_timeout=0.5, close_after_disconnect=0.2) as socket:
        yield slack, socket


def open_url(slack: SlackStandIn, token: str) -> dict[str, object]:
    return httpx.post(f"{slack.url}/api/apps.connections.open", headers={"Authorization": f"Bearer {token}"}).json()


def test_connections_open_takes_only_the_app_level_token(
    stand_ins: tuple[SlackStandIn, SocketModeStandIn],
) -> None:
    slack, _ = stand_ins
    assert open_url(slack, DEFAULT_TOKEN) == {"ok": False, "error": "not_allowed_token_type"}
    assert open_url(slack, "xapp-wrong") == {"ok": False, "error": "invalid_auth"}
    answer = open_url(slack, DEFAULT_APP_TOKEN)
    assert answer["ok"] is True and str(answer["url"]).startswith("ws://127.0.0.1:")


def test_hello_then_envelopes_acked_on_the_socket(
    stand_ins: tuple[SlackStandIn, SocketModeStandIn],
) -> None:
    slack, socket = stand_ins
    with connect(str(open_url(slack, DEFAULT_APP_TOKEN)["url"])) as ws:
        hello = json.loads(ws.recv(timeout=5))
        assert hello["type"] == "hello" and hello["num_connections"] == 1
        acker = _ack_all(ws, payload={"text": "hi"})
        envelope = socket.deliver("slash_commands", {"command": "/offboard", "text": "x"})
        assert envelope.attempts == 1 and envelope.ack_payload == {"text": "hi"}
        sent = envelope.sent[0]
        assert sent["type"] == "slash_commands" and sent["accepts_response_payload"] is True
        event = socket.deliver("events_api", {"type": "event_callback", "event": {"type": "app_home_opened"}})
        assert (event.sent[0]["retry_attempt"], event.sent[0]["retry_reason"]) == (0, "")
        ws.close()
        acker.join(timeout=5)


def test_an_unacked_envelope_is_delivered_again_saying_why(
    stand_ins: tuple[SlackStandIn, SocketModeStandIn],
) -> None:
    slack, socket = stand_ins
    with connect(str(open_url(slack, DEFAULT_APP_TOKEN)["url"])) as ws:
        ws.recv(timeout=5)
        envelope = socket.deliver("interactive", {"type": "block_actions"}, wait=False)
        first = json.loads(ws.recv(timeout=5))
        again = json.loads(ws.recv(timeout=5))  # nobody acked within the ack timeout
        assert again["envelope_id"] == first["envelope_id"] and "retry_attempt" not in first
        assert (again["retry_attempt"], again["retry_reason"]) == (1, "timeout")
        ws.send(json.dumps({"envelope_id": again["envelope_id"]}))
        assert envelope.acked.wait(5)


def test_a_url_works_once_and_disconnect_is_followed_by_a_close(
    stand_ins: tuple[SlackStandIn, SocketModeStandIn],
) -> None:
    slack, socket = stand_ins
    url = str(open_url(slack, DEFAULT_APP_TOKEN)["url"])
    with connect(url) as ws:
        ws.recv(timeout=5)
        with pytest.raises(ConnectionClosed), connect(url) as second:
            second.recv(timeout=5)  # the same URL again: refused
        socket.disconnect("link_disabled")
        assert json.loads(ws.recv(timeout=5))["type"] == "disconnect"
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)  # Slack closes the old connection shortly after
    with pytest.raises(ValueError):
        socket.disconnect("bored")


def _ack_all(ws: ClientConnection, payload: dict[str, object]) -> threading.Thread:
    def run() -> None:
        try:
            for raw in ws:
                envelope = json.loads(raw)
                ack: dict[str, object] = {"envelope_id": envelope["envelope_id"]}
                if envelope.get("accepts_response_payload"):
                    ack["payload"] = payload
                ws.send(json.dumps(ack))
        except ConnectionClosed:
            pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_production_code_never_imports_the_socket_mode_stand_in() -> None:
    # It needs a test-only package (websockets) and would accept any app token: it must stay out of the bot.
    root = Path(__file__).resolve().parents[2]
    importers = [str(path.relative_to(root)) for package in ("bot", "vendors", "storage")
                 for path in (root / package).rglob("*.py")
                 if path.name != "socket_mode.py" and re.search(r"standin\.socket_mode|^\s*(from|import) websockets\b",
                                                                 path.read_text(), re.M)]
    assert importers == []
