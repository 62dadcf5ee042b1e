"""Evidence and the removal log, from requests the real workflow carried out on a SQLite file at
set times (scripted vendors stand in for connectors, which are tested against their sandboxes)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import col, select
from typer.testing import CliRunner

from bot.audit import evidence
from bot.audit.slack import blocks as audit_blocks
from bot.cli.main import app as cli
from bot.offboarding.values import CardLocation, NotificationKind, Reason, RequestDraft, RequestSnapshot
from bot.offboarding.workflow import Workflow
from storage import audit
from storage.db import Database
from storage.models import AuditEvent, RequestStatus
from vendors.base import (
    Assessment,
    AssessmentStatus,
    Asset,
    Capability,
    Member,
    PlannedStep,
    ProjectAccess,
    Role,
    StepOutcome,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
APPROVERS = {"UAPP1", "UAPP2"}


class InlineExecutor(Executor):
    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        future.set_result(fn(*args, **kwargs))
        return future


class AcmeVendor:
    """Automated: hands over two dashboards, removes, verifies; one manual follow-up."""

    name, label = "acme", "Acme Analytics"
    capabilities = frozenset({Capability.FIND_MEMBER, Capability.HANDOVER_ASSETS, Capability.REMOVE_MEMBER,
                              Capability.VERIFY_REMOVAL})

    def assess(self, email: str) -> Assessment:
        member = Member(email=email, member_id="m-1", name="Alice Anders", role=Role.ADMIN, vendor_role="owner",
                        projects=(ProjectAccess("p1", "Production", "admin"),),
                        last_login=T0 - timedelta(days=3))
        owned = tuple(Asset("dashboard", str(i), f"KPIs {i}", "p1", "Production") for i in (1, 2))
        return Assessment(self.name, AssessmentStatus.MEMBER, member=member, assets=owned, email=email)

    def plan_removal(self, assessment: Assessment, new_owner_email: str | None) -> list[PlannedStep]:
        email = assessment.email
        return [
            PlannedStep("handover_assets", "Hand over assets", {"email": email, "new_owner_email": new_owner_email}),
            PlannedStep("remove_member", "Remove from organization", {"email": email}),
            PlannedStep("verify_removed", "Check they are gone", {"email": email}),
            PlannedStep("manual", "Revoke their API keys", manual=True, key="acme_keys",
                        instructions="Settings → Keys"),
        ]

    def execute(self, step: PlannedStep) -> StepOutcome:
        email, to = step.params["email"], step.params.get("new_owner_email")
        if step.kind == "handover_assets":
            assets = [{"kind": "dashboard", "asset_id": str(i), "name": f"KPIs {i}", "project_id": "p1",
                       "project_name": "Production", "action": "recorded new owner", "new_owner_email": to}
                      for i in (1, 2)]
            return StepOutcome(f"2 assets handed over to {to}", {"new_owner_email": to, "from_email": email,
                                                                 "assets": assets})
        if step.kind == "remove_member":
            return StepOutcome(f"Removed {email} from Acme", {"already_removed": False, "user_id": "m-1"})
        return StepOutcome(f"Checked: {email} is no longer in Acme", {"verified_at": "now"})


class HandVendor:
    """Worked by hand only: a person removes and checks."""

    name, label = "hand", "Hand Tool"
    capabilities: frozenset[Capability] = frozenset()

    def assess(self, email: str) -> Assessment:
        return Assessment(self.name, AssessmentStatus.UNKNOWN, error="no API: a person checks", email=email)

    def plan_removal(self, assessment: Assessment, new_owner_email: str | None) -> list[PlannedStep]:
        return [
            PlannedStep("manual", "Remove them in Hand Tool", manual=True, key="hand_remove_member",
                        instructions="…"),
            PlannedStep("manual", "Check they are gone from Hand Tool", manual=True, key="hand_verify",
                        instructions="…"),
        ]

    def execute(self, step: PlannedStep) -> StepOutcome:
        raise AssertionError("manual steps are never executed")


class Notifier:
    def __init__(self) -> None:
        self.posted = 0

    def show_card(self, snapshot: RequestSnapshot) -> CardLocation | None:
        if snapshot.request.card_ts is None:
            self.posted += 1
            return CardLocation("CAPPROVALS", f"1700000000.{self.posted:06d}")
        return None

    def deliver(self, kind: NotificationKind, snapshot: RequestSnapshot) -> str:
        return f"{kind} sent"


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Seeded:
    db: Database
    workflow: Workflow
    clock: Clock
    alice: int  # completed within the export period, with assets and manual checks
    carol: int  # rejected
    dave: int  # completed before the export period
    erin: int  # still waiting for approval


def _create(workflow: Workflow, email: str, reason: Reason, **extra: Any) -> int:
    request_id = workflow.create_request(RequestDraft(subject_email=email, reason=reason, requester_id="UREQ",
                                                      **extra))
    workflow.assess(request_id)
    return request_id


def _tick_all(workflow: Workflow, request_id: int, clock: Clock, ticks: list[tuple[str, str, timedelta]]) -> None:
    snapshot = workflow.snapshot(request_id)
    assert snapshot is not None
    steps = {s.title: s.id for s in snapshot.steps if s.manual}
    for title, user, after in ticks:
        clock.now = T0 + after
        assert workflow.confirm_manual_step(steps[title], user).ok


@pytest.fixture
def seeded(database_url: str) -> Iterator[Seeded]:
    yield from _seeded(database_url)


@pytest.fixture
def seeded_file(tmp_path: Path) -> Iterator[Seeded]:
    """The same evidence in a SQLite file, whichever database the run uses: for what only a file has."""
    yield from _seeded(f"sqlite:///{tmp_path / 'live.db'}")


def _seeded(database_url: str) -> Iterator[Seeded]:
    db = Database(database_url)
    db.migrate()
    clock = Clock()
    workflow = Workflow(db, {"acme": AcmeVendor(), "hand": HandVendor()}, Notifier(), lambda u: u in APPROVERS,
                        clock=clock, background=InlineExecutor())

    clock.now = T0 - timedelta(days=30)
    dave = _create(workflow, "dave@corp.com", Reason.TERMINATION, vendors=("acme",), ticket="HR-1")
    clock.now = T0 - timedelta(days=30) + timedelta(hours=1)
    assert workflow.approve(dave, "UAPP2").ok
    _tick_all(workflow, dave, clock, [("Revoke their API keys", "UAPP2", timedelta(days=-30, hours=2))])

    clock.now = T0
    alice = _create(workflow, "Alice@corp.com", Reason.RESIGNATION, ticket="HR-7", new_owner_slack_id="UBOB",
                    new_owner_email="bob@corp.com", subject_name="Alice Anders")
    clock.now = T0 + timedelta(hours=2)
    assert workflow.approve(alice, "UAPP1").ok
    _tick_all(workflow, alice, clock, [
        ("Revoke their API keys", "UAPP2", timedelta(hours=4)),
        ("Remove them in Hand Tool", "UAPP1", timedelta(hours=5)),
        ("Check they are gone from Hand Tool", "UAPP2", timedelta(hours=5, minutes=30)),
    ])

    clock.now = T0 + timedelta(hours=6)
    carol = _create(workflow, "carol@corp.com", Reason.TERMINATION)
    clock.now = T0 + timedelta(days=1)
    assert workflow.reject(carol, "UAPP2", "wrong person").ok
    clock.now = T0 + timedelta(days=2)
    erin = _create(workflow, "erin@corp.com", Reason.CONTRACT_END)

    for request_id, status in [(alice, RequestStatus.COMPLETED), (dave, RequestStatus.COMPLETED),
                               (carol, RequestStatus.REJECTED), (erin, RequestStatus.PENDING_APPROVAL)]:
        snapshot = workflow.snapshot(request_id)
        assert snapshot is not None and snapshot.status == status
    yield Seeded(db, workflow, clock, alice, carol, dave, erin)
    workflow.shutdown()
    db.dispose()


def load(seeded: Seeded, request_id: int) -> evidence.Evidence:
    with seeded.db.session() as session:
        found = evidence.load_evidence(session, request_id)
    assert found is not None
    return found


def events_of(seeded: Seeded, request_id: int) -> list[AuditEvent]:
    with seeded.db.session() as session:
        return audit.events_for(session, request_id)


# -- one request's evidence ---------------------------------------------------------------------------
def test_evidence_of_a_completed_request(seeded: Seeded) -> None:
    found = load(seeded, seeded.alice)
    assert (found.subject, found.subject_name, found.reason_label, found.ticket) == (
        "alice@corp.com", "Alice Anders", "Resignation", "HR-7")
    assert (found.requested_by, found.requested_at, found.new_owner) == ("UREQ", T0, "bob@corp.com")
    assert found.decisions == (evidence.Decision("approved", "UAPP1", T0 + timedelta(hours=2)),)

    before = {b.vendor: b for b in found.before}
    assert before["acme"].status == "member" and before["acme"].role == "admin"
    assert before["acme"].vendor_role == "owner" and before["acme"].projects == ("Production (admin)",)
    assert before["acme"].last_login == str((T0 - timedelta(days=3)).date())
    assert before["acme"].assets == (("dashboard", 2),)
    assert before["hand"].status == "unknown" and before["hand"].problem == "no API: a person checks"

    after = {a.vendor: a for a in found.after}
    assert (after["acme"].state, after["acme"].at) == ("verified", T0 + timedelta(hours=2))
    assert after["acme"].detail == "Checked: alice@corp.com is no longer in Acme"
    assert (after["hand"].state, after["hand"].at, after["hand"].by) == (
        "confirmed_by_hand", T0 + timedelta(hours=5, minutes=30), ("UAPP1", "UAPP2"))

    assert [(m.name, m.from_email, m.to_email, m.project) for m in found.assets_moved] == [
        ("KPIs 1", "alice@corp.com", "bob@corp.com", "Production"),
        ("KPIs 2", "alice@corp.com", "bob@corp.com", "Production"),
    ]
    assert [(t.vendor, t.step, t.by, t.at - T0) for t in found.manual_ticks] == [
        ("acme", "Revoke their API keys", "UAPP2", timedelta(hours=4)),
        ("hand", "Remove them in Hand Tool", "UAPP1", timedelta(hours=5)),
        ("hand", "Check they are gone from Hand Tool", "UAPP2", timedelta(hours=5, minutes=30)),
    ]
    assert [(n.kind, n.delivered) for n in found.notifications] == [
        ("dm_requester", True), ("notify_stakeholders", True), ("dm_new_owner", True)]
    assert found.request_to_approval == timedelta(hours=2)
    assert found.approval_to_removal == timedelta(hours=3, minutes=30)
    assert found.removed_by == ("offboard (acme, API)", "UAPP1 (hand, by hand)", "UAPP2 (hand, by hand)")
    # The timeline is the request's audit entries, in chain order.
    assert [t.seq for t in found.timeline] == [e.seq for e in events_of(seeded, seeded.alice)]
    assert found.timeline[0].text == "asked to offboard alice@corp.com (Resignation), ticket HR-7 from acme, hand"


def test_evidence_of_a_rejected_and_of_an_open_request(seeded: Seeded) -> None:
    rejected = load(seeded, seeded.carol)
    assert rejected.decisions == (evidence.Decision("rejected", "UAPP2", T0 + timedelta(days=1), "wrong person"),)
    assert rejected.request_to_approval is None and rejected.approval_to_removal is None
    waiting = load(seeded, seeded.erin)
    assert waiting.decisions == () and {a.state for a in waiting.after} == {"pending"}
    assert waiting.removal_verified_at is None


def test_a_request_is_found_by_number_or_email(seeded: Seeded) -> None:
    with seeded.db.session() as session:
        assert evidence.request_ids_for(session, f"#{seeded.alice}") == [seeded.alice]
        assert evidence.request_ids_for(session, "ALICE@corp.com") == [seeded.alice]
        assert evidence.request_ids_for(session, "nobody@corp.com") == []
        with pytest.raises(ValueError, match="neither a request number nor an email"):
            evidence.request_ids_for(session, "alice")


# -- the removal log ----------------------------------------------------------------------------------
EXPECTED_ALICE = {
    "user": "alice@corp.com",
    "user_name": "Alice Anders",
    "removed_at_utc": "2026-03-02T14:30:00Z",
    "removed_by": "offboard (acme, API); UAPP1 (hand, by hand); UAPP2 (hand, by hand)",
    "reason": "Resignation",
    "approved_by": "UAPP1",
    "approved_at_utc": "2026-03-02T11:00:00Z",
    "assets_transferred": [
        "acme dashboard “KPIs 1” (Production) from alice@corp.com to bob@corp.com",
        "acme dashboard “KPIs 2” (Production) from alice@corp.com to bob@corp.com",
    ],
    "verification": [
        "acme: verified gone through the API at 2026-03-02T11:00:00Z",
        "hand: confirmed by hand by UAPP1, UAPP2 at 2026-03-02T14:30:00Z",
    ],
    "ticket": "HR-7",
    "requested_by": "UREQ",
    "requested_at_utc": "2026-03-02T09:00:00Z",
    "scheduled_for_utc": "",
    "hours_request_to_approval": 2.0,
    "hours_approval_to_verified_removal": 3.5,
    "vendors": ["acme", "hand"],
    "removal_due_utc": "2026-03-03T09:00:00Z",  # 1 business day after the request (Monday 2 March)
    "deadline": "met",
    "started_by": "",
}


def test_the_export_holds_exactly_the_removals_of_the_period(seeded: Seeded) -> None:
    with seeded.db.session() as session:
        rows = evidence.removal_rows(session, evidence.parse_since("2026-03-01"))
        everything = evidence.removal_rows(session, None)
    assert [r.request_id for r in rows] == [seeded.alice]
    assert {k: v for k, v in json.loads(json.dumps(rows[0].__dict__)).items() if k != "request_id"} == EXPECTED_ALICE
    assert [r.request_id for r in everything] == [seeded.dave, seeded.alice]  # never the rejected or open ones
    dave = everything[0]
    assert (dave.user, dave.approved_by, dave.ticket, dave.hours_request_to_approval) == (
        "dave@corp.com", "UAPP2", "HR-1", 1.0)
    assert dave.assets_transferred != [] and dave.verification[0].startswith("acme: verified gone")


def test_the_export_boundary_is_the_verified_removal_time(seeded: Seeded) -> None:
    removed = T0 + timedelta(hours=5, minutes=30)
    with seeded.db.session() as session:
        assert [r.request_id for r in evidence.removal_rows(session, removed)] == [seeded.alice]
        assert evidence.removal_rows(session, removed + timedelta(microseconds=1)) == []


def test_csv_and_json_renderings(seeded: Seeded) -> None:
    with seeded.db.session() as session:
        rows = evidence.removal_rows(session, evidence.parse_since("2026-03-01"))
        chain = audit.verify_chain(session)
    parsed = list(csv.DictReader(io.StringIO(evidence.render_csv(rows))))
    assert len(parsed) == 1 and list(parsed[0]) == evidence.CSV_COLUMNS
    assert parsed[0]["user"] == "alice@corp.com" and parsed[0]["hours_approval_to_verified_removal"] == "3.5"
    assert parsed[0]["assets_transferred"] == "; ".join(EXPECTED_ALICE["assets_transferred"])
    document = json.loads(evidence.render_json(rows, since=evidence.parse_since("2026-03-01"),
                                               generated_at=T0 + timedelta(days=3), chain=chain))
    assert document["since_utc"] == "2026-03-01T00:00:00Z" and document["audit_chain"]["verified"] is True
    assert [r["request_id"] for r in document["removals"]] == [seeded.alice]


def test_csv_cells_that_look_like_formulas_are_defused() -> None:
    row = evidence.RemovalRow(1, "=HYPERLINK(\"x\")", "", "", "", "", "", "", [], [], "+1-555", "", "", "", None,
                              None, [])
    parsed = next(csv.DictReader(io.StringIO(evidence.render_csv([row]))))
    assert parsed["user"] == "'=HYPERLINK(\"x\")" and parsed["ticket"] == "'+1-555"


@pytest.mark.parametrize("bad", ["2026-02-30", "yesterday", "03/02/2026", ""])
def test_a_bad_since_date_is_refused_with_a_clear_message(bad: str) -> None:
    with pytest.raises(ValueError, match="is not a date: write it as YYYY-MM-DD"):
        evidence.parse_since(bad)


def test_since_reads_dates_and_times_as_utc() -> None:
    assert evidence.parse_since("2026-03-01") == datetime(2026, 3, 1, tzinfo=UTC)
    assert evidence.parse_since("2026-03-01T10:30") == datetime(2026, 3, 1, 10, 30, tzinfo=UTC)
    assert evidence.parse_since("2026-03-01T10:30+01:00") == datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="use csv or json"):
        evidence.parse_format("xlsx")


# -- Slack rendering ----------------------------------------------------------------------------------
def test_the_slack_evidence_message_fits_and_says_what_an_auditor_needs(seeded: Seeded) -> None:
    found = [load(seeded, seeded.alice)] * 7  # more than fit: the message says so
    message = audit_blocks.evidence_message("alice@corp.com", found, {"acme": "Acme Analytics"})
    assert len(message.blocks) <= 50
    text = json.dumps(message.blocks, ensure_ascii=False)
    for fact in [f"Request #{seeded.alice}", "alice@corp.com (Alice Anders)", "Resignation", "HR-7",
                 "Approved by <@UAPP1>", "2 h 00 min", "3 h 30 min", "*Acme Analytics*",
                 "owner, projects Production (admin), last login 2026-02-27, 2 dashboards",
                 "verified gone through the API",
                 "confirmed by hand by <@UAPP1>, <@UAPP2>", "KPIs 1", "bob@corp.com", "2 older request(s) not shown"]:
        assert fact in text, fact
    empty = audit_blocks.evidence_message("nobody@corp.com", [])
    assert "No offboarding evidence for nobody@corp.com" in empty.text


# -- the command line ---------------------------------------------------------------------------------
def run_cli(seeded: Seeded, tmp_path: Path, *args: str) -> Any:
    env_file = tmp_path / "audit.env"
    env_file.write_text(f"DATABASE_URL={seeded.db.url}\n")
    return CliRunner().invoke(cli, ["audit", *args, "--env-file", str(env_file)], env={"COLUMNS": "250"})


def audit_actions(seeded: Seeded) -> list[str]:
    with seeded.db.session() as session:
        return list(session.exec(select(AuditEvent.action).order_by(col(AuditEvent.seq))))


def test_offboard_audit_show_prints_the_evidence_and_logs_the_look(seeded: Seeded, tmp_path: Path) -> None:
    result = run_cli(seeded, tmp_path, "show", "alice@corp.com")
    assert result.exit_code == 0, result.output
    for fact in [f"Request #{seeded.alice}", "Resignation", "HR-7", "2.00 h", "3.50 h", "KPIs 2", "bob@corp.com",
                 "confirmed by hand", "Revoke their API keys", "dm_new_owner", "asked to offboard"]:
        assert fact in result.output, fact
    assert audit_actions(seeded)[-1] == evidence.VIEWED
    missing = run_cli(seeded, tmp_path, "show", "alice")
    assert missing.exit_code == 2 and "neither a request number nor an email" in missing.output


def test_offboard_audit_export_writes_csv_or_json(seeded: Seeded, tmp_path: Path) -> None:
    out = tmp_path / "removals.csv"
    result = run_cli(seeded, tmp_path, "export", "--since", "2026-03-01", "--format", "csv", "--output", str(out))
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [(r["request_id"], r["user"], r["approved_by"]) for r in rows] == [(str(seeded.alice), "alice@corp.com",
                                                                              "UAPP1")]
    printed = run_cli(seeded, tmp_path, "export", "--since", "2026-01-01", "--format", "json")
    assert printed.exit_code == 0
    document = json.loads(printed.stdout)
    assert [r["request_id"] for r in document["removals"]] == [seeded.dave, seeded.alice]
    assert audit_actions(seeded)[-2:] == [evidence.EXPORTED, evidence.EXPORTED]


@pytest.mark.parametrize(("args", "message"), [
    (["--since", "2026-13-01"], "is not a date"),
    (["--since", "2026-03-01", "--format", "xml"], "is not an export format: use csv or json"),
])
def test_offboard_audit_export_refuses_bad_input_and_does_nothing_else(
    seeded: Seeded, tmp_path: Path, args: list[str], message: str
) -> None:
    before = audit_actions(seeded)
    out = tmp_path / "removals.out"
    result = run_cli(seeded, tmp_path, "export", *args, "--output", str(out))
    assert result.exit_code == 2 and message in result.output
    assert result.stdout == "" and not out.exists() and audit_actions(seeded) == before


# -- reading a read-only copy ----------------------------------------------------------------------------
def read_only_copy(seeded: Seeded, tmp_path: Path) -> Path:
    """The seeded database copied the way an auditor gets it: one file, no write permission, in a folder
    without write permission either."""
    seeded.workflow.shutdown()
    seeded.db.dispose()  # the last connection's close folds the WAL into the file
    folder = tmp_path / "copy"
    folder.mkdir()
    copy = folder / "offboard.db"
    copy.write_bytes(Path(seeded.db.url.removeprefix("sqlite:///")).read_bytes())
    copy.chmod(0o444)
    folder.chmod(0o555)
    return copy


def run_on(copy: Path, tmp_path: Path, *args: str) -> Any:
    env_file = tmp_path / "copy.env"
    env_file.write_text(f"DATABASE_URL=sqlite:///{copy}\n")
    return CliRunner().invoke(cli, ["audit", *args, "--env-file", str(env_file)], env={"COLUMNS": "250"})


def test_verify_show_and_export_read_a_read_only_copy_and_write_nothing(seeded_file: Seeded, tmp_path: Path) -> None:
    copy = read_only_copy(seeded_file, tmp_path)
    before = (copy.read_bytes(), copy.stat().st_mtime_ns, sorted(p.name for p in copy.parent.iterdir()))
    try:
        verified = run_on(copy, tmp_path, "verify")
        assert verified.exit_code == 0 and "The chain is intact" in verified.output, verified.output
        shown = run_on(copy, tmp_path, "show", "alice@corp.com")
        assert shown.exit_code == 0 and "HR-7" in shown.output, shown.output
        assert "This look is not in the audit log: the database is a read-only copy." in shown.output
        out = tmp_path / "removals.csv"
        exported = run_on(copy, tmp_path, "export", "--since", "2026-03-01", "--output", str(out))
        assert exported.exit_code == 0, exported.output
        assert "alice@corp.com" in out.read_text()
        # Root writes whatever the mode bits say: what shows nothing was written is the file itself.
        assert (copy.read_bytes(), copy.stat().st_mtime_ns, sorted(p.name for p in copy.parent.iterdir())) == before
    finally:
        copy.parent.chmod(0o755)


def test_a_copy_whose_schema_is_behind_is_named_in_one_line(seeded_file: Seeded, tmp_path: Path) -> None:
    with seeded_file.db.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    copy = read_only_copy(seeded_file, tmp_path)
    try:
        result = run_on(copy, tmp_path, "verify")
        assert result.exit_code == 2
        assert "is at migration 0001; this offboard reads migration" in result.output
        assert "Traceback" not in result.output and len(result.output.strip().splitlines()) <= 2
    finally:
        copy.parent.chmod(0o755)


def test_verify_names_an_entry_whose_details_are_not_json(seeded_file: Seeded, tmp_path: Path) -> None:
    with seeded_file.db.engine.begin() as connection:
        connection.execute(text("UPDATE audit_event SET details = '{not json' WHERE seq = 3"))
    result = run_cli(seeded_file, tmp_path, "verify")
    assert result.exit_code == 1, result.output
    assert "broken at entry 3" in result.output and "not JSON" in result.output
