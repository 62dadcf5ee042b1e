"""Audit evidence through Slack, with real signed requests: audit admins see a request's evidence
and get the removal log as a file; anyone else is refused, and the attempt is in the audit log."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import col, select

from bot.audit import evidence
from bot.demo.localrun import (
    APPROVER,
    COMMAND_CHANNEL,
    GROUP_APPROVER,
    OUTSIDER,
    REQUESTER,
    SIGNING_SECRET,
    LocalWorld,
    local_settings,
)
from bot.demo.standin.driver import SlackDriver
from bot.demo.standin.slack_api import SlackStandIn
from bot.offboarding.slack import blocks
from bot.offboarding.values import NOTIFY_VENDOR, Reason, RequestDraft
from bot.runtime.app import Bot, create_bot
from storage import audit
from storage.models import AuditEvent, RequestStatus, Step, StepStatus
from tests.e2e.conftest import click, confirm_values, eventually, mark_done, open_request, the_card, wait_for_status


def command(world: LocalWorld, text: str, user: str) -> dict[str, Any]:
    """/offboard <text> by `user`: acked at once with an empty body, answered after through response_url."""
    response = world.driver.slash_command("/offboard", text, user_id=user, channel_id=COMMAND_CHANNEL)
    assert response.status_code == 200 and response.text == ""
    key = world.driver.last_response_key
    answers = eventually(lambda: world.slack.responses(key), what=f"the answer to /offboard {text}")
    assert answers[0]["response_type"] == "ephemeral"
    return answers[0]


def shown(answer: dict[str, Any]) -> str:
    return json.dumps(answer.get("blocks") or [], ensure_ascii=False) + answer.get("text", "")


def audit_entries(world: LocalWorld, action: str) -> list[AuditEvent]:
    with world.bot.db.session() as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(col(AuditEvent.seq))))


def offboard_alice(world: LocalWorld) -> int:
    """Alice's whole removal from PostHog: asked by the requester, approved, manual steps ticked."""
    request_id = open_request(world, "alice@corp.com", ticket="HR-42", new_owner="UBOB")
    click(world, blocks.APPROVE, APPROVER)
    wait_for_status(world, request_id, RequestStatus.AWAITING_MANUAL)
    for value in confirm_values(world.driver, the_card(world)):
        mark_done(world.driver, the_card(world), GROUP_APPROVER, value)
    wait_for_status(world, request_id, RequestStatus.COMPLETED)
    eventually(lambda: _notified(world, request_id), what="the notifications after completion")
    return request_id


def _notified(world: LocalWorld, request_id: int) -> bool:
    with world.bot.db.session() as session:
        notices = session.exec(select(Step).where(Step.request_id == request_id, Step.vendor == NOTIFY_VENDOR)).all()
    return bool(notices) and all(s.status == StepStatus.DONE for s in notices)


def test_an_audit_admin_sees_the_evidence_and_the_look_is_logged(world: LocalWorld) -> None:
    request_id = offboard_alice(world)
    answer = shown(command(world, "audit alice@corp.com", APPROVER))
    for fact in [f"Request #{request_id}", "alice@corp.com", "Resignation", "HR-42", "<@UREQ>",
                 "Approved by <@UAPP1>", "*PostHog*", "verified gone through the API", "Assets moved",
                 "bob@corp.com", "Done by hand", "by <@UAPP2>", "Notifications", "Request → approval",
                 "Approval → verified removal", "Timeline"]:
        assert fact in answer, fact
    viewed = audit_entries(world, evidence.VIEWED)
    assert [(e.actor, e.request_id, e.details["via"]) for e in viewed] == [(APPROVER, request_id, "slack")]
    # A mention works as well as an email; the approver group counts as audit admins by default.
    assert f"Request #{request_id}" in shown(command(world, "audit <@UALICE|alice>", GROUP_APPROVER))
    with world.bot.db.session() as session:
        assert audit.verify_chain(session).ok


def test_anyone_else_is_refused_and_every_attempt_is_logged(world: LocalWorld) -> None:
    request_id = open_request(world, "alice@corp.com", ticket="HR-42")
    for user, text in [(OUTSIDER, "audit alice@corp.com"), (REQUESTER, "audit alice@corp.com"),
                       (OUTSIDER, "audit export"), (OUTSIDER, "audit what is this")]:
        answer = shown(command(world, text, user))
        assert "Only audit admins can see audit evidence" in answer and "recorded in the audit log" in answer
        assert f"#{request_id}" not in answer and "HR-42" not in answer
    refused = audit_entries(world, evidence.REFUSED)
    assert [(e.actor, e.details["asked"], e.details["via"]) for e in refused] == [
        (OUTSIDER, "/offboard audit alice@corp.com", "slack"),
        (REQUESTER, "/offboard audit alice@corp.com", "slack"),
        (OUTSIDER, "/offboard audit export", "slack"),
        (OUTSIDER, "/offboard audit what is this", "slack"),
    ]
    assert world.slack.files() == [] and audit_entries(world, evidence.VIEWED) == []


def test_an_audit_admin_gets_the_removal_log_as_a_file_in_a_dm(world: LocalWorld) -> None:
    request_id = offboard_alice(world)
    waiting = world.bot.workflow.create_request(  # not approved: not a removal
        RequestDraft(subject_email="dave@corp.com", reason=Reason.TERMINATION, requester_id=REQUESTER)
    )
    answer = shown(command(world, "audit export since=2020-01-01", GROUP_APPROVER))
    assert "I sent you the removal log since 2020-01-01 (1 removal)" in answer

    (upload,) = world.slack.files()
    assert upload.channel == world.slack.dm_channel(GROUP_APPROVER) and upload.filename.endswith(".csv")
    assert upload.content is not None
    rows = list(csv.DictReader(io.StringIO(upload.content.decode())))
    assert len(rows) == 1 and str(waiting) not in {r["request_id"] for r in rows}
    row = rows[0]
    assert (row["request_id"], row["user"], row["reason"], row["ticket"]) == (
        str(request_id), "alice@corp.com", "Resignation", "HR-42")
    assert (row["approved_by"], row["requested_by"]) == (APPROVER, REQUESTER)
    assert row["removed_by"].startswith("offboard (posthog, API)")
    assert row["verification"].startswith("posthog: verified gone through the API at ")
    assert "to bob@corp.com" in row["assets_transferred"]
    assert float(row["hours_request_to_approval"]) >= 0 and float(row["hours_approval_to_verified_removal"]) >= 0
    (shared,) = world.slack.messages(world.slack.dm_channel(GROUP_APPROVER))
    assert shared["files"][0]["id"] == upload.id and "1 removal" in shared["text"]

    exported = audit_entries(world, evidence.EXPORTED)
    assert [(e.actor, e.details["rows"], e.details["request_ids"]) for e in exported] == [
        (GROUP_APPROVER, 1, [request_id])]


def test_a_bad_export_date_gets_a_clear_answer_and_nothing_else(world: LocalWorld) -> None:
    answer = shown(command(world, "audit export since=2024-02-30", APPROVER))
    assert "“2024-02-30” is not a date: write it as YYYY-MM-DD" in answer
    assert world.slack.files() == [] and audit_entries(world, evidence.EXPORTED) == []
    usage = shown(command(world, "audit", APPROVER))
    assert "/offboard audit export" in usage


@pytest.fixture
def admins_world(database_url: str) -> Iterator[tuple[SlackStandIn, SlackDriver, Bot]]:
    """The bot with OFFBOARD_AUDIT_ADMINS set to Carol, who is no approver."""
    slack = SlackStandIn()
    slack.start()
    settings = local_settings(database_url, slack).model_copy(update={"audit_admins": ["UCAROL"]})
    bot = create_bot(settings, vendors={})
    http = bot.start_http()
    driver = SlackDriver(http.url, SIGNING_SECRET, slack)
    yield slack, driver, bot
    driver.close()
    bot.stop()
    slack.stop()


def test_configured_audit_admins_replace_the_approvers(admins_world: tuple[SlackStandIn, SlackDriver, Bot]) -> None:
    slack, driver, bot = admins_world
    for user, allowed in [(APPROVER, False), ("UCAROL", True)]:
        driver.slash_command("/offboard", "audit export", user_id=user, channel_id=COMMAND_CHANNEL)
        key = driver.last_response_key
        answer = shown(eventually(lambda key=key: slack.responses(key), what="the answer")[0])
        assert ("Only audit admins" in answer) is not allowed, user
    (upload,) = slack.files()
    assert upload.channel == slack.dm_channel("UCAROL")
    with bot.db.session() as session:
        refused = session.exec(select(AuditEvent.actor).where(AuditEvent.action == evidence.REFUSED)).all()
    assert refused == [APPROVER]
