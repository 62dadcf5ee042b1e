"""Reading a vendor's members export: the CSV its admin UI downloads, for vendors whose API does not say
when people last logged in (Amplitude's and Mixpanel's SCIM) or cannot list members at all.

UNVERIFIED: no vendor documents the columns of its members export. The reader therefore looks for the
columns by meaning: an email column, a last-login column (also "Last seen", "Last active", ...), and
optionally name, role and status, in any order and case. A file without an email or a last-login column
is refused with the headers it has, so the admin can fix it rather than get a wrong judgement.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

MAX_EXPORT_BYTES = 20 * 1024 * 1024  # a members list of ~100k people; a bigger file is not a members export

EMAIL_HEADERS = ("email", "email address", "e mail", "user email", "username", "user name", "login", "user")
LOGIN_HEADERS = ("last login", "last logged in", "last login date", "last login at", "last seen", "last active",
                 "last activity", "last sign in", "last signed in", "last visit", "last accessed", "last used")
NAME_HEADERS = ("name", "full name", "display name", "member", "member name")
ROLE_HEADERS = ("role", "organization role", "org role", "permission", "permissions", "permission level",
                "access level", "access")
STATUS_HEADERS = ("status", "state", "invite status", "membership status")
NEVER_WORDS = ("", "never", "-", "—", "n/a", "na", "none", "not yet", "never logged in", "null")
PENDING_WORDS = ("pending", "invited", "invitation sent", "invite pending")

# US vendors: an ambiguous "03/04/2025" is read month first (UNVERIFIED; a day above 12 settles it).
_SLASHED = re.compile(r"^(\d{1,2})[/.](\d{1,2})[/.](\d{4})(?:[ T,]+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?)?$")
_TEXT_FORMATS = ("%b %d, %Y", "%B %d, %Y", "%d %b %Y", "%d %B %Y", "%b %d, %Y %I:%M %p", "%B %d, %Y %I:%M %p",
                 "%b %d %Y", "%Y/%m/%d", "%Y/%m/%d %H:%M", "%Y/%m/%d %H:%M:%S")


class ExportError(ValueError):
    """The file cannot be read as a members export; the message says why in words an admin can act on."""


@dataclass(frozen=True)
class ExportRow:
    email: str
    name: str = ""
    role_word: str = ""
    last_login: datetime | None = None
    last_login_known: bool = True  # False: the cell could not be read as a date
    pending: bool = False  # an invitation not accepted yet


@dataclass
class MembersExport:
    vendor: str
    filename: str
    rows: dict[str, ExportRow] = field(default_factory=dict)  # by lowercased email
    unreadable_dates: list[str] = field(default_factory=list)  # examples of cells that are not dates
    columns: dict[str, str] = field(default_factory=dict)  # meaning → the header used

    def get(self, email: str) -> ExportRow | None:
        return self.rows.get(email.strip().lower())


def _normalise(header: str) -> str:
    return " ".join(re.sub(r"[_\-()\[\]:]+", " ", header.strip().lstrip("\ufeff").lower()).split())


def _find(headers: list[str], wanted: Iterable[str], contains: str | None = None) -> str | None:
    normalised = {_normalise(h): h for h in headers}
    for name in wanted:
        if name in normalised:
            return normalised[name]
    if contains:
        return next((h for n, h in normalised.items() if contains in n), None)
    return None


def _login_like(headers: list[str]) -> str | None:
    """A header such as "Last Login (UTC)" or "Date of last activity"; never "Last name"."""
    words = ("login", "logged", "seen", "active", "activity", "sign", "visit", "access", "used")
    return next((h for h in headers if "last" in _normalise(h) and any(w in _normalise(h) for w in words)), None)


def parse_members_export(vendor: str, filename: str, content: bytes | str) -> MembersExport:
    """The export's rows by email. Raises ExportError when the file is not a usable members export."""
    text = _decode(content)
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel  # type: ignore[assignment]
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    headers = [h for h in (reader.fieldnames or []) if h]
    email_col = _find(headers, EMAIL_HEADERS, contains="email")
    login_col = _find(headers, LOGIN_HEADERS) or _login_like(headers)
    if not headers or email_col is None or login_col is None:
        missing = [n for n, c in (("email", email_col), ("last-login", login_col)) if c is None]
        lacks = "neither an email nor a last-login column" if len(missing) == 2 else f"no {missing[0]} column"
        shown = ", ".join(f"“{h}”" for h in headers[:12]) or "none"
        raise ExportError(f"{filename} has {lacks}, so it cannot say who is inactive "
                          f"(its columns: {shown}). Export the members list with each person's email and last login.")
    export = MembersExport(vendor, filename, columns={"email": email_col, "last_login": login_col})
    optional = {"name": _find(headers, NAME_HEADERS), "role": _find(headers, ROLE_HEADERS),
                "status": _find(headers, STATUS_HEADERS)}
    export.columns.update({k: v for k, v in optional.items() if v})
    for raw in reader:
        row = _row(raw, export.columns)
        if row is None:
            continue
        if not row.last_login_known and len(export.unreadable_dates) < 3:
            export.unreadable_dates.append(str(raw.get(login_col) or "").strip())
        export.rows[row.email] = row
    if not export.rows:
        raise ExportError(f"{filename} lists nobody: no row has an email address in “{email_col}”.")
    return export


def _decode(content: bytes | str) -> str:
    if isinstance(content, str):
        return content
    if len(content) > MAX_EXPORT_BYTES:
        raise ExportError(f"The file is {len(content) // (1024 * 1024)} MB; a members export is far smaller.")
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ExportError("The file is not text (CSV).")


def _row(raw: dict[str, str | None], columns: dict[str, str]) -> ExportRow | None:
    def cell(meaning: str) -> str:
        header = columns.get(meaning)
        return str(raw.get(header) or "").strip() if header else ""

    email = cell("email").lower()
    if "@" not in email:
        return None
    login_text = cell("last_login")
    try:
        last_login = parse_login(login_text)
        known = True
    except ValueError:
        last_login, known = None, False
    status = cell("status").lower()
    return ExportRow(email=email, name=cell("name"), role_word=cell("role"), last_login=last_login,
                     last_login_known=known, pending=status in PENDING_WORDS)


def parse_login(text: str) -> datetime | None:
    """A last-login cell as an aware UTC time; None for "never". Raises ValueError when it is no date."""
    value = text.strip()
    if value.lower() in NEVER_WORDS:
        return None
    if re.fullmatch(r"\d{10}(\.\d+)?", value):  # a Unix timestamp
        return datetime.fromtimestamp(float(value), UTC)
    if re.fullmatch(r"\d{13}", value):  # in milliseconds
        return datetime.fromtimestamp(int(value) / 1000, UTC)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00").replace(" UTC", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    except ValueError:
        pass
    slashed = _SLASHED.match(value)
    if slashed:
        return _from_slashed(slashed)
    for fmt in _TEXT_FORMATS:
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise ValueError(f"{text!r} is not a date")


def _from_slashed(match: re.Match[str]) -> datetime:
    first, second, year = int(match.group(1)), int(match.group(2)), int(match.group(3))
    month, day = (second, first) if first > 12 else (first, second)
    hour, minute, sec = int(match.group(4) or 0), int(match.group(5) or 0), int(match.group(6) or 0)
    meridiem = (match.group(7) or "").lower()
    if meridiem == "pm" and hour < 12:
        hour += 12
    if meridiem == "am" and hour == 12:
        hour = 0
    return datetime(year, month, day, hour, minute, sec, tzinfo=UTC)
