"""Reading members exports: columns found by meaning, dates in the formats admin UIs write, clear refusals."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.members_export import ExportError, parse_login, parse_members_export


def test_columns_are_found_by_meaning_in_any_order_and_case() -> None:
    text = ("\ufeffLast Seen;Full Name;E-mail;Organization Role;Status\n"
            "2024-01-02T10:00:00Z;Amy Adams;AMY@corp.com;Admin;Active\n"
            ";Pat Pending;pat@corp.com;Member;Invited\n")
    export = parse_members_export("amplitude", "members.csv", text.encode("utf-8"))
    assert export.columns["email"] == "E-mail" and export.columns["last_login"] == "Last Seen"
    amy = export.get("amy@corp.com")
    assert amy is not None and amy.name == "Amy Adams" and amy.role_word == "Admin"
    assert amy.last_login == datetime(2024, 1, 2, 10, tzinfo=UTC)
    pat = export.get("PAT@corp.com")
    assert pat is not None and pat.pending and pat.last_login is None and pat.last_login_known


@pytest.mark.parametrize(("cell", "expected"), [
    ("2024-05-01", datetime(2024, 5, 1, tzinfo=UTC)),
    ("2024-05-01 13:45:00", datetime(2024, 5, 1, 13, 45, tzinfo=UTC)),
    ("2024-05-01T13:45:00+02:00", datetime(2024, 5, 1, 11, 45, tzinfo=UTC)),
    ("05/01/2024", datetime(2024, 5, 1, tzinfo=UTC)),  # US order when ambiguous
    ("25/01/2024", datetime(2024, 1, 25, tzinfo=UTC)),  # a day above 12 settles it
    ("05/01/2024 1:30 PM", datetime(2024, 5, 1, 13, 30, tzinfo=UTC)),
    ("May 1, 2024", datetime(2024, 5, 1, tzinfo=UTC)),
    ("1 May 2024", datetime(2024, 5, 1, tzinfo=UTC)),
    ("1714521600", datetime(2024, 5, 1, tzinfo=UTC)),
    ("1714521600000", datetime(2024, 5, 1, tzinfo=UTC)),
    ("Never", None),
    ("", None),
    ("-", None),
])
def test_last_login_cells(cell: str, expected: datetime | None) -> None:
    assert parse_login(cell) == expected


def test_an_unreadable_date_is_kept_as_unknown_not_as_never() -> None:
    export = parse_members_export("mixpanel", "m.csv", "Email,Last login\na@corp.com,sometime\nb@corp.com,Never\n")
    a, b = export.get("a@corp.com"), export.get("b@corp.com")
    assert a is not None and not a.last_login_known and export.unreadable_dates == ["sometime"]
    assert b is not None and b.last_login_known and b.last_login is None


@pytest.mark.parametrize(("text", "words"), [
    ("Name,Team\nAmy,Growth\n", "neither an email nor a last-login column"),
    ("Email,Team\namy@corp.com,Growth\n", "no last-login column"),
    ("Name,Last name,Last login\nAmy,Adams,2024-01-01\n", "no email column"),
    ("Email,Last login\nnot an address,2024-01-01\n", "lists nobody"),
])
def test_files_that_cannot_say_who_is_inactive_are_refused(text: str, words: str) -> None:
    with pytest.raises(ExportError, match=words):
        parse_members_export("amplitude", "x.csv", text)


def test_last_name_is_never_taken_for_a_last_login() -> None:
    with pytest.raises(ExportError, match="no last-login column"):
        parse_members_export("amplitude", "x.csv", "Email,Last Name\namy@corp.com,Adams\n")
