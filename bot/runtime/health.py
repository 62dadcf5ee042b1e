"""Health for load balancers, container runtimes and orchestrators.

- `/healthz`: the process is alive and answering (no dependency is checked, so a database outage does not
  get every instance restarted at once);
- `/readyz`: this instance can do its work: the database answers at the newest migration and Slack accepts
  the bot token (`auth.test`). 200 `ready`, else 503 with one line per problem.

In HTTP mode the ack front answers both on OFFBOARD_PORT; in Socket Mode, which listens on no port for Slack,
`HealthServer` answers them on OFFBOARD_HEALTH_PORT.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.runtime.server import SHUTDOWN_POLL_SECONDS

log = logging.getLogger(__name__)

# A probe every few seconds from several places must not turn into as many auth.test calls (Tier 4, but ours).
CACHE_SECONDS = 5.0
SLACK_TIMEOUT_SECONDS = 5


class Readiness:
    def __init__(self, database_url: str, slack: WebClient, *, cache_seconds: float = CACHE_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.database_url = database_url
        self.slack = slack
        self.cache_seconds = cache_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._checked_at: float | None = None
        self._problems: list[str] = []

    def problems(self) -> list[str]:
        """What keeps this instance from working, one line each (empty: ready)."""
        with self._lock:
            now = self._clock()
            if self._checked_at is None or now - self._checked_at >= self.cache_seconds:
                self._problems = self._database() + self._slack()
                self._checked_at = now
            return list(self._problems)

    def _database(self) -> list[str]:
        from bot.runtime.database_check import MalformedDatabaseUrl, database_problems

        try:
            return database_problems(self.database_url)
        except MalformedDatabaseUrl as exc:
            return [str(exc)]
        except Exception as exc:  # readiness answers; it never raises
            return [f"Cannot check the database: {type(exc).__name__}"]

    def _slack(self) -> list[str]:
        try:
            self.slack.auth_test()
        except SlackApiError as exc:
            return [f"Slack refused the bot token (auth.test: {exc.response.get('error', 'error')})"]
        except Exception as exc:
            return [f"Cannot reach Slack's API (auth.test: {type(exc).__name__})"]
        return []


def readiness_from_settings(settings: Any) -> Readiness:
    """A Readiness for these settings, with a Slack client of its own (a short timeout, no retries)."""
    client = WebClient(token=settings.slack_bot_token.get_secret_value(),
                       base_url=settings.slack_api_url or WebClient.BASE_URL, timeout=SLACK_TIMEOUT_SECONDS)
    return Readiness(settings.database_url, client)


_from_environment: Readiness | None = None
_from_environment_lock = threading.Lock()


def answer_from_environment(path: str) -> tuple[int, bytes, str]:
    """`answer` with a Readiness made once from this process's settings: for the ack front, which holds no
    settings object (it is started with the environment `offboard serve` has)."""
    global _from_environment
    with _from_environment_lock:
        if _from_environment is None:
            from bot.runtime.config import Settings

            _from_environment = readiness_from_settings(Settings())
    return answer(path, _from_environment)


def answer(path: str, readiness: Readiness | None,
           metrics: Callable[[], tuple[bytes, str]] | None = None) -> tuple[int, bytes, str]:
    """(status, body, content type) for a health path; 404 for any other."""
    route = path.split("?", 1)[0]
    if route == "/healthz":
        return 200, b"ok", "text/plain"
    if route == "/readyz" and readiness is not None:
        problems = readiness.problems()
        if problems:
            return 503, ("\n".join(problems) + "\n").encode(), "text/plain; charset=utf-8"
        return 200, b"ready", "text/plain"
    if route == "/metrics" and metrics is not None:
        body, content_type = metrics()
        return 200, body, content_type
    return 404, b"", "text/plain"


class HealthServer:
    """/healthz, /readyz (and /metrics when given) on a port of their own, in a thread."""

    def __init__(self, readiness: Readiness | None, host: str = "127.0.0.1", port: int = 0, *,
                 metrics: Callable[[], tuple[bytes, str]] | None = None) -> None:
        self._server = ThreadingHTTPServer((host, port), _handler(readiness, metrics))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> HealthServer:
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS}, name="health", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)


def _handler(readiness: Readiness | None,
             metrics: Callable[[], tuple[bytes, str]] | None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, body, content_type = answer(self.path, readiness, metrics)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s %s", self.address_string(), format % args)

    return Handler
