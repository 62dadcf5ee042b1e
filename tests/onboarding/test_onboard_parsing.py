"""Reading `/onboard` text and invitation CSV files."""

from __future__ import annotations

from datetime import date

import pytest

from bot.onboarding.parsing import (
    InviteRow,
    OnboardAsk,
    OnboardCsv,
    OnboardHelp,
    OnboardInvalid,
    OnboardPending,
    parse_invite_csv,
    parse_onboard,
    parse_projects,
    parse_role,
)
from vendors.base import Role

KNOWN = ("posthog", "amplitude", "mixpanel")


def test_words_alone_are_help_pending_and_csv() -> None:
    assert parse_onboard("help", KNOWN) == OnboardHelp()
    assert parse_onboard(" PENDING ", KNOWN) == OnboardPending()
    assert parse_onboard("csv", KNOWN) == OnboardCsv()
    assert parse_onboard("", KNOWN) == OnboardAsk()


def test_a_full_command_names_people_role_tools_projects_end_date_and_message() -> None:
    parsed = parse_onboard("Jane@Corp.com,bob@corp.com read-only vendors=posthog,mixpanel "
                           "projects=posthog:1001,1002;mixpanel:101 until=2025-12-31 allow-personal "
                           "message=Welcome aboard, see you Monday!", KNOWN)
    assert parsed == OnboardAsk(
        emails=("jane@corp.com", "bob@corp.com"), role=Role.READ_ONLY, vendors=("posthog", "mixpanel"),
        projects={"posthog": ("1001", "1002"), "mixpanel": ("101",)}, end_date=date(2025, 12, 31),
        allow_personal=True, message="Welcome aboard, see you Monday!")
    assert isinstance(parsed, OnboardAsk) and parsed.complete


def test_without_a_role_the_form_opens_with_what_was_given() -> None:
    parsed = parse_onboard("<@U123|jane> until=2026-01-02", KNOWN)
    assert isinstance(parsed, OnboardAsk) and not parsed.complete
    assert parsed.slack_ids == ("U123",) and parsed.end_date == date(2026, 1, 2)


@pytest.mark.parametrize(("text", "says"), [
    ("jane@corp.com boss", "I do not understand `boss`"),
    ("jane@corp.com member admin", "Give one role"),
    ("jane@corp.com member vendors=slack", "Unknown tool(s) `slack`"),
    ("jane@corp.com member until=31/12/2025", "is not a date"),
    ("jane@corp.com member projects=1001", "does not say which tool"),
    ("jane@corp.com member vendors=posthog projects=mixpanel:101", "not among the chosen tools"),
    ("jane@corp.com member colour=blue", "is not an option"),
    ("@jane member", "Pick the person from Slack"),
])
def test_mistakes_are_answered_in_words(text: str, says: str) -> None:
    parsed = parse_onboard(text, KNOWN)
    assert isinstance(parsed, OnboardInvalid) and says in parsed.message


def test_roles_read_forgivingly() -> None:
    assert [parse_role(w) for w in ("Owner", "administrator", "MEMBER", "read_only", "Read Only", "viewer")] == [
        Role.OWNER, Role.ADMIN, Role.MEMBER, Role.READ_ONLY, Role.READ_ONLY, Role.READ_ONLY]
    assert parse_role("boss") is None


def test_projects_accept_colons_equals_and_spaces() -> None:
    assert parse_projects("posthog=1001 1002; mixpanel:101|102", KNOWN) == {
        "posthog": ("1001", "1002"), "mixpanel": ("101", "102")}


def test_a_csv_becomes_rows_with_defaults_for_empty_cells() -> None:
    result = parse_invite_csv(
        "\ufeffEmail,Role,Vendors,Projects,End date\n"
        "ana@corp.com,member,,,\n"
        "ben@corp.com,admin,posthog;amplitude,posthog:1001,2099-01-31\n"
        ",,,,\n", KNOWN)
    assert result.problems == ()
    assert result.rows == (
        InviteRow("ana@corp.com", Role.MEMBER),
        InviteRow("ben@corp.com", Role.ADMIN, ("posthog", "amplitude"), {"posthog": ("1001",)}, date(2099, 1, 31)),
    )


def test_a_csv_is_refused_with_every_line_that_is_wrong() -> None:
    result = parse_invite_csv(b"email,role,projects\nnobody,member,\nann@corp.com,chief,\n"
                              b"cy@corp.com,member,amplitude\n", KNOWN)
    assert [p.split(":")[0] for p in result.problems] == ["Line 2", "Line 3", "Line 4"]
    assert "does not say which tool" in result.problems[2]


def test_a_csv_without_the_header_or_as_another_encoding_is_refused() -> None:
    assert "must name the columns" in parse_invite_csv("ana@corp.com,member\n", KNOWN).problems[0]
    assert "unknown: team" in parse_invite_csv("email,role,team\n", KNOWN).problems[0]
    assert "not UTF-8" in parse_invite_csv("email,role\nzoë@corp.com,member\n".encode("utf-16"), KNOWN).problems[0]
    assert "names nobody" in parse_invite_csv("email,role\n", KNOWN).problems[0]
