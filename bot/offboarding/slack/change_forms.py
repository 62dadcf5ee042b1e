"""Reading the request form's choice of what to do, and the bulk form and its people (a list of
emails, or CSV rows: email, reason, ticket, new owner). Pure, so every rule is easy to test."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from bot.offboarding.modes import parse_project_list
from bot.offboarding.parsing import normalise_email, parse_reason
from bot.offboarding.values import Reason
from storage.models import RequestMode

MAX_PEOPLE = 200  # one batch; more is several batches (the card lists everyone, the detail file too)
MAX_FILE_BYTES = 1_000_000
COLUMNS = ("email", "reason", "ticket", "new owner")
_HEADER_WORDS = {"email": "email", "e-mail": "email", "person": "email", "reason": "reason", "ticket": "ticket",
                 "new owner": "new owner", "new_owner": "new owner", "newowner": "new owner", "owner": "new owner",
                 "new owner email": "new owner"}


@dataclass(frozen=True)
class BulkRow:
    line: int
    email: str
    reason: Reason | None = None
    ticket: str = ""
    new_owner_email: str | None = None


@dataclass(frozen=True)
class BulkForm:
    reason: Reason
    mode: RequestMode
    projects: tuple[str, ...]
    ticket: str
    note: str
    vendors: tuple[str, ...] | None
    pasted: str
    file: dict[str, Any] | None  # the uploaded CSV as Slack describes it (name, url_private_download, size)


FormErrors = dict[str, str]


def _value(values: dict[str, Any], block: str) -> dict[str, Any]:
    return values.get(block, {}).get(block, {}) or {}


@dataclass(frozen=True)
class ModeChoice:
    mode: RequestMode
    params: dict[str, Any]


def read_mode_choice(values: dict[str, Any]) -> ModeChoice | FormErrors:
    """The request form's "What to do" (full removal when the form does not offer it)."""
    mode_value = (_value(values, "mode").get("selected_option") or {}).get("value") or RequestMode.FULL.value
    mode = RequestMode(mode_value) if mode_value in {m.value for m in RequestMode} else RequestMode.FULL
    projects = parse_project_list(_value(values, "projects").get("value") or "")
    if mode == RequestMode.PROJECTS and not projects:
        return {"projects": "Name the projects to remove them from, e.g. Finance, Staging."}
    return ModeChoice(mode, {"projects": projects} if mode == RequestMode.PROJECTS else {})


def read_bulk_form(values: dict[str, Any]) -> BulkForm | FormErrors:
    errors: FormErrors = {}
    selected = (_value(values, "reason").get("selected_option") or {}).get("value")
    reason = Reason(selected) if selected in {r.value for r in Reason} else None
    if reason is None:
        errors["reason"] = "Choose the reason for people whose row gives none."
    mode_value = (_value(values, "mode").get("selected_option") or {}).get("value") or RequestMode.FULL.value
    mode = RequestMode(mode_value) if mode_value in {m.value for m in RequestMode} else RequestMode.FULL
    projects = tuple(parse_project_list(_value(values, "projects").get("value") or ""))
    if mode == RequestMode.PROJECTS and not projects:
        errors["projects"] = "Name the projects to remove them from, e.g. Finance, Staging."
    files = _value(values, "csv").get("files") or []
    pasted = (_value(values, "people").get("value") or "").strip()
    if not pasted and not files:
        errors["people"] = "List the people (one email per line), or attach a CSV file."
    vendor_options = _value(values, "vendors").get("selected_options")
    vendors = tuple(o["value"] for o in vendor_options) if vendor_options is not None else None
    if vendors is not None and not vendors:
        errors["vendors"] = "Choose at least one tool."
    if errors:
        return errors
    assert reason is not None
    return BulkForm(reason, mode, projects, (_value(values, "ticket").get("value") or "").strip()[:200],
                    (_value(values, "note").get("value") or "").strip()[:2000], vendors, pasted,
                    files[0] if files else None)


def parse_people(text: str, source: str = "the list") -> tuple[list[BulkRow], list[str]]:
    """Rows from a list of emails or CSV text (columns email, reason, ticket, new owner; a header row
    naming them in any order is understood). Returns the rows (each person once) and what is wrong,
    naming the line."""
    rows: list[BulkRow] = []
    problems: list[str] = []
    columns: tuple[str, ...] = COLUMNS
    seen: set[str] = set()
    for number, cells in enumerate(csv.reader(io.StringIO(text.replace("\r\n", "\n"))), start=1):
        cells = [c.strip() for c in cells]
        if not any(cells):
            continue
        header = [_HEADER_WORDS.get(c.lower()) for c in cells]
        if not rows and not problems and "email" in header and all(header):  # a header, in any column order
            columns = tuple(h for h in header if h)
            continue
        if len(cells) == 1 and len(cells[0].split()) > 1:  # "a@corp.com b@corp.com" on one line
            found = [_row(number, [word], COLUMNS, source) for word in cells[0].split()]
        else:
            found = [_row(number, cells, columns, source)]
        for row in found:
            if isinstance(row, str):
                problems.append(row)
            elif row.email not in seen:
                seen.add(row.email)
                rows.append(row)
    return rows, problems


def _row(number: int, cells: list[str], columns: tuple[str, ...], source: str) -> BulkRow | str:
    named = dict(zip(columns, cells, strict=False))
    where = f"{source}, line {number}"
    email = normalise_email(named.get("email", ""))
    if email is None:
        return f"{where}: `{named.get('email', '')}` is not a valid email address."
    reason = None
    if named.get("reason"):
        reason = parse_reason(named["reason"])
        if reason is None:
            return f"{where}: unknown reason `{named['reason']}` (use {', '.join(r.value for r in Reason)})."
    owner = None
    if named.get("new owner"):
        owner = normalise_email(named["new owner"])
        if owner is None:
            return f"{where}: the new owner `{named['new owner']}` is not a valid email address."
        if owner == email:
            return f"{where}: the new owner cannot be the person who is leaving."
    return BulkRow(number, email, reason, named.get("ticket", "")[:200], owner)
