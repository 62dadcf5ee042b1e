"""An in-memory Amplitude SCIM API (`/scim/1`) over real HTTP, for the connector tests and the offline demo.

What makes Amplitude particular (see /work/shared/vendor-apis.md): a user's id **is** their email,
compared case-insensitively; the page size is `itemsPerPage` (max 100); pending invitees are listed
with `active: true`; `active: false` removes the user from the org (or revokes the invite), as DELETE
does; permission groups answer a POST with 200. Roles (Viewer/Member/Manager/Admin) exist but SCIM
shows none of them: the sandbox keeps each user's role internally and refuses to remove the last
Admin, as the product keeps at least one.

`AmplitudeSandbox()` seeds the demo world of `seed()`; `AmplitudeSandbox(seed=False)` starts empty.
"""

from __future__ import annotations

from vendors.sandbox.scim import ScimSandbox, ScimUser, filler_people, scim_error
from vendors.sandbox.server import Response

SANDBOX_SCIM_KEY = "amp_scim_sandbox_key_0000000000000000"
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
    base_path = "/scim/1"
    page_size_param = "itemsPerPage"
    max_page_size = 100
    token = SANDBOX_SCIM_KEY
    ids_case_insensitive = True
    group_created_status = 200  # Amplitude answers a group POST with 200, not 201

    # -- Amplitude's rules ----------------------------------------------------------------------------
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
