"""A loopback stand-in for Slack's Web API, reached through `WebClient(base_url=url + "/api/")`.

It answers the methods offboard calls the way Slack does (`{"ok": false, "error": …}` included),
records every call for tests, and keeps each channel's messages as Slack would show them now
(`chat.update` replaces in place), so a test or the demo can read the current approval card.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from vendors.sandbox.server import LoopbackServer, Request, Response

DEFAULT_TOKEN = "xoxb-test-token"
JSON_FIELDS = ("blocks", "view", "attachments")


@dataclass(frozen=True)
class SlackUser:
    id: str
    name: str
    real_name: str
    email: str
    is_admin: bool = False
    deleted: bool = False
    is_bot: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "team_id": "T1",
            "name": self.name,
            "real_name": self.real_name,
            "deleted": self.deleted,
            "is_admin": self.is_admin,
            "is_bot": self.is_bot,
            "tz": "Europe/London",
            "profile": {"real_name": self.real_name, "display_name": self.name, "email": self.email},
        }


DEFAULT_USERS = (
    SlackUser("UREQ", "rita", "Rita Requester", "rita@corp.com"),
    SlackUser("UAPP1", "alex", "Alex Approver", "alex@corp.com", is_admin=True),
    SlackUser("UAPP2", "sam", "Sam Security", "sam@corp.com"),
    SlackUser("UBOB", "bob", "Bob Baker", "bob@corp.com"),
    SlackUser("UALICE", "alice", "Alice Anders", "alice@corp.com"),
    SlackUser("UCAROL", "carol", "Carol Chen", "carol@corp.com"),
    SlackUser("UDAVE", "dave", "Dave Diaz", "dave@corp.com"),
    SlackUser("UMAL", "mallory", "Mallory Outsider", "mallory@corp.com"),
    SlackUser("UGONE", "gone", "Gone Person", "gone@corp.com", deleted=True),
    SlackUser("BHELPER", "helper-bot", "Helper Bot", "", is_bot=True),
)
DEFAULT_GROUPS = {"SAPPROVERS": ["UAPP1", "UAPP2"]}


@dataclass(frozen=True)
class Call:
    method: str
    params: dict[str, Any]
    token: str | None
    at: float = field(default_factory=time.time)


class SlackStandIn(LoopbackServer):
    name = "slack-standin"

    def __init__(
        self,
        users: Iterable[SlackUser] = DEFAULT_USERS,
        groups: dict[str, list[str]] | None = None,
        *,
        token: str = DEFAULT_TOKEN,
        port: int = 0,
    ) -> None:
        super().__init__(port=port)
        self.users = {u.id: u for u in users}
        self.groups = dict(DEFAULT_GROUPS if groups is None else groups)
        self.token = token
        self._calls: list[Call] = []
        self._messages: dict[str, list[dict[str, Any]]] = {}
        self._responses: dict[str, list[dict[str, Any]]] = {}
        self._ts = itertools.count(1)
        self._ids = itertools.count(1)
        self._state = threading.RLock()
        self._methods: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.postEphemeral": self._post_ephemeral,
            "chat.getPermalink": self._permalink,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "users.info": self._users_info,
            "users.lookupByEmail": self._lookup_by_email,
            "conversations.open": self._conversations_open,
            "usergroups.users.list": self._usergroup_users,
        }
        self.route("POST", r"/api/(?P<method>[A-Za-z.]+)", self._api)
        self.route("GET", r"/api/(?P<method>[A-Za-z.]+)", self._api)
        self.route("POST", r"/response/(?P<key>[\w-]+)", self._response_url)

    # -- what tests read -----------------------------------------------------------------------
    def calls(self, method: str | None = None) -> list[Call]:  # type: ignore[override]
        with self._state:
            return [c for c in self._calls if method is None or c.method == method]

    def wait_for(
        self, method: str, predicate: Callable[[Call], bool] | None = None, timeout: float = 5.0
    ) -> Call:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for call in self.calls(method):
                if predicate is None or predicate(call):
                    return call
            time.sleep(0.02)
        raise AssertionError(f"no {method} call matched within {timeout}s")

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Top-level messages of a channel as they look now, oldest first (thread replies apart)."""
        with self._state:
            return [dict(m) for m in self._messages.get(channel, []) if not m.get("thread_ts")]

    def replies(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        with self._state:
            return [dict(m) for m in self._messages.get(channel, []) if m.get("thread_ts") == thread_ts]

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        with self._state:
            return next((dict(m) for m in self._messages.get(channel, []) if m["ts"] == ts), None)

    def dm_channel(self, user_id: str) -> str:
        return f"D{user_id}"

    def response_url(self, key: str) -> str:
        return f"{self.url}/response/{key}"

    def responses(self, key: str) -> list[dict[str, Any]]:
        with self._state:
            return list(self._responses.get(key, []))

    def reset(self) -> None:
        with self._state:
            self._calls.clear()
            self._messages.clear()
            self._responses.clear()
        self.clear_faults()

    # -- dispatch ------------------------------------------------------------------------------
    def _api(self, request: Request) -> Response:
        params = _params(request)
        token = request.bearer_token or params.pop("token", None)
        method = request.params["method"]
        with self._state:
            self._calls.append(Call(method, params, token))
        if token != self.token:
            return Response(200, {"ok": False, "error": "invalid_auth" if token else "not_authed"})
        handler = self._methods.get(method)
        if handler is None:
            return Response(200, {"ok": False, "error": "unknown_method"})
        return Response(200, handler(params))

    def _response_url(self, request: Request) -> Response:
        with self._state:
            self._responses.setdefault(request.params["key"], []).append(request.json() or {})
        return Response(200, b"ok", {"Content-Type": "text/plain"})

    # -- methods -------------------------------------------------------------------------------
    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "user_id": "UBOT", "bot_id": "BBOT", "team_id": "T1", "user": "offboard",
                "team": "Corp", "url": "https://corp.slack.com/"}

    def _next_ts(self) -> str:
        return f"1700000000.{next(self._ts):06d}"

    def _post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = params.get("channel")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if not params.get("text") and not params.get("blocks"):
            return {"ok": False, "error": "no_text"}
        message = {"type": "message", "user": "UBOT", "bot_id": "BBOT", "ts": self._next_ts(),
                   "text": params.get("text", ""), "blocks": params.get("blocks") or []}
        if params.get("thread_ts"):
            message["thread_ts"] = params["thread_ts"]
        with self._state:
            self._messages.setdefault(channel, []).append(message)
        return {"ok": True, "channel": channel, "ts": message["ts"], "message": message}

    def _update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, ts = params.get("channel"), params.get("ts")
        with self._state:
            for message in self._messages.get(channel or "", []):
                if message["ts"] == ts:
                    message["text"] = params.get("text", message["text"])
                    if "blocks" in params:
                        message["blocks"] = params["blocks"] or []
                    message["edited"] = {"user": "UBOT", "ts": self._next_ts()}
                    return {"ok": True, "channel": channel, "ts": ts, "text": message["text"], "message": message}
        return {"ok": False, "error": "message_not_found"}

    def _post_ephemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("user") not in self.users:
            return {"ok": False, "error": "user_not_in_channel"}
        return {"ok": True, "message_ts": self._next_ts()}

    def _permalink(self, params: dict[str, Any]) -> dict[str, Any]:
        channel, ts = params.get("channel", ""), str(params.get("message_ts", ""))
        return {"ok": True, "channel": channel,
                "permalink": f"https://corp.slack.com/archives/{channel}/p{ts.replace('.', '')}"}

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("trigger_id"):
            return {"ok": False, "error": "invalid_trigger_id"}
        view = params.get("view")
        if not isinstance(view, dict) or view.get("type") != "modal":
            return {"ok": False, "error": "invalid_arguments"}
        opened = {**view, "id": f"V{next(self._ids):08d}", "team_id": "T1", "state": {"values": {}}}
        return {"ok": True, "view": opened}

    def _views_update(self, params: dict[str, Any]) -> dict[str, Any]:
        view = params.get("view") or {}
        return {"ok": True, "view": {**view, "id": params.get("view_id", "")}}

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(params.get("user", ""))
        return {"ok": True, "user": user.to_json()} if user else {"ok": False, "error": "user_not_found"}

    def _lookup_by_email(self, params: dict[str, Any]) -> dict[str, Any]:
        email = (params.get("email") or "").lower()
        for user in self.users.values():
            if user.email and user.email.lower() == email:
                return {"ok": True, "user": user.to_json()}
        return {"ok": False, "error": "users_not_found"}

    def _conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        users = [u for u in str(params.get("users", "")).split(",") if u]
        if len(users) != 1 or users[0] not in self.users:
            return {"ok": False, "error": "user_not_found"}
        return {"ok": True, "channel": {"id": self.dm_channel(users[0])}}

    def _usergroup_users(self, params: dict[str, Any]) -> dict[str, Any]:
        members = self.groups.get(params.get("usergroup", ""))
        if members is None:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": list(members)}


def _params(request: Request) -> dict[str, Any]:
    """WebClient sends form bodies (JSON fields as strings) or JSON bodies; Slack accepts both."""
    content_type = request.headers.get("content-type", "")
    if "application/json" in content_type:
        params: dict[str, Any] = dict(request.json() or {})
    else:
        params = {k: v[0] for k, v in parse_qs(request.body.decode(), keep_blank_values=True).items()}
    params.update({k: v[0] for k, v in request.query.items() if k not in params})
    for name in JSON_FIELDS:
        if isinstance(params.get(name), str):
            with contextlib.suppress(json.JSONDecodeError):
                params[name] = json.loads(params[name])
    return params
