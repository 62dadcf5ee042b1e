"""Reading a vendor's members export: the CSV its admin UI downloads, for vendors whose API does not say
when people last logged in (Amplitude's and Mixpanel's SCIM) or cannot list members at all.

UNVERIFIED: no vendor documents the columns of its members export. The reader therefore looks for the
columns by meaning: an email column, a last-login column (also "Last seen", "Last active", ...), and
optionally name, role and status, in any order and case. A file without an email or a last-login column
is refused with the headers it has, so the admin can fix it rather than get a wrong judgement.

Memory stays flat however long the export is: the file is read one CSV row at a time (through an 8 KiB
decoding buffer) and each row goes to a private SQLite file keyed by email, whose page cache is capped;
the sweep then looks each member up there. An upload arriving in chunks is written to a temporary file
first, because the encoding is only known once the whole file has decoded (a cp1252 file is read again).
The SQLite file holds the export's emails and names: it is created readable by this user only, and
deleted when the export is closed or garbage-collected.
"""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import sqlite3
import tempfile
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Self

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


class MembersExport:
    """An export's rows by lowercased email, in a private SQLite file rather than in memory. Iterating
    gives the rows in the file's order; an email listed twice keeps its first place and its last row
    (what a dict would do). Close it, or use it as a context manager, to delete the file at once."""

    def __init__(self, vendor: str, filename: str, columns: dict[str, str]) -> None:
        self.vendor = vendor
        self.filename = filename
        self.columns = columns  # meaning → the header used
        self.unreadable_dates: list[str] = []  # examples of cells that are not dates
        self._count = 0
        self._pending: list[tuple[str, str, str, str | None, int, int]] = []
        directory = tempfile.mkdtemp(prefix="offboard-export-")  # mode 0700: the rows are personal data
        self._db = sqlite3.connect(os.path.join(directory, "rows.sqlite"), check_same_thread=False)
        # check_same_thread is off only so that the finalizer may close it from whichever thread collects it.
        self._closer = weakref.finalize(self, _discard, self._db, directory)
        for pragma in _PRAGMAS:
            self._db.execute(pragma)
        self._db.execute("CREATE TABLE rows (email TEXT NOT NULL UNIQUE, name TEXT NOT NULL, role_word TEXT NOT NULL,"
                         " last_login TEXT, known INTEGER NOT NULL, pending INTEGER NOT NULL)")

    def get(self, email: str) -> ExportRow | None:
        found = self._db.execute(f"SELECT {_COLUMNS} FROM rows WHERE email = ?", (email.strip().lower(),)).fetchone()
        return _from_db(found) if found else None

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[ExportRow]:
        # The cursor fetches as it goes: iterating never loads the table.
        return (_from_db(found) for found in self._db.execute(f"SELECT {_COLUMNS} FROM rows ORDER BY rowid"))

    def close(self) -> None:
        self._closer()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _add(self, row: ExportRow) -> None:
        last_login = row.last_login.isoformat() if row.last_login else None
        self._pending.append((row.email, row.name, row.role_word, last_login, int(row.last_login_known),
                              int(row.pending)))
        if len(self._pending) >= _BATCH:
            self._flush()

    def _flush(self) -> None:
        with self._db:  # one transaction per batch: a commit per row would be ~100x slower
            self._db.executemany(
                "INSERT INTO rows VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (email) DO UPDATE SET name = excluded.name,"
                " role_word = excluded.role_word, last_login = excluded.last_login, known = excluded.known,"
                " pending = excluded.pending", self._pending)
        self._pending.clear()

    def _finish(self) -> None:
        self._flush()
        self._count = self._db.execute("SELECT count(*) FROM rows").fetchone()[0]


_BATCH = 1000
_COLUMNS = "email, name, role_word, last_login, known, pending"
_PRAGMAS = (
    "PRAGMA journal_mode = OFF",  # a scratch file: a crash loses nothing worth recovering
    "PRAGMA synchronous = OFF",
    "PRAGMA cache_size = -2048",  # at most 2 MiB of pages in memory, whatever the file's size
    "PRAGMA temp_store = FILE",
)


def _from_db(found: tuple[str, str, str, str | None, int, int]) -> ExportRow:
    email, name, role_word, last_login, known, pending = found
    return ExportRow(email, name, role_word, datetime.fromisoformat(last_login) if last_login else None,
                     bool(known), bool(pending))


def _discard(db: sqlite3.Connection, directory: str) -> None:
    db.close()
    shutil.rmtree(directory, ignore_errors=True)


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
    if isinstance(content, str):
        return _parse(vendor, filename, io.StringIO(content, newline=""))
    return parse_members_export_file(vendor, filename, io.BytesIO(content))


def parse_members_export_file(vendor: str, filename: str, file: IO[bytes]) -> MembersExport:
    """As `parse_members_export`, from a binary file read row by row (it stays open: the caller's to
    close). A pipe, which cannot be read twice, is copied to a temporary file first."""
    if not file.seekable():
        return parse_members_export_chunks(vendor, filename, iter(lambda: file.read(64 * 1024), b""))
    size = file.seek(0, os.SEEK_END)
    if size > MAX_EXPORT_BYTES:
        raise _too_large(size)
    for encoding in ("utf-8-sig", "cp1252"):
        file.seek(0)
        text = io.TextIOWrapper(file, encoding=encoding, newline="")
        try:
            return _parse(vendor, filename, text)
        except UnicodeDecodeError:
            continue  # not this encoding: read the file again with the next
        finally:
            text.detach()  # leaves `file` open
    raise ExportError("The file is not text (CSV).")


def parse_members_export_chunks(vendor: str, filename: str, chunks: Iterable[bytes]) -> MembersExport:
    """As `parse_members_export`, from a download arriving in chunks (`httpx.Response.iter_bytes()`): they
    are spooled to a temporary file, refused as soon as they pass MAX_EXPORT_BYTES."""
    with tempfile.TemporaryFile() as spool:  # on disk from the first byte: no in-memory copy to outgrow
        size = 0
        for chunk in chunks:
            size += len(chunk)
            if size > MAX_EXPORT_BYTES:
                raise _too_large(size)
            spool.write(chunk)
        return parse_members_export_file(vendor, filename, spool)


def _too_large(size: int) -> ExportError:
    return ExportError(f"The file is {size // (1024 * 1024)} MB or more; a members export is far smaller.")


def _parse(vendor: str, filename: str, text: IO[str]) -> MembersExport:
    try:
        dialect = csv.Sniffer().sniff(text.read(4096), delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel  # type: ignore[assignment]
    text.seek(0)
    reader = csv.DictReader(text, dialect=dialect)
    try:
        headers = [h for h in (reader.fieldnames or []) if h]
    except csv.Error as exc:
        raise _not_csv(filename, exc) from None
    email_col = _find(headers, EMAIL_HEADERS, contains="email")
    login_col = _find(headers, LOGIN_HEADERS) or _login_like(headers)
    if not headers or email_col is None or login_col is None:
        missing = [n for n, c in (("email", email_col), ("last-login", login_col)) if c is None]
        lacks = "neither an email nor a last-login column" if len(missing) == 2 else f"no {missing[0]} column"
        shown = ", ".join(f"“{h}”" for h in headers[:12]) or "none"
        raise ExportError(f"{filename} has {lacks}, so it cannot say who is inactive "
                          f"(its columns: {shown}). Export the members list with each person's email and last login.")
    columns = {"email": email_col, "last_login": login_col}
    optional = {"name": _find(headers, NAME_HEADERS), "role": _find(headers, ROLE_HEADERS),
                "status": _find(headers, STATUS_HEADERS)}
    columns.update({k: v for k, v in optional.items() if v})
    export = MembersExport(vendor, filename, columns)
    try:
        for raw in reader:
            row = _row(raw, columns)
            if row is None:
                continue
            if not row.last_login_known and len(export.unreadable_dates) < 3:
                export.unreadable_dates.append(str(raw.get(login_col) or "").strip())
            export._add(row)
        export._finish()
    except csv.Error as exc:
        export.close()
        raise _not_csv(filename, exc) from None
    except BaseException:
        export.close()
        raise
    if not len(export):
        export.close()
        raise ExportError(f"{filename} lists nobody: no row has an email address in “{email_col}”.")
    return export


def _not_csv(filename: str, exc: csv.Error) -> ExportError:
    return ExportError(f"{filename} could not be read as CSV ({exc}). Export the members list again as CSV.")


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
