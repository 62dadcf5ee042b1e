"""An in-memory Kissmetrics user API over real HTTP, in the shape the connector's opt-in mode expects.

UNVERIFIED: Kissmetrics publishes no user-management API. The only description is the seed runbook
(/work/shared/runbooks/kissmetrics-remove-user.txt): `GET /v1/users?email=`, `DELETE
/v1/users/{user_id}`, `POST /v1/users/invite` with `{"email", "role", "projects"}`, Bearer auth. The
response and error bodies below are our choice, documented in `vendors/kissmetrics.py`:

* a user is `{"id", "email", "name", "role", "projects": [{"id", "name"}], "created_at"}`;
* `GET /v1/users[?email=]` → `{"users": [...], "total": n}` (the email match ignores case);
* `DELETE /v1/users/{id}` → 204; 404 when unknown; 409 for the Account Owner, whom the runbook says
  cannot be removed until ownership is transferred;
* `POST /v1/users/invite` → 201 with the invite; 409 when the person is already a user or invited;
* errors are `{"error": "<code>", "message": "<words>"}`; 401 for a missing or wrong key; 429 with
  `Retry-After` (the quoted limit is 15 requests a minute: pass `rate_limit_per_minute=15` to feel it).

`KissmetricsSandbox()` seeds the world in `_seed`; `reset()` restores it so a test session can share
one running server. Helpers take the state lock, so tests may call them while the server answers.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from vendors.sandbox.server import Fault, LoopbackServer, Request, Response

SANDBOX_API_KEY = "km_sandbox_api_key_0000000000000000"
RATE_LIMIT_PER_MINUTE = 15  # what a third party quotes for Kissmetrics

# Kissmetrics' role names, as this sandbox spells them (UNVERIFIED, like the whole API).
ACCOUNT_OWNER, ADMIN, MEMBER, READ_ONLY = "account_owner", "admin", "member", "read_only"
ROLES = (ACCOUNT_OWNER, ADMIN, MEMBER, READ_ONLY)

WEBSITE_ID, APP_ID, CHECKOUT_ID = "prod_website", "prod_app", "prod_checkout"
PRODUCTS = {WEBSITE_ID: "Corp Website", APP_ID: "Mobile App", CHECKOUT_ID: "Checkout"}

_USER_ID = r"(?P<user_id>[^/]+)"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass
class SandboxUser:
    id: str
    email: str
    name: str
    role: str
    projects: list[str] = field(default_factory=list)  # product ids
    created_at: datetime = field(default_factory=lambda: datetime(2024, 1, 2, tzinfo=UTC))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "email": self.email,
            "name": self.name,
            "role": self.role,
            "projects": [{"id": p, "name": PRODUCTS.get(p, p)} for p in self.projects],
            "created_at": self.created_at.isoformat().replace("+00:00", "Z"),
        }


@dataclass
class SandboxInvite:
    id: str
    email: str
    role: str
    projects: list[str]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "email": self.email, "role": self.role, "projects": list(self.projects),
                "status": "pending"}


class KissmetricsSandbox(LoopbackServer):
    name = "kissmetrics-sandbox"

    def __init__(self, *, port: int = 0, latency: float = 0.0, rate_limit_per_minute: int | None = None) -> None:
        super().__init__(port=port, latency=latency, rate_limit_per_minute=rate_limit_per_minute)
        self._state = threading.RLock()
        self.route("GET", r"/v1/users/?", self._list_users)
        self.route("GET", rf"/v1/users/{_USER_ID}/?", self._get_user)
        self.route("DELETE", rf"/v1/users/{_USER_ID}/?", self._delete_user)
        self.route("POST", r"/v1/users/invite/?", self._invite)
        self.reset()

    def reset(self) -> None:
        """Back to the seeded world, with no faults and empty logs, keeping the server running."""
        with self._state:
            self.api_key = SANDBOX_API_KEY
            self._users: dict[str, SandboxUser] = {}
            self.invites: list[SandboxInvite] = []
            self._next_id = 1001
            # Written before the answer goes out, so complete the moment a client call returns.
            self.received: list[tuple[str, str]] = []
            self.delete_counts: Counter[str] = Counter()  # successful DELETEs, by case-folded email
            self._seed()
        self.clear_faults()
        with self._lock:
            self.log.clear()

    def dispatch(self, request: Request) -> Response | None:
        if not request.path.startswith("/_sandbox/"):
            with self._state:
                self.received.append((request.method, request.path))
        return super().dispatch(request)

    def __enter__(self) -> KissmetricsSandbox:
        self.start()
        return self

    # -- Kissmetrics' shapes for the base class's hooks ------------------------------------------------
    def throttled(self, retry_after: int) -> Response:
        return Response(429, _throttled_body(), {"Retry-After": str(retry_after)})

    def not_found(self) -> Response:
        return _error(404, "not_found", "Not found.")

    def authorize(self, request: Request) -> Response | None:
        token = request.bearer_token
        if not token:
            return _error(401, "unauthorized", "Missing API key: send Authorization: Bearer <key>.")
        with self._state:
            if token != self.api_key:
                return _error(401, "unauthorized", "Invalid API key.")
        return None

    # -- helpers for tests ---------------------------------------------------------------------------
    def add_user(self, email: str, *, name: str = "", role: str = MEMBER, projects: list[str] | None = None,
                 user_id: str | None = None) -> SandboxUser:
        with self._state:
            if role not in ROLES:
                raise ValueError(f"unknown role {role!r}")
            if self.user(email):
                raise ValueError(f"{email} is already a user")
            if user_id is None:
                user_id = f"usr_{self._next_id}"
                self._next_id += 1
            user = SandboxUser(user_id, email, name or email.split("@")[0].title(), role, list(projects or []))
            self._users[user_id] = user
            return user

    def user(self, email: str) -> SandboxUser | None:
        with self._state:
            wanted = email.casefold()
            return next((u for u in self._users.values() if u.email.casefold() == wanted), None)

    def users(self) -> list[SandboxUser]:
        with self._state:
            return list(self._users.values())

    def delete_count(self, email: str) -> int:
        """How many DELETEs of this person succeeded (a correct connector makes at most one)."""
        with self._state:
            return self.delete_counts[email.casefold()]

    def requests(self, method: str | None = None, path_pattern: str | None = None) -> list[tuple[str, str]]:
        with self._state:
            return [(m, p) for m, p in self.received
                    if (method is None or m == method) and (path_pattern is None or re.search(path_pattern, p))]

    def throttle(self, seconds: int, *, times: int | None = 1, path_pattern: str | None = None) -> Fault:
        """Answer the next `times` calls with Kissmetrics' 429 and `Retry-After: seconds`."""
        fault = Fault("status", 429, _throttled_body(), {"Retry-After": str(seconds)},
                      path_pattern=path_pattern, times=times)
        self.inject(fault)
        return fault

    # -- routes ----------------------------------------------------------------------------------------
    def _list_users(self, request: Request) -> Response:
        with self._state:
            users = list(self._users.values())
            email = request.arg("email")
            if email is not None:
                users = [u for u in users if u.email.casefold() == email.strip().casefold()]
            return Response(200, {"users": [u.to_json() for u in users], "total": len(users)})

    def _get_user(self, request: Request) -> Response:
        with self._state:
            user = self._users.get(request.params["user_id"])
            return Response(200, user.to_json()) if user else _error(404, "not_found", "User not found.")

    def _delete_user(self, request: Request) -> Response:
        with self._state:
            user = self._users.get(request.params["user_id"])
            if user is None:
                return _error(404, "not_found", "User not found.")
            if user.role == ACCOUNT_OWNER:
                return _error(409, "account_owner", "The Account Owner cannot be removed; transfer ownership first.")
            del self._users[user.id]
            self.delete_counts[user.email.casefold()] += 1
            return Response(204)

    def _invite(self, request: Request) -> Response:
        try:
            body = request.json()
        except ValueError:
            return _error(400, "invalid_request", "The body is not JSON.")
        if not isinstance(body, dict):
            return _error(400, "invalid_request", "Send a JSON object with email, role and projects.")
        email, role, projects = body.get("email"), body.get("role", MEMBER), body.get("projects", [])
        if not isinstance(email, str) or not _EMAIL.match(email):
            return _error(400, "invalid_email", "A valid email is required.")
        if role not in ROLES or role == ACCOUNT_OWNER:
            return _error(400, "invalid_role", f"role must be one of {', '.join(ROLES[1:])}.")
        if not isinstance(projects, list) or any(p not in PRODUCTS for p in projects):
            return _error(400, "invalid_projects", "projects must be a list of product ids.")
        with self._state:
            if self.user(email) or any(i.email.casefold() == email.casefold() for i in self.invites):
                return _error(409, "already_exists", f"{email} is already a user or has a pending invite.")
            invite = SandboxInvite(f"inv_{len(self.invites) + 1}", email, role, list(projects))
            self.invites.append(invite)
            return Response(201, invite.to_json())

    # -- the seeded world ------------------------------------------------------------------------------
    def _seed(self) -> None:
        all_products = list(PRODUCTS)
        self.add_user("it-ops@corp.com", name="Ivy Ops", role=ADMIN, projects=all_products)
        self.add_user("carol@corp.com", name="Carol Chen", role=ACCOUNT_OWNER, projects=all_products)
        self.add_user("alice@corp.com", name="Alice Anders", role=ADMIN, projects=[WEBSITE_ID, CHECKOUT_ID])
        self.add_user("bob@corp.com", name="Bob Brown", role=MEMBER, projects=[WEBSITE_ID])
        self.add_user("dave@corp.com", name="Dave Diaz", role=READ_ONLY, projects=[APP_ID])
        self.add_user("Erin.Ng@Corp.com", name="Erin Ng", role=MEMBER, projects=[APP_ID, CHECKOUT_ID])
        self.add_user("contractor@agency.example", name="Casey Contractor", role=READ_ONLY, projects=[])
        for user in self._users.values():
            user.created_at = datetime(2024, 1, 2, tzinfo=UTC) + timedelta(days=int(user.id[4:]) - 1001)


def _error(status: int, code: str, message: str) -> Response:
    return Response(status, {"error": code, "message": message})


def _throttled_body() -> dict[str, Any]:
    return {"error": "rate_limited", "message": f"Rate limit exceeded: {RATE_LIMIT_PER_MINUTE} requests per minute."}
