"""Retention: the purge erases personal data past each reason's period and nothing inside it, is itself
audited, and leaves a chain that still verifies (and still catches tampering)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from sqlmodel import col, select
from typer.testing import CliRunner

from bot.audit import evidence
from bot.cli.main import app as cli
from bot.offboarding.values import Reason, RequestDraft
from bot.offboarding.workflow import Workflow
from bot.runtime.config import Settings
from storage import audit, retention
from storage.db import Database
from storage.models import (
    Approval,
    AuditEvent,
    OffboardRequest,
    RetentionPurge,
    Step,
    VendorAssessment,
)
from tests.audit.test_audit_chain import tamper_detail
from tests.audit.test_audit_evidence import AcmeVendor, Clock, InlineExecutor, Notifier

NOW = datetime(2033, 6, 1, 12, 0, tzinfo=UTC)
POLICY = retention.RetentionPolicy()


def years_before(moment: datetime, years: int) -> datetime:
    return retention.add_years(moment, -years)


@dataclass
class World:
    db: Database
    workflow: Workflow
    clock: Clock
    ids: dict[str, int]


def offboard(world: World, key: str, email: str, reason: Reason, at: datetime) -> None:
    """A whole removal, completed at `at`."""
    world.clock.now = at
    request_id = world.workflow.create_request(
        RequestDraft(subject_email=email, reason=reason, requester_id="UREQ", subject_name=f"{key.title()} Person",
                     ticket=f"HR-{key}", note="leaving on bad terms", new_owner_slack_id="UBOB",
                     new_owner_email="bob@corp.com")
    )
    world.workflow.assess(request_id)
    assert world.workflow.approve(request_id, "UAPP1").ok
    snapshot = world.workflow.snapshot(request_id)
    assert snapshot is not None
    for step in snapshot.manual_steps_open:
        assert world.workflow.confirm_manual_step(step.id, "UAPP2").ok
    snapshot = world.workflow.snapshot(request_id)
    assert snapshot is not None and snapshot.request.completed_at == at
    world.ids[key] = request_id


@pytest.fixture
def world(database_url: str) -> Iterator[World]:
    db = Database(database_url)
    db.migrate()
    clock = Clock()
    workflow = Workflow(db, {"acme": AcmeVendor()}, Notifier(), lambda u: u in {"UAPP1", "UAPP2"}, clock=clock,
                        background=InlineExecutor())
    found = World(db, workflow, clock, {})
    offboard(found, "old_termination", "ann@corp.com", Reason.TERMINATION, years_before(NOW, 7) - timedelta(days=1))
    offboard(found, "recent_termination", "ben@corp.com", Reason.RESIGNATION, years_before(NOW, 7) + timedelta(days=1))
    offboard(found, "incident", "cat@corp.com", Reason.SECURITY_INCIDENT, years_before(NOW, 20))
    offboard(found, "old_review", "dan@corp.com", Reason.INACTIVE, years_before(NOW, 5) - timedelta(days=1))
    offboard(found, "recent_contractor", "eve@corp.com", Reason.CONTRACT_END, years_before(NOW, 3) + timedelta(days=1))
    offboard(found, "old_contractor", "fay@corp.com", Reason.CONTRACT_END, years_before(NOW, 3) - timedelta(days=1))
    clock.now = years_before(NOW, 10)
    found.ids["open"] = workflow.create_request(RequestDraft(subject_email="gus@corp.com", reason=Reason.TERMINATION,
                                                             requester_id="UREQ"))
    with db.session() as session:  # refused looks at audit data, tied to no request
        evidence.record_access(session, evidence.REFUSED, "UMAL", via="slack", asked="/offboard audit ann@corp.com",
                               at=years_before(NOW, 8))
        evidence.record_access(session, evidence.REFUSED, "UMAL", via="slack", asked="/offboard audit ben@corp.com",
                               at=years_before(NOW, 6))
    yield found
    workflow.shutdown()
    db.dispose()


PURGED_KEYS = {"old_termination", "old_review", "old_contractor"}
KEPT_KEYS = {"recent_termination", "incident", "recent_contractor", "open"}


def purge(world: World, now: datetime = NOW, policy: retention.RetentionPolicy = POLICY,
          dry_run: bool = False) -> retention.PurgeReport:
    with world.db.session() as session:
        return retention.purge(session, policy, now, dry_run=dry_run)


def entries(world: World, request_id: int | None) -> list[AuditEvent]:
    with world.db.session() as session:
        query = select(AuditEvent).order_by(col(AuditEvent.seq))
        query = query.where(col(AuditEvent.request_id).is_(None) if request_id is None
                            else AuditEvent.request_id == request_id)
        return list(session.exec(query))


def stored_text(world: World, request_id: int) -> str:
    """Everything stored about a request, as one string, to search for personal data."""
    with world.db.session() as session:
        rows: list[object] = [session.get(OffboardRequest, request_id)]
        for model in (VendorAssessment, Step, Approval):
            rows += session.exec(select(model).where(model.request_id == request_id)).all()
        rows += session.exec(select(AuditEvent).where(AuditEvent.request_id == request_id)).all()
        return json.dumps([r.model_dump(mode="json") for r in rows])  # type: ignore[attr-defined]


def test_purge_erases_exactly_what_is_past_retention(world: World) -> None:
    report = purge(world)
    assert {c.request_id for c in report.requests} == {world.ids[k] for k in PURGED_KEYS}
    assert len(report.unlinked_seqs) == 1 and report.purge_seq is not None

    for key in PURGED_KEYS:
        stored = stored_text(world, world.ids[key])
        for personal in ["@corp.com", "Person", f"HR-{key}", "bad terms", "UREQ", "UAPP1", "UAPP2", "Alice Anders",
                         "KPIs"]:
            assert personal not in stored, (key, personal)
        events = entries(world, world.ids[key])
        assert all(e.salt is None for e in events)
        # The process facts stay: what happened, in which tool, when, and which steps ran.
        assert [e.action for e in events][:2] == ["request_created", "card_posted"]
        assert any(e.action == "step_succeeded" and e.details["step"] == "verify_removed" for e in events)

    for key in KEPT_KEYS:
        request_id = world.ids[key]
        assert "@corp.com" in stored_text(world, request_id), key
        assert all(e.salt is not None for e in entries(world, request_id)), key
    with world.db.session() as session:
        assert session.get(OffboardRequest, world.ids["recent_termination"]).subject_name == "Recent_Termination Person"

    refused = entries(world, None)
    assert [e.salt is None for e in refused if e.action == evidence.REFUSED] == [True, False]


def test_the_chain_still_verifies_after_a_purge_and_still_catches_tampering(world: World) -> None:
    purge(world)
    with world.db.session() as session:
        result = audit.verify_chain(session)
    assert result.ok and result.purged_entries > 0
    purged_request = world.ids["old_termination"]
    target = next(e.seq for e in entries(world, purged_request) if e.action == "step_succeeded")
    tamper_detail(world.db, target, "step", "nothing")
    with world.db.session() as session:
        problem = audit.verify_chain(session).problem
    assert problem is not None and (problem.seq, problem.kind) == (target, "edited")


def test_the_purge_is_audited_and_runs_once(world: World) -> None:
    report = purge(world)
    with world.db.session() as session:
        event = session.exec(select(AuditEvent).where(AuditEvent.action == audit.PURGE_ACTION)).one()
        marks = session.exec(select(RetentionPurge)).all()
    assert event.seq == report.purge_seq and event.at == NOW
    assert sorted(event.details["request_ids"]) == sorted(world.ids[k] for k in PURGED_KEYS)
    assert event.details["unlinked_seqs"] == report.unlinked_seqs and event.details["count"] == report.audit_entries
    assert {m.request_id for m in marks} == {world.ids[k] for k in PURGED_KEYS}
    again = purge(world, NOW + timedelta(hours=1))
    assert again.requests == [] and again.unlinked_seqs == [] and again.purge_seq is None
    # A look at a purged request's evidence later leaves a new entry with a person in it; the next purge takes it.
    purged_request = world.ids["old_review"]
    with world.db.session() as session:
        evidence.record_access(session, evidence.VIEWED, "UAPP1", via="slack", request_id=purged_request, at=NOW)
    later = purge(world, NOW + timedelta(hours=2))
    assert [c.request_id for c in later.requests] == [purged_request] and later.audit_entries == 1
    assert all(e.salt is None for e in entries(world, purged_request))
    with world.db.session() as session:
        assert audit.verify_chain(session).ok


def test_a_dry_run_changes_nothing(world: World) -> None:
    before = {key: stored_text(world, rid) for key, rid in world.ids.items()}
    report = purge(world, dry_run=True)
    assert report.dry_run and {c.request_id for c in report.requests} == {world.ids[k] for k in PURGED_KEYS}
    assert {key: stored_text(world, rid) for key, rid in world.ids.items()} == before
    with world.db.session() as session:
        assert session.exec(select(AuditEvent).where(AuditEvent.action == audit.PURGE_ACTION)).all() == []


def test_the_boundary_is_the_end_of_the_period(world: World) -> None:
    with world.db.session() as session:
        request = session.get(OffboardRequest, world.ids["recent_termination"])
        assert request is not None and request.completed_at is not None
        expires = retention.add_years(request.completed_at, 7)
        assert retention.retained_until(request, POLICY) == expires
    only_this = retention.RetentionPolicy({"resignation": 7}, other_years=None)
    assert purge(world, expires - timedelta(microseconds=1), only_this).requests == []
    assert [c.request_id for c in purge(world, expires, only_this).requests] == [world.ids["recent_termination"]]


def test_security_incidents_and_open_requests_are_never_purged(world: World) -> None:
    far_future = NOW + timedelta(days=365 * 200)
    report = purge(world, far_future)
    purged = {c.request_id for c in report.requests}
    assert world.ids["incident"] not in purged and world.ids["open"] not in purged
    assert "cat@corp.com" in stored_text(world, world.ids["incident"])


def test_leap_days_end_on_the_28th() -> None:
    assert retention.add_years(datetime(2024, 2, 29, tzinfo=UTC), 3) == datetime(2027, 2, 28, tzinfo=UTC)


def test_evidence_and_export_after_a_purge_keep_the_facts_and_say_what_was_purged(world: World) -> None:
    purge(world)
    with world.db.session() as session:
        found = evidence.load_evidence(session, world.ids["old_termination"])
        rows = evidence.removal_rows(session, None)
    assert found is not None and found.purged
    assert (found.subject, found.ticket, found.requested_by) == ("[purged]", "[purged]", "[purged]")
    assert found.request_to_approval == timedelta(0) and found.reason_label == "Termination"
    assert {a.state for a in found.after} == {"verified"}
    row = next(r for r in rows if r.request_id == world.ids["old_termination"])
    assert (row.user, row.reason, row.approved_by) == ("[purged]", "Termination", "[purged]")
    assert row.hours_approval_to_verified_removal == 0.0
    kept = next(r for r in rows if r.request_id == world.ids["recent_termination"])
    assert kept.user == "ben@corp.com" and kept.approved_by == "UAPP1"


def test_retention_is_configurable_per_reason(monkeypatch: pytest.MonkeyPatch, world: World) -> None:
    monkeypatch.setenv("OFFBOARD_RETENTION_YEARS", "termination=10, inactive=forever")
    monkeypatch.setenv("OFFBOARD_RETENTION_OTHER_YEARS", "forever")
    settings = Settings(_env_file=None)
    policy = retention.policy_with(settings.retention_years, settings.retention_other_years)
    assert policy.years_for("termination") == 10 and policy.years_for("inactive") is None
    assert policy.years_for("contract_end") == 3  # untouched reasons keep the defaults
    report = purge(world, policy=policy)
    assert {c.request_id for c in report.requests} == {world.ids["old_contractor"]} and report.unlinked_seqs == []
    monkeypatch.delenv("OFFBOARD_RETENTION_YEARS")
    monkeypatch.delenv("OFFBOARD_RETENTION_OTHER_YEARS")
    defaults = Settings(_env_file=None)
    assert defaults.retention_years == {} and defaults.retention_other_years == retention.DEFAULT_OTHER_YEARS


@pytest.mark.parametrize("value", ["termination", "termination=0", "termination=seven", "firing=7"])
def test_bad_retention_settings_are_refused(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("OFFBOARD_RETENTION_YEARS", value)
    with pytest.raises(ValueError, match="OFFBOARD_RETENTION_YEARS"):
        Settings(_env_file=None)


def test_every_reason_has_a_default_period() -> None:
    assert set(retention.DEFAULT_RETENTION_YEARS) == {r.value for r in Reason}


def test_offboard_audit_purge_on_the_command_line(world: World, tmp_path: Path) -> None:
    env_file = tmp_path / "audit.env"
    env_file.write_text(f"DATABASE_URL={world.db.url}\n")
    runner = CliRunner()
    with time_machine.travel(NOW, tick=False):
        dry = runner.invoke(cli, ["audit", "purge", "--dry-run", "--env-file", str(env_file)], env={"COLUMNS": "200"})
        assert dry.exit_code == 0 and "Would purge" in dry.output
        assert f"#{world.ids['old_termination']}" in dry.output and f"#{world.ids['incident']}" not in dry.output
        assert "@corp.com" in stored_text(world, world.ids["old_termination"])
        done = runner.invoke(cli, ["audit", "purge", "--env-file", str(env_file)], env={"COLUMNS": "200"})
        assert done.exit_code == 0 and "Purged" in done.output and "The purge is audit entry" in done.output
    assert "@corp.com" not in stored_text(world, world.ids["old_termination"])
    verified = runner.invoke(cli, ["audit", "verify", "--env-file", str(env_file)])
    assert verified.exit_code == 0 and "The chain is intact" in verified.output
