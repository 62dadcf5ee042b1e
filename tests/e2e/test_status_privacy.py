"""`/offboard status` through real signed requests: a person's requests (reason and all) are shown only to
those with a part in them — the requester, approvers, audit admins; the person leaving and bystanders get
one neutral answer that does not tell whether a request exists. Every look is in the audit log."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlmodel import col, select

from bot.demo.localrun import APPROVER, COMMAND_CHANNEL, GROUP_APPROVER, OUTSIDER, REQUESTER, LocalWorld
from bot.engine.decisions import STATUS_REFUSED, STATUS_SHOWN
from bot.offboarding.slack.commands import NOT_YOURS_TO_SEE
from storage import audit
from storage.models import AuditEvent
from tests.e2e.conftest import eventually, open_request
from tests.e2e.test_separation_of_duties import open_another

AUDIT_ADMIN = "UCAROL"  # in OFFBOARD_AUDIT_ADMINS, not an approver
LEAVER = "UDAVE"  # dave@corp.com in Slack
BYSTANDER = "UBOB"


@pytest.fixture
def world(database_url: str) -> Iterator[LocalWorld]:
    local = LocalWorld.start(database_url, settings={"audit_admins": [AUDIT_ADMIN]})
    yield local
    local.stop()


def status(world: LocalWorld, who: str, user: str) -> str:
    """`/offboard status <who>` typed by `user`: the text of the ephemeral answer only they see."""
    response = world.driver.slash_command("/offboard", f"status {who}", user_id=user, channel_id=COMMAND_CHANNEL)
    assert response.status_code == 200 and response.text == ""
    key = world.driver.last_response_key
    answer = eventually(lambda: world.slack.responses(key), what=f"the answer to {user}")[0]
    assert answer["response_type"] == "ephemeral"
    return json.dumps(answer.get("blocks") or []) + answer["text"]


def looks(world: LocalWorld) -> list[tuple[str, str, str, list[int], list[int]]]:
    """(action, who looked, for whom, what they saw, what was withheld) of every look, in order."""
    with world.bot.db.session() as session:
        events = session.exec(select(AuditEvent).where(col(AuditEvent.action).in_([STATUS_SHOWN, STATUS_REFUSED]))
                              .order_by(col(AuditEvent.seq))).all()
        assert audit.verify_chain(session).ok
    return [(e.action, e.actor, e.details["subject"], e.details["request_ids"], e.details["withheld"])
            for e in events]


def test_those_with_a_part_see_the_request_and_the_leaver_and_bystanders_do_not(world: LocalWorld) -> None:
    request_id = open_request(world, "dave@corp.com", reason="termination")
    for viewer in (REQUESTER, APPROVER, GROUP_APPROVER, AUDIT_ADMIN):
        answer = status(world, "dave@corp.com", viewer)
        assert f"#{request_id}" in answer and "Termination" in answer and "waiting for approval" in answer, viewer
    for viewer in (LEAVER, BYSTANDER, OUTSIDER):
        answer = status(world, "dave@corp.com", viewer)
        assert NOT_YOURS_TO_SEE in answer, viewer
        assert f"#{request_id}" not in answer and "Termination" not in answer and "No offboarding" not in answer
    assert NOT_YOURS_TO_SEE in status(world, "<@UDAVE|dave>", LEAVER)  # by mention too

    seen = [(STATUS_SHOWN, viewer, "dave@corp.com", [request_id], []) for viewer in
            (REQUESTER, APPROVER, GROUP_APPROVER, AUDIT_ADMIN)]
    refused = [(STATUS_REFUSED, viewer, "dave@corp.com", [], [request_id]) for viewer in
               (LEAVER, BYSTANDER, OUTSIDER, LEAVER)]
    assert looks(world) == seen + refused


def test_the_neutral_answer_is_the_same_whether_or_not_a_request_exists(world: LocalWorld) -> None:
    open_request(world, "dave@corp.com")
    with_request = status(world, "dave@corp.com", BYSTANDER)
    without = status(world, "carol@corp.com", BYSTANDER)
    assert with_request == without.replace("carol@corp.com", "dave@corp.com") and NOT_YOURS_TO_SEE in without
    assert "No offboarding request for carol@corp.com" in status(world, "carol@corp.com", APPROVER)
    assert [(a, who, whom) for a, who, whom, _, _ in looks(world)] == [
        (STATUS_REFUSED, BYSTANDER, "dave@corp.com"), (STATUS_REFUSED, BYSTANDER, "carol@corp.com"),
        (STATUS_SHOWN, APPROVER, "carol@corp.com")]


def test_an_approver_does_not_see_their_own_offboarding(world: LocalWorld) -> None:
    request_id = open_request(world, "alex@corp.com")  # the approver's own address
    assert NOT_YOURS_TO_SEE in status(world, "alex@corp.com", APPROVER)
    assert f"#{request_id}" in status(world, "alex@corp.com", GROUP_APPROVER)
    assert looks(world)[0] == (STATUS_REFUSED, APPROVER, "alex@corp.com", [], [request_id])


def test_a_requester_who_is_no_approver_sees_only_the_requests_they_asked_for(world: LocalWorld) -> None:
    first = open_request(world, "dave@corp.com")
    world.bot.workflow.cancel(first, REQUESTER)
    second = open_another(world, "dave@corp.com", OUTSIDER, after=first)
    mine = status(world, "dave@corp.com", REQUESTER)
    assert f"#{first}" in mine and f"#{second}" not in mine
    assert looks(world) == [(STATUS_SHOWN, REQUESTER, "dave@corp.com", [first], [second])]
