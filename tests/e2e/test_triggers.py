"""Offboarding that starts itself, through real HTTP: Okta's Event Hook (verification, deliveries, the header
secret), the signed HR webhook and BambooHR's signature, into the real bot on a real database, with the
PostHog sandbox and the Slack stand-in on loopback."""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from sqlmodel import col, select

from bot.demo.localrun import APPROVALS_CHANNEL, APPROVER, SECURITY_CHANNEL, LocalWorld, start_bot
from bot.demo.standin.senders import HrSender, OktaSender, hr_event, okta_delivery, okta_event
from bot.offboarding.slack import blocks
from bot.offboarding.values import Reason, RequestDraft
from bot.triggers.intake import EVENT_IS_APPROVAL
from storage.models import AuditEvent, OffboardRequest, RequestStatus, TriggerEvent
from tests.e2e.conftest import card_text, click, complete_checklist, eventually, the_card, wait_for_status
from vendors.sandbox.server import Fault

OKTA_SECRET = "okta-shared-secret"
HR_SECRET = "hr-shared-secret"
BAMBOO_KEY = "bamboohr-private-key"
TRIGGER_SETTINGS = {"okta_hook_secret": OKTA_SECRET, "hr_webhook_secret": HR_SECRET,
                    "bamboohr_webhook_key": BAMBOO_KEY}


def base_of(world: LocalWorld) -> str:
    parts = urlsplit(world.http.url)
    return f"{parts.scheme}://{parts.netloc}"


@pytest.fixture
def triggered(database_url: str) -> Iterator[LocalWorld]:
    local = LocalWorld.start(database_url, settings=TRIGGER_SETTINGS)
    yield local
    local.stop()


@pytest.fixture
def auto_approved(database_url: str) -> Iterator[LocalWorld]:
    local = LocalWorld.start(database_url, settings={**TRIGGER_SETTINGS, "trigger_approval": "event"})
    yield local
    local.stop()


def requests_for(world: LocalWorld, email: str) -> list[OffboardRequest]:
    with world.bot.db.session() as session:
        return list(session.exec(select(OffboardRequest).where(OffboardRequest.subject_email == email)))


def audit_of(world: LocalWorld, request_id: int, action: str) -> list[dict[str, Any]]:
    with world.bot.db.session() as session:
        return [e.details for e in session.exec(select(AuditEvent).where(
            AuditEvent.request_id == request_id, AuditEvent.action == action).order_by(col(AuditEvent.seq)))]


def test_okta_verification_then_a_deactivation_opens_one_request_and_a_bad_secret_is_refused(
        triggered: LocalWorld) -> None:
    okta = OktaSender(base_of(triggered), OKTA_SECRET)
    try:
        verified = okta.verify("Me_rShK8JHsTnbyYrWXCEoMGbM_zsZ6k0hLPZ_Pg")
        assert verified.status_code == 200
        assert verified.json() == {"verification": "Me_rShK8JHsTnbyYrWXCEoMGbM_zsZ6k0hLPZ_Pg"}
        assert okta.verify("challenge", secret="guessed").status_code == 401

        body = okta_delivery(okta_event("dave@corp.com", "user.lifecycle.deactivate", event_id="evt-dave-1"))
        assert okta.deliver(body, secret="guessed").status_code == 401
        assert requests_for(triggered, "dave@corp.com") == []

        first = okta.deliver(body)
        assert first.status_code == 200 and first.json()["requests"][0]["outcome"] == "created"
        request_id = first.json()["requests"][0]["request_id"]
        wait_for_status(triggered, request_id, RequestStatus.PENDING_APPROVAL)
        again = okta.deliver(body)  # Okta redelivers (at least once)
        assert again.json()["requests"][0] == {"event_id": "evt-dave-1", "request_id": request_id,
                                               "outcome": "duplicate"}
    finally:
        okta.close()

    assert [r.id for r in requests_for(triggered, "dave@corp.com")] == [request_id]
    text = card_text(the_card(triggered))
    assert "dave@corp.com" in text and "Okta" in text and "Removal due" in text
    received = audit_of(triggered, request_id, "trigger_received")
    assert len(received) == 1
    assert received[0]["source"] == "okta" and received[0]["event_id"] == "evt-dave-1"
    assert received[0]["digest"] == hashlib.sha256(body).hexdigest()
    assert received[0]["approval"] == "required"
    # It still waits for an approver's click, and the person is still in PostHog.
    assert triggered.posthog.member_by_email("dave@corp.com") is not None


def test_one_delivery_sent_to_two_instances_at_once_opens_one_request(triggered: LocalWorld) -> None:
    second = start_bot(triggered.database, triggered.slack, triggered.sandboxes, triggered.vendors,
                       settings=TRIGGER_SETTINGS)
    try:
        second_http = second.start_http()
        bases = [base_of(triggered), f"http://{urlsplit(second_http.url).netloc}"]
        body = okta_delivery(okta_event("frank@corp.com", "user.lifecycle.suspend", event_id="evt-frank"))
        answers: list[dict[str, Any]] = []
        start = threading.Barrier(4)

        def deliver(base: str) -> None:
            sender = OktaSender(base, OKTA_SECRET)
            start.wait()
            answers.append(sender.deliver(body).json()["requests"][0])
            sender.close()

        threads = [threading.Thread(target=deliver, args=(base,)) for base in bases * 2]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert sorted(a["outcome"] for a in answers) == ["created", "duplicate", "duplicate", "duplicate"]
        assert len({a["request_id"] for a in answers}) == 1
        assert len(requests_for(triggered, "frank@corp.com")) == 1
    finally:
        second.stop()


def test_the_hr_webhook_schedules_a_future_termination_attaches_a_second_event_and_refuses_bad_signatures(
        triggered: LocalWorld) -> None:
    hr = HrSender(base_of(triggered), HR_SECRET)
    last_day = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    body = hr_event("grace@corp.com", "workday-7781", termination_at=last_day.isoformat(), reason="resignation",
                    ticket="HR-913", requested_by="people-ops@corp.com")
    try:
        assert hr.send(body, secret="wrong").status_code == 401
        assert hr.send(body, timestamp=int(time.time()) - 600).status_code == 401  # outside the replay window
        created = hr.send(body).json()["requests"][0]
        assert created["outcome"] == "created"
        assert hr.send(body).json()["requests"][0]["outcome"] == "duplicate"
        request_id = created["request_id"]
        wait_for_status(triggered, request_id, RequestStatus.PENDING_APPROVAL)
        # Another system reports the same leaver: attached to the open request, not a second one.
        other = hr.send(hr_event("grace@corp.com", "rippling-55")).json()["requests"][0]
        assert other == {"event_id": "rippling-55", "request_id": request_id, "outcome": "attached"}
        unreadable = hr.send(b"not json")  # signed, but not an event: said so, and nothing is opened
        assert unreadable.status_code == 400 and "not JSON" in unreadable.json()["error"]
    finally:
        hr.close()

    assert len(requests_for(triggered, "grace@corp.com")) == 1
    with triggered.bot.db.session() as session:
        request = session.get(OffboardRequest, request_id)
        assert request is not None and request.effective_at == last_day and request.ticket == "HR-913"
    assert [d["outcome"] for d in audit_of(triggered, request_id, "trigger_received")] == ["created", "attached"]

    click(triggered, blocks.APPROVE, APPROVER)
    wait_for_status(triggered, request_id, RequestStatus.SCHEDULED)  # the termination time, not now
    assert triggered.posthog.member_by_email("grace@corp.com") is not None


def test_bamboohr_signed_delivery_is_accepted_and_a_wrong_key_refused(triggered: LocalWorld) -> None:
    hr = HrSender(base_of(triggered), bamboohr_key=BAMBOO_KEY)
    body = json.dumps({"employees": [{"id": "40412", "action": "Updated", "timestamp": "2026-12-04T10:00:00+00:00",
                                      "changedFields": ["Employment Status"],
                                      "fields": {"Work Email": "Erin.Ng@Corp.com", "Employment Status": "Terminated",
                                                 "Termination Date": "2026-12-04"}}]}).encode()
    try:
        assert hr.send_bamboohr(body, key="not-the-key").status_code == 401
        answer = hr.send_bamboohr(body)
        assert answer.status_code == 200, answer.text
        assert answer.json()["requests"][0]["outcome"] == "created"
    finally:
        hr.close()
    assert [r.reason for r in requests_for(triggered, "erin.ng@corp.com")] == ["termination"]


def test_when_the_event_is_the_approval_the_removal_runs_without_a_click(auto_approved: LocalWorld) -> None:
    okta = OktaSender(base_of(auto_approved), OKTA_SECRET)
    try:
        taken = okta.deliver(okta_delivery(okta_event("dave@corp.com"))).json()["requests"][0]
    finally:
        okta.close()
    # Everything the API can do runs without a click; what only a person can do waits for them.
    wait_for_status(auto_approved, taken["request_id"], RequestStatus.AWAITING_MANUAL, timeout=20)
    assert auto_approved.posthog.member_by_email("dave@corp.com") is None
    approved = audit_of(auto_approved, taken["request_id"], "approved")
    assert len(approved) == 1 and approved[0]["why"] == EVENT_IS_APPROVAL
    assert audit_of(auto_approved, taken["request_id"], "trigger_received")[0]["approval"] == EVENT_IS_APPROVAL
    complete_checklist(auto_approved, taken["request_id"], timeout=20)
    eventually(lambda: ":white_check_mark: met" in card_text(the_card(auto_approved)), what="the deadline met")


def test_a_person_no_tool_knows_still_gets_a_record(triggered: LocalWorld) -> None:
    hr = HrSender(base_of(triggered), HR_SECRET)
    try:
        taken = hr.send(hr_event("nobody@corp.com", "hr-1")).json()["requests"][0]
    finally:
        hr.close()
    assert taken["outcome"] == "created"
    wait_for_status(triggered, taken["request_id"], RequestStatus.PENDING_APPROVAL)
    with triggered.bot.db.session() as session:
        row = session.exec(select(TriggerEvent).where(TriggerEvent.event_id == "hr-1")).one()
        assert row.request_id == taken["request_id"] and row.subject_email == "nobody@corp.com"


def test_a_recheck_finds_the_person_gone_then_back_and_opens_a_request(auto_approved: LocalWorld) -> None:
    okta = OktaSender(base_of(auto_approved), OKTA_SECRET)
    try:
        taken = okta.deliver(okta_delivery(okta_event("dave@corp.com"))).json()["requests"][0]
    finally:
        okta.close()
    request_id = taken["request_id"]
    wait_for_status(auto_approved, request_id, RequestStatus.AWAITING_MANUAL, timeout=20)
    triggers = auto_approved.bot.triggers
    assert triggers is not None
    triggers.tick(datetime.now(UTC) + timedelta(hours=1, minutes=1))  # not complete yet: nothing to re-check
    assert audit_of(auto_approved, request_id, "removal_rechecked") == []
    complete_checklist(auto_approved, request_id, timeout=20)
    with auto_approved.bot.db.session() as session:
        request = session.get(OffboardRequest, request_id)
        assert request is not None and request.completed_at is not None
        completed = request.completed_at

    triggers.tick(completed + timedelta(hours=1, minutes=1))  # an hour after the checklist was completed
    assert [d["result"] for d in audit_of(auto_approved, request_id, "removal_rechecked")] == ["still gone"]

    auto_approved.posthog.add_member("dave@corp.com")  # SCIM provisions them again
    auto_approved.slack.inject(Fault("status", status=500, path_pattern=r"chat\.postMessage", times=None))
    triggers.tick(completed + timedelta(days=1, minutes=1))  # Slack is down: the alert stays owed
    assert auto_approved.slack.messages(SECURITY_CHANNEL) == []
    auto_approved.slack.clear_faults()
    triggers.tick(completed + timedelta(days=1, minutes=2))
    checked = audit_of(auto_approved, request_id, "removal_rechecked")
    assert [d["result"] for d in checked] == ["still gone", "back"]
    new_id = checked[1]["new_request"]
    assert new_id is not None and new_id != request_id
    alerts = [card_text(m) for m in auto_approved.slack.messages(SECURITY_CHANNEL)]
    assert any("dave@corp.com is back in posthog" in a and f"#{new_id}" in a for a in alerts)
    eventually(lambda: len(requests_for(auto_approved, "dave@corp.com")) == 2, what="the new request")
    triggers.tick(completed + timedelta(days=1, minutes=3))  # asked once, told once
    assert len(audit_of(auto_approved, request_id, "removal_rechecked")) == 2
    assert len(auto_approved.slack.messages(SECURITY_CHANNEL)) == len(alerts)


def test_offboard_serve_checks_okta_and_hr_senders_at_the_front_and_two_instances_open_one_request(
        tmp_path: Path, database_url: str) -> None:
    from bot.demo.localrun import BOT_TOKEN, SIGNING_SECRET
    from bot.demo.served import ServedBot
    from bot.demo.standin.slack_api import SlackStandIn
    from vendors.sandbox.posthog import ORG_ID, SANDBOX_API_KEY, PostHogSandbox

    with SlackStandIn() as slack, PostHogSandbox() as posthog:
        env = {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
               "SLACK_API_URL": f"{slack.url}/api/", "DATABASE_URL": database_url,
               "OFFBOARD_APPROVALS_CHANNEL": "CAPPROVALS", "OFFBOARD_APPROVERS": "UAPP1",
               "POSTHOG_API_KEY": SANDBOX_API_KEY, "POSTHOG_HOST": posthog.url, "POSTHOG_ORG_ID": ORG_ID,
               "OFFBOARD_OKTA_HOOK_SECRET": OKTA_SECRET, "OFFBOARD_HR_WEBHOOK_SECRET": HR_SECRET}
        first = ServedBot(env, tmp_path).start()
        second = ServedBot(env, tmp_path).start()
        senders = [OktaSender(first.base, OKTA_SECRET), OktaSender(second.base, OKTA_SECRET)]
        hr = HrSender(second.base, HR_SECRET)
        try:
            assert senders[0].verify("abc123").json() == {"verification": "abc123"}
            assert senders[1].verify("abc123", secret="nope").status_code == 401
            body = okta_delivery(okta_event("dave@corp.com", event_id="evt-served"))
            assert senders[0].deliver(body, secret="nope").status_code == 401
            answers = [s.deliver(body).json()["requests"][0] for s in senders + senders]
            assert [a["outcome"] for a in answers] == ["created", "duplicate", "duplicate", "duplicate"]
            assert len({a["request_id"] for a in answers}) == 1
            signed = hr.send(hr_event("bob@corp.com", "hr-served", ticket="HR-1"))
            assert signed.status_code == 200 and signed.json()["requests"][0]["outcome"] == "created"
            assert hr.send(hr_event("bob@corp.com", "hr-forged"), secret="nope").status_code == 401
            card = slack.wait_for("chat.postMessage", timeout=10)
            assert card.params["channel"] == "CAPPROVALS"
        finally:
            hr.close()
            for sender in senders:
                sender.close()
            second.stop()
            first.stop()


def cli_env(world: LocalWorld) -> dict[str, str]:
    from bot.demo.localrun import BOT_TOKEN, SIGNING_SECRET
    from vendors.sandbox.posthog import ORG_ID, SANDBOX_API_KEY

    return {"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": f"{world.slack.url}/api/", "DATABASE_URL": world.database_url,
            "OFFBOARD_APPROVALS_CHANNEL": APPROVALS_CHANNEL, "OFFBOARD_APPROVERS": APPROVER,
            "POSTHOG_API_KEY": SANDBOX_API_KEY, "POSTHOG_HOST": world.posthog.url, "POSTHOG_ORG_ID": ORG_ID,
            "SLACK_APP_TOKEN": "", "OFFBOARD_ENV_FILE": "/nonexistent"}


def test_offboard_request_dry_run_prints_each_tools_plan_and_changes_nothing(triggered: LocalWorld) -> None:
    from typer.testing import CliRunner

    from bot.cli.main import app

    result = CliRunner().invoke(app, ["request", "alice@corp.com", "--reason", "termination", "--dry-run"],
                                env=cli_env(triggered))
    assert result.exit_code == 0, result.output
    assert "Dry run: offboarding alice@corp.com" in result.output and "Nothing is changed" in result.output
    assert "PostHog" in result.output and "member" in result.output and "Remove" in result.output
    assert requests_for(triggered, "alice@corp.com") == []
    assert triggered.posthog.member_by_email("alice@corp.com") is not None
    assert triggered.slack.messages(APPROVALS_CHANNEL) == []


def test_offboard_request_opens_a_request_once_per_event_id(triggered: LocalWorld) -> None:
    from typer.testing import CliRunner

    from bot.cli.main import app

    args = ["request", "bob@corp.com", "--reason", "contract_end", "--effective", "2030-01-31",
            "--ticket", "IT-77", "--by", "UREQ", "--event-id", "cron-bob"]
    first = CliRunner().invoke(app, args, env=cli_env(triggered))
    assert first.exit_code == 0, first.output
    assert "is open" in first.output
    again = CliRunner().invoke(app, args, env=cli_env(triggered))
    assert again.exit_code == 0 and "made for this event id before" in again.output
    [request] = requests_for(triggered, "bob@corp.com")
    assert (request.reason, request.ticket, request.requester_id) == ("contract_end", "IT-77", "UREQ")
    assert request.effective_at == datetime(2030, 1, 31, 23, 59, 59, tzinfo=UTC)
    assert "bob@corp.com" in card_text(the_card(triggered))  # the card is up, waiting for an approver
    bad = CliRunner().invoke(app, ["request", "bob@corp.com", "--reason", "vacation"], env=cli_env(triggered))
    assert bad.exit_code == 2


def test_deadlines_met_and_missed_show_in_the_export_and_the_overdue_list(auto_approved: LocalWorld,
                                                                         database_url: str) -> None:
    from typer.testing import CliRunner

    from bot.cli.main import app
    from bot.triggers.overdue import OVERDUE_JOB

    hr = HrSender(base_of(auto_approved), HR_SECRET)
    ten_days_ago = (datetime.now(UTC) - timedelta(days=10)).replace(microsecond=0)
    try:
        met = hr.send(hr_event("dave@corp.com", "hr-met")).json()["requests"][0]["request_id"]
        late = hr.send(hr_event("frank@corp.com", "hr-late", termination_at=ten_days_ago.isoformat())
                       ).json()["requests"][0]["request_id"]
    finally:
        hr.close()
    for request_id in (met, late):
        complete_checklist(auto_approved, request_id, timeout=20)

    exported = CliRunner().invoke(app, ["audit", "export", "--since", "2020-01-01", "--format", "json"],
                                  env=cli_env(auto_approved))
    assert exported.exit_code == 0, exported.output
    rows = {r["request_id"]: r for r in json.loads(exported.output[exported.output.index("{"):])["removals"]}
    assert rows[met]["deadline"] == "met"
    assert rows[late]["deadline"].startswith("late by ") and " d" in rows[late]["deadline"]
    assert rows[late]["removal_due_utc"] < rows[late]["removed_at_utc"]
    assert rows[met]["started_by"].startswith("hr event hr-met (sha256 ")
    shown = CliRunner().invoke(app, ["audit", "show", str(late)], env={**cli_env(auto_approved), "COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert "Removal deadline" in shown.output and "late by" in shown.output
    assert "hr event hr-late (sha256" in shown.output

    # A leaver whose removal waits past their deadline: the card's clock says so, and so does the daily list.
    pending = auto_approved.bot.workflow.create_request(RequestDraft(
        subject_email="grace@corp.com", reason=Reason.TERMINATION, requester_id="UREQ", effective_at=ten_days_ago))
    auto_approved.bot.workflow.assess(pending)
    cards = [card_text(m) for m in auto_approved.slack.messages(APPROVALS_CHANNEL)]
    assert any("grace@corp.com" in c and "overdue by" in c for c in cards)
    scheduled = auto_approved.bot.deps.scheduled
    assert scheduled is not None
    when = datetime.now(UTC).replace(hour=9, minute=5) + timedelta(days=1)
    assert scheduled.run_periodic(OVERDUE_JOB, when)
    assert not scheduled.run_periodic(OVERDUE_JOB, when)  # once a day, however many instances
    listed = [card_text(m) for m in auto_approved.slack.messages(APPROVALS_CHANNEL)
              if "past their removal deadline" in card_text(m)]
    assert len(listed) == 1 and "grace@corp.com" in listed[0] and f"#{pending}" in listed[0]
    assert "dave@corp.com" not in listed[0]


def test_deadline_reminders_escalate_from_the_thread_to_the_channel_once_each(triggered: LocalWorld) -> None:
    from bot.triggers.deadline import policy

    hr = HrSender(base_of(triggered), HR_SECRET)
    try:
        request_id = hr.send(hr_event("dave@corp.com", "hr-remind")).json()["requests"][0]["request_id"]
    finally:
        hr.close()
    wait_for_status(triggered, request_id, RequestStatus.PENDING_APPROVAL)
    with triggered.bot.db.session() as session:
        request = session.get(OffboardRequest, request_id)
        assert request is not None
        due = policy().due(request)
        card_ts = request.card_ts
    assert due is not None
    triggers = triggered.bot.triggers
    assert triggers is not None

    def replies() -> list[Any]:
        return [c.params for c in triggered.slack.calls("chat.postMessage") if c.params.get("thread_ts") == card_ts]

    triggers.tick(due - timedelta(hours=6))
    assert replies() == []
    triggers.tick(due - timedelta(hours=2))
    triggers.tick(due - timedelta(hours=1))  # told once, however many ticks (or instances)
    assert len(replies()) == 1 and "left to remove dave@corp.com" in card_text(replies()[0])
    assert not replies()[0].get("reply_broadcast")
    triggers.tick(due + timedelta(minutes=30))
    triggers.tick(due + timedelta(hours=2))
    assert len(replies()) == 2 and "past its deadline by 30 min" in card_text(replies()[1])
    assert replies()[1].get("reply_broadcast") is True


def test_a_person_invited_again_through_onboard_is_back_for_a_known_reason(auto_approved: LocalWorld) -> None:
    from storage.models import Invitation, InviteBatch

    okta = OktaSender(base_of(auto_approved), OKTA_SECRET)
    try:
        request_id = okta.deliver(okta_delivery(okta_event("dave@corp.com"))).json()["requests"][0]["request_id"]
    finally:
        okta.close()
    complete_checklist(auto_approved, request_id, timeout=20)
    with auto_approved.bot.db.session() as session:
        request = session.get(OffboardRequest, request_id)
        assert request is not None and request.completed_at is not None
        completed = request.completed_at
        batch = InviteBatch(inviter_id="UREQ", created_at=completed + timedelta(minutes=5),
                            updated_at=completed + timedelta(minutes=5))
        session.add(batch)
        session.flush()
        assert batch.id is not None
        session.add(Invitation(batch_id=batch.id, email="dave@corp.com", role="member", vendors=["posthog"],
                               created_at=completed + timedelta(minutes=5)))
    auto_approved.posthog.add_member("dave@corp.com")  # rehired, and invited through /onboard
    triggers = auto_approved.bot.triggers
    assert triggers is not None
    triggers.tick(completed + timedelta(hours=2))
    [checked] = audit_of(auto_approved, request_id, "removal_rechecked")
    assert checked["result"].startswith("back, invited again through /onboard") and checked["new_request"] is None
    assert auto_approved.slack.messages(SECURITY_CHANNEL) == []
    assert len(requests_for(auto_approved, "dave@corp.com")) == 1


def test_an_event_that_is_the_approval_waits_for_a_future_termination_time(auto_approved: LocalWorld) -> None:
    hr = HrSender(base_of(auto_approved), HR_SECRET)
    last_day = (datetime.now(UTC) + timedelta(days=2)).replace(microsecond=0)
    try:
        request_id = hr.send(hr_event("dave@corp.com", "hr-future", termination_at=last_day.isoformat())
                             ).json()["requests"][0]["request_id"]
    finally:
        hr.close()
    wait_for_status(auto_approved, request_id, RequestStatus.SCHEDULED)
    assert auto_approved.posthog.member_by_email("dave@corp.com") is not None
    assert audit_of(auto_approved, request_id, "scheduled")[0]["due"].startswith(last_day.date().isoformat())
    assert auto_approved.bot.workflow.run_due(last_day + timedelta(seconds=1)) == [request_id]
    wait_for_status(auto_approved, request_id, RequestStatus.AWAITING_MANUAL, timeout=20)
    assert auto_approved.posthog.member_by_email("dave@corp.com") is None


def test_a_recheck_a_tool_cannot_answer_says_unknown_never_gone(auto_approved: LocalWorld) -> None:
    okta = OktaSender(base_of(auto_approved), OKTA_SECRET)
    try:
        request_id = okta.deliver(okta_delivery(okta_event("dave@corp.com"))).json()["requests"][0]["request_id"]
    finally:
        okta.close()
    complete_checklist(auto_approved, request_id, timeout=20)
    with auto_approved.bot.db.session() as session:
        request = session.get(OffboardRequest, request_id)
        assert request is not None and request.completed_at is not None
        completed = request.completed_at
    triggers = auto_approved.bot.triggers
    assert triggers is not None
    auto_approved.posthog.inject(Fault("status", status=503, times=None))
    triggers.tick(completed + timedelta(hours=1, minutes=1))
    auto_approved.posthog.clear_faults()
    [checked] = audit_of(auto_approved, request_id, "removal_rechecked")
    assert checked["result"] == "unknown" and checked["error"]
    assert auto_approved.slack.messages(SECURITY_CHANNEL) == []


def test_a_removal_waiting_only_for_its_checklist_is_judged_from_when_the_access_went(
        auto_approved: LocalWorld) -> None:
    from bot.triggers.overdue import OVERDUE_JOB

    hr = HrSender(base_of(auto_approved), HR_SECRET)
    ten_days_ago = (datetime.now(UTC) - timedelta(days=10)).replace(microsecond=0)
    try:
        request_id = hr.send(hr_event("frank@corp.com", "hr-gone", termination_at=ten_days_ago.isoformat())
                             ).json()["requests"][0]["request_id"]
    finally:
        hr.close()
    # Removed and verified through the API; replacing their personal API keys is still a person's to do.
    wait_for_status(auto_approved, request_id, RequestStatus.AWAITING_MANUAL, timeout=20)
    assert auto_approved.posthog.member_by_email("frank@corp.com") is None
    waiting = card_text(the_card(auto_approved))
    assert ":hourglass: late by " in waiting and "overdue by" not in waiting  # the clock stopped at the removal

    with auto_approved.bot.db.session() as session:
        card_ts = session.get(OffboardRequest, request_id).card_ts  # type: ignore[union-attr]

    def replies() -> int:
        return len([c for c in auto_approved.slack.calls("chat.postMessage") if c.params.get("thread_ts") == card_ts])

    before = replies()
    triggers, scheduled = auto_approved.bot.triggers, auto_approved.bot.deps.scheduled
    assert triggers is not None and scheduled is not None
    triggers.tick(datetime.now(UTC) + timedelta(hours=1))
    assert replies() == before  # no "past its deadline" reminder: the access is gone
    assert scheduled.run_periodic(OVERDUE_JOB, datetime.now(UTC).replace(hour=9, minute=5) + timedelta(days=1))
    assert not [m for m in auto_approved.slack.messages(APPROVALS_CHANNEL)
                if "past their removal deadline" in card_text(m)]  # frank has no access left anywhere

    late_by = re.search(r":hourglass: late by [^\"\\]+", waiting).group(0)  # type: ignore[union-attr]
    complete_checklist(auto_approved, request_id, timeout=20)
    assert late_by in card_text(the_card(auto_approved))  # ticking the checklist later does not move it


def test_a_person_invited_again_while_their_checklist_waits_is_back_for_a_known_reason(
        auto_approved: LocalWorld) -> None:
    from storage.models import Invitation, InviteBatch

    okta = OktaSender(base_of(auto_approved), OKTA_SECRET)
    try:
        request_id = okta.deliver(okta_delivery(okta_event("dave@corp.com"))).json()["requests"][0]["request_id"]
    finally:
        okta.close()
    wait_for_status(auto_approved, request_id, RequestStatus.AWAITING_MANUAL, timeout=20)  # removed already
    invited = datetime.now(UTC)
    with auto_approved.bot.db.session() as session:  # rehired, and invited through /onboard before the tick
        batch = InviteBatch(inviter_id="UREQ", created_at=invited, updated_at=invited)
        session.add(batch)
        session.flush()
        assert batch.id is not None
        session.add(Invitation(batch_id=batch.id, email="dave@corp.com", role="member", vendors=["posthog"],
                               created_at=invited))
    auto_approved.posthog.add_member("dave@corp.com")
    complete_checklist(auto_approved, request_id, timeout=20)
    with auto_approved.bot.db.session() as session:
        completed = session.get(OffboardRequest, request_id).completed_at  # type: ignore[union-attr]
    assert completed is not None
    triggers = auto_approved.bot.triggers
    assert triggers is not None
    triggers.tick(completed + timedelta(hours=2))
    [checked] = audit_of(auto_approved, request_id, "removal_rechecked")
    assert checked["result"].startswith("back, invited again through /onboard") and checked["new_request"] is None
    assert auto_approved.slack.messages(SECURITY_CHANNEL) == []
    assert len(requests_for(auto_approved, "dave@corp.com")) == 1
