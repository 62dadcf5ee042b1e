"""A real Bolt app, served over HTTP, driven by the driver and talking to the stand-in: the three
pieces fit together the way Slack and the bot do, signature checks included."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import pytest
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk import WebClient

from bot.demo.standin.driver import SlackDriver
from bot.demo.standin.slack_api import DEFAULT_TOKEN, SlackStandIn
from tests.standin.conftest import SECRET

MODAL = {
    "type": "modal",
    "callback_id": "ask",
    "title": {"type": "plain_text", "text": "Ask"},
    "submit": {"type": "plain_text", "text": "Send"},
    "blocks": [{"type": "input", "block_id": "reason", "label": {"type": "plain_text", "text": "Reason"},
                "element": {"type": "plain_text_input", "action_id": "reason_input"}}],
}


def _card(reason: str, decided_by: str | None = None) -> list[dict[str, Any]]:
    text = f"Reason: {reason}" + (f"\nApproved by <@{decided_by}>" if decided_by else "")
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    if not decided_by:
        blocks.append({"type": "actions", "block_id": "decide", "elements": [
            {"type": "button", "action_id": "approve", "value": reason, "text": {"type": "plain_text", "text": "OK"}},
        ]})
    return blocks


def build_app(slack: SlackStandIn) -> App:
    app = App(client=WebClient(token=DEFAULT_TOKEN, base_url=slack.url + "/api/"), signing_secret=SECRET)

    @app.command("/ask")
    def ask(ack: Any, command: dict[str, Any], client: WebClient, respond: Any) -> None:
        ack()
        client.views_open(trigger_id=command["trigger_id"], view=MODAL)
        respond(text="Opening the form")

    @app.view("ask")
    def submitted(ack: Any, view: dict[str, Any], client: WebClient) -> None:
        ack()
        reason = view["state"]["values"]["reason"]["reason_input"]["value"]
        client.chat_postMessage(channel="CAPPROVALS", text=f"Asked: {reason}", blocks=_card(reason))

    @app.action("approve")
    def approve(ack: Any, body: dict[str, Any], client: WebClient, respond: Any) -> None:
        ack()
        message, user = body["message"], body["user"]["id"]
        reason = body["actions"][0]["value"]
        client.chat_update(channel=body["channel"]["id"], ts=message["ts"], text="Approved",
                           blocks=_card(reason, user))
        respond(text="Thanks", replace_original=False)

    return app


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture
def bot_url(slack: SlackStandIn) -> Iterator[str]:
    handler = SlackRequestHandler(build_app(slack))
    server: WSGIServer = make_server("127.0.0.1", 0, handler, handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/slack/events"
    server.shutdown()
    server.server_close()


def test_command_modal_card_click_round_trip(slack: SlackStandIn, bot_url: str) -> None:
    with SlackDriver(bot_url, SECRET, slack) as driver:
        assert driver.slash_command("/ask", "", user_id="UREQ").status_code == 200
        key = driver.last_response_key
        view = slack.wait_for("views.open").params["view"]
        assert driver.submit_view(view, {"reason": "leaving"}, user_id="UREQ").status_code == 200
        slack.wait_for("chat.postMessage")
        (card,) = slack.messages("CAPPROVALS")

        assert driver.click(card, "approve", user_id="UAPP1").status_code == 200
        slack.wait_for("chat.update")
        (card,) = slack.messages("CAPPROVALS")
        assert card["text"] == "Approved" and "<@UAPP1>" in card["blocks"][0]["text"]["text"]
        click_key = driver.last_response_key
        assert [r["text"] for r in _eventually(lambda: slack.responses(click_key))] == ["Thanks"]
        assert [e["text"] for e in slack.ephemerals(user="UAPP1")] == ["Thanks"]
        assert _eventually(lambda: slack.responses(key))[0]["text"] == "Opening the form"


def test_the_app_refuses_what_slack_did_not_sign(slack: SlackStandIn, bot_url: str) -> None:
    with SlackDriver(bot_url, SECRET, slack) as driver:
        for knobs in (dict(forge=True), dict(stale=True), dict(omit_signature=True), dict(tamper=True)):
            assert driver.slash_command("/ask", "", user_id="UREQ", **knobs).status_code == 401, knobs
    assert slack.calls("views.open") == []


def _eventually(read: Any, timeout: float = 5.0) -> Any:
    """respond() runs in the listener's thread after the ack: poll for what it posted."""
    deadline = time.monotonic() + timeout
    while not (found := read()) and time.monotonic() < deadline:
        time.sleep(0.02)
    return found
