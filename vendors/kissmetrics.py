"""The Kissmetrics connector: a manual checklist by default, an opt-in API for accounts that have one.

Kissmetrics publishes no user-management API (its public REST API is the read-only query API, with
no users; see /work/shared/vendor-apis.md). So by default offboard cannot look anybody up: `assess`
says UNKNOWN, calmly, and the plan is a checklist of manual steps quoting the seed runbook's click
path (/work/shared/runbooks/kissmetrics-remove-user.txt) word for word, which a person confirms in
Slack.

##########################################################################################################
# UNVERIFIED API. With an `api_key`, the connector uses the user API shown ONLY in the seed runbook:
#   GET    /v1/users?email=<email>     find a person
#   DELETE /v1/users/{user_id}         remove them
#   POST   /v1/users/invite            {"email", "role", "projects"} (to undo a mistaken removal)
# with `Authorization: Bearer <key>`. Nothing public confirms it exists. The response shapes are OUR
# GUESS (the runbook shows none beyond `jq '.id'`), read tolerantly: a user is
# `{"id", "email", "name", "role", "projects": [{"id", "name"}]}`, and the lookup may answer a bare
# list, `{"users": [...]}`, `{"data": [...]}` or a single user object. Errors are read from
# `message`/`error`. Enable it only for an account where you have seen it work.
##########################################################################################################

Rate limit: a third party quotes 15 requests a minute. The default `RetryPolicy` here therefore
sends one call at a time (`max_concurrency=1`) and backs off from 4 s (60 s / 15), honouring
`Retry-After` up to a minute; an offboarding makes two or three calls, so this rarely matters.
"""

from __future__ import annotations

import logging
from typing import Any

from vendors.base import (
    Assessment,
    AssessmentStatus,
    AuthError,
    ConflictError,
    Member,
    NotFoundError,
    PlannedStep,
    ProjectAccess,
    Role,
    StepOutcome,
    VendorError,
    run_step,
)
from vendors.http import RetryPolicy, VendorHTTP

log = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.kissmetrics.com"
RATE_LIMIT_PER_MINUTE = 15  # quoted by a third party, UNVERIFIED
# One call on the wire at a time, first retry after 60/15 s: gentle enough for 15 requests a minute.
DEFAULT_POLICY = RetryPolicy(max_concurrency=1, backoff=60.0 / RATE_LIMIT_PER_MINUTE, max_retry_after=60.0)
API_KEY_SETTING = "KISSMETRICS_API_KEY"  # the setting people are told to check when the key is refused

MANUAL_EXPLANATION = "Kissmetrics has no public API to look people up; check by hand"
_TEAM_UI = "Settings → Team"
# The runbook's click path to the team list, quoted exactly (Step 1).
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

# Kissmetrics' role words (as the sandbox and the runbook spell them, in any case or separator) → ours.
_ROLE_WORDS = {
    "account owner": Role.OWNER,
    "owner": Role.OWNER,
    "admin": Role.ADMIN,
    "administrator": Role.ADMIN,
    "member": Role.MEMBER,
    "user": Role.MEMBER,
    "editor": Role.MEMBER,
    "analyst": Role.MEMBER,
    "read only": Role.READ_ONLY,
    "readonly": Role.READ_ONLY,
    "viewer": Role.READ_ONLY,
}


def role_for(vendor_role: str) -> Role:
    """A Kissmetrics role name in our vocabulary. An unknown word is treated as an ordinary member:
    it is shown beside ours (`Member.vendor_role`), so a person still sees what Kissmetrics said."""
    word = " ".join(str(vendor_role).replace("_", " ").replace("-", " ").lower().split())
    return _ROLE_WORDS.get(word, Role.MEMBER)


class KissmetricsVendor:
    """`Vendor` for one Kissmetrics account.

    Without `api_key` (the default) it is **manual**: no public API can look people up, so it plans a
    checklist of UI steps from the runbook and never calls Kissmetrics.

    With `api_key` it uses the user API documented ONLY by the seed runbook, which is UNVERIFIED
    publicly (see the module docstring for the endpoints and the response shapes we assume).
    """

    name = "kissmetrics"
    label = "Kissmetrics"

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        *,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.base_url = (base_url or DEFAULT_BASE_URL).rstrip("/")
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

    def __repr__(self) -> str:
        mode = "manual" if self.manual else "api (UNVERIFIED)"
        return f"KissmetricsVendor(mode={mode!r}, base_url={self.base_url!r})"

    def close(self) -> None:
        if self._http:
            self._http.close()

    # -- Vendor protocol -----------------------------------------------------------------------------
    def assess(self, email: str) -> Assessment:
        email = email.strip()
        if self._http is None:
            return self._unknown(email, MANUAL_EXPLANATION)
        try:
            raw = self._find_user(email)
        except VendorError as exc:
            return self._unknown(email, _explained(exc).message)
        except Exception:  # a malformed answer must not sink the other vendors' assessments
            log.exception("Kissmetrics assessment of %s failed unexpectedly", email)
            return self._unknown(email, "Kissmetrics answered in a way offboard did not expect "
                                        "(details in the bot's log); check by hand")
        if raw is None:
            return Assessment(self.name, AssessmentStatus.NOT_MEMBER, email=email)
        member = _member(raw, email)
        warnings: tuple[str, ...] = ()
        if member.role == Role.OWNER:
            warnings = (f"{member.email} is the Kissmetrics Account Owner, who cannot be removed: the Account Owner "
                        "must transfer ownership first.",)
        return Assessment(self.name, AssessmentStatus.MEMBER, member=member, warnings=warnings, email=email)

    def plan_removal(self, assessment: Assessment, new_owner_email: str | None) -> list[PlannedStep]:
        if assessment.status == AssessmentStatus.NOT_MEMBER:
            return []
        email = assessment.email or (assessment.member.email if assessment.member else "")
        if self.manual or assessment.status == AssessmentStatus.UNKNOWN or assessment.member is None:
            # Nobody could look: the whole removal is done by hand, checking membership first.
            return _manual_plan(email or "the person leaving", new_owner_email, assessment.error)
        member = assessment.member
        steps: list[PlannedStep] = []
        if member.role == Role.OWNER:
            steps.append(_transfer_ownership_step(member.email))
        steps += [
            PlannedStep("remove_member", "Remove from Kissmetrics",
                        {"email": member.email, "user_id": member.member_id}),
            PlannedStep("verify_removed", "Check they are gone", {"email": member.email}),
            _handover_step(member.email, new_owner_email),
        ]
        return steps

    def execute(self, step: PlannedStep) -> StepOutcome:
        if step.manual:
            raise VendorError(f"“{step.title}” is a manual Kissmetrics step: a person does it in Kissmetrics and "
                              "confirms it in Slack; offboard cannot run it", vendor=self.name)
        if self._http is None:
            raise VendorError(f"offboard has no Kissmetrics API configured, so it cannot run “{step.title}”; "
                              "do it by hand in Kissmetrics", vendor=self.name)
        runners = {"remove_member": self._remove, "verify_removed": self._verify}
        return run_step(self.name, self.label, step, runners, _explained)

    # -- opt-in API (UNVERIFIED) ---------------------------------------------------------------------
    def invite(self, email: str, role: str, projects: list[str] | None = None) -> dict[str, Any]:
        """Re-invite someone (the runbook's fix for removing the wrong person). Not retried unless the
        call certainly did not reach Kissmetrics, so nobody is invited twice."""
        http = self._require_api()
        body = {"email": email.strip(), "role": role, "projects": list(projects or [])}
        try:
            answer = http.send_json("POST", "/v1/users/invite", body)
        except AuthError as exc:
            raise _explained(exc) from None
        return answer if isinstance(answer, dict) else {}

    def _remove(self, params: dict[str, Any]) -> StepOutcome:
        email = params["email"]
        raw = self._find_user(email)
        if raw is None:
            return StepOutcome(f"{email} was already removed from Kissmetrics", {"already_removed": True})
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
        return StepOutcome(f"Removed {email} from Kissmetrics",
                           {"already_removed": False, "user_id": user_id, "role_before": raw.get("role")})

    def _verify(self, params: dict[str, Any]) -> StepOutcome:
        email = params["email"]
        raw = self._find_user(email)
        if raw is not None:
            raise VendorError(
                f"{email} is still a user in Kissmetrics ({raw.get('role', 'unknown role')}). Remove them by hand "
                f"({_TEAM_UI} → find the person → Remove), then press Retry.", vendor=self.name,
            )
        return StepOutcome(f"Checked: {email} is no longer a user in Kissmetrics", {"email": email})

    def _find_user(self, email: str) -> dict[str, Any] | None:
        """The user whose email is `email` (ignoring case), or None. A 404 of the lookup itself is an
        error, not "not a member": it most likely means this account has no such API."""
        http = self._require_api()
        try:
            answer = http.get_json("/v1/users", params={"email": email.strip()})
        except NotFoundError as exc:
            raise VendorError(
                f"{exc.message}. This Kissmetrics account may not have the user API offboard was told to use "
                f"(it is not publicly documented); unset {API_KEY_SETTING} to use the manual checklist",
                status=exc.status, vendor=self.name,
            ) from None
        wanted = email.strip().casefold()
        for raw in _users_in(answer):
            if str(raw.get("email", "")).casefold() == wanted:
                if raw.get("id") in (None, ""):
                    raise VendorError(f"Kissmetrics listed {email} without an id", vendor=self.name)
                return raw
        return None

    def _require_api(self) -> VendorHTTP:
        if self._http is None:
            raise VendorError("offboard has no Kissmetrics API configured", vendor=self.name)
        return self._http

    def _unknown(self, email: str, error: str) -> Assessment:
        return Assessment(self.name, AssessmentStatus.UNKNOWN, error=error, email=email)


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
        raise VendorError("Kissmetrics answered GET /v1/users with an unexpected shape", vendor="kissmetrics")
    return [item for item in items if isinstance(item, dict)]


def _member(raw: dict[str, Any], email: str) -> Member:
    vendor_role = str(raw.get("role") or "unknown")
    projects = []
    for project in raw.get("projects") or []:
        if isinstance(project, dict):
            pid = str(project.get("id", ""))
            projects.append(ProjectAccess(pid, str(project.get("name") or pid), vendor_role))
        else:
            projects.append(ProjectAccess(str(project), str(project), vendor_role))
    return Member(
        email=str(raw.get("email") or email), member_id=str(raw["id"]), name=str(raw.get("name") or raw.get("email")),
        role=role_for(vendor_role), vendor_role=vendor_role, projects=tuple(projects),
        extra={"user_id": str(raw["id"]), "api": "seed-documented, UNVERIFIED"},
        last_login_known=False,
    )


def _explained(exc: VendorError) -> VendorError:
    """A rejected key is the one failure people can fix themselves: say how."""
    if isinstance(exc, AuthError) and exc.status == 401:
        return AuthError(f"{exc.message}. Check {API_KEY_SETTING}, or unset it to use the manual checklist.",
                         status=exc.status, vendor=exc.vendor)
    return exc


# -- plans ------------------------------------------------------------------------------------------------
def _manual_plan(email: str, new_owner: str | None, reason: str | None) -> list[PlannedStep]:
    why = reason or MANUAL_EXPLANATION
    if why != MANUAL_EXPLANATION:
        why = f"offboard could not check Kissmetrics ({why})"
    return [
        PlannedStep(
            "manual", "Check whether they are in Kissmetrics", manual=True, key="kissmetrics_check_member",
            instructions=(
                f"{why}. Open the team list:\n{_NAVIGATE}\n"
                f"Then look for {email}:\n{_FIND}\n"
                "• Verify email address matches\n"
                f"Note their role and the products they can see. If {email} is not in the list, they are not a "
                "member: write that when you confirm, and confirm the remaining Kissmetrics steps as not needed. "
                "Also check whether they have access through a different email address."
            ),
        ),
        _handover_step(email, new_owner),
        PlannedStep(
            "manual", "Remove them in Kissmetrics", manual=True, key="kissmetrics_remove",
            instructions=(
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
                "users, remove via SSO provider."
            ),
        ),
        PlannedStep(
            "manual", "Check they are gone from Kissmetrics", manual=True, key="kissmetrics_verify",
            instructions=(
                f"Reload the team list ({_TEAM_UI}) and search for {email} again: the user disappears from the team "
                "member list once removed. If they still appear, verify removal was saved (check team list) and "
                "try removing again; if it persists, contact Kissmetrics support."
            ),
        ),
    ]


def _handover_step(email: str, new_owner: str | None) -> PlannedStep:
    successor = new_owner or "another team member"
    return PlannedStep(
        "manual", "Hand over their Kissmetrics reports", manual=True, key="kissmetrics_handover",
        instructions=(
            f"Reports and dashboards created by {email} remain after the removal, but scheduled reports they "
            f"created may stop or need reassignment, and API keys they created may be invalidated. In Kissmetrics, "
            f"identify reports/dashboards owned by {email} and assign ownership to {successor}; export any reports "
            "needed for records; reassign their scheduled reports; and replace any API key of theirs that an "
            "integration uses. Note what was transferred, and to whom, when you confirm."
        ),
    )


def _transfer_ownership_step(email: str) -> PlannedStep:
    return PlannedStep(
        "manual", "Transfer account ownership first", manual=True, key="kissmetrics_transfer_ownership",
        instructions=(
            f"{email} is the Account Owner, who cannot be removed: the Account Owner must transfer ownership first. "
            f"Ask {email} (or Kissmetrics support) to make someone else the Account Owner, then confirm here."
        ),
    )
