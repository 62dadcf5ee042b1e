"""The driver sends what Slack sends: signed form bodies that verify with the signing secret, and
payloads whose shapes follow Slack's (view state from the view's own inputs, the clicked button)."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qs

import pytest
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from bot.demo.standin.driver import SlackDriver, find_button, view_state
from bot.demo.standin.slack_api import SlackStandIn
from tests.standin.conftest import SECRET, Receiver
from vendors.sandbox.server import Request


def _option(value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": value.title()}, "value": value}


def _input(block_id: str, element: dict[str, Any]) -> dict[str, Any]:
    return {"type": "input", "block_id": block_id, "label": {"type": "plain_text", "text": block_id},
            "element": {"action_id": block_id + "_input", **element}}


MODAL = {
    "type": "modal",
    "callback_id": "offboard_request",
    "private_metadata": '{"channel": "CCMD"}',
    "title": {"type": "plain_text", "text": "Offboard someone"},
    "submit": {"type": "plain_text", "text": "Submit"},
    "blocks": [
        _input("subject", {"type": "plain_text_input", "initial_value": "alice@corp.com"}),
        _input("reason", {"type": "static_select", "options": [_option("resignation"), _option("contract_end")]}),
        _input("new_owner", {"type": "users_select"}),
        _input("effective_date", {"type": "datepicker"}),
        _input("vendors", {"type": "multi_static_select", "options": [_option("posthog"), _option("amplitude")],
                           "initial_options": [_option("posthog")]}),
        _input("urgency", {"type": "radio_buttons", "options": [_option("now"), _option("later")]}),
    ],
}


def _button(action_id: str, text: str, value: str) -> dict[str, Any]:
    return {"type": "button", "action_id": action_id, "text": {"type": "plain_text", "text": text}, "value": value}


CARD = {
    "ts": "1700000000.000100",
    "text": "Offboard alice",
    "blocks": [
        {"type": "section", "block_id": "step-1", "text": {"type": "mrkdwn", "text": "Remove from PostHog"},
         "accessory": _button("retry_step", "Retry", "1")},
        {"type": "section", "block_id": "step-2", "text": {"type": "mrkdwn", "text": "Remove from Amplitude"},
         "accessory": _button("retry_step", "Retry", "2")},
        {"type": "actions", "block_id": "decide",
         "elements": [_button("approve_request", "Approve", "7"), _button("reject_request", "Reject", "7")]},
    ],
}


def payload_of(request: Request) -> dict[str, Any]:
    return json.loads(parse_qs(request.body.decode())["payload"][0])


def verifies(request: Request) -> bool:
    return SignatureVerifier(SECRET).is_valid_request(request.body, request.headers)


def test_a_slash_command_is_a_signed_form_like_slacks(driver: SlackDriver, receiver: Receiver) -> None:
    response = driver.slash_command("/offboard", "alice@corp.com resignation", user_id="UREQ")
    assert response.status_code == 200
    request = receiver.last
    assert verifies(request)
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    form = request.form()
    assert form["command"] == "/offboard" and form["text"] == "alice@corp.com resignation"
    assert (form["user_id"], form["user_name"], form["team_id"], form["channel_id"]) == ("UREQ", "rita", "T1", "CCMD")
    assert form["response_url"].endswith("/response/" + driver.last_response_key)
    assert form["trigger_id"] == driver.last_trigger_id
    driver.slash_command("/offboard", "help", user_id="UREQ")
    assert receiver.last.form()["trigger_id"] != form["trigger_id"]  # fresh each time, as Slack's are


def test_forged_stale_tampered_and_unsigned_requests_do_not_verify(driver: SlackDriver, receiver: Receiver) -> None:
    for knobs in (dict(forge=True), dict(stale=True), dict(timestamp=int(time.time()) - 301), dict(tamper=True)):
        driver.slash_command("/offboard", "help", user_id="UREQ", **knobs)
        assert not verifies(receiver.last), knobs
    driver.slash_command("/offboard", "help", user_id="UREQ", omit_signature=True)
    assert "x-slack-signature" not in receiver.last.headers and "x-slack-request-timestamp" not in receiver.last.headers
    driver.slash_command("/offboard", "help", user_id="UREQ", omit_headers=["X-Slack-Signature"])
    assert "x-slack-signature" not in receiver.last.headers and "x-slack-request-timestamp" in receiver.last.headers


def test_retries_carry_slacks_headers_and_still_verify(driver: SlackDriver, receiver: Receiver) -> None:
    driver.slash_command("/offboard", "help", user_id="UREQ", retry_num=1, retry_reason="http_error")
    headers = receiver.last.headers
    assert headers["x-slack-retry-num"] == "1" and headers["x-slack-retry-reason"] == "http_error"
    assert verifies(receiver.last)


def test_view_state_is_built_from_the_views_own_elements() -> None:
    state = view_state(MODAL, {"reason": "resignation", "new_owner": "UBOB", "effective_date": "2026-12-01",
                               "urgency_input": "now"})
    assert state["subject"] == {"subject_input": {"type": "plain_text_input", "value": "alice@corp.com"}}
    assert state["reason"]["reason_input"]["selected_option"] == _option("resignation")
    assert state["new_owner"]["new_owner_input"] == {"type": "users_select", "selected_user": "UBOB"}
    assert state["effective_date"]["effective_date_input"]["selected_date"] == "2026-12-01"
    assert state["vendors"]["vendors_input"]["selected_options"] == [_option("posthog")]  # its initial value
    assert state["urgency"]["urgency_input"] == {"type": "radio_buttons", "selected_option": _option("now")}


def test_view_state_accepts_slacks_nested_form_and_refuses_what_the_view_lacks() -> None:
    state = view_state(MODAL, {"reason": {"reason_input": "contract_end"}, "vendors": ["posthog", "amplitude"]})
    assert state["reason"]["reason_input"]["selected_option"]["value"] == "contract_end"
    assert len(state["vendors"]["vendors_input"]["selected_options"]) == 2
    with pytest.raises(KeyError, match="reson"):
        view_state(MODAL, {"reson": "resignation"})
    with pytest.raises(ValueError, match="offers no option"):
        view_state(MODAL, {"reason": "boredom"})


def test_submit_view_sends_the_opened_view_with_its_state(
    driver: SlackDriver, receiver: Receiver, slack: SlackStandIn
) -> None:
    WebClient(token=slack.token, base_url=slack.url + "/api/").views_open(trigger_id="t1", view=MODAL)
    view_as_sent = slack.wait_for("views.open").params["view"]
    driver.submit_view(view_as_sent, {"reason": "resignation"}, user_id="UREQ")
    assert verifies(receiver.last)
    payload = payload_of(receiver.last)
    assert payload["type"] == "view_submission" and payload["user"]["id"] == "UREQ"
    view = payload["view"]
    assert view["id"] == slack.views()[0]["id"] and view["callback_id"] == "offboard_request"
    assert view["private_metadata"] == MODAL["private_metadata"]
    assert view["state"]["values"]["reason"]["reason_input"]["selected_option"]["value"] == "resignation"


def test_click_sends_block_actions_for_the_chosen_button(driver: SlackDriver, receiver: Receiver) -> None:
    driver.click(CARD, "retry_step", user_id="UAPP1", value="2", channel_id="CAPPROVALS")
    assert verifies(receiver.last)
    payload = payload_of(receiver.last)
    assert payload["type"] == "block_actions"
    (action,) = payload["actions"]
    assert (action["action_id"], action["block_id"], action["value"]) == ("retry_step", "step-2", "2")
    assert payload["container"] == {"type": "message", "message_ts": CARD["ts"], "channel_id": "CAPPROVALS",
                                    "is_ephemeral": False}
    assert payload["channel"]["id"] == "CAPPROVALS" and payload["message"]["ts"] == CARD["ts"]
    assert payload["response_url"].endswith("/response/" + driver.last_response_key)
    assert payload["trigger_id"] and payload["user"]["id"] == "UAPP1"


def test_find_button_refuses_to_guess() -> None:
    assert find_button(CARD, "approve_request")[0] == "decide"
    with pytest.raises(LookupError, match="pass value="):
        find_button(CARD, "retry_step")
    with pytest.raises(LookupError, match="no button"):
        find_button(CARD, "cancel_request")
