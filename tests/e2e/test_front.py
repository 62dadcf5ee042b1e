"""`offboard serve` answers Slack from its ack front (bot.front), a process apart from the work: the
guarantees of a single process still hold over real HTTP — signatures checked, each delivery acted on
at most once, a modal's validation errors in its answer — and the front never outlives the bot."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import func, select

from bot import blocks
from bot.localrun import BOT_TOKEN, SIGNING_SECRET
from bot.served import ServedBot
from bot.standin.driver import SlackDriver
from bot.standin.slack_api import SlackStandIn
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


@pytest.fixture
def served(tmp_path: Path, database_url: str) -> Iterator[Served]:
    with SlackStandIn() as slack, PostHogSandbox() as posthog:
        env = {
            "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": f"{slack.url}/api/",
            "DATABASE_URL": database_url, "OFFBOARD_APPROVALS_CHANNEL": "CAPPROVALS", "OFFBOARD_APPROVERS": "UAPP1",
            "POSTHOG_API_KEY": SANDBOX_API_KEY, "POSTHOG_HOST": posthog.url, "POSTHOG_ORG_ID": ORG_ID,
        }
        bot = ServedBot(env, tmp_path).start()
        db = Database(database_url)
        try:
            yield Served(bot, slack, posthog, SlackDriver(bot.events_url, SIGNING_SECRET, slack), db)
        finally:
            bot.stop()
            db.dispose()


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
