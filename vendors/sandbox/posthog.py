"""An in-memory PostHog that speaks the API shapes of /work/shared/vendor-apis.md over real HTTP.

Used by the connector tests and the offline demo. It reproduces what makes PostHog tricky rather
than everything it does: the identifier mix (member paths take the user uuid, insight/flag/cohort
filters the int user id, notebooks the uuid, access controls the membership id), the guards on
levels (an owner cannot be deleted until demoted, an admin cannot touch an owner), DRF limit/offset
pagination with absolute `next` links, PostHog's error and 429 bodies, and dashboards that cannot be
filtered by creator (unknown query parameters are ignored, as DRF does, so a client that forgets to
filter on `created_by.id` itself gets everybody's dashboards).

`PostHogSandbox()` seeds the demo world described in `_seed_demo`; `PostHogSandbox(seed=False)`
starts with just the key owner so a test can build its own. Every helper takes the state lock, so
tests may call them while the server is answering. It implements `ContractSandbox`, so the connector
contract suite (tests/contract) runs against it too.

Project access works as PostHog enforces it (`posthog/rbac/user_access_control.py`,
`get_user_access_level`): organization admins and owners open every project; for a member, the highest
of their own row and their roles' rows decides; with neither, the project's "everyone" row
(`organization_member: null, role: null`; a private project is one whose everyone row is "none"); with no
everyone row either, PostHog's fixed system default (`FIXED_DEFAULT_ACCESS`, which the list reports as
`default_access_level`: it is never the project's own setting). Roles (`/roles/`) list their members.

Guests: memberships marked `is_guest` are left out of the member list unless `?include_guests=true`, and
the member detail routes answer 404 for them. `honours_include_guests = False` imitates an older server
that ignores the parameter (and marks no row `is_guest`), the case a client cannot tell from absence.

Personal API keys: `members/{uuid}/scoped_api_keys/` declares no scope, so PostHog answers every personal
API key there with 403; a key may read only itself (`/api/personal_api_keys/@current/`), any scopes.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from vendors.base import Role
from vendors.http import RetryPolicy
from vendors.posthog import PostHogVendor
from vendors.roles import common_role, vendor_role
from vendors.sandbox.contract import Seat
from vendors.sandbox.server import Fault, LoopbackServer, Request, Response

SANDBOX_API_KEY = "phx_sandbox_it_ops_personal_key_00000000000000000"
REJECTED_API_KEY = "phx_sandbox_never_issued_key_000000000000000000000"  # the sandbox answers it with 401
KEY_OWNER_EMAIL = "it-ops@corp.com"
ORG_NAME = "Corp"
_NAMESPACE = uuid.UUID("5b0c6a4e-8f0e-4a8e-9a57-6a1f3c2d9e10")
ORG_ID = str(uuid.uuid5(_NAMESPACE, "organization:corp"))

PRODUCTION_ID, STAGING_ID, FINANCE_ID = 1001, 1002, 1003
# PostHog's limits per personal API key (posthog/rate_limit.py: BurstRateThrottle, SustainedRateThrottle), as
# (calls, seconds); `PostHogSandbox(key_rate_limits=POSTHOG_RATE_LIMITS)` enforces them. Off by default, so
# suites that share one sandbox do not spend one key's hour on each other.
POSTHOG_RATE_LIMITS = ((480, 60.0), (4800, 3600.0))

MEMBER, ADMIN, OWNER = 1, 8, 15
LEVELS = (MEMBER, ADMIN, OWNER)
EDITABLE, RESTRICTED = 21, 37  # dashboard restriction levels
ACCESS_LEVELS = ("none", "member", "admin")  # lowest first, as PostHog orders them
# `default_access_level("project")` in current source ("member" in older versions): what a member gets where
# a project has no row for them, their roles or everyone.
FIXED_DEFAULT_ACCESS = "admin"
EVERYONE = ""  # the subject key of a project's everyone row
INVITE_LIFETIME = timedelta(days=3)
FIRST_USER_ID = 41  # so the seeded alice is user 42, as in the reference's examples
GENERATED_MEMBERS = 292  # member001..member292@corp.com: with the named people, 300 active members

# URL segment → asset kind. The creator filter each list understands is in `_CREATOR_FILTERS`.
ASSET_PATHS = {
    "insights": "insight",
    "feature_flags": "feature_flag",
    "cohorts": "cohort",
    "notebooks": "notebook",
    "dashboards": "dashboard",
    "experiments": "experiment",
}

_ORG = r"/api/organizations/(?P<org>[^/]+)"
_PROJECT = r"/api/projects/(?P<pid>\d+)"
_UUID = r"(?P<user_uuid>[0-9a-fA-F-]{36})"


# -- the world --------------------------------------------------------------------------------------
@dataclass
class SandboxUser:
    id: int
    uuid: str
    email: str
    first_name: str
    last_name: str = ""
    is_active: bool = True

    def basic(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "uuid": self.uuid,
            "distinct_id": f"distinct-{self.uuid[:8]}",
            "first_name": self.first_name,
            "last_name": self.last_name,
            "email": self.email,
            "is_email_verified": True,
        }


@dataclass
class SandboxMembership:
    id: str
    user: SandboxUser
    level: int
    joined_at: datetime
    updated_at: datetime
    last_login: datetime | None
    is_2fa_enabled: bool = False
    personal_keys: list[dict[str, Any]] = field(default_factory=list)  # {"name", "last_used_at": datetime|None}
    is_guest: bool = False

    @property
    def email(self) -> str:
        return self.user.email

    def to_json(self, *, marks_guests: bool = True) -> dict[str, Any]:
        guest = {"is_guest": self.is_guest} if marks_guests else {}
        return {
            "id": self.id,
            **guest,  # UNVERIFIED: that the serializer shows the membership's is_guest field
            "level": self.level,
            "joined_at": _iso(self.joined_at),
            "updated_at": _iso(self.updated_at),
            "is_2fa_enabled": self.is_2fa_enabled,
            "has_social_auth": False,
            "last_login": _iso(self.last_login),
            "user": self.user.basic(),
        }


@dataclass
class SandboxProject:
    id: int
    name: str
    access_control: bool = False


@dataclass
class SandboxAccessControl:
    """One row of a project's access list: for a member, for a role, or (neither) for everyone."""

    project_id: int
    membership_id: str | None
    role_id: str | None
    access_level: str
    created_by: int | None
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        # AccessControlSerializer's fields (ee/api/rbac/access_control.py); `created_by` is the user's pk.
        return {
            "access_level": self.access_level,
            "resource": "project",
            "resource_id": str(self.project_id),
            "organization_member": self.membership_id,
            "role": self.role_id,
            "created_by": self.created_by,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.created_at),
        }


@dataclass
class SandboxRole:
    id: str
    name: str
    created_by: SandboxUser
    created_at: datetime
    members: dict[str, tuple[str, datetime]] = field(default_factory=dict)  # user uuid → (role membership id, joined)

    def to_json(self, memberships: dict[str, SandboxMembership], *, marks_guests: bool) -> dict[str, Any]:
        """RoleSerializer: each member is a RoleMembershipSerializer row with the full organization member."""
        rows = []
        for user_uuid, (row_id, joined) in self.members.items():
            membership = memberships.get(user_uuid)
            if membership is None:
                continue
            rows.append({"id": row_id, "role_id": self.id, "organization_member": membership.to_json(
                marks_guests=marks_guests), "user": membership.user.basic(), "joined_at": _iso(joined),
                "updated_at": _iso(joined)})
        return {"id": self.id, "name": self.name, "created_at": _iso(self.created_at),
                "created_by": self.created_by.basic(), "members": rows, "is_default": False}


@dataclass
class SandboxAsset:
    kind: str  # one of ASSET_PATHS' values
    id: int
    project_id: int
    name: str | None
    created_by: SandboxUser
    created_at: datetime
    short_id: str = ""
    key: str = ""  # feature flags
    active: bool = True  # feature flags
    restriction_level: int = EDITABLE  # dashboards
    deleted: bool = False
    derived_name: str | None = None  # insights without a name of their own
    start_date: datetime | None = None  # experiments
    end_date: datetime | None = None  # experiments

    def to_json(self) -> dict[str, Any]:
        common = {"id": self.id, "created_by": self.created_by.basic(), "created_at": _iso(self.created_at)}
        if self.kind == "insight":
            return {**common, "short_id": self.short_id, "name": self.name, "derived_name": self.derived_name,
                    "saved": True, "deleted": self.deleted}
        if self.kind == "feature_flag":
            return {**common, "key": self.key, "name": self.name or "", "active": self.active,
                    "deleted": self.deleted, "filters": {}}
        if self.kind == "cohort":
            return {**common, "name": self.name, "is_static": False, "deleted": self.deleted}
        if self.kind == "notebook":
            return {**common, "id": str(uuid.uuid5(_NAMESPACE, f"notebook:{self.id}")), "short_id": self.short_id,
                    "title": self.name, "deleted": self.deleted}
        if self.kind == "dashboard":
            return {**common, "name": self.name, "description": "", "pinned": False, "tags": [],
                    "restriction_level": self.restriction_level,
                    "effective_restriction_level": self.restriction_level, "deleted": self.deleted}
        if self.kind == "experiment":
            return {**common, "name": self.name, "feature_flag_key": self.key or None,
                    "start_date": _iso(self.start_date), "end_date": _iso(self.end_date), "archived": False}
        raise ValueError(f"unknown asset kind {self.kind}")


@dataclass
class SandboxInvite:
    id: str
    target_email: str
    first_name: str
    level: int
    created_by: SandboxUser
    created_at: datetime
    message: str | None = None
    private_project_access: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self, now: datetime) -> dict[str, Any]:
        return {
            "id": self.id,
            "target_email": self.target_email,
            "first_name": self.first_name,
            "emailing_attempt_made": False,
            "level": self.level,
            "is_expired": now - self.created_at > INVITE_LIFETIME,  # as `PostHogSandbox._expired`
            "created_by": self.created_by.basic(),
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.created_at),
            "message": self.message,
            "private_project_access": self.private_project_access,
        }


@dataclass(frozen=True)
class _ApiKey:
    id: str
    user: SandboxUser
    scopes: frozenset[str]
    created_at: datetime

    def allows(self, scope: str) -> bool:
        if "*" in self.scopes or scope in self.scopes:
            return True
        # A write scope implies read, as in PostHog.
        return scope.endswith(":read") and scope.replace(":read", ":write") in self.scopes


# -- the server -------------------------------------------------------------------------------------
OrgHandler = Callable[[Request, SandboxMembership], Response]
ProjectHandler = Callable[[Request, SandboxMembership, SandboxProject], Response]


class PostHogSandbox(LoopbackServer):
    name = "posthog-sandbox"
    vendor_name = "posthog"

    def __init__(
        self,
        *,
        seed: bool = True,
        page_size: int = 100,
        now: datetime | None = None,
        port: int = 0,
        latency: float = 0.0,
        rate_limit_per_minute: int | None = None,
        key_rate_limits: Sequence[tuple[int, float]] = (),
    ) -> None:
        super().__init__(port=port, latency=latency, rate_limit_per_minute=rate_limit_per_minute)
        self._state = threading.RLock()
        self._default_key_rate_limits = tuple(key_rate_limits)
        self._defaults = (page_size, latency, rate_limit_per_minute)  # what `reset()` returns to
        self.org_id = ORG_ID
        self.org_name = ORG_NAME
        self._register_routes()
        self.reset(seed=seed, page_size=page_size, now=now)

    def reset(self, *, seed: bool = True, page_size: int | None = None, now: datetime | None = None) -> None:
        """Start over with a fresh world (and no faults), keeping the server running. With no
        arguments: the seeded demo world, the page size, latency and rate limit it was built with.

        Lets a test suite share one started server: stopping one takes half a second.
        """
        with self._state:
            default_page_size, self.latency, self.rate_limit_per_minute = self._defaults
            self.reset_key_rate_limits(self._default_key_rate_limits)
            self.page_size = page_size if page_size is not None else default_page_size
            self.now = (now or datetime.now(UTC)).replace(microsecond=0)
            self._users: dict[str, SandboxUser] = {}  # by uuid; users outlive their membership
            self._members: dict[str, SandboxMembership] = {}  # by user uuid
            # The member list as it is served, per (guests shown, newest first): sorted once after a change
            # rather than on every page, so paging through 100,000 members costs a slice a page. Every change
            # to who is listed, or to joining dates, goes through `_members_changed` (a membership's
            # `joined_at`, `is_guest` and its user's `is_active` are only set by the helpers here).
            self._member_lists: dict[tuple[bool, bool], list[SandboxMembership]] = {}
            self._projects: dict[int, SandboxProject] = {}
            # (project id, "member" | "role" | "everyone", membership or role id; EVERYONE for everyone)
            self._access: dict[tuple[int, str, str], SandboxAccessControl] = {}
            self._roles: dict[str, SandboxRole] = {}
            self.honours_include_guests = True
            self._assets: dict[int, SandboxAsset] = {}
            self._invites: dict[str, SandboxInvite] = {}
            self._keys: dict[str, _ApiKey] = {}
            self._next_user_id = FIRST_USER_ID
            self._next_asset_id = 100
            self._next_invite = 1
            # What tests assert on. `received` is written before the answer goes out, unlike the base
            # class's `log`, so it is complete the moment a client call returns.
            self.received: list[tuple[str, str]] = []  # (method, path)
            self.removed_members: list[str] = []
            self.member_list_queries: list[dict[str, list[str]]] = []  # each member-list GET's query, oldest first
            self.delete_counts: Counter[str] = Counter()
            self.level_changes: list[tuple[str, int, int]] = []  # (email, old, new)
            self.restriction_changes: list[tuple[int, int, int]] = []  # (dashboard id, old, new)
            self._writes: Counter[str] = Counter()  # casefolded email → mutating calls about them (`writes_about`)
            if seed:
                self._seed_demo()
            else:
                self.add_member(KEY_OWNER_EMAIL, level=OWNER, first_name="Ivy", last_name="Ops")
                self.issue_key(KEY_OWNER_EMAIL, key=SANDBOX_API_KEY)
        self.clear_faults()
        with self._lock:
            self.log.clear()

    def requests(self, method: str | None = None, path_pattern: str | None = None) -> list[tuple[str, str]]:
        """Requests received so far (including refused and faulted ones), oldest first."""
        with self._state:
            return [
                (m, p) for m, p in self.received
                if (method is None or m == method) and (path_pattern is None or re.search(path_pattern, p))
            ]

    def dispatch(self, request: Request) -> Response | None:
        if not request.path.startswith("/_sandbox/"):
            with self._state:
                self.received.append((request.method, request.path))
        return super().dispatch(request)

    def start(self) -> PostHogSandbox:
        super().start()
        assert self._server is not None
        # The base handler writes headers and body separately; with Nagle on, every keep-alive
        # response then waits ~40 ms for the client's delayed ACK, which makes a connector test slow.
        self._server.RequestHandlerClass.disable_nagle_algorithm = True  # type: ignore[attr-defined]
        return self

    def __enter__(self) -> PostHogSandbox:
        return self.start()

    # -- PostHog's shapes for the base class's hooks -----------------------------------------------
    def throttled(self, retry_after: int) -> Response:
        return Response(429, _throttled_body(retry_after), {"Retry-After": str(retry_after)})

    def not_found(self) -> Response:
        return _error(404, "invalid_request", "not_found", "Not found.")

    def authorize(self, request: Request) -> Response | None:
        token = request.bearer_token
        if not token:
            return _error(401, "authentication_error", "not_authenticated",
                          "Authentication credentials were not provided.")
        with self._state:
            if token not in self._keys:
                return _error(401, "authentication_error", "authentication_failed",
                              "Personal API key found in request Authorization header is invalid.")
        return self._throttle(token)

    # -- PostHog's rate limits, per personal API key ---------------------------------------------------
    def reset_key_rate_limits(self, limits: Sequence[Sequence[float]]) -> None:
        """Limit every personal API key to each (calls, seconds) window, as PostHog's BurstRateThrottle and
        SustainedRateThrottle do (`POSTHOG_RATE_LIMITS`; tests pass small numbers), and forget past calls."""
        with self._state:
            self.key_rate_limits = tuple((int(calls), float(seconds)) for calls, seconds in limits)
            self._key_calls: dict[tuple[str, int, float], deque[float]] = {}

    def _throttle(self, key: str) -> Response | None:
        """DRF's SimpleRateThrottle for each window, checked in turn: a window with room records the call
        (even when another window refuses it, as DRF does), one without names the wait until its oldest
        call leaves it; the 429 carries the longest wait, rounded up, in Retry-After and the detail."""
        if not self.key_rate_limits:
            return None
        now = time.monotonic()
        waits: list[float] = []
        with self._state:
            for calls, seconds in self.key_rate_limits:
                history = self._key_calls.setdefault((key, calls, seconds), deque())
                while history and history[0] <= now - seconds:
                    history.popleft()
                if len(history) >= calls:
                    waits.append(seconds - (now - history[0]))
                else:
                    history.append(now)
        return self.throttled(max(1, math.ceil(max(waits)))) if waits else None

    # -- helpers for tests and the demo --------------------------------------------------------------
    def issue_key(self, email: str, *, scopes: Iterable[str] = ("*",), key: str | None = None) -> str:
        """A personal API key acting as `email`, limited to `scopes` ("dashboard:write", ... or "*")."""
        with self._state:
            user = self._user_by_email(email)
            if user is None:
                raise KeyError(email)
            key = key or f"phx_sandbox_{user.id}_{len(self._keys)}"
            key_id = str(uuid.uuid5(_NAMESPACE, f"key:{key}"))
            self._keys[key] = _ApiKey(key_id, user, frozenset(scopes), self.now)
            return key

    def add_project(
        self, name: str, *, project_id: int | None = None, access_control: bool = False,
        default_access_level: str | None = "member",
    ) -> SandboxProject:
        """`default_access_level` becomes the project's everyone row ("none": a private project); None
        leaves the project without one, so PostHog's fixed default applies."""
        with self._state:
            pid = project_id or max(self._projects, default=PRODUCTION_ID - 1) + 1
            project = SandboxProject(pid, name, access_control)
            self._projects[pid] = project
            self._put_access(pid, "everyone", EVERYONE, default_access_level)
            return project

    def add_member(
        self,
        email: str,
        *,
        level: int = MEMBER,
        first_name: str = "",
        last_name: str = "",
        joined_at: datetime | None = None,
        last_login: datetime | None = None,
        is_active: bool = True,
        is_guest: bool = False,
    ) -> SandboxMembership:
        with self._state:
            if self.member_by_email(email):
                raise ValueError(f"{email} is already a member")
            user = self._user_by_email(email) or self._new_user(email, first_name, last_name)
            user.is_active = is_active
            self._members_changed()
            joined = joined_at or self.now - timedelta(days=1)
            membership = SandboxMembership(
                id=str(uuid.uuid5(_NAMESPACE, f"membership:{email.lower()}")),
                user=user, level=level, joined_at=joined, updated_at=joined, last_login=last_login,
                is_guest=is_guest,
            )
            self._members[user.uuid] = membership
            return membership

    def add_many_members(self, count: int, *, domain: str = "scale.corp.com", stale_every: int = 100) -> None:
        """`count` ordinary members at once, for scale runs (add_member checks each email against
        everyone, which is quadratic). One in `stale_every` last logged in a year ago, the rest yesterday."""
        with self._state:
            self._members_changed()
            for n in range(count):
                user = self._new_user(f"member{n:06d}@{domain}", "", "")
                login = self.now - timedelta(days=365 if n % stale_every == 0 else 1)
                self._members[user.uuid] = SandboxMembership(
                    id=str(uuid.uuid5(_NAMESPACE, f"membership:{user.email}")), user=user, level=MEMBER,
                    joined_at=self.now - timedelta(days=400), updated_at=self.now, last_login=login,
                )

    def add_asset(self, kind: str, *, creator: str, project_id: int = PRODUCTION_ID, name: str | None = None,
                  **fields: Any) -> SandboxAsset:
        """`kind` is "insight", "dashboard", ...; `creator` an email; `fields` any `SandboxAsset` field."""
        with self._state:
            user = self._user_by_email(creator)
            if user is None or kind not in ASSET_PATHS.values() or project_id not in self._projects:
                raise ValueError(f"cannot add {kind} by {creator} in project {project_id}")
            asset_id = self._next_asset_id
            self._next_asset_id += 1
            fields.setdefault("short_id", f"{kind[:2]}{asset_id:06d}")
            fields.setdefault("created_at", self.now - timedelta(days=30))
            asset = SandboxAsset(kind=kind, id=asset_id, project_id=project_id, name=name, created_by=user, **fields)
            self._assets[asset_id] = asset
            return asset

    def add_personal_key(self, email: str, name: str, last_used_at: datetime | None = None) -> None:
        """Metadata of a personal API key the member owns (what `scoped_api_keys` reports)."""
        with self._state:
            self._require_member(email).personal_keys.append({"name": name, "last_used_at": last_used_at})

    def set_access(self, email: str, project_id: int, access_level: str | None) -> None:
        """An explicit project access entry for the member; None removes it."""
        with self._state:
            membership = self._require_member(email)
            self._put_access(project_id, "member", membership.id, access_level)

    def set_everyone_access(self, project_id: int, access_level: str | None) -> None:
        """The project's everyone row ("none" makes it private); None removes it (the fixed default applies)."""
        with self._state:
            self._put_access(project_id, "everyone", EVERYONE, access_level)

    def add_role(self, name: str, *, members: Iterable[str] = ()) -> SandboxRole:
        with self._state:
            creator = self._user_by_email(KEY_OWNER_EMAIL) or next(iter(self._users.values()))
            role = SandboxRole(str(uuid.uuid5(_NAMESPACE, f"role:{name.lower()}")), name, creator,
                               self.now - timedelta(days=90))
            self._roles[role.id] = role
            for email in members:
                self.add_to_role(name, email)
            return role

    def add_to_role(self, role_name: str, email: str) -> None:
        with self._state:
            role, membership = self.role_by_name(role_name), self._require_member(email)
            row_id = str(uuid.uuid5(_NAMESPACE, f"role-membership:{role.id}:{membership.id}"))
            role.members[membership.user.uuid] = (row_id, self.now)

    def remove_from_role(self, role_name: str, email: str) -> None:
        """What a person does in PostHog's UI (Settings → Roles → the role → remove the member)."""
        with self._state:
            self.role_by_name(role_name).members.pop(self._require_member(email).user.uuid, None)

    def set_role_access(self, role_name: str, project_id: int, access_level: str | None) -> None:
        with self._state:
            self._put_access(project_id, "role", self.role_by_name(role_name).id, access_level)

    def role_by_name(self, name: str) -> SandboxRole:
        with self._state:
            return next(r for r in self._roles.values() if r.name == name)

    def remove_by_hand(self, email: str) -> None:
        """A person removes the membership in PostHog's UI (the only way for a guest)."""
        with self._state:
            membership = self._require_member(email)
            self._drop_membership(membership)

    def access_level_of(self, email: str, project_id: int) -> str:
        """The project access PostHog enforces for `email` now."""
        with self._state:
            return self._access_level(self._require_member(email), self._projects[project_id])

    def add_invite(self, email: str, *, level: int = MEMBER, invited_by: str = KEY_OWNER_EMAIL,
                   age: timedelta = timedelta(hours=1), projects: Iterable[int] = ()) -> SandboxInvite:
        """A pending invitation sent `age` ago (older than INVITE_LIFETIME: expired)."""
        with self._state:
            invite = SandboxInvite(
                id=str(uuid.uuid5(_NAMESPACE, f"invite:{self._next_invite}")), target_email=email, first_name="",
                level=level, created_by=self._require_member(invited_by).user, created_at=self.now - age,
                private_project_access=[{"id": pid, "level": "member"} for pid in projects],
            )
            self._next_invite += 1
            self._invites[invite.id] = invite
            return invite

    def invites_for(self, email: str) -> list[SandboxInvite]:
        """Every invitation for `email`, expired ones included."""
        with self._state:
            return [i for i in self._invites.values() if i.target_email.casefold() == email.casefold()]

    def make_sole_owner(self, email: str) -> None:
        """The "only owner" scenario: `email` becomes owner and every other owner an admin.

        The key owner is demoted too, so the API key then acts as an admin (as when a company's
        automation key belongs to an admin, and the person leaving holds the only owner seat).
        """
        with self._state:
            target = self._require_member(email)
            for membership in self._members.values():
                if membership.level == OWNER and membership is not target:
                    membership.level = ADMIN
            target.level = OWNER

    def member_by_email(self, email: str) -> SandboxMembership | None:
        with self._state:
            wanted = email.casefold()
            return next((m for m in self._members.values() if m.email.casefold() == wanted), None)

    def project_by_name(self, name: str) -> SandboxProject:
        with self._state:
            return next(p for p in self._projects.values() if p.name == name)

    def assets_of(self, email: str, kind: str | None = None, *, include_deleted: bool = False) -> list[SandboxAsset]:
        with self._state:
            return [
                a for a in self._assets.values()
                if a.created_by.email.casefold() == email.casefold()
                and (kind is None or a.kind == kind) and (include_deleted or not a.deleted)
            ]

    def asset(self, asset_id: int) -> SandboxAsset:
        with self._state:
            return self._assets[asset_id]

    def delete_count(self, email: str) -> int:
        """How many DELETEs of this member succeeded (a correct connector makes at most one)."""
        with self._state:
            return self.delete_counts[email.casefold()]

    def throttle(self, seconds: int, *, times: int | None = 1, header: bool = True,
                 path_pattern: str | None = None) -> Fault:
        """Answer the next `times` calls with PostHog's 429; `header=False` imitates older PostHog,
        which put the wait only in the detail text."""
        headers = {"Retry-After": str(seconds)} if header else {}
        fault = Fault("status", 429, _throttled_body(seconds), headers, path_pattern=path_pattern, times=times)
        self.inject(fault)
        return fault

    # -- ContractSandbox: the connector contract suite reads and sets state through these -------------
    def connector(self, policy: RetryPolicy, *, page_size: int | None = None,
                  valid_credentials: bool = True) -> PostHogVendor:
        key = SANDBOX_API_KEY if valid_credentials else REJECTED_API_KEY
        return PostHogVendor(key, self.url, ORG_ID, page_size=page_size, policy=policy)

    def seed_person(self, email: str, role: Role, project_ids: Sequence[str] = ()) -> None:
        """A joined member at `role`'s level (read-only, which PostHog lacks, becomes a member). A member
        opens exactly `project_ids`: an entry "member" where the project is private, "none" where it is
        open and not listed. Admins and owners open every project, whatever `project_ids` says."""
        with self._state:
            level = int(vendor_role(self.vendor_name, role) or MEMBER)
            membership = self.member_by_email(email) or self.add_member(email, level=level)
            membership.level, membership.user.is_active = level, True
            self._members_changed()
            for key in [k for k in self._access if k[1:] == ("member", membership.id)]:
                del self._access[key]
            for invite in [i for i in self._invites.values() if i.target_email.casefold() == email.casefold()]:
                del self._invites[invite.id]  # joining uses up the invitation
            if level < ADMIN:
                self._grant_exactly(membership, {int(p) for p in project_ids})

    def _grant_exactly(self, membership: SandboxMembership, project_ids: set[int]) -> None:
        unknown = project_ids - set(self._projects)
        if unknown:
            raise ValueError(f"no such projects: {sorted(unknown)}")
        for project in self._projects.values():
            listed = project.id in project_ids
            everyone = self._everyone_level(project)
            if listed and everyone == "none":
                self._put_access(project.id, "member", membership.id, "member")
            elif not listed and everyone != "none":
                self._put_access(project.id, "member", membership.id, "none")

    def seed_assets(self, email: str) -> int:
        """Two dashboards (one restricted), two feature flags (one off) and two insights, in the first
        project they can open."""
        with self._state:
            membership = self._require_member(email)
            project_id = next((p.id for p in sorted(self._projects.values(), key=lambda p: p.id)
                               if self._access_level(membership, p) != "none"), PRODUCTION_ID)
            slug = re.sub(r"[^a-z0-9]+", "-", email.split("@")[0].lower()).strip("-")
            made = [
                self.add_asset("dashboard", creator=email, project_id=project_id, name=f"{slug} overview"),
                self.add_asset("dashboard", creator=email, project_id=project_id, name=f"{slug} private notes",
                               restriction_level=RESTRICTED),
                self.add_asset("feature_flag", creator=email, project_id=project_id, key=f"{slug}-beta"),
                self.add_asset("feature_flag", creator=email, project_id=project_id, key=f"{slug}-old",
                               active=False),
                self.add_asset("insight", creator=email, project_id=project_id, name=f"{slug} weekly signups"),
                self.add_asset("insight", creator=email, project_id=project_id, name=None,
                               derived_name="Pageview count"),
            ]
            return len(made)

    def seat(self, email: str) -> Seat | None:
        """A member's seat; else, for a live invitation, a pending one whose projects are those the
        invitation grants (PostHog's `private_project_access`)."""
        with self._state:
            membership = self.member_by_email(email)
            if membership is not None and membership.user.is_active:
                projects = frozenset(str(p.id) for p in self._projects.values()
                                     if self._access_level(membership, p) != "none")
                return Seat(common_role(self.vendor_name, str(membership.level)), projects)
            invite = self._live_invite(email)
            if invite is None:
                return None
            granted = frozenset(str(item["id"]) for item in invite.private_project_access)
            return Seat(common_role(self.vendor_name, str(invite.level)), granted, pending=True)

    def project_ids(self) -> list[str]:
        with self._state:
            return [str(pid) for pid in sorted(self._projects)]

    def member_count(self) -> int:
        """Active members, as PostHog's member list counts them. Unlike SCIM vendors, PostHog keeps
        invitations apart from members (its own list, no membership until accepted), so a pending
        invitee is no member here, nor in the connector's `iter_members`; `seat` reports them pending."""
        with self._state:
            return sum(1 for m in self._members.values() if m.user.is_active)

    def writes_about(self, email: str) -> int:
        """Mutating calls about `email` that reached the API: PATCH/DELETE of their membership (by user
        uuid), access-control PUTs for their membership, invitation POSTs/DELETEs for their address.
        Refused calls count (a call a connector should not have made is still one); calls a `Fault`
        answered never reached the API and do not."""
        with self._state:
            return self._writes[email.casefold()]

    def _live_invite(self, email: str) -> SandboxInvite | None:
        return next((i for i in self._invites.values()
                     if i.target_email.casefold() == email.casefold() and not self._expired(i)), None)

    def _expired(self, invite: SandboxInvite) -> bool:
        return self.now - invite.created_at > INVITE_LIFETIME

    # -- routes ------------------------------------------------------------------------------------
    def _register_routes(self) -> None:
        self.route("GET", r"/api/users/@me/?", self._guarded("user:read", self._get_me))
        self.route("GET", r"/api/personal_api_keys/@current/?", self._current_key)
        self.route("GET", r"/api/personal_api_keys/?", self._keys_refused)
        self._org_route("GET", "/roles/?", "organization:read", self._list_roles)
        self._org_route("GET", "/?", "organization:read", self._get_org)
        self._org_route("GET", "/members/?", "organization_member:read", self._list_members)
        self._org_route("PATCH", f"/members/{_UUID}/?", "organization_member:write", self._patch_member)
        self._org_route("DELETE", f"/members/{_UUID}/?", "organization_member:write", self._delete_member)
        # The action declares no required scopes, so APIScopePermission refuses every personal API key.
        self.route("GET", _ORG + f"/members/{_UUID}/scoped_api_keys/?", self._member_keys)
        # Our choice of path: PostHog serves the org's projects here; each item is reduced to the
        # fields the connector reads.
        self._org_route("GET", "/projects/?", "project:read", self._list_projects)
        self._org_route("GET", "/invites/?", "organization_member:read", self._list_invites)
        self._org_route("POST", "/invites/?", "organization_member:write", self._create_invite)
        self._org_route("DELETE", r"/invites/(?P<invite_id>[^/]+)/?", "organization_member:write",
                        self._delete_invite)
        self._project_route("GET", "/access_controls/?", "access_control:read", self._get_access)
        self._project_route("PUT", "/access_controls/?", "access_control:write", self._put_access_control)
        for segment, kind in ASSET_PATHS.items():
            self._project_route("GET", f"/{segment}/?", f"{kind}:read", self._asset_lister(kind))
        self._project_route("GET", r"/dashboards/(?P<asset_id>\d+)/?", "dashboard:read", self._get_dashboard)
        self._project_route("PATCH", r"/dashboards/(?P<asset_id>\d+)/?", "dashboard:write", self._patch_dashboard)

    def _guarded(self, scope: str, handler: Callable[[Request, _ApiKey], Response]) -> Callable[[Request], Response]:
        def run(request: Request) -> Response:
            with self._state:
                key = self._keys[request.bearer_token or ""]  # `authorize` already refused unknown keys
                if not key.allows(scope):
                    return _error(403, "authentication_error", "permission_denied",
                                  f"API key missing required scope '{scope}'")
                return handler(request, key)

        return run

    def _org_route(self, method: str, suffix: str, scope: str, handler: OrgHandler) -> None:
        def run(request: Request, key: _ApiKey) -> Response:
            if request.params["org"] not in (self.org_id, "@current"):
                return self.not_found()
            actor = self._members.get(key.user.uuid)
            if actor is None:
                return _error(403, "authentication_error", "permission_denied",
                              "You do not have access to this organization.")
            return handler(request, actor)

        self.route(method, _ORG + suffix, self._guarded(scope, run))

    def _project_route(self, method: str, suffix: str, scope: str, handler: ProjectHandler) -> None:
        def run(request: Request, key: _ApiKey) -> Response:
            project = self._projects.get(int(request.params["pid"]))
            if project is None:
                return self.not_found()
            actor = self._members.get(key.user.uuid)
            if actor is None or self._access_level(actor, project) == "none":
                return _error(403, "authentication_error", "permission_denied", "You don't have access to the project.")
            return handler(request, actor, project)

        self.route(method, _PROJECT + suffix, self._guarded(scope, run))

    # -- users and organization --------------------------------------------------------------------
    def _current_key(self, request: Request) -> Response:
        """PersonalAPIKeySerializer for the key itself (PersonalApiKeySelfAccessPermission: retrieve only)."""
        with self._state:
            key = self._keys[request.bearer_token or ""]
            token = request.bearer_token or ""
            return Response(200, {
                "id": key.id, "label": f"offboard ({key.user.email})", "value": None,
                "mask_value": f"{token[:4]}...{token[-4:]}", "created_at": _iso(key.created_at),
                "last_used_at": _iso(self.now), "user_id": key.user.id, "scopes": sorted(key.scopes),
                "scoped_teams": [], "scoped_organizations": [], "last_rolled_at": None,
            })

    def _keys_refused(self, request: Request) -> Response:
        return _denied("This action does not support Personal API Key access")

    def _list_roles(self, request: Request, actor: SandboxMembership) -> Response:
        roles = sorted(self._roles.values(), key=lambda r: r.created_at)
        return self._page(request, [r.to_json(self._members, marks_guests=self.honours_include_guests)
                                    for r in roles])

    def _get_me(self, request: Request, key: _ApiKey) -> Response:
        return Response(200, {**key.user.basic(), "organization": {"id": self.org_id, "name": self.org_name}})

    def _get_org(self, request: Request, actor: SandboxMembership) -> Response:
        return Response(200, {"id": self.org_id, "name": self.org_name, "slug": self.org_name.lower(),
                              "membership_level": actor.level})

    def _list_members(self, request: Request, actor: SandboxMembership) -> Response:
        self.member_list_queries.append(dict(request.query))
        with_guests = self.honours_include_guests and request.arg("include_guests") == "true"
        # PostHog orders only by joining (an index serves it); any other `order` gets the default.
        newest_first = request.arg("order") != "joined_at"
        members = self._member_list(with_guests, newest_first)
        email = request.arg("email")
        if email is not None:  # exact, case-sensitive, as a Django `exact` lookup on Postgres
            members = [m for m in members if m.email == email]
        search = (request.arg("search") or "").casefold()
        if search:
            members = [m for m in members if search in f"{m.email} {m.user.first_name} {m.user.last_name}".casefold()]
        return self._page(request, members, lambda m: m.to_json(marks_guests=self.honours_include_guests))

    def _member_list(self, with_guests: bool, newest_first: bool) -> list[SandboxMembership]:
        """Active members (guests only `with_guests`) by joining date, ties in the order they were added (a
        stable sort, as before this was kept); built on first need after a change, then shared by every page.
        Callers filter into new lists and never change this one."""
        key = (with_guests, newest_first)
        listed = self._member_lists.get(key)
        if listed is None:
            listed = [m for m in self._members.values() if m.user.is_active and (with_guests or not m.is_guest)]
            listed.sort(key=lambda m: m.joined_at, reverse=newest_first)
            self._member_lists[key] = listed
        return listed

    def _members_changed(self) -> None:
        self._member_lists.clear()

    def _detail_target(self, request: Request) -> SandboxMembership | None:
        """The member a detail route is about; a guest is not found there."""
        target = self._members.get(request.params["user_uuid"])
        return None if target is None or target.is_guest else target

    def _patch_member(self, request: Request, actor: SandboxMembership) -> Response:
        self._count_write_for_user(request.params["user_uuid"])
        target = self._detail_target(request)
        if target is None:
            return self.not_found()
        body = request.json() or {}
        if "level" not in body:  # only `level` is writable; anything else is ignored
            return Response(200, target.to_json(marks_guests=self.honours_include_guests))
        level = body["level"]
        refusal = self._refuse_level_change(actor, target, level)
        if refusal:
            return refusal
        self.level_changes.append((target.email, target.level, level))
        target.level, target.updated_at = level, self.now
        return Response(200, target.to_json(marks_guests=self.honours_include_guests))

    def _refuse_level_change(self, actor: SandboxMembership, target: SandboxMembership, level: Any) -> Response | None:
        if target is actor:
            return _denied("You can't change your own access level.")
        if actor.level < ADMIN:
            return _denied("You do not have permission to perform this action.")
        if target.level > actor.level:
            return _denied("You can only edit others with level lower or equal to you.")
        if level not in LEVELS:
            return _error(400, "validation_error", "invalid_choice", f'"{level}" is not a valid choice.', "level")
        if level > actor.level:
            return _denied("You can only change access level of others to lower or equal to your current one.")
        return None

    def _delete_member(self, request: Request, actor: SandboxMembership) -> Response:
        self._count_write_for_user(request.params["user_uuid"])
        target = self._detail_target(request)
        if target is None:
            return self.not_found()
        if target is not actor:
            if actor.level < ADMIN:
                return _denied("You do not have permission to perform this action.")
            if target.level > actor.level:
                return _denied("You can only edit others with level lower or equal to you.")
        if target.level == OWNER:  # even with other owners: PostHog wants a demotion first
            return _error(400, "validation_error", "invalid_input", "Cannot leave the organization as its owner!")
        self._drop_membership(target)
        self.delete_counts[target.email.casefold()] += 1
        return Response(204)

    def _drop_membership(self, target: SandboxMembership) -> None:
        del self._members[target.user.uuid]
        self._members_changed()
        for key in [k for k in self._access if k[1:] == ("member", target.id)]:
            del self._access[key]
        for role in self._roles.values():
            role.members.pop(target.user.uuid, None)
        self.removed_members.append(target.email)

    def _member_keys(self, request: Request) -> Response:
        # The seeded keys' metadata (`add_personal_key`) exists, but no personal API key can see it.
        return _denied("This action does not support personal API key access")

    def _list_projects(self, request: Request, actor: SandboxMembership) -> Response:
        visible = [p for p in sorted(self._projects.values(), key=lambda p: p.id)
                   if self._access_level(actor, p) != "none"]
        return self._page(request, [{"id": p.id, "name": p.name, "access_control": p.access_control}
                                    for p in visible])

    # -- invites -----------------------------------------------------------------------------------
    def _list_invites(self, request: Request, actor: SandboxMembership) -> Response:
        invites = sorted(self._invites.values(), key=lambda i: i.created_at, reverse=True)
        return self._page(request, [i.to_json(self.now) for i in invites])

    def _create_invite(self, request: Request, actor: SandboxMembership) -> Response:
        body = request.json() or {}
        email = (body.get("target_email") or "").strip()
        if not email:
            return _error(400, "validation_error", "required", "This field is required.", "target_email")
        self._count_write(email)
        level = body.get("level", MEMBER)
        if level not in LEVELS:
            return _error(400, "validation_error", "invalid_choice", f'"{level}" is not a valid choice.', "level")
        if level > actor.level:
            return _denied("You cannot invite a user with a higher permission level than your own.")
        access = body.get("private_project_access") or []
        refusal = self._refuse_project_access(actor, access)
        if refusal:
            return refusal
        if self.member_by_email(email):
            return _error(400, "validation_error", "invalid_input",
                          "A user with this email address already belongs to the organization.")
        for stale in [i for i in self._invites.values() if i.target_email.casefold() == email.casefold()]:
            del self._invites[stale.id]  # resending replaces the earlier invite
        invite = SandboxInvite(
            id=str(uuid.uuid5(_NAMESPACE, f"invite:{self._next_invite}")), target_email=email,
            first_name=body.get("first_name") or "", level=level, created_by=actor.user, created_at=self.now,
            message=body.get("message"), private_project_access=list(access),
        )
        self._next_invite += 1
        self._invites[invite.id] = invite
        return Response(201, invite.to_json(self.now))

    def _refuse_project_access(self, actor: SandboxMembership, access: Any) -> Response | None:
        """PostHog's checks of `private_project_access`, with its words (posthog/models/organization_invite.py)."""
        def invalid(detail: str) -> Response:
            return _error(400, "validation_error", "invalid", detail, "private_project_access")

        if not isinstance(access, list):
            return invalid("The field must be a list of dictionaries.")
        for item in access:
            if not isinstance(item, dict):
                return invalid("Each item in the list must be a dictionary.")
            if "id" not in item or "level" not in item:
                return invalid('Each dictionary must contain "id" and "level" keys.')
            if not isinstance(item["id"], int) or isinstance(item["id"], bool):
                return invalid('The "id" field must be an integer.')
            if item["level"] not in ("member", "admin"):
                return invalid('The "level" field must be a valid access level.')
            project = self._projects.get(item["id"])
            # A member may invite to a private project only as an admin of it; org admins anywhere.
            if project is None or (project.access_control and self._access_level(actor, project) != "admin"):
                return invalid("Project does not exist on this organization, or it is private and you do not "
                               "have access to it.")
        return None

    def _delete_invite(self, request: Request, actor: SandboxMembership) -> Response:
        invite = self._invites.pop(request.params["invite_id"], None)
        if invite is None:
            return self.not_found()
        self._count_write(invite.target_email)
        return Response(204)

    # -- project access ----------------------------------------------------------------------------
    def _access_level(self, membership: SandboxMembership, project: SandboxProject) -> str:
        """`UserAccessControl.get_user_access_level` for a project: organization admins open everything;
        else the highest of the member's own row and their roles' rows; else the everyone row; else the
        fixed default."""
        if membership.level >= ADMIN:
            return "admin"
        roles = [r.id for r in self._roles.values() if membership.user.uuid in r.members]
        specific = [self._access[key].access_level for key in
                    [(project.id, "member", membership.id), *((project.id, "role", rid) for rid in roles)]
                    if key in self._access]
        if specific:
            return max(specific, key=ACCESS_LEVELS.index)
        return self._everyone_level(project)

    def _everyone_level(self, project: SandboxProject) -> str:
        everyone = self._access.get((project.id, "everyone", EVERYONE))
        return everyone.access_level if everyone else FIXED_DEFAULT_ACCESS

    def _get_access(self, request: Request, actor: SandboxMembership, project: SandboxProject) -> Response:
        entries = [e.to_json() for key, e in sorted(self._access.items()) if key[0] == project.id]
        return Response(200, {
            "access_controls": entries,
            "available_access_levels": list(ACCESS_LEVELS),
            "default_access_level": FIXED_DEFAULT_ACCESS,
            "minimum_access_level": "none",
            "maximum_access_level": "admin",
            "user_access_level": self._access_level(actor, project),
            "user_can_edit_access_levels": self._access_level(actor, project) == "admin",
        })

    def _put_access_control(self, request: Request, actor: SandboxMembership, project: SandboxProject) -> Response:
        body = request.json() or {}
        member_id = body.get("organization_member")
        role_id = body.get("role")
        target = next((m for m in self._members.values() if m.id == member_id), None)
        if target is not None:
            self._count_write(target.email)
        if self._access_level(actor, project) != "admin":
            return _denied("Must be admin to modify project permissions.")
        level = body.get("access_level")
        if level is not None and level not in ACCESS_LEVELS:
            return _error(400, "validation_error", "invalid_input",
                          f"Invalid access level. Must be one of: {', '.join(ACCESS_LEVELS)}", "access_level")
        if member_id and role_id:
            return _error(400, "validation_error", "invalid_input",
                          "You can not scope an access control to both a member and a role.")
        if role_id:
            if role_id not in self._roles:
                return _error(400, "validation_error", "does_not_exist",
                              f'Invalid pk "{role_id}" - object does not exist.', "role")
            entry = self._put_access(project.id, "role", role_id, level, actor.user.id)
            return Response(204) if entry is None else Response(200, entry.to_json())
        if member_id is None:  # no member and no role: the project's everyone row (null deletes it)
            entry = self._put_access(project.id, "everyone", EVERYONE, level, actor.user.id)
            project.access_control = level == "none"
            return Response(204) if entry is None else Response(200, entry.to_json())
        if not _is_uuid(member_id):
            return _error(400, "validation_error", "invalid", "Invalid organization member id. Use the 'id' field "
                          "from the /api/organizations/<organization_id>/members/ endpoint.", "organization_member")
        if target is None:
            return _error(400, "validation_error", "does_not_exist",
                          f'Invalid pk "{member_id}" - object does not exist.', "organization_member")
        # An entry for an organization admin or owner is accepted and stored, but changes nothing:
        # PostHog lets them open every project whatever the project says (see `_access_level`).
        entry = self._put_access(project.id, "member", member_id, level, actor.user.id)
        return Response(204) if entry is None else Response(200, entry.to_json())

    def _put_access(self, project_id: int, kind: str, subject: str, level: str | None,
                    created_by: int | None = None) -> SandboxAccessControl | None:
        """Upsert (or, for None, delete) the row for a member, a role or everyone (`kind`)."""
        key = (project_id, kind, subject)
        if level is None:
            self._access.pop(key, None)
            return None
        entry = SandboxAccessControl(
            project_id=project_id, membership_id=subject if kind == "member" else None,
            role_id=subject if kind == "role" else None, access_level=level, created_by=created_by,
            created_at=self.now,
        )
        self._access[key] = entry
        return entry

    # -- assets ------------------------------------------------------------------------------------
    def _asset_lister(self, kind: str) -> ProjectHandler:
        def run(request: Request, actor: SandboxMembership, project: SandboxProject) -> Response:
            assets = [a for a in sorted(self._assets.values(), key=lambda a: a.id)
                      if a.kind == kind and a.project_id == project.id and not a.deleted]
            creator_filter = _CREATOR_FILTERS.get(kind)
            if creator_filter:
                filtered = creator_filter(request, assets)
                if isinstance(filtered, Response):
                    return filtered
                assets = filtered
            return self._page(request, [a.to_json() for a in assets])

        return run

    def _dashboard(self, request: Request, project: SandboxProject) -> SandboxAsset | None:
        asset = self._assets.get(int(request.params["asset_id"]))
        ok = asset and asset.kind == "dashboard" and asset.project_id == project.id and not asset.deleted
        return asset if ok else None

    def _get_dashboard(self, request: Request, actor: SandboxMembership, project: SandboxProject) -> Response:
        dashboard = self._dashboard(request, project)
        return Response(200, dashboard.to_json()) if dashboard else self.not_found()

    def _patch_dashboard(self, request: Request, actor: SandboxMembership, project: SandboxProject) -> Response:
        dashboard = self._dashboard(request, project)
        if dashboard is None:
            return self.not_found()
        body = request.json() or {}
        may_restrict = dashboard.created_by.uuid == actor.user.uuid or self._access_level(actor, project) == "admin"
        if "restriction_level" in body:
            level = body["restriction_level"]
            if level not in (EDITABLE, RESTRICTED):
                return _error(400, "validation_error", "invalid_choice", f'"{level}" is not a valid choice.',
                              "restriction_level")
            if not may_restrict:
                return _denied("Only the dashboard owner and project admins have the restriction rights required "
                               "to change the dashboard's restriction level.")
            if level != dashboard.restriction_level:
                self.restriction_changes.append((dashboard.id, dashboard.restriction_level, level))
            dashboard.restriction_level = level
        if "name" in body:
            dashboard.name = body["name"]
        if body.get("deleted"):
            dashboard.deleted = True
        return Response(200, dashboard.to_json())

    # -- pagination --------------------------------------------------------------------------------
    def _page(self, request: Request, items: list[Any], to_json: Callable[[Any], Any] = lambda item: item) -> Response:
        """DRF's LimitOffsetPagination: bad numbers fall back to the defaults rather than failing.
        Only the page's own items go through `to_json`, so long lists stay cheap to page through."""
        limit = _positive_int(request.arg("limit"), self.page_size) or self.page_size
        offset = _positive_int(request.arg("offset"), 0)
        base = f"http://{request.headers.get('host', f'127.0.0.1:{self.port}')}{request.path}"
        return Response(200, {
            "count": len(items),
            "next": _page_link(base, request, limit, offset + limit) if offset + limit < len(items) else None,
            "previous": _page_link(base, request, limit, max(0, offset - limit)) if offset > 0 else None,
            "results": [to_json(item) for item in items[offset:offset + limit]],
        })

    # -- internals ---------------------------------------------------------------------------------
    def _count_write(self, email: str) -> None:
        """A mutating call about `email` reached the API (past faults, auth and scopes), accepted or refused."""
        self._writes[email.casefold()] += 1

    def _count_write_for_user(self, user_uuid: str) -> None:
        user = self._users.get(user_uuid)
        if user is not None:
            self._count_write(user.email)

    def _user_by_email(self, email: str) -> SandboxUser | None:
        return next((u for u in self._users.values() if u.email.casefold() == email.casefold()), None)

    def _new_user(self, email: str, first_name: str, last_name: str) -> SandboxUser:
        user = SandboxUser(
            id=self._next_user_id, uuid=str(uuid.uuid5(_NAMESPACE, f"user:{email.lower()}")), email=email,
            first_name=first_name or email.split("@")[0].split(".")[0].capitalize(), last_name=last_name,
        )
        self._next_user_id += 1
        self._users[user.uuid] = user
        return user

    def _require_member(self, email: str) -> SandboxMembership:
        membership = self.member_by_email(email)
        if membership is None:
            raise KeyError(f"{email} is not a member")
        return membership

    # -- the demo world ----------------------------------------------------------------------------
    def _seed_demo(self) -> None:
        """Org "Corp": projects Production, Staging and the private Finance; 300 active members.

        it-ops@corp.com   owner (15), holds SANDBOX_API_KEY
        alice@corp.com    admin (8), user id 42; owns 3 dashboards (1 restricted), 4 insights, 1 feature
                          flag, 1 cohort, 2 experiments (1 running), 1 notebook; 2 personal API keys (which no
                          personal API key can list);
                          sent 1 pending invite
        bob@corp.com      member (1), the usual new owner; owns an insight and a flag
        carol@corp.com    owner (15) beside it-ops; owns a restricted dashboard
        dave@corp.com     member (1), no assets, last login 200 days ago
        Erin.Ng@Corp.com  member (1), mixed-case email; Finance admin, Staging none (explicit)
        frank@corp.com    member (1), never logged in
        grace@corp.com    member (1), Finance member, last login 95 days ago
        + 292 more members (member001..member292@corp.com, see `_seed_crowd`), so 300 active members,
        and an inactive ghost@corp.com (never listed)
        """
        self.add_project("Production", project_id=PRODUCTION_ID)
        self.add_project("Staging", project_id=STAGING_ID)
        self.add_project("Finance", project_id=FINANCE_ID, access_control=True, default_access_level="none")
        self._seed_people()
        self._seed_alice_assets()
        self._seed_other_assets()

    def _seed_people(self) -> None:
        def days_ago(days: float) -> datetime:
            return self.now - timedelta(days=days)

        people = [  # email, level, first, last, joined days ago, last login days ago
            (KEY_OWNER_EMAIL, OWNER, "Ivy", "Ops", 900, 0.5),
            ("alice@corp.com", ADMIN, "Alice", "Anders", 700, 2),
            ("bob@corp.com", MEMBER, "Bob", "Baker", 600, 1),
            ("carol@corp.com", OWNER, "Carol", "Chen", 800, 30),
            ("dave@corp.com", MEMBER, "Dave", "Diaz", 500, 200),
            ("Erin.Ng@Corp.com", MEMBER, "Erin", "Ng", 300, 10),
            ("frank@corp.com", MEMBER, "Frank", "Fischer", 20, None),
            ("grace@corp.com", MEMBER, "Grace", "Green", 400, 95),
        ]
        for email, level, first, last, joined, login in people:
            self.add_member(email, level=level, first_name=first, last_name=last, joined_at=days_ago(joined),
                            last_login=None if login is None else days_ago(login))
        self.issue_key(KEY_OWNER_EMAIL, key=SANDBOX_API_KEY)
        self._seed_crowd(days_ago)
        self.add_member("ghost@corp.com", first_name="Ghost", joined_at=days_ago(1000), is_active=False)
        self.set_access("Erin.Ng@Corp.com", FINANCE_ID, "admin")
        self.set_access("Erin.Ng@Corp.com", STAGING_ID, "none")
        self.set_access("grace@corp.com", FINANCE_ID, "member")
        self.add_personal_key("alice@corp.com", "Zapier export", self.now - timedelta(days=1))
        self.add_personal_key("alice@corp.com", "Local notebook script", self.now - timedelta(days=40))
        alice = self._require_member("alice@corp.com")
        invite = SandboxInvite(
            id=str(uuid.uuid5(_NAMESPACE, "invite:seeded")), target_email="contractor@agency.example",
            first_name="Casey", level=MEMBER, created_by=alice.user, created_at=self.now - timedelta(days=1),
        )
        self._invites[invite.id] = invite

    def _seed_crowd(self, days_ago: Callable[[float], datetime]) -> None:
        """The rest of the organization, so lists span pages: every 11th an admin, every 5th member also
        in Finance, every 9th member shut out of Staging, every 17th never logged in."""
        for n in range(1, GENERATED_MEMBERS + 1):
            email = f"member{n:03d}@corp.com"
            level = ADMIN if n % 11 == 0 else MEMBER
            self.add_member(email, level=level, first_name=f"Member{n:03d}", last_name="Corp",
                            joined_at=days_ago(3 + n * 2.5),
                            last_login=None if n % 17 == 0 else days_ago((n * 7) % 400 + 0.5))
            if level == MEMBER and n % 5 == 0:
                self.set_access(email, FINANCE_ID, "member")
            if level == MEMBER and n % 9 == 0:
                self.set_access(email, STAGING_ID, "none")
            if n % 20 == 0:
                self.add_asset("insight", creator=email, project_id=STAGING_ID, name=f"Member{n:03d}'s funnel")

    def _seed_alice_assets(self) -> None:
        alice = "alice@corp.com"
        self.add_asset("dashboard", creator=alice, name="Growth KPIs")
        self.add_asset("dashboard", creator=alice, name="Alice's scratchpad", restriction_level=RESTRICTED)
        self.add_asset("dashboard", creator=alice, name="Old launch dashboard", deleted=True)
        self.add_asset("dashboard", creator=alice, project_id=STAGING_ID, name="Release health")
        self.add_asset("insight", creator=alice, name="Weekly active users")
        self.add_asset("insight", creator=alice, name=None, derived_name="Pageview count")
        self.add_asset("insight", creator=alice, project_id=STAGING_ID, name="Error rate")
        self.add_asset("insight", creator=alice, project_id=FINANCE_ID, name="Revenue by plan")
        self.add_asset("feature_flag", creator=alice, name="New checkout flow", key="new-checkout")
        self.add_asset("cohort", creator=alice, name="Power users")
        self.add_asset("experiment", creator=alice, name="Checkout redesign", key="new-checkout",
                       start_date=self.now - timedelta(days=10))
        self.add_asset("experiment", creator=alice, project_id=STAGING_ID, name="Pricing page test",
                       start_date=self.now - timedelta(days=60), end_date=self.now - timedelta(days=30))
        self.add_asset("notebook", creator=alice, name="Q3 research notes", short_id="q3NoTeS1")

    def _seed_other_assets(self) -> None:
        self.add_asset("dashboard", creator="carol@corp.com", name="Board metrics", restriction_level=RESTRICTED)
        self.add_asset("insight", creator="bob@corp.com", project_id=STAGING_ID, name="Retention by cohort")
        self.add_asset("feature_flag", creator="bob@corp.com", name="Dark mode", key="dark-mode", active=False)
        self.add_asset("insight", creator="Erin.Ng@Corp.com", project_id=FINANCE_ID, name="Cash runway")
        self.add_asset("cohort", creator="bob@corp.com", name="Churned customers")
        self.add_asset("notebook", creator="bob@corp.com", name="Bob's notes")
        self.add_asset("experiment", creator="carol@corp.com", name="Onboarding emails",
                       start_date=self.now - timedelta(days=5))


# -- creator filters, exactly as PostHog's lists take them -----------------------------------------------
Filtered = list[SandboxAsset] | Response


def _by_user_ids(request: Request, assets: list[SandboxAsset]) -> Filtered:
    raw = request.arg("created_by")  # insights: a JSON array of int user ids, `?created_by=[42]`
    if raw is None:
        return assets
    try:
        ids = json.loads(raw)
        wanted = {int(i) for i in (ids if isinstance(ids, list) else [ids])}
    except (ValueError, TypeError):
        return _error(400, "validation_error", "invalid_input", "created_by must be a JSON list of user ids.",
                      "created_by")
    return [a for a in assets if a.created_by.id in wanted]


def _by_user_id(request: Request, assets: list[SandboxAsset]) -> Filtered:
    raw = request.arg("created_by_id")  # flags, cohorts (and, UNVERIFIED, experiments): one int user id
    if raw is None:
        return assets
    if not raw.isdigit():
        return _error(400, "validation_error", "invalid_input", "A valid integer is required.", "created_by_id")
    return [a for a in assets if a.created_by.id == int(raw)]


def _by_user_uuid(request: Request, assets: list[SandboxAsset]) -> Filtered:
    raw = request.arg("created_by")  # notebooks: the user uuid
    return assets if raw is None else [a for a in assets if a.created_by.uuid == raw]


_CREATOR_FILTERS: dict[str, Callable[[Request, list[SandboxAsset]], Filtered]] = {
    "insight": _by_user_ids,
    "feature_flag": _by_user_id,
    "cohort": _by_user_id,
    "notebook": _by_user_uuid,
    # UNVERIFIED: the reference only says experiments filter "on created_by". We take the flag/cohort
    # form (`created_by_id=<int>`); the connector also filters client side, so it is right either way.
    "experiment": _by_user_id,
    # dashboards: none. The parameter is ignored, so the client must filter on created_by.id itself.
}


# -- PostHog's bodies -----------------------------------------------------------------------------------
def _error(status: int, type_: str, code: str, detail: str, attr: str | None = None) -> Response:
    return Response(status, {"type": type_, "code": code, "detail": detail, "attr": attr})


def _denied(detail: str) -> Response:
    return _error(403, "authentication_error", "permission_denied", detail)


def _throttled_body(seconds: int) -> dict[str, Any]:
    # DRF's Throttled detail, singular for one second as its ngettext has it.
    unit = "second" if seconds == 1 else "seconds"
    return {"type": "throttled_error", "code": "throttled",
            "detail": f"Request was throttled. Expected available in {seconds} {unit}.", "attr": None}


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return isinstance(value, str)


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def _positive_int(raw: str | None, default: int) -> int:
    try:
        value = int(raw) if raw is not None else default
    except ValueError:
        return default
    return value if value >= 0 else default


def _page_link(base: str, request: Request, limit: int, offset: int) -> str:
    query = [(k, v) for k, values in request.query.items() if k not in ("limit", "offset") for v in values]
    query.append(("limit", str(limit)))
    if offset:  # DRF leaves `offset` out of the link to the first page
        query.append(("offset", str(offset)))
    return f"{base}?{urlencode(query)}"
