"""What /offboard answers, and what the bot refuses, through real signed requests."""

from __future__ import annotations

import json
import time

from sqlmodel import select

from bot.demo.localrun import APPROVER, COMMAND_CHANNEL, REQUESTER, LocalWorld
from storage.models import OffboardRequest
from tests.e2e.conftest import eventually, open_request


def command(world: LocalWorld, text: str, user: str = REQUESTER) -> str:
    """Send /offboard and return the text of the (ephemeral) answer posted to its response_url."""
    response = world.driver.slash_command("/offboard", text, user_id=user, channel_id=COMMAND_CHANNEL)
    assert response.status_code == 200 and response.text == ""  # acked at once, answered after
    key = world.driver.last_response_key
    answers = eventually(lambda: world.slack.responses(key), what=f"the answer to /offboard {text}")
    assert answers[0]["response_type"] == "ephemeral"
    return json.dumps(answers[0]["blocks"]) + answers[0]["text"]


def requests_stored(world: LocalWorld) -> int:
    with world.bot.db.session() as session:
        return len(session.exec(select(OffboardRequest)).all())


def test_help_explains_usage(world: LocalWorld) -> None:
    assert "/offboard status" in command(world, "help")
    assert "/offboard status" in command(world, "")


def test_a_malformed_email_gets_a_clear_answer_and_changes_nothing(world: LocalWorld) -> None:
    answer = command(world, "alice@@corp")
    assert "not a valid email address" in answer
    assert world.slack.calls("views.open") == [] and requests_stored(world) == 0


def test_an_unknown_slack_user_gets_a_clear_answer(world: LocalWorld) -> None:
    answer = command(world, "<@UNOBODY|nobody>")
    assert "cannot find the Slack user" in answer
    assert world.slack.calls("views.open") == [] and requests_stored(world) == 0


def test_a_mention_is_resolved_to_the_email_in_the_form(world: LocalWorld) -> None:
    world.driver.slash_command("/offboard", "<@UALICE|alice> contract end", user_id=REQUESTER)
    view = world.slack.wait_for("views.open").params["view"]
    subject = next(b for b in view["blocks"] if b["block_id"] == "subject")
    reason = next(b for b in view["blocks"] if b["block_id"] == "reason")
    assert subject["element"]["initial_value"] == "alice@corp.com"
    assert reason["element"]["initial_option"]["value"] == "contract_end"


def test_status_shows_where_a_request_stands(world: LocalWorld) -> None:
    assert "No offboarding request for dave@corp.com" in command(world, "status dave@corp.com", APPROVER)
    request_id = open_request(world, "dave@corp.com")
    answer = command(world, "status dave@corp.com")  # by the requester
    assert f"#{request_id}" in answer and "waiting for approval" in answer and "PostHog" in answer


def test_a_second_request_for_the_same_person_is_refused(world: LocalWorld) -> None:
    request_id = open_request(world, "dave@corp.com")
    answer = command(world, "dave@corp.com")
    assert f"already has an open offboarding request (#{request_id})" in answer
    assert requests_stored(world) == 1


def test_the_form_refuses_bad_values_with_errors_on_the_fields(world: LocalWorld) -> None:
    world.driver.slash_command("/offboard", "dave@corp.com", user_id=REQUESTER)
    view = world.slack.wait_for("views.open").params["view"]
    response = world.driver.submit_view(
        view, {"subject": "not an email", "reason": "resignation", "effective_date": "2020-01-01"}, user_id=REQUESTER
    )
    body = response.json()
    assert body["response_action"] == "errors"
    assert set(body["errors"]) == {"subject", "effective_date"}
    assert requests_stored(world) == 0


def test_forged_stale_or_unsigned_requests_are_rejected_and_change_nothing(world: LocalWorld) -> None:
    sends = [
        dict(forge=True),
        dict(timestamp=int(time.time()) - 600),
        dict(omit_signature=True),
    ]
    for knobs in sends:
        response = world.driver.slash_command("/offboard", "dave@corp.com", user_id=REQUESTER, **knobs)
        assert response.status_code == 401, knobs
    time.sleep(0.3)
    assert world.slack.calls("views.open") == [] and requests_stored(world) == 0
