"""The access review: on demand with `/offboard review` and on its quarterly schedule, a report per vendor
with a CSV of every member, attested by an approver. Against the seeded PostHog and Amplitude sandboxes."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import select

from bot.demo.localrun import APPROVER, GROUP_APPROVER, OUTSIDER, LocalWorld
from bot.reviews.slack import review_blocks
from bot.runtime.scheduled_work import REVIEW_JOB
from storage.models import AccessReview, AuditEvent, utcnow
from tests.e2e.conftest import card_text, eventually
from tests.e2e.scheduled_world import ADMIN_CHANNEL, start_world, work


@pytest.fixture
def world(database_url: str) -> Iterator[LocalWorld]:
    local = start_world(database_url, vendors=("posthog", "amplitude", "kissmetrics"),
                        manual=("kissmetrics",))
    yield local
    local.stop()


def report(world: LocalWorld) -> dict[str, Any]:
    reports = [m for m in world.slack.messages(ADMIN_CHANNEL) if "Access review" in m.get("text", "")]
    assert len(reports) == 1
    return reports[0]


def expected_posthog(world: LocalWorld) -> tuple[int, int, int]:
    """(members, admins, inactive 90+ days) straight from the sandbox's state."""
    cutoff = utcnow() - timedelta(days=90)
    members = [m for m in world.posthog._members.values() if m.user.is_active]
    admins = sum(1 for m in members if m.level == 8)
    inactive = sum(1 for m in members if (m.last_login is None and m.joined_at <= cutoff)
                   or (m.last_login is not None and m.last_login < cutoff))
    return len(members), admins, inactive


def test_review_on_demand_posts_counts_and_the_csv_and_an_approver_attests(world: LocalWorld) -> None:
    response = world.driver.slash_command("/offboard", "review", user_id=APPROVER)
    assert response.status_code == 200
    eventually(lambda: [m for m in world.slack.messages(ADMIN_CHANNEL) if "Access review" in m.get("text", "")],
               timeout=30, what="the report")
    eventually(lambda: [f for f in world.slack.files() if f.channel], what="the CSV shared")  # upload completed
    text = card_text(report(world))
    members, admins, inactive = expected_posthog(world)
    assert f"*PostHog*: {members} members" in text
    assert "Owners (2): it-ops@corp.com, carol@corp.com" in text or "Owners (2): carol@corp.com, it-ops@corp.com" \
        in text
    assert f"Admins ({admins})" in text and f"Inactive 90+ days: {inactive}" in text
    assert "*Amplitude*: 255 members" in text and "not known (its API does not give last login" in text
    assert "Owners and admins: not shown by its API" in text
    assert "SCIM lists invitations like members" in text
    assert "Kissmetrics" in text and "admin UI" in text

    [upload] = world.slack.files()
    assert upload.thread_ts == report(world)["ts"] and upload.content is not None
    rows = list(csv.DictReader(io.StringIO(upload.content.decode())))
    assert len(rows) == members + 255
    alice = next(r for r in rows if r["tool"] == "PostHog" and r["email"] == "alice@corp.com")
    assert alice["role"] == "admin" and "Production" in alice["projects"] and alice["last_login_utc"]

    world.driver.click(report(world), review_blocks.ATTEST, user_id=OUTSIDER, channel_id=ADMIN_CHANNEL)
    eventually(lambda: world.slack.ephemerals(user=OUTSIDER), what="the refusal")
    world.driver.click(report(world), review_blocks.ATTEST, user_id=GROUP_APPROVER, channel_id=ADMIN_CHANNEL)
    eventually(lambda: "Attested by <@UAPP2>" in card_text(report(world)), what="the attestation")
    assert review_blocks.ATTEST not in card_text(report(world))
    with world.bot.db.session() as session:
        actions = [e.action for e in session.exec(select(AuditEvent))]
    assert actions.count("access_review_attested") == 1 and "access_review_made" in actions


def test_only_approvers_and_audit_admins_may_ask_for_a_review(world: LocalWorld) -> None:
    world.driver.slash_command("/offboard", "review", user_id=OUTSIDER)
    key = world.driver.last_response_key
    answer = eventually(lambda: world.slack.responses(key), what="the answer")[0]
    assert "Only approvers and audit admins" in answer["text"]
    with world.bot.db.session() as session:
        assert not list(session.exec(select(AccessReview)))


def test_the_quarterly_review_runs_once_per_quarter_and_once_after_downtime(world: LocalWorld) -> None:
    def run(moment: datetime) -> bool:
        return work(world).run_periodic(REVIEW_JOB, moment)

    assert not run(datetime(2030, 2, 10, tzinfo=UTC))  # first sight: a baseline, nothing runs
    assert not run(datetime(2030, 3, 31, 23, tzinfo=UTC))
    assert run(datetime(2030, 4, 1, 9, 1, tzinfo=UTC))  # Q2 begins
    assert not run(datetime(2030, 4, 1, 9, 2, tzinfo=UTC))
    assert run(datetime(2031, 1, 15, tzinfo=UTC))  # down from May to January: three quarters missed, one run
    assert not run(datetime(2031, 1, 16, tzinfo=UTC))
    with world.bot.db.session() as session:
        reviews = list(session.exec(select(AccessReview)))
    assert [r.trigger for r in reviews] == ["schedule", "schedule"]
