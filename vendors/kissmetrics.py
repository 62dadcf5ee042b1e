"""The Kissmetrics connector: a manual checklist by default, an opt-in API for accounts that have one.

Kissmetrics publishes no user-management API (its public REST API is the read-only query API, with
no users; see /work/shared/vendor-apis.md). So by default offboard cannot look anybody up: `assess`
says UNKNOWN, calmly, the connector declares no capabilities, and every plan is manual steps quoting
the seed runbooks' click paths (/work/shared/runbooks/kissmetrics-*.txt) word for word, which a
person confirms in Slack. `manual_step` (module level, also what `ManualVendor` uses) holds every
one of those texts.

##########################################################################################################
# UNVERIFIED API. With an `api_key`, the connector uses the user API shown ONLY in the seed runbooks:
#   GET    /v1/users?email=<email>     find a person
#   DELETE /v1/users/{user_id}         remove them
#   POST   /v1/users/invite            {"email", "role", "projects"}
# with `Authorization: Bearer <key>`. Nothing public confirms it exists. The rest is OUR GUESS (the
# runbooks show no response beyond `jq '.id'`), read tolerantly:
# * a user is `{"id", "email", "name", "role", "status", "projects": [{"id", "name"}], "created_at"}`;
#   `role` is one of `account_owner`, `admin`, `user` (the word the runbook's invite example sends),
#   `read_only` (read through vendors.roles, which also knows other spellings); `status` is `active`,
#   or `pending` for an invitation not yet accepted (the UI shows those as "Pending" in the team list,
#   so we assume the user list does too; a missing status reads as active);
# * the lookup may answer a bare list, `{"users": [...]}`, `{"data": [...]}` or a single user object;
# * listing everyone is `GET /v1/users?limit=&offset=` → `{"users": [...], "total": n}` (offset/limit
#   like Kissmetrics' query API); we ask for DEFAULT_PAGE_SIZE at a time and follow `total`;
# * an invitation POST answers 409 when the person is already a user or invited;
# * errors are read from `message`/`error`.
# No call is shown to change a role, cancel an invitation, or touch reports: those stay manual.
# Enable it only for an account where you have seen it work.
##########################################################################################################

Rate limit: a third party quotes 15 requests a minute. The default `RetryPolicy` here therefore
sends one call at a time (`max_concurrency=1`), paces calls to stay under 15 in any minute (shared by
every request at once), and backs off from 4 s (60 s / 15), honouring `Retry-After` up to a minute;
an offboarding makes two or three calls, so this rarely matters except in bulk.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from vendors.base import (
    Assessment,
    AssessmentStatus,
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
    StepRunner,
    UnsupportedError,
    VendorError,
    assess_safely,
    build_manual_step,
    run_step,
)
from vendors.http import RetryPolicy, VendorHTTP
from vendors.manual import REMOVAL_BY_HAND
from vendors.ratelimit import Window
from vendors.roles import common_role, vendor_role

log = logging.getLogger(__name__)

VENDOR = "kissmetrics"
DEFAULT_BASE_URL = "https://api.kissmetrics.com"
RATE_LIMIT_PER_MINUTE = 15  # quoted by a third party, UNVERIFIED
# One call on the wire at a time, first retry after 60/15 s: gentle enough for 15 requests a minute.
DEFAULT_POLICY = RetryPolicy(max_concurrency=1, backoff=60.0 / RATE_LIMIT_PER_MINUTE, max_retry_after=60.0,
                             rate_limits=(Window.per_minute(RATE_LIMIT_PER_MINUTE),))
DEFAULT_PAGE_SIZE = 100  # users per `GET /v1/users` page (UNVERIFIED, like the pagination itself)
MAX_PAGES = 10_000
API_KEY_SETTING = "KISSMETRICS_API_KEY"  # the setting people are told to check when the key is refused
API_URL_SETTING = "KISSMETRICS_API_URL"
PENDING = "pending"  # the (UNVERIFIED) status of an invitation not yet accepted

# Everything the seed-documented API (UNVERIFIED) lets the connector do. Not CHANGE_ROLE, CANCEL_INVITE or
# REMOVE_FROM_PROJECT (no call shown), nor anything about reports or last login (the API shows neither).
API_CAPABILITIES = frozenset({
    Capability.FIND_MEMBER, Capability.LIST_MEMBERS, Capability.READ_ROLE, Capability.READ_PROJECTS,
    Capability.REMOVE_MEMBER, Capability.VERIFY_REMOVAL, Capability.INVITE,
})

MANUAL_EXPLANATION = "Kissmetrics has no public API to look people up; check by hand"
_TEAM_UI = "Settings → Team"
_CANCEL_UI = f"{_TEAM_UI} → Pending Invitations → Cancel or Revoke"
# The remove-user runbook's click path to the team list, quoted exactly (Step 1).
_NAVIGATE = (
    "• Log in to your Kissmetrics account\n"
    "• Click your profile icon in the top-right corner\n"
    "• Select Settings from the dropdown menu\n"
    "• Click Team or Team Members in the left sidebar"
)
_FIND = (  # Step 2
    "• Scroll through the team member list\n"
    "• Or use the search function (if available)\n"
    "• Enter the user's name or email address"
)
# The add-user runbook's Step 1, quoted exactly (its words differ a little from the remove-user runbook's).
_NAVIGATE_TO_INVITE = (
    "• Log in to your Kissmetrics account\n"
    "• Click on your profile icon or account menu in the top-right corner\n"
    "• Select Settings from the dropdown menu\n"
    "• Click on Team or Team Members in the left sidebar"
)
# The runbooks' permission levels, as the UI names them.
_UI_LEVELS = {Role.OWNER: "Owner", Role.ADMIN: "Admin", Role.MEMBER: "User", Role.READ_ONLY: "Read-Only"}
_SUCCESSOR = "the colleague taking over their work"


class KissmetricsVendor:
    """`Vendor` for one Kissmetrics account.

    Without `api_key` (the default) it is **manual**: no public API can look people up, so it declares
    no capabilities, plans a checklist of UI steps from the runbooks and never calls Kissmetrics.

    With `api_key` it uses the user API documented ONLY by the seed runbooks, which is UNVERIFIED
    publicly (see the module docstring for the endpoints and the response shapes we assume).
    """

    name = VENDOR
    label = "Kissmetrics"

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        *,
        policy: RetryPolicy | None = None,
        page_size: int | None = None,
    ) -> None:
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
        self.page_size = page_size or DEFAULT_PAGE_SIZE
        self._http: VendorHTTP | None = None
        if api_key:
            self._http = VendorHTTP(
                self.base_url,
                {"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
                vendor=self.name, label=self.label, policy=policy or DEFAULT_POLICY,
            )

    @property
    def manual(self) -> bool:
        return self._http is None

    @property
    def capabilities(self) -> frozenset[Capability]:
        return frozenset() if self.manual else API_CAPABILITIES

    def __repr__(self) -> str:
        mode = "manual" if self.manual else "api (UNVERIFIED)"
        return f"KissmetricsVendor(mode={mode!r}, base_url={self.base_url!r})"

    def close(self) -> None:
        if self._http:
            self._http.close()

    # -- Vendor protocol -----------------------------------------------------------------------------
    def assess(self, email: str) -> Assessment:
        if self.manual:
            return Assessment(self.name, AssessmentStatus.UNKNOWN, error=MANUAL_EXPLANATION, email=email.strip())
        return assess_safely(self.name, self.label, email, self._assess, _explained)

    def iter_members(self) -> Iterator[Member]:
        if self.manual:
            raise UnsupportedError(f"{MANUAL_EXPLANATION}: without {API_KEY_SETTING} offboard cannot list "
                                   "Kissmetrics' users", vendor=self.name)
        return self._walk_members()

    def manual_step(self, capability: Capability, email: str, details: Mapping[str, Any]) -> PlannedStep:
        return manual_step(capability, email, details)

    def plan_removal(self, assessment: Assessment, new_owner_email: str | None) -> list[PlannedStep]:
        if assessment.status == AssessmentStatus.NOT_MEMBER:
            return []
        email = assessment.email or (assessment.member.email if assessment.member else "")
        member = assessment.member
        if self.manual or not email:
            # Nobody can look: the whole removal is done by hand, checking membership first.
            details = {"new_owner_email": new_owner_email, "reason": assessment.error}
            return [manual_step(c, email or "the person leaving", details) for c in REMOVAL_BY_HAND]
        if assessment.status == AssessmentStatus.UNKNOWN or member is None:
            # The API was down when we looked: the removal looks them up again when it runs (an outage
            # must not turn into a removal nobody makes), and a person checks what the lookup could not.
            return [
                PlannedStep(StepKind.REMOVE_MEMBER, "Remove from Kissmetrics", {"email": email}),
                PlannedStep(StepKind.VERIFY_REMOVED, "Check they are gone", {"email": email}),
                manual_step(Capability.FIND_MEMBER, email, {"reason": assessment.error}),
                manual_step(Capability.HANDOVER_ASSETS, email, {"new_owner_email": new_owner_email}),
            ]
        verify = PlannedStep(StepKind.VERIFY_REMOVED, "Check they are gone", {"email": member.email})
        if member.extra.get("status") == PENDING:  # only invited: no call cancels an invitation
            return [manual_step(Capability.CANCEL_INVITE, member.email, {}), verify]
        steps: list[PlannedStep] = []
        if member.role == Role.OWNER:
            steps.append(manual_step(Capability.CHANGE_ROLE, member.email, {
                "role": Role.ADMIN.value, "current_role": Role.OWNER.value, "new_owner_email": new_owner_email}))
        return [
            *steps,
            PlannedStep(StepKind.REMOVE_MEMBER, "Remove from Kissmetrics",
                        {"email": member.email, "user_id": member.member_id}),
            verify,
            manual_step(Capability.HANDOVER_ASSETS, member.email, {"new_owner_email": new_owner_email}),
        ]

    def execute(self, step: PlannedStep) -> StepOutcome:
        if self.manual and not step.manual:
            raise UnsupportedError(f"offboard has no Kissmetrics API configured ({API_KEY_SETTING} is not set), so "
                                   f"it cannot run “{step.title}”; do it by hand in Kissmetrics", vendor=self.name)
        runners: dict[str, StepRunner] = {
            StepKind.REMOVE_MEMBER.value: self._remove,
            StepKind.VERIFY_REMOVED.value: self._verify,
            StepKind.INVITE.value: self._invite,
        }
        return run_step(self.name, self.label, step, runners, _explained)

    def check(self) -> list[str]:
        """`offboard check` (`vendors.base.Checkable`): in API mode one authenticated read, the first user of
        the list, so a wrong key or URL shows before a removal needs them. Manual mode calls nothing, so
        there is nothing to check."""
        if self.manual:
            return []
        try:
            self._get_users({"limit": 1})
        except VendorError as exc:
            message = _explained(exc).message
            if API_KEY_SETTING in message:  # already says which setting to fix
                return [message]
            return [f"{message}; check {API_URL_SETTING} ({self.base_url}) and that Kissmetrics answers there, "
                    "then run offboard check again"]
        return []

    # -- assessment and listing (UNVERIFIED API) -----------------------------------------------------
    def _assess(self, email: str) -> Assessment:
        raw = self._find_user(email)
        if raw is None:
            return Assessment(self.name, AssessmentStatus.NOT_MEMBER, email=email)
        member = _member(raw)
        warnings: list[str] = []
        if member.role == Role.OWNER:
            warnings.append(f"{member.email} is the Kissmetrics Account Owner, who cannot be removed: the Account "
                            "Owner must transfer ownership first.")
        if member.extra.get("status") == PENDING:
            warnings.append(f"{member.email} has a pending Kissmetrics invitation they have not accepted yet; it is "
                            f"cancelled by hand ({_CANCEL_UI}).")
        return Assessment(self.name, AssessmentStatus.MEMBER, member=member, warnings=tuple(warnings), email=email)

    def _walk_members(self) -> Iterator[Member]:
        """Page after page of `GET /v1/users?limit=&offset=` (UNVERIFIED), each fetched when the previous
        one is used up."""
        try:
            offset, first_id_before = 0, None
            for _ in range(MAX_PAGES):
                answer = self._get_users({"limit": self.page_size, "offset": offset})
                users = _users_in(answer)
                first_id = users[0].get("id") if users else None
                if first_id is not None and first_id == first_id_before:
                    raise VendorError("Kissmetrics answered GET /v1/users with the same page twice: it may not "
                                      "support offset paging", vendor=self.name)
                first_id_before = first_id
                yield from (_member(raw) for raw in users)
                offset += len(users)
                if _was_last_page(answer, len(users), offset, self.page_size):
                    return
            raise VendorError(f"Kissmetrics: GET /v1/users has more than {MAX_PAGES} pages", vendor=self.name)
        except AuthError as exc:
            raise _explained(exc) from None

    # -- step runners (UNVERIFIED API) ---------------------------------------------------------------
    def _remove(self, params: dict[str, Any]) -> StepOutcome:
        email = params["email"]
        raw = self._find_user(email)
        if raw is None:
            return StepOutcome(f"{email} was already removed from Kissmetrics", {"already_removed": True})
        if _is_pending(raw):
            raise VendorError(f"{email} only has a pending Kissmetrics invitation, which offboard cannot cancel "
                              f"through the API (none is documented). Cancel it by hand ({_CANCEL_UI}), then "
                              "press Retry.", vendor=self.name)
        user_id = str(raw["id"])
        try:
            self._require_api().send_json("DELETE", f"/v1/users/{user_id}")
        except NotFoundError:  # removed by someone else between our lookup and our DELETE
            return StepOutcome(f"{email} was already removed from Kissmetrics", {"already_removed": True})
        except ConflictError as exc:
            raise ConflictError(
                f"Kissmetrics refused to remove {email} ({exc.message}). If they are the Account Owner, the "
                f"Account Owner must transfer ownership first; then press Retry, or remove them by hand "
                f"({_TEAM_UI} → find the person → Remove).", status=exc.status, vendor=self.name,
            ) from None
        if self._find_user(email) is not None:
            raise VendorError(f"Kissmetrics accepted the removal of {email}, yet still lists them. Remove them by "
                              f"hand ({_TEAM_UI} → find the person → Remove), then press Retry.", vendor=self.name)
        return StepOutcome(f"Removed {email} from Kissmetrics",
                           {"already_removed": False, "user_id": user_id, "role_before": raw.get("role")})

    def _verify(self, params: dict[str, Any]) -> StepOutcome:
        email = params["email"]
        raw = self._find_user(email)
        if raw is not None and _is_pending(raw):
            raise VendorError(f"{email} still has a pending Kissmetrics invitation and could accept it. Cancel it by "
                              f"hand ({_CANCEL_UI}), then press Retry.", vendor=self.name)
        if raw is not None:
            raise VendorError(
                f"{email} is still a user in Kissmetrics ({raw.get('role', 'unknown role')}). Remove them by hand "
                f"({_TEAM_UI} → find the person → Remove), then press Retry.", vendor=self.name,
            )
        return StepOutcome(f"Checked: {email} is no longer a user in Kissmetrics", {"email": email})

    def _invite(self, params: dict[str, Any]) -> StepOutcome:
        email, role = params["email"], _wanted_role(params)
        word = vendor_role(self.name, role)
        if word is None:
            raise UnsupportedError(
                f"Kissmetrics' API cannot invite anyone as {role.value}: the Account Owner is made only by an "
                f"ownership transfer. Invite {email} as admin, then ask the Account Owner to transfer ownership to "
                f"them, or invite them by hand ({_TEAM_UI} → Invite User).", vendor=self.name,
            )
        existing = self._find_user(email)
        if existing is not None:
            return _already_there(email, existing, role)
        projects = [str(p) for p in params.get("projects") or []]
        if not self._post_invite(email, role, {"email": email, "role": word, "projects": projects}):
            # Invited or joined between our lookup and our POST: a fresh lookup says which.
            meanwhile = self._find_user(email)
            if meanwhile is None:
                raise VendorError(f"Kissmetrics answered that {email} is already a user or invited, yet does not "
                                  f"list them. Check {_TEAM_UI} (Pending Invitations), then press Retry.",
                                  vendor=self.name)
            return _already_there(email, meanwhile, role)
        invited = self._find_user(email)
        if invited is None or common_role(self.name, str(invited.get("role") or "")) != role:
            listed = f"lists them as {invited.get('role')}" if invited else "does not list them"
            raise VendorError(f"Kissmetrics accepted the invitation of {email} as {role.value}, yet {listed}. Check "
                              f"{_TEAM_UI} (Pending Invitations), then press Retry.", vendor=self.name)
        return _invited(email, role, invited, projects, bool(params.get("message")))

    def _post_invite(self, email: str, role: Role, body: dict[str, Any]) -> bool:
        """True when Kissmetrics took the invitation; False for its 409 (already a user or invited).
        A POST: VendorHTTP retries it only when it certainly did not reach Kissmetrics, so a lost
        answer never sends a second invitation; a rerun of the step finds the first one."""
        try:
            self._require_api().send_json("POST", "/v1/users/invite", body)
        except ConflictError:
            return False
        except (AuthError, UnsupportedError):
            raise
        except VendorError as exc:
            if exc.retryable:
                raise
            raise VendorError(f"Kissmetrics refused to invite {email} as {role.value} ({exc.message}). Invite them "
                              f"by hand ({_TEAM_UI} → Invite User), then press Retry.", status=exc.status,
                              vendor=self.name) from None
        return True

    # -- lookups -------------------------------------------------------------------------------------
    def _find_user(self, email: str) -> dict[str, Any] | None:
        """The user (joined or invited) whose email is `email` (ignoring case), or None."""
        answer = self._get_users({"email": email.strip()})
        wanted = email.strip().casefold()
        for raw in _users_in(answer):
            if str(raw.get("email", "")).casefold() == wanted:
                if raw.get("id") in (None, ""):
                    raise VendorError(f"Kissmetrics listed {email} without an id", vendor=self.name)
                return raw
        return None

    def _get_users(self, params: dict[str, Any]) -> Any:
        """`GET /v1/users`. A 404 of it is an error, not "nobody": it most likely means this account has no
        such API."""
        try:
            return self._require_api().get_json("/v1/users", params=params)
        except NotFoundError as exc:
            raise VendorError(
                f"{exc.message}. This Kissmetrics account may not have the user API offboard was told to use "
                f"(it is not publicly documented); unset {API_KEY_SETTING} to use the manual checklist",
                status=exc.status, vendor=self.name,
            ) from None

    def _require_api(self) -> VendorHTTP:
        if self._http is None:
            raise UnsupportedError("offboard has no Kissmetrics API configured", vendor=self.name)
        return self._http


# -- reading the (UNVERIFIED) answers ---------------------------------------------------------------------
def _users_in(answer: Any) -> list[dict[str, Any]]:
    """The users in a lookup answer, whichever of the shapes we accept it came in."""
    if isinstance(answer, list):
        items = answer
    elif isinstance(answer, dict) and isinstance(answer.get("users"), list):
        items = answer["users"]
    elif isinstance(answer, dict) and isinstance(answer.get("data"), list):
        items = answer["data"]
    elif isinstance(answer, dict) and "id" in answer and "email" in answer:  # the runbook's `jq '.id'`
        items = [answer]
    elif answer is None or answer == {}:
        items = []
    else:
        raise VendorError("Kissmetrics answered GET /v1/users with an unexpected shape", vendor=VENDOR)
    return [item for item in items if isinstance(item, dict)]


def _was_last_page(answer: Any, count: int, offset: int, page_size: int) -> bool:
    total = answer.get("total") if isinstance(answer, dict) else None
    if count == 0:
        return True
    if isinstance(total, int) and not isinstance(total, bool):
        return offset >= total
    # No total: a page longer than we asked for means the limit was ignored and everything came at once;
    # otherwise (a short page may just be the API's own maximum) ask until a page comes back empty.
    return count > page_size


def _is_pending(raw: Mapping[str, Any]) -> bool:
    return str(raw.get("status") or "").casefold() == PENDING


def _member(raw: dict[str, Any]) -> Member:
    if raw.get("id") in (None, "") or not raw.get("email"):
        raise VendorError("Kissmetrics listed a user without an id or an email", vendor=VENDOR)
    word = str(raw.get("role") or "unknown")
    projects = []
    for project in raw.get("projects") or []:
        if isinstance(project, dict):
            pid = str(project.get("id", ""))
            projects.append(ProjectAccess(pid, str(project.get("name") or pid), word))
        else:
            projects.append(ProjectAccess(str(project), str(project), word))
    email, user_id = str(raw["email"]), str(raw["id"])
    return Member(
        email=email, member_id=user_id, name=str(raw.get("name") or email),
        role=common_role(VENDOR, word), vendor_role=word, projects=tuple(projects),
        joined_at=_parse_time(raw.get("created_at")),
        extra={"user_id": user_id, "status": PENDING if _is_pending(raw) else "active",
               "api": "seed-documented, UNVERIFIED"},
        last_login_known=False,
    )


def _parse_time(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
    except ValueError:
        return None


def _wanted_role(params: Mapping[str, Any]) -> Role:
    try:
        return Role(str(params.get("role") or ""))
    except ValueError:
        raise VendorError(f"The Kissmetrics step names no role offboard knows ({params.get('role')!r})",
                          vendor=VENDOR) from None


def _already_there(email: str, raw: Mapping[str, Any], wanted: Role) -> StepOutcome:
    current = common_role(VENDOR, str(raw.get("role") or ""))
    details = {"user_id": str(raw.get("id")), "role": current.value}
    if not _is_pending(raw):
        return StepOutcome(f"{email} is already a Kissmetrics user (as {current.value}); no invitation sent",
                           {"status": "already_member", **details})
    note = "" if current == wanted else (f"; it is for {current.value}, not {wanted.value}: change their permission "
                                         "level by hand once they accept")
    return StepOutcome(f"{email} already has a pending Kissmetrics invitation{note}; not sent again",
                       {"status": "already_invited", **details})


def _invited(email: str, role: Role, raw: Mapping[str, Any], projects: list[str], had_message: bool) -> StepOutcome:
    suffix = f", with access to {', '.join(projects)}" if projects else ""
    # The runbook's API call takes no message; saying so beats a message silently lost.
    unsent = " (the personal message was not sent: Kissmetrics' API takes none)" if had_message else ""
    return StepOutcome(f"Invited {email} to Kissmetrics as {role.value}{suffix}{unsent}",
                       {"status": "invited", "user_id": str(raw.get("id")), "role": role.value,
                        "projects": projects, "message_sent": False})


def _explained(exc: VendorError) -> VendorError:
    """A rejected key is the one failure people can fix themselves: say how."""
    if isinstance(exc, AuthError) and exc.status == 401:
        return AuthError(f"{exc.message}. Check {API_KEY_SETTING}, or unset it to use the manual checklist.",
                         status=exc.status, vendor=exc.vendor)
    return exc


# -- manual steps for every capability (also what ManualVendor uses when Kissmetrics is set up as manual-only)


def manual_step(capability: Capability, email: str, details: Mapping[str, Any]) -> PlannedStep:
    """What a person does in Kissmetrics' UI instead of `capability` for `email` (click paths quoted from
    the seed runbooks; where they describe none, we say so). `details` may hold "role", "project_id",
    "project_name", "projects", "message", "new_owner_email", "reason", "after_invite", and
    "current_role" ("owner" turns a role change into the Account Owner's ownership transfer)."""
    return build_manual_step(VENDOR, _MANUAL_TEXTS, capability, email, details)


def _level(details: Mapping[str, Any]) -> tuple[Role | None, str]:
    """The role asked for, and the UI's name for it (the vendor's word if we do not know it)."""
    try:
        role = Role(str(details.get("role") or Role.MEMBER.value))
    except ValueError:
        return None, str(details.get("role"))
    return role, _UI_LEVELS[role]


def _find_text(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    why = str(details.get("reason") or MANUAL_EXPLANATION)
    if why != MANUAL_EXPLANATION:
        why = f"offboard could not check Kissmetrics ({why})"
    return ("Check whether they are in Kissmetrics",
            f"{why}. Open the team list:\n{_NAVIGATE}\n"
            f"Then look for {email}:\n{_FIND}\n"
            "• Verify email address matches\n"
            f"Note their role and the products they can see. If {email} is not in the list, they are not a "
            "member: write that when you confirm, and confirm the remaining Kissmetrics steps as not needed. "
            "Also check whether they have access through a different email address. If they are listed as "
            f"“Pending” (an invitation not yet accepted), cancel the invitation: {_CANCEL_UI}.")


def _list_text(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    return ("List Kissmetrics' team by hand",
            f"Open the team list:\n{_NAVIGATE}\n"
            "• Scroll through the team member list\n"
            "It shows every user with their permission level (Owner, Admin, User or Read-Only); invitations "
            "not yet accepted appear as “Pending”. Copy what is needed, starting with whether "
            f"{email} is among them.")


def _role_text(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    return (f"Check {email}'s permission level in Kissmetrics",
            f"Open the team list:\n{_NAVIGATE}\n"
            f"• Find {email} in the list\n"
            "• Click on the user's name\n"
            "Note their permission level: Owner, Admin, User or Read-Only (the runbooks' levels). The runbooks "
            "do not say where Kissmetrics shows it; the list or their profile are where to look.")


def _last_login_text(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    return (f"Check when {email} last used Kissmetrics",
            "The runbooks do not say where Kissmetrics shows a user's last login. Open the team list:\n"
            f"{_NAVIGATE}\n"
            f"• Find {email} in the list\n"
            "• Click on the user's name\n"
            "Look in their row and their profile for a last login or last active date. If Kissmetrics shows "
            "none, write “unknown” when you confirm (Kissmetrics support can tell).")


def _projects_text(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    return (f"Check which Kissmetrics projects {email} can open",
            f"Open the team list:\n{_NAVIGATE}\n"
            f"• Find {email} in the list\n"
            "• Click on the user's name\n"
            "On plans with granular access controls their profile shows their Project Access (the runbook: "
            "“Select which projects the user can access”): note the projects listed. On plans without it, every "
            "user can open every project.")


def _assets_text(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    return (f"List the Kissmetrics reports {email} created",
            f"Reports and dashboards created by {email} remain after a removal, but scheduled reports they "
            "created may stop or need reassignment, and API keys they created may be invalidated. The runbooks "
            f"give no click path to list them: in Kissmetrics go through the reports and dashboards and note "
            f"those created by {email}, their scheduled reports, and any API key of theirs an integration uses.")


def _handover_text(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    successor = details.get("new_owner_email") or _SUCCESSOR
    return ("Hand over their Kissmetrics reports",
            f"Reports and dashboards created by {email} remain after the removal, but scheduled reports they "
            f"created may stop or need reassignment, and API keys they created may be invalidated. In Kissmetrics, "
            f"identify reports/dashboards owned by {email} and assign ownership to {successor}; export any reports "
            "needed for records; reassign their scheduled reports; and replace any API key of theirs that an "
            "integration uses. Note what was transferred, and to whom, when you confirm.")


def _change_role_text(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    role, level = _level(details)
    if details.get("current_role") == Role.OWNER.value:
        successor = details.get("new_owner_email") or "another admin"
        return ("Transfer account ownership first",
                f"{email} is the Account Owner, who cannot be removed: the Account Owner must transfer ownership "
                f"first. Ask {email} (or Kissmetrics support) to make someone else the Account Owner ({successor}, "
                "say), then confirm here. The runbooks give no click path for the transfer.")
    if role == Role.OWNER:
        return (f"Make {email} the Kissmetrics Account Owner",
                "Kissmetrics makes an Account Owner only by an ownership transfer, which the runbooks do not "
                f"describe: ask the current Account Owner (or Kissmetrics support) to transfer ownership to {email}, "
                "then confirm here.")
    start = (f"You can update permissions after the user accepts: once {email} has accepted the invitation, open"
             if details.get("after_invite") else "Open")
    return (f"Change {email}'s Kissmetrics permission level to {level}",
            "The runbooks do not describe changing a permission level (they point to an “Update User Access” "
            f"guide). {start} the team list:\n{_NAVIGATE}\n"
            f"• Find {email} in the list\n"
            "• Click on the user's name\n"
            f"• In their profile, set their permission level to {level} and save\n"
            f"Check the list shows {email} as {level} before you confirm.")


def _remove_from_project_text(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    project = details.get("project_name") or details.get("project_id") or "the project"
    return (f"Remove {email} from Kissmetrics project {project}",
            "The runbooks describe project access only when inviting (“Project Access: Select which projects the "
            "user can access”, on plans with granular access controls), not how to change it afterwards. Open the "
            f"team list:\n{_NAVIGATE}\n"
            f"• Find {email} in the list\n"
            "• Click on the user's name\n"
            f"• In their Project Access, clear {project} and save\n"
            f"They stay in the account and keep their other projects. If your plan has no per-project access, "
            f"{email} can open every project and cannot be taken out of one: say so when you confirm.")


def _remove_member_text(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    return ("Remove them in Kissmetrics",
            f"In Kissmetrics ({_TEAM_UI} → find the person → Remove):\n{_NAVIGATE}\n"
            f"• Find {email} in the list\n"
            "• Click the Remove, Delete, or trash icon next to their name\n"
            "• A confirmation dialog appears\n"
            "(Or: Click on the user's name, and in their profile, click Remove User or Delete Access.)\n"
            "The confirmation dialog shows the user's name and email and a warning that this action may be "
            "irreversible:\n"
            "• Read the confirmation message carefully\n"
            "• Verify this is the correct user\n"
            "• Click Confirm, Remove User, or Delete\n"
            "If the Remove button is grayed out or missing: the User is the Account Owner (cannot be removed) "
            "— the Account Owner must transfer ownership first; or the User is managed by SSO/SAML — for SSO "
            "users, remove via SSO provider.")


def _verify_text(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    return ("Check they are gone from Kissmetrics",
            f"Reload the team list ({_TEAM_UI}) and search for {email} again: the user disappears from the team "
            "member list once removed. If they still appear, verify removal was saved (check team list) and "
            "try removing again; if it persists, contact Kissmetrics support.")


def _invite_text(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    _, level = _level(details)
    projects = ", ".join(str(p) for p in details.get("projects") or [])
    lines = [
        _NAVIGATE_TO_INVITE,
        "• On the Team page, locate the Invite User or Add Team Member button",
        "• Click the button to open the invitation form",
        f"• Enter the user's work email address: {email}",
        f"• Select the permission level: {level}",
    ]
    if projects:
        lines.append(f"• Project Access (if available): select which projects the user can access: {projects}")
    if details.get("message"):
        lines.append(f"• Add a personal message: “{details['message']}”")
    lines += ["• Review all information for accuracy", "• Click Send Invitation or Invite User"]
    return (f"Invite {email} to Kissmetrics as {level}",
            "In Kissmetrics:\n" + "\n".join(lines) + "\nThe invitation appears as “Pending” in your team list "
            "until they accept it.")


def _cancel_invite_text(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    return (f"Cancel {email}'s Kissmetrics invitation",
            "In Kissmetrics:\n"
            "• Go to Settings → Team\n"
            "• Look for a Pending Invitations section or filter\n"
            f"• Find the pending invitation for {email}\n"
            "• Click Cancel or Revoke\n"
            "The invitation link becomes invalid and they can no longer accept it. If they have already "
            f"accepted, {email} is a user: remove them instead (Settings → Team → find the person → Remove).")


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
