"""The ack front's decisions (bot.runtime.front), without HTTP or a child process: what it answers at once,
what it refuses, what it asks the bot, and what it hands over."""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Iterator
from multiprocessing import Pipe
from multiprocessing.connection import Connection
from urllib.parse import parse_qs, urlencode

import pytest
from slack_sdk.signature import SignatureVerifier

from bot.runtime.front import (
    EMPTY_OK,
    REFUSED,
    Acked,
    AckTimes,
    Answer,
    Ask,
    Front,
    FrontConfig,
    answered_at_once,
    configure_logging,
    delivery_kind,
    malformed,
)
from bot.triggers.signatures import TriggerSecrets

SECRET = "front-test-secret"
FORM = "application/x-www-form-urlencoded"
COMMAND = urlencode({"command": "/offboard", "text": "help", "user_id": "UREQ", "trigger_id": "1.2.abc"})
CLICK = urlencode({"payload": json.dumps({"type": "block_actions", "actions": [{"action_id": "approve"}]})})
SUBMISSION = urlencode({"payload": json.dumps({"type": "view_submission", "user": {"id": "UREQ"},
                                               "view": {"callback_id": "x", "state": {"values": {}}}})})


def signed(body: str, *, secret: str = SECRET, age: int = 0, **extra: str) -> dict[str, str]:
    ts = str(int(time.time()) - age)
    return {"content-type": FORM, "x-slack-request-timestamp": ts,
            "x-slack-signature": SignatureVerifier(secret).generate_signature(timestamp=ts, body=body), **extra}


@pytest.fixture
def link() -> Iterator[tuple[Front, Connection]]:
    ours, bots = Pipe()
    front = Front(SECRET, ours).start()
    yield front, bots
    bots.close()
    front.stop()


def received(bots: Connection, timeout: float = 2.0) -> object | None:
    return bots.recv() if bots.poll(timeout) else None


def test_only_commands_and_clicks_are_answered_at_once() -> None:
    assert answered_at_once(parse_qs(COMMAND))
    assert answered_at_once(parse_qs(CLICK))
    assert not answered_at_once(parse_qs(SUBMISSION))  # its answer may carry validation errors
    assert not answered_at_once(parse_qs(urlencode({"payload": "not json"})))
    assert not answered_at_once(parse_qs(urlencode({"payload": "[1]"})))


def test_the_events_api_is_asked_of_the_bot(link: tuple[Front, Connection]) -> None:
    front, bots = link
    body = json.dumps({"type": "event_callback", "command": "/offboard"})
    headers = {**signed(body), "content-type": "application/json"}
    asking = threading.Thread(target=front.handle, args=(body.encode(), headers), daemon=True)
    asking.start()
    ask = received(bots)
    assert isinstance(ask, Ask)
    bots.send(Answer(ask.ask_id, 200, {}, ""))
    asking.join(5)


@pytest.mark.parametrize("body", [COMMAND, CLICK], ids=["command", "click"])
def test_a_signed_command_or_click_is_answered_empty_and_handed_to_the_bot(
    link: tuple[Front, Connection], body: str,
) -> None:
    front, bots = link
    headers = signed(body, **{"x-slack-retry-num": "1", "x-slack-bolt-lazy-only": "1"})
    assert front.handle(body.encode(), headers) == EMPTY_OK
    handed = received(bots)
    assert isinstance(handed, Acked) and handed.body == body
    assert handed.headers["x-slack-retry-num"] == "1"  # the bot logs retries it ignores
    assert "x-slack-bolt-lazy-only" not in handed.headers  # Bolt's own header: never taken from outside


@pytest.mark.parametrize("headers", [
    signed(COMMAND, secret="not-the-secret"),
    signed(COMMAND, age=360),  # Slack's signatures are good for 5 minutes
    {"content-type": FORM},
    {**signed(COMMAND), "x-slack-signature": ""},
    {**signed(COMMAND), "x-slack-request-timestamp": "soon"},
    {**signed(COMMAND), "x-slack-request-timestamp": "\u00b2"},  # a digit to str.isdigit, not to int()
    {**signed(COMMAND), "x-slack-signature": "v0=\u00e9"},  # hmac cannot compare non-ASCII text
], ids=["forged", "stale", "unsigned", "empty signature", "odd timestamp", "superscript timestamp",
        "non-ASCII signature"])
def test_a_request_not_signed_by_slack_is_refused_and_never_reaches_the_bot(
    link: tuple[Front, Connection], headers: dict[str, str],
) -> None:
    front, bots = link
    assert front.handle(COMMAND.encode(), headers) == REFUSED
    assert received(bots, timeout=0.2) is None


def test_a_tampered_body_is_refused(link: tuple[Front, Connection]) -> None:
    front, bots = link
    assert front.handle((COMMAND + "&text=delete").encode(), signed(COMMAND)) == REFUSED
    assert received(bots, timeout=0.2) is None


def test_a_modal_submission_gets_the_bots_answer(link: tuple[Front, Connection]) -> None:
    front, bots = link
    errors = json.dumps({"response_action": "errors", "errors": {"reason": "Choose a reason."}})

    def bot() -> None:
        ask = received(bots)
        assert isinstance(ask, Ask) and ask.body == SUBMISSION
        bots.send(Answer(ask.ask_id, 200, {"content-type": "application/json;charset=utf-8"}, errors))

    answering = threading.Thread(target=bot)
    answering.start()
    reply = front.handle(SUBMISSION.encode(), signed(SUBMISSION))
    answering.join(5)
    assert (reply.status, reply.body.decode(), reply.content_type) == (200, errors, "application/json;charset=utf-8")


def test_slacks_certificate_check_is_answered_without_the_bot(link: tuple[Front, Connection]) -> None:
    front, bots = link
    assert front.handle(b"ssl_check=1&token=x", {"content-type": FORM}) == EMPTY_OK
    assert received(bots, timeout=0.2) is None


def test_when_the_bot_is_far_behind_slack_is_told_to_retry_later() -> None:
    ours, bots = Pipe()
    front = Front(SECRET, ours, max_waiting=1)  # not started: nothing is handed over
    assert front.handle(COMMAND.encode(), signed(COMMAND)) == EMPTY_OK
    assert front.handle(COMMAND.encode(), signed(COMMAND)).status == 503
    bots.close()


def payload(document: object) -> str:
    return urlencode({"payload": json.dumps(document)})


def submission(view: dict[str, object]) -> str:
    return payload({"type": "view_submission", "user": {"id": "UREQ"}, "view": view})


@pytest.mark.parametrize("body", [
    urlencode({"payload": "not json"}),
    payload([1]),
    payload("block_actions"),
    submission({"callback_id": "x"}),  # no state
    submission({"callback_id": "x", "state": {"values": [{"comment": {}}]}}),
    submission({"callback_id": "x", "state": {"values": {}}, "private_metadata": {"request_id": 1}}),
    payload({"type": "block_actions", "user": {"id": "U1"}, "actions": "approve"}),
    payload({"type": "block_actions", "user": "U1", "actions": [{}]}),
    "[1]",
], ids=["payload not JSON", "payload an array", "payload a string", "form with no state", "state values a list",
        "metadata not a string", "actions not a list", "user not an object", "JSON body an array"])
def test_a_signed_body_slack_never_sends_is_refused_400_and_never_reaches_the_bot(
    link: tuple[Front, Connection], body: str,
) -> None:
    front, bots = link
    headers = signed(body) if not body.startswith("[") else {**signed(body), "content-type": "application/json"}
    reply = front.handle(body.encode(), headers)
    assert reply.status == 400 and b"malformed request" in reply.body
    assert received(bots, timeout=0.2) is None


def test_slacks_own_shapes_are_not_malformed() -> None:
    for body in (COMMAND, CLICK, SUBMISSION, "", "ssl_check=1"):
        assert malformed(body, FORM) is None, body
    assert malformed(json.dumps({"type": "url_verification", "challenge": "x"}), "application/json") is None


# -- what the bot's /metrics learns, and what the front's log lines look like --------------------------------
def test_each_answer_says_what_it_answered(link: tuple[Front, Connection]) -> None:
    front, _bots = link
    assert front.handle(COMMAND.encode(), signed(COMMAND)).kind == "command"
    assert front.handle(CLICK.encode(), signed(CLICK)).kind == "action"
    assert front.handle(COMMAND.encode(), signed(COMMAND, secret="not-the-secret")).kind == "refused"
    malformed_body = urlencode({"payload": "not json"})
    assert front.handle(malformed_body.encode(), signed(malformed_body)).kind == "refused"
    assert delivery_kind(parse_qs(SUBMISSION)) == "view"
    assert delivery_kind(parse_qs(urlencode({"payload": json.dumps({"type": "shortcut"})}))) == "other"


def test_answers_times_reach_the_bots_end_in_a_batch(link: tuple[Front, Connection]) -> None:
    front, bots = link
    front.acked("command", 0.002)
    front.acked("refused", 0.001)
    batch = received(bots)
    assert isinstance(batch, AckTimes)
    assert batch.times == (("command", 0.002), ("refused", 0.001))


@pytest.fixture
def root_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_the_front_logs_json_lines_with_its_secrets_redacted(root_logging: None) -> None:
    out = io.StringIO()
    trigger_secrets = TriggerSecrets(okta_secret="okta-shared-secret", hr_secret="hr-signing-secret")
    config = FrontConfig("127.0.0.1", 0, SECRET, log_format="json", trigger_secrets=trigger_secrets)
    configure_logging(config, stream=out)
    logging.getLogger("bot.runtime.front").warning("saw %s, %s and %s", SECRET, "okta-shared-secret",
                                                   "hr-signing-secret")
    line = json.loads(out.getvalue())
    assert (line["level"], line["logger"]) == ("warning", "bot.runtime.front")
    assert line["message"] == "saw [redacted], [redacted] and [redacted]"


def test_a_drain_hands_over_every_acked_delivery_and_the_last_times(link: tuple[Front, Connection]) -> None:
    front, bots = link
    for _ in range(3):
        assert front.handle(COMMAND.encode(), signed(COMMAND)) == EMPTY_OK
    front.acked("command", 0.003)
    assert front.drain(5)  # what the front process does on SIGTERM, before it exits
    handed = []
    while (message := received(bots, timeout=0.5)) is not None:
        handed.append(message)
    assert sum(isinstance(m, Acked) for m in handed) == 3
    assert [t for m in handed if isinstance(m, AckTimes) for t in m.times] == [("command", 0.003)]
