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
from collections.abc import Callable
from concurrent.futures import Executor

from slack_bolt.adapter.socket_mode import SocketModeHandler

from bot.app import Bot

log = logging.getLogger(__name__)


class SocketModeService:
    def __init__(self, bot: Bot, app_token: str) -> None:
        self.bot = bot
        self.handler = SocketModeHandler(bot.app, app_token)
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
