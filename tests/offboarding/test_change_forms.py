"""Reading what people type: `/offboard` for emergencies and bulk, the request form's
choice of what to do, and the bulk form's list or CSV rows."""

from __future__ import annotations

from typing import Any

import pytest

from bot.offboarding.parsing import Bulk, EmergencyStart, Invalid, Start, Target, parse_command
from bot.offboarding.slack.change_forms import BulkForm, ModeChoice, parse_people, read_bulk_form, read_mode_choice
from bot.offboarding.values import Reason
from storage.models import RequestMode

VENDORS = ("posthog", "mixpanel")


def test_emergency_names_one_person_and_keeps_the_rest_as_a_note() -> None:
    parsed = parse_command("<@UBOB|bob> emergency phished via a fake login page", VENDORS)
    assert parsed == EmergencyStart(Target(slack_id="UBOB"), reason=Reason.SECURITY_INCIDENT,
                                    note="phished via a fake login page")
    assert isinstance(parsed, Start)  # still a start: everything that answers a start answers it
    assert isinstance(parse_command("a@corp.com b@corp.com emergency", VENDORS), Invalid)
    # "emergency" later in a note is a note, not an emergency
    assert parse_command("bob@corp.com left in an emergency", VENDORS) == Start(
        Target(email="bob@corp.com"), note="left in an emergency")


def test_several_people_are_a_bulk_request_each_once() -> None:
    parsed = parse_command("a@corp.com <@UBOB|bob> A@corp.com contract end vendors=posthog", VENDORS)
    assert parsed == Bulk(Target(email="a@corp.com"), reason=Reason.CONTRACT_END, vendors=("posthog",),
                          others=(Target(slack_id="UBOB"),))
    assert parse_command("bulk", VENDORS) == Bulk(Target())
    assert parse_command("bulk termination", VENDORS) == Bulk(Target(), reason=Reason.TERMINATION)
    bad = parse_command("a@corp.com b@corp", VENDORS)
    assert isinstance(bad, Invalid) and "b@corp" in bad.message


def values(**fields: Any) -> dict[str, Any]:
    state: dict[str, Any] = {}
    for block, value in fields.items():
        if block in ("reason", "mode"):
            state[block] = {block: {"selected_option": {"value": value} if value else None}}
        elif block == "csv":
            state[block] = {block: {"files": value}}
        elif block == "vendors":
            state[block] = {block: {"selected_options": [{"value": v} for v in value]}}
        else:
            state[block] = {block: {"value": value}}
    return state


def test_the_request_form_choice_of_what_to_do() -> None:
    assert read_mode_choice({}) == ModeChoice(RequestMode.FULL, {})
    assert read_mode_choice(values(mode="read_only")) == ModeChoice(RequestMode.READ_ONLY, {})
    assert read_mode_choice(values(mode="projects", projects="Finance, Web")) == ModeChoice(
        RequestMode.PROJECTS, {"projects": ["Finance", "Web"]})
    assert "projects" in read_mode_choice(values(mode="projects", projects=" "))


def test_the_bulk_form_needs_people_and_a_reason() -> None:
    errors = read_bulk_form(values(reason=None, people="", csv=[]))
    assert isinstance(errors, dict) and set(errors) == {"reason", "people"}
    form = read_bulk_form(values(reason="resignation", people="a@corp.com", csv=[], mode="read_only",
                                 vendors=["posthog"], ticket=" HR-9 "))
    assert isinstance(form, BulkForm)
    assert (form.reason, form.mode, form.vendors, form.ticket, form.file) == (
        Reason.RESIGNATION, RequestMode.READ_ONLY, ("posthog",), "HR-9", None)
    with_file = read_bulk_form(values(reason="resignation", csv=[{"name": "x.csv"}]))
    assert isinstance(with_file, BulkForm) and with_file.file == {"name": "x.csv"}


def test_people_as_a_list_of_emails_each_once() -> None:
    rows, problems = parse_people("Alice@Corp.com\n\nbob@corp.com carol@corp.com\nalice@corp.com\n")
    assert problems == [] and [r.email for r in rows] == ["alice@corp.com", "bob@corp.com", "carol@corp.com"]


def test_people_as_csv_rows_with_or_without_a_header() -> None:
    text = ('ticket,Email,new owner,reason\r\nHR-1,dave@corp.com,bob@corp.com,termination\r\n'
            '"HR-2, urgent",grace@corp.com,,\r\n')
    rows, problems = parse_people(text, "leavers.csv")
    assert problems == []
    assert [(r.email, r.reason, r.ticket, r.new_owner_email) for r in rows] == [
        ("dave@corp.com", Reason.TERMINATION, "HR-1", "bob@corp.com"),
        ("grace@corp.com", None, "HR-2, urgent", None),
    ]
    rows, _ = parse_people("frank@corp.com, contract end, HR-3, dave@corp.com")
    assert (rows[0].reason, rows[0].ticket, rows[0].new_owner_email) == (Reason.CONTRACT_END, "HR-3", "dave@corp.com")


@pytest.mark.parametrize(("text", "problem"), [
    ("nope\n", "line 1: `nope` is not a valid email address"),
    ("a@corp.com\nb@corp.com,vacation\n", "line 2: unknown reason `vacation`"),
    ("a@corp.com,,,not-an-email\n", "the new owner `not-an-email` is not a valid email address"),
    ("a@corp.com,,,A@corp.com\n", "the new owner cannot be the person who is leaving"),
])
def test_bad_rows_are_named_by_line(text: str, problem: str) -> None:
    _, problems = parse_people(text, "leavers.csv")
    assert len(problems) == 1 and problems[0].startswith("leavers.csv, line") and problem in problems[0]
