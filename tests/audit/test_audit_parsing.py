"""Reading `/offboard audit …`: every form of it is an ask for audit data (so admins only), and bad
words get a clear message instead of a guess."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.offboarding.parsing import AuditExport, AuditShow, AuditUsage, Invalid, Target, parse_command
from bot.runtime.config import Settings


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("audit alice@corp.com", AuditShow(Target(email="alice@corp.com"))),
        ("AUDIT Alice@Corp.com", AuditShow(Target(email="alice@corp.com"))),
        ("audit <@UALICE|alice>", AuditShow(Target(slack_id="UALICE"))),
        ("audit export", AuditExport()),
        ("audit export since=2024-01-31", AuditExport(datetime(2024, 1, 31, tzinfo=UTC))),
        ("audit export 2024-01-31", AuditExport(datetime(2024, 1, 31, tzinfo=UTC))),
        ("audit", AuditUsage()),
        ("audit help", AuditUsage()),
    ],
)
def test_audit_commands(text: str, expected: object) -> None:
    assert parse_command(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("audit export since=2024-02-30", "“2024-02-30” is not a date: write it as YYYY-MM-DD"),
        ("audit export since=last-week", "is not a date"),
        ("audit export 2024-01-01 2024-02-01", "at most one start date"),
        ("audit alice", "not a valid email address"),
        ("audit alice@corp.com bob@corp.com", "Say whose evidence you want"),
    ],
)
def test_bad_audit_commands_say_what_is_wrong(text: str, message: str) -> None:
    parsed = parse_command(text)
    assert isinstance(parsed, AuditUsage) and message in parsed.message


def test_audit_is_not_mistaken_for_a_person_to_offboard() -> None:
    assert not isinstance(parse_command("audit"), Invalid)
    assert parse_command("auditor@corp.com").__class__.__name__ == "Start"


def test_audit_admins_are_read_as_a_comma_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OFFBOARD_AUDIT_ADMINS", "UAUDIT1, UAUDIT2,")
    assert Settings(_env_file=None).audit_admins == ["UAUDIT1", "UAUDIT2"]
    monkeypatch.delenv("OFFBOARD_AUDIT_ADMINS")
    assert Settings(_env_file=None).audit_admins == []  # then whoever may approve sees audit data
