"""A loopback stand-in for Slack's Socket Mode, beside the Web API stand-in (bot.demo.standin.slack_api).

It speaks the protocol as Slack documents it (api.slack.com/apis/socket-mode) and as slack_sdk's clients
expect it:
- `apps.connections.open`, called with the app-level token (xapp-…), answers a one-use `ws://127.0.0.1` URL;
  called with any other token it answers `not_allowed_token_type` / `invalid_auth`, as Slack does;
- each new WebSocket gets a `hello`;
- every delivery is an envelope (`slash_commands`, `interactive`, `events_api`) with an `envelope_id`, which the
  app acknowledges by sending `{"envelope_id": …}` (and, where the type allows it, a `payload`) on the socket;
- an envelope not acknowledged in time is delivered again, with `retry_attempt` and `retry_reason`;
- `disconnect` messages (`refresh_requested`, `link_disabled`, `warning`) as Slack sends them routinely, after
  which the client opens a new connection; the old one is closed a little later, as Slack does.

Test-only: production code never imports it (the bot reaches it through SLACK_API_URL, like the Web API).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import secrets
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

from bot.demo.standin.driver import SlackDriver
from bot.demo.standin.slack_api import APP_ID, TEAM_ID, SlackStandIn

DEFAULT_APP_TOKEN = "xapp-1-AOFFBOARD-1-test"
# Slack redelivers an envelope it had no ack for after a few seconds; tests shorten it.
DEFAULT_ACK_TIMEOUT = 3.0
MAX_ATTEMPTS = 4  # the first delivery and three retries, as for Events API retries
# After a `disconnect`, Slack keeps the old connection a while so the client can open the next one.
DEFAULT_CLOSE_AFTER_DISCONNECT = 1.0
DISCONNECT_REASONS = ("refresh_requested", "link_disabled", "warning")
# Envelope types whose ack may carry a payload (a slash command's reply, a modal's validation errors).
RESPONSE_PAYLOAD_TYPES = ("slash_commands", "interactive")


@dataclass
class Envelope:
    envelope_id: str
    type: str
    payload: dict[str, Any]
    attempts: int = 0
    acked: threading.Event = field(default_factory=threading.Event)
    ack: dict[str, Any] | None = None
    sent_at: float = 0.0
    acked_at: float = 0.0
    sent: list[dict[str, Any]] = field(default_factory=list)  # each delivery as it went out
    sent_on: list[int] = field(default_factory=list)  # the connection (1 = the first opened) each went on
    lost_acks: int = 0  # acks to treat as lost on the way (so Slack redelivers)

    def message(self, retry_reason: str | None) -> dict[str, Any]:
        message: dict[str, Any] = {"envelope_id": self.envelope_id, "type": self.type, "payload": self.payload,
                                   "accepts_response_payload": self.type in RESPONSE_PAYLOAD_TYPES}
        if self.type == "events_api":
            message["retry_attempt"] = self.attempts - 1
            message["retry_reason"] = retry_reason or ""
        elif self.attempts > 1:
            message["retry_attempt"] = self.attempts - 1
            message["retry_reason"] = retry_reason or "timeout"
        return message

    @property
    def ack_payload(self) -> dict[str, Any] | None:
        return None if self.ack is None else self.ack.get("payload")


class NotAcknowledged(AssertionError):
    pass


class SocketModeStandIn:
    """Run beside a `SlackStandIn`: it answers `apps.connections.open` there and hands out its own URL."""

    def __init__(self, slack: SlackStandIn, *, app_token: str = DEFAULT_APP_TOKEN,
                 ack_timeout: float = DEFAULT_ACK_TIMEOUT,
                 close_after_disconnect: float = DEFAULT_CLOSE_AFTER_DISCONNECT) -> None:
        self.slack = slack
        self.app_token = app_token
        self.ack_timeout = ack_timeout
        self.close_after_disconnect = close_after_disconnect
        self._lock = threading.Condition()
        self._tickets: set[str] = set()
        self._connections: list[ServerConnection] = []
        self._numbers: dict[ServerConnection, int] = {}
        self._retiring: set[ServerConnection] = set()  # told to reconnect: no new envelopes go there
        self._envelopes: dict[str, Envelope] = {}
        self._ids = itertools.count(1)
        self.connections_opened = 0
        self.unknown_acks: list[dict[str, Any]] = []
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._timers: list[threading.Timer] = []

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> SocketModeStandIn:
        # slack_sdk's built-in client offers no compression; pings keep the default.
        self._server = serve(self._session, "127.0.0.1", 0, compression=None)
        self._thread = threading.Thread(target=self._server.serve_forever, name="socket-mode-standin", daemon=True)
        self._thread.start()
        self.slack.add_method("apps.connections.open", self._connections_open, token=self.app_token)
        return self

    def stop(self) -> None:
        for timer in self._timers:
            timer.cancel()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(Exception):
                connection.close()
        if self._server:
            self._server.shutdown()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> SocketModeStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.socket.getsockname()[1])

    # -- apps.connections.open -----------------------------------------------------------------
    def _connections_open(self, params: Mapping[str, Any]) -> dict[str, Any]:
        ticket = secrets.token_hex(8)
        with self._lock:
            self._tickets.add(ticket)
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id={APP_ID}"}

    # -- one WebSocket ---------------------------------------------------------------------------
    def _session(self, connection: ServerConnection) -> None:
        assert connection.request is not None
        ticket = _query(connection.request.path).get("ticket", "")
        with self._lock:
            valid = ticket in self._tickets
            self._tickets.discard(ticket)  # each URL works once, as Slack's do
        if not valid:
            connection.close(code=1008, reason="invalid ticket")
            return
        connection.send(json.dumps({
            "type": "hello", "num_connections": 1,
            "debug_info": {"host": "applink-standin", "build_number": 1, "approximate_connection_time": 18060},
            "connection_info": {"app_id": APP_ID},
        }))
        with self._lock:
            self._connections.append(connection)
            self.connections_opened += 1
            self._numbers[connection] = self.connections_opened
            self._lock.notify_all()
        try:
            for raw in connection:
                self._on_message(raw)
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                if connection in self._connections:
                    self._connections.remove(connection)
                self._retiring.discard(connection)
                self._lock.notify_all()

    def _on_message(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            return
        envelope_id = message.get("envelope_id") if isinstance(message, dict) else None
        with self._lock:
            envelope = self._envelopes.get(str(envelope_id))
            if envelope is None:
                self.unknown_acks.append(message)
                return
            if envelope.lost_acks > 0:
                envelope.lost_acks -= 1
            elif not envelope.acked.is_set():
                envelope.ack = message
                envelope.acked_at = time.monotonic()
                envelope.acked.set()
            self._lock.notify_all()

    # -- what Slack sends --------------------------------------------------------------------------
    def wait_connected(self, count: int = 1, timeout: float = 30.0) -> None:
        """Until `count` connections have been opened in all (reconnects included)."""
        with self._lock:
            if not self._lock.wait_for(lambda: self.connections_opened >= count and self._live(), timeout):
                raise AssertionError(f"no Socket Mode connection (opened {self.connections_opened})")

    def _live(self) -> list[ServerConnection]:
        return [c for c in self._connections if c not in self._retiring]

    def deliver(self, type: str, payload: dict[str, Any], *, wait: bool = True,
                ack_timeout: float | None = None, lose_acks: int = 0) -> Envelope:
        """Send an envelope; redeliver it (with `retry_attempt`/`retry_reason`) while unacknowledged.
        `wait`: return once acked (raises NotAcknowledged after the last attempt); else return at once.
        `lose_acks`: that many of the app's acks never arrive (so the envelope is delivered again)."""
        envelope = Envelope(str(uuid.uuid4()), type, payload, lost_acks=lose_acks)
        with self._lock:
            self._envelopes[envelope.envelope_id] = envelope
        if wait:
            self._deliver_until_acked(envelope, ack_timeout or self.ack_timeout)
        else:
            thread = threading.Thread(target=self._deliver_until_acked, daemon=True,
                                      args=(envelope, ack_timeout or self.ack_timeout, False))
            thread.start()
        return envelope

    def _deliver_until_acked(self, envelope: Envelope, ack_timeout: float, raise_if_lost: bool = True) -> None:
        reason: str | None = None
        while envelope.attempts < MAX_ATTEMPTS:
            if not self._send(envelope, reason):
                reason = "connection_lost"
                time.sleep(0.05)
                continue
            if envelope.acked.wait(ack_timeout):
                return
            reason = "timeout"
        if raise_if_lost:
            raise NotAcknowledged(f"envelope {envelope.envelope_id} ({envelope.type}) was never acknowledged")

    def _send(self, envelope: Envelope, retry_reason: str | None) -> bool:
        with self._lock:
            self._lock.wait_for(self._live, timeout=10)
            live = self._live()
            if not live:
                return False
            connection = live[-1]  # the newest, as Slack favours a freshly opened connection
            envelope.attempts += 1
            envelope.sent_at = time.monotonic()
            message = envelope.message(retry_reason)
            envelope.sent.append(message)
            envelope.sent_on.append(self._numbers[connection])
            text = json.dumps(message)
        try:
            connection.send(text)
        except ConnectionClosed:
            return False
        return True

    def disconnect(self, reason: str = "refresh_requested") -> None:
        """Tell the app's live connections to reconnect, as Slack does routinely; close them a little later."""
        if reason not in DISCONNECT_REASONS:
            raise ValueError(f"Slack's disconnect reasons are {', '.join(DISCONNECT_REASONS)}")
        with self._lock:
            targets = self._live()
            self._retiring.update(targets)
        message = json.dumps({"type": "disconnect", "reason": reason,
                              "debug_info": {"host": "applink-standin"}})
        for connection in targets:
            with contextlib.suppress(ConnectionClosed):
                connection.send(message)
            timer = threading.Timer(self.close_after_disconnect, _close_quietly, args=(connection,))
            timer.daemon = True
            self._timers.append(timer)
            timer.start()

    def drop_connections(self) -> None:
        """Cut every connection at once (a network failure, not a disconnect message)."""
        with self._lock:
            targets = list(self._connections)
        for connection in targets:
            _close_quietly(connection)

    @property
    def live_connections(self) -> int:
        with self._lock:
            return len(self._live())

    def envelopes(self, type: str | None = None) -> list[Envelope]:
        with self._lock:
            return [e for e in self._envelopes.values() if type is None or e.type == type]


def _close_quietly(connection: ServerConnection) -> None:
    with contextlib.suppress(Exception):
        connection.close()


def _query(path: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(path).query))


@dataclass(frozen=True)
class SocketAck:
    """What the app answered on the socket, shaped like the HTTP answer the HTTP driver returns, so the same
    test helpers read either: 200 once acknowledged, the ack's payload (if any) as the body."""

    envelope: Envelope
    status_code: int = 200

    @property
    def text(self) -> str:
        payload = self.envelope.ack_payload
        return "" if payload is None else json.dumps(payload)

    def json(self) -> Any:
        return self.envelope.ack_payload or {}


class SocketModeDriver(SlackDriver):
    """SlackDriver's requests (a slash command, a modal submission, a click), delivered as Socket Mode
    envelopes instead of signed HTTP requests. Same payloads: Slack sends the same ones either way."""

    def __init__(self, socket: SocketModeStandIn) -> None:
        super().__init__("", "", socket.slack)
        self.socket = socket

    def send(self, body: str, *, wait: bool = True, lose_acks: int = 0,  # type: ignore[override]
             **knobs: Any) -> SocketAck:
        if knobs:
            raise TypeError(f"Socket Mode deliveries are not signed: {', '.join(knobs)} mean nothing here")
        self.last_body = body
        form = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
        if "payload" in form:
            kind, payload = "interactive", json.loads(form["payload"])
        else:
            kind, payload = "slash_commands", form
        return SocketAck(self.socket.deliver(kind, payload, wait=wait, lose_acks=lose_acks))

    def event(self, event: Mapping[str, Any], *, wait: bool = True) -> SocketAck:
        """An Events API event (e.g. `app_home_opened`) in its `event_callback` wrapper."""
        payload = {"token": "deprecated-verification-token", "team_id": TEAM_ID, "api_app_id": APP_ID,
                   "event": dict(event), "type": "event_callback", "event_id": f"Ev{next(self._ids):08d}",
                   "event_time": int(time.time()), "authorizations": []}
        return SocketAck(self.socket.deliver("events_api", payload, wait=wait))
