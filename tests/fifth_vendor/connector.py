"""Lumen's connector: the smallest whole `vendors.base.Vendor`, against the made-up API of tests/fifth_vendor/
sandbox.py, through the same retrying client (vendors.http) as the real connectors."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from vendors.base import (
    PENDING_STATUS,
    Assessment,
    AssessmentStatus,
    Capability,
    ConflictError,
    ManualText,
    Member,
    NotFoundError,
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
from vendors.roles import RoleMap

NAME, LABEL = "lumen", "Lumen"
# Lumen's role words; it has no owner. Its registry entry hands this map to the bot (no line in vendors/roles.py).
ROLES = RoleMap(NAME, reading={"admin": Role.ADMIN, "member": Role.MEMBER, "viewer": Role.READ_ONLY},
                writing={Role.ADMIN: "admin", Role.MEMBER: "member", Role.READ_ONLY: "viewer"},
                note="no owner: its admins run the account")
_TEAM_UI = "Lumen → Settings → Team"
CAPABILITIES = frozenset({Capability.FIND_MEMBER, Capability.LIST_MEMBERS, Capability.READ_ROLE,
                          Capability.READ_LAST_LOGIN, Capability.REMOVE_MEMBER, Capability.VERIFY_REMOVAL,
                          Capability.INVITE, Capability.CANCEL_INVITE})


def _text(title: str, doing: str) -> ManualText:
    def text(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
        why = f" ({details['reason']})" if details.get("reason") else ""
        successor = f" The new owner is {details['new_owner_email']}." if details.get("new_owner_email") else ""
        return title, (f"In {_TEAM_UI}, search for {email} and {doing}{why}.{successor} Then mark this step done "
                       "in Slack.")

    return text


TEXTS: dict[Capability, ManualText] = {
    Capability.FIND_MEMBER: _text("Check whether they are in Lumen", "note whether they are listed"),
    Capability.LIST_MEMBERS: _text("List Lumen's members", "read the whole list"),
    Capability.READ_ROLE: _text("Read their Lumen role", "read the role beside their name"),
    Capability.READ_LAST_LOGIN: _text("Read their last visit", "read the Last seen column"),
    Capability.READ_PROJECTS: _text("Read their boards", "open their boards tab"),
    Capability.LIST_ASSETS: _text("List what they made", "open their boards tab"),
    Capability.HANDOVER_ASSETS: _text("Hand their boards over", "move each board to its new owner"),
    Capability.CHANGE_ROLE: _text("Change their Lumen role", "pick the new role"),
    Capability.REMOVE_FROM_PROJECT: _text("Take a board away", "remove them from the board"),
    Capability.REMOVE_MEMBER: _text("Remove from Lumen", "press Remove"),
    Capability.VERIFY_REMOVAL: _text("Check they are gone from Lumen", "check they are no longer listed"),
    Capability.INVITE: _text("Invite to Lumen", "press Invite (Team → Invite) with their role"),
    Capability.CANCEL_INVITE: _text("Cancel their Lumen invitation", "press Cancel invitation"),
}


def manual_step(capability: Capability, email: str, details: Mapping[str, Any]) -> PlannedStep:
    """The click path for `capability`; the registry entry names this module, so Lumen can be worked by hand."""
    return build_manual_step(NAME, TEXTS, capability, email, details)


class LumenVendor:
    name = NAME
    label = LABEL
    capabilities = CAPABILITIES

    def __init__(self, api_key: str, base_url: str, *, policy: RetryPolicy | None = None,
                 page_size: int | None = None) -> None:
        self._http = VendorHTTP(base_url, {"Authorization": f"Bearer {api_key}"}, vendor=NAME, label=LABEL,
                                policy=policy)
        self._paging = {"per_page": page_size} if page_size else {}

    def close(self) -> None:
        self._http.close()

    # -- the protocol -------------------------------------------------------------------------------------------
    def assess(self, email: str) -> Assessment:
        return assess_safely(NAME, LABEL, email, self._assess)

    def iter_members(self) -> Iterator[Member]:
        page: int | None = 0
        while page is not None:
            answer = self._http.get_json("/api/members", params={"page": page, **self._paging})
            yield from (_member(raw) for raw in answer["members"])
            page = answer.get("next_page")

    def manual_step(self, capability: Capability, email: str, details: Mapping[str, Any]) -> PlannedStep:
        return manual_step(capability, email, details)

    def plan_removal(self, assessment: Assessment, new_owner_email: str | None) -> list[PlannedStep]:
        if assessment.status == AssessmentStatus.NOT_MEMBER:
            return []
        email = assessment.email or (assessment.member.email if assessment.member else "")
        # Its API lists no boards, so a person hands them over (after the removal: Lumen keeps a removed
        # person's boards).
        steps = [PlannedStep(StepKind.REMOVE_MEMBER, "Remove from Lumen", {"email": email}),
                 PlannedStep(StepKind.VERIFY_REMOVED, "Check they are gone", {"email": email}),
                 manual_step(Capability.HANDOVER_ASSETS, email, {"new_owner_email": new_owner_email})]
        if assessment.status == AssessmentStatus.UNKNOWN:  # unknown is never absent: a person looks too
            steps.append(manual_step(Capability.FIND_MEMBER, email, {"reason": assessment.error}))
        return steps

    def execute(self, step: PlannedStep) -> StepOutcome:
        runners: dict[str, StepRunner] = {StepKind.REMOVE_MEMBER.value: self._remove,
                                          StepKind.VERIFY_REMOVED.value: self._verify,
                                          StepKind.INVITE.value: self._invite,
                                          StepKind.CANCEL_INVITE.value: self._cancel}
        return run_step(NAME, LABEL, step, runners)

    # -- calls --------------------------------------------------------------------------------------------------
    def _find(self, email: str) -> dict[str, Any] | None:
        found = self._http.get_json("/api/members", params={"email": email})["members"]
        return found[0] if found else None

    def _assess(self, email: str) -> Assessment:
        raw = self._find(email)
        if raw is None:
            return Assessment(NAME, AssessmentStatus.NOT_MEMBER, email=email)
        return Assessment(NAME, AssessmentStatus.MEMBER, member=_member(raw), email=email)

    def _remove(self, params: dict[str, Any]) -> StepOutcome:
        email = params["email"]
        raw = self._find(email)
        if raw is not None:
            try:
                self._http.send_json("DELETE", f"/api/members/{raw['id']}")
            except NotFoundError:
                raw = None  # someone else removed them between the lookup and the call
        if raw is None:
            return StepOutcome(f"{email} was already removed from Lumen", {"already_removed": True})
        return StepOutcome(f"Removed {email} from Lumen", {"member_id": raw["id"]})

    def _verify(self, params: dict[str, Any]) -> StepOutcome:
        email = params["email"]
        if self._find(email) is not None:
            raise VendorError(f"Lumen still lists {email}; remove them by hand ({_TEAM_UI}), then press Retry",
                              vendor=NAME)
        return StepOutcome(f"Checked: {email} is no longer in Lumen", {"verified": True})

    def _invite(self, params: dict[str, Any]) -> StepOutcome:
        email, role = params["email"], Role(params["role"])
        raw = self._find(email)
        if raw is not None:
            status = "already_invited" if raw["status"] == "invited" else "already_member"
            return StepOutcome(f"{email} is already in Lumen ({raw['status']})",
                               {"status": status, "role": raw["role"]})
        word = ROLES.writing.get(role, "member")
        made = self._http.send_json("POST", "/api/invitations", {"email": email, "role": word})
        return StepOutcome(f"Invited {email} to Lumen as {word}", {"status": "invited", "member_id": made["id"]})

    def _cancel(self, params: dict[str, Any]) -> StepOutcome:
        email = params["email"]
        raw = self._find(email)
        if raw is None:
            return StepOutcome(f"{email} has no Lumen invitation left", {"already_cancelled": True})
        try:
            self._http.send_json("DELETE", f"/api/invitations/{raw['id']}")
        except ConflictError:
            raise ConflictError(f"{email} has joined Lumen already: there is no invitation to cancel",
                                vendor=NAME) from None
        return StepOutcome(f"Cancelled {email}'s Lumen invitation", {"cancelled": True})


def _member(raw: Mapping[str, Any]) -> Member:
    seen = raw.get("last_seen_at")
    return Member(email=raw["email"], member_id=str(raw["id"]), name=raw.get("name") or "",
                  role=ROLES.reading.get(raw.get("role") or "", Role.MEMBER), vendor_role=raw.get("role") or "",
                  last_login=datetime.fromisoformat(seen) if seen else None,
                  joined_at=datetime.fromisoformat(raw["joined_at"]) if raw.get("joined_at") else None,
                  extra={"status": PENDING_STATUS if raw.get("status") == "invited" else "active"})
