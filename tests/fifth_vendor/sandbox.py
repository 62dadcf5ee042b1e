"""Lumen, a made-up fifth analytics tool, as a loopback HTTP server in the shape of vendors/sandbox/: its whole
API is ours, invented for the test that proves a vendor can be added with no change to the bot.

* Bearer auth (`SANDBOX_API_KEY`); anything else is 401.
* A member is `{"id", "email", "name", "role", "status", "last_seen_at", "joined_at"}`; `role` is `admin`,
  `member` or `viewer`; `status` is `active`, or `invited` for an invitation not yet accepted.
* `GET /api/members[?email=][&page=]` → `{"members": [...], "next_page": n | null}`, `PAGE_SIZE` a page, the
  email match ignoring case.
* `DELETE /api/members/{id}` → 204, 404 when unknown.
* `POST /api/invitations` `{"email", "role"}` → 201 with the invited member; 409 when already there.
* `DELETE /api/invitations/{id}` → 204; 404 when unknown; 409 when the person has joined (a member).
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass
from datetime import UTC, datetime

from tests.fifth_vendor.connector import LumenVendor
from vendors.http import RetryPolicy
from vendors.sandbox.server import LoopbackServer, Request, Response

SANDBOX_API_KEY = "lumen_sandbox_key_000000"
PAGE_SIZE = 2  # small, so every listing spans pages
ACTIVE, INVITED = "active", "invited"
ROLES = ("admin", "member", "viewer")


@dataclass
class LumenMember:
    id: str
    email: str
    name: str
    role: str
    status: str = ACTIVE
    last_seen_at: datetime | None = None
    joined_at: datetime = datetime(2024, 1, 2, tzinfo=UTC)

    def to_json(self) -> dict[str, object]:
        return {"id": self.id, "email": self.email, "name": self.name, "role": self.role, "status": self.status,
                "last_seen_at": self.last_seen_at.isoformat() if self.last_seen_at else None,
                "joined_at": self.joined_at.isoformat()}


class LumenSandbox(LoopbackServer):
    name = "lumen-sandbox"

    def __init__(self) -> None:
        super().__init__()
        self._state = threading.Lock()
        self._members: dict[str, LumenMember] = {}  # by id, in the order they were added
        self._ids = itertools.count(1)
        self.route("GET", r"/api/members", self._list)
        self.route("DELETE", r"/api/members/(?P<member_id>[^/]+)", self._delete_member)
        self.route("POST", r"/api/invitations", self._invite)
        self.route("DELETE", r"/api/invitations/(?P<member_id>[^/]+)", self._cancel)

    def connector(self, policy: RetryPolicy | None = None) -> LumenVendor:
        return LumenVendor(SANDBOX_API_KEY, self.url, policy=policy)

    # -- helpers for tests (they take the state lock, so a test may call them while the server answers) -----------
    def add_member(self, email: str, *, role: str = "member", status: str = ACTIVE,
                   last_seen_at: datetime | None = None,
                   joined_at: datetime = datetime(2024, 1, 2, tzinfo=UTC)) -> LumenMember:
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

    # -- the API --------------------------------------------------------------------------------------------------
    def authorize(self, request: Request) -> Response | None:
        if request.bearer_token != SANDBOX_API_KEY:
            return Response(401, {"error": "unauthorized"})
        return None

    def not_found(self) -> Response:
        return Response(404, {"error": "not_found"})

    def _list(self, request: Request) -> Response:
        email = (request.arg("email") or "").lower()
        page = int(request.arg("page") or "0")
        with self._state:
            matching = [m for m in self._members.values() if not email or m.email.lower() == email]
        chunk = matching[page * PAGE_SIZE:(page + 1) * PAGE_SIZE]
        more = (page + 1) * PAGE_SIZE < len(matching)
        return Response(200, {"members": [m.to_json() for m in chunk], "next_page": page + 1 if more else None})

    def _delete_member(self, request: Request) -> Response:
        with self._state:
            if self._members.pop(request.params["member_id"], None) is None:
                return self.not_found()
        return Response(204)

    def _invite(self, request: Request) -> Response:
        body = request.json() or {}
        email, role = str(body.get("email") or ""), str(body.get("role") or "")
        if "@" not in email or role not in ROLES:
            return Response(400, {"error": "bad_request"})
        with self._state:
            if self._by_email(email) is not None:
                return Response(409, {"error": "already_there"})
        return Response(201, self.add_member(email, role=role, status=INVITED).to_json())

    def _cancel(self, request: Request) -> Response:
        with self._state:
            member = self._members.get(request.params["member_id"])
            if member is None:
                return self.not_found()
            if member.status != INVITED:
                return Response(409, {"error": "already_joined"})
            del self._members[member.id]
        return Response(204)

    def _by_email(self, email: str) -> LumenMember | None:
        return next((m for m in self._members.values() if m.email.lower() == email.lower()), None)
