"""An in-memory Mixpanel (SCIM under `/api/app/scim/v2` + the service-account API) over real HTTP.

What makes Mixpanel particular (see /work/shared/vendor-apis.md and vendors/mixpanel.py's sources):
SCIM sees only users whose email is on the organization's verified claimed domains (`VERIFIED_DOMAINS`).
A member on another domain (`CONTRACTOR`, at agency.com) is a member of the organization, with a seat,
yet SCIM lists, filters and gets nobody of that name, and a SCIM create for such an address is refused
with 400. SCIM Groups are Mixpanel **Teams**: the sandbox keeps the org role and projects each Team
gives (the product has them), but, as Mixpanel, SCIM shows a Team's name and members only, never its
role or projects. `active: false` deactivates. The service-account API
(`/api/app/organizations/{orgId}/service-accounts`) uses HTTP Basic auth, answers `{"results": …,
"status": "ok"}` or `{"error": "…", "status": "error"}`, and shows accounts as the documented
`ServiceAccountRead`: `creator` (and `user`) are integer Mixpanel user ids.

Mixpanel documents neither its SCIM shapes nor its pagination: the sandbox follows RFC 7644
(`startIndex`/`count`), and each guess is marked UNVERIFIED where it is made.

Mixpanel's rules it keeps (UNVERIFIED as SCIM behaviour): the organization keeps at least one active
Owner (a deactivation, deletion or Team change that would leave none is refused); only an Owner gives
the Owner role, and the SCIM token acts with an org **Admin**'s rights (`token_role`), so adding anyone
to a Team that carries the Owner role is refused with 403.

A person's org role is the highest one their Teams carry, Member when none (as SCIM creates users);
their projects are those their Teams give. It implements `ContractSandbox`
(vendors/sandbox/contract.py).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from vendors.base import Role
from vendors.http import RetryPolicy
from vendors.mixpanel import MixpanelVendor
from vendors.roles import common_role, vendor_role
from vendors.sandbox.contract import Seat
from vendors.sandbox.scim import ScimGroup, ScimSandbox, ScimUser, filler_people, scim_error
from vendors.sandbox.server import Request, Response
from vendors.scim import name_from_email

SANDBOX_SCIM_TOKEN = "mp_scim_sandbox_token_000000000000000"
REJECTED_SCIM_TOKEN = "mp_scim_revoked_token_000000000000000"
ORG_ID = 4242
SA_USERNAME = "offboard.1a2b3c.mp-service-account"
SA_SECRET = "mp_sa_sandbox_secret_0000000000000000"
REJECTED_SA_SECRET = "mp_sa_rotated_secret_0000000000000000"
VERIFIED_DOMAINS = ("corp.com",)
FILLER_COUNT = 250
PROJECTS = {101: "Web App", 102: "Mobile", 103: "Finance"}
OWNER_TEAM_ROLE = "owner"
DEACTIVATED = "former.staff@corp.com"  # listed with active:false, as Mixpanel keeps deactivated users
CONTRACTOR = "pat.contractor@agency.com"  # a member off the verified domains: invisible to SCIM
# The access a Team made by `seed_person` gives on each project, by the org role it carries.
PROJECT_LEVEL = {Role.OWNER: "owner", Role.ADMIN: "admin", Role.MEMBER: "analyst", Role.READ_ONLY: "consumer"}
_RANKED = (Role.READ_ONLY, Role.MEMBER, Role.ADMIN, Role.OWNER)
DEMO_PEOPLE = {  # email → (given, family)
    "it-ops@corp.com": ("Ivy", "Ops"),
    "alice@corp.com": ("Alice", "Anders"),
    "bob@corp.com": ("Bob", "Brown"),
    "carol@corp.com": ("Carol", "Chen"),
    "dave@corp.com": ("Dave", "Diaz"),
}
_SA = r"/api/app/organizations/(?P<org>\d+)/service-accounts"
OFFBOARD_USER_ID = 4000001  # the Mixpanel user id behind offboard's own service account


def on_verified_domain(email: str) -> bool:
    return email.strip().rpartition("@")[2].casefold() in VERIFIED_DOMAINS


class MixpanelSandbox(ScimSandbox):
    name = "mixpanel-sandbox"
    vendor_name = "mixpanel"
    token_role = "admin"  # UNVERIFIED: the SCIM token acts with an org Admin's rights
    base_path = "/api/app/scim/v2"
    page_size_param = "count"  # UNVERIFIED: RFC 7644's name
    max_page_size = 100  # UNVERIFIED
    token = SANDBOX_SCIM_TOKEN
    group_created_status = 201

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.route("GET", _SA, self._list_service_accounts)
        self.route("POST", _SA, self._create_service_account)
        self.route("GET", _SA + r"/(?P<sa>\d+)", self._get_service_account)
        self.route("DELETE", _SA + r"/(?P<sa>\d+)", self._delete_service_account)

    def reset(self, *, seed: bool = True, page_size: int | None = None) -> None:
        with self._state:
            self.service_accounts: dict[int, dict[str, Any]] = {}
            self._next_sa = 9001
            # Members off the verified domains, by case-folded email: in the organization, never in SCIM.
            self.outside: dict[str, ScimUser] = {}
        super().reset(seed=seed, page_size=page_size)

    # -- Mixpanel's rules -----------------------------------------------------------------------------
    def new_user_id(self, user_name: str) -> str:
        # UNVERIFIED: Mixpanel's SCIM user ids are opaque; we use numeric strings.
        user_id = str(70000 + self._next_id)
        self._next_id += 1
        return user_id

    def refuse_create(self, user_name: str) -> Response | None:
        if not on_verified_domain(user_name):
            # UNVERIFIED: status and wording of the refusal.
            return scim_error(400, f"{user_name} is not on a verified domain of this organization", "invalidValue")
        return None

    def refuse_removal(self, user: ScimUser) -> Response | None:
        if self._owner_teams(user) and not self._an_owner_remains(user, leaving=None):
            return _last_owner(user)
        return None

    def refuse_group_change(self, group: ScimGroup, op: str, user: ScimUser) -> Response | None:
        if group.extra.get("org_role") != OWNER_TEAM_ROLE:
            return None
        if op == "add" and self.token_role != OWNER_TEAM_ROLE:
            # UNVERIFIED: status and wording.
            return scim_error(403, "Only an organization Owner can assign the Owner role; this SCIM token acts "
                                   f"as an organization {self.token_role.title()}.")
        if op == "remove" and not self._an_owner_remains(user, leaving=group):
            return _last_owner(user)
        return None

    def on_deactivate(self, user: ScimUser) -> None:
        # UNVERIFIED: a deactivated user stays listed with active:false and leaves every Team.
        user.active = False
        for group in self.groups.values():
            if user.id in group.members:
                group.members.remove(user.id)

    def authorize(self, request: Request) -> Response | None:
        if re.match(r"/api/app/organizations/", request.path):
            expected = base64.b64encode(f"{SA_USERNAME}:{SA_SECRET}".encode()).decode()
            if request.headers.get("authorization", "") != f"Basic {expected}":
                return Response(401, {"error": "Invalid service account credentials", "status": "error"})
            return None
        return super().authorize(request)

    # -- helpers for tests ----------------------------------------------------------------------------
    def org_role(self, email: str) -> Role | None:
        """Their org role: the highest their Teams carry, Member when none; None when not listed."""
        with self._state:
            user = self.user(email)
            if user is None:
                return None
            words = [str(g.extra.get("org_role", "member")) for g in self._teams_of(user)]
            roles = [common_role(self.vendor_name, word) for word in words]
            return max(roles, key=_RANKED.index, default=Role.MEMBER)

    def add_team(self, name: str, members: list[str], *, org_role: str = "member",
                 projects: dict[int, str] | None = None) -> ScimGroup:
        return self.add_group(name, members, org_role=org_role, projects=dict(projects or {}))

    def add_outside_member(self, email: str, given: str = "", family: str = "") -> ScimUser:
        """A member of the organization whose email is off the verified domains: they have a seat, and SCIM
        cannot see them (they were invited in Mixpanel's UI)."""
        assert not on_verified_domain(email), f"{email} is on a verified domain: SCIM would see them"
        with self._state:
            user = ScimUser(self.new_user_id(email), email, given or email.split("@")[0].title(), family)
            self.outside[email.casefold()] = user
            return user

    def user_id_of(self, email: str) -> int:
        """The integer Mixpanel user id service accounts name as `creator` (UNVERIFIED: the SCIM id's digits)."""
        with self._state:
            user = self.user(email) or self.outside.get(email.casefold())
            assert user is not None, email
            return int(user.id)

    def add_service_account(self, username: str, *, creator: str | int) -> dict[str, Any]:
        """An account shaped as the documented `ServiceAccountRead`; `creator` is an email (its user id is
        used) or an integer user id."""
        with self._state:
            creator_id = creator if isinstance(creator, int) else self.user_id_of(creator)
            account = {
                "id": self._next_sa, "username": username,
                "last_used": datetime(2026, 11, 1, 12, 0, tzinfo=UTC).isoformat(),
                "expires": None,
                "creator": creator_id,
                "created": datetime(2025, 3, 1, 9, 0, tzinfo=UTC).isoformat(),
                "user": 880000 + self._next_sa,  # the account's own user id ("safe to ignore", says the OpenAPI)
            }
            self.service_accounts[self._next_sa] = account
            self._next_sa += 1
            return account

    # -- ContractSandbox ------------------------------------------------------------------------------
    def connector(self, policy: RetryPolicy, *, page_size: int | None = None,
                  valid_credentials: bool = True) -> MixpanelVendor:
        token, secret = ((SANDBOX_SCIM_TOKEN, SA_SECRET) if valid_credentials
                         else (REJECTED_SCIM_TOKEN, REJECTED_SA_SECRET))
        return MixpanelVendor(token, self.url, verified_domains=VERIFIED_DOMAINS, service_account_username=SA_USERNAME,
                              service_account_secret=secret, organization_id=ORG_ID, page_size=page_size,
                              policy=policy)

    def seed_person(self, email: str, role: Role, project_ids: Sequence[str] = ()) -> None:
        """An active user whose Teams give exactly `role` and `project_ids`: one Team per project
        (found, or made), so that each project can be taken away alone. Read-only, which Mixpanel has
        only per project, becomes an org Member with Consumer access. Someone off the verified domains
        becomes a member SCIM cannot see (`add_outside_member`), without Teams: SCIM could not show them."""
        word = vendor_role(self.vendor_name, role) or "member"
        level = PROJECT_LEVEL[role]
        with self._state:
            if not on_verified_domain(email):
                if email.casefold() not in self.outside:
                    self.add_outside_member(email, *name_from_email(email))
                return  # SCIM cannot see them, so neither can their Teams be given through it
            user = self.user(email) or self.add_user(email, *name_from_email(email))
            user.active = True
            for group in self._teams_of(user):
                group.members.remove(user.id)
            wanted = [{int(pid): level} for pid in project_ids] or ([{}] if word != "member" else [])
            for projects in wanted:
                self._team_for(word, projects).members.append(user.id)

    def seed_assets(self, email: str) -> int:
        return 0  # no API lists what a Mixpanel user created

    def seed_invisible_member(self) -> str:
        """A member its API cannot see (the contract suite's "unknown is never absent"): off the verified domains."""
        email = "contract.contractor@agency.com"
        if email.casefold() not in self.outside:
            self.add_outside_member(email, "Contract", "Contractor")
        return email

    def seat(self, email: str) -> Seat | None:
        with self._state:
            if email.casefold() in self.outside:
                return Seat(Role.MEMBER, frozenset())
            user = self.user(email)
            role = self.org_role(email)
            if user is None or role is None:
                return None
            projects = frozenset(str(pid) for g in self._teams_of(user) for pid in g.extra.get("projects", {}))
            return Seat(role, projects, active=user.active)

    def project_ids(self) -> list[str]:
        return [str(pid) for pid in PROJECTS]

    def member_count(self) -> int:
        with self._state:
            return sum(1 for user in self.users.values() if user.active)

    # -- Teams and Owners -----------------------------------------------------------------------------
    def _teams_of(self, user: ScimUser) -> list[ScimGroup]:
        return [g for g in self.groups.values() if user.id in g.members]

    def _owner_teams(self, user: ScimUser) -> list[ScimGroup]:
        return [g for g in self._teams_of(user) if g.extra.get("org_role") == OWNER_TEAM_ROLE]

    def _an_owner_remains(self, user: ScimUser, *, leaving: ScimGroup | None) -> bool:
        """Whether an active Owner remains once `user` leaves the Team `leaving` (None: leaves the org)."""
        for other in self.users.values():
            teams = self._owner_teams(other) if other.active else []
            if other is user:
                teams = [g for g in teams if leaving is not None and g is not leaving]
            if teams:
                return True
        return False

    def _team_for(self, org_role: str, projects: dict[int, str]) -> ScimGroup:
        for group in self.groups.values():
            if group.extra.get("org_role") == org_role and set(group.extra.get("projects", {})) == set(projects):
                return group
        where = " · " + ", ".join(PROJECTS.get(pid, str(pid)) for pid in projects) if projects else ""
        return self.add_team(f"{org_role.title()}s{where}", [], org_role=org_role, projects=projects)

    # -- service-account routes ----------------------------------------------------------------------
    def _org_ok(self, request: Request) -> Response | None:
        if int(request.params["org"]) != ORG_ID:
            return Response(404, {"error": "Organization not found", "status": "error"})
        return None

    def _list_service_accounts(self, request: Request) -> Response:
        with self._state:
            return self._org_ok(request) or Response(200, {"results": list(self.service_accounts.values()),
                                                           "status": "ok"})

    def _create_service_account(self, request: Request) -> Response:
        body = request.json() or {}
        with self._state:
            refusal = self._org_ok(request)
            if refusal:
                return refusal
            if not body.get("username"):
                return Response(400, {"error": "username is required", "status": "error"})
            account = self.add_service_account(str(body["username"]), creator=OFFBOARD_USER_ID)
            secret = f"mp_sa_created_secret_{account['id']}"  # shown once, as Mixpanel does
            return Response(201, {"results": {**account, "token": secret}, "status": "ok"})

    def _get_service_account(self, request: Request) -> Response:
        with self._state:
            account = self.service_accounts.get(int(request.params["sa"]))
            if account is None:
                return Response(404, {"error": "Service account not found", "status": "error"})
            return self._org_ok(request) or Response(200, {"results": account, "status": "ok"})

    def _delete_service_account(self, request: Request) -> Response:
        with self._state:
            if self.service_accounts.pop(int(request.params["sa"]), None) is None:
                return Response(404, {"error": "Service account not found", "status": "error"})
            return Response(200, {"results": None, "status": "ok"})

    # -- the demo world -------------------------------------------------------------------------------
    def seed(self) -> None:
        for email, (given, family) in DEMO_PEOPLE.items():
            self.add_user(email, given, family)
        fillers = [e for e, g, f in filler_people(FILLER_COUNT) if self.add_user(e, g, f)]
        self.add_user(DEACTIVATED, "Fay", "Former", active=False)
        self.add_team("Owners", ["it-ops@corp.com"], org_role=OWNER_TEAM_ROLE,
                      projects={101: "owner", 102: "owner", 103: "owner"})
        self.add_team("Org Admins", ["it-ops@corp.com", "carol@corp.com"], org_role="admin",
                      projects={101: "owner", 102: "owner", 103: "owner"})
        self.add_team("Product Analytics", ["alice@corp.com", "bob@corp.com", *fillers[:30]],
                      projects={101: "analyst", 102: "analyst"})
        self.add_team("Finance Viewers", ["alice@corp.com", *fillers[30:40]], projects={103: "consumer"})
        self.add_outside_member(CONTRACTOR, "Pat", "Contractor")
        self.add_service_account("etl-export.5f6e7d.mp-service-account", creator="alice@corp.com")
        self.add_service_account("warehouse-sync.9a8b7c.mp-service-account", creator="carol@corp.com")


def _last_owner(user: ScimUser) -> Response:
    # UNVERIFIED: status and wording; Mixpanel documents only that an organization keeps an Owner.
    return scim_error(400, f"Cannot remove {user.user_name}: an organization must keep at least one Owner.",
                      "mutability")
