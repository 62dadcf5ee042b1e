"""An in-memory Mixpanel (SCIM under `/api/app/scim/v2` + the service-account API) over real HTTP.

What makes Mixpanel particular (see /work/shared/vendor-apis.md): SCIM takes only users on the org's
verified domains (others → 400); SCIM Groups are Mixpanel **Teams**, and a Team carries an org role
and project access, so Teams are where a person's access lives; `active: false` deactivates. The
service-account API (`/api/app/organizations/{orgId}/service-accounts`) uses HTTP Basic auth and
answers `{"results": …, "status": "ok"}` or `{"error": "…", "status": "error"}`.

Mixpanel documents neither its SCIM shapes nor its pagination: the sandbox follows RFC 7644
(`startIndex`/`count`), and each guess is marked UNVERIFIED where it is made.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from typing import Any

from vendors.sandbox.scim import ScimGroup, ScimSandbox, ScimUser, filler_people, scim_error
from vendors.sandbox.server import Request, Response

SANDBOX_SCIM_TOKEN = "mp_scim_sandbox_token_000000000000000"
ORG_ID = 4242
SA_USERNAME = "offboard.1a2b3c.mp-service-account"
SA_SECRET = "mp_sa_sandbox_secret_0000000000000000"
VERIFIED_DOMAINS = ("corp.com",)
FILLER_COUNT = 250
PROJECTS = {101: "Web App", 102: "Mobile", 103: "Finance"}
# UNVERIFIED: Mixpanel's SCIM Groups show only displayName and members. The sandbox adds the Team's
# org role and project access under this extension so a connector can show them when a server has them.
TEAM_EXTENSION = "urn:mixpanel:params:scim:schemas:extension:team:2.0:Team"
DEMO_PEOPLE = {  # email → (given, family)
    "it-ops@corp.com": ("Ivy", "Ops"),
    "alice@corp.com": ("Alice", "Anders"),
    "bob@corp.com": ("Bob", "Brown"),
    "carol@corp.com": ("Carol", "Chen"),
    "dave@corp.com": ("Dave", "Diaz"),
}
_SA = r"/api/app/organizations/(?P<org>\d+)/service-accounts"


class MixpanelSandbox(ScimSandbox):
    name = "mixpanel-sandbox"
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
        super().reset(seed=seed, page_size=page_size)

    # -- Mixpanel's rules -----------------------------------------------------------------------------
    def new_user_id(self, user_name: str) -> str:
        # UNVERIFIED: Mixpanel's SCIM user ids are opaque; we use numeric strings.
        user_id = str(70000 + self._next_id)
        self._next_id += 1
        return user_id

    def refuse_create(self, user_name: str) -> Response | None:
        domain = user_name.rpartition("@")[2].casefold()
        if domain not in VERIFIED_DOMAINS:
            # UNVERIFIED: status and wording of the refusal.
            return scim_error(400, f"{user_name} is not on a verified domain of this organization", "invalidValue")
        return None

    def on_deactivate(self, user: ScimUser) -> None:
        # UNVERIFIED: a deactivated user stays listed with active:false and leaves every Team.
        user.active = False
        for group in self.groups.values():
            if user.id in group.members:
                group.members.remove(user.id)

    def group_json(self, group: ScimGroup) -> dict[str, Any]:
        body = super().group_json(group)
        body["schemas"] = [*body["schemas"], TEAM_EXTENSION]
        body[TEAM_EXTENSION] = {
            "orgRole": group.extra.get("org_role", "member"),
            "projects": [{"id": pid, "name": PROJECTS.get(pid, str(pid)), "role": role}
                         for pid, role in group.extra.get("projects", {}).items()],
        }
        return body

    def authorize(self, request: Request) -> Response | None:
        if re.match(r"/api/app/organizations/", request.path):
            expected = base64.b64encode(f"{SA_USERNAME}:{SA_SECRET}".encode()).decode()
            if request.headers.get("authorization", "") != f"Basic {expected}":
                return Response(401, {"error": "Invalid service account credentials", "status": "error"})
            return None
        return super().authorize(request)

    # -- helpers for tests ----------------------------------------------------------------------------
    def add_team(self, name: str, members: list[str], *, org_role: str = "member",
                 projects: dict[int, str] | None = None) -> ScimGroup:
        return self.add_group(name, members, org_role=org_role, projects=dict(projects or {}))

    def add_service_account(self, username: str, *, creator: str, role: str = "analyst",
                            projects: tuple[int, ...] = ()) -> dict[str, Any]:
        with self._state:
            account = {
                "id": self._next_sa, "username": username, "role": role,
                # UNVERIFIED: the documented OpenAPI does not promise a creator field; the connector
                # treats it as optional.
                "creator": {"email": creator},
                "last_used": datetime(2026, 11, 1, 12, 0, tzinfo=UTC).isoformat(),
                "expires": None,
                "projects": list(projects),
            }
            self.service_accounts[self._next_sa] = account
            self._next_sa += 1
            return account

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
            account = self.add_service_account(str(body["username"]), creator=SA_USERNAME,
                                               role=str(body.get("role", "consumer")))
            return Response(200, {"results": account, "status": "ok"})

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
        self.add_team("Org Admins", ["it-ops@corp.com", "carol@corp.com"], org_role="admin",
                      projects={101: "owner", 102: "owner", 103: "owner"})
        self.add_team("Product Analytics", ["alice@corp.com", "bob@corp.com", *fillers[:30]],
                      projects={101: "analyst", 102: "analyst"})
        self.add_team("Finance Viewers", ["alice@corp.com", *fillers[30:40]], projects={103: "consumer"})
        self.add_service_account("etl-export.5f6e7d.mp-service-account", creator="alice@corp.com",
                                 role="admin", projects=(101,))
        self.add_service_account("warehouse-sync.9a8b7c.mp-service-account", creator="carol@corp.com")
