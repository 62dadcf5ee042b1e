"""An in-memory Amplitude SCIM API (`/scim/1`) over real HTTP, for the connector tests and the offline demo.

What makes Amplitude particular (see /work/shared/vendor-apis.md): a user's id **is** their email,
compared case-insensitively by `GET /Users/{email}` (documented); the `userName eq` filter's case rule
is undocumented, so the sandbox serves the worst case, an exact match; a `POST /Users` must carry `id`
and `userName`, both valid emails (400 otherwise, as documented); the page size is `itemsPerPage`
(max 100); pending invitees are listed with `active: true`; `active: false` removes the user from the
org (or revokes the invite), as DELETE does; permission groups answer a POST with 200. Roles
(Viewer/Member/Manager/Admin) exist but SCIM shows none of them: the sandbox keeps each user's role
internally and refuses to remove the last Admin, as the product keeps at least one.

`AmplitudeSandbox()` seeds the demo world of `seed()`; `AmplitudeSandbox(seed=False)` starts empty.
It implements `ContractSandbox` (vendors/sandbox/contract.py): roles are read and written through
vendors.roles, Amplitude has no projects over SCIM and no asset API, and a seat is pending while the
internal `pending` flag says the invitation has not been accepted.
"""

from __future__ import annotations

from collections.abc import Sequence

from vendors.amplitude import AmplitudeVendor
from vendors.base import Role
from vendors.http import RetryPolicy
from vendors.roles import common_role, vendor_role
from vendors.sandbox.contract import Seat
from vendors.sandbox.scim import ScimSandbox, ScimUser, filler_people, scim_error
from vendors.sandbox.server import Response

SANDBOX_SCIM_KEY = "amp_scim_sandbox_key_0000000000000000"
REJECTED_SCIM_KEY = "amp_scim_regenerated_away_000000000000"  # what a regenerated (dead) key looks like
ROLES = ("Viewer", "Member", "Manager", "Admin")
FILLER_COUNT = 250
DEMO_PEOPLE = {  # email → (given, family, role, pending)
    "it-ops@corp.com": ("Ivy", "Ops", "Admin", False),
    "alice@corp.com": ("Alice", "Anders", "Manager", False),
    "bob@corp.com": ("Bob", "Brown", "Member", False),
    "carol@corp.com": ("Carol", "Chen", "Admin", False),
    "dave@corp.com": ("Dave", "Diaz", "Viewer", True),  # invited, has not joined yet
}


class AmplitudeSandbox(ScimSandbox):
    name = "amplitude-sandbox"
    vendor_name = "amplitude"
    base_path = "/scim/1"
    page_size_param = "itemsPerPage"
    max_page_size = 100
    token = SANDBOX_SCIM_KEY
    ids_case_insensitive = True
    filter_case_sensitive = True  # undocumented: the worst case; GET /Users/{email} is documented case-insensitive
    group_created_status = 200  # Amplitude answers a group POST with 200, not 201

    def reset(self, *, seed: bool = True, page_size: int | None = None) -> None:
        self.seat_limit: int | None = None  # how many people (joined or invited) the plan allows; None: no limit
        super().reset(seed=seed, page_size=page_size)

    # -- Amplitude's rules ----------------------------------------------------------------------------
    def invalid_create(self, body: dict[str, object]) -> Response | None:
        # Documented: "To succeed, `id` and `userName` must be valid emails". The status and wording of the refusal
        # are UNVERIFIED (a SCIM 400, as its other refusals).
        if not all(_is_email(body.get(key)) for key in ("id", "userName")):
            return scim_error(400, "The ID and Username must be valid emails.", "invalidValue")
        return None

    def refuse_create(self, user_name: str) -> Response | None:
        if self.seat_limit is not None and len(self.users) >= self.seat_limit:
            # UNVERIFIED: Amplitude documents no SCIM answer for a plan whose seats are all taken; status and
            # wording are our best guess (a plain 400 with the reason, as its other refusals).
            return scim_error(400, f"Cannot add {user_name}: all {self.seat_limit} seats of the organization's "
                                   "plan are in use. Remove a user or buy more seats.")
        return None

    def new_user_id(self, user_name: str) -> str:
        return user_name  # the id is the email

    def add_user(self, email: str, given: str = "", family: str = "", *, active: bool = True,
                 **extra: object) -> ScimUser:
        extra.setdefault("role", "Viewer")  # SCIM invites become Viewers
        extra.setdefault("pending", True)
        return super().add_user(email, given, family, active=active, **extra)

    def refuse_removal(self, user: ScimUser) -> Response | None:
        if user.extra.get("role") == "Admin" and not user.extra.get("pending"):
            others = [u for u in self.users.values()
                      if u is not user and u.extra.get("role") == "Admin" and not u.extra.get("pending")]
            if not others:
                # UNVERIFIED: status and wording; Amplitude documents only that an org keeps one Admin.
                return scim_error(400, f"Cannot remove {user.user_name}: an organization must keep at least "
                                       "one Admin.", "mutability")
        return None

    def on_deactivate(self, user: ScimUser) -> None:
        self._drop(user)  # at Amplitude, active:false removes from the org (or revokes the invite)

    # -- helpers for tests ----------------------------------------------------------------------------
    def role(self, email: str) -> str | None:
        user = self.user(email)
        return str(user.extra["role"]) if user else None

    def set_role(self, email: str, role: str) -> None:
        assert role in ROLES, role
        with self._state:
            user = self.user(email)
            assert user, email
            user.extra["role"] = role
            user.extra["pending"] = False

    def make_sole_admin(self, email: str) -> None:
        """Make `email` the only (joined) Admin: every other Admin becomes a Manager."""
        with self._state:
            for user in self.users.values():
                if user.extra.get("role") == "Admin":
                    user.extra["role"] = "Manager"
            self.set_role(email, "Admin")

    # -- ContractSandbox ------------------------------------------------------------------------------
    def connector(self, policy: RetryPolicy, *, page_size: int | None = None,
                  valid_credentials: bool = True) -> AmplitudeVendor:
        key = SANDBOX_SCIM_KEY if valid_credentials else REJECTED_SCIM_KEY
        return AmplitudeVendor(key, self.url, page_size=page_size, policy=policy)

    def seed_person(self, email: str, role: Role, project_ids: Sequence[str] = ()) -> None:
        """A joined member with Amplitude's word for `role` (Owner becomes Admin, its top role).
        `project_ids` are ignored: SCIM knows no projects."""
        word = vendor_role(self.vendor_name, role) or "Member"
        with self._state:
            if self.user(email) is None:
                self.add_user(email, role=word, pending=False)
            self.set_role(email, word)

    def seed_assets(self, email: str) -> int:
        return 0  # no API lists what an Amplitude user owns

    def seat(self, email: str) -> Seat | None:
        with self._state:
            user = self.user(email)
            if user is None:
                return None
            return Seat(common_role(self.vendor_name, str(user.extra["role"])), frozenset(),
                        pending=bool(user.extra.get("pending")))

    def project_ids(self) -> list[str]:
        return []

    def member_count(self) -> int:
        with self._state:
            return len(self.users)  # joined and pending; `active: false` removes at Amplitude

    # -- the demo world -------------------------------------------------------------------------------
    def seed(self) -> None:
        for email, (given, family, role, pending) in DEMO_PEOPLE.items():
            self.add_user(email, given, family, role=role, pending=pending)
        fillers = filler_people(FILLER_COUNT)
        for i, (email, given, family) in enumerate(fillers):
            self.add_user(email, given, family, role=ROLES[i % 3], pending=i % 10 == 9)
        self.add_group("Analysts", ["alice@corp.com", "bob@corp.com"] + [e for e, _, _ in fillers[:40]])
        self.add_group("Growth", ["alice@corp.com"] + [e for e, _, _ in fillers[40:60]])
        self.add_group("Finance", ["carol@corp.com"])
        self.add_group("Admins", ["it-ops@corp.com", "carol@corp.com"])


def _is_email(value: object) -> bool:
    local, at, domain = str(value or "").strip().rpartition("@")
    return bool(at and local and "." in domain and " " not in str(value))
