"""The Amplitude connector: assess a person, plan their removal, run the steps, over Amplitude's SCIM API.

Amplitude's SCIM API (see /work/shared/vendor-apis.md) knows who is in the organization (joined or
invited: both are `active: true`) and their permission groups, and can remove them (DELETE). It
shows no role, no last login, no projects and nothing about the charts, dashboards and cohorts a
person owns, and cannot hand those over: that becomes manual steps with the runbook's click paths,
planned *before* the removal because Amplitude deletes what a removed user owned.

Every step looks the person up again when it runs and does nothing that is already done.
"""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from vendors.base import (
    Assessment,
    AssessmentStatus,
    AuthError,
    ConflictError,
    Member,
    PlannedStep,
    Role,
    StepOutcome,
    StepRunner,
    VendorError,
    assess_safely,
    run_step,
)
from vendors.http import RetryPolicy, VendorHTTP
from vendors.scim import ScimClient, scim_classify, scim_detail, user_name

BASE_URLS = {"us": "https://core.amplitude.com/scim/1", "eu": "https://core.eu.amplitude.com/scim/1"}
SCIM_PATH = "/scim/1"
MAX_PAGE_SIZE = 100  # Amplitude's itemsPerPage maximum
UNKNOWN_ROLE = "unknown (SCIM does not expose roles)"
_MEMBERS_UI = "Settings → Members & Groups"
_KEY_HINT = (" Check AMPLITUDE_SCIM_KEY: it must be the organization's current SCIM key "
             "(regenerating the key in Amplitude kills the old one).")
_LAST_ADMIN_WORDS = ("last admin", "at least one admin", "only admin")


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

    def __init__(self, scim_key: str, region: str = "us", *, page_size: int | None = None,
                 policy: RetryPolicy | None = None) -> None:
        if not scim_key:
            raise ValueError("an Amplitude SCIM key is required")
        self.base_url = amplitude_base_url(region)
        self._http = VendorHTTP(
            self.base_url, {"Authorization": f"Bearer {scim_key}", "Accept": "application/scim+json"},
            vendor=self.name, label=self.label, policy=policy, detail=scim_detail, classify_error=_classify,
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

    def plan_removal(self, assessment: Assessment, new_owner_email: str | None) -> list[PlannedStep]:
        if assessment.status == AssessmentStatus.NOT_MEMBER:
            return []
        email = assessment.member.email if assessment.member else assessment.email
        if not email:  # cannot happen with our own assessments; never plan nothing for an unknown
            return [_check_by_hand_step("(unnamed)", assessment.error or "Amplitude could not be checked")]
        successor = new_owner_email or "the colleague taking over their work"
        steps = [_transfer_step(email, successor), _last_admin_step(email)]
        if assessment.status == AssessmentStatus.UNKNOWN or assessment.member is None:
            steps.insert(0, _check_by_hand_step(email, assessment.error or "Amplitude could not be checked"))
        steps += [
            PlannedStep("remove_member", "Remove from the Amplitude organization", {"email": email}),
            PlannedStep("verify_removed", "Check they are gone", {"email": email}),
        ]
        return steps

    def execute(self, step: PlannedStep) -> StepOutcome:
        runners: dict[str, StepRunner] = {
            "remove_member": lambda params: self._remove(params["email"]),
            "verify_removed": lambda params: self._verify(params["email"]),
        }
        return run_step(self.name, self.label, step, runners, _explained)

    # -- steps -------------------------------------------------------------------------------------
    def _assess(self, email: str) -> Assessment:
        user = self._scim.find_user(email)
        if user is None:
            return Assessment(self.name, AssessmentStatus.NOT_MEMBER, email=email)
        user_id = str(user.get("id") or user.get("userName") or email)
        groups = [{"id": str(g.get("id")), "name": str(g.get("displayName", ""))}
                  for g in self._scim.groups_of(user_id)]
        member = Member(
            email=str(user.get("userName") or email), member_id=user_id, name=user_name(user),
            role=Role.MEMBER, vendor_role=UNKNOWN_ROLE,
            extra={"user_id": user_id, "active": bool(user.get("active", True)), "permission_groups": groups},
            last_login_known=False,
        )
        warnings = [
            "Amplitude's SCIM API does not show a member's role, last login, projects, or the charts, dashboards "
            f"and cohorts they own: check them in {_MEMBERS_UI} before approving.",
            "Joined members and pending invitees look the same over SCIM: this may be an invite not yet accepted.",
        ]
        if groups:
            warnings.append(f"Permission groups: {', '.join(g['name'] for g in groups)} (they leave them on removal).")
        return Assessment(self.name, AssessmentStatus.MEMBER, member=member, warnings=tuple(warnings), email=email)

    def _remove(self, email: str) -> StepOutcome:
        user = self._scim.find_user(email)
        if user is None:
            return StepOutcome(f"{email} was already removed from Amplitude", {"already_removed": True})
        user_id = str(user.get("id") or email)
        if not self._scim.delete_user(user_id):  # removed by someone else between our lookup and the DELETE
            return StepOutcome(f"{email} was already removed from Amplitude", {"already_removed": True})
        return StepOutcome(f"Removed {email} from the Amplitude organization",
                           {"already_removed": False, "user_id": user_id})

    def _verify(self, email: str) -> StepOutcome:
        if self._scim.find_user(email) is not None:
            raise VendorError(
                f"{email} is still a member of the Amplitude organization. Remove them by hand ({_MEMBERS_UI} → "
                "their name → Remove from Organization → Remove), then press Retry.", vendor=self.name,
            )
        return StepOutcome(f"Checked: {email} is no longer in the Amplitude organization",
                           {"verified_at": datetime.now(UTC).isoformat()})


def _explained(exc: VendorError) -> VendorError:
    """A rejected key is the one failure people can fix themselves: say how."""
    if isinstance(exc, AuthError) and exc.status == 401:
        return AuthError(exc.message + _KEY_HINT, status=exc.status, vendor=exc.vendor)
    return exc


# -- manual steps (the click paths are those of /work/shared/runbooks/amplitude-remove-user.txt) ----------
def _transfer_step(email: str, successor: str) -> PlannedStep:
    return PlannedStep(
        "manual", "Transfer their charts, dashboards, notebooks and cohorts", manual=True,
        key="amplitude_transfer_assets",
        instructions=(
            f"Do this BEFORE the removal: Amplitude deletes what a removed user owned, and its API cannot see or "
            f"move it. In Amplitude use the Dashboards section (and the Charts, Notebooks, Cohorts and Metrics "
            f"lists) filtered by owner {email}. For each item: go to the asset settings (dashboard, notebook, "
            f"metric, cohort) and change the Owner field to {successor} (or another active Admin). For tracking "
            f"plans in Govern, reassign event ownership to another Tracking Plan Editor. Write down which "
            f"ingestion or export keys and integrations they managed: those need new owners and rotating."
        ),
    )


def _last_admin_step(email: str) -> PlannedStep:
    return PlannedStep(
        "manual", "Check they are not the last Admin", manual=True, key="amplitude_last_admin",
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
        "manual", "Check Amplitude by hand", manual=True, key="amplitude_check_by_hand",
        instructions=(
            f"Amplitude could not be checked when this was planned ({reason}). In Amplitude navigate to "
            f"{_MEMBERS_UI} and use the search box to find {email}. If they are there, the steps below remove "
            f"them once Amplitude answers again; if offboard keeps failing, remove them by hand (their name → "
            f"Remove from Organization → Remove) and confirm here."
        ),
    )

