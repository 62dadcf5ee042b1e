"""The ack front: the process that answers Slack over HTTP for `offboard serve`.

Slack wants an answer within 3 s and the bot's real work (Slack calls, vendor calls, card renders,
SQLite writes) is CPU- and GIL-hungry: answered from the same interpreter, acks queued behind that work
(p99 over a second under a burst). So the answering happens here, in a small process of its own that
imports no Bolt app, no database and no vendor code, and the work happens in the `offboard serve`
process (the parent), which gets each delivery over a private pipe (`bot.runtime.front_link`).

What the front decides alone, per request:
- the signature (401 for forged, stale or unsigned requests: nothing unverified reaches the bot);
- the shape (400 for a signed body Slack never sends, e.g. a `payload` that is not a JSON object or a
  form whose state is not Slack's `{block_id: {action_id: ...}}`: the listeners read those shapes as given);
- slash commands and button clicks (`block_actions`) are answered 200 with an empty body at once and
  handed over: every listener of ours acks those with nothing, and Slack ignores what a click's answer
  says anyway. The bot claims each delivery (bot.slack.dedupe) before any listener runs, so a retry or replay
  is still acted on at most once; its answer would have been the same empty 200.
Everything else (modal submissions, whose answer may carry validation errors, and any other kind) is
asked of the bot and its answer relayed, as before.

How long each answer took (from the request read to its answer written, by kind: `KINDS`) goes to the bot
with the deliveries, in batches (`AckTimes`), and the bot exports it on its /metrics as
`offboard_http_ack_seconds`: this process serves no metrics of its own, its port faces Slack.

It logs as the bot does (bot.runtime.log_format: text, or JSON lines with OFFBOARD_LOG_FORMAT=json), with the secrets
it holds (Slack's signing secret, the trigger secrets) redacted from every line.

A client that stalls mid-request is cut off after `read_timeout` seconds, and past `max_connections`
open connections a new one is answered 503 at once (Slack retries), so slow or idle senders cannot use up
the front's threads.

The front holds nothing worth keeping: when the bot's end of the pipe closes (the bot exited or was
killed) the front exits at once, and when the front dies the bot exits too (see `bot.cli.main serve`).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import queue
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from typing import IO, Any
from urllib.parse import parse_qs

from slack_sdk.signature import SignatureVerifier

from bot.triggers import signatures as triggers

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
# How often, at most, the answers' times go to the bot (so a scrape of its /metrics lags by about this much).
ACK_TIMES_EVERY = 0.5
# On a stop, how long the last acked deliveries may take to reach the bot.
DRAIN_TIMEOUT = 5.0
# How long a client may take to send a whole request (and how long an idle keep-alive connection stays open).
READ_TIMEOUT = 5.0
# Open connections at once; each holds a thread of the front.
MAX_CONNECTIONS = 256
# Connections past the cap being answered 503 at once; past this they are closed unanswered.
REFUSING_AT_ONCE = 32
# Bolt takes these headers as instructions to skip a listener's ack function; only Bolt itself may set them.
_BOLT_INTERNAL = ("x-slack-bolt-lazy-only", "x-slack-bolt-lazy-function-name")


# -- what travels between the front and the bot (pickled over a multiprocessing pipe) ---------------
@dataclass(frozen=True)
class FrontConfig:
    host: str
    port: int
    signing_secret: str = field(repr=False)
    log_level: int = logging.INFO
    read_timeout: float = READ_TIMEOUT
    max_connections: int = MAX_CONNECTIONS
    # Okta's and the HR systems' secrets (bot.triggers): checked here, as Slack's signature is.
    trigger_secrets: triggers.TriggerSecrets = field(default_factory=triggers.TriggerSecrets, repr=False)
    log_format: str = "text"  # bot.runtime.log_format.FORMATS

    def secrets(self) -> list[str]:
        """What the front's log lines must never carry."""
        held = self.trigger_secrets
        return [self.signing_secret, held.okta_secret, held.hr_secret, held.bamboohr_key]


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
    route: str = ""  # a trigger delivery: "<source> <path>", its sender checked here (bot.triggers)
    raw: bytes = b""  # a trigger delivery's body as received: its digest is evidence


@dataclass(frozen=True)
class AckTimes:
    """Answers' times since the last batch: (kind, seconds from the request read to its answer written)."""

    times: tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class Answer:
    ask_id: int
    status: int
    headers: dict[str, str]
    body: str


# What an answer was to, for its time in /metrics: a slash command, a button click (`block_actions`), a modal
# (`view_submission`, `view_closed`), the Events API, an Okta or HR delivery, a request refused (401, 400, 413),
# or anything else (Slack's certificate check, shortcuts, unknown paths).
KINDS = ("command", "action", "view", "event", "trigger", "refused", "other")


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes = b""
    content_type: str = "text/plain;charset=utf-8"
    kind: str = field(default="other", compare=False)  # KINDS: what was answered, not part of the answer


EMPTY_OK = Reply(200)
REFUSED = Reply(401, b'{"error": "invalid request"}', "application/json;charset=utf-8", kind="refused")
BUSY = Reply(503, b"too many connections", "text/plain;charset=utf-8")


def malformed(body: str, content_type: str) -> str | None:
    """Why a (signed) body is not one Slack sends, or None when it is. Read the way Bolt reads a body
    (`slack_bolt.request.internals.parse_body`); what fails here would fail in Bolt's parser or in a
    listener reading Slack's documented shapes, with no answer anyone could act on."""
    if content_type.startswith("application/json") or body.startswith("{"):
        try:
            document = json.loads(body) if body else {}
        except ValueError:
            return "the body is not JSON"
        return None if isinstance(document, dict) else "the body is not a JSON object"
    form = parse_qs(body, keep_blank_values=True)
    if "payload" not in form:
        return None
    try:
        payload = json.loads(form["payload"][0])
    except ValueError:
        return "the payload is not JSON"
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        return "the payload is not a JSON object with a type"
    if "user" in payload and not (isinstance(payload["user"], dict) and isinstance(payload["user"].get("id"), str)):
        return "the payload's user has no id"
    if payload["type"] in ("view_submission", "view_closed"):
        view = payload.get("view")
        if not isinstance(view, dict):
            return "the payload has no view"
        if not isinstance(view.get("private_metadata", ""), str):
            return "the view's private_metadata is not a string"
        if payload["type"] == "view_submission" and not _slack_state(view.get("state")):
            return "the view's state is not {block_id: {action_id: value}}"
    if payload["type"] == "block_actions":
        actions = payload.get("actions")
        if not (isinstance(actions, list) and actions and all(isinstance(a, dict) for a in actions)):
            return "the payload's actions are not a list of objects"
        if "state" in payload and not _slack_state(payload["state"]):
            return "the payload's state is not {block_id: {action_id: value}}"
    return None


def _slack_state(state: object) -> bool:
    values = state.get("values") if isinstance(state, dict) else None
    return isinstance(values, dict) and all(
        isinstance(block, dict) and all(isinstance(element, dict) for element in block.values())
        for block in values.values()
    )


def delivery_kind(form: dict[str, list[str]]) -> str:
    """Which of `KINDS` a form-encoded delivery is (`form`: its parsed body)."""
    if "command" in form:
        return "command"
    payload = form.get("payload")
    if not payload:
        return "other"
    try:
        kind = json.loads(payload[0]).get("type")
    except (ValueError, AttributeError):
        return "other"
    return {"block_actions": "action", "view_submission": "view", "view_closed": "view"}.get(kind, "other")


def answered_at_once(form: dict[str, list[str]]) -> bool:
    """True for the deliveries whose answer is always an empty 200: slash commands and button clicks.
    `form` is the parsed body of a form-encoded request (the Events API's JSON ones are never these)."""
    return delivery_kind(form) in ("command", "action")


def signed_by_slack(verifier: SignatureVerifier, body: str, headers: dict[str, str]) -> bool:
    """Slack's signature check, False (never an exception) for any header a sender can make up: the SDK's
    check raises on a timestamp that is digits but not ASCII ("²") and on a non-ASCII signature."""
    timestamp = headers.get("x-slack-request-timestamp") or ""
    signature = headers.get("x-slack-signature") or ""
    if not (timestamp.isascii() and timestamp.isdigit() and signature.isascii() and signature):
        return False
    try:
        return verifier.is_valid(body, timestamp, signature)
    except (TypeError, ValueError):
        return False


def at_the_edge(verifier: SignatureVerifier, body: str, headers: dict[str, str]) -> Reply | None:
    """The answer to a request that goes no further (Slack's certificate check, a bad signature, a body Slack
    never sends), or None for one the bot is to see. `headers` have lower-case names."""
    if headers.get("content-type", "").startswith("application/x-www-form-urlencoded") and \
            parse_qs(body).get("ssl_check") == ["1"]:
        return EMPTY_OK  # Slack checking our certificate: unsigned, and nothing to do (as Bolt answers it)
    if not signed_by_slack(verifier, body, headers):
        log.info("refused a Slack request with a missing, stale or wrong signature")
        return REFUSED
    problem = malformed(body, headers.get("content-type", ""))
    if problem:
        log.warning("refused a signed Slack request: %s", problem)
        return Reply(400, f"malformed request: {problem}".encode(), kind="refused")
    return None


class Front:
    """The decisions, without the HTTP plumbing: request in, reply out, work handed to the bot."""

    def __init__(self, signing_secret: str, link: Connection, *, max_waiting: int = MAX_WAITING,
                 on_bot_gone: Callable[[], None] = lambda: None,
                 trigger_secrets: triggers.TriggerSecrets | None = None) -> None:
        self._verifier = SignatureVerifier(signing_secret)
        self._triggers = trigger_secrets or triggers.TriggerSecrets()
        self._link = link
        self._on_bot_gone = on_bot_gone
        self._outbox: queue.Queue[Acked | Ask | None] = queue.Queue(maxsize=max_waiting)
        self._asks: dict[int, tuple[threading.Event, list[Answer]]] = {}
        self._ask_ids = itertools.count(1)
        self._threads: list[threading.Thread] = []
        self._ack_times: list[tuple[str, float]] = []
        self._ack_times_lock = threading.Lock()
        self._ack_times_due = 0.0

    def start(self) -> Front:
        self._threads = [threading.Thread(target=self._send_loop, name="front-send", daemon=True),
                         threading.Thread(target=self._receive_loop, name="front-receive", daemon=True)]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, timeout: float = 5.0) -> None:
        """Hand over what is waiting, then end the sender; the receiver ends when the bot's end closes.
        (The front process just drains; this is for code that runs a Front inside a longer-lived process.)"""
        self.drain(timeout)
        for thread in self._threads:
            thread.join(timeout)

    def acked(self, kind: str, seconds: float) -> None:
        """An answer was written `seconds` after its request was read: for the bot's /metrics."""
        with self._ack_times_lock:
            self._ack_times.append((kind, seconds))

    def handle(self, raw: bytes, headers: dict[str, str]) -> Reply:
        body = raw.decode("utf-8", errors="replace")
        refusal = at_the_edge(self._verifier, body, headers)
        if refusal is not None:
            return refusal
        is_form = headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
        kind = delivery_kind(parse_qs(body)) if is_form else "event"
        passed = {name: value for name, value in headers.items() if name not in _BOLT_INTERNAL}
        if kind in ("command", "action"):  # answered_at_once
            try:
                self._outbox.put_nowait(Acked(body, passed))
            except queue.Full:
                log.error("the bot is %d deliveries behind: answering 503 so Slack retries later",
                          self._outbox.maxsize)
                return Reply(503, kind=kind)
            return _ACKED[kind]
        return self._ask(body, passed, kind=kind)

    def handle_trigger(self, method: str, path: str, raw: bytes, headers: dict[str, str]) -> Reply:
        """Okta's and the HR systems' deliveries: the sender is checked here (401 otherwise), as Slack's are;
        the bot records the event and its answer (once recorded) is relayed."""
        if method == "GET":
            verified = triggers.okta_verification(headers, self._triggers) if path == triggers.OKTA_PATH \
                else triggers.NOT_FOUND
            return Reply(verified.status, verified.body, verified.content_type, kind="trigger")
        if not self._triggers.enabled(path):
            return Reply(404, kind="trigger")
        source = triggers.authenticated(path, raw, headers, self._triggers)
        if source is None:
            log.info("refused a trigger delivery to %s with a missing or wrong secret or signature", path)
            return REFUSED
        return self._ask("", headers, route=f"{source} {path}", raw=raw, kind="trigger")

    def _ask(self, body: str, headers: dict[str, str], *, route: str = "", raw: bytes = b"",
             kind: str = "other") -> Reply:
        ask_id = next(self._ask_ids)
        done, answer = threading.Event(), []
        self._asks[ask_id] = (done, answer)
        try:
            self._outbox.put(Ask(ask_id, body, headers, route, raw), timeout=ASK_TIMEOUT)
            if not done.wait(ASK_TIMEOUT):
                log.error("the bot did not answer a Slack request within %.0f s", ASK_TIMEOUT)
                return Reply(503, kind=kind)
        except queue.Full:
            return Reply(503, kind=kind)
        finally:
            self._asks.pop(ask_id, None)
        got = answer[0]
        content_type = got.headers.get("content-type", "text/plain;charset=utf-8")
        return Reply(got.status, got.body.encode(), content_type, kind=kind)

    def _send_loop(self) -> None:
        # One sender: a multiprocessing Connection is not safe for concurrent sends, and a slow reader
        # on the bot's side must hold up this thread, never an HTTP answer. The answers' times ride along
        # in batches, so they never take a place in the outbox (whose bound is about deliveries).
        while True:
            try:
                message = self._outbox.get(timeout=ACK_TIMES_EVERY)
            except queue.Empty:
                if not self._send_ack_times():
                    return
                continue
            try:
                if message is None:  # drain()
                    self._send_ack_times()
                    return
                if not self._send(message):
                    return
                if time.monotonic() >= self._ack_times_due and not self._send_ack_times():
                    return
            finally:
                self._outbox.task_done()

    def _send(self, message: Acked | Ask | AckTimes) -> bool:
        """Hand `message` to the bot; False when the bot is gone."""
        try:
            self._link.send(message)
        except OSError:
            self._on_bot_gone()
            return False
        except Exception:  # e.g. a body that does not pickle: lose that one, not every later one
            log.exception("could not hand a Slack delivery over to the bot")
        return True

    def _send_ack_times(self) -> bool:
        with self._ack_times_lock:
            times, self._ack_times = self._ack_times, []
        self._ack_times_due = time.monotonic() + ACK_TIMES_EVERY
        return not times or self._send(AckTimes(tuple(times)))

    def drain(self, timeout: float) -> bool:
        """Hand every delivery acked so far, and the answers' times, to the bot's end of the pipe, then stop
        sending; False if that did not happen within `timeout` seconds."""
        with contextlib.suppress(queue.Full):
            self._outbox.put(None, timeout=timeout)
        sender = next((thread for thread in self._threads if thread.name == "front-send"), None)
        if sender is not None:
            sender.join(timeout)
        return sender is not None and not sender.is_alive()

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


_ACKED = {kind: Reply(200, kind=kind) for kind in ("command", "action")}  # equal to EMPTY_OK


def _exit_now() -> None:
    # The bot exited or was killed (its end of the pipe closed). Acking more would promise work nobody
    # will do; exiting at once frees the port for the next `offboard serve`.
    os._exit(0)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: Slack (and the benchmark) reuse connections
    disable_nagle_algorithm = True  # one small answer per request: never wait for the peer's delayed ACK
    server: _FrontServer

    def setup(self) -> None:
        # Every read on this connection (request line, headers, body, the next keep-alive request) waits
        # at most this long; the body as a whole has the same deadline (see _read_body).
        self.timeout = self.server.read_timeout
        super().setup()

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self._reply(Reply(200, b"ok"))
        elif self.path.split("?", 1)[0] in triggers.PATHS:  # Okta's one-time verification of its hook
            headers = {name.lower(): value for name, value in self.headers.items()}
            read_at = time.perf_counter()
            self._reply_timed(self.server.front.handle_trigger("GET", self.path.split("?", 1)[0], b"", headers),
                              read_at)
        elif self.path.split("?", 1)[0] == "/readyz":  # checked here, from the settings (bot.runtime.health)
            from bot.runtime.health import answer_from_environment

            self._reply(Reply(*answer_from_environment(self.path)))
        else:
            self._reply(Reply(404))

    def do_POST(self) -> None:
        declared = self.headers.get("Content-Length") or "0"
        length = int(declared) if declared.isascii() and declared.isdigit() else -1
        if not 0 <= length <= MAX_BODY:  # the rest of the stream cannot be trusted: answer and hang up
            self.close_connection = True
            self._reply_timed(Reply(400 if length < 0 else 413, kind="refused"), time.perf_counter())
            return
        raw = self._read_body(length)
        read_at = time.perf_counter()  # the request is all read: what Slack waits for starts counting here
        if raw is None:
            log.info("cut off a client that sent a request body too slowly")
            self.close_connection = True
            return  # a sender this slow is no Slack: no answer, the connection is closed
        if self.path.split("?", 1)[0] in triggers.PATHS:
            self._reply_timed(self._answer_trigger(raw), read_at)
            return
        if self.path.split("?", 1)[0] != EVENTS_PATH:
            self._reply_timed(Reply(404), read_at)
            return
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            reply = self.server.front.handle(raw, headers)
        except Exception:  # answer even so: a dropped connection would only make Slack retry
            log.exception("answering a Slack request failed")
            reply = Reply(500)
        self._reply_timed(reply, read_at)

    def _reply_timed(self, reply: Reply, read_at: float) -> None:
        self._reply(reply)
        self.server.front.acked(reply.kind, time.perf_counter() - read_at)

    def _read_body(self, length: int) -> bytes | None:
        """The body, or None when it did not all arrive within the read timeout (a stalled or trickling
        sender: the socket's own timeout bounds each read, this the whole)."""
        deadline = time.monotonic() + self.server.read_timeout
        chunks, left = [], length
        try:
            while left:
                self.connection.settimeout(max(0.01, deadline - time.monotonic()))
                chunk = self.rfile.read1(min(left, 65536))
                if not chunk or time.monotonic() > deadline:
                    return None
                chunks.append(chunk)
                left -= len(chunk)
        except TimeoutError:
            return None
        finally:
            self.connection.settimeout(self.server.read_timeout)
        return b"".join(chunks)

    def _answer_trigger(self, raw: bytes) -> Reply:
        headers = {name.lower(): value for name, value in self.headers.items()}
        try:
            return self.server.front.handle_trigger("POST", self.path.split("?", 1)[0], raw, headers)
        except Exception:
            log.exception("answering a trigger delivery failed")
            return Reply(500, kind="trigger")

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

    def __init__(self, address: tuple[str, int], front: Front, *, read_timeout: float = READ_TIMEOUT,
                 max_connections: int = MAX_CONNECTIONS) -> None:
        super().__init__(address, _Handler)
        self.front = front
        self.read_timeout = read_timeout
        self.max_connections = max_connections
        self._open = threading.BoundedSemaphore(max_connections)
        self._refusing = threading.BoundedSemaphore(REFUSING_AT_ONCE)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._open.acquire(blocking=False):
            log.warning("answering 503: %s connections are open already", self.max_connections)
            self._refuse(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._open.release()
            raise

    def _refuse(self, request: Any) -> None:
        """503 on a thread of its own, a few at a time: the accepting thread never waits on a client, and
        one more than that is simply closed."""
        if not self._refusing.acquire(blocking=False):
            self.shutdown_request(request)
            return

        def refuse() -> None:
            try:
                request.settimeout(1.0)
                request.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain;charset=utf-8\r\n"
                                b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(BUSY.body), BUSY.body))
                request.shutdown(socket.SHUT_WR)
                # Read what the client sends until it hangs up (or a second passes): closing with its request
                # unread would reset the connection, and a reset can discard the 503 before the client reads it.
                deadline = time.monotonic() + 1.0
                while request.recv(65536) and time.monotonic() < deadline:
                    pass
            except OSError:
                pass
            finally:
                request.close()
                self._refusing.release()

        threading.Thread(target=refuse, name="front-refuse", daemon=True).start()

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._open.release()


def configure_logging(config: FrontConfig, stream: IO[str] | None = None) -> None:
    """The front process's logging: as the bot's (bot.runtime.log_format), on its stderr (which is the bot's)."""
    from bot.runtime.log_format import configure

    configure(config.log_level, config.log_format, config.secrets(), stream)


def run(link: Connection, config: FrontConfig) -> None:
    """The front process's body (started by `bot.runtime.front_link.FrontProcess`)."""
    configure_logging(config)
    front = Front(config.signing_secret, link, on_bot_gone=_exit_now, trigger_secrets=config.trigger_secrets)
    try:
        server = _FrontServer((config.host, config.port), front, read_timeout=config.read_timeout,
                              max_connections=config.max_connections)
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
