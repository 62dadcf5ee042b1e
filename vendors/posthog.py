"""The PostHog connector: assess a person, plan their removal, run the steps.

PostHog's API (see /work/shared/vendor-apis.md) mixes identifiers, and the connector keeps them
apart on purpose: member paths take the user **uuid**, insight/flag/cohort filters the int user
**id**, notebooks the uuid, project access entries the **membership id**. `created_by` is read-only,
so "handing over" an asset means making restricted dashboards editable by the whole project and
recording who takes over; what no API can do (documenting flags, reassigning running experiments,
replacing personal API keys, reviewing an admin's changes) becomes manual steps naming the items.

What the API cannot see is never read as absent (`vendors.base.unseen`):

* Project access is what PostHog enforces (`posthog/rbac/user_access_control.py`): the highest of the
  member's own row and their roles' rows, else the project's everyone row, else PostHog's fixed default.
  Where a role gives the access, taking them out of the project alone does not end it: the plan says
  which role, and a person takes them out of it.
* No personal API key may list another member's keys (`scoped_api_keys` answers 403), so replacing them
  is always a manual step.
* Guests are listed only with `?include_guests=true` and are not found by the member detail routes: a
  miss counts as "not a member" only once the server has shown it lists guests (its member rows carry
  `is_guest`, or asking with guests lists more), and a guest is removed by hand.

Every step looks the person up again when it runs and does nothing that is already done, so the
workflow may run it twice (after a crash) without acting twice.

Besides removals it changes access (role, project access, invitations) through the same steps, and
`manual_step` gives PostHog's click paths for anything a person does instead.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from vendors.base import (
    CREDENTIALS_PARAM,
    Assessment,
    AssessmentStatus,
    Asset,
    AuthError,
    Capability,
    ConflictError,
    ManualText,
    Member,
    NotFoundError,
    PlannedStep,
    ProjectAccess,
    Role,
    StepKind,
    StepOutcome,
    UnseenError,
    UnsupportedError,
    VendorError,
    assess_safely,
    build_manual_step,
    run_step,
    unseen,
)
from vendors.http import RetryPolicy, VendorHTTP, default_detail
from vendors.posthog_scopes import missing_scope_line, missing_scopes
from vendors.ratelimit import Window
from vendors.roles import ROLE_MAPS, common_role, vendor_role

VENDOR = "posthog"
# PostHog's limits for personal API keys on CRUD endpoints (posthog/rate_limit.py: BurstRateThrottle 480/minute,
# SustainedRateThrottle 4800/hour), both counted per key. Both are paced: the minute one shapes bursts, the hour
# one a bulk run (paced at the minute's rate alone, it would meet the hourly cap after about 11 minutes).
RATE_LIMIT_PER_MINUTE = 480
RATE_LIMIT_PER_HOUR = 4800
DEFAULT_POLICY = RetryPolicy(rate_limits=(Window.per_minute(RATE_LIMIT_PER_MINUTE),
                                          Window.per_hour(RATE_LIMIT_PER_HOUR)))
HOSTS = {"us": "https://us.posthog.com", "eu": "https://eu.posthog.com"}
EDITABLE, RESTRICTED = 21, 37  # dashboard restriction levels
_THROTTLE_WAIT = re.compile(r"available in (\d+(?:\.\d+)?) second", re.IGNORECASE)
_OWNER_CANNOT_LEAVE = "cannot leave the organization as its owner"
_MEMBERS_UI = "Settings → Organization → Members"
_ACCESS_UI = "switch to the project, then Settings → Project → Access control"
_ROLES_UI = "Settings → Organization → Roles"  # UNVERIFIED: today's UI as best known; the runbook names none
ACCESS_LEVELS = ("none", "member", "admin")  # PostHog's project access levels, lowest first
# Shown on the card of a person offboard cannot see, and what its plan for them keys on.
GUESTS_UNSEEN = ("PostHog's member list here does not say whether it lists guests, so a guest would look like "
                 "someone who is not in PostHog.")
_NO_READ_ONLY = ("PostHog has no read-only organization role (its levels are member, admin and owner), so offboard "
                 "cannot set one.")
_WITH_GUESTS = {"include_guests": "true"}  # the member list leaves guests out without it
_KEY_HINT = " Check POSTHOG_API_KEY: it must be a valid personal API key of an owner of the organization."


# -- small pure helpers (tested directly) --------------------------------------------------------------
def posthog_base_url(host: str) -> str:
    """"us" / "eu" for PostHog Cloud, or a self-hosted domain or URL."""
    host = host.strip()
    if host.lower() in HOSTS:
        return HOSTS[host.lower()]
    if not host:
        raise ValueError("PostHog host is empty: use 'us', 'eu' or your PostHog's URL")
    url = host if "://" in host else f"https://{host}"
    if httpx.URL(url).scheme not in ("http", "https") or not httpx.URL(url).host:
        raise ValueError(f"PostHog host {host!r} is not 'us', 'eu' or an http(s) URL")
    return url.rstrip("/")


def posthog_level(role: Role) -> int | None:
    """The organization level PostHog's API takes for `role`; None where PostHog has no such role (read-only)."""
    word = vendor_role(VENDOR, role)
    return int(word) if word is not None else None


# The levels PostHog knows, lowest first, as vendors.roles writes them (1 member, 8 admin, 15 owner).
_KNOWN_LEVELS = tuple(sorted(int(word) for word in ROLE_MAPS[VENDOR].writing.values()))


# Cached: a member walk asks for every member, and an organization uses only a few levels. Bounded, as the
# levels come from the vendor.
@functools.lru_cache(maxsize=64)
def role_for_level(level: int) -> Role:
    """A PostHog organization level in our vocabulary; a level between known ones rounds down."""
    known = max((k for k in _KNOWN_LEVELS if k <= level), default=_KNOWN_LEVELS[0])
    return common_role(VENDOR, str(known))


@functools.lru_cache(maxsize=64)
def level_name(level: int) -> str:
    """PostHog's own name for a level ("admin"), or "level 5" for one it does not name."""
    return role_for_level(level).value if level in _KNOWN_LEVELS else f"level {level}"


def _known_level(role: Role) -> int:
    level = posthog_level(role)
    if level is None:
        raise RuntimeError(f"vendors.roles has no PostHog level for {role.value}")
    return level


MEMBER_LEVEL, ADMIN_LEVEL, OWNER_LEVEL = (_known_level(r) for r in (Role.MEMBER, Role.ADMIN, Role.OWNER))


def throttle_wait(response: httpx.Response) -> float | None:
    """Older PostHog sent 429s without Retry-After: the wait is only in the detail text."""
    match = _THROTTLE_WAIT.search(default_detail(response))
    return float(match.group(1)) if match else None


def posthog_detail(response: httpx.Response) -> str:
    """PostHog's `detail`, with the field it is about (`attr`) when there is one."""
    detail = default_detail(response)
    try:
        attr = response.json().get("attr")
    except (ValueError, AttributeError):
        return detail
    return f"{detail} (field: {attr})" if attr and detail else detail


class PostHogRejection(VendorError):
    """A 400: PostHog's own words (`detail`) kept apart, so a step can quote them beside its advice."""

    def __init__(self, message: str, *, detail: str, status: int = 400) -> None:
        super().__init__(message, status=status, vendor=VENDOR)
        self.detail = detail


class PostHogRefusal(AuthError):
    """A 403 (a guard on levels, or a missing scope), with PostHog's own words in `detail`."""

    def __init__(self, message: str, *, detail: str, status: int = 403) -> None:
        super().__init__(message, status=status, vendor=VENDOR)
        self.detail = detail


def _classify(response: httpx.Response, detail: str) -> VendorError | None:
    status = response.status_code
    if status == 400 and _OWNER_CANNOT_LEAVE in detail.lower():
        return ConflictError(
            "PostHog will not remove an owner. Demote them to admin first "
            f"({_MEMBERS_UI} → their role), then press Retry."
        )
    if status == 400:
        return PostHogRejection(f"PostHog: {_call_of(response)} failed (400: {detail})", detail=detail)
    if status == 403:
        return PostHogRefusal(f"PostHog refused {_call_of(response)} (403: {detail}); the key may lack a "
                              "permission or scope", detail=detail)
    return None


def _call_of(response: httpx.Response) -> str:
    try:
        request = response.request
    except RuntimeError:  # a response built by hand (tests) has no request
        return "the call"
    return f"{request.method} {request.url.path}"


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _day(value: Any) -> str:
    parsed = _parse_time(value) if not isinstance(value, datetime) else value
    return parsed.strftime("%Y-%m-%d") if parsed else "never"


# -- what we know about one member ---------------------------------------------------------------------
@dataclass(frozen=True)
class _Person:
    email: str
    name: str
    user_id: int  # insight/flag/cohort filters and created_by.id
    user_uuid: str  # member paths and the notebook filter
    membership_id: str  # project access entries
    level: int
    last_login: datetime | None = None
    joined_at: datetime | None = None
    is_guest: bool = False  # PostHog's member detail routes do not find a guest

    @classmethod
    def from_member(cls, raw: dict[str, Any]) -> _Person:
        user = raw["user"]
        name = " ".join(p for p in (user.get("first_name"), user.get("last_name")) if p) or user["email"]
        return cls(
            email=user["email"], name=name, user_id=int(user["id"]), user_uuid=str(user["uuid"]),
            membership_id=str(raw["id"]), level=int(raw["level"]),
            last_login=_parse_time(raw.get("last_login")), joined_at=_parse_time(raw.get("joined_at")),
            is_guest=bool(raw.get("is_guest")),
        )


@dataclass(frozen=True)
class _Lookup:
    """A member-list lookup: the row found, or none; `unseen` says why a miss proves nothing."""

    raw: dict[str, Any] | None = None
    unseen: str = ""


def _rank(level: str) -> int:
    return ACCESS_LEVELS.index(level) if level in ACCESS_LEVELS else len(ACCESS_LEVELS)


def _highest(levels: Iterable[str]) -> str:
    return max(levels, key=_rank)


@dataclass(frozen=True)
class _Grant:
    """A member's access to one project as PostHog enforces it, and where it comes from."""

    level: str  # "none" | "member" | "admin" | "unknown"
    source: str  # "organization admin" | "own entry" | "role" | "everyone" | "default" | "unknown"
    roles: tuple[str, ...] = ()  # names of their roles that give more than "none" there

    def describe(self) -> str:
        match self.source:
            case "role":
                return f"through role {', '.join(self.roles)}"
            case "own entry":
                return "by their own entry" + (f" (and role {', '.join(self.roles)})" if self.roles else "")
            case "everyone":
                return "as everyone in the organization"
            case "default":
                return "by PostHog's default for projects without a setting"
            case "organization admin":
                return "as an organization admin or owner"
        return "unknown"


# Role ids and names of a membership; None where the roles could not be read.
RolesOf = tuple[tuple[str, str], ...] | None


@dataclass(frozen=True)
class _AccessMap:
    """One project's access list: rows for members, rows for roles, the everyone row, and the fixed
    default PostHog reports (`default_access_level`, the same for every project: not the project's own)."""

    members: Mapping[str, str]  # membership id → level
    roles: Mapping[str, str]  # role id → level
    everyone: str | None
    default: str
    readable: bool = True

    @classmethod
    def from_controls(cls, controls: Any) -> _AccessMap:
        controls = controls if isinstance(controls, dict) else {}
        members: dict[str, str] = {}
        roles: dict[str, str] = {}
        everyone: str | None = None
        for entry in controls.get("access_controls") or []:
            if not isinstance(entry, dict) or entry.get("resource") != "project":
                continue
            level = str(entry.get("access_level") or "none")
            if entry.get("organization_member"):
                members[str(entry["organization_member"])] = level
            elif entry.get("role"):
                roles[str(entry["role"])] = level
            else:
                everyone = level
        # UNVERIFIED for versions without the field: current source says "admin", older ones "member".
        return cls(members, roles, everyone, str(controls.get("default_access_level") or "admin"))

    @classmethod
    def unreadable(cls) -> _AccessMap:
        return cls({}, {}, None, "unknown", readable=False)

    @property
    def has_role_rows(self) -> bool:
        return bool(self.roles)

    def grant(self, membership_id: str, roles_of: RolesOf) -> _Grant:
        """`UserAccessControl.get_user_access_level` for a project: the highest of their own row and their
        roles' rows; with neither, the everyone row; with no everyone row, the fixed default."""
        if not self.readable:
            return _Grant("unknown", "unknown")
        own = self.members.get(membership_id)
        if roles_of is None and self.roles:  # a role of theirs may decide it, and nobody can say which
            return _Grant("admin", "own entry") if own == "admin" else _Grant("unknown", "unknown")
        theirs = [(name, self.roles[rid]) for rid, name in roles_of or () if rid in self.roles]
        giving = tuple(name for name, level in theirs if level != "none")
        specific = ([own] if own is not None else []) + [level for _, level in theirs]
        if specific:
            role_top = _highest(lvl for _, lvl in theirs) if theirs else None
            from_own = own is not None and (role_top is None or _rank(own) >= _rank(role_top))
            return _Grant(_highest(specific), "own entry" if from_own else "role", giving)
        if self.everyone is not None:
            return _Grant(self.everyone, "everyone")
        return _Grant(self.default, "default")


class _AccessView:
    """Project access for one assessment or member walk: each project's access list read once, and the
    organization's roles read once (only where some project has role rows). What cannot be read is said
    in `warnings` and reads as unknown, never as "no access"."""

    _UNREAD: Any = object()

    def __init__(self, vendor: PostHogVendor, warnings: list[str]) -> None:
        self._vendor = vendor
        self._warnings = warnings
        self._maps: dict[str, _AccessMap] = {}
        self._roles: Any = self._UNREAD

    def grants(self, person: _Person, projects: list[dict[str, Any]]) -> list[tuple[dict[str, Any], _Grant]]:
        if person.level >= ADMIN_LEVEL:  # org admins and owners are admins of every project
            return [(p, _Grant("admin", "organization admin")) for p in projects]
        return [(p, self._map(p).grant(person.membership_id, self._roles_of(person, self._map(p))))
                for p in projects]

    def _map(self, project: dict[str, Any]) -> _AccessMap:
        pid = str(project["id"])
        if pid not in self._maps:
            try:
                self._maps[pid] = self._vendor._access_map(project["id"])
            except (AuthError, NotFoundError) as exc:
                self._warnings.append(f"Could not read who may open {project['name']} ({exc.message}); their "
                                      "access there is unknown.")
                self._maps[pid] = _AccessMap.unreadable()
        return self._maps[pid]

    def _roles_of(self, person: _Person, access: _AccessMap) -> RolesOf:
        if not access.has_role_rows:
            return ()
        if self._roles is self._UNREAD:
            try:
                self._roles = self._vendor._role_book()
            except (AuthError, NotFoundError) as exc:
                self._warnings.append(f"Could not read the organization's roles ({exc.message}): where a project "
                                      "gives access to a role, whether they have it is unknown.")
                self._roles = None
        return None if self._roles is None else self._roles.get(person.membership_id, ())


def _projects_of(grants: list[tuple[dict[str, Any], _Grant]]) -> tuple[ProjectAccess, ...]:
    return tuple(ProjectAccess(str(p["id"]), p["name"], g.level) for p, g in grants if g.level != "none")


def _access_extra(grants: list[tuple[dict[str, Any], _Grant]]) -> dict[str, dict[str, Any]]:
    """Where each project's access comes from, JSON-safe for `Member.extra`."""
    return {str(p["id"]): {"project_name": p["name"], "level": g.level, "source": g.source, "roles": list(g.roles)}
            for p, g in grants if g.level != "none"}


def _access_warnings(person: _Person, grants: list[tuple[dict[str, Any], _Grant]]) -> list[str]:
    through_roles = [f"{p['name']} ({g.level}) {g.describe()}" for p, g in grants if g.source == "role"]
    if not through_roles:
        return []
    return [f"{person.email} opens {'; '.join(through_roles)}: taking them out of such a project alone does not "
            f"end it while the role gives it ({_ROLES_UI})."]


# -- asset kinds ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Kind:
    kind: str
    segment: str  # /api/projects/{pid}/<segment>/
    creator_params: Callable[[_Person], dict[str, str]]  # the server-side filter, {} when there is none
    name_of: Callable[[dict[str, Any]], str]
    id_of: Callable[[dict[str, Any]], str]
    ui_path: Callable[[dict[str, Any]], str]  # under /project/{pid}/


_KINDS = (
    _Kind("dashboard", "dashboards", lambda p: {},  # no creator filter exists: we filter on created_by.id
          lambda a: a.get("name") or "Untitled dashboard", lambda a: str(a["id"]), lambda a: f"dashboard/{a['id']}"),
    _Kind("insight", "insights", lambda p: {"created_by": json.dumps([p.user_id])},
          lambda a: a.get("name") or a.get("derived_name") or f"Insight {a.get('short_id', a['id'])}",
          lambda a: str(a["id"]), lambda a: f"insights/{a.get('short_id') or a['id']}"),
    _Kind("feature_flag", "feature_flags", lambda p: {"created_by_id": str(p.user_id)},
          lambda a: a.get("key") or a.get("name") or f"Flag {a['id']}", lambda a: str(a["id"]),
          lambda a: f"feature_flags/{a['id']}"),
    _Kind("cohort", "cohorts", lambda p: {"created_by_id": str(p.user_id)},
          lambda a: a.get("name") or f"Cohort {a['id']}", lambda a: str(a["id"]), lambda a: f"cohorts/{a['id']}"),
    # UNVERIFIED: the experiments filter. We send the flag/cohort form and, as for every kind, also
    # keep only items whose created_by.id matches, so a server that ignores it is still handled.
    _Kind("experiment", "experiments", lambda p: {"created_by_id": str(p.user_id)},
          lambda a: a.get("name") or f"Experiment {a['id']}", lambda a: str(a["id"]),
          lambda a: f"experiments/{a['id']}"),
    _Kind("notebook", "notebooks", lambda p: {"created_by": p.user_uuid},
          lambda a: a.get("title") or "Untitled notebook", lambda a: str(a.get("short_id") or a["id"]),
          lambda a: f"notebooks/{a.get('short_id') or a['id']}"),
)


@dataclass(frozen=True)
class _Owned:
    asset: Asset
    raw: dict[str, Any]


# -- the connector ------------------------------------------------------------------------------------
class PostHogVendor:
    """`Vendor` for one PostHog organization, acting with one personal API key.

    The key should belong to an owner: only an owner may demote (and so remove) another owner.
    """

    name = VENDOR
    label = "PostHog"
    # PostHog's API does all of it (vendor-apis.md); "hand-over" is what `_handover` does, since
    # `created_by` cannot be changed: open restricted dashboards to the project, record the new owner.
    capabilities: frozenset[Capability] = frozenset({
        Capability.FIND_MEMBER, Capability.LIST_MEMBERS, Capability.READ_ROLE, Capability.READ_LAST_LOGIN,
        Capability.READ_PROJECTS, Capability.LIST_ASSETS, Capability.HANDOVER_ASSETS, Capability.CHANGE_ROLE,
        Capability.REMOVE_FROM_PROJECT, Capability.REMOVE_MEMBER, Capability.VERIFY_REMOVAL, Capability.INVITE,
        Capability.CANCEL_INVITE,
    })

    def __init__(
        self,
        api_key: str,
        host: str = "us",
        organization_id: str = "@current",
        *,
        page_size: int | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        if not api_key:
            raise ValueError("a PostHog personal API key is required")
        self.base_url = posthog_base_url(host)
        self.organization_id = organization_id or "@current"
        self.page_size = page_size
        policy = policy or DEFAULT_POLICY
        self._workers = policy.max_concurrency
        self._org_name: str | None = None
        self._guests_listed = False  # set once the server has shown its member list includes guests on request
        self._key_owner: str | None = None  # a personal API key belongs to one user for life: asked once
        self._http = VendorHTTP(
            self.base_url,
            {"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
            vendor=self.name, label=self.label, policy=policy,
            detail=posthog_detail, retry_hint=throttle_wait, classify_error=_classify,
        )

    def __repr__(self) -> str:
        return f"PostHogVendor(base_url={self.base_url!r}, organization_id={self.organization_id!r})"

    def close(self) -> None:
        self._http.close()

    # -- Vendor protocol ---------------------------------------------------------------------------
    def assess(self, email: str) -> Assessment:
        return assess_safely(self.name, self.label, email, self._assess, _explained)

    def plan_removal(self, assessment: Assessment, new_owner_email: str | None) -> list[PlannedStep]:
        if assessment.status == AssessmentStatus.NOT_MEMBER:
            return []
        if assessment.status == AssessmentStatus.UNKNOWN or assessment.member is None:
            return self._plan_unassessed(assessment)
        member = assessment.member
        steps: list[PlannedStep] = []
        if assessment.assets:
            steps.append(_handover_step(member, assessment.assets, new_owner_email))
        if member.role == Role.OWNER:
            steps.append(PlannedStep("demote_owner", "Demote from owner to admin", {"email": member.email}))
        if member.extra.get("is_guest"):  # the member routes do not find a guest: a person removes them
            steps += [manual_step(Capability.REMOVE_MEMBER, member.email, {"guest": True}),
                      PlannedStep("verify_removed", "Check they are gone (guests included)", {"email": member.email})]
        else:
            steps += _removal_steps(member.email, self._org_label(member))
        steps += _manual_steps(member, assessment.assets, new_owner_email)
        return steps

    def plan_project_removal(self, assessment: Assessment, projects: Mapping[str, str]) -> list[PlannedStep]:
        """Take them out of `projects` (id → name) only. Their own entry goes to "none" through the API; where
        one of their roles gives the project, that is not enough (the highest row wins), so a manual step
        names the role and a person takes them out of it; the workflow's fresh lookup checks the end."""
        member = assessment.member
        if member is None:
            return [manual_step(Capability.REMOVE_FROM_PROJECT, assessment.email,
                                {"project_id": pid, "project_name": name}) for pid, name in projects.items()]
        access = member.extra.get("project_access") or {}
        steps: list[PlannedStep] = []
        for pid, name in projects.items():
            grant = access.get(pid) or {}
            roles = [str(r) for r in grant.get("roles") or []]
            title = f"Set their own access to {name} to No access" if roles else f"Remove from project {name}"
            steps.append(PlannedStep(StepKind.REMOVE_FROM_PROJECT.value, title,
                                     {"email": member.email, "project_id": pid, "project_name": name}))
            if roles:
                steps.append(_leave_roles_step(member.email, pid, name, str(grant.get("level") or ""), roles))
            elif grant.get("source") == "unknown":
                steps.append(_check_roles_step(member.email, pid, name))
        return steps

    def execute(self, step: PlannedStep) -> StepOutcome:
        runners = {
            StepKind.HANDOVER_ASSETS.value: self._handover,
            "demote_owner": self._demote,
            StepKind.REMOVE_MEMBER.value: self._remove,
            StepKind.VERIFY_REMOVED.value: self._verify,
            StepKind.CHANGE_ROLE.value: self._change_role,
            StepKind.REMOVE_FROM_PROJECT.value: self._remove_from_project,
            StepKind.INVITE.value: self._invite,
            StepKind.CANCEL_INVITE.value: self._cancel_invite,
        }
        return run_step(self.name, self.label, step, runners, _explained)

    def iter_members(self) -> Iterator[Member]:
        """Every member, a page at a time. A member's projects come from each project's access
        controls, read once per project for the whole walk (on first need) rather than per member."""
        try:
            yield from self._walk_members()
        except AuthError as exc:
            raise _explained(exc) from None

    def _walk_members(self) -> Iterator[Member]:
        projects = self._projects()
        view = _AccessView(self, [])  # each project's access list and the roles, read once for the whole walk
        for raw in self._list(self._org_path("members/"), _WITH_GUESTS):
            person = _Person.from_member(raw)
            grants = view.grants(person, projects)
            extra = {**self._person_ids(person), "project_access": _access_extra(grants)}
            yield self._member(person, _projects_of(grants), extra)

    def manual_step(self, capability: Capability, email: str, details: Mapping[str, Any]) -> PlannedStep:
        return manual_step(capability, email, details)

    def check(self) -> list[str]:
        """Read-only: is the key valid, which scopes it lacks (and what each stops), and whether it reaches
        the organization. One line per problem, each saying what to do (`vendors.base.Checkable`)."""
        try:
            key = self._http.get_json("/api/personal_api_keys/@current/")
        except AuthError as exc:
            if exc.status == 401:
                return [f"PostHog: POSTHOG_API_KEY is not a valid personal API key ({exc.message}). Create one in "
                        "PostHog (Settings → User → Personal API keys) as an owner of the organization, and set it."]
            return [f"PostHog: the key could not read its own record ({exc.message}), so offboard cannot say which "
                    "scopes it lacks: check them by hand against the list in docs/vendors.md."]
        except NotFoundError:
            return ["PostHog: this PostHog cannot show a key its own scopes (no /api/personal_api_keys/@current/): "
                    "check the key's scopes by hand against the list in docs/vendors.md."]
        key = key if isinstance(key, dict) else {}
        scopes = [str(s) for s in key.get("scopes") or []]
        problems = [f"PostHog: {missing_scope_line(use)}" for use in missing_scopes(scopes)]
        orgs = [str(o) for o in key.get("scoped_organizations") or []]
        if orgs and self.organization_id != "@current" and self.organization_id not in orgs:
            problems.append(f"PostHog: the key is limited to other organizations than {self.organization_id}: "
                            "allow this one in the key's settings, or use another key.")
        if key.get("scoped_teams"):
            problems.append("PostHog: the key is limited to some projects, so offboard sees nobody's access to the "
                            "others: allow all projects in the key's settings.")
        problems += self._check_organization()
        return problems

    def _check_organization(self) -> list[str]:
        try:
            org = self._organization()
        except AuthError as exc:
            return [] if exc.status == 403 and "scope" in exc.message else [
                f"PostHog: the key cannot open organization {self.organization_id} ({exc.message}): set "
                "POSTHOG_ORG_ID to the organization's id, or use a key of one of its owners."]
        except NotFoundError:
            return [f"PostHog: there is no organization {self.organization_id} for this key: set POSTHOG_ORG_ID "
                    "to the organization's id (or leave it empty for the key's current organization)."]
        level = org.get("membership_level")
        if isinstance(level, int) and level < OWNER_LEVEL:
            return [f"PostHog: the key belongs to an {level_name(level)} of {org.get('name') or 'the organization'}, "
                    "and only an owner can demote (and so remove) an owner: use a key of an owner."]
        return []

    # -- assessment --------------------------------------------------------------------------------
    def _assess(self, email: str) -> Assessment:
        found = self._lookup(email)
        if found.unseen:
            return unseen(self.name, email, found.unseen, warnings=(GUESTS_UNSEEN,))
        if found.raw is None:
            return Assessment(self.name, AssessmentStatus.NOT_MEMBER, email=email)
        person = _Person.from_member(found.raw)
        # The reads below do not depend on each other (past the project list), so they overlap: an emergency
        # waits for this assessment, and one after another they were a dozen round trips. The HTTP client
        # still caps the calls on the wire. Warnings keep the order they had when the reads ran in turn.
        org_warnings: list[str] = []
        access_warnings: list[str] = []
        with ThreadPoolExecutor(max_workers=3, thread_name_prefix="posthog-assess") as pool:
            scope_warnings = pool.submit(self._scope_warnings)
            org_read = pool.submit(self._optional, self._organization, "the organization's name", org_warnings)
            projects = self._projects()
            grants_read = pool.submit(_AccessView(self, access_warnings).grants, person, projects)
            owned = self._owned_assets(person, projects)
            grants = grants_read.result()
            org = org_read.result() or {}  # first: its warning is written by then
            warnings: list[str] = [*scope_warnings.result(), *org_warnings]
        warnings += access_warnings
        extra = self._member_extra(person, org, owned, warnings)
        extra["project_access"] = _access_extra(grants)
        extra["is_guest"] = person.is_guest
        warnings[:0] = self._role_warnings(person, org, extra) + _access_warnings(person, grants)
        member = self._member(person, _projects_of(grants), extra)
        return Assessment(
            self.name, AssessmentStatus.MEMBER, member=member, assets=tuple(o.asset for o in owned),
            warnings=tuple(warnings), email=email,
        )

    def _scope_warnings(self) -> list[str]:
        """What offboard's key cannot do, said on the card where a person decides (empty when all is there,
        or when this PostHog cannot say: `check` reports that)."""
        granted = self._granted_scopes()
        return [missing_scope_line(use) for use in missing_scopes(granted)] if granted is not None else []

    def _granted_scopes(self) -> list[str] | None:
        try:
            key = self._http.get_json("/api/personal_api_keys/@current/")
        except (AuthError, NotFoundError):
            return None
        scopes = key.get("scopes") if isinstance(key, dict) else None
        return [str(s) for s in scopes] if isinstance(scopes, list) else None

    def _member(self, person: _Person, projects: tuple[ProjectAccess, ...], extra: dict[str, Any]) -> Member:
        return Member(
            email=person.email, member_id=person.user_uuid, name=person.name, role=role_for_level(person.level),
            vendor_role=f"{level_name(person.level)} (level {person.level})", projects=projects,
            last_login=person.last_login, joined_at=person.joined_at, extra=extra,
        )

    def _person_ids(self, person: _Person) -> dict[str, Any]:
        return {"organization_id": self.organization_id, "membership_id": person.membership_id,
                "user_id": person.user_id, "user_uuid": person.user_uuid, "level": person.level}

    def _member_projects(
        self, person: _Person, projects: list[dict[str, Any]], warnings: list[str]
    ) -> tuple[ProjectAccess, ...]:
        return _projects_of(_AccessView(self, warnings).grants(person, projects))

    def _access_map(self, project_id: Any) -> _AccessMap:
        return _AccessMap.from_controls(self._http.get_json(f"/api/projects/{project_id}/access_controls"))

    def _role_book(self) -> dict[str, tuple[tuple[str, str], ...]]:
        """Membership id → the (role id, name) pairs of the roles it is in (`GET …/roles/`, with members)."""
        book: dict[str, list[tuple[str, str]]] = {}
        for role in self._list(self._org_path("roles/"), {}):
            for row in role.get("members") or []:
                membership = (row.get("organization_member") or {}).get("id")
                if membership:
                    book.setdefault(str(membership), []).append((str(role["id"]), str(role.get("name") or "")))
        return {k: tuple(v) for k, v in book.items()}

    def _owned_assets(self, person: _Person, projects: list[dict[str, Any]]) -> list[_Owned]:
        pairs = [(project, kind) for project in projects for kind in _KINDS]
        with ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="posthog-assets") as pool:
            found = pool.map(lambda pk: self._assets_of_kind(person, *pk), pairs)
            return [owned for batch in found for owned in batch]

    def _assets_of_kind(self, person: _Person, project: dict[str, Any], kind: _Kind) -> list[_Owned]:
        pid = project["id"]
        items = self._list(f"/api/projects/{pid}/{kind.segment}/", kind.creator_params(person))
        return [
            _Owned(Asset(
                kind=kind.kind, asset_id=kind.id_of(item), name=kind.name_of(item), project_id=str(pid),
                project_name=project["name"], url=f"{self.base_url}/project/{pid}/{kind.ui_path(item)}",
                restricted=kind.kind == "dashboard" and _restricted(item),
            ), item)
            for item in items
            # Every list is also filtered here: dashboards have no server-side filter, experiments'
            # is UNVERIFIED, and a server that ignores a filter must not hand us everyone's assets.
            if (item.get("created_by") or {}).get("id") == person.user_id and not item.get("deleted")
        ]

    def _member_extra(
        self, person: _Person, org: dict[str, Any], owned: list[_Owned], warnings: list[str]
    ) -> dict[str, Any]:
        extra: dict[str, Any] = {
            **self._person_ids(person),
            "organization_id": org.get("id", self.organization_id),
            "organization_name": self._org_label(),
            "active_feature_flags": [o.asset.asset_id for o in owned
                                     if o.asset.kind == "feature_flag" and o.raw.get("active")],
            "running_experiments": [o.asset.asset_id for o in owned if o.asset.kind == "experiment"
                                    and o.raw.get("start_date") and not o.raw.get("end_date")],
            "experiment_start_dates": {o.asset.asset_id: o.raw.get("start_date") for o in owned
                                       if o.asset.kind == "experiment"},
        }
        # No personal API key may list another member's keys (`scoped_api_keys` answers every one with 403),
        # so offboard does not ask: the plan's manual step says where to look instead.
        if person.level >= ADMIN_LEVEL:
            invites = self._optional(lambda: self._pending_invites_by(person), "the invites they sent", warnings)
            extra["pending_invites_sent"] = invites or []
        try:
            extra["is_api_key_owner"] = self._key_owner_uuid() == person.user_uuid
        except (AuthError, NotFoundError) as exc:  # never skipped in silence: unknown, said on the card
            extra["is_api_key_owner"] = None
            warnings.append(
                f"offboard could not tell whether {person.email} owns the PostHog key it uses ({exc.message}): "
                "if they do, PostHog refuses the change and the key dies with their account. Give the key the "
                "user:read scope, or check POSTHOG_API_KEY is not theirs."
            )
        return extra

    def _role_warnings(self, person: _Person, org: dict[str, Any], extra: dict[str, Any]) -> list[str]:
        warnings = []
        org_name = self._org_label()
        if extra.get("is_api_key_owner"):
            warnings.append(
                f"{person.email} owns the personal API key offboard uses for PostHog: PostHog will refuse to "
                "let it change or remove its own account, and the key dies with the account. Set POSTHOG_API_KEY "
                "to a key of another owner first."
            )
        if person.level < OWNER_LEVEL:
            return warnings
        if not self._has_another_owner(person):
            warnings.append(
                f"{person.email} is the ONLY owner of {org_name}: make someone else an owner first "
                f"({_MEMBERS_UI}), or removal will stop."
            )
            return warnings
        warnings.append(f"{person.email} is an owner: will be demoted to admin before removal "
                        "(PostHog does not remove owners).")
        key_level = org.get("membership_level")
        if isinstance(key_level, int) and key_level < OWNER_LEVEL:
            warnings.append(f"offboard's PostHog key belongs to an {level_name(key_level)}, and only an owner can "
                            f"demote an owner: use a key of an owner of {org_name}.")
        return warnings

    def _plan_unassessed(self, assessment: Assessment) -> list[PlannedStep]:
        email = assessment.email
        reason = assessment.error or "PostHog could not be checked"
        if email and GUESTS_UNSEEN in assessment.warnings:  # the API cannot see them: only a person can look
            return [manual_step(Capability.FIND_MEMBER, email, {"reason": reason, "guest": True}),
                    _unassessed_review_step(email, reason)]
        if not email:  # cannot happen with our own assessments; never plan nothing for an unknown
            return [PlannedStep("manual", "Check PostHog by hand", manual=True, key="posthog_check_by_hand",
                                instructions=f"offboard could not check PostHog ({reason}). In PostHog open "
                                f"{_MEMBERS_UI}, find the person and remove them (⋯ → Remove member).")]
        return [*_removal_steps(email, "the PostHog organization"), _unassessed_review_step(email, reason)]

    # -- steps -------------------------------------------------------------------------------------
    def _handover(self, params: dict[str, Any]) -> StepOutcome:
        email, new_owner = params["email"], params.get("new_owner_email")
        person = self._person_for_handover(email, params)
        if person is None:
            return StepOutcome(f"Nothing to hand over: {email} is not a member of {self._org_label()}",
                               {"new_owner_email": new_owner, "assets": []})
        projects = self._projects()
        owned = self._owned_assets(person, projects)
        handed = [self._hand_over(o, new_owner) for o in owned]
        notes = self._new_owner_notes(new_owner, {o.asset.project_id for o in owned}, projects)
        opened = [h["name"] for h in handed if h["action"] == "made editable by everyone in the project"]
        summary = (f"{len(handed)} assets recorded as handed over to {new_owner or 'the project'}"
                   if handed else f"{email} owns no assets any more")
        if opened:
            summary += f"; made {len(opened)} restricted dashboard(s) editable by the project: {', '.join(opened)}"
        if notes:
            summary += ". " + " ".join(notes)
        return StepOutcome(summary, {"new_owner_email": new_owner, "from_email": email, "assets": handed,
                                     "notes": notes})

    def _hand_over(self, owned: _Owned, new_owner: str | None) -> dict[str, Any]:
        asset = owned.asset
        action = "recorded new owner"
        if asset.kind == "dashboard" and _restricted(owned.raw):
            self._http.send_json("PATCH", f"/api/projects/{asset.project_id}/dashboards/{asset.asset_id}/",
                                 {"restriction_level": EDITABLE})
            action = "made editable by everyone in the project"
        return {**asdict(asset), "restricted": False, "was_restricted": asset.restricted,
                "action": action, "new_owner_email": new_owner}

    def _person_for_handover(self, email: str, params: dict[str, Any]) -> _Person | None:
        raw = self._find_member(email)
        if raw is not None:
            return _Person.from_member(raw)
        if params.get("user_id") and params.get("user_uuid"):  # gone already, but their assets stay behind
            return _Person(email, email, int(params["user_id"]), str(params["user_uuid"]), "", MEMBER_LEVEL)
        return None

    def _new_owner_notes(self, new_owner: str | None, asset_projects: set[str],
                         projects: list[dict[str, Any]]) -> list[str]:
        if not new_owner:
            return []
        raw = self._find_member(new_owner)
        if raw is None:
            return [f"{new_owner} is not a member of {self._org_label()} in PostHog: invite them if they should "
                    "look after these."]
        person = _Person.from_member(raw)
        visible = {a.project_id for a in self._member_projects(person, projects, [])}
        missing = [p["name"] for p in projects if str(p["id"]) in asset_projects - visible]
        if not missing:
            return []
        return [f"{new_owner} cannot open {', '.join(missing)}: give them access there "
                "(Settings → Project → Members, or the project's Access control) if they should own these."]

    def _demote(self, params: dict[str, Any]) -> StepOutcome:
        email = params["email"]
        raw = self._seen_member(email, "whether they are still an owner")
        if raw is None:
            return StepOutcome(f"{email} is no longer a member of {self._org_label()}; nothing to demote",
                               {"already_removed": True})
        person = _Person.from_member(raw)
        if person.level < OWNER_LEVEL:
            return StepOutcome(f"{email} is already {level_name(person.level)}, not owner; nothing to change",
                               {"level": person.level, "changed": False})
        self._demote_owner(person)
        return StepOutcome(f"Demoted {email} from owner to admin",
                           {"from_level": OWNER_LEVEL, "to_level": ADMIN_LEVEL, "changed": True})

    def _demote_owner(self, person: _Person) -> None:
        self._require_another_owner(person)
        self._patch_level(person, ADMIN_LEVEL)

    def _require_another_owner(self, person: _Person) -> None:
        """PostHog keeps an owner: the only one cannot be demoted (nor, so, removed)."""
        if not self._has_another_owner(person):
            raise ConflictError(
                f"{person.email} is the only owner of {self._org_label()}. Make someone else an owner first "
                f"({_MEMBERS_UI}), then press Retry.", vendor=self.name,
            )

    def _patch_level(self, person: _Person, level: int) -> None:
        try:
            self._http.send_json("PATCH", self._member_path(person), {"level": level})
        except AuthError as exc:
            if exc.status != 403:
                raise
            raise ConflictError(self._level_refusal(person, level, exc), status=exc.status, vendor=self.name) from None

    def _level_refusal(self, person: _Person, level: int, exc: AuthError) -> str:
        words = getattr(exc, "detail", "") or exc.message
        org_name = self._org_label()
        if OWNER_LEVEL in (level, person.level):
            who = f"only an owner can make or unmake owners, so the key must belong to another owner of {org_name}"
        else:
            who = f"the key must belong to an admin or owner of {org_name} ranking at least as high as {person.email}"
        return (f"PostHog refused to change {person.email} from {level_name(person.level)} to {level_name(level)} "
                f"({exc.status}: {words}). The API key offboard uses (POSTHOG_API_KEY) belongs to the wrong account "
                f"or lacks the organization_member:write scope: {who}. Change POSTHOG_API_KEY, or change their role "
                f"by hand ({_MEMBERS_UI} → their role), then press Retry.")

    def _remove(self, params: dict[str, Any]) -> StepOutcome:
        email = params["email"]
        raw = self._seen_member(email, "whether they are still a member")
        org_name = self._org_label()
        if raw is None:
            return StepOutcome(f"{email} was already removed from {org_name}", {"already_removed": True})
        person = _Person.from_member(raw)
        if person.is_guest:
            raise self._guest_refusal(person)
        demoted = person.level >= OWNER_LEVEL
        if demoted:  # PostHog refuses to remove an owner, however many owners there are
            self._demote_owner(person)
        try:
            self._http.send_json("DELETE", self._member_path(person))
        except NotFoundError:
            # Removed by someone else between our lookup and our DELETE, or a guest (the detail route does
            # not find one): only a fresh lookup that includes guests may say which.
            again = self._seen_member(email, "whether they are still a member")
            if again is None:
                return StepOutcome(f"{email} was already removed from {org_name}", {"already_removed": True})
            if again.get("is_guest"):
                raise self._guest_refusal(_Person.from_member(again)) from None
            raise UnseenError(
                f"PostHog answered “not found” to removing {email}, yet still lists them in {org_name}: offboard "
                f"cannot say they are gone. Check by hand ({_MEMBERS_UI}), then press Retry.", vendor=self.name,
            ) from None
        except AuthError as exc:
            raise ConflictError(
                f"PostHog refused to remove {email} ({exc.status}). The API key offboard uses must belong to an "
                f"admin or owner of {org_name} ranking at least as high as {email}; or remove them by hand "
                f"({_MEMBERS_UI} → ⋯ → Remove member), then press Retry.", status=exc.status, vendor=self.name,
            ) from None
        suffix = " (demoted from owner first)" if demoted else ""
        return StepOutcome(f"Removed {email} from {org_name}{suffix}",
                           {"already_removed": False, "demoted_first": demoted, "user_uuid": person.user_uuid,
                            "level_before": person.level})

    def _verify(self, params: dict[str, Any]) -> StepOutcome:
        email = params["email"]
        raw = self._seen_member(email, "that they are gone")
        org_name = self._org_label()
        if raw is not None:
            level = level_name(int(raw.get("level", 0)))
            what = (f"a guest of {org_name} in PostHog" if raw.get("is_guest")
                    else f"a member of {org_name} in PostHog ({level})")
            raise VendorError(
                f"{email} is still {what}. Remove them by hand "
                f"({_MEMBERS_UI} → ⋯ → Remove member), then press Retry.", vendor=self.name,
            )
        return StepOutcome(f"Checked: {email} is no longer a member of {org_name}, guests included",
                           {"verified_at": datetime.now(UTC).isoformat(), "guests_included": True})

    def _seen_member(self, email: str, what: str) -> dict[str, Any] | None:
        """The membership for `email` (guests included), None when it is certainly gone; raises
        UnseenError where a miss proves nothing (a server that does not show it lists guests)."""
        found = self._lookup(email)
        if found.unseen:
            raise UnseenError(f"PostHog cannot show {what} for {email}: {found.unseen}. Check by hand "
                              f"({_MEMBERS_UI}, and each project's access control), then mark it done or press "
                              "Retry.", vendor=self.name)
        return found.raw

    def _guest_refusal(self, person: _Person) -> UnseenError:
        return UnseenError(
            f"{person.email} is a guest of {self._org_label()}: PostHog's member routes do not find a guest, so "
            f"offboard cannot remove them through the API. {_remove_member_text(person.email, {'guest': True})[1]}"
            " Then press Retry: offboard checks they are gone, guests included.", vendor=self.name)

    # -- access changes ----------------------------------------------------------------------------
    def _change_role(self, params: dict[str, Any]) -> StepOutcome:
        email, role = params["email"], _wanted_role(params)
        level = posthog_level(role)
        if level is None:
            raise UnsupportedError(f"{_NO_READ_ONLY} Change {email}'s access by hand instead.", vendor=self.name)
        person = self._member_for(email, f"give them the role {role.value}")
        before = role_for_level(person.level).value
        if person.level == level:
            return StepOutcome(f"{email} is already {role.value} in {self._org_label()}; nothing to change",
                               {"from_role": before, "to_role": role.value, "changed": False})
        self._check_level_change(person, level)
        self._patch_level(person, level)
        after = self._find_person(email)
        if after is None or after.level != level:
            now = "no longer a member" if after is None else level_name(after.level)
            raise VendorError(
                f"PostHog accepted the change, yet {email} is {now} rather than {role.value}. Check their role in "
                f"{_MEMBERS_UI}, then press Retry.", vendor=self.name,
            )
        return StepOutcome(f"Changed {email}'s role in {self._org_label()} from {before} to {role.value}",
                           {"from_role": before, "to_role": role.value, "changed": True})

    def _check_level_change(self, person: _Person, level: int) -> None:
        """PostHog's guards, checked first so the refusal says what to do rather than just "403"."""
        if self._key_owner_uuid() == person.user_uuid:
            raise ConflictError(
                f"{person.email} owns the personal API key offboard uses for PostHog, and PostHog lets nobody "
                f"change their own level. Change it by hand from another owner's account ({_MEMBERS_UI} → their "
                "role), or set POSTHOG_API_KEY to a key of another owner, then press Retry.", vendor=self.name,
            )
        if person.level >= OWNER_LEVEL > level:
            self._require_another_owner(person)

    def _remove_from_project(self, params: dict[str, Any]) -> StepOutcome:
        email = params["email"]
        project_id = str(params.get("project_id") or "").strip()
        if not project_id:
            raise VendorError(f"The PostHog step for {email} does not say which project to remove them from",
                              vendor=self.name)
        project = str(params.get("project_name") or f"project {project_id}")
        details: dict[str, Any] = {"project_id": project_id, "project_name": project}
        raw = self._seen_member(email, f"whether they can still open {project}")
        if raw is None:
            return StepOutcome(f"{email} is not a member of {self._org_label()}; nothing to remove from {project}",
                               {**details, "member": False, "changed": False})
        person = _Person.from_member(raw)
        if person.level >= ADMIN_LEVEL:
            raise ConflictError(self._implicit_access(person, project), vendor=self.name)
        access = self._project_access(project_id, project)
        before = self._grant_in(person, access)
        if before.level == "none":
            return StepOutcome(f"{email} already cannot open {project}; nothing to change",
                               {**details, "from_level": before.level, "to_level": "none", "changed": False})
        if access.members.get(person.membership_id) != "none":
            self._put_no_access(person, project_id, project)
            access = self._project_access(project_id, project)
        after = self._grant_in(person, access)
        if after.level == "none":
            return StepOutcome(f"Removed {email} from {project} (was {before.level}); they stay in "
                               f"{self._org_label()}",
                               {**details, "from_level": before.level, "to_level": "none", "changed": True})
        if after.roles or after.source == "unknown":
            # Their own entry says "none" now, but the highest row wins: said as it is, never as "removed".
            why = (f"role {', '.join(after.roles)} still gives them {after.level} access there"
                   if after.roles else "whether one of their roles still gives them access there is unknown")
            return StepOutcome(
                f"Set {email}'s own access to {project} to No access, but {why}: they can still open it until a "
                "person takes them out of the role (the next step)",
                {**details, "from_level": before.level, "to_level": after.level, "own_entry": "none",
                 "roles": list(after.roles), "changed": True, "removed": False})
        raise VendorError(
            f"PostHog accepted the change, yet {email} can still open {project} ({after.level}). Check the "
            f"project's access control ({_ACCESS_UI}), then press Retry.", vendor=self.name,
        )

    def _grant_in(self, person: _Person, access: _AccessMap) -> _Grant:
        roles: RolesOf = ()
        if access.has_role_rows:
            try:
                roles = self._role_book().get(person.membership_id, ())
            except (AuthError, NotFoundError):
                roles = None
        return access.grant(person.membership_id, roles)

    def _implicit_access(self, person: _Person, project: str) -> str:
        role = level_name(person.level)
        return (f"{person.email} is an organization {role} of {self._org_label()}, and PostHog lets admins and "
                f"owners open every project whatever the project says, so offboard cannot take {project} away "
                f"from them alone. Lower them to member first ({_MEMBERS_UI} → their role), or remove them from "
                "the organization, then press Retry.")

    def _project_access(self, project_id: str, project: str) -> _AccessMap:
        try:
            return self._access_map(project_id)
        except NotFoundError:
            raise NotFoundError(
                f"PostHog has no project {project} (id {project_id}) that offboard's key can open. Check the "
                "project still exists and POSTHOG_API_KEY belongs to an owner, then press Retry.",
                status=404, vendor=self.name,
            ) from None

    def _put_no_access(self, person: _Person, project_id: str, project: str) -> None:
        # An explicit "none" for their membership: it overrides the project's default, so they cannot
        # open the project even where everyone else in the organization can.
        body = {"organization_member": person.membership_id, "access_level": "none"}
        try:
            self._http.send_json("PUT", f"/api/projects/{project_id}/access_controls", body)
        except AuthError as exc:
            if exc.status != 403:
                raise
            raise ConflictError(
                f"PostHog refused to remove {person.email} from {project} ({exc.status}: "
                f"{getattr(exc, 'detail', '') or exc.message}). The API key offboard uses (POSTHOG_API_KEY) must "
                f"belong to an admin of that project (any organization admin or owner is one), or remove them by "
                f"hand ({_ACCESS_UI}), then press Retry.", status=exc.status, vendor=self.name,
            ) from None

    def _invite(self, params: dict[str, Any]) -> StepOutcome:
        email, role = params["email"], _wanted_role(params)
        level = posthog_level(role)
        if level is None:
            raise UnsupportedError(f"{_NO_READ_ONLY} Invite {email} as a member and limit their access by hand.",
                                   vendor=self.name)
        org_name = self._org_label()
        member = self._find_person(email)
        if member is not None:
            current = role_for_level(member.level).value
            return StepOutcome(f"{email} is already a member of {org_name} (as {current}); no invitation sent",
                               {"status": "already_member", "invite_id": None, "role": current})
        pending = self._live_invites(email)
        if pending:  # POSTing again would replace it and email them a second time
            return _already_invited(email, org_name, pending[0], role)
        created = self._post_invite(email, role, level, params)
        created_id = str(created.get("id") or "") if isinstance(created, dict) else ""
        found = [str(i.get("id")) for i in self._live_invites(email)
                 if int(i.get("level") or 0) == level and (not created_id or str(i.get("id")) == created_id)]
        if not found:
            raise VendorError(
                f"PostHog accepted the invitation of {email}, yet it is not among the pending invitations as "
                f"{role.value}. Check {_MEMBERS_UI} → Pending invites, then press Retry.", vendor=self.name,
            )
        invite_id = found[0]
        projects = ", ".join(str(p) for p in params.get("projects") or [])
        suffix = f", with access to project(s) {projects}" if projects else ""
        return StepOutcome(f"Invited {email} to {org_name} as {role.value}{suffix}",
                           {"status": "invited", "invite_id": invite_id, "role": role.value})

    def _post_invite(self, email: str, role: Role, level: int, params: dict[str, Any]) -> Any:
        body: dict[str, Any] = {
            "target_email": email,
            "level": level,
            "private_project_access": [{"id": _project_key(p), "level": "member"}
                                       for p in params.get("projects") or []],
        }
        if params.get("message"):
            body["message"] = str(params["message"])
        try:
            # A POST: VendorHTTP retries it only when it certainly did not reach PostHog, so a lost
            # answer never sends a second invitation; a rerun of the step finds the first one.
            return self._http.send_json("POST", self._org_path("invites/"), body)
        except (PostHogRejection, PostHogRefusal) as exc:
            hint = (" Only an owner can invite an owner, and an admin at most an admin: check whose key "
                    "POSTHOG_API_KEY is." if exc.status == 403 else "")
            raise VendorError(
                f"PostHog refused to invite {email} as {role.value}: {exc.detail.rstrip('.')}.{hint} Or invite "
                f"them by hand ({_MEMBERS_UI} → Invite team member), then press Retry.", status=exc.status,
                vendor=self.name,
            ) from None

    def _cancel_invite(self, params: dict[str, Any]) -> StepOutcome:
        email = params["email"]
        org_name = self._org_label()
        pending = self._live_invites(email)
        if not pending:
            return StepOutcome(f"{email} has no pending invitation to {org_name}; nothing to cancel",
                               {"cancelled": [], "changed": False})
        for invite in pending:
            with contextlib.suppress(NotFoundError):  # cancelled by someone else meanwhile: just as good
                self._http.send_json("DELETE", self._org_path(f"invites/{invite['id']}/"))
        if self._live_invites(email):
            raise VendorError(
                f"{email} still has a pending invitation to {org_name} in PostHog. Cancel it by hand "
                f"({_MEMBERS_UI} → Pending invites → ⋯ → Cancel invite), then press Retry.", vendor=self.name,
            )
        return StepOutcome(f"Cancelled {email}'s pending invitation to {org_name}",
                           {"cancelled": [str(i["id"]) for i in pending], "changed": True})

    # -- lookups -----------------------------------------------------------------------------------
    def _find_person(self, email: str) -> _Person | None:
        raw = self._find_member(email)
        return _Person.from_member(raw) if raw is not None else None

    def _member_for(self, email: str, purpose: str) -> _Person:
        person = self._find_person(email)
        if person is None:
            raise NotFoundError(f"{email} is not a member of {self._org_label()} in PostHog, so offboard cannot "
                                f"{purpose}. Invite them instead, or check the address.", vendor=self.name)
        return person

    def _live_invites(self, email: str) -> list[dict[str, Any]]:
        """Pending, unexpired invitations for `email` (the list has no email filter, so all are read)."""
        wanted = email.strip().casefold()
        return [i for i in self._list(self._org_path("invites/"), {})
                if str(i.get("target_email", "")).casefold() == wanted and not i.get("is_expired")]

    def _find_member(self, email: str) -> dict[str, Any] | None:
        return self._lookup(email).raw

    def _lookup(self, email: str) -> _Lookup:
        """The membership for `email`, case-insensitively, guests included.

        `?email=` is an exact (case-sensitive) match, so "Alice@Corp.com" stored in PostHog would be
        missed by "alice@corp.com": a miss falls back to `?search=` and compares case-folded, because
        reporting "not a member" wrongly would skip a removal. For the same reason a miss is trusted
        only from a server that has shown it lists guests when asked (`_lists_guests`).
        """
        wanted = email.strip().casefold()
        for params in ({"email": email.strip()}, {"search": email.strip()}):
            for raw in self._list(self._org_path("members/"), {**params, **_WITH_GUESTS}):
                if "is_guest" in raw:  # a server that marks guests lists them when asked
                    self._guests_listed = True
                if str((raw.get("user") or {}).get("email", "")).casefold() == wanted:
                    return _Lookup(raw)
        if self._lists_guests():
            return _Lookup()
        return _Lookup(unseen=(
            f"{email} is not in PostHog's member list, but this PostHog did not show that it lists guests "
            "(older versions ignore include_guests and mark no member as a guest), so offboard cannot tell a "
            "guest from someone who is not there"))

    def _lists_guests(self) -> bool:
        """Whether the member list answers `include_guests=true`: its rows carry `is_guest` (a server that
        knows guests), or it lists more people when asked to include them. Only a yes is remembered: a
        server is upgraded, never downgraded, while offboard runs."""
        if self._guests_listed:
            return True
        probe = {"limit": "1"}
        with_guests = self._http.get_json(self._org_path("members/"), params={**probe, **_WITH_GUESTS})
        rows = with_guests.get("results") or [] if isinstance(with_guests, dict) else []
        if any(isinstance(r, dict) and "is_guest" in r for r in rows):
            self._guests_listed = True
            return True
        without = self._http.get_json(self._org_path("members/"), params=probe)
        counts = [int(page.get("count") or 0) if isinstance(page, dict) else 0 for page in (with_guests, without)]
        self._guests_listed = counts[0] > counts[1]
        return self._guests_listed

    def _has_another_owner(self, person: _Person) -> bool:
        # No level filter or ordering exists, so this reads the member list until it meets another owner.
        return any(
            int(raw.get("level", 0)) >= OWNER_LEVEL and raw["user"]["uuid"] != person.user_uuid
            for raw in self._list(self._org_path("members/"), {})
        )

    def _projects(self) -> list[dict[str, Any]]:
        return list(self._list(self._org_path("projects/"), {}))

    def _organization(self) -> dict[str, Any]:
        org = self._http.get_json(self._org_path(""))
        if isinstance(org, dict) and org.get("name"):
            self._org_name = str(org["name"])
        return org if isinstance(org, dict) else {}

    def _org_label(self, member: Member | None = None) -> str:
        if member and member.extra.get("organization_name"):
            return str(member.extra["organization_name"])
        if self._org_name is None:
            try:
                self._organization()
            except VendorError:
                return "the PostHog organization"
        return self._org_name or "the PostHog organization"

    def _pending_invites_by(self, person: _Person) -> list[str]:
        return [
            str(i.get("target_email")) for i in self._list(self._org_path("invites/"), {})
            if (i.get("created_by") or {}).get("uuid") == person.user_uuid and not i.get("is_expired")
        ]

    def _key_owner_uuid(self) -> str | None:
        """The user uuid of the key's owner (needs user:read; raises AuthError without it). Kept once known,
        as the key cannot change hands; a failure or an odd answer is asked again next time."""
        if self._key_owner is None:
            me = self._http.get_json("/api/users/@me/")
            self._key_owner = str(me["uuid"]) if isinstance(me, dict) and me.get("uuid") else None
        return self._key_owner

    def _optional(self, call: Callable[[], Any], what: str, warnings: list[str]) -> Any:
        """A detail worth having but not worth failing the assessment for (e.g. a missing scope)."""
        try:
            return call()
        except (AuthError, NotFoundError) as exc:
            warnings.append(f"Could not check {what}: {exc.message}")
            return None

    def _list(self, path: str, params: dict[str, str]) -> Iterable[dict[str, Any]]:
        if self.page_size:
            params = {**params, "limit": str(self.page_size)}
        return self._http.paginate(path, params=params)

    def _org_path(self, suffix: str) -> str:
        return f"/api/organizations/{self.organization_id}/{suffix}"

    def _member_path(self, person: _Person, suffix: str = "") -> str:
        return self._org_path(f"members/{person.user_uuid}/{suffix}")


def _explained(exc: VendorError) -> VendorError:
    """A rejected key is the one failure people can fix themselves: say how."""
    if isinstance(exc, AuthError) and exc.status == 401:
        return AuthError(exc.message + _KEY_HINT, status=exc.status, vendor=exc.vendor)
    return exc


def _restricted(dashboard: dict[str, Any]) -> bool:
    return int(dashboard.get("restriction_level") or EDITABLE) >= RESTRICTED


def _wanted_role(params: Mapping[str, Any]) -> Role:
    try:
        return Role(str(params.get("role") or ""))
    except ValueError:
        raise VendorError(f"The PostHog step names no role offboard knows ({params.get('role')!r})",
                          vendor=VENDOR) from None


def _project_key(project_id: Any) -> Any:
    """PostHog's project (team) ids are integers; the steps carry them as text."""
    text = str(project_id).strip()
    return int(text) if text.isdigit() else text


def _already_invited(email: str, org_name: str, invite: dict[str, Any], wanted: Role) -> StepOutcome:
    invited_as = role_for_level(int(invite.get("level") or MEMBER_LEVEL))
    note = "" if invited_as == wanted else (f"; it is for {invited_as.value}, not {wanted.value}: cancel it and "
                                            "invite again to change that")
    return StepOutcome(f"{email} already has a pending invitation to {org_name}{note}; not sent again",
                       {"status": "already_invited", "invite_id": str(invite.get("id") or ""),
                        "role": invited_as.value})


# -- plans ------------------------------------------------------------------------------------------------
def _removal_steps(email: str, org_name: str) -> list[PlannedStep]:
    return [
        PlannedStep("remove_member", f"Remove from {org_name}", {"email": email}),
        PlannedStep("verify_removed", "Check they are gone", {"email": email}),
    ]


def _handover_step(member: Member, assets: tuple[Asset, ...], new_owner: str | None) -> PlannedStep:
    restricted = sum(1 for a in assets if a.restricted)
    title = (f"Hand over {len(assets)} assets to {new_owner}" if new_owner
             else f"Make {len(assets)} assets available to the project")
    if restricted:
        title += f" (opens {restricted} restricted dashboard{'s' if restricted > 1 else ''})"
    return PlannedStep(
        "handover_assets", title,
        {"email": member.email, "new_owner_email": new_owner, "user_id": member.extra.get("user_id"),
         "user_uuid": member.member_id},
    )


def _manual_steps(member: Member, assets: tuple[Asset, ...], new_owner: str | None) -> list[PlannedStep]:
    successor = new_owner or "the colleague taking over their work"
    steps = [
        _flags_step(member, [a for a in assets if a.kind == "feature_flag"], successor),
        _experiments_step(member, assets, successor),
        _api_keys_step(member, successor),
        _admin_review_step(member),
    ]
    return [s for s in steps if s is not None]


def _bullets(lines: Iterable[str]) -> str:
    return "\n".join(f"• {line}" for line in lines)


def _flags_step(member: Member, flags: list[Asset], successor: str) -> PlannedStep | None:
    if not flags:
        return None
    active = set(member.extra.get("active_feature_flags", ()))
    items = _bullets(f"{f.name} ({'active' if f.asset_id in active else 'inactive'}) in {f.project_name}: {f.url}"
                     for f in flags)
    return PlannedStep(
        "manual", f"Document and reassign {len(flags)} feature flag{'s' if len(flags) > 1 else ''}", manual=True,
        key="posthog_feature_flags",
        instructions=(
            f"{member.email} created these feature flags. They keep working after the removal, but nobody "
            f"will know what they are for:\n{items}\n"
            f"In PostHog open Feature Flags and filter by creator: {member.name}. For each flag, write its purpose "
            f"and status into its description, name {successor} as its new owner there, and make sure nothing "
            f"breaks once {member.email} is gone."
        ),
    )


def _experiments_step(member: Member, assets: tuple[Asset, ...], successor: str) -> PlannedStep | None:
    running_ids = set(member.extra.get("running_experiments", ()))
    running = [a for a in assets if a.kind == "experiment" and a.asset_id in running_ids]
    if not running:
        return None
    started = member.extra.get("experiment_start_dates", {})
    items = _bullets(f"{e.name} in {e.project_name}, running since {_day(started.get(e.asset_id))}: {e.url}"
                     for e in running)
    return PlannedStep(
        "manual", f"Reassign {len(running)} running experiment{'s' if len(running) > 1 else ''}", manual=True,
        key="posthog_running_experiments",
        instructions=(
            f"{member.email} runs these experiments:\n{items}\n"
            f"In PostHog open Experiments and each experiment above: write down its status and results so far, "
            f"note {successor} as its new owner in the description, and tell them it is theirs now."
        ),
    )


def _api_keys_step(member: Member, successor: str) -> PlannedStep:
    """Always by hand: PostHog shows nobody another member's personal API keys, not even an owner, and its
    `scoped_api_keys` route refuses every personal API key (403), so offboard cannot know whether they have any."""
    email = member.email
    return PlannedStep(
        "manual", "Replace their personal API keys in integrations", manual=True, key="posthog_personal_api_keys",
        params={CREDENTIALS_PARAM: [f"PostHog personal API keys of {email} (PostHog shows them to nobody else)"]},
        instructions=(
            f"PostHog shows nobody else {email}'s personal API keys (not even an owner, and not to offboard's key), "
            f"so offboard cannot tell whether they have any. Any they have stop working the moment {email} is "
            f"removed. Before the removal, ask {email} to open Settings → User → Personal API keys and tell you "
            f"each key's name and where it is used. Then check the scripts, scheduled jobs, CI secrets and "
            f"integrations (data exports, Zapier, notebooks, dashboards in other tools) that call PostHog's API "
            f"with a personal key (it starts with phx_) for keys {email} created. Replace each with a key of "
            f"{successor} (Settings → User → Personal API keys → Create personal API key) or with the project API "
            f"key where that is enough, then check each integration still works."
        ),
    )


def _leave_roles_step(email: str, project_id: str, project: str, level: str, roles: list[str]) -> PlannedStep:
    names = ", ".join(roles)
    several = len(roles) > 1
    return PlannedStep(
        "manual", f"Take {email} out of role{'s' if several else ''} {names} (it gives them {project})", manual=True,
        key=f"posthog_leave_role_{project_id}",
        params={"email": email, "project_id": project_id, "project_name": project, "roles": roles},
        instructions=(
            f"{email} can open {project} ({level}) through the role{'s' if several else ''} {names}. In PostHog the "
            f"highest of a member's own access and their roles' access wins, so their own “No access” does not end "
            f"it. In PostHog open {_ROLES_UI}, open {names} and remove {email} from {'each' if several else 'it'}; "
            f"note what else the role gives them, as they lose that too. Or, if nobody in the role should open "
            f"{project}, set the role's access to “No access” in {project}'s Settings → Project → Access control. "
            "Then mark this done: offboard checks the project is gone."
        ),
    )


def _check_roles_step(email: str, project_id: str, project: str) -> PlannedStep:
    return PlannedStep(
        "manual", f"Check no role gives {email} {project}", manual=True, key=f"posthog_check_roles_{project_id}",
        params={"email": email, "project_id": project_id, "project_name": project},
        instructions=(
            f"offboard could not read which roles {email} is in, and {project} gives access to some roles. In "
            f"PostHog open {project}'s Settings → Project → Access control and note the roles with access; then in "
            f"{_ROLES_UI} take {email} out of each of them (or set the role's access to “No access”). Then mark "
            "this done: offboard checks the project is gone."
        ),
    )


def _admin_review_step(member: Member) -> PlannedStep | None:
    if member.role not in (Role.ADMIN, Role.OWNER):
        return None
    projects = ", ".join(p.project_name for p in member.projects) or "every project"
    invites = member.extra.get("pending_invites_sent") or []
    invite_text = (f" Pending invites they sent: {', '.join(invites)}; cancel any nobody asked for."
                   if invites else " They have no pending invites.")
    return PlannedStep(
        "manual", f"Review {member.name}'s recent changes as {member.role.value}", manual=True,
        key="posthog_admin_review",
        instructions=(
            f"{member.email} was an {member.role.value} of {member.extra.get('organization_name', 'the organization')}"
            f". In each project ({projects}) open Activity and filter by {member.name}: check their changes of the "
            f"last 90 days for anything unexpected (project settings, access, data pipelines). Then open "
            f"{_MEMBERS_UI} and check the invites.{invite_text}"
        ),
    )


def _unassessed_review_step(email: str, reason: str) -> PlannedStep:
    return PlannedStep(
        "manual", "Look for what they created in PostHog", manual=True, key="posthog_review_unassessed",
        instructions=(
            f"PostHog could not be checked when this was planned ({reason}), so offboard did not look for what "
            f"{email} created. In PostHog open Dashboards, Feature Flags and Experiments and filter by creator "
            f"{email}: make their restricted dashboards editable by everyone in the project (dashboard → Share → "
            f"“Everyone in the project can edit”), document their feature flags, and hand running experiments to "
            f"their new owner. If they were an admin or owner, also review their recent changes under Activity."
        ),
    )


# -- manual steps for every capability (also what ManualVendor uses when PostHog is set up as manual-only) ----
# Click paths quoted from the PostHog runbook (/work/shared/runbooks/posthog-remove-user.txt): Settings →
# Organization → Members, ⋯ → Remove member, Settings → Project → Members → Remove from project, Dashboards /
# Feature Flags filtered by creator, Settings → User → Personal API keys. UNVERIFIED (the runbook does not name
# them; today's PostHog UI as best known): "Invite team member", "Pending invites" and "Cancel invite", the
# project's "Access control" page with "No access", and the dashboard Share options' wording.


def manual_step(capability: Capability, email: str, details: Mapping[str, Any]) -> PlannedStep:
    """What a person does in PostHog's UI instead of `capability` for `email` (click paths from the
    PostHog runbook). `details` may hold "role", "project_id", "project_name", "projects",
    "new_owner_email", "reason" and "after_invite"."""
    return build_manual_step(VENDOR, _MANUAL_TEXTS, capability, email, details)


def _find_text(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    why = f"offboard did not look in PostHog: {details['reason']}. " if details.get("reason") else ""
    if details.get("guest"):
        return ("Check whether they are a guest in PostHog",
                f"{why}In PostHog open {_MEMBERS_UI} and search for {email}, guests included; also open each "
                "project's Settings → Project → Access control and look for them. If they are there, remove them "
                f"({_remove_member_text(email, details)[1]}); if not, there is nothing to do in PostHog.")
    return ("Check whether they are in PostHog",
            f"{why}In PostHog open {_MEMBERS_UI} and search for {email}. Look under Pending invites too. If they "
            "are there, note their level (Member, Admin or Owner) and do the other PostHog steps; if not, there is "
            "nothing to do in PostHog.")


def _list_text(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    return ("List PostHog's members by hand",
            f"In PostHog open {_MEMBERS_UI}: it lists every member with their level (Member, Admin or Owner), "
            "when they joined and when they last logged in, and below it the pending invites. Copy what is needed, "
            f"starting with {email}'s row (or their pending invite).")


def _role_text(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    return (f"Check {email}'s role in PostHog",
            f"In PostHog open {_MEMBERS_UI} and find {email}: their level (Member, Admin or Owner) is on their row.")


def _last_login_text(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    return (f"Check when {email} last logged in to PostHog",
            f"In PostHog open {_MEMBERS_UI} and find {email}: their row says when they last logged in.")


def _projects_text(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    return (f"Check which PostHog projects {email} can open",
            f"In PostHog open {_MEMBERS_UI} and find {email}: an Admin or Owner can open every project. For a "
            "Member, switch to each project (the project switcher, top left) and open Settings → Project → Access "
            "control: the project's default access and any entry for them say whether they can open it.")


def _assets_text(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    return (f"List what {email} created in PostHog",
            "In each PostHog project open Dashboards, Product analytics (insights), Feature Flags, Experiments, "
            f"Cohorts and Notebooks, and filter each list by creator {email}. Note what they made, and which "
            "dashboards are restricted (only their collaborators can edit them).")


def _handover_text(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    successor = details.get("new_owner_email") or "the colleague taking over their work"
    return (f"Hand over {email}'s PostHog work to {successor}",
            f"PostHog keeps everything {email} created after they leave, but nobody can change who created it. "
            f"In each project: open Dashboards, filter by creator {email}, and for each dashboard still needed "
            "make it editable by the team (dashboard → Share → “Everyone in the project can edit”) or add "
            f"{successor} as an editor; delete the obsolete ones. Open Feature Flags, filter by creator, write each "
            f"flag's purpose and status into its description and name {successor} as its owner there. Open "
            f"Experiments: for each running one, note its status and results so far and tell {successor} it is "
            f"theirs. Finally find the scripts and integrations that use {email}'s personal API keys and replace "
            f"them with a key of {successor} (Settings → User → Personal API keys), or with the project API key "
            "where that is enough.")


def _change_role_text(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    role = str(details.get("role") or "")
    start = f"Once {email} has accepted the PostHog invitation, in" if details.get("after_invite") else "In"
    if role == Role.READ_ONLY.value:
        return (f"Give {email} the nearest PostHog has to read-only",
                f"{_NO_READ_ONLY} Do the nearest instead. {start} PostHog open {_MEMBERS_UI}, find {email} and set "
                "their level to Member (an Admin or Owner can change everything). Then, in each project (Settings → "
                "Project → Access control), give them “Member” access only where they need it and “No access” "
                "elsewhere. Members can still edit a project's shared dashboards and insights, so restrict the "
                "dashboards they must not change (dashboard → Share → “Only those invited to this dashboard can "
                "edit”).")
    level = role.capitalize() or "the agreed level"
    return (f"Make {email} {role or 'the agreed role'} in PostHog",
            f"{start} PostHog open {_MEMBERS_UI}, find {email} and change their level to {level}. Only an owner "
            "can make someone an owner or change an owner's level, nobody can change their own level, and the "
            "organization must keep an owner: make someone else an owner before demoting the last one.")


def _remove_from_project_text(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    project = details.get("project_name") or details.get("project_id") or "the project"
    return (f"Remove {email} from PostHog project {project}",
            f"In PostHog switch to {project} (the project switcher, top left), open Settings → Project → Access "
            f"control, find {email} and set their access to “No access” (older PostHog: Settings → Project → "
            "Members → ⋯ → Remove from project). They stay in the organization and keep their other projects. "
            "An organization Admin or Owner can open every project whatever is set there: lower them to Member "
            f"first ({_MEMBERS_UI}).")


def _remove_member_text(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    if details.get("guest"):
        # UNVERIFIED click path: the runbook predates guests; a guest's access is their project access.
        return (f"Remove guest {email} from PostHog",
                f"{email} is a guest: PostHog's API does not let offboard remove a guest. In PostHog open "
                f"{_MEMBERS_UI}, show guests, find {email}, click ⋯ → Remove member and confirm. If the list does not "
                f"show them, open each project they can open (Settings → Project → Access control) and remove their "
                "access there.")
    return (f"Remove {email} from PostHog",
            f"In PostHog open {_MEMBERS_UI}, find {email}, click ⋯ → Remove member and confirm. PostHog does not "
            "remove an owner: an owner first changes their level to Admin (make someone else an owner if they are "
            "the only one). The removal is immediate and cannot be undone; their dashboards, insights and flags "
            "stay with the project.")


def _verify_text(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    return (f"Check {email} is gone from PostHog",
            f"In PostHog open {_MEMBERS_UI} and search for {email}: they must not be listed, nor under Pending "
            "invites. If they still are, remove them (⋯ → Remove member) or cancel the invitation.")


def _invite_text(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    role = str(details.get("role") or Role.MEMBER.value)
    level = "Member" if role == Role.READ_ONLY.value else role.capitalize()
    projects = ", ".join(str(p) for p in details.get("projects") or [])
    where = f" Under project access, give them access to: {projects}." if projects else ""
    read_only = (f" {_NO_READ_ONLY} Invite them as Member, then limit what they can change (see the role "
                 "step).") if role == Role.READ_ONLY.value else ""
    return (f"Invite {email} to PostHog as {role}",
            f"In PostHog open {_MEMBERS_UI} → Invite team member, enter {email} and choose the level {level}."
            f"{where} Send the invitation. Only an owner can invite an owner.{read_only}")


def _cancel_invite_text(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    return (f"Cancel {email}'s PostHog invitation",
            f"In PostHog open {_MEMBERS_UI}, find {email} under Pending invites, click ⋯ → Cancel invite and "
            "confirm.")


_MANUAL_TEXTS: dict[Capability, ManualText] = {
    Capability.FIND_MEMBER: _find_text,
    Capability.LIST_MEMBERS: _list_text,
    Capability.READ_ROLE: _role_text,
    Capability.READ_LAST_LOGIN: _last_login_text,
    Capability.READ_PROJECTS: _projects_text,
    Capability.LIST_ASSETS: _assets_text,
    Capability.HANDOVER_ASSETS: _handover_text,
    Capability.CHANGE_ROLE: _change_role_text,
    Capability.REMOVE_FROM_PROJECT: _remove_from_project_text,
    Capability.REMOVE_MEMBER: _remove_member_text,
    Capability.VERIFY_REMOVAL: _verify_text,
    Capability.INVITE: _invite_text,
    Capability.CANCEL_INVITE: _cancel_invite_text,
}
