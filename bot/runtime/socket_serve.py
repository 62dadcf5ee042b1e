"""`offboard serve` in Socket Mode: the bot opens a WebSocket to Slack (slack_sdk's built-in client, which needs
no other package) and acknowledges each envelope on it.

A stop (SIGTERM from a service manager or container runtime, or Ctrl-C) is graceful: the connection is closed
first, so Slack sends nothing more here (what it had no ack for it delivers again to another connection), then
the envelopes already taken are acknowledged and their work finished, and the process exits 0.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from typing import Any

from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.socket_mode.internals import run_bolt_app
from slack_sdk.socket_mode.client import BaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from bot.runtime.app import Bot
from bot.runtime.metrics import SOCKET_ACK_SECONDS

log = logging.getLogger(__name__)
# The built-in client reads 1 KiB per recv by default: a click's envelope (the whole card) takes dozens.
RECEIVE_BUFFER = 64 * 1024
# Envelopes handled at once (each until its ack is sent).
HANDLERS = 10
# Acked slash commands and clicks dispatched at once (each until its listener started; the work after the ack
# runs in Bolt's listener pool).
DISPATCHERS = 16


def answered_at_once(request: SocketModeRequest) -> bool:
    """Slash commands and button clicks, whose ack is always empty (as bot.runtime.front answers them over HTTP), and
    Events API events, whose ack carries nothing (and which Bolt would leave unacked, so redelivered, when no
    listener takes them)."""
    if request.type in ("slash_commands", "events_api"):
        return True
    return request.type == "interactive" and request.payload.get("type") == "block_actions"


class EarlyAckHandler(SocketModeHandler):
    """Acks slash commands, clicks and events on receipt and dispatches them in a pool of their own; everything
    else (modal submissions, whose answer may carry the form's errors) as Bolt does it.

    Bolt sends an envelope's ack only after the listener called ack() and its runner noticed (it polls every
    10 ms), in the client's few handler threads, in the interpreter that also does the bot's work: envelopes
    queued behind each other (p50 over 200 ms with ten in flight). Our listeners ack commands and clicks with
    nothing, and an event's ack carries nothing, so the answer is known before dispatch. The delivery is still
    claimed (bot.slack.dedupe) before any listener runs, so a redelivery is acted on at most once."""

    def __init__(self, app: Any, app_token: str, **options: Any) -> None:
        super().__init__(app, app_token, **options)
        self.dispatching = ThreadPoolExecutor(max_workers=DISPATCHERS, thread_name_prefix="socket-dispatch")

    def handle(self, client: BaseSocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]
        started = time.perf_counter()
        if answered_at_once(req):
            client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
            SOCKET_ACK_SECONDS.labels(req.type).observe(time.perf_counter() - started)
            self.dispatching.submit(self._dispatch, req)
            return
        super().handle(client, req)
        SOCKET_ACK_SECONDS.labels(req.type).observe(time.perf_counter() - started)

    def _dispatch(self, req: SocketModeRequest) -> None:
        try:
            run_bolt_app(self.app, req)  # its answer is that same empty ack, already sent
        except Exception:
            log.exception("handling a Socket Mode %s envelope failed", req.type)

    def close(self) -> None:
        super().close()  # no more envelopes; those being handled are acked
        self.dispatching.shutdown(wait=True)  # and those acked are dispatched


class SocketModeService:
    def __init__(self, bot: Bot, app_token: str) -> None:
        self.bot = bot
        self.handler = EarlyAckHandler(bot.app, app_token, receive_buffer_size=RECEIVE_BUFFER, concurrency=HANDLERS)
        self._stop = threading.Event()

    def connect(self) -> None:
        """Open the connection (raises slack_sdk's errors when Slack refuses the app-level token)."""
        self.handler.connect()

    def request_stop(self, *_: object) -> None:
        self._stop.set()

    def run_until_stopped(self, install_signals: bool = True) -> None:
        if install_signals:
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, self.request_stop)
        self._stop.wait()
        log.info("stopping: closing the Socket Mode connection, then finishing what was taken")
        self.close()

    def close(self) -> None:
        # Closing the client waits for the envelopes it is handling (their acks go out first).
        self.handler.close()
        executor = _listener_executor(self.bot)
        if executor is not None:
            executor.shutdown(wait=True)  # the after-ack work of those envelopes' listeners
        self.bot.stop()


def _listener_executor(bot: Bot) -> Executor | None:
    runner = getattr(bot.app, "listener_runner", None)
    return getattr(runner, "listener_executor", None)


def serve(bot: Bot, app_token: str, *, on_connected: Callable[[], None] = lambda: None) -> None:
    service = SocketModeService(bot, app_token)
    service.connect()
    on_connected()
    service.run_until_stopped()
