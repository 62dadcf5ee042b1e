"""Retention for the tables outside a request: sweep findings (and their runs), sweep exemptions, access reviews,
approver digest times and invitations. On a real SQLite file: each table's rows past their period lose their
personal data (or go, where the key is personal), rows inside it stay as they are, invitation audit entries are
erased with their batch, and the chain still verifies."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlmodel import col, select

from bot.runtime.config import Settings
from storage import audit, retention
from storage.db import Database
from storage.models import (
    AccessReview,
    ApproverNudge,
    AuditEvent,
    Invitation,
    InviteBatch,
    InviteSend,
    InviteStep,
    SweepExemption,
    SweepFinding,
    SweepRun,
)

NOW = datetime(2033, 6, 1, 12, 0, tzinfo=UTC)
POLICY = retention.RetentionPolicy()
OLD = NOW - timedelta(days=6 * 365)  # past every default period but the invitations' 7 years
ANCIENT = NOW - timedelta(days=8 * 365)  # past all of them
RECENT = NOW - timedelta(days=30)


def purge(db: Database, policy: retention.RetentionPolicy = POLICY) -> retention.PurgeReport:
    with db.session() as session:
        report = retention.purge(session, policy, NOW)
    with db.session() as session:
        assert audit.verify_chain(session).ok
    return report


def add_sweep(db: Database, started: datetime, email: str) -> int:
    with db.session() as session:
        run = SweepRun(trigger="UADMIN", started_at=started, finished_at=started + timedelta(minutes=5), status="done",
                       vendors={"posthog": {"label": "PostHog", "export": {"by": "UADMIN", "filename": "members.csv"}}})
        session.add(run)
        session.flush()
        assert run.id is not None
        session.add(SweepFinding(sweep_id=run.id, email=email, name="Old Timer", status="kept", acted_by="UADMIN",
                                 acted_at=started, slack_user_id="UOLD", dm_channel="DOLD", dm_ts="1.2",
                                 vendors={"posthog": {"role": "member", "last_login": None}}))
        return run.id


def test_sweep_findings_and_their_runs_past_retention_lose_their_personal_data(db: Database) -> None:
    old = add_sweep(db, OLD, "old@corp.com")
    recent = add_sweep(db, RECENT, "recent@corp.com")
    report = purge(db)
    assert report.records["sweep_finding"] == 1 and report.records["sweep_run"] == 1
    with db.session() as session:
        gone = session.exec(select(SweepFinding).where(SweepFinding.sweep_id == old)).one()
        kept = session.exec(select(SweepFinding).where(SweepFinding.sweep_id == recent)).one()
        run = session.get(SweepRun, old)
    assert (gone.email, gone.name, gone.acted_by, gone.slack_user_id, gone.dm_channel) == ("", "", "[purged]", None,
                                                                                          None)
    assert gone.status == "kept" and gone.acted_at == OLD  # the process facts stay
    assert run is not None and run.trigger == "[purged]"
    assert run.vendors["posthog"] == {"label": "PostHog", "export": None}
    assert kept.email == "recent@corp.com" and kept.acted_by == "UADMIN"
    assert purge(db).records == {}  # nothing left to erase the second time


def test_sweep_exemptions_go_once_their_period_after_the_exemption_ended(db: Database) -> None:
    with db.session() as session:
        session.add(SweepExemption(email="old@corp.com", until=OLD, by="UADMIN", why="on leave"))
        session.add(SweepExemption(email="recent@corp.com", until=RECENT, by="UADMIN", why="on leave"))
    assert purge(db).records["sweep_exemption"] == 1
    with db.session() as session:
        assert [e.email for e in session.exec(select(SweepExemption))] == ["recent@corp.com"]


def test_access_reviews_past_retention_keep_their_counts_but_not_the_names(db: Database) -> None:
    summary = {"posthog": {"vendor": "posthog", "label": "PostHog", "members": 40, "owners": ["boss@corp.com"],
                           "admins": ["ops@corp.com"], "inactive": 3}}
    with db.session() as session:
        session.add(AccessReview(trigger="UREVIEWER", period="2027 Q2", started_at=OLD, summary=summary,
                                 attested_by="UAUDIT", attested_at=OLD))
        session.add(AccessReview(trigger="schedule", period="2033 Q2", started_at=RECENT, summary=summary,
                                 attested_by="UAUDIT", attested_at=RECENT))
    assert purge(db).records["access_review"] == 1
    with db.session() as session:
        old, recent = session.exec(select(AccessReview).order_by(col(AccessReview.started_at))).all()
    assert old.attested_by == "[purged]" and old.trigger == "[purged]" and old.attested_at == OLD
    assert old.summary["posthog"] == {**summary["posthog"], "owners": [], "admins": []}  # the counts stay
    assert old.summary["retention_purged"] is True and old.period == "2027 Q2"
    assert recent.summary == summary and recent.attested_by == "UAUDIT"


def test_approver_digest_times_go_after_a_year(db: Database) -> None:
    with db.session() as session:
        session.add(ApproverNudge(approver_id="UOLD", last_digest_at=NOW - timedelta(days=400)))
        session.add(ApproverNudge(approver_id="UNEW", last_digest_at=NOW - timedelta(days=3)))
    assert purge(db).records["approver_nudge"] == 1
    with db.session() as session:
        assert [n.approver_id for n in session.exec(select(ApproverNudge))] == ["UNEW"]


def add_invitations(db: Database, updated: datetime, email: str, ends_on: date | None = None) -> int:
    """A batch of one, with its send, its step, and the audit entries onboarding writes (by batch, invitation
    and send; no request id)."""
    with db.session() as session:
        batch = InviteBatch(inviter_id="UINVITER", message="Welcome aboard, Pat!", source="csv", source_name="new.csv",
                            decided_by="UAPP1", decision_comment="ok for Pat", created_at=updated, updated_at=updated)
        session.add(batch)
        session.flush()
        assert batch.id is not None
        invitation = Invitation(batch_id=batch.id, email=email, role="member", vendors=["posthog"],
                                access_ends_on=ends_on, created_at=updated)
        session.add(invitation)
        session.flush()
        send = InviteSend(invitation_id=invitation.id or 0, batch_id=batch.id, vendor="posthog", status="accepted",
                          summary=f"invited {email}", details={"invited_by_offboard": True, "email": email},
                          updated_at=updated)
        session.add(send)
        session.flush()
        session.add(InviteStep(send_id=send.id or 0, seq=1, kind="invite", title=f"Invite {email}",
                               params={"email": email, "role": "member"}, status="done", done_by="UINVITER",
                               outcome=f"invited {email}"))
        audit.record(session, "invitation_requested", actor="UINVITER", at=updated, batch=batch.id,
                     invitation=invitation.id, email=email, role="member", vendors=["posthog"])
        audit.record(session, "invite_step_interrupted", at=updated, step="invite", send=send.id)
        audit.record(session, "invitation_accepted", at=updated, invitation=invitation.id, email=email)
        return batch.id


def test_invitations_past_retention_are_erased_with_their_audit_entries(db: Database) -> None:
    old = add_invitations(db, ANCIENT, "pat@corp.com")
    contract = add_invitations(db, ANCIENT, "sam@corp.com", ends_on=date(2030, 1, 31))  # 7 years from the end
    recent = add_invitations(db, RECENT, "kim@corp.com")
    with db.session() as session:
        audit.record(session, "audit_access_refused", actor="UOUT", at=ANCIENT, via="slack")  # no invitation's
    report = purge(db)
    assert report.invite_batches == [old] and report.records["invite_batch"] == 1
    with db.session() as session:
        batch = session.get(InviteBatch, old)
        invitation = session.exec(select(Invitation).where(Invitation.batch_id == old)).one()
        send = session.exec(select(InviteSend).where(InviteSend.batch_id == old)).one()
        step = session.exec(select(InviteStep).where(InviteStep.send_id == send.id)).one()
        entries = session.exec(select(AuditEvent).order_by(col(AuditEvent.seq))).all()
        purge_entry = entries[-1]
    assert batch is not None and (batch.inviter_id, batch.message, batch.source_name, batch.decided_by,
                                  batch.decision_comment) == ("[purged]", "", "", "[purged]", "")
    assert invitation.email == "" and invitation.role == "member" and invitation.vendors == ["posthog"]
    assert send.summary == "" and send.details["email"] == "" and send.status == "accepted"
    assert step.params["email"] == "" and step.outcome == "" and step.done_by == "[purged]" and step.status == "done"
    erased = {e.seq for e in entries if audit.is_purged(e)}
    assert erased == {1, 2, 3, 10} and purge_entry.action == audit.PURGE_ACTION  # 10: the refused look, 7 years old
    assert purge_entry.details["invite_batch_ids"] == [old] and set(purge_entry.details["unlinked_seqs"]) == erased
    by_batch = {e.details.get("batch") for e in entries if not audit.is_purged(e) and e.action.startswith("invit")}
    assert {contract, recent} <= by_batch
    with db.session() as session:
        assert session.exec(select(Invitation.email).where(Invitation.batch_id == contract)).one() == "sam@corp.com"


def test_a_recent_invitations_entries_are_not_purged_as_loose_entries(db: Database) -> None:
    """Entries without a request id are otherwise kept OFFBOARD_RETENTION_OTHER_YEARS from when they happened;
    an invitation's follow its batch, which may still be in use."""
    batch = add_invitations(db, ANCIENT, "pat@corp.com")
    with db.session() as session:
        stored = session.get(InviteBatch, batch)
        assert stored is not None
        stored.updated_at = RECENT  # touched lately (a resend, say)
        session.add(stored)
    assert purge(db).invite_batches == []
    with db.session() as session:
        assert not [e for e in session.exec(select(AuditEvent)) if audit.is_purged(e)]


@pytest.mark.parametrize(("setting", "kind", "years"), [("invitation=3", "invitation", 3),
                                                        ("access_review=forever", "access_review", None)])
def test_record_periods_are_set_like_reasons(setting: str, kind: str, years: int | None) -> None:
    settings = Settings(_env_file=None, retention_years=setting)
    policy = retention.policy_with(settings.retention_years)
    assert policy.years_for_record(kind) == years and policy.years_for("termination") == 7
