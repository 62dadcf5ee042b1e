"""Lumen, a made-up fifth analytics tool, as a loopback HTTP server in the shape of vendors/sandbox/: its whole
API is ours, invented for the tests that prove a vendor can be added with no change to the bot. It implements
`vendors.sandbox.contract.ContractSandbox`, so the connector contract suite (tests/contract) runs against it too.

* Bearer auth (`SANDBOX_API_KEY`); anything else is 401.
* A member is `{"id", "email", "name", "role", "status", "last_seen_at", "joined_at"}`; `role` is `admin`,
  `member` or `viewer` (Lumen has no owner, and no projects); `status` is `active`, or `invited` for an
  invitation not yet accepted.
* `GET /api/members[?email=][&page=][&per_page=]` → `{"members": [...], "next_page": n | null}`, pages of
  `per_page` (default `DEFAULT_PAGE_SIZE`) from page 0, the email match ignoring case.
* `DELETE /api/members/{id}` → 204, 404 when unknown.
* `POST /api/invitations` `{"email", "role"}` → 201 with the invited member; 409 when already there.
* `DELETE /api/invitations/{id}` → 204; 404 when unknown; 409 when the person has joined (a member).
* errors are `{"error": "<code>"}`; a 429 carries `Retry-After`.
"""

from __future__ import annotations

import itertools
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from tests.fifth_vendor.connector import ROLES, LumenVendor
from vendors.base import Role
from vendors.http import RetryPolicy
from vendors.sandbox.contract import Seat
from vendors.sandbox.server import Fault, LoopbackServer, Request, Response

SANDBOX_API_KEY = "lumen_sandbox_key_000000"
REJECTED_API_KEY = "lumen_rejected_key_111111"
DEFAULT_PAGE_SIZE = 3  # small, so every listing spans pages
FILLER_PEOPLE = 150  # the seeded world: enough to span several of the contract suite's pages
ACTIVE, INVITED = "active", "invited"
_NEAREST = {Role.OWNER: "admin"}  # Lumen has no owner: its admins run the account
_JOINED = datetime(2024, 1, 2, tzinfo=UTC)


@dataclass
class LumenMember:
    id: str
    email: str
    name: str
    role: str
    status: str = ACTIVE
    last_seen_at: datetime | None = None
    joined_at: datetime = _JOINED

    def to_json(self) -> dict[str, object]:
        return {"id": self.id, "email": self.email, "name": self.name, "role": self.role, "status": self.status,
                "last_seen_at": self.last_seen_at.isoformat() if self.last_seen_at else None,
                "joined_at": self.joined_at.isoformat()}


class LumenSandbox(LoopbackServer):
    name = "lumen-sandbox"
    vendor_name = "lumen"

    def __init__(self, *, seeded: bool = True) -> None:
        """`seeded`: start with the filler members (as `reset` restores them); False: an empty account."""
        super().__init__()
        self._state = threading.Lock()
        self._members: dict[str, LumenMember] = {}  # by id, in the order they were added
        self._ids = itertools.count(1)
        self._writes: Counter[str] = Counter()  # mutating calls received per email
        self.route("GET", r"/api/members", self._list)
        self.route("DELETE", r"/api/members/(?P<member_id>[^/]+)", self._delete_member)
        self.route("POST", r"/api/invitations", self._invite)
        self.route("DELETE", r"/api/invitations/(?P<member_id>[^/]+)", self._cancel)
        if seeded:
            self._seed()

    def connector(self, policy: RetryPolicy | None = None, *, page_size: int | None = None,
                  valid_credentials: bool = True) -> LumenVendor:
        key = SANDBOX_API_KEY if valid_credentials else REJECTED_API_KEY
        return LumenVendor(key, self.url, policy=policy, page_size=page_size)

    # -- state, read and set directly (they take the state lock, so a test may call them while the server answers)
    def reset(self) -> None:
        self.clear_faults()
        with self._state:
            self._members.clear()
            self._writes.clear()
        self._seed()

    def _seed(self) -> None:
        for n in range(FILLER_PEOPLE):
            self.add_member(f"lumen.filler{n:03d}@corp.com", role=("member", "viewer", "admin")[n % 3],
                            last_seen_at=_JOINED + timedelta(days=n))

    def add_member(self, email: str, *, role: str = "member", status: str = ACTIVE,
                   last_seen_at: datetime | None = None, joined_at: datetime = _JOINED) -> LumenMember:
        with self._state:
            member = LumenMember(f"lm_{next(self._ids)}", email, email.split("@")[0].title(), role, status,
                                 last_seen_at, joined_at)
            self._members[member.id] = member
            return member

    def member(self, email: str) -> LumenMember | None:
        with self._state:
            return self._by_email(email)

    def accept(self, email: str) -> None:
        """The invitee signs in: the invitation becomes a membership."""
        with self._state:
            member = self._by_email(email)
            assert member is not None and member.status == INVITED, email
            member.status = ACTIVE

    def seed_person(self, email: str, role: Role, project_ids: Sequence[str] = ()) -> None:
        with self._state:
            old = self._by_email(email)
            if old is not None:
                del self._members[old.id]
        self.add_member(email, role=_NEAREST.get(role) or ROLES.writing[role], last_seen_at=_JOINED)

    def seed_assets(self, email: str) -> int:
        return 0  # Lumen's API lists no assets

    def seat(self, email: str) -> Seat | None:
        member = self.member(email)
        if member is None:
            return None
        return Seat(ROLES.reading[member.role], frozenset(), pending=member.status == INVITED)

    def project_ids(self) -> list[str]:
        return []  # Lumen has no projects

    def member_count(self) -> int:
        with self._state:
            return len(self._members)  # its list shows invitees too, marked invited

    def throttle(self, seconds: int, *, times: int | None = 1, path_pattern: str | None = None) -> Fault:
        fault = Fault("status", 429, {"error": "rate_limited"}, {"Retry-After": str(seconds)}, times=times,
                      path_pattern=path_pattern)
        self.inject(fault)
        return fault

    def writes_about(self, email: str) -> int:
        with self._state:
            return self._writes[email.lower()]

    # -- the API --------------------------------------------------------------------------------------------------
    def authorize(self, request: Request) -> Response | None:
        if request.bearer_token != SANDBOX_API_KEY:
            return Response(401, {"error": "unauthorized"})
        return None

    def throttled(self, retry_after: int) -> Response:
        return Response(429, {"error": "rate_limited"}, {"Retry-After": str(retry_after)})

    def not_found(self) -> Response:
        return Response(404, {"error": "not_found"})

    def _list(self, request: Request) -> Response:
        email = (request.arg("email") or "").lower()
        page, size = int(request.arg("page") or "0"), int(request.arg("per_page") or DEFAULT_PAGE_SIZE)
        with self._state:
            matching = [m.to_json() for m in self._members.values() if not email or m.email.lower() == email]
        more = (page + 1) * size < len(matching)
        return Response(200, {"members": matching[page * size:(page + 1) * size],
                              "next_page": page + 1 if more else None})

    def _delete_member(self, request: Request) -> Response:
        with self._state:
            member = self._members.pop(request.params["member_id"], None)
            if member is None:
                return self.not_found()
            self._writes[member.email.lower()] += 1
        return Response(204)

    def _invite(self, request: Request) -> Response:
        body = request.json() or {}
        email, role = str(body.get("email") or ""), str(body.get("role") or "")
        if "@" not in email or role not in ROLES.reading:
            return Response(400, {"error": "bad_request"})
        with self._state:
            self._writes[email.lower()] += 1
            if self._by_email(email) is not None:
                return Response(409, {"error": "already_there"})
        return Response(201, self.add_member(email, role=role, status=INVITED).to_json())

    def _cancel(self, request: Request) -> Response:
        with self._state:
            member = self._members.get(request.params["member_id"])
            if member is None:
                return self.not_found()
            self._writes[member.email.lower()] += 1
            if member.status != INVITED:
                return Response(409, {"error": "already_joined"})
            del self._members[member.id]
        return Response(204)

    def _by_email(self, email: str) -> LumenMember | None:
        return next((m for m in self._members.values() if m.email.lower() == email.strip().lower()), None)
