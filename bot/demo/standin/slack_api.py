"""A loopback stand-in for Slack's Web API, reached through `WebClient(base_url=standin.url + "/api/")`.

It answers the methods offboard calls the way Slack does (HTTP 200 with `{"ok": false, "error": …}`,
429 + Retry-After when throttled), checks Block Kit limits the SDK does not, records every call for
tests, and keeps each channel's messages as Slack would show them now (`chat.update` replaces in
place), so a test or the demo can read the current approval card. It also serves the `response_url`
targets that `respond()` posts to, and the upload URLs of `files_upload_v2`.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from bot.demo.standin import limits
from vendors.sandbox.server import Fault, LoopbackServer, Request, Response

DEFAULT_TOKEN = "xoxb-test-token"
TEAM_ID = "T1"
BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
APP_ID = "AOFFBOARD"
JSON_FIELDS = ("blocks", "view", "attachments", "files")
MAX_RESPONSE_URL_USES = 5  # Slack: a response_url works five times within 30 minutes
_CHANNEL_ID = re.compile(r"[CG][A-Z0-9]+")
_API_PATH = re.compile(r"/api/(?P<method>[A-Za-z.]+)")
_FIRST_TS = 1_700_000_000_000_000  # microseconds; ts values read like "1700000000.000100"

Params = dict[str, Any]
Answer = dict[str, Any]


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
        profile = {
            "real_name": self.real_name,
            "real_name_normalized": self.real_name,
            "display_name": self.name,
            "email": self.email,
        }
        return {
            "id": self.id,
            "team_id": TEAM_ID,
            "name": self.name,
            "real_name": self.real_name,
            "deleted": self.deleted,
            "is_admin": self.is_admin,
            "is_owner": False,
            "is_bot": self.is_bot,
            "is_app_user": False,
            "tz": "Europe/London",
            "profile": profile,
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
    SlackUser("UHELPER", "helper-bot", "Helper Bot", "", is_bot=True),
)
DEFAULT_GROUPS: dict[str, list[str]] = {"SAPPROVERS": ["UAPP1", "UAPP2"]}
# The bot scopes a workspace grants when the app is installed from manifest.yml (a test keeps them equal).
DEFAULT_SCOPES = ("commands", "chat:write", "users:read", "users:read.email", "im:write", "usergroups:read",
                  "files:write", "files:read", "channels:read", "groups:read", "channels:history",
                  "groups:history")
SCOPES_HEADER = "x-oauth-scopes"  # Slack lists the token's scopes in this header of every Web API answer


@dataclass(frozen=True)
class StandInChannel:
    """A channel as conversations.info shows it to the bot. Channels never configured exist, are public
    (private when their id starts with G, as old private channels' did) and have the bot in them."""

    id: str
    name: str
    is_private: bool = False
    is_member: bool = True
    is_archived: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "name_normalized": self.name, "is_channel": not self.is_private,
                "is_group": self.is_private, "is_im": False, "is_mpim": False, "is_private": self.is_private,
                "is_member": self.is_member, "is_archived": self.is_archived, "is_general": False,
                "is_shared": False, "is_ext_shared": False, "is_org_shared": False, "context_team_id": TEAM_ID}


@dataclass(frozen=True)
class Call:
    """One Web API call as Slack received it. `status` is the HTTP status (0: connection dropped);
    `user` is whom the token belongs to, None when the token was refused."""

    method: str
    params: Params
    token: str | None
    user: str | None = None
    response: Answer | None = None
    status: int = 200
    at: float = field(default_factory=time.time)

    @property
    def ok(self) -> bool:
        return self.status == 200 and bool((self.response or {}).get("ok"))


@dataclass
class UploadedFile:
    id: str
    filename: str
    length: int
    content: bytes | None = None  # None until the bytes reach the upload URL
    title: str | None = None
    channel: str | None = None  # set by files.completeUploadExternal
    initial_comment: str | None = None
    thread_ts: str | None = None
    user: str | None = None  # a person shared it (e.g. through a modal's file input), not the bot


@dataclass(frozen=True)
class _Binding:
    """What a response_url belongs to, so replace/delete_original can act on the right message."""

    channel: str | None = None
    ts: str | None = None
    user: str | None = None


class SlackStandIn(LoopbackServer):
    name = "slack-standin"

    def __init__(
        self,
        users: Iterable[SlackUser] | Mapping[str, SlackUser] = DEFAULT_USERS,
        groups: Mapping[str, list[str]] | None = None,
        *,
        token: str = DEFAULT_TOKEN,
        port: int = 0,
        latency: float = 0.0,
        rate_limit_per_minute: int | None = None,
        scopes: Iterable[str] = DEFAULT_SCOPES,
    ) -> None:
        super().__init__(port=port, latency=latency, rate_limit_per_minute=rate_limit_per_minute)
        self.scopes: tuple[str, ...] = tuple(scopes)
        self.channels: dict[str, StandInChannel] = {}
        seeded = users.values() if isinstance(users, Mapping) else users
        self.users: dict[str, SlackUser] = {u.id: u for u in seeded}
        groups = DEFAULT_GROUPS if groups is None else groups
        self.groups: dict[str, list[str]] = {k: list(v) for k, v in groups.items()}
        self.token = token
        self._state = threading.RLock()
        self._ts = itertools.count(1)
        self._ids = itertools.count(1)
        self._clear_state()
        self._methods: dict[str, Callable[[Params], Answer]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.postEphemeral": self._post_ephemeral,
            "chat.getPermalink": self._permalink,
            "views.open": self._views_open,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "users.info": self._users_info,
            "users.lookupByEmail": self._lookup_by_email,
            "conversations.open": self._conversations_open,
            "conversations.info": self._conversations_info,
            "conversations.history": self._conversations_history,
            "usergroups.users.list": self._usergroup_users,
            "files.getUploadURLExternal": self._upload_url,
            "files.completeUploadExternal": self._complete_upload,
            "files.info": self._files_info,
        }
        # Methods called with another token than the bot's (apps.connections.open takes the app-level token).
        self._method_tokens: dict[str, str] = {}
        for verb in ("GET", "POST"):
            self.route(verb, _API_PATH.pattern, self._api)
        self.route("POST", r"/response/(?P<key>[\w.-]+)", self._response_url)
        self.route("POST", r"/upload/v1/(?P<file_id>F\w+)", self._upload)
        self.route("GET", r"/files-pri/(?P<file_id>F\w+)/(?P<name>[^/]+)", self._download)

    def _clear_state(self) -> None:
        with self._state:
            self._calls: list[Call] = []
            self._messages: dict[str, list[dict[str, Any]]] = {}
            self._ephemerals: list[dict[str, Any]] = []
            self._responses: dict[str, list[dict[str, Any]]] = {}
            self._bindings: dict[str, _Binding] = {}
            self._views: dict[str, dict[str, Any]] = {}
            self._triggers: set[str] = set()
            self._homes: dict[str, str] = {}  # user id -> the view id of their published Home tab
            self._files: dict[str, UploadedFile] = {}

    # -- seeding -------------------------------------------------------------------------------
    def add_user(self, user: SlackUser) -> None:
        with self._state:
            self.users[user.id] = user

    def set_group(self, group_id: str, members: list[str]) -> None:
        with self._state:
            self.groups[group_id] = list(members)

    def set_scopes(self, scopes: Iterable[str]) -> None:
        """The bot scopes the token has from now on (as after reinstalling the app with other scopes)."""
        with self._state:
            self.scopes = tuple(scopes)

    def set_channel(self, channel_id: str, *, name: str | None = None, private: bool | None = None,
                    member: bool = True, archived: bool = False) -> None:
        """How `channel_id` looks to the bot: e.g. `member=False` for a channel nobody invited it to."""
        with self._state:
            self.channels[channel_id] = StandInChannel(
                channel_id, name or channel_id.lower(), channel_id.startswith("G") if private is None else private,
                member, archived)

    # -- what tests read -----------------------------------------------------------------------
    def calls(self, method: str | None = None) -> list[Call]:  # type: ignore[override]
        """Every Web API call in arrival order, throttled and refused ones included (see `Call.ok`)."""
        with self._state:
            return [c for c in self._calls if method is None or c.method == method]

    def wait_for(self, method: str, predicate: Callable[[Call], bool] | None = None, timeout: float = 5.0) -> Call:
        """The first call of `method` matching `predicate`; polls, because Bolt listeners run after the
        ack in worker threads and the call may not have happened yet."""
        deadline = time.monotonic() + timeout
        while True:
            found = next((c for c in self.calls(method) if predicate is None or predicate(c)), None)
            if found is not None:
                return found
            if time.monotonic() >= deadline:
                seen = [c.params for c in self.calls(method)]
                raise AssertionError(f"no {method} call matched within {timeout}s; saw {seen!r}")
            time.sleep(0.02)

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Top-level messages of a channel as they look now, oldest first (thread replies apart)."""
        with self._state:
            return [copy.deepcopy(m) for m in self._messages.get(channel, []) if not _is_reply(m)]

    def replies(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        with self._state:
            found = self._messages.get(channel, [])
            return [copy.deepcopy(m) for m in found if _is_reply(m) and m["thread_ts"] == thread_ts]

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        with self._state:
            found = self._find_message(channel, ts)
            return copy.deepcopy(found) if found else None

    def delete_message(self, channel: str, ts: str) -> None:
        """What a person deleting a message in Slack does: it is gone, and chat.update on it answers
        message_not_found."""
        with self._state:
            found = self._find_message(channel, ts)
            assert found is not None, f"no message {ts} in {channel}"
            self._messages[channel].remove(found)

    def channel_of(self, ts: str) -> str | None:
        """Which channel holds the message `ts` (ts values are unique across the stand-in)."""
        with self._state:
            return next((ch for ch, msgs in self._messages.items() if any(m["ts"] == ts for m in msgs)), None)

    def ephemerals(self, *, user: str | None = None, channel: str | None = None) -> list[dict[str, Any]]:
        """Messages only one user saw: chat.postEphemeral and ephemeral response_url answers."""
        with self._state:
            return [
                copy.deepcopy(e)
                for e in self._ephemerals
                if (user is None or e["user"] == user) and (channel is None or e["channel"] == channel)
            ]

    def dm_channel(self, user_id: str) -> str:
        """The stable DM channel id conversations.open returns for `user_id`."""
        return f"D{user_id}"

    def views(self) -> list[dict[str, Any]]:
        """Modals opened so far, as Slack holds them now (views.update applied), oldest first."""
        with self._state:
            return [copy.deepcopy(v) for v in self._views.values()]

    def home(self, user_id: str) -> dict[str, Any] | None:
        """The Home tab `user_id` sees now (the last views.publish for them), or None."""
        with self._state:
            view_id = self._homes.get(user_id)
            return copy.deepcopy(self._views[view_id]) if view_id else None

    def view(self, view_id: str) -> dict[str, Any] | None:
        with self._state:
            found = self._views.get(view_id)
            return copy.deepcopy(found) if found else None

    def find_view(self, view: Mapping[str, Any]) -> dict[str, Any] | None:
        """The opened modal that `view` (e.g. a views.open call's `view` param) became, newest first."""
        with self._state:
            for opened in reversed(self._views.values()):
                if opened.get("callback_id") == view.get("callback_id") and opened.get("blocks") == view.get("blocks"):
                    return copy.deepcopy(opened)
        return None

    def share_file(self, user_id: str, filename: str, content: bytes) -> dict[str, Any]:
        """A file `user_id` uploads (e.g. in a modal's file input), as Slack describes it in the view state:
        its `url_private_download` answers only with the bot's token."""
        with self._state:
            upload = UploadedFile(f"F{next(self._ids):08d}", filename, len(content), content, filename, user=user_id)
            self._files[upload.id] = upload
            return self._user_file_json(upload)

    def _user_file_json(self, upload: UploadedFile) -> dict[str, Any]:
        private = f"{self.url}/files-pri/{upload.id}/{upload.filename}"
        return {**_file_json(upload), "user": upload.user, "filetype": upload.filename.rsplit(".", 1)[-1],
                "mimetype": "text/csv", "url_private": private, "url_private_download": private}

    def files(self) -> list[UploadedFile]:
        with self._state:
            return [copy.copy(f) for f in self._files.values()]

    def response_url(self, key: str, *, channel: str | None = None, ts: str | None = None,
                     user: str | None = None) -> str:
        """A response_url whose payloads are kept under `key`. Bind it to a message (channel + ts) so
        `replace_original`/`delete_original` act on it, and to a user for ephemeral answers."""
        with self._state:
            self._bindings[key] = _Binding(channel, ts, user)
        return f"{self.url}/response/{key}"

    def responses(self, key: str) -> list[dict[str, Any]]:
        with self._state:
            return copy.deepcopy(self._responses.get(key, []))

    def reset(self) -> None:
        """Forget calls, messages, views, files and faults; users, groups, scopes and channels stay."""
        self._clear_state()
        self.clear_faults()

    # -- faults --------------------------------------------------------------------------------
    def rate_limit(self, method: str, *, retry_after: int = 1, times: int | None = 1) -> Fault:
        """Answer the next `times` calls of `method` (None: until cleared or healed) with 429 + Retry-After."""
        fault = Fault(
            "status",
            status=429,
            body={"ok": False, "error": "ratelimited"},
            headers={"Retry-After": str(retry_after)},
            path_pattern=rf"^/api/{re.escape(method)}$",
            times=times,
        )
        self.inject(fault)
        return fault

    def fail(self, method: str, *, status: int = 500, times: int | None = None) -> Fault:
        """Answer `method` with HTTP `status` (500: Slack's own trouble) for the next `times` calls, or until
        `heal` when None, as during an outage. The call is not carried out."""
        fault = Fault("status", status=status, body={"ok": False, "error": "fatal_error"},
                      path_pattern=rf"^/api/{re.escape(method)}$", times=times)
        self.inject(fault)
        return fault

    def heal(self, fault: Fault) -> None:
        """End one failure `fail` or `rate_limit` started (others stay)."""
        with self._lock:
            if fault in self._faults:
                self._faults.remove(fault)

    def throttled(self, retry_after: int) -> Response:
        return Response(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after)})

    # -- dispatch ------------------------------------------------------------------------------
    def dispatch(self, request: Request) -> Response | None:
        response = super().dispatch(request)
        match = _API_PATH.fullmatch(request.path)
        if match:
            # Recorded here, not in the route, so throttled and dropped calls show up too.
            params, token = _params(request)
            status = response.status if response else 0
            body = response.body if response and isinstance(response.body, dict) else None
            user = BOT_USER_ID if token == self.token and status == 200 else None
            with self._state:
                self._calls.append(Call(match["method"], params, token, user, body, status))
        return response

    def add_method(self, method: str, handler: Callable[[Params], Answer], *, token: str | None = None) -> None:
        """Answer `method` too (another stand-in's, e.g. Socket Mode's); `token`: the one it takes instead of
        the bot token."""
        with self._state:
            self._methods[method] = handler
            if token is not None:
                self._method_tokens[method] = token

    def _api(self, request: Request) -> Response:
        params, token = _params(request)
        method = request.params["method"]
        expected = self._method_tokens.get(method, self.token)
        if token != expected:
            if token == self.token:  # a bot token where an app-level token belongs, or the other way round
                return Response(200, _error("not_allowed_token_type"))
            return Response(200, _error("invalid_auth" if token else "not_authed"))
        handler = self._methods.get(method)
        if handler is None:
            return Response(200, _error("unknown_method"))
        with self._state:
            return Response(200, handler(params), {SCOPES_HEADER: ",".join(self.scopes)})

    # -- auth, users, groups, conversations ----------------------------------------------------
    def _auth_test(self, params: Params) -> Answer:
        return {"ok": True, "user_id": BOT_USER_ID, "bot_id": BOT_ID, "team_id": TEAM_ID, "user": "offboard",
                "team": "Corp", "url": "https://corp.slack.com/"}

    def _users_info(self, params: Params) -> Answer:
        user = self.users.get(params.get("user") or "")
        return {"ok": True, "user": user.to_json()} if user else _error("user_not_found")

    def _lookup_by_email(self, params: Params) -> Answer:
        email = (params.get("email") or "").strip().lower()
        for user in self.users.values():
            if email and user.email.lower() == email:
                return {"ok": True, "user": user.to_json()}
        return _error("users_not_found")

    def _usergroup_users(self, params: Params) -> Answer:
        members = self.groups.get(params.get("usergroup") or "")
        return _error("no_such_subteam") if members is None else {"ok": True, "users": list(members)}

    def _conversations_open(self, params: Params) -> Answer:
        users = [u.strip() for u in str(params.get("users") or "").split(",") if u.strip()]
        if not users:
            return _error("users_list_not_supplied")
        if any(u not in self.users for u in users):
            return _error("user_not_found")
        # One person: their DM; several: a group DM whose id depends only on who is in it.
        channel = self.dm_channel(users[0]) if len(users) == 1 else "G" + "".join(sorted(users))
        return {"ok": True, "channel": {"id": channel}}

    def _channel(self, channel_id: str) -> StandInChannel | None:
        if not _CHANNEL_ID.fullmatch(channel_id):
            return None
        return self.channels.get(channel_id) or StandInChannel(channel_id, channel_id.lower(),
                                                               is_private=channel_id.startswith("G"))

    def _conversations_info(self, params: Params) -> Answer:
        channel = self._channel(str(params.get("channel") or ""))
        if channel is None:
            return _error("channel_not_found")
        # Slack: channels:read for a public channel, groups:read for a private one; and a private channel
        # the bot is not in does not exist as far as the bot can tell.
        needed = "groups:read" if channel.is_private else "channels:read"
        if needed not in self.scopes:
            return _error("missing_scope", needed=needed, provided=",".join(self.scopes))
        if channel.is_private and not channel.is_member:
            return _error("channel_not_found")
        return {"ok": True, "channel": channel.to_json()}

    def _conversations_history(self, params: Params) -> Answer:
        """A channel's messages, newest first, `limit` a page (at most 999, Slack's cap), paged by cursor;
        thread replies are not in it (conversations.replies has those), as in Slack."""
        channel = self._channel(str(params.get("channel") or ""))
        if channel is None:
            return _error("channel_not_found")
        needed = "groups:history" if channel.is_private else "channels:history"
        if needed not in self.scopes:
            return _error("missing_scope", needed=needed, provided=",".join(self.scopes))
        if not channel.is_member:
            return _error("channel_not_found" if channel.is_private else "not_in_channel")
        try:
            limit = max(1, min(999, int(params.get("limit") or 100)))
            start = int(base64.urlsafe_b64decode(str(params.get("cursor") or "")).decode() or 0)
        except ValueError:
            return _error("invalid_cursor")
        newest = sorted((m for m in self._messages.get(channel.id, []) if not _is_reply(m)),
                        key=lambda m: m["ts"], reverse=True)
        page = newest[start:start + limit]
        more = start + limit < len(newest)
        cursor = base64.urlsafe_b64encode(str(start + limit).encode()).decode() if more else ""
        return {"ok": True, "messages": copy.deepcopy(page), "has_more": more,
                "response_metadata": {"next_cursor": cursor}}

    def _resolve_channel(self, channel: str | None) -> str | None:
        """The channel id a message lands in: C/G ids as they are, a user id goes to their DM."""
        if not channel:
            return None
        if channel in self.users:
            return self.dm_channel(channel)
        if channel.startswith("D"):
            return channel if channel[1:] in self.users else None
        return channel if _CHANNEL_ID.fullmatch(channel) else None

    # -- chat ----------------------------------------------------------------------------------
    def _next_ts(self) -> str:
        micros = _FIRST_TS + next(self._ts) * 100
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _find_message(self, channel: str | None, ts: str | None) -> dict[str, Any] | None:
        return next((m for m in self._messages.get(channel or "", []) if m["ts"] == ts), None)

    def _content_problem(self, params: Params) -> Answer | None:
        blocks = params.get("blocks")
        if not params.get("text") and not blocks and not params.get("attachments"):
            return _error("no_text")
        if len(params.get("text") or "") > limits.MAX_MESSAGE_TEXT:
            return _error("msg_too_long")
        if blocks is not None and not isinstance(blocks, list):
            return _error("invalid_blocks_format")
        problems = limits.blocks_problems(blocks or [], max_blocks=limits.MAX_MESSAGE_BLOCKS)
        return _error("invalid_blocks", errors=problems, response_metadata=_messages_of(problems)) if problems else None

    def _post_message(self, params: Params) -> Answer:
        channel = self._resolve_channel(params.get("channel"))
        if channel is None:
            return _error("channel_not_found")
        outside = self.channels.get(channel)
        if outside is not None and not outside.is_member:  # without chat:write.public the bot must be invited
            return _error("channel_not_found" if outside.is_private else "not_in_channel")
        problem = self._content_problem(params)
        if problem:
            return problem
        message = _bot_message(self._next_ts(), params)
        if params.get("thread_ts"):
            message["thread_ts"] = str(params["thread_ts"])
        self._messages.setdefault(channel, []).append(message)
        return {"ok": True, "channel": channel, "ts": message["ts"], "message": copy.deepcopy(message)}

    def _update(self, params: Params) -> Answer:
        channel = self._resolve_channel(params.get("channel"))
        message = self._find_message(channel, params.get("ts"))
        if message is None:
            return _error("message_not_found")
        problem = self._content_problem({**message, **params})
        if problem:
            return problem
        for key in ("text", "blocks", "attachments"):
            if key in params:
                message[key] = params[key] or ([] if key != "text" else "")
        message["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts()}
        return {"ok": True, "channel": channel, "ts": message["ts"], "text": message["text"],
                "message": copy.deepcopy(message)}

    def _post_ephemeral(self, params: Params) -> Answer:
        channel = self._resolve_channel(params.get("channel"))
        if channel is None:
            return _error("channel_not_found")
        if params.get("user") not in self.users:
            return _error("user_not_in_channel")
        problem = self._content_problem(params)
        if problem:
            return problem
        ts = self._next_ts()
        self._ephemerals.append({"channel": channel, "user": params["user"], "ts": ts, "via": "chat.postEphemeral",
                                 "text": params.get("text") or "", "blocks": params.get("blocks") or []})
        return {"ok": True, "message_ts": ts}

    def _permalink(self, params: Params) -> Answer:
        channel = self._resolve_channel(params.get("channel"))
        ts = str(params.get("message_ts") or "")
        if self._find_message(channel, ts) is None:
            return _error("message_not_found")
        return {"ok": True, "channel": channel,
                "permalink": f"https://corp.slack.com/archives/{channel}/p{ts.replace('.', '')}"}

    # -- views ---------------------------------------------------------------------------------
    def _views_open(self, params: Params) -> Answer:
        trigger = str(params.get("trigger_id") or "")
        if not trigger:
            return _error("invalid_trigger_id")
        if trigger in self._triggers:
            return _error("exchanged_trigger_id")  # a trigger_id opens one modal only
        problem = _view_problem(params.get("view"))
        if problem:
            return problem
        self._triggers.add(trigger)
        view_id = f"V{next(self._ids):08d}"
        opened = {
            "id": view_id, "team_id": TEAM_ID, "private_metadata": "", "callback_id": "", "external_id": "",
            "clear_on_close": False, "notify_on_close": False,
            **params["view"],
            "state": {"values": {}}, "hash": _hash(view_id, 0), "root_view_id": view_id,
            "previous_view_id": None, "app_id": APP_ID, "bot_id": BOT_ID,
        }
        self._views[view_id] = opened
        return {"ok": True, "view": copy.deepcopy(opened)}

    def _views_update(self, params: Params) -> Answer:
        current = self._view_by_id_or_external(params)
        if current is None:
            return _error("not_found")
        if params.get("hash") and params["hash"] != current["hash"]:
            return _error("hash_conflict")  # someone updated the view since the caller read it
        problem = _view_problem(params.get("view"))
        if problem:
            return problem
        version = int(current["hash"].split(".")[0]) + 1
        updated = {**current, **params["view"], "id": current["id"], "hash": _hash(current["id"], version)}
        self._views[current["id"]] = updated
        return {"ok": True, "view": copy.deepcopy(updated)}

    def _views_publish(self, params: Params) -> Answer:
        """A user's Home tab: needs no trigger_id; publishing again replaces what they see."""
        user = str(params.get("user_id") or "")
        if user not in self.users:
            return _error("user_not_found")
        problem = _view_problem(params.get("view"))
        if problem:
            return problem
        if (params.get("view") or {}).get("type") != "home":
            return _error("invalid_arguments", response_metadata=_messages_of(["a published view must be a home"]))
        view_id = self._homes.get(user) or f"V{next(self._ids):08d}"
        version = int(self._views[view_id]["hash"].split(".")[0]) + 1 if view_id in self._views else 0
        if params.get("hash") and view_id in self._views and params["hash"] != self._views[view_id]["hash"]:
            return _error("hash_conflict")
        published = {"id": view_id, "team_id": TEAM_ID, "private_metadata": "", "callback_id": "", "external_id": "",
                     **params["view"], "state": {"values": {}}, "hash": _hash(view_id, version),
                     "root_view_id": view_id, "previous_view_id": None, "app_id": APP_ID, "bot_id": BOT_ID}
        self._views[view_id] = published
        self._homes[user] = view_id
        return {"ok": True, "view": copy.deepcopy(published)}

    def _view_by_id_or_external(self, params: Params) -> dict[str, Any] | None:
        if params.get("view_id"):
            return self._views.get(params["view_id"])
        external = params.get("external_id")
        return next((v for v in self._views.values() if external and v.get("external_id") == external), None)

    # -- files ---------------------------------------------------------------------------------
    def _upload_url(self, params: Params) -> Answer:
        filename = params.get("filename")
        try:
            length = int(params.get("length") or "")
        except ValueError:
            return _error("invalid_arguments")
        if not filename:
            return _error("invalid_arguments")
        file_id = f"F{next(self._ids):08d}"
        self._files[file_id] = UploadedFile(file_id, filename, length)
        return {"ok": True, "upload_url": f"{self.url}/upload/v1/{file_id}", "file_id": file_id}

    def _upload(self, request: Request) -> Response:
        with self._state:
            upload = self._files.get(request.params["file_id"])
            if upload is None:
                return Response(404, b"Not Found", {"Content-Type": "text/plain"})
            upload.content = request.body
        return Response(200, f"OK - {len(request.body)}".encode(), {"Content-Type": "text/plain"})

    def _files_info(self, params: Params) -> Answer:
        upload = self._files.get(str(params.get("file") or ""))
        if upload is None or upload.content is None:
            return _error("file_not_found")
        return {"ok": True, "file": self._user_file_json(upload)}

    def _download(self, request: Request) -> Response:
        if request.bearer_token != self.token:
            # Slack answers a file URL without a valid token with its login page, not the file.
            return Response(302, b"", {"Location": "https://corp.slack.com/?redir=%2Ffiles-pri"})
        with self._state:
            upload = self._files.get(request.params["file_id"])
            content = upload.content if upload else None
        if content is None:
            return Response(404, b"Not Found", {"Content-Type": "text/plain"})
        return Response(200, content, {"Content-Type": "application/octet-stream"})

    def _complete_upload(self, params: Params) -> Answer:
        entries = params.get("files")
        if not isinstance(entries, list) or not entries:
            return _error("invalid_arguments")
        uploads = [self._files.get(str(e.get("id"))) for e in entries]
        if any(u is None or u.content is None for u in uploads):
            return _error("file_not_found")
        channel = self._resolve_channel(params.get("channel_id")) if params.get("channel_id") else None
        if params.get("channel_id") and channel is None:
            return _error("channel_not_found")
        shared = [self._share(u, e, channel, params) for u, e in zip(uploads, entries, strict=True) if u]
        if channel:
            self._post_files_message(channel, shared, params)
        return {"ok": True, "files": [_file_json(u) for u in shared]}

    def _share(self, upload: UploadedFile, entry: dict[str, Any], channel: str | None, params: Params) -> UploadedFile:
        upload.title = entry.get("title") or upload.filename
        upload.channel = channel
        upload.initial_comment = params.get("initial_comment")
        upload.thread_ts = params.get("thread_ts")
        return upload

    def _post_files_message(self, channel: str, shared: list[UploadedFile], params: Params) -> None:
        # Slack shows shared files as a message from the bot carrying the files and the comment.
        message = _bot_message(self._next_ts(), {"text": params.get("initial_comment") or ""})
        message["files"] = [_file_json(u) for u in shared]
        if params.get("thread_ts"):
            message["thread_ts"] = str(params["thread_ts"])
        self._messages.setdefault(channel, []).append(message)

    # -- response_url --------------------------------------------------------------------------
    def _response_url(self, request: Request) -> Response:
        key = request.params["key"]
        try:
            payload = request.json() or {}
        except ValueError:
            return Response(400, b"invalid_payload", {"Content-Type": "text/plain"})
        with self._state:
            if len(self._responses.get(key, [])) >= MAX_RESPONSE_URL_USES:
                return Response(404, b"used_url", {"Content-Type": "text/plain"})
            self._responses.setdefault(key, []).append(payload)
            self._apply_response(self._bindings.get(key, _Binding()), payload)
        return Response(200, b"ok", {"Content-Type": "text/plain"})

    def _apply_response(self, binding: _Binding, payload: dict[str, Any]) -> None:
        """What Slack shows after a response_url post: the original replaced or deleted, a new
        message in the channel, or (the default) an ephemeral one for the user who acted."""
        original = self._find_message(binding.channel, binding.ts)
        if original is not None and _truthy(payload.get("delete_original")):
            self._messages[binding.channel or ""].remove(original)
        elif original is not None and _truthy(payload.get("replace_original")):
            original.update(text=payload.get("text") or "", blocks=payload.get("blocks") or [])
        elif binding.channel and payload.get("response_type") == "in_channel":
            self._messages.setdefault(binding.channel, []).append(_bot_message(self._next_ts(), payload))
        elif binding.channel and binding.user:
            self._ephemerals.append({"channel": binding.channel, "user": binding.user, "ts": self._next_ts(),
                                     "via": "response_url", "text": payload.get("text") or "",
                                     "blocks": payload.get("blocks") or []})


# -- helpers -----------------------------------------------------------------------------------
def _error(code: str, **extra: Any) -> Answer:
    return {"ok": False, "error": code, **extra}


def _messages_of(problems: list[str]) -> dict[str, list[str]]:
    return {"messages": [f"[ERROR] {p}" for p in problems]}


def _view_problem(view: Any) -> Answer | None:
    if not isinstance(view, dict):
        return _error("invalid_arguments", response_metadata=_messages_of(["view must be an object"]))
    problems = limits.view_problems(view)
    return _error("invalid_arguments", response_metadata=_messages_of(problems)) if problems else None


def _hash(view_id: str, version: int) -> str:
    return f"{version}.{hashlib.sha1(f'{view_id}:{version}'.encode()).hexdigest()[:10]}"


def _bot_message(ts: str, params: Params) -> dict[str, Any]:
    message: dict[str, Any] = {"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID, "app_id": APP_ID,
                               "team": TEAM_ID, "ts": ts, "text": params.get("text") or "",
                               "blocks": copy.deepcopy(params.get("blocks") or [])}
    if params.get("attachments"):
        message["attachments"] = copy.deepcopy(params["attachments"])
    return message


def _is_reply(message: dict[str, Any]) -> bool:
    return bool(message.get("thread_ts")) and message["thread_ts"] != message["ts"]


def _file_json(upload: UploadedFile) -> dict[str, Any]:
    return {"id": upload.id, "name": upload.filename, "title": upload.title or upload.filename,
            "size": len(upload.content or b""), "permalink": f"https://corp.slack.com/files/{BOT_USER_ID}/{upload.id}"}


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _params(request: Request) -> tuple[Params, str | None]:
    """The call's parameters and token. WebClient sends form bodies (JSON fields as strings), JSON
    bodies, or a query string (GET); the token comes as a Bearer header or a `token` field."""
    params: Params
    if "application/json" in request.headers.get("content-type", ""):
        try:
            params = dict(request.json() or {})
        except ValueError:
            params = {}
    else:
        params = {k: v[0] for k, v in parse_qs(request.body.decode(errors="replace"), keep_blank_values=True).items()}
    params.update({k: v[0] for k, v in request.query.items() if k not in params})
    for name in JSON_FIELDS:
        if isinstance(params.get(name), str):
            with contextlib.suppress(json.JSONDecodeError):
                params[name] = json.loads(params[name])
    token = request.bearer_token or params.pop("token", None)
    params.pop("token", None)
    return params, token
