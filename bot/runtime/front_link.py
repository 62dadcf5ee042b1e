"""The bot's end of the ack front (`bot.runtime.front`): start the front process, take the deliveries it hands
over and run them through the Bolt app, answer the ones it asks about.

The app behind a front has Bolt's signature check off (`create_bot(..., verified_upstream=True)`): the
front checked every request before handing it over, and a delivery may wait here longer than the
5 minutes a signature stays fresh when the bot is far behind. Nothing but the front can reach this end:
it is a pipe to our own child process, not a socket anyone can connect to.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import threading
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from typing import Any

from slack_bolt import Ack, App, BoltRequest, BoltResponse

from bot.runtime import front
from bot.runtime.front import Acked, AckTimes, Answer, Ask, Failed, FrontConfig, Ready
from bot.runtime.metrics import HTTP_ACK_SECONDS
from bot.triggers.endpoint import TriggerEndpoint

log = logging.getLogger(__name__)

# Modal submissions are validated before their answer: a few at a time, so one slow check (a database
# read behind a busy writer) does not hold up the others or the hand-over of acked deliveries.
ASK_THREADS = 8


class AlreadyAnswered(Ack):
    """The ack of a delivery the front has answered already (200, empty).

    Bolt returns from dispatch as soon as an ack has a response, so it does not sit polling for the
    listener's own ack() (Bolt polls every 10 ms for up to 3 s while listener threads are busy). The
    listener's ack() still runs and changes nothing; one with content would be an answer Slack never
    gets, which `bot.runtime.front.answered_at_once` must not allow, so it is logged loudly.
    """

    def __init__(self) -> None:
        super().__init__()
        self.response = BoltResponse(status=200, body="")

    def __call__(self, *args: Any, **kwargs: Any) -> BoltResponse:
        if any(args) or any(value not in (None, "") for value in kwargs.values()):
            log.error("a listener acked a delivery the front had answered with content; Slack never saw it")
        assert self.response is not None
        return self.response


class FrontProcess:
    """The front, a child process, and the thread here that takes what it hands over."""

    def __init__(self, app: App, config: FrontConfig, triggers: TriggerEndpoint | None = None) -> None:
        self._app = app
        self._triggers = triggers
        self._config = config
        self._link: Connection | None = None
        self._process: multiprocessing.process.BaseProcess | None = None
        self._asks = ThreadPoolExecutor(max_workers=ASK_THREADS, thread_name_prefix="front-ask")
        self._sending = threading.Lock()
        self._receiver: threading.Thread | None = None
        self.url = ""

    def start(self, timeout: float = 30.0) -> FrontProcess:
        # spawn, not fork: this process already runs threads (scheduler, workflow), which fork would copy
        # mid-flight; the front needs nothing of this process but its config.
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        self._process = context.Process(target=front.run, args=(theirs, self._config), name="offboard-front",
                                        daemon=True)
        self._process.start()
        theirs.close()  # only the child holds it now, so our exit is an EOF it sees at once
        self._link = ours
        try:
            first = ours.recv() if ours.poll(timeout) else Failed(f"no answer within {timeout:.0f} s")
        except EOFError:
            first = Failed(f"it exited with {self._process.exitcode}")
        if isinstance(first, Failed):
            self.stop()
            raise RuntimeError(f"the ack front did not start: {first.reason}")
        assert isinstance(first, Ready)
        self.url = first.url
        self._receiver = threading.Thread(target=self._receive_loop, name="front-link", daemon=True)
        self._receiver.start()
        return self

    def wait(self) -> int | None:
        """Block until the front exits; its exit code."""
        assert self._process is not None
        self._process.join()
        return self._process.exitcode

    def stop(self) -> None:
        """Stop the front (it hands over what it acked first), then take in whatever is still in the pipe."""
        if self._process is not None and self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout=10)
        if self._receiver is not None:
            self._receiver.join(timeout=10)  # it ends at the pipe's end, once everything before it is read
        self._asks.shutdown(wait=True)

    def _receive_loop(self) -> None:
        assert self._link is not None
        while True:
            try:
                message = self._link.recv()
            except (EOFError, OSError):
                return  # the front is gone; `wait` returns and `offboard serve` exits
            try:
                if isinstance(message, Acked):
                    self._work(message)
                elif isinstance(message, Ask):
                    self._asks.submit(self._answer, message)
                elif isinstance(message, AckTimes):  # the front's own figures, for /metrics here
                    for kind, seconds in message.times:
                        HTTP_ACK_SECONDS.labels(kind).observe(seconds)
            except Exception:  # one bad delivery must not stop the ones behind it
                log.exception("a Slack delivery handed over by the front failed")

    def _work(self, delivery: Acked) -> None:
        # Dispatch returns once the delivery is claimed (bot.slack.dedupe) and its listener is handed to Bolt's
        # listener threads, so this loop keeps up with the front however long the work takes.
        request = BoltRequest(body=delivery.body, headers=delivery.headers, context={"ack": AlreadyAnswered()})
        response = self._app.dispatch(request)
        if response.status != 200:
            log.warning("a Slack delivery the front answered 200 got %d here: %s", response.status, response.body)

    def _answer(self, ask: Ask) -> None:
        try:
            if ask.route:  # an Okta or HR delivery whose sender the front checked (bot.triggers)
                answer = self._answer_trigger(ask)
            else:
                response = self._app.dispatch(BoltRequest(body=ask.body, headers=ask.headers))
                answer = Answer(ask.ask_id, response.status, response.first_headers(), response.body)
        except Exception:
            log.exception("answering a Slack request failed")
            answer = Answer(ask.ask_id, 500, {}, "")
        assert self._link is not None
        # A Connection is not safe for concurrent sends. If the front is gone, so is the request it waited for.
        with self._sending, contextlib.suppress(OSError):
            self._link.send(answer)

    def _answer_trigger(self, ask: Ask) -> Answer:
        source, _, path = ask.route.partition(" ")
        if self._triggers is None:
            return Answer(ask.ask_id, 404, {}, "")
        reply = self._triggers.answer("POST", path, ask.raw, ask.headers, source=source)
        return Answer(ask.ask_id, reply.status, {"content-type": reply.content_type}, reply.body.decode())
