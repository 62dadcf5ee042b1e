"""An in-memory Kissmetrics user API over real HTTP, in the shape the connector's opt-in mode expects.

UNVERIFIED: Kissmetrics publishes no user-management API. The only description is the seed runbooks
(/work/shared/runbooks/kissmetrics-*.txt): `GET /v1/users?email=`, `DELETE /v1/users/{user_id}`,
`POST /v1/users/invite` with `{"email", "role", "projects"}`, Bearer auth. The response and error
bodies below are our choice, documented in `vendors/kissmetrics.py`:

* a user is `{"id", "email", "name", "role", "status", "projects": [{"id", "name"}], "created_at"}`;
  `role` is one of the runbook's levels as the API might spell them (`account_owner`, `admin`, `user`
  — the word the runbook's invite example sends — and `read_only`); `status` is `active`, or
  `pending` for an invitation not yet accepted (the runbook: a pending invitation "appears as
  "Pending" in your team list");
* `GET /v1/users[?email=][&limit=&offset=]` → `{"users": [...], "total": n}`: the email match ignores
  case; pages of `limit` users (default 50, at most 100: a larger limit is cut to 100) from `offset`,
  in the order they were added; `total` counts every match;
* `DELETE /v1/users/{id}` → 204; 404 when unknown; 409 for the Account Owner, whom the runbook says
  cannot be removed until ownership is transferred, and for a pending invitation (an invitation is
  cancelled in the UI, not through this call);
* `POST /v1/users/invite` → 201 with the new pending user; 409 when the person is already a user or
  invited; 400 for a bad email, role (the Account Owner is never invited) or product id;
* errors are `{"error": "<code>", "message": "<words>"}`; 401 for a missing or wrong key; 429 with
  `Retry-After` (the quoted limit is 15 requests a minute: pass `rate_limit_per_minute=15` to feel it).

`KissmetricsSandbox()` seeds the world in `_seed` (a handful of named people and a few hundred
deterministic filler users across the three products, so lists span pages); `reset()` restores it so
a test session can share one running server. Helpers take the state lock, so tests may call them
while the server answers. It implements `vendors.sandbox.contract.ContractSandbox`.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from vendors.base import Role
from vendors.http import RetryPolicy
from vendors.kissmetrics import KissmetricsVendor
from vendors.roles import common_role, vendor_role
from vendors.sandbox.contract import Seat
from vendors.sandbox.server import Fault, LoopbackServer, Request, Response

SANDBOX_API_KEY = "km_sandbox_api_key_0000000000000000"
REJECTED_API_KEY = "km_rejected_api_key_111111111111111"  # what `connector(valid_credentials=False)` sends
RATE_LIMIT_PER_MINUTE = 15  # what a third party quotes for Kissmetrics

# Kissmetrics' role names, as this sandbox spells them (UNVERIFIED, like the whole API). "user" is the
# word the runbook's invite example sends for the runbook's "User" level (an ordinary member).
ACCOUNT_OWNER, ADMIN, MEMBER, READ_ONLY = "account_owner", "admin", "user", "read_only"
ROLES = (ACCOUNT_OWNER, ADMIN, MEMBER, READ_ONLY)
ACTIVE, PENDING = "active", "pending"

WEBSITE_ID, APP_ID, CHECKOUT_ID = "prod_website", "prod_app", "prod_checkout"
PRODUCTS = {WEBSITE_ID: "Corp Website", APP_ID: "Mobile App", CHECKOUT_ID: "Checkout"}

DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 50, 100  # UNVERIFIED, like the pagination itself
FILLER_PEOPLE = 240  # enough that every list spans several pages

_USER_ID = r"(?P<user_id>[^/]+)"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_FIRST_NAMES = ("Ada", "Ben", "Cleo", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Juno", "Kai", "Lena")
_LAST_NAMES = ("Ito", "Okafor", "Silva", "Novak", "Reyes", "Larsen", "Moreau", "Kaur", "Schmidt", "Quinn")
_FILLER_ROLES = (MEMBER, MEMBER, READ_ONLY, MEMBER, ADMIN)
_FILLER_PRODUCTS = ([WEBSITE_ID], [APP_ID], [CHECKOUT_ID], [WEBSITE_ID, APP_ID], [APP_ID, CHECKOUT_ID],
                    list(PRODUCTS), [])


@dataclass
class SandboxUser:
    id: str
    email: str
    name: str
    role: str
    projects: list[str] = field(default_factory=list)  # product ids
    status: str = ACTIVE
    created_at: datetime = field(default_factory=lambda: datetime(2024, 1, 2, tzinfo=UTC))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "email": self.email,
            "name": self.name,
            "role": self.role,
            "status": self.status,
            "projects": [{"id": p, "name": PRODUCTS.get(p, p)} for p in self.projects],
            "created_at": self.created_at.isoformat().replace("+00:00", "Z"),
        }


class KissmetricsSandbox(LoopbackServer):
    name = "kissmetrics-sandbox"
    vendor_name = "kissmetrics"

    def __init__(self, *, port: int = 0, latency: float = 0.0, rate_limit_per_minute: int | None = None) -> None:
        super().__init__(port=port, latency=latency, rate_limit_per_minute=rate_limit_per_minute)
        self._state = threading.RLock()
        self.route("GET", r"/v1/users/?", self._list_users)
        self.route("POST", r"/v1/users/invite/?", self._invite)
        self.route("GET", rf"/v1/users/{_USER_ID}/?", self._get_user)
        self.route("DELETE", rf"/v1/users/{_USER_ID}/?", self._delete_user)
        self.reset()

    def reset(self) -> None:
        """Back to the seeded world, with no faults and empty logs, keeping the server running."""
        with self._state:
            self.api_key = SANDBOX_API_KEY
            self._users: dict[str, SandboxUser] = {}
            self._email_of_id: dict[str, str] = {}  # every id ever given, so a DELETE of a gone user is still theirs
            self._next_id = 1001
            # Written before the answer goes out, so complete the moment a client call returns.
            self.received: list[tuple[str, str]] = []
            self.delete_counts: Counter[str] = Counter()  # successful DELETEs, by case-folded email
            self.writes: Counter[str] = Counter()  # mutating calls about a person, by case-folded email
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

    # -- ContractSandbox -------------------------------------------------------------------------------
    def connector(self, policy: RetryPolicy, *, page_size: int | None = None,
                  valid_credentials: bool = True) -> KissmetricsVendor:
        """The connector in its opt-in API mode, pointed here."""
        key = SANDBOX_API_KEY if valid_credentials else REJECTED_API_KEY
        return KissmetricsVendor(key, self.url, policy=policy, page_size=page_size)

    def seed_person(self, email: str, role: Role, project_ids: Sequence[str] = ()) -> None:
        """An active user with `role`'s word and exactly these products. An account has one Account
        Owner: seeding another hands the title over, and the previous one becomes an admin."""
        unknown = set(project_ids) - set(PRODUCTS)
        if unknown:
            raise ValueError(f"no such products: {sorted(unknown)}")
        word = ACCOUNT_OWNER if role == Role.OWNER else vendor_role(self.vendor_name, role)
        if word is None:
            raise ValueError(f"Kissmetrics has no word for {role}")
        with self._state:
            if word == ACCOUNT_OWNER:
                for previous in self._users.values():
                    if previous.role == ACCOUNT_OWNER and previous.email.casefold() != email.casefold():
                        previous.role = ADMIN
            user = self.user(email) or self.add_user(email, role=word)
            user.role, user.projects, user.status = word, list(project_ids), ACTIVE

    def seed_assets(self, email: str) -> int:
        """None: the (UNVERIFIED) user API lists no reports or dashboards."""
        return 0

    def seat(self, email: str) -> Seat | None:
        with self._state:
            user = self.user(email)
            if user is None:
                return None
            return Seat(common_role(self.vendor_name, user.role), frozenset(user.projects),
                        pending=user.status == PENDING)

    def project_ids(self) -> list[str]:
        return list(PRODUCTS)

    def member_count(self) -> int:
        """Users, active or invited (pending): all of them are listed by `GET /v1/users`."""
        with self._state:
            return len(self._users)

    def writes_about(self, email: str) -> int:
        """Mutating calls about `email` that reached the API (past auth and injected faults), whatever
        the answer: a DELETE of any id they ever had, and an invitation POST naming their address.
        A refused call counts too: the connector did send it."""
        with self._state:
            return self.writes[email.casefold()]

    # -- helpers for tests ---------------------------------------------------------------------------
    def add_user(self, email: str, *, name: str = "", role: str = MEMBER, projects: list[str] | None = None,
                 user_id: str | None = None, status: str = ACTIVE) -> SandboxUser:
        with self._state:
            if role not in ROLES:
                raise ValueError(f"unknown role {role!r}")
            if self.user(email):
                raise ValueError(f"{email} is already a user")
            if user_id is None:
                user_id = f"usr_{self._next_id}"
                self._next_id += 1
            user = SandboxUser(user_id, email, name or email.split("@")[0].title(), role, list(projects or []),
                               status, created_at=datetime(2024, 1, 2, tzinfo=UTC) + timedelta(hours=len(self._users)))
            self._users[user_id] = user
            self._email_of_id[user_id] = email.casefold()
            return user

    def user(self, email: str) -> SandboxUser | None:
        """The user (active or pending) with this address, ignoring case."""
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
        try:
            limit = min(_whole_number(request.arg("limit"), DEFAULT_PAGE_SIZE, minimum=1), MAX_PAGE_SIZE)
            offset = _whole_number(request.arg("offset"), 0, minimum=0)
        except ValueError as exc:
            return _error(400, "invalid_request", str(exc))
        with self._state:
            users = list(self._users.values())
            email = request.arg("email")
            if email is not None:
                users = [u for u in users if u.email.casefold() == email.strip().casefold()]
            page = users[offset:offset + limit]
            return Response(200, {"users": [u.to_json() for u in page], "total": len(users)})

    def _get_user(self, request: Request) -> Response:
        with self._state:
            user = self._users.get(request.params["user_id"])
            return Response(200, user.to_json()) if user else _error(404, "not_found", "User not found.")

    def _delete_user(self, request: Request) -> Response:
        user_id = request.params["user_id"]
        with self._state:
            if user_id in self._email_of_id:
                self.writes[self._email_of_id[user_id]] += 1
            user = self._users.get(user_id)
            if user is None:
                return _error(404, "not_found", "User not found.")
            if user.role == ACCOUNT_OWNER:
                return _error(409, "account_owner", "The Account Owner cannot be removed; transfer ownership first.")
            if user.status == PENDING:
                return _error(409, "invitation_pending",
                              "This user has not accepted their invitation; cancel it in Settings → Team.")
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
        if isinstance(email, str):
            with self._state:
                self.writes[email.strip().casefold()] += 1
        if not isinstance(email, str) or not _EMAIL.match(email.strip()):
            return _error(400, "invalid_email", "A valid email is required.")
        if role not in ROLES or role == ACCOUNT_OWNER:
            return _error(400, "invalid_role", f"role must be one of {', '.join(ROLES[1:])}.")
        if not isinstance(projects, list) or any(p not in PRODUCTS for p in projects):
            return _error(400, "invalid_projects", "projects must be a list of product ids.")
        with self._state:
            existing = self.user(email.strip())
            if existing is not None and existing.status == PENDING:
                return _error(409, "already_invited", f"{email} already has a pending invitation.")
            if existing is not None:
                return _error(409, "already_exists", f"{email} is already a user.")
            invited = self.add_user(email.strip(), role=role, projects=list(projects), status=PENDING)
            return Response(201, invited.to_json())

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
        for n in range(FILLER_PEOPLE):
            first, last = _FIRST_NAMES[n % len(_FIRST_NAMES)], _LAST_NAMES[n // len(_FIRST_NAMES) % len(_LAST_NAMES)]
            self.add_user(f"{first}.{last}.{n:03d}@corp.com".lower(), name=f"{first} {last}",
                          role=_FILLER_ROLES[n % len(_FILLER_ROLES)],
                          projects=list(_FILLER_PRODUCTS[n % len(_FILLER_PRODUCTS)]))


def _whole_number(text: str | None, default: int, *, minimum: int) -> int:
    if text is None or text == "":
        return default
    if not text.isdigit() or int(text) < minimum:
        raise ValueError(f"limit must be a whole number of at least 1, offset at least 0 (got {text!r}).")
    return int(text)


def _error(status: int, code: str, message: str) -> Response:
    return Response(status, {"error": code, "message": message})


def _throttled_body() -> dict[str, Any]:
    return {"error": "rate_limited", "message": f"Rate limit exceeded: {RATE_LIMIT_PER_MINUTE} requests per minute."}
