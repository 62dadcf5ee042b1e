"""Slack's side of the conversation: real signed HTTP requests into the bot's /slack/events, shaped
like the ones Slack sends for a slash command, a modal submission and a button click."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from bot.standin.slack_api import SlackStandIn

TEAM = {"id": "T1", "domain": "corp"}


class SlackDriver:
    def __init__(self, bot_url: str, signing_secret: str, standin: SlackStandIn, *, timeout: float = 10.0):
        self.bot_url = bot_url
        self.signing_secret = signing_secret
        self.standin = standin
        self._http = httpx.Client(timeout=timeout)
        self._ids = itertools.count(1)
        self.last_response_key = ""  # where the bot's respond() to the last slash command lands

    # -- what Slack sends ----------------------------------------------------------------------
    def slash_command(
        self, command: str, text: str, *, user_id: str, channel_id: str = "CCMD", **send: Any
    ) -> httpx.Response:
        user = self.standin.users.get(user_id)
        self.last_response_key = f"cmd-{next(self._ids)}"
        form = {
            "token": "deprecated-verification-token",
            "team_id": "T1",
            "team_domain": "corp",
            "channel_id": channel_id,
            "channel_name": "general",
            "user_id": user_id,
            "user_name": user.name if user else user_id,
            "command": command,
            "text": text,
            "api_app_id": "AOFFBOARD",
            "response_url": self.standin.response_url(self.last_response_key),
            "trigger_id": self._trigger_id(),
        }
        return self.send(urlencode(form), **send)

    def submit_view(self, view: dict[str, Any], values: dict[str, Any], *, user_id: str, **send: Any) -> httpx.Response:
        """`values` maps a block id to a plain value ("resignation", "UBOB", "2026-12-01", ["posthog"]);
        it is turned into Slack's view state from the view's own input elements. Inputs not named
        keep their initial value, as in Slack."""
        submitted = {**view, "state": {"values": view_state(view, values)}}
        payload = {
            "type": "view_submission",
            "team": TEAM,
            "user": {"id": user_id, "team_id": "T1"},
            "api_app_id": "AOFFBOARD",
            "trigger_id": self._trigger_id(),
            "view": submitted,
        }
        return self.send(urlencode({"payload": json.dumps(payload)}), **send)

    def click(
        self,
        message: dict[str, Any],
        action_id: str,
        *,
        user_id: str,
        value: str | None = None,
        channel_id: str,
        **send: Any,
    ) -> httpx.Response:
        """Click the button `action_id` (the one with `value`, when several share the id)."""
        block_id, element = find_button(message, action_id, value)
        payload = {
            "type": "block_actions",
            "team": TEAM,
            "user": {"id": user_id, "team_id": "T1"},
            "api_app_id": "AOFFBOARD",
            "trigger_id": self._trigger_id(),
            "container": {"type": "message", "message_ts": message["ts"], "channel_id": channel_id},
            "channel": {"id": channel_id},
            "message": message,
            "response_url": self.standin.response_url(f"act-{next(self._ids)}"),
            "actions": [
                {
                    "type": "button",
                    "action_id": action_id,
                    "block_id": block_id,
                    "value": element.get("value"),
                    "text": element.get("text"),
                    "action_ts": f"{time.time():.6f}",
                }
            ],
        }
        return self.send(urlencode({"payload": json.dumps(payload)}), **send)

    # -- signing -------------------------------------------------------------------------------
    def send(
        self,
        body: str,
        *,
        forge: bool = False,
        timestamp: int | None = None,
        omit_signature: bool = False,
        retry_num: int | None = None,
    ) -> httpx.Response:
        ts = str(timestamp if timestamp is not None else int(time.time()))
        secret = "not-the-secret" if forge else self.signing_secret
        signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if not omit_signature:
            headers |= {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}
        if retry_num is not None:
            headers |= {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
        return self._http.post(self.bot_url, content=body, headers=headers)

    def _trigger_id(self) -> str:
        return f"{next(self._ids)}.1.trigger{int(time.time())}"

    def close(self) -> None:
        self._http.close()


def find_button(message: dict[str, Any], action_id: str, value: str | None) -> tuple[str, dict[str, Any]]:
    for block in message.get("blocks") or []:
        candidates = list(block.get("elements", [])) + ([block["accessory"]] if "accessory" in block else [])
        for element in candidates:
            if element.get("action_id") == action_id and (value is None or element.get("value") == value):
                return block.get("block_id", ""), element
    raise LookupError(f"no button {action_id!r} (value {value!r}) in the message")


def view_state(view: dict[str, Any], values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    state: dict[str, dict[str, Any]] = {}
    for block in view.get("blocks", []):
        if block.get("type") != "input":
            continue
        element = block["element"]
        given = values.get(block["block_id"], _initial(element))
        state[block["block_id"]] = {element["action_id"]: _element_value(element, given)}
    return state


def _initial(element: dict[str, Any]) -> Any:
    kind = element["type"]
    if kind == "static_select":
        return (element.get("initial_option") or {}).get("value")
    if kind == "multi_static_select":
        return [o["value"] for o in element.get("initial_options", [])]
    return {
        "plain_text_input": element.get("initial_value"),
        "users_select": element.get("initial_user"),
        "datepicker": element.get("initial_date"),
        "timepicker": element.get("initial_time"),
    }.get(kind)


def _element_value(element: dict[str, Any], given: Any) -> dict[str, Any]:
    kind = element["type"]
    if kind == "plain_text_input":
        return {"type": kind, "value": given}
    if kind == "static_select":
        option = next((o for o in element.get("options", []) if o["value"] == given), None)
        return {"type": kind, "selected_option": option}
    if kind == "multi_static_select":
        chosen = [o for o in element.get("options", []) if o["value"] in (given or [])]
        return {"type": kind, "selected_options": chosen}
    if kind == "users_select":
        return {"type": kind, "selected_user": given}
    if kind == "datepicker":
        return {"type": kind, "selected_date": given}
    if kind == "timepicker":
        return {"type": kind, "selected_time": given}
    raise ValueError(f"the driver does not know how Slack reports a {kind}")
