"""The ack front: the process that answers Slack over HTTP for `offboard serve`.

Slack wants an answer within 3 s and the bot's real work (Slack calls, vendor calls, card renders,
SQLite writes) is CPU- and GIL-hungry: answered from the same interpreter, acks queued behind that work
(p99 over a second under a burst). So the answering happens here, in a small process of its own that
imports no Bolt app, no database and no vendor code, and the work happens in the `offboard serve`
process (the parent), which gets each delivery over a private pipe (`bot.front_link`).

What the front decides alone, per request:
- the signature (401 for forged, stale or unsigned requests: nothing unverified reaches the bot);
- slash commands and button clicks (`block_actions`) are answered 200 with an empty body at once and
  handed over: every listener of ours acks those with nothing, and Slack ignores what a click's answer
  says anyway. The bot claims each delivery (bot.dedupe) before any listener runs, so a retry or replay
  is still acted on at most once; its answer would have been the same empty 200.
Everything else (modal submissions, whose answer may carry validation errors, and any other kind) is
asked of the bot and its answer relayed, as before.

The front holds nothing worth keeping: when the bot's end of the pipe closes (the bot exited or was
killed) the front exits at once, and when the front dies the bot exits too (see `bot.cli serve`).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import queue
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import parse_qs

from slack_sdk.signature import SignatureVerifier

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
# Slack's payloads are small (a card message with 50 blocks is well under 1 MiB); the signature can
# only be checked on the whole body, so this bounds what an unauthenticated sender makes us hold.
MAX_BODY = 4 * 1024 * 1024
# Deliveries acked but not yet taken by the bot. Past this the bot is far behind: answer 503 so Slack
# retries later, rather than ack work that may never be done.
MAX_WAITING = 10_000
# How long a modal submission may wait for the bot's answer (Slack gives up after 3 s).
ASK_TIMEOUT = 10.0
# On a stop, how long the last acked deliveries may take to reach the bot.
DRAIN_TIMEOUT = 5.0
# Bolt takes these headers as instructions to skip a listener's ack function; only Bolt itself may set them.
_BOLT_INTERNAL = ("x-slack-bolt-lazy-only", "x-slack-bolt-lazy-function-name")


# -- what travels between the front and the bot (pickled over a multiprocessing pipe) ---------------
@dataclass(frozen=True)
class FrontConfig:
    host: str
    port: int
    signing_secret: str = field(repr=False)
    log_level: int = logging.INFO


@dataclass(frozen=True)
class Ready:
    url: str


@dataclass(frozen=True)
class Failed:
    reason: str


@dataclass(frozen=True)
class Acked:
    """A delivery Slack already has its answer for (200, empty): the bot only does the work."""

    body: str
    headers: dict[str, str]


@dataclass(frozen=True)
class Ask:
    """A delivery whose answer the bot decides (a modal submission): the front waits for the Answer."""

    ask_id: int
    body: str
    headers: dict[str, str]


@dataclass(frozen=True)
class Answer:
    ask_id: int
    status: int
    headers: dict[str, str]
    body: str


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "text/plain;charset=utf-8"


EMPTY_OK = Reply(200)
REFUSED = Reply(401, b'{"error": "invalid request"}', "application/json;charset=utf-8")


def answered_at_once(form: dict[str, list[str]]) -> bool:
    """True for the deliveries whose answer is always an empty 200: slash commands and button clicks.
    `form` is the parsed body of a form-encoded request (the Events API's JSON ones are never these)."""
    if "command" in form:
        return True
    payload = form.get("payload")
    if not payload:
        return False
    try:
        kind = json.loads(payload[0]).get("type")
    except (ValueError, AttributeError):
        return False
    return kind == "block_actions"


class Front:
    """The decisions, without the HTTP plumbing: request in, reply out, work handed to the bot."""

    def __init__(self, signing_secret: str, link: Connection, *, max_waiting: int = MAX_WAITING,
                 on_bot_gone: Callable[[], None] = lambda: None) -> None:
        self._verifier = SignatureVerifier(signing_secret)
        self._link = link
        self._on_bot_gone = on_bot_gone
        self._outbox: queue.Queue[Acked | Ask] = queue.Queue(maxsize=max_waiting)
        self._asks: dict[int, tuple[threading.Event, list[Answer]]] = {}
        self._ask_ids = itertools.count(1)

    def start(self) -> Front:
        threading.Thread(target=self._send_loop, name="front-send", daemon=True).start()
        threading.Thread(target=self._receive_loop, name="front-receive", daemon=True).start()
        return self

    def handle(self, raw: bytes, headers: dict[str, str]) -> Reply:
        body = raw.decode("utf-8", errors="replace")
        is_form = headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
        form = parse_qs(body) if is_form else {}
        if form.get("ssl_check") == ["1"]:
            return EMPTY_OK  # Slack checking our certificate: unsigned, and nothing to do (as Bolt answers it)
        if not self._signed_by_slack(body, headers):
            log.info("refused a Slack request with a missing, stale or wrong signature")
            return REFUSED
        passed = {name: value for name, value in headers.items() if name not in _BOLT_INTERNAL}
        if answered_at_once(form):
            try:
                self._outbox.put_nowait(Acked(body, passed))
            except queue.Full:
                log.error("the bot is %d deliveries behind: answering 503 so Slack retries later",
                          self._outbox.maxsize)
                return Reply(503)
            return EMPTY_OK
        return self._ask(body, passed)

    def _signed_by_slack(self, body: str, headers: dict[str, str]) -> bool:
        timestamp = headers.get("x-slack-request-timestamp")
        if not timestamp or not timestamp.isdigit():
            return False
        return self._verifier.is_valid(body, timestamp, headers.get("x-slack-signature"))

    def _ask(self, body: str, headers: dict[str, str]) -> Reply:
        ask_id = next(self._ask_ids)
        done, answer = threading.Event(), []
        self._asks[ask_id] = (done, answer)
        try:
            self._outbox.put(Ask(ask_id, body, headers), timeout=ASK_TIMEOUT)
            if not done.wait(ASK_TIMEOUT):
                log.error("the bot did not answer a Slack request within %.0f s", ASK_TIMEOUT)
                return Reply(503)
        except queue.Full:
            return Reply(503)
        finally:
            self._asks.pop(ask_id, None)
        got = answer[0]
        content_type = got.headers.get("content-type", "text/plain;charset=utf-8")
        return Reply(got.status, got.body.encode(), content_type)

    def _send_loop(self) -> None:
        # One sender: a multiprocessing Connection is not safe for concurrent sends, and a slow reader
        # on the bot's side must hold up this thread, never an HTTP answer.
        while True:
            message = self._outbox.get()
            try:
                self._link.send(message)
            except OSError:
                self._on_bot_gone()
                return
            except Exception:  # e.g. a body that does not pickle: lose that one, not every later one
                log.exception("could not hand a Slack delivery over to the bot")
            finally:
                self._outbox.task_done()

    def drain(self, timeout: float) -> bool:
        """Wait until every delivery acked so far has reached the bot's end of the pipe."""
        deadline = time.monotonic() + timeout
        while self._outbox.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def _receive_loop(self) -> None:
        while True:
            try:
                message = self._link.recv()
            except (EOFError, OSError):
                self._on_bot_gone()
                return
            if isinstance(message, Answer) and message.ask_id in self._asks:
                done, answer = self._asks[message.ask_id]
                answer.append(message)
                done.set()


def _exit_now() -> None:
    # The bot exited or was killed (its end of the pipe closed). Acking more would promise work nobody
    # will do; exiting at once frees the port for the next `offboard serve`.
    os._exit(0)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: Slack (and the benchmark) reuse connections
    disable_nagle_algorithm = True  # one small answer per request: never wait for the peer's delayed ACK
    server: _FrontServer

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._reply(Reply(200, b"ok"))
        elif self.path.split("?", 1)[0] == "/readyz":  # checked here, from the settings (bot.health)
            from bot.health import answer_from_environment

            self._reply(Reply(*answer_from_environment(self.path)))
        else:
            self._reply(Reply(404))

    def do_POST(self) -> None:
        declared = self.headers.get("Content-Length") or "0"
        length = int(declared) if declared.isdigit() else -1
        if not 0 <= length <= MAX_BODY:  # the rest of the stream cannot be trusted: answer and hang up
            self.close_connection = True
            self._reply(Reply(400 if length < 0 else 413))
            return
        raw = self.rfile.read(length)
        if self.path.split("?", 1)[0] != EVENTS_PATH:
            self._reply(Reply(404))
            return
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            reply = self.server.front.handle(raw, headers)
        except Exception:  # answer even so: a dropped connection would only make Slack retry
            log.exception("answering a Slack request failed")
            reply = Reply(500)
        self._reply(reply)

    def _reply(self, reply: Reply) -> None:
        # Status line, headers and body in one write: one packet on the wire for the usual empty 200.
        head = (f"HTTP/1.1 {reply.status} {self.responses.get(reply.status, ('',))[0]}\r\n"
                f"Content-Type: {reply.content_type}\r\nContent-Length: {len(reply.body)}\r\n")
        if self.close_connection:
            head += "Connection: close\r\n"
        self.wfile.write(head.encode("latin-1") + b"\r\n" + reply.body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)


class _FrontServer(ThreadingHTTPServer):
    daemon_threads = True
    # The default backlog (5) resets connections when Slack delivers a burst at once.
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], front: Front) -> None:
        super().__init__(address, _Handler)
        self.front = front


def run(link: Connection, config: FrontConfig) -> None:
    """The front process's body (started by `bot.front_link.FrontProcess`)."""
    logging.basicConfig(level=config.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    front = Front(config.signing_secret, link, on_bot_gone=_exit_now)
    try:
        server = _FrontServer((config.host, config.port), front)
    except OSError as exc:
        link.send(Failed(f"it cannot listen on {config.host}:{config.port}: {exc}"))
        return
    host, port = server.server_address[:2]
    link.send(Ready(f"http://{host}:{port}{EVENTS_PATH}"))
    front.start()
    signal.signal(signal.SIGTERM, _interrupt)  # the bot stopping us: finish handing over, as for Ctrl-C
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    server.server_close()
    # What was acked must reach the bot, whose end of the pipe keeps it even after we exit.
    if not front.drain(DRAIN_TIMEOUT):
        log.error("stopped with Slack deliveries acked but not handed over to the bot")


def _interrupt(_signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt
