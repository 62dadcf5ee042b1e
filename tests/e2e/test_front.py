"""`offboard serve` answers Slack from its ack front (bot.runtime.front), a process apart from the work: the
guarantees of a single process still hold over real HTTP — signatures checked, each delivery acted on
at most once, a modal's validation errors in its answer — and the front never outlives the bot."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx
import pytest
from sqlmodel import func, select

from bot.demo.localrun import BOT_TOKEN, SIGNING_SECRET
from bot.demo.served import ServedBot
from bot.demo.standin.driver import SlackDriver
from bot.demo.standin.slack_api import SlackStandIn
from bot.offboarding.slack import batch_blocks, blocks
from bot.slack.listener_errors import UNEXPECTED
from storage.db import Database
from storage.models import Approval, OffboardRequest, RequestStatus
from vendors.base import Role
from vendors.sandbox.posthog import ORG_ID, SANDBOX_API_KEY, PostHogSandbox

LEAVER = "front.leaver@corp.com"  # no assets in the sandbox: nothing left to do by hand


@dataclass
class Served:
    bot: ServedBot
    slack: SlackStandIn
    posthog: PostHogSandbox
    driver: SlackDriver
    db: Database


@contextmanager
def serving(tmp_path: Path, database_url: str, **settings: str) -> Iterator[Served]:
    """`offboard serve` in a process of its own, with the stand-ins, and `settings` added to its environment."""
    with SlackStandIn() as slack, PostHogSandbox() as posthog:
        env = {
            "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": f"{slack.url}/api/",
            "DATABASE_URL": database_url, "OFFBOARD_APPROVALS_CHANNEL": "CAPPROVALS", "OFFBOARD_APPROVERS": "UAPP1",
            "POSTHOG_API_KEY": SANDBOX_API_KEY, "POSTHOG_HOST": posthog.url, "POSTHOG_ORG_ID": ORG_ID, **settings,
        }
        bot = ServedBot(env, tmp_path).start()
        db = Database(database_url)
        driver = SlackDriver(bot.events_url, SIGNING_SECRET, slack)
        try:
            yield Served(bot, slack, posthog, driver, db)
        finally:
            driver.close()
            bot.stop()
            db.dispose()


@pytest.fixture
def served(tmp_path: Path, database_url: str) -> Iterator[Served]:
    with serving(tmp_path, database_url) as world:
        yield world


def eventually(check: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)
    return result


def after_everything_before(world: Served) -> None:
    """The bot takes deliveries in the order the front answered them: once a later `/offboard help`
    has its reply, every earlier delivery was claimed and either started or dropped."""
    world.driver.slash_command("/offboard", "help", user_id="UREQ")
    key = world.driver.last_response_key
    eventually(lambda: world.slack.responses(key), "the help reply")


def count(db: Database, model: type) -> int:
    with db.session() as session:
        return session.exec(select(func.count()).select_from(model)).one()


def test_requests_not_signed_by_slack_are_refused_and_do_nothing(served: Served) -> None:
    for knobs in ({"forge": True}, {"stale": True}, {"omit_signature": True}, {"tamper": True}):
        response = served.driver.slash_command("/offboard", LEAVER, user_id="UREQ", **knobs)
        assert response.status_code == 401, knobs
    after_everything_before(served)
    assert not served.slack.calls("views.open")


def test_a_retried_command_is_answered_at_once_and_acted_on_once(served: Served) -> None:
    assert served.driver.slash_command("/offboard", LEAVER, user_id="UREQ").status_code == 200
    served.slack.wait_for("views.open", timeout=10)
    command = served.driver.last_body
    for retry in (1, 2, None):  # Slack's retries, then a replay of the captured request
        again = served.driver.send(command, retry_num=retry)
        assert (again.status_code, again.text) == (200, "")
    after_everything_before(served)
    assert len(served.slack.calls("views.open")) == 1


def test_a_forms_validation_errors_come_back_in_its_answer(served: Served) -> None:
    served.driver.slash_command("/offboard", LEAVER, user_id="UREQ")
    view = served.slack.wait_for("views.open", timeout=10).params["view"]
    answer = served.driver.submit_view(view, {}, user_id="UREQ")  # no reason chosen
    assert answer.status_code == 200
    assert answer.json()["response_action"] == "errors" and "reason" in answer.json()["errors"]
    assert count(served.db, OffboardRequest) == 0


def test_an_approval_delivered_twice_is_one_decision(served: Served) -> None:
    served.posthog.seed_person(LEAVER, Role.MEMBER)
    served.driver.slash_command("/offboard", LEAVER, user_id="UREQ")
    view = served.slack.wait_for("views.open", timeout=10).params["view"]
    assert served.driver.submit_view(view, {"reason": "resignation"}, user_id="UREQ").text in ("", "{}")
    card = eventually(lambda: next((m for m in served.slack.messages("CAPPROVALS")
                                    if blocks.APPROVE in str(m.get("blocks"))), None), "the card")
    assert served.driver.click(card, blocks.APPROVE, user_id="UAPP1", channel_id="CAPPROVALS").status_code == 200
    assert served.driver.send(served.driver.last_body, retry_num=1).status_code == 200

    def removed() -> bool:
        with served.db.session() as session:
            request = session.exec(select(OffboardRequest)).one()
            # Done but for the step only a person can do (no API shows a member's personal API keys).
            return request.status == RequestStatus.AWAITING_MANUAL

    eventually(removed, "the removal to be done", timeout=30)
    assert count(served.db, Approval) == 1
    assert served.posthog.delete_count(LEAVER) == 1


def test_the_front_does_not_outlive_a_killed_bot(served: Served) -> None:
    served.bot.kill()  # SIGKILL: the front learns it only from its pipe to the bot closing
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{served.bot.base}/healthz", timeout=1)


# -- what no Slack request looks like ----------------------------------------------------------------
def raw_post(served: Served, headers: list[tuple[bytes, bytes]], body: bytes) -> int:
    """POST with header bytes exactly as given (an HTTP client would refuse or re-encode non-ASCII ones);
    the answer's status code."""
    host, port = served.bot.base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as connection:
        head = b"POST /slack/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + b"".join(
            name + b": " + value + b"\r\n" for name, value in headers) + b"Content-Length: %d\r\n\r\n" % len(body)
        connection.sendall(head + body)
        return int(connection.makefile("rb").readline().split()[1])


def test_signatures_and_timestamps_that_are_not_ascii_are_refused(served: Served) -> None:
    body = urlencode({"command": "/offboard", "text": LEAVER, "user_id": "UREQ", "trigger_id": "1.2.x"}).encode()
    form = (b"Content-Type", b"application/x-www-form-urlencoded")
    now = str(int(time.time())).encode()
    superscript = [form, (b"X-Slack-Request-Timestamp", "\u00b2".encode("latin-1")), (b"X-Slack-Signature", b"v0=1")]
    accented = [form, (b"X-Slack-Request-Timestamp", now), (b"X-Slack-Signature", b"v0=\xe9")]
    assert raw_post(served, superscript, body) == 401
    assert raw_post(served, accented, body) == 401
    after_everything_before(served)
    assert not served.slack.calls("views.open")


def payload(document: object) -> str:
    return urlencode({"payload": json.dumps(document)})


def reject_form(view: dict[str, Any]) -> str:
    return payload({"type": "view_submission", "user": {"id": "UAPP1", "team_id": "T1"}, "team": {"id": "T1"},
                    "view": {"id": "VREJECT", "type": "modal", "callback_id": blocks.REJECT_MODAL, **view}})


COMMENT = {"values": {"comment": {"comment": {"type": "plain_text_input", "value": "not this one"}}}}


@pytest.mark.parametrize("body", [
    urlencode({"payload": "{not json"}),
    payload(["block_actions"]),
    payload("view_submission"),
    reject_form({"private_metadata": json.dumps({"request_id": 1})}),  # no state
    reject_form({"state": {"values": [COMMENT["values"]]}}),  # state values as a list
    reject_form({"state": COMMENT, "private_metadata": {"request_id": 1}}),  # metadata not a string
], ids=["payload not JSON", "payload an array", "payload a string", "form with no state", "state values a list",
        "metadata not a string"])
def test_signed_payloads_slack_never_sends_are_refused_400(served: Served, body: str) -> None:
    response = served.driver.send(body)
    assert response.status_code == 400 and "malformed request" in response.text
    after_everything_before(served)
    assert not served.slack.calls("views.update") and count(served.db, Approval) == 0


def test_a_form_whose_hidden_details_do_not_read_is_answered_in_the_form(served: Served) -> None:
    answer = served.driver.send(reject_form({"state": COMMENT, "private_metadata": "{request 1"}))
    assert answer.status_code == 200
    assert answer.json()["response_action"] == "errors"
    assert "could not tell which request" in answer.json()["errors"]["comment"]


def test_an_unexpected_failure_in_a_form_is_answered_in_the_form(served: Served) -> None:
    # The request form reads its hidden details as JSON with no guard of its own: what no listener expects
    # reaches the one error handler, which answers in place of the form (nothing answered Slack yet).
    view = {"id": "VREQUEST", "type": "modal", "callback_id": blocks.REQUEST_MODAL, "state": {"values": {}},
            "private_metadata": "{subject"}
    answer = served.driver.send(payload({"type": "view_submission", "user": {"id": "UREQ"}, "view": view}))
    assert answer.status_code == 200
    assert answer.json()["response_action"] == "update"
    assert "unexpected error" in json.dumps(answer.json()["view"])



def card_with(action_id: str, value: str) -> dict[str, Any]:
    return {"ts": "1700000000.000100", "text": "card", "blocks": [{"type": "actions", "block_id": "b", "elements": [
        {"type": "button", "action_id": action_id, "value": value, "text": {"type": "plain_text", "text": "Go"}}]}]}


def ephemeral_texts(served: Served, user: str) -> list[str]:
    return [str(c.params.get("text")) for c in served.slack.calls("chat.postEphemeral") if c.params.get("user") == user]


def test_a_button_value_too_long_for_an_id_is_answered_not_crashed_on(served: Served) -> None:
    thirty_digits = "1" * 30
    card = card_with(blocks.APPROVE, thirty_digits)
    assert served.driver.click(card, blocks.APPROVE, user_id="UAPP1", channel_id="CAPPROVALS").status_code == 200
    told = eventually(lambda: ephemeral_texts(served, "UAPP1"), "the clicker to be told")
    assert told == ["That button carries no request; nothing was changed."]

    # A listener with no guard of its own fails on it; the error handler tells the clicker.
    batch_card = card_with(batch_blocks.REJECT_BATCH, thirty_digits)
    served.driver.click(batch_card, batch_blocks.REJECT_BATCH, user_id="UAPP2", channel_id="CAPPROVALS")
    assert eventually(lambda: ephemeral_texts(served, "UAPP2"), "the clicker to be told") == [UNEXPECTED]
    assert not served.slack.calls("views.open")


# -- slow and many connections --------------------------------------------------------------------------
def connect(served: Served) -> socket.socket:
    address = urlsplit(served.bot.base)
    return socket.create_connection((address.hostname, address.port), timeout=10)


def test_a_client_that_stalls_mid_body_is_cut_off(tmp_path: Path, database_url: str) -> None:
    with serving(tmp_path, database_url, OFFBOARD_FRONT_READ_TIMEOUT="1") as world, connect(world) as stalled:
        stalled.sendall(b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded"
                        b"\r\nContent-Length: 200\r\n\r\ncommand=%2Foffboard&text=")  # ...and nothing more
        begun = time.monotonic()
        assert stalled.recv(1024) == b"", "the front answered or kept a half-sent request"  # closed by the front
        assert time.monotonic() - begun < 5
        assert httpx.get(f"{world.bot.base}/healthz", timeout=2).text == "ok"


def test_past_the_connection_cap_a_new_connection_is_answered_503_at_once(tmp_path: Path, database_url: str) -> None:
    with serving(tmp_path, database_url, OFFBOARD_FRONT_MAX_CONNECTIONS="2", OFFBOARD_FRONT_READ_TIMEOUT="30") as world:
        holders: list[socket.socket] = []
        try:
            while len(holders) < 2:  # two keep-alive connections, each answered once, then left open and idle
                holder = connect(world)
                holder.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                if b" 200 " in holder.recv(1024):
                    holders.append(holder)
                else:  # the start-up health check's connection still counted: it is closing
                    holder.close()
            with connect(world) as third:
                third.settimeout(2)
                third.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                assert third.recv(1024).startswith(b"HTTP/1.1 503 ")
        finally:
            for holder in holders:
                holder.close()
        assert eventually(lambda: httpx.get(f"{world.bot.base}/healthz", timeout=2).status_code == 200,
                          "a connection to be served again")
