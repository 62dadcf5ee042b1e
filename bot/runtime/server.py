"""HTTP in the bot's own process: Slack's requests arrive at /slack/events; /healthz answers load balancers.

For the local world and tests (`Bot.start_http`), where the Bolt app checks signatures itself. `offboard
serve` answers from a process of its own instead (bot.runtime.front), so acks never wait behind the bot's work.
Both refuse the same requests before Bolt sees them (`bot.runtime.front.at_the_edge`): bad signatures, and bodies
Slack never sends, which Bolt's own parser or the listeners would fail on with a 500.
"""

from __future__ import annotations

import contextlib
import io
import logging
import socket
import threading
from collections.abc import Iterable
from http import HTTPStatus
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler
from slack_sdk.signature import SignatureVerifier

from bot.runtime.front import MAX_BODY, at_the_edge
from bot.triggers import signatures
from bot.triggers.endpoint import TriggerEndpoint

log = logging.getLogger(__name__)
EVENTS_PATH = "/slack/events"
# How often the serving loop looks whether it was told to stop: a stop (a deploy, a test) waits for it.
SHUTDOWN_POLL_SECONDS = 0.05


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    # One thread per request, so a slow request never delays another's 3-second ack.
    daemon_threads = True
    # The default backlog (5) resets connections when Slack delivers a burst at once.
    request_queue_size = 128

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._connections: set[Any] = set()
        self._guard = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._guard:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._guard:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """End the connections still open (a client's idle keep-alive): their threads end with them."""
        with self._guard:
            open_now = list(self._connections)
        for connection in open_now:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)


class HttpServer:
    def __init__(self, app: App, host: str = "127.0.0.1", port: int = 0, *, signing_secret: str = "",
                 triggers: TriggerEndpoint | None = None) -> None:
        self._slack = SlackRequestHandler(app, path=EVENTS_PATH)
        self._verifier = SignatureVerifier(signing_secret) if signing_secret else None
        self._triggers = triggers
        self._server = make_server(
            host, port, self._wsgi, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler
        )
        self._thread: threading.Thread | None = None

    def _wsgi(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [b"ok"]
        if environ.get("PATH_INFO") in signatures.PATHS and self._triggers is not None:
            return self._trigger(environ, start_response, self._triggers)
        if self._verifier is not None and environ.get("REQUEST_METHOD") == "POST":
            refusal = self._at_the_edge(environ)
            if refusal is not None:
                status, body = refusal
                start_response(status, [("Content-Type", "text/plain;charset=utf-8")])
                return [body]
        return self._slack(environ, start_response)

    def _at_the_edge(self, environ: dict[str, Any]) -> tuple[str, bytes] | None:
        assert self._verifier is not None
        declared = environ.get("CONTENT_LENGTH") or "0"
        length = int(declared) if declared.isascii() and declared.isdigit() else -1
        if not 0 <= length <= MAX_BODY:
            return "400 Bad Request", b""
        raw = environ["wsgi.input"].read(length)
        environ["wsgi.input"] = io.BytesIO(raw)  # Bolt's adapter reads the body again
        headers = {key[5:].replace("_", "-").lower(): value
                   for key, value in environ.items() if key.startswith("HTTP_")}
        headers["content-type"] = environ.get("CONTENT_TYPE", "")
        reply = at_the_edge(self._verifier, raw.decode("utf-8", errors="replace"), headers)
        if reply is None or reply.status == 200:  # 200: Slack's certificate check, which Bolt answers itself
            return None
        return f"{reply.status} {'Unauthorized' if reply.status == 401 else 'Bad Request'}", reply.body

    @staticmethod
    def _trigger(environ: dict[str, Any], start_response: Any, triggers: TriggerEndpoint) -> Iterable[bytes]:
        """Okta's and the HR systems' deliveries (bot.triggers), checked there as the ack front checks them."""
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length > 0 else b""
        headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items()
                   if key.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        reply = triggers.answer(environ["REQUEST_METHOD"], environ["PATH_INFO"], raw, headers)
        status = f"{reply.status} {HTTPStatus(reply.status).phrase}"
        start_response(status, [("Content-Type", reply.content_type), ("Content-Length", str(len(reply.body)))])
        return [reply.body]

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{EVENTS_PATH}"

    def start(self) -> HttpServer:
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS}, name="http", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self._server.serve_forever(poll_interval=SHUTDOWN_POLL_SECONDS)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
