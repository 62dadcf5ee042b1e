"""Reading `/onboard` text and invitation CSV files. Pure: no Slack, no database.

`/onboard jane@corp.com read-only vendors=posthog,amplitude projects=posthog:1001,1002 until=2025-12-31
allow-personal message=Welcome aboard!` names everything; without a role the form opens, prefilled.
A CSV has the header `email,role,vendors,projects,end_date` (only email and role are required).
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from email_validator import EmailNotValidError, validate_email

from vendors.base import Role
from vendors.roles import normalize

MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
MESSAGE_OPTION = re.compile(r"(?:^|\s)(?:message|msg)=", re.IGNORECASE)
OPTION = re.compile(r"^(?:--)?(?P<name>[a-z_-]+)=(?P<value>.*)$", re.IGNORECASE)
ALLOW_PERSONAL_WORDS = ("allow-personal", "--allow-personal", "allow_personal", "override")
MAX_CSV_ROWS = 500
MAX_CSV_BYTES = 512 * 1024
CSV_COLUMNS = ("email", "role", "vendors", "projects", "end_date")

ROLE_WORDS: dict[str, Role] = {
    "owner": Role.OWNER,
    "admin": Role.ADMIN,
    "administrator": Role.ADMIN,
    "member": Role.MEMBER,
    "read only": Role.READ_ONLY,
    "readonly": Role.READ_ONLY,
    "viewer": Role.READ_ONLY,
}
USAGE = ("Try `/onboard jane@corp.com read-only`, `/onboard jane@corp.com` for the form, `/onboard pending`, "
         "`/onboard csv` or `/onboard help`.")


@dataclass(frozen=True)
class InviteRow:
    """One person to invite, as a command, the form or a CSV row gave it."""

    email: str
    role: Role
    vendors: tuple[str, ...] = ()  # empty: every configured tool
    projects: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # tool → project ids
    end_date: date | None = None


@dataclass(frozen=True)
class OnboardHelp:
    pass


@dataclass(frozen=True)
class OnboardPending:
    pass


@dataclass(frozen=True)
class OnboardCsv:
    """`/onboard csv`: the form with a file input."""


@dataclass(frozen=True)
class OnboardInvalid:
    message: str


@dataclass(frozen=True)
class OnboardAsk:
    """People to invite. Without a role (or without anyone) the form opens with what was given."""

    emails: tuple[str, ...] = ()
    slack_ids: tuple[str, ...] = ()
    role: Role | None = None
    vendors: tuple[str, ...] | None = None
    projects: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    end_date: date | None = None
    allow_personal: bool = False
    message: str = ""

    @property
    def complete(self) -> bool:
        return self.role is not None and bool(self.emails or self.slack_ids)


OnboardParsed = OnboardHelp | OnboardPending | OnboardCsv | OnboardInvalid | OnboardAsk


def parse_role(word: str) -> Role | None:
    return ROLE_WORDS.get(normalize(word))


def normalise_email(text: str) -> str | None:
    """The address in canonical (lower-case) form, or None when it is not a valid address."""
    text = text.strip().removeprefix("<").removesuffix(">")
    if text.startswith("mailto:"):
        text = text.removeprefix("mailto:").split("|")[0]
    try:
        return validate_email(text, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return None


def parse_end_date(text: str) -> date | OnboardInvalid:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return OnboardInvalid(f"`{text}` is not a date: write it as YYYY-MM-DD, e.g. 2025-12-31.")


def parse_vendor_list(text: str, known: tuple[str, ...]) -> tuple[str, ...] | OnboardInvalid:
    chosen = tuple(dict.fromkeys(v.lower() for v in re.split(r"[\s,;|]+", text.strip()) if v))
    unknown = [v for v in chosen if v not in known]
    if not chosen or unknown:
        listed = ", ".join(known) or "none configured"
        return OnboardInvalid(f"Unknown tool(s) `{', '.join(unknown) or '(empty)'}`. Configured: {listed}.")
    return chosen


def parse_projects(text: str, known: tuple[str, ...]) -> dict[str, tuple[str, ...]] | OnboardInvalid:
    """`posthog:1001,1002;mixpanel:101` (or `posthog=1001 1002`) → {"posthog": ("1001", "1002"), …}."""
    projects: dict[str, tuple[str, ...]] = {}
    for group in (g.strip() for g in text.split(";")):
        if not group:
            continue
        split = re.search(r"[:=]", group)
        vendor = group[: split.start()].strip().lower() if split else ""
        ids = group[split.end():] if split else ""
        if vendor not in known:
            return OnboardInvalid(f"`{group}` does not say which tool: write projects as `posthog:1001,1002;"
                                  f"mixpanel:101` (tools: {', '.join(known) or 'none configured'}).")
        found = tuple(dict.fromkeys(p for p in re.split(r"[\s,|]+", ids.strip()) if p))
        if not found:
            return OnboardInvalid(f"`{group}` names no project ids.")
        projects[vendor] = projects.get(vendor, ()) + tuple(p for p in found if p not in projects.get(vendor, ()))
    return projects


def parse_onboard(text: str, known_vendors: tuple[str, ...] = ()) -> OnboardParsed:
    """The words after `/onboard`."""
    text = text.strip()
    message = ""
    found = MESSAGE_OPTION.search(text)
    if found:  # everything after message= is the message, spaces and all
        text, message = text[: found.start()], _unquote(text[found.end():])
    tokens = text.split()
    if not tokens and not message:
        return OnboardAsk()
    if len(tokens) == 1 and not message:
        word = tokens[0].lower()
        if word in ("help", "-h", "--help", "?"):
            return OnboardHelp()
        if word == "pending":
            return OnboardPending()
        if word in ("csv", "upload", "bulk"):
            return OnboardCsv()
    return _parse_ask(tokens, message, known_vendors)


def _parse_ask(tokens: list[str], message: str, known: tuple[str, ...]) -> OnboardAsk | OnboardInvalid:
    emails: list[str] = []
    slack_ids: list[str] = []
    roles: list[Role] = []
    vendors: tuple[str, ...] | None = None
    projects: dict[str, tuple[str, ...]] = {}
    end_date: date | None = None
    allow_personal = False
    for token in tokens:
        parsed = _read_token(token, known)
        match parsed:
            case OnboardInvalid():
                return parsed
            case ("email", list() as found):
                emails += [str(e) for e in found]
            case ("slack_id", str() as slack_id):
                slack_ids.append(slack_id)
            case ("role", Role() as role):
                roles.append(role)
            case ("vendors", tuple() as chosen):
                vendors = tuple(str(v) for v in chosen)
            case ("projects", dict() as named):
                projects = {str(v): tuple(ids) for v, ids in named.items()}
            case ("end_date", date() as day):
                end_date = day
            case ("allow_personal", _):
                allow_personal = True
    if len(set(roles)) > 1:
        return OnboardInvalid(f"Give one role: {', '.join(r.value for r in roles)} were all named.")
    stray = [v for v in projects if vendors is not None and v not in vendors]
    if stray:
        return OnboardInvalid(f"Projects are named for {', '.join(stray)}, which is not among the chosen tools.")
    return OnboardAsk(emails=tuple(dict.fromkeys(emails)), slack_ids=tuple(dict.fromkeys(slack_ids)),
                      role=roles[0] if roles else None, vendors=vendors, projects=projects, end_date=end_date,
                      allow_personal=allow_personal, message=message)


def _read_token(token: str, known: tuple[str, ...]) -> tuple[str, object] | OnboardInvalid:
    mention = MENTION.match(token)
    if mention:
        return "slack_id", mention.group(1)
    if token.lower() in ALLOW_PERSONAL_WORDS:
        return "allow_personal", True
    role = parse_role(token)
    if role is not None:
        return "role", role
    option = OPTION.match(token)
    if option:
        return _read_option(option["name"].lower().replace("-", "_"), option["value"], known)
    if token.startswith("@"):
        return OnboardInvalid(f"I could not tell who `{token}` is. Pick the person from Slack's @-autocomplete, "
                              "or give their email.")
    emails = [normalise_email(part) for part in token.split(",") if part.strip()]
    if not emails or any(e is None for e in emails):
        return OnboardInvalid(f"I do not understand `{token}`: it is neither an email address, a role (owner, admin, "
                              f"member, read-only) nor an option. {USAGE}")
    return "email", emails


def _read_option(name: str, value: str, known: tuple[str, ...]) -> tuple[str, object] | OnboardInvalid:
    if name in ("vendors", "vendor", "tools", "tool"):
        vendors = parse_vendor_list(value, known)
        return vendors if isinstance(vendors, OnboardInvalid) else ("vendors", vendors)
    if name in ("projects", "project"):
        projects = parse_projects(value, known)
        return projects if isinstance(projects, OnboardInvalid) else ("projects", projects)
    if name in ("until", "ends", "end", "end_date", "access_ends"):
        end = parse_end_date(value)
        return end if isinstance(end, OnboardInvalid) else ("end_date", end)
    if name == "role":
        role = parse_role(value)
        if role is None:
            return OnboardInvalid(f"`{value}` is not a role: use owner, admin, member or read-only.")
        return "role", role
    return OnboardInvalid(f"`{name}=` is not an option of /onboard: use vendors=, projects=, until= or message=.")


def _unquote(text: str) -> str:
    text = text.strip()
    for left, right in (('"', '"'), ("“", "”"), ("'", "'")):
        if len(text) >= 2 and text.startswith(left) and text.endswith(right):
            return text[1:-1].strip()
    return text


# -- CSV -----------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CsvResult:
    rows: tuple[InviteRow, ...]
    problems: tuple[str, ...]  # each names its line; any problem refuses the whole file


def parse_invite_csv(content: bytes | str, known_vendors: tuple[str, ...]) -> CsvResult:
    """`email,role,vendors,projects,end_date`: vendors separated by `;` (or spaces), projects as
    `posthog:1001,1002;mixpanel:101`, end_date as YYYY-MM-DD. Empty vendors: every configured tool."""
    if isinstance(content, bytes):
        if len(content) > MAX_CSV_BYTES:
            return CsvResult((), (f"The file is larger than {MAX_CSV_BYTES // 1024} KB; split it.",))
        try:
            content = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            return CsvResult((), ("The file is not UTF-8 text: save it as CSV UTF-8 and upload it again.",))
    reader = csv.DictReader(io.StringIO(content.lstrip("\ufeff")))
    header = [normalize(h).replace(" ", "_") for h in reader.fieldnames or []]
    missing = [c for c in ("email", "role") if c not in header]
    unknown = [h for h in header if h and h not in CSV_COLUMNS]
    if missing or unknown:
        problem = f"The first line must name the columns {','.join(CSV_COLUMNS)}"
        problem += f" (missing: {', '.join(missing)})" if missing else f" (unknown: {', '.join(unknown)})"
        return CsvResult((), (problem + ".",))
    reader.fieldnames = header
    rows: list[InviteRow] = []
    problems: list[str] = []
    for line, raw in enumerate(reader, start=2):
        if not any((v or "").strip() for v in raw.values() if isinstance(v, str)):
            continue
        if len(rows) + len(problems) >= MAX_CSV_ROWS:
            problems.append(f"More than {MAX_CSV_ROWS} people: split the file.")
            break
        row = _csv_row(raw, known_vendors)
        if isinstance(row, OnboardInvalid):
            problems.append(f"Line {line}: {row.message}")
        else:
            rows.append(row)
    if not rows and not problems:
        problems.append("The file names nobody to invite.")
    return CsvResult(tuple(rows), tuple(problems))


def _csv_row(raw: Mapping[str, object], known: tuple[str, ...]) -> InviteRow | OnboardInvalid:
    def cell(name: str) -> str:
        value = raw.get(name)
        return value.strip() if isinstance(value, str) else ""

    email = normalise_email(cell("email"))
    if email is None:
        return OnboardInvalid(f"`{cell('email') or '(empty)'}` is not an email address.")
    role = parse_role(cell("role"))
    if role is None:
        return OnboardInvalid(f"`{cell('role') or '(empty)'}` is not a role: use owner, admin, member or read-only.")
    vendors: tuple[str, ...] = ()
    if cell("vendors"):
        chosen = parse_vendor_list(cell("vendors"), known)
        if isinstance(chosen, OnboardInvalid):
            return chosen
        vendors = chosen
    projects: dict[str, tuple[str, ...]] = {}
    if cell("projects"):
        parsed = parse_projects(cell("projects"), known)
        if isinstance(parsed, OnboardInvalid):
            return parsed
        projects = parsed
        stray = [v for v in projects if vendors and v not in vendors]
        if stray:
            return OnboardInvalid(f"projects are named for {', '.join(stray)}, which is not in its vendors.")
    end_date = None
    if cell("end_date"):
        parsed_end = parse_end_date(cell("end_date"))
        if isinstance(parsed_end, OnboardInvalid):
            return parsed_end
        end_date = parsed_end
    return InviteRow(email, role, vendors, projects, end_date)
