"""The Mixpanel connector: assess a person, plan their removal, run the steps, over Mixpanel's SCIM API.

Mixpanel's SCIM (Enterprise; see /work/shared/vendor-apis.md) knows the org's users and its Teams
(SCIM Groups). A Team carries an org role and project access, so a person's access is read from, and
taken away through, their Teams; then SCIM deactivates them. SCIM shows no last login and nothing
about the boards and reports a person owns: handing those over, and rotating the integrations and
service accounts they managed, become manual steps with the runbook's click paths. With service-account
credentials, the connector also lists the service accounts the person created (UNVERIFIED field).

Every step looks the person up again when it runs and does nothing that is already done.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

import httpx

from vendors.base import (
    Assessment,
    AssessmentStatus,
    AuthError,
    Member,
    NotFoundError,
    PlannedStep,
    ProjectAccess,
    Role,
    StepOutcome,
    StepRunner,
    VendorError,
    assess_safely,
    run_step,
)
from vendors.http import RetryPolicy, VendorHTTP
from vendors.scim import ScimClient, scim_classify, scim_detail, user_name

HOSTS = {"us": "https://mixpanel.com", "eu": "https://eu.mixpanel.com", "in": "https://in.mixpanel.com"}
SCIM_PATH = "/api/app/scim/v2"
APP_PATH = "/api/app"
MAX_PAGE_SIZE = 100  # UNVERIFIED: Mixpanel documents no SCIM page size; RFC 7644's `count` is used
# UNVERIFIED: the extension a Team's org role and project access would appear under (the sandbox's).
TEAM_EXTENSION = "urn:mixpanel:params:scim:schemas:extension:team:2.0:Team"
_ROLE_RANK = {"owner": (3, Role.OWNER), "admin": (2, Role.ADMIN), "billing admin": (1, Role.MEMBER),
              "member": (1, Role.MEMBER)}
_MEMBERS_UI = "Organization Settings → Members"
_TOKEN_HINT = " Check MIXPANEL_SCIM_TOKEN: it must be a current SCIM token of the organization."


def mixpanel_host(region: str) -> str:
    """"us" / "eu" / "in", or the URL of a Mixpanel (its scheme and host; any path is ignored)."""
    region = region.strip()
    if region.lower() in HOSTS:
        return HOSTS[region.lower()]
    if not region:
        raise ValueError("Mixpanel region is empty: use 'us', 'eu', 'in' or a URL")
    url = httpx.URL(region if "://" in region else f"https://{region}")
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"Mixpanel region {region!r} is not 'us', 'eu', 'in' or an http(s) URL")
    port = f":{url.port}" if url.port else ""
    return f"{url.scheme}://{url.host}{port}"


def team_access(team: dict[str, Any]) -> tuple[str | None, list[ProjectAccess]]:
    """A Team's org role and project access, when the server shows them (UNVERIFIED extension)."""
    ext = team.get(TEAM_EXTENSION)
    if not isinstance(ext, dict):
        return None, []
    projects = [ProjectAccess(str(p.get("id")), str(p.get("name") or p.get("id")), str(p.get("role") or "unknown"))
                for p in ext.get("projects") or [] if isinstance(p, dict)]
    return (str(ext["orgRole"]).lower() if ext.get("orgRole") else None), projects


class MixpanelVendor:
    """`Vendor` for one Mixpanel organization, acting with its SCIM token (and optionally a service account)."""

    name = "mixpanel"
    label = "Mixpanel"

    def __init__(self, scim_token: str, region: str = "us", *, service_account_username: str | None = None,
                 service_account_secret: str | None = None, organization_id: int | str | None = None,
                 page_size: int | None = None, policy: RetryPolicy | None = None) -> None:
        if not scim_token:
            raise ValueError("a Mixpanel SCIM token is required")
        self.host = mixpanel_host(region)
        self._http = VendorHTTP(
            self.host + SCIM_PATH, {"Authorization": f"Bearer {scim_token}", "Accept": "application/scim+json"},
            vendor=self.name, label=self.label, policy=policy, detail=scim_detail, classify_error=scim_classify,
        )
        self._scim = ScimClient(self._http, page_size_param="count",
                                page_size=min(page_size or MAX_PAGE_SIZE, MAX_PAGE_SIZE))
        self.organization_id = str(organization_id) if organization_id else None
        self._service: VendorHTTP | None = None
        if service_account_username and service_account_secret and self.organization_id:
            basic = base64.b64encode(f"{service_account_username}:{service_account_secret}".encode()).decode()
            self._service = VendorHTTP(
                self.host + APP_PATH, {"Authorization": f"Basic {basic}", "Accept": "application/json"},
                vendor=self.name, label=self.label, policy=policy, secrets=(service_account_secret,),
            )

    def __repr__(self) -> str:
        return f"MixpanelVendor(host={self.host!r}, organization_id={self.organization_id!r})"

    def close(self) -> None:
        self._http.close()
        if self._service:
            self._service.close()

    # -- Vendor protocol ---------------------------------------------------------------------------
    def assess(self, email: str) -> Assessment:
        return assess_safely(self.name, self.label, email, self._assess, _explained)

    def plan_removal(self, assessment: Assessment, new_owner_email: str | None) -> list[PlannedStep]:
        if assessment.status == AssessmentStatus.NOT_MEMBER:
            return []
        member = assessment.member
        email = member.email if member else assessment.email
        successor = new_owner_email or "the colleague taking over their work"
        steps: list[PlannedStep] = []
        if assessment.status == AssessmentStatus.UNKNOWN or member is None:
            steps.append(_check_by_hand_step(email or "(unnamed)", assessment.error or "Mixpanel could not be checked"))
            if not email:
                return steps
        steps.append(_transfer_step(email, successor))
        teams = (member.extra.get("teams") or []) if member else []
        if teams or member is None:
            names = ", ".join(t["name"] for t in teams) or "every Team they are in"
            steps.append(PlannedStep("remove_from_teams", f"Remove from Teams ({names})", {"email": email}))
        steps += [
            PlannedStep("remove_member", "Deactivate in Mixpanel", {"email": email}),
            PlannedStep("verify_removed", "Check they are gone", {"email": email}),
            _rotate_step(email, successor, (member.extra.get("service_accounts") or []) if member else []),
        ]
        return steps

    def execute(self, step: PlannedStep) -> StepOutcome:
        runners: dict[str, StepRunner] = {
            "remove_from_teams": lambda params: self._leave_teams(params["email"]),
            "remove_member": lambda params: self._deactivate(params["email"]),
            "verify_removed": lambda params: self._verify(params["email"]),
        }
        return run_step(self.name, self.label, step, runners, _explained)

    # -- assessment --------------------------------------------------------------------------------
    def _assess(self, email: str) -> Assessment:
        user = self._scim.find_user(email)
        if user is None:
            return Assessment(self.name, AssessmentStatus.NOT_MEMBER, email=email)
        if user.get("active") is False:
            return Assessment(self.name, AssessmentStatus.NOT_MEMBER, email=email,
                              warnings=(f"{email} has a Mixpanel account, but it is already deactivated.",))
        user_id = str(user.get("id"))
        warnings = [
            "Mixpanel's SCIM API shows no last login and nothing about the boards and reports they own "
            "(UNVERIFIED: no field for it is documented).",
        ]
        teams, projects, best = [], {}, (0, Role.MEMBER, "")
        for team in self._scim.groups_of(user_id):
            org_role, access = team_access(team)
            teams.append({"id": str(team.get("id")), "name": str(team.get("displayName", "")), "org_role": org_role})
            for p in access:
                projects.setdefault(p.project_id, p)
            rank, role = _ROLE_RANK.get(org_role or "", (0, Role.MEMBER))
            if rank > best[0]:
                best = (rank, role, org_role or "")
        if not teams:
            warnings.append("They are in no Team: their org role and project access were given one by one, which "
                            f"SCIM cannot see; check them in {_MEMBERS_UI}.")
        extra: dict[str, Any] = {"user_id": user_id, "teams": teams}
        accounts = self._service_accounts_of(email, warnings)
        if accounts is not None:
            extra["service_accounts"] = accounts
        vendor_role = (f"{best[2]} (from their Teams)" if best[2]
                       else "unknown (SCIM does not expose roles; none of their Teams names one)")
        member = Member(email=str(user.get("userName") or email), member_id=user_id, name=user_name(user),
                        role=best[1], vendor_role=vendor_role, projects=tuple(projects.values()), extra=extra,
                        last_login_known=False)
        return Assessment(self.name, AssessmentStatus.MEMBER, member=member, warnings=tuple(warnings), email=email)

    def _service_accounts_of(self, email: str, warnings: list[str]) -> list[dict[str, Any]] | None:
        if self._service is None:
            warnings.append("offboard has no Mixpanel service-account credentials, so it could not list the "
                            "service accounts they created.")
            return None
        try:
            body = self._service.get_json(f"/organizations/{self.organization_id}/service-accounts")
        except (AuthError, NotFoundError) as exc:
            warnings.append(f"Could not list Mixpanel service accounts: {exc.message}")
            return None
        results = body.get("results") if isinstance(body, dict) else None
        wanted = email.casefold()
        return [
            {"id": a.get("id"), "username": a.get("username"), "last_used": a.get("last_used")}
            for a in results or [] if isinstance(a, dict)
            # UNVERIFIED: `creator` is not in the documented shape; without it nothing matches.
            and str((a.get("creator") or {}).get("email", "")).casefold() == wanted
        ]

    # -- steps -------------------------------------------------------------------------------------
    def _leave_teams(self, email: str) -> StepOutcome:
        user = self._scim.find_user(email)
        if user is None or user.get("active") is False:
            return StepOutcome(f"{email} is no longer an active Mixpanel user; no Teams to leave",
                               {"already_removed": True, "teams": []})
        user_id = str(user.get("id"))
        left = [str(t.get("displayName", t.get("id"))) for t in self._scim.groups_of(user_id)
                if self._scim.remove_from_group(str(t.get("id")), user_id)]
        if not left:
            return StepOutcome(f"{email} is in no Mixpanel Team; nothing to remove", {"teams": []})
        return StepOutcome(f"Removed {email} from the Mixpanel Teams {', '.join(left)}", {"teams": left})

    def _deactivate(self, email: str) -> StepOutcome:
        user = self._scim.find_user(email)
        if user is None:
            return StepOutcome(f"{email} was already removed from Mixpanel", {"already_removed": True})
        if user.get("active") is False:
            return StepOutcome(f"{email} was already deactivated in Mixpanel", {"already_removed": True})
        user_id = str(user.get("id"))
        if self._scim.deactivate_user(user_id) is None:
            return StepOutcome(f"{email} was already removed from Mixpanel", {"already_removed": True})
        return StepOutcome(f"Deactivated {email} in Mixpanel", {"already_removed": False, "user_id": user_id})

    def _verify(self, email: str) -> StepOutcome:
        user = self._scim.find_user(email)
        if user is not None and user.get("active") is not False:
            raise VendorError(
                f"{email} is still an active Mixpanel user. Remove them by hand ({_MEMBERS_UI} → ⋯ → Remove "
                "Member → confirm), then press Retry.", vendor=self.name,
            )
        teams = [str(t.get("displayName")) for t in self._scim.groups_of(str(user.get("id")))] if user else []
        if teams:
            raise VendorError(f"{email} is deactivated but still in the Mixpanel Teams {', '.join(teams)}: remove "
                              "them there, then press Retry.", vendor=self.name)
        return StepOutcome(f"Checked: {email} is no longer an active Mixpanel user",
                           {"verified_at": datetime.now(UTC).isoformat()})


def _explained(exc: VendorError) -> VendorError:
    if isinstance(exc, AuthError) and exc.status == 401:
        return AuthError(exc.message + _TOKEN_HINT, status=exc.status, vendor=exc.vendor)
    return exc


# -- manual steps (click paths from /work/shared/runbooks/mixpanel-remove-collaborator.txt) --------------
def _transfer_step(email: str, successor: str) -> PlannedStep:
    return PlannedStep(
        "manual", "Hand over their boards, reports and cohorts", manual=True, key="mixpanel_transfer_assets",
        instructions=(
            f"Do this before the removal: Mixpanel's API cannot see or move what {email} created. Go to "
            f"{_MEMBERS_UI}, locate their account and note the dashboards, reports or cohorts they created. "
            f"Dashboards/Reports: duplicate important content to {successor}'s account and export critical "
            f"reports. Cohorts/Segments: transfer valuable cohorts to {successor} and document their definitions."
        ),
    )


def _rotate_step(email: str, successor: str, accounts: list[dict[str, Any]]) -> PlannedStep:
    found = "".join(f"\n• service account {a.get('username')} (id {a.get('id')})" for a in accounts)
    listed = f" Service accounts they created:{found}" if found else ""
    return PlannedStep(
        "manual", "Rotate the integrations and service accounts they managed", manual=True,
        key="mixpanel_rotate_integrations",
        instructions=(
            f"Integrations that used {email}'s credentials stop working, or keep working with a leaver's "
            f"access.{listed}\nAPI Integrations: generate replacement tokens under a service account owned by "
            f"{successor} and test the new credentials; revoke the old ones explicitly in Settings → API Tokens. "
            f"Data Pipelines: transfer ownership of integrations/exports. Webhooks: remove them from Slack "
            f"integrations and distribution lists. Also remove them from the Mixpanel groups in your identity "
            f"provider so SCIM does not re-create the account."
        ),
    )


def _check_by_hand_step(email: str, reason: str) -> PlannedStep:
    return PlannedStep(
        "manual", "Check Mixpanel by hand", manual=True, key="mixpanel_check_by_hand",
        instructions=(
            f"Mixpanel could not be checked when this was planned ({reason}). Go to {_MEMBERS_UI} and locate "
            f"{email}'s account. If they are there, the steps below remove them once Mixpanel answers again; if "
            f"offboard keeps failing, click the three-dot menu → Remove Member, confirm, and confirm here."
        ),
    )
