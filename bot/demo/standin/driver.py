"""Slack's side of the conversation: real signed HTTP requests into the bot's /slack/events, shaped
like the ones Slack sends for a slash command, a modal submission and a button click.

Every sending method takes the same delivery knobs (see `SlackDriver.send`) so security tests can
forge or drop the signature, send a stale timestamp, or mark a delivery as Slack's retry.
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from bot.demo.standin.slack_api import APP_ID, TEAM_ID, SlackStandIn

TEAM = {"id": TEAM_ID, "domain": "corp"}
STALE_AFTER = 300  # Slack's apps reject requests signed more than five minutes ago
FORM = "application/x-www-form-urlencoded"


class SlackDriver:
    def __init__(self, bot_url: str, signing_secret: str, standin: SlackStandIn, *, timeout: float = 10.0) -> None:
        self.bot_url = bot_url
        self.signing_secret = signing_secret
        self.standin = standin
        self._http = httpx.Client(timeout=timeout)
        self._ids = itertools.count(1)
        self.last_response_key = ""  # where the bot's respond() to the last command or click lands
        self.last_trigger_id = ""
        self.last_body = ""  # the last request body sent, as it went

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SlackDriver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what Slack sends ----------------------------------------------------------------------
    def slash_command(
        self, command: str, text: str, user_id: str, channel_id: str = "CCMD", **send: Any
    ) -> httpx.Response:
        """`/command text` typed by `user_id` in `channel_id`; answers via `self.last_response_key`."""
        key = self._new_response_key("cmd")
        form = {
            "token": "deprecated-verification-token",
            "team_id": TEAM_ID,
            "team_domain": TEAM["domain"],
            "channel_id": channel_id,
            "channel_name": "directmessage" if channel_id.startswith("D") else "general",
            "user_id": user_id,
            "user_name": self._user_name(user_id),
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": self.standin.response_url(key, channel=channel_id, user=user_id),
            "trigger_id": self._new_trigger_id(),
        }
        return self.send(urlencode(form), **send)

    def submit_view(
        self, view: Mapping[str, Any], values: Mapping[str, Any], user_id: str, **send: Any
    ) -> httpx.Response:
        """Submit a modal. `view` is the view as the bot opened it (a views.open call's `view` param,
        or the opened view); `values` maps a block id (or action id) to a plain value such as
        "resignation", "UBOB", "2026-12-01" or ["posthog"], turned into Slack's view state from the
        view's own input elements. Inputs not named keep their initial value, as in Slack."""
        opened = self._opened(view)
        payload = {
            "type": "view_submission",
            "team": TEAM,
            "user": self._user(user_id),
            "api_app_id": APP_ID,
            "token": "deprecated-verification-token",
            "trigger_id": self._new_trigger_id(),
            "view": {**opened, "state": {"values": view_state(opened, values)}},
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        return self.send(urlencode({"payload": json.dumps(payload)}), **send)

    def click(
        self,
        message: Mapping[str, Any],
        action_id: str,
        user_id: str,
        value: str | None = None,
        channel_id: str | None = None,
        **send: Any,
    ) -> httpx.Response:
        """Click button `action_id` on `message` (the one with `value` when several share the id).
        `channel_id` defaults to the channel the stand-in holds the message in."""
        channel = channel_id or self.standin.channel_of(str(message.get("ts"))) or "CCMD"
        block_id, button = find_button(message, action_id, value)
        key = self._new_response_key("act")
        action = {
            "type": "button",
            "action_id": action_id,
            "block_id": block_id,
            "text": button.get("text"),
            "action_ts": f"{time.time():.6f}",
        }
        action.update({k: button[k] for k in ("value", "style") if k in button})
        payload = {
            "type": "block_actions",
            "team": TEAM,
            "user": self._user(user_id),
            "api_app_id": APP_ID,
            "token": "deprecated-verification-token",
            "trigger_id": self._new_trigger_id(),
            "container": {"type": "message", "message_ts": message["ts"], "channel_id": channel,
                          "is_ephemeral": False},
            "channel": {"id": channel, "name": "general"},
            "message": dict(message),
            "state": {"values": {}},
            "response_url": self.standin.response_url(key, channel=channel, ts=str(message["ts"]), user=user_id),
            "actions": [action],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        return self.send(urlencode({"payload": json.dumps(payload)}), **send)

    def click_in_view(
        self, view: Mapping[str, Any], action_id: str, user_id: str, value: str | None = None, **send: Any
    ) -> httpx.Response:
        """Click button `action_id` in an open modal or App Home (`view`: as the bot sent it, or as opened).
        Slack sends the view as it holds it now (id, hash, private_metadata) and no channel or message."""
        opened = self._opened(view)
        block_id, button = find_button(opened, action_id, value)
        action = {"type": "button", "action_id": action_id, "block_id": block_id, "text": button.get("text"),
                  "action_ts": f"{time.time():.6f}"}
        action.update({k: button[k] for k in ("value", "style") if k in button})
        payload = {
            "type": "block_actions",
            "team": TEAM,
            "user": self._user(user_id),
            "api_app_id": APP_ID,
            "token": "deprecated-verification-token",
            "trigger_id": self._new_trigger_id(),
            "container": {"type": "view", "view_id": opened.get("id")},
            "view": {**opened, "state": {"values": {}}},
            "actions": [action],
            "is_enterprise_install": False,
            "enterprise": None,
        }
        return self.send(urlencode({"payload": json.dumps(payload)}), **send)

    def event(self, event: Mapping[str, Any], **send: Any) -> httpx.Response:
        """An Events API delivery (`event_callback`) of `event`, as JSON, signed like every other request."""
        body = {
            "token": "deprecated-verification-token",
            "team_id": TEAM_ID,
            "api_app_id": APP_ID,
            "event": {"event_ts": f"{time.time():.6f}", **event},
            "type": "event_callback",
            "event_id": f"Ev{next(self._ids):08d}",
            "event_time": int(time.time()),
            "authorizations": [{"team_id": TEAM_ID, "user_id": "UBOT", "is_bot": True}],
            "is_ext_shared_channel": False,
        }
        headers = {"Content-Type": "application/json", **(send.pop("headers", None) or {})}
        return self.send(json.dumps(body), headers=headers, **send)

    def app_home_opened(self, user_id: str, **send: Any) -> httpx.Response:
        """`user_id` opens the bot's Home tab."""
        return self.event({"type": "app_home_opened", "user": user_id, "channel": f"D{user_id}", "tab": "home"},
                          **send)

    # -- signing and delivery ------------------------------------------------------------------
    def send(
        self,
        body: str,
        *,
        forge: bool = False,
        timestamp: int | None = None,
        stale: bool = False,
        tamper: bool = False,
        omit_signature: bool = False,
        omit_headers: Iterable[str] = (),
        retry_num: int | None = None,
        retry_reason: str = "http_timeout",
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """POST `body` to the bot, signed as Slack signs it, unless a knob says otherwise:
        `forge` signs with the wrong secret; `timestamp`/`stale` sign with an old time; `tamper` changes
        the body after signing; `omit_signature` drops both signing headers, `omit_headers` any named
        ones; `retry_num` adds Slack's X-Slack-Retry-Num/-Reason; `headers` adds or overrides any."""
        ts = str(timestamp if timestamp is not None else int(time.time()) - (STALE_AFTER + 60 if stale else 0))
        secret = "not-the-signing-secret" if forge else self.signing_secret
        signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
        sent_headers = {"Content-Type": FORM, "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}
        if retry_num is not None:
            sent_headers |= {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": retry_reason}
        sent_headers |= dict(headers or {})
        dropped = {h.lower() for h in omit_headers}
        if omit_signature:
            dropped |= {"x-slack-request-timestamp", "x-slack-signature"}
        sent_headers = {k: v for k, v in sent_headers.items() if k.lower() not in dropped}
        if tamper:
            body += "&tampered=1"
        self.last_body = body  # so a test can deliver the very same request again (a retry or a replay)
        return self._http.post(self.bot_url, content=body.encode(), headers=sent_headers)

    # -- helpers -------------------------------------------------------------------------------
    def _opened(self, view: Mapping[str, Any]) -> dict[str, Any]:
        """The view as Slack holds it (id, hash, private_metadata…), found from what the bot sent."""
        if view.get("id"):
            return dict(self.standin.view(str(view["id"])) or view)
        return self.standin.find_view(view) or {"id": f"VUNOPENED{next(self._ids)}", "type": "modal", **view}

    def _user_name(self, user_id: str) -> str:
        user = self.standin.users.get(user_id)
        return user.name if user else user_id

    def _user(self, user_id: str) -> dict[str, str]:
        name = self._user_name(user_id)
        return {"id": user_id, "username": name, "name": name, "team_id": TEAM_ID}

    def _new_trigger_id(self) -> str:
        self.last_trigger_id = f"{next(self._ids)}.{int(time.time())}.{secrets.token_hex(8)}"
        return self.last_trigger_id

    def _new_response_key(self, kind: str) -> str:
        self.last_response_key = f"{kind}-{next(self._ids)}"
        return self.last_response_key


# -- finding buttons ---------------------------------------------------------------------------
def _elements(block: Mapping[str, Any]) -> list[dict[str, Any]]:
    found = list(block.get("elements") or []) if block.get("type") == "actions" else []
    accessory = block.get("accessory")
    return [*found, accessory] if isinstance(accessory, dict) else found


def find_button(message: Mapping[str, Any], action_id: str, value: str | None = None) -> tuple[str, dict[str, Any]]:
    """(block_id, button) for the button `action_id`, narrowed by `value`; refuses to guess when
    several buttons match, since clicking the wrong one would make a test pass for the wrong reason."""
    matches = [
        (block.get("block_id", ""), element)
        for block in message.get("blocks") or []
        for element in _elements(block)
        if element.get("type") == "button"
        and element.get("action_id") == action_id
        and (value is None or element.get("value") == value)
    ]
    if not matches:
        raise LookupError(f"no button {action_id!r} (value {value!r}) in the message")
    if len(matches) > 1:
        values = [element.get("value") for _, element in matches]
        raise LookupError(f"{len(matches)} buttons {action_id!r}: pass value= (one of {values!r})")
    return matches[0]


# -- view state --------------------------------------------------------------------------------
def view_state(view: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Slack's `view.state.values` for `view`'s input blocks: {block_id: {action_id: state}}.

    A value in `values` is keyed by block id or action id and is either a plain value, a dict
    {action_id: plain value}, or a ready state dict (with "type"), passed through as is."""
    inputs = [b for b in view.get("blocks") or [] if b.get("type") == "input" and isinstance(b.get("element"), dict)]
    known = {b.get("block_id") for b in inputs} | {b["element"].get("action_id") for b in inputs}
    unknown = set(values) - known
    if unknown:
        raise KeyError(f"the view has no input {sorted(unknown)!r}; it has {sorted(str(k) for k in known)!r}")
    state: dict[str, dict[str, Any]] = {}
    for block in inputs:
        element = block["element"]
        block_id, action_id = block.get("block_id", ""), element.get("action_id", "")
        given = values.get(block_id, values.get(action_id, _UNSET))
        if isinstance(given, Mapping) and action_id in given:
            given = given[action_id]
        state[block_id] = {action_id: _element_state(element, _initial(element) if given is _UNSET else given)}
    return state


_UNSET: Any = object()
_SELECTS = ("static_select", "external_select", "radio_buttons")
_MULTI_SELECTS = ("multi_static_select", "multi_external_select", "checkboxes")
_TEXT_INPUTS = ("plain_text_input", "email_text_input", "url_text_input", "number_input")
# element type -> (its state key, the element's initial-value key)
_SIMPLE = {
    "users_select": ("selected_user", "initial_user"),
    "multi_users_select": ("selected_users", "initial_users"),
    "conversations_select": ("selected_conversation", "initial_conversation"),
    "multi_conversations_select": ("selected_conversations", "initial_conversations"),
    "channels_select": ("selected_channel", "initial_channel"),
    "multi_channels_select": ("selected_channels", "initial_channels"),
    "datepicker": ("selected_date", "initial_date"),
    "timepicker": ("selected_time", "initial_time"),
    "datetimepicker": ("selected_date_time", "initial_date_time"),
}


def _initial(element: Mapping[str, Any]) -> Any:
    kind = element.get("type")
    if kind in _SELECTS:
        return (element.get("initial_option") or {}).get("value")
    if kind in _MULTI_SELECTS:
        return [o["value"] for o in element.get("initial_options") or []]
    if kind in _TEXT_INPUTS:
        return element.get("initial_value")
    return element.get(_SIMPLE[kind][1]) if kind in _SIMPLE else None


def _options(element: Mapping[str, Any]) -> list[dict[str, Any]]:
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options += group.get("options") or []
    return options


def _option(element: Mapping[str, Any], value: Any) -> dict[str, Any]:
    option = next((o for o in _options(element) if o.get("value") == value), None)
    if option is None:
        offered = [o.get("value") for o in _options(element)]
        raise ValueError(f"{element.get('action_id')!r} offers no option {value!r}; it offers {offered!r}")
    return option


def _element_state(element: Mapping[str, Any], given: Any) -> dict[str, Any]:
    kind = str(element.get("type"))
    if isinstance(given, Mapping) and "type" in given:
        return dict(given)
    if kind in _TEXT_INPUTS:
        return {"type": kind, "value": None if given is None else str(given)}
    if kind in _SELECTS:
        return {"type": kind, "selected_option": None if given is None else _option(element, given)}
    if kind in _MULTI_SELECTS:
        return {"type": kind, "selected_options": [_option(element, v) for v in given or []]}
    if kind == "file_input":  # a list of file objects, as `SlackStandIn.share_file` returns them
        return {"type": kind, "files": list(given or [])}
    if kind in _SIMPLE:
        # Slack reports an empty multi-select as [], an empty single one as null.
        empty: Any = [] if kind.startswith("multi_") else None
        return {"type": kind, _SIMPLE[kind][0]: empty if given is None else given}
    raise ValueError(f"the driver does not know how Slack reports a {kind}")
