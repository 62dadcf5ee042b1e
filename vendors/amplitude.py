"""The Amplitude connector: assess, list, invite and remove people over Amplitude's SCIM API.

Amplitude's SCIM API (see /work/shared/vendor-apis.md) knows who is in the organization (joined or
invited: both are `active: true`) and their permission groups; it can invite (POST, always as a
Viewer) and remove (DELETE). It shows no role, no last login, no projects and nothing about the
charts, dashboards and cohorts a person owns, and can change none of those: that becomes manual steps
with the runbook's click paths (`manual_step`), the hand-over planned *before* the removal because
Amplitude deletes what a removed user owned.

A person is looked up with the `userName eq` filter and, when it finds nothing, with `GET /Users/{email}`
before they are called absent: the id is the email, documented as case-insensitive, while the filter's
case rule is not documented. A create sends `id` (the email) beside `userName`, as Amplitude requires.

Every step looks the person up again when it runs, does nothing that is already done, and checks
the result with a fresh lookup.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from vendors.base import (
    Assessment,
    AssessmentStatus,
    AuthError,
    Capability,
    ConflictError,
    ManualText,
    Member,
    PlannedStep,
    Role,
    StepKind,
    StepOutcome,
    StepRunner,
    VendorError,
    assess_safely,
    build_manual_step,
    run_step,
)
from vendors.http import RetryPolicy, VendorHTTP
from vendors.ratelimit import Window
from vendors.roles import vendor_role
from vendors.scim import ScimClient, scim_classify, scim_detail, user_emails, user_name

RATE_LIMIT_PER_MINUTE = 100  # Amplitude's documented SCIM limit, per organization
DEFAULT_POLICY = RetryPolicy(rate_limits=(Window.per_minute(RATE_LIMIT_PER_MINUTE),))
BASE_URLS = {"us": "https://core.amplitude.com/scim/1", "eu": "https://core.eu.amplitude.com/scim/1"}
SCIM_PATH = "/scim/1"
MAX_PAGE_SIZE = 100  # Amplitude's itemsPerPage maximum
UNKNOWN_ROLE = "unknown (SCIM does not expose roles)"
INVITED_ROLE = "Viewer"  # every SCIM invitation makes a Viewer; no API sets a role
_MEMBERS_UI = "Settings → Members & Groups"
_REMOVE_UI = f"{_MEMBERS_UI} → their name → Remove from Organization → Remove"
_KEY_HINT = (" Check AMPLITUDE_SCIM_KEY: it must be the organization's current SCIM key "
             "(regenerating the key in Amplitude kills the old one).")
_LAST_ADMIN_WORDS = ("last admin", "at least one admin", "only admin")
_SUCCESSOR = "the colleague taking over their work"


def amplitude_base_url(region: str) -> str:
    """"us" / "eu", or a full URL (a bare host gets Amplitude's `/scim/1` path)."""
    region = region.strip()
    if region.lower() in BASE_URLS:
        return BASE_URLS[region.lower()]
    if not region:
        raise ValueError("Amplitude region is empty: use 'us', 'eu' or a SCIM base URL")
    url = httpx.URL(region if "://" in region else f"https://{region}")
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"Amplitude region {region!r} is not 'us', 'eu' or an http(s) URL")
    text = str(url).rstrip("/")
    return text if url.path.strip("/") else text + SCIM_PATH


def _classify(response: httpx.Response, detail: str) -> VendorError | None:
    if response.status_code in (400, 409) and any(w in detail.lower() for w in _LAST_ADMIN_WORDS):
        return ConflictError(
            f"Amplitude will not remove the organization's last Admin ({detail}). Make someone else an Admin "
            f"first ({_MEMBERS_UI} → their name → Organization Role: Admin), then press Retry."
        )
    return scim_classify(response, detail)


class AmplitudeVendor:
    """`Vendor` for one Amplitude organization, acting with its SCIM key."""

    name = "amplitude"
    label = "Amplitude"
    # What SCIM allows. Not: roles (SCIM shows none), last login, projects, assets, hand-over, role
    # changes and project removal: those are `manual_step`s.
    capabilities = frozenset({
        Capability.FIND_MEMBER, Capability.LIST_MEMBERS, Capability.REMOVE_MEMBER, Capability.VERIFY_REMOVAL,
        Capability.INVITE, Capability.CANCEL_INVITE,
    })
    invite_role = Role.READ_ONLY  # SCIM invites become Viewers: the planner adds a manual role step

    def __init__(self, scim_key: str, region: str = "us", *, page_size: int | None = None,
                 policy: RetryPolicy | None = None) -> None:
        if not scim_key:
            raise ValueError("an Amplitude SCIM key is required")
        self.base_url = amplitude_base_url(region)
        self._http = VendorHTTP(
            self.base_url, {"Authorization": f"Bearer {scim_key}", "Accept": "application/scim+json"},
            vendor=self.name, label=self.label, policy=policy or DEFAULT_POLICY, detail=scim_detail,
            classify_error=_classify,
        )
        self._scim = ScimClient(self._http, page_size_param="itemsPerPage",
                                page_size=min(page_size or MAX_PAGE_SIZE, MAX_PAGE_SIZE))

    def __repr__(self) -> str:
        return f"AmplitudeVendor(base_url={self.base_url!r})"

    def close(self) -> None:
        self._http.close()

    # -- Vendor protocol ---------------------------------------------------------------------------
    def assess(self, email: str) -> Assessment:
        return assess_safely(self.name, self.label, email, self._assess, _explained)

    def iter_members(self) -> Iterator[Member]:
        """Everyone Amplitude lists (joined members and pending invitees alike: SCIM cannot tell them
        apart), one /Users page at a time as the stream is consumed. Permission groups are left out of
        the stream: SCIM gives a person's groups only by scanning every group, which would be one more
        list scan per member; `assess` shows them for one person."""
        for user in self._scim.users():
            yield _member(user)

    def manual_step(self, capability: Capability, email: str, details: Mapping[str, Any]) -> PlannedStep:
        return manual_step(capability, email, details)

    def plan_removal(self, assessment: Assessment, new_owner_email: str | None) -> list[PlannedStep]:
        if assessment.status == AssessmentStatus.NOT_MEMBER:
            return []
        email = assessment.member.email if assessment.member else assessment.email
        if not email:  # cannot happen with our own assessments; never plan nothing for an unknown
            return [_check_by_hand_step("(unnamed)", assessment.error or "Amplitude could not be checked")]
        successor = new_owner_email or _SUCCESSOR
        steps = [_transfer_step(email, successor), _last_admin_step(email)]
        if assessment.status == AssessmentStatus.UNKNOWN or assessment.member is None:
            steps.insert(0, _check_by_hand_step(email, assessment.error or "Amplitude could not be checked"))
        steps += [
            PlannedStep(StepKind.REMOVE_MEMBER, "Remove from the Amplitude organization", {"email": email}),
            PlannedStep(StepKind.VERIFY_REMOVED, "Check they are gone", {"email": email}),
        ]
        return steps

    def execute(self, step: PlannedStep) -> StepOutcome:
        runners: dict[str, StepRunner] = {
            StepKind.REMOVE_MEMBER: lambda params: self._remove(params["email"]),
            StepKind.VERIFY_REMOVED: lambda params: self._verify(params["email"]),
            StepKind.INVITE: self._invite,
            StepKind.CANCEL_INVITE: self._cancel_invite,
        }
        return run_step(self.name, self.label, step, runners, _explained)

    def check(self) -> list[str]:
        """Read-only: one authenticated SCIM read (one user) proves the key and the base URL."""
        try:
            self._http.get_json("/Users", params={"startIndex": "1", "itemsPerPage": "1"})
        except AuthError as exc:
            return [f"Amplitude: the SCIM key was refused ({exc.message}).{_KEY_HINT}"]
        except VendorError as exc:
            return [f"Amplitude: SCIM at {self.base_url} could not be read ({exc.message}). Check AMPLITUDE_REGION "
                    "and that the organization has SCIM provisioning enabled (an Enterprise feature)."]
        return []

    # -- lookups -----------------------------------------------------------------------------------
    def _find(self, email: str) -> dict[str, Any] | None:
        """The filter first; on a miss `GET /Users/{email}`, documented as case-insensitive, before they
        are called absent (the filter's case rule is undocumented)."""
        user = self._scim.find_user(email)
        if user is not None:
            return user
        user = self._scim.get_user(email.strip())
        wanted = email.strip().casefold()
        if user is not None and wanted in (e.casefold() for e in user_emails(user)):
            return user
        return None

    # -- assessment --------------------------------------------------------------------------------
    def _assess(self, email: str) -> Assessment:
        user = self._find(email)
        if user is None:
            return Assessment(self.name, AssessmentStatus.NOT_MEMBER, email=email)
        groups = [{"id": str(g.get("id")), "name": str(g.get("displayName", ""))}
                  for g in self._scim.groups_of(_user_id(user, email))]
        member = _member(user, groups)
        warnings = [
            "Amplitude's SCIM API does not show a member's role, last login, projects, or the charts, dashboards "
            f"and cohorts they own: check them in {_MEMBERS_UI} before approving.",
            "Joined members and pending invitees look the same over SCIM: this may be an invite not yet accepted.",
        ]
        if groups:
            warnings.append(f"Permission groups: {', '.join(g['name'] for g in groups)} (they leave them on removal).")
        return Assessment(self.name, AssessmentStatus.MEMBER, member=member, warnings=tuple(warnings), email=email)

    # -- removal -----------------------------------------------------------------------------------
    def _remove(self, email: str) -> StepOutcome:
        user = self._find(email)
        if user is None:
            return StepOutcome(f"{email} was already removed from Amplitude", {"already_removed": True})
        user_id = _user_id(user, email)
        deleted = self._scim.delete_user(user_id)
        if self._find(email) is not None:
            raise VendorError(f"Amplitude still lists {email} after removing them. Remove them by hand ({_REMOVE_UI}), "
                              "then press Retry.", vendor=self.name)
        if not deleted:  # removed by someone else between our lookup and the DELETE
            return StepOutcome(f"{email} was already removed from Amplitude", {"already_removed": True})
        return StepOutcome(f"Removed {email} from the Amplitude organization",
                           {"already_removed": False, "user_id": user_id})

    def _verify(self, email: str) -> StepOutcome:
        if self._find(email) is not None:
            raise VendorError(
                f"{email} is still a member of the Amplitude organization. Remove them by hand ({_REMOVE_UI}), "
                "then press Retry.", vendor=self.name,
            )
        return StepOutcome(f"Checked: {email} is no longer in the Amplitude organization",
                           {"verified_at": datetime.now(UTC).isoformat()})

    # -- invitations -------------------------------------------------------------------------------
    def _invite(self, params: dict[str, Any]) -> StepOutcome:
        email = params["email"]
        not_given = _invite_shortfall(params)
        if self._find(email) is not None:
            return _already_listed(email)
        try:
            self._scim.create_user(email, id=email)  # "The ID and Username must be valid emails"
        except ConflictError:
            if self._find(email) is None:
                raise
            return _already_listed(email)  # listed by someone else between our lookup and the POST
        if self._find(email) is None:
            raise VendorError(f"Amplitude accepted the invitation for {email} but does not list them. Invite them "
                              f"by hand ({_MEMBERS_UI}), then press Retry.", vendor=self.name)
        summary = f"Invited {email} to Amplitude as a {INVITED_ROLE} (SCIM invites everyone as a Viewer)"
        if not_given:
            summary += ". Not given: " + "; ".join(not_given)
        return StepOutcome(summary, {"status": "invited", "vendor_role": INVITED_ROLE, "invited_by_offboard": True,
                                     "not_given": not_given})

    def _cancel_invite(self, params: dict[str, Any]) -> StepOutcome:
        """SCIM lists a pending invitee exactly like a joined member, so a DELETE meant to cancel an
        invitation could remove someone who has joined. offboard therefore cancels only an invitation it
        sent itself (the step says `invited_by_offboard`: the workflow carries it from the INVITE
        outcome) and refuses to guess otherwise. Even then it cannot tell whether the invitation was
        accepted meanwhile: the outcome says so."""
        email = params["email"]
        user = self._find(email)
        if user is None:
            return StepOutcome(f"{email} is not listed in Amplitude: no invitation to cancel (already gone)",
                               {"status": "already_gone"})
        if params.get("invited_by_offboard") is not True:
            raise ConflictError(
                f"offboard will not cancel {email}'s Amplitude invitation: Amplitude's SCIM API shows pending "
                "invitations and joined members the same way, and offboard did not send this one, so cancelling "
                f"could remove a member who has joined. {_cancel_by_hand(email)}", vendor=self.name,
            )
        deleted = self._scim.delete_user(_user_id(user, email))
        if self._find(email) is not None:
            raise VendorError(f"{email} is still listed in Amplitude after cancelling. {_cancel_by_hand(email)} "
                              "Then press Retry.", vendor=self.name)
        if not deleted:  # gone between our lookup and the DELETE
            return StepOutcome(f"{email} is not listed in Amplitude: no invitation to cancel (already gone)",
                               {"status": "already_gone"})
        return StepOutcome(
            f"Cancelled the Amplitude invitation offboard sent to {email} (SCIM cannot tell whether they had "
            "accepted it meanwhile; if they had, this removed them from the organization)",
            {"status": "cancelled"},
        )


def _user_id(user: dict[str, Any], email: str) -> str:
    return str(user.get("id") or user.get("userName") or email)


def _member(user: dict[str, Any], groups: list[dict[str, str]] | None = None) -> Member:
    """SCIM shows no role and no last login: the role reads as member with the vendor's word "unknown"."""
    user_id = _user_id(user, "")
    extra: dict[str, Any] = {"user_id": user_id, "active": bool(user.get("active", True))}
    if groups is not None:
        extra["permission_groups"] = groups
    return Member(email=str(user.get("userName") or user_id), member_id=user_id, name=user_name(user),
                  role=Role.MEMBER, vendor_role=UNKNOWN_ROLE, extra=extra, last_login_known=False)


def _already_listed(email: str) -> StepOutcome:
    return StepOutcome(f"{email} is already listed in Amplitude (joined or invited): no invitation sent",
                       {"status": "already_member"})


def _invite_shortfall(params: Mapping[str, Any]) -> list[str]:
    """What an invitation asked for that SCIM cannot give, said in the outcome so nobody assumes it."""
    missing = []
    role = str(params.get("role") or Role.READ_ONLY.value)
    if role != Role.READ_ONLY.value:
        missing.append(f"the {role} role (SCIM invites as a {INVITED_ROLE}; the plan has a step to change it by hand)")
    projects = [str(p) for p in params.get("projects") or []]
    if projects:
        missing.append(f"access to projects {', '.join(projects)} (SCIM knows no projects: give it in {_MEMBERS_UI})")
    if params.get("message"):
        missing.append("the message (SCIM sends Amplitude's own invitation email only)")
    return missing


def _cancel_by_hand(email: str) -> str:
    # The runbook has no invitation click path; this is Amplitude's Members page, where invites are listed.
    return (f"Cancel it by hand: in Amplitude navigate to {_MEMBERS_UI}, find {email} (a pending invitation is "
            "marked as pending there) and revoke the invitation; if they have already joined, leave them unless "
            "removing them is what you want.")


def _explained(exc: VendorError) -> VendorError:
    """A rejected key is the one failure people can fix themselves: say how."""
    if isinstance(exc, AuthError) and exc.status == 401:
        return AuthError(exc.message + _KEY_HINT, status=exc.status, vendor=exc.vendor)
    return exc


# -- manual steps (the click paths are those of /work/shared/runbooks/amplitude-remove-user.txt) ----------
def manual_step(capability: Capability, email: str, details: Mapping[str, Any]) -> PlannedStep:
    """What a person does in Amplitude's UI instead of `capability`, naming `email` and the details."""
    return build_manual_step("amplitude", _BY_HAND, capability, email, details)


def _role_word(details: Mapping[str, Any]) -> str:
    try:
        return vendor_role("amplitude", Role(str(details.get("role")))) or str(details.get("role"))
    except ValueError:
        return str(details.get("role") or "the agreed role")


def _project(details: Mapping[str, Any]) -> str:
    name, project_id = details.get("project_name"), details.get("project_id")
    return f"{name} (project {project_id})" if name and project_id else str(name or project_id or "the project")


def _find_by_hand(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    reason = details.get("reason") or "offboard did not look it up"
    return "Check whether they are in Amplitude", (
        f"Nobody has looked yet ({reason}). In Amplitude navigate to {_MEMBERS_UI} and use the search box to find "
        f"{email}. Note whether they are there (a member or a pending invitation), their Organization Role and "
        "their projects, then confirm here."
    )


def _list_by_hand(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    return "Export the Amplitude Members list", (
        f"Export current Members list from Amplitude ({_MEMBERS_UI}) and cross-reference it against the HR roster "
        f"and active employees; note whether {email} is on it and confirm here."
    )


def _role_read_by_hand(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    return "Note their Amplitude role", (
        f"Amplitude's API does not show roles. Navigate to {_MEMBERS_UI} and open {email}'s account: note their "
        "Organization Role (Viewer, Member, Manager or Admin), and identify if they're the only Admin for any "
        "project (that requires designating a replacement)."
    )


def _last_login_by_hand(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    return "Note when they last logged in to Amplitude", (
        f"Amplitude's API does not show last logins. In the Members table ({_MEMBERS_UI}) find {email} and check "
        "the Last Login column; note it here."
    )


def _projects_by_hand(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    return "Note their Amplitude projects", (
        f"Amplitude's API does not show projects. Navigate to {_MEMBERS_UI} and open {email}'s account. Review "
        "all projects they have access to, and document which projects they can view and their role in each."
    )


def _assets_by_hand(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    return "List what they own in Amplitude", (
        f"Amplitude's API cannot list what {email} owns. Check whether they own or created: Dashboards (custom "
        "dashboards other team members rely on), Notebooks, Metrics (custom metrics, formulas, computed "
        "properties), Cohorts, Tracking Plans (events or properties they manage in Govern), Data pipelines "
        "(export configurations, warehouse syncs, integrations) and API keys (ingestion or export keys). Use "
        "the Dashboards section to filter by owner, and write the list here."
    )


def _transfer_instructions(email: str, successor: str) -> str:
    return (
        f"Do this BEFORE the removal: Amplitude deletes what a removed user owned, and its API cannot see or "
        f"move it. In Amplitude use the Dashboards section (and the Charts, Notebooks, Cohorts and Metrics "
        f"lists) filtered by owner {email}. For each item: go to the asset settings (dashboard, notebook, "
        f"metric, cohort) and change the Owner field to {successor} (or another active Admin). For tracking "
        f"plans in Govern, reassign event ownership to another Tracking Plan Editor. Write down which "
        f"ingestion or export keys and integrations they managed: those need new owners and rotating."
    )


def _handover_by_hand(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    successor = details.get("new_owner_email") or _SUCCESSOR
    return "Transfer their charts, dashboards, notebooks and cohorts", _transfer_instructions(email, successor)


def _role_change_by_hand(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    if details.get("restore"):
        return "Give back their Amplitude role and projects", (
            f"offboard could not see what {email} had in Amplitude ({details.get('reason') or 'SCIM shows no roles'})."
            f" Once they have accepted the invitation (SCIM invites everyone as a Viewer), navigate to {_MEMBERS_UI}, "
            "open their account and set the Organization Role and project access they had before the removal. "
            "Confirm here once done."
        )
    word = _role_word(details)
    when = ("Once they have accepted the invitation (Amplitude's SCIM invites everyone as a Viewer): "
            if details.get("after_invite") else "Amplitude's API cannot change roles. ")
    return f"Make them {word} in Amplitude", (
        f"{when}navigate to {_MEMBERS_UI}, open {email}'s account and set Organization Role: {word}. If they "
        "were the only Admin, make sure another active Admin exists first (Amplitude keeps at least one)."
    )


def _project_removal_by_hand(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    project = _project(details)
    return f"Remove them from {project}", (
        f"Amplitude's API cannot change project access. Navigate to {_MEMBERS_UI} and open {email}'s account. "
        f"Review all projects they have access to and remove their access to {project} only: they stay in the "
        "organization and keep their other projects. Note the change here."
    )


def _removal_by_hand(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    return "Remove them from the Amplitude organization", (
        f"First make sure what {email} owns has been transferred (Amplitude deletes it) and that they are not the "
        f"last Admin. Then navigate to {_MEMBERS_UI}, open their account and remove them: their name → Remove "
        "from Organization → Remove. If your identity provider provisions Amplitude, also remove them from its "
        "Amplitude group so they are not re-provisioned."
    )


def _verify_by_hand(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    return "Check they are gone from Amplitude", (
        f"Scan the Members table ({_MEMBERS_UI}) and confirm {email} is no longer listed. Check if they have access "
        "to multiple Amplitude organizations and verify they were removed from all of them; if using SSO, ensure "
        "they were removed from the IdP group."
    )


def _invite_by_hand(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    # The runbook has no invitation click path; Members & Groups is where Amplitude invites.
    projects = ", ".join(str(p) for p in details.get("projects") or []) or "the projects agreed"
    return f"Invite them to Amplitude as {_role_word(details)}", (
        f"In Amplitude navigate to {_MEMBERS_UI} and invite {email}: choose the role {_role_word(details)} and "
        f"give access to {projects}. Confirm here once the invitation is sent."
    )


def _cancel_invite_by_hand(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    return "Cancel their Amplitude invitation", _cancel_by_hand(email)


_BY_HAND: dict[Capability, ManualText] = {
    Capability.FIND_MEMBER: _find_by_hand,
    Capability.LIST_MEMBERS: _list_by_hand,
    Capability.READ_ROLE: _role_read_by_hand,
    Capability.READ_LAST_LOGIN: _last_login_by_hand,
    Capability.READ_PROJECTS: _projects_by_hand,
    Capability.LIST_ASSETS: _assets_by_hand,
    Capability.HANDOVER_ASSETS: _handover_by_hand,
    Capability.CHANGE_ROLE: _role_change_by_hand,
    Capability.REMOVE_FROM_PROJECT: _project_removal_by_hand,
    Capability.REMOVE_MEMBER: _removal_by_hand,
    Capability.VERIFY_REMOVAL: _verify_by_hand,
    Capability.INVITE: _invite_by_hand,
    Capability.CANCEL_INVITE: _cancel_invite_by_hand,
}


# The removal plan's own manual steps keep their established keys (stored plans refer to them).
def _transfer_step(email: str, successor: str) -> PlannedStep:
    return PlannedStep(StepKind.MANUAL, "Transfer their charts, dashboards, notebooks and cohorts", manual=True,
                       key="amplitude_transfer_assets", instructions=_transfer_instructions(email, successor))


def _last_admin_step(email: str) -> PlannedStep:
    return PlannedStep(
        StepKind.MANUAL, "Check they are not the last Admin", manual=True, key="amplitude_last_admin",
        instructions=(
            f"Amplitude's API does not show roles. Navigate to {_MEMBERS_UI} and open {email}'s account: note "
            f"their Organization Role and projects. If they are an Admin, make sure another active Admin exists "
            f"(Amplitude refuses to remove the last one), and identify if they're the only Admin for any project "
            f"(designate a replacement). If your identity provider provisions Amplitude, also remove them from "
            f"its Amplitude group so they are not re-provisioned."
        ),
    )


def _check_by_hand_step(email: str, reason: str) -> PlannedStep:
    return PlannedStep(
        StepKind.MANUAL, "Check Amplitude by hand", manual=True, key="amplitude_check_by_hand",
        instructions=(
            f"Amplitude could not be checked when this was planned ({reason}). In Amplitude navigate to "
            f"{_MEMBERS_UI} and use the search box to find {email}. If they are there, the steps below remove "
            f"them once Amplitude answers again; if offboard keeps failing, remove them by hand (their name → "
            f"Remove from Organization → Remove) and confirm here."
        ),
    )
