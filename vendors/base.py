"""What every vendor connector offers the workflow, and the values they exchange.

A connector does three things: *assess* a person (membership, role, projects, last login, owned
assets), *plan* the removal as a list of steps, and *execute* one automated step at a time. Steps a
vendor's API cannot do are planned as manual steps with exact UI instructions; the workflow waits
for a person to confirm those in Slack. Every value here is plain data so it can be stored as JSON.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

log = logging.getLogger(__name__)


class Role(StrEnum):
    """The one role vocabulary shown to people, whatever the vendor calls it."""

    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    READ_ONLY = "read-only"


class Capability(StrEnum):
    """What a connector can do through its vendor's API. A connector declares the set it has
    (`Vendor.capabilities`); for everything else the plan holds a manual step (`Vendor.manual_step`)."""

    FIND_MEMBER = "find_member"  # look a person up by email
    LIST_MEMBERS = "list_members"  # stream every member, page by page
    READ_ROLE = "read_role"
    READ_LAST_LOGIN = "read_last_login"
    READ_PROJECTS = "read_projects"
    LIST_ASSETS = "list_assets"  # the dashboards, flags, ... a person created
    HANDOVER_ASSETS = "handover_assets"
    CHANGE_ROLE = "change_role"
    REMOVE_FROM_PROJECT = "remove_from_project"  # the person stays in the organization
    REMOVE_MEMBER = "remove_member"  # from the whole organization
    VERIFY_REMOVAL = "verify_removal"  # a fresh lookup proves they are gone
    INVITE = "invite"
    CANCEL_INVITE = "cancel_invite"


class StepKind(StrEnum):
    """The automated step kinds every connector understands (a connector may add its own, such as
    PostHog's "demote_owner"). Runners act only when needed and check the result by a fresh lookup,
    so running one twice never acts twice.

    Params: every kind takes "email"; CHANGE_ROLE also "role" (a `Role` value); REMOVE_FROM_PROJECT
    "project_id"; INVITE "role", "projects" (project ids, may be empty) and optionally "message".
    """

    HANDOVER_ASSETS = "handover_assets"
    CHANGE_ROLE = "change_role"
    REMOVE_FROM_PROJECT = "remove_from_project"
    REMOVE_MEMBER = "remove_member"
    VERIFY_REMOVED = "verify_removed"
    INVITE = "invite"
    CANCEL_INVITE = "cancel_invite"
    MANUAL = "manual"


@dataclass(frozen=True)
class ProjectAccess:
    project_id: str
    project_name: str
    level: str  # the vendor's own word for the access ("member", "admin", ...)


@dataclass(frozen=True)
class Member:
    email: str
    member_id: str  # the id the vendor's member endpoints take (PostHog: the user uuid)
    name: str
    role: Role
    vendor_role: str  # the vendor's own name for the role, shown beside ours
    projects: tuple[ProjectAccess, ...] = ()
    last_login: datetime | None = None
    joined_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # vendor-specific ids, JSON-safe values only
    last_login_known: bool = True  # False where the vendor's API does not say (None then means unknown, not never)


# The `Member.extra["status"]` of an invitee a member list shows beside its members (Kissmetrics' does): not a
# member yet, so never counted, judged or accepted as one.
PENDING_STATUS = "pending"


def is_pending_invitation(member: Member) -> bool:
    return str(member.extra.get("status", "")).lower() == PENDING_STATUS


@dataclass(frozen=True)
class Asset:
    kind: str  # "dashboard", "insight", "feature_flag", "cohort", "experiment", "notebook"
    asset_id: str
    name: str
    project_id: str
    project_name: str = ""
    url: str | None = None
    restricted: bool = False  # only its creator/collaborators may edit it today


class AssessmentStatus(StrEnum):
    MEMBER = "member"
    NOT_MEMBER = "not_member"
    UNKNOWN = "unknown"  # the vendor could not be asked (down, bad credentials, ...)


@dataclass(frozen=True)
class Assessment:
    vendor: str
    status: AssessmentStatus
    member: Member | None = None
    assets: tuple[Asset, ...] = ()
    warnings: tuple[str, ...] = ()  # things a person should know before approving
    error: str | None = None  # why the status is UNKNOWN
    email: str = ""  # whom it is about: an UNKNOWN assessment has no member, yet its plan must name them

    def to_json(self) -> dict[str, Any]:
        return to_jsonable(asdict(self))


@dataclass(frozen=True)
class PlannedStep:
    """One thing to do for one vendor. Automated steps carry what `execute` needs in `params`."""

    kind: str  # e.g. "handover_assets", "demote_owner", "remove_member", "verify_removed", "manual"
    title: str  # short, for the card: "Remove from organization"
    params: dict[str, Any] = field(default_factory=dict)
    manual: bool = False
    instructions: str = ""  # for manual steps: exactly what to do, where in the vendor's UI
    key: str = ""  # distinguishes two steps of the same kind for one vendor (e.g. two manual steps)


# A manual step's params may list, under this key, credentials the person could use or see that must be
# rotated; the workflow records them in the audit log as flagged for rotation.
CREDENTIALS_PARAM = "credentials_to_rotate"


@dataclass(frozen=True)
class StepOutcome:
    """What an automated step did, in words for the card and in data for the audit log."""

    summary: str
    details: dict[str, Any] = field(default_factory=dict)


class VendorError(Exception):
    """A vendor call failed. `message` is safe to show to people: it never contains credentials."""

    retryable = False

    def __init__(self, message: str, *, status: int | None = None, vendor: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.vendor = vendor


class AuthError(VendorError):
    """401/403: the credentials are wrong, expired, or lack a scope."""


class NotFoundError(VendorError):
    """404: the object is not there (for a removal this usually means it is already gone)."""


class ConflictError(VendorError):
    """The vendor refuses because of its rules, e.g. removing an organization's last owner."""


class RateLimitedError(VendorError):
    """429 that outlasted our retries."""

    retryable = True

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class UnavailableError(VendorError):
    """5xx, timeouts, refused or dropped connections that outlasted our retries."""

    retryable = True


class UnsupportedError(VendorError):
    """The connector was asked for something it declared it cannot do (see `Vendor.capabilities`)."""


@runtime_checkable
class Vendor(Protocol):
    """A connector. Implementations are thread-safe: the workflow calls them from worker threads."""

    name: str  # stable key stored in the database: "posthog"
    label: str  # for people: "PostHog"
    capabilities: frozenset[Capability]  # what its API lets it do; the rest is planned as manual steps

    def assess(self, email: str) -> Assessment:
        """Membership, role, projects, last login and owned assets. Never raises: failures → UNKNOWN."""
        ...

    def iter_members(self) -> Iterator[Member]:
        """Every member, fetched page by page as the iterator is consumed (never the whole list in
        memory), with role, projects and last login where the API has them.
        Raises UnsupportedError without `Capability.LIST_MEMBERS`, VendorError when the vendor fails."""
        ...

    def manual_step(self, capability: Capability, email: str, details: Mapping[str, Any]) -> PlannedStep:
        """The step a person does in the vendor's UI instead of `capability` (exact click path, the
        person and the details, e.g. {"role": "read-only"} or {"project_id": "2", "project_name": "Web"}).
        Defined for every capability, including those the connector has."""
        ...

    def plan_removal(self, assessment: Assessment, new_owner_email: str | None) -> list[PlannedStep]:
        """The steps that remove this person, in order, automated and manual."""
        ...

    def execute(self, step: PlannedStep) -> StepOutcome:
        """Carry out one automated step. Must be safe to repeat: re-running a step that already took
        effect (a crash after the vendor acted) reports success without acting twice.
        Raises VendorError subclasses."""
        ...


@runtime_checkable
class Checkable(Protocol):
    """A connector that can say, read-only and against the live service, what a deployment still needs
    (`offboard check`): credentials that fail, scopes or settings that are missing. One line per problem,
    each saying what to do; an empty list when all is well. Never changes anything at the vendor."""

    def check(self) -> list[str]:
        ...


def deployment_problems(vendor: Vendor) -> list[str]:
    """What `offboard check` reports for one configured connector; one that cannot check itself says so
    rather than pass silently."""
    if isinstance(vendor, Checkable):
        try:
            return vendor.check()
        except VendorError as exc:
            return [f"{vendor.label}: {exc.message}"]
    return [f"{vendor.label}: offboard cannot check this tool's credentials by itself; check them by hand"]


def to_jsonable(value: Any) -> Any:
    """Datetimes become ISO text and tuples lists, so the value can be stored as JSON."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    return value


def assessment_from_json(data: dict[str, Any]) -> Assessment:
    """The inverse of `Assessment.to_json`, for assessments read back from the database."""
    member_data = data.get("member")
    member = None
    if member_data:
        member = Member(
            email=member_data["email"],
            member_id=member_data["member_id"],
            name=member_data["name"],
            role=Role(member_data["role"]),
            vendor_role=member_data["vendor_role"],
            projects=tuple(ProjectAccess(**p) for p in member_data.get("projects", ())),
            last_login=_parse_dt(member_data.get("last_login")),
            joined_at=_parse_dt(member_data.get("joined_at")),
            extra=member_data.get("extra", {}),
            last_login_known=member_data.get("last_login_known", True),
        )
    return Assessment(
        vendor=data["vendor"],
        status=AssessmentStatus(data["status"]),
        member=member,
        assets=tuple(Asset(**a) for a in data.get("assets", ())),
        warnings=tuple(data.get("warnings", ())),
        error=data.get("error"),
        email=data.get("email", ""),
    )


def _parse_dt(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def assess_safely(
    vendor: str,
    label: str,
    email: str,
    assess: Callable[[str], Assessment],
    explain: Callable[[VendorError], VendorError] = lambda exc: exc,
) -> Assessment:
    """Run a connector's assessment so that it never raises, as the protocol promises: a vendor
    error becomes UNKNOWN with the vendor's message (through `explain`, which may add how to fix
    it), and anything unexpected is logged and becomes UNKNOWN too, so one vendor's malformed
    answer never sinks the other vendors' assessments."""
    email = email.strip()
    try:
        return assess(email)
    except VendorError as exc:
        return Assessment(vendor, AssessmentStatus.UNKNOWN, error=explain(exc).message, email=email)
    except Exception:
        log.exception("%s assessment of %s failed unexpectedly", label, email)
        error = f"{label} answered in a way offboard did not expect (details in the bot's log)"
        return Assessment(vendor, AssessmentStatus.UNKNOWN, error=error, email=email)


def unseen(vendor: str, email: str, why: str, *, warnings: tuple[str, ...] = ()) -> Assessment:
    """The one rule for what an API cannot see: *unknown is never absent*. Where a vendor's API cannot
    see a person (Mixpanel users outside the verified domains, PostHog guests on an older server) the
    answer is UNKNOWN with `why`, never NOT_MEMBER, so every connector's plan for it holds a manual
    check-and-remove step that a person confirms. Connectors call this instead of building an UNKNOWN
    assessment by hand, so the rule has one place and one test."""
    return Assessment(vendor, AssessmentStatus.UNKNOWN, error=why, email=email.strip(), warnings=warnings)


class UnseenError(VendorError):
    """A step could not see what it was meant to act on or check (a lookup that cannot see the person,
    a grant the API does not show). Never read as "already gone": the step fails with this message and
    the person is told to check by hand."""


def refuse_unseen(vendor: str, label: str, what: str) -> UnseenError:
    """The error a step raises rather than end "done" on what its API could not see."""
    return UnseenError(f"{label} cannot show {what} through its API, so offboard cannot say it is done: "
                       "check it by hand in the tool", vendor=vendor)


StepRunner = Callable[[dict[str, Any]], StepOutcome]
ManualText = Callable[[str, Mapping[str, Any]], tuple[str, str]]  # (email, details) → (title, instructions)


def build_manual_step(
    vendor: str, texts: Mapping[Capability, ManualText], capability: Capability, email: str,
    details: Mapping[str, Any],
) -> PlannedStep:
    """A connector's manual step for `capability`, from its table of UI texts. The key is
    "<vendor>_<capability>" (and "_<project id>" when one is named), so two steps of one vendor never
    collide and the workflow can tell which step is the removal."""
    title, instructions = texts[capability](email, details)
    project_id = str(details.get("project_id") or "")
    key = f"{vendor}_{capability.value}" + (f"_{project_id}" if project_id else "")
    return PlannedStep(StepKind.MANUAL.value, title, {"email": email, **details}, manual=True,
                       instructions=instructions, key=key)


def run_step(
    vendor: str,
    label: str,
    step: PlannedStep,
    runners: Mapping[str, StepRunner],
    explain: Callable[[VendorError], VendorError] = lambda exc: exc,
) -> StepOutcome:
    """Carry out one automated step with the connector's runner for its kind. Refuses, in words a
    person can act on, a manual step, a kind the connector does not know, or a step that does not
    name its person; an auth failure goes through `explain` (which says which setting to fix)."""
    runner = runners.get(step.kind)
    if step.manual or runner is None:
        raise UnsupportedError(f"offboard cannot run the {label} step “{step.title}” by itself", vendor=vendor)
    email = str(step.params.get("email") or "").strip()
    if not email:
        raise VendorError(f"The {label} step “{step.title}” does not say whom it is about", vendor=vendor)
    try:
        return runner({**step.params, "email": email})
    except AuthError as exc:
        raise explain(exc) from None
