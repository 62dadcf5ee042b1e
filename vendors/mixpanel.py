"""The Mixpanel connector: assess, list, invite, change and remove people over Mixpanel's SCIM API.

Mixpanel's SCIM (Enterprise; see /work/shared/vendor-apis.md) knows the org's users and its Teams
(SCIM Groups). A Team carries an org role and project access, so a person's role and projects are
read from their Teams, and changed by moving them between Teams; SCIM itself sets neither, creates
users as org Members with no project access, and deactivates them. SCIM shows no last login and
nothing about the boards and reports a person owns: handing those over, and rotating the integrations
and service accounts they managed, become manual steps with the runbook's click paths. With
service-account credentials, the connector also lists the service accounts the person created
(UNVERIFIED field).

UNVERIFIED, kept in one place each: the Team extension that shows a Team's org role and projects
(`TEAM_EXTENSION`); that a person's org role is the highest one their Teams carry (Member when none,
as SCIM creates them); that the SCIM token acts with an org Admin's rights, so Mixpanel refuses it
the Owner role (`_classify` turns that refusal into instructions for an Owner).

Every step looks the person up again when it runs, does nothing that is already done, and checks
the result with a fresh lookup.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from vendors.base import (
    CREDENTIALS_PARAM,
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
    VendorError,
    assess_safely,
    build_manual_step,
    run_step,
)
from vendors.http import RetryPolicy, VendorHTTP
from vendors.roles import common_role, vendor_role
from vendors.scim import ScimClient, scim_classify, scim_detail, user_name

HOSTS = {"us": "https://mixpanel.com", "eu": "https://eu.mixpanel.com", "in": "https://in.mixpanel.com"}
SCIM_PATH = "/api/app/scim/v2"
APP_PATH = "/api/app"
MAX_PAGE_SIZE = 100  # UNVERIFIED: Mixpanel documents no SCIM page size; RFC 7644's `count` is used
# UNVERIFIED: the extension a Team's org role and project access would appear under (the sandbox's).
TEAM_EXTENSION = "urn:mixpanel:params:scim:schemas:extension:team:2.0:Team"
# Our roles in order, to find the highest a person's Teams give (a ranking, not a vendor word table).
RANK = {Role.READ_ONLY: 0, Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}
_MEMBERS_UI = "Organization Settings → Members"
# Not in the runbook: where Mixpanel keeps Teams (and so where Team-given access is changed).
_TEAMS_UI = "Organization Settings → Teams"
_REMOVE_UI = f"{_MEMBERS_UI} → locate their account → three-dot menu → Remove Member → confirm"
_TOKEN_HINT = " Check MIXPANEL_SCIM_TOKEN: it must be a current SCIM token of the organization."
_SUCCESSOR = "the colleague taking over their work"
_NO_ROLE_SHOWN = "unknown (SCIM does not expose roles; none of their Teams names one)"


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


@dataclass(frozen=True)
class Team:
    """A Mixpanel Team (a SCIM Group) with the access it gives its members."""

    id: str
    name: str
    org_role: str | None  # Mixpanel's word, lower case; None where the server does not show it
    projects: tuple[ProjectAccess, ...]
    member_ids: frozenset[str]  # case-folded SCIM user ids

    @classmethod
    def from_group(cls, group: dict[str, Any]) -> Team:
        org_role, projects = team_access(group)
        members = frozenset(str(m.get("value", "")).casefold() for m in group.get("members") or []
                            if isinstance(m, dict))
        return cls(str(group.get("id")), str(group.get("displayName") or group.get("id")), org_role,
                   tuple(projects), members)

    @property
    def role(self) -> Role | None:
        return common_role("mixpanel", self.org_role) if self.org_role else None

    @property
    def project_ids(self) -> frozenset[str]:
        return frozenset(p.project_id for p in self.projects)

    def has(self, user_id: str) -> bool:
        return user_id.casefold() in self.member_ids


def effective_role(teams: Iterable[Team]) -> tuple[Role, str]:
    """The highest org role the Teams carry, with Mixpanel's word ("" when none names one: then the
    person is an org Member, as SCIM creates everyone)."""
    best: tuple[Role, str] = (Role.MEMBER, "")
    for team in teams:
        if team.role is not None and team.org_role and (not best[1] or RANK[team.role] > RANK[best[0]]):
            best = (team.role, team.org_role)
    return best


def projects_of(teams: Iterable[Team]) -> frozenset[str]:
    return frozenset(pid for team in teams for pid in team.project_ids)


def _names(teams: Iterable[Team]) -> str:
    return ", ".join(sorted(t.name for t in teams))


def _classify(response: httpx.Response, detail: str) -> VendorError | None:
    """Mixpanel's rules, refused in words, become instructions (statuses and wording UNVERIFIED)."""
    text = detail.lower()
    if "at least one owner" in text:
        return ConflictError(f"Mixpanel will not leave the organization without an Owner ({detail}). Make someone "
                             f"else an Owner first ({_MEMBERS_UI} → their name → role Owner), then press Retry.")
    if response.status_code == 403 and "owner" in text:
        return ConflictError(f"Mixpanel lets only an Owner give or take the Owner role ({detail}); offboard's SCIM "
                             f"token acts as an organization Admin. An Owner does it by hand: {_MEMBERS_UI} → their "
                             "name → role.")
    if "verified domain" in text:
        return ConflictError(f"Mixpanel takes only people on the organization's verified domains ({detail}): "
                             f"verify their domain first, or invite them by hand ({_MEMBERS_UI} → Invite).")
    return scim_classify(response, detail)


class MixpanelVendor:
    """`Vendor` for one Mixpanel organization, acting with its SCIM token (and optionally a service account)."""

    name = "mixpanel"
    label = "Mixpanel"
    # Roles, projects, role changes and project removals all go through Teams. Not: last login, assets,
    # hand-over, and cancelling an invitation (SCIM creates users directly: there is none to cancel).
    capabilities = frozenset({
        Capability.FIND_MEMBER, Capability.LIST_MEMBERS, Capability.READ_ROLE, Capability.READ_PROJECTS,
        Capability.CHANGE_ROLE, Capability.REMOVE_FROM_PROJECT, Capability.REMOVE_MEMBER, Capability.VERIFY_REMOVAL,
        Capability.INVITE,
    })

    def __init__(self, scim_token: str, region: str = "us", *, service_account_username: str | None = None,
                 service_account_secret: str | None = None, organization_id: int | str | None = None,
                 page_size: int | None = None, policy: RetryPolicy | None = None) -> None:
        if not scim_token:
            raise ValueError("a Mixpanel SCIM token is required")
        self.host = mixpanel_host(region)
        self._http = VendorHTTP(
            self.host + SCIM_PATH, {"Authorization": f"Bearer {scim_token}", "Accept": "application/scim+json"},
            vendor=self.name, label=self.label, policy=policy, detail=scim_detail, classify_error=_classify,
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

    def iter_members(self) -> Iterator[Member]:
        """Every active user, one /Users page at a time as the stream is consumed, with the role and
        projects their Teams give. Teams are few: they are listed once per iteration (when the first
        users page has come) and each user's are looked up in that list, never one scan per user.
        Deactivated users are left out: they are no longer members."""
        teams_by_user: dict[str, list[Team]] | None = None
        for user in self._scim.users():
            if teams_by_user is None:
                teams_by_user = _teams_by_user(self._teams())
            if user.get("active") is not False:
                yield _member(user, teams_by_user.get(str(user.get("id")).casefold(), []))

    def manual_step(self, capability: Capability, email: str, details: Mapping[str, Any]) -> PlannedStep:
        return manual_step(capability, email, details)

    def plan_removal(self, assessment: Assessment, new_owner_email: str | None) -> list[PlannedStep]:
        if assessment.status == AssessmentStatus.NOT_MEMBER:
            return []
        member = assessment.member
        email = member.email if member else assessment.email
        successor = new_owner_email or _SUCCESSOR
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
            PlannedStep(StepKind.REMOVE_MEMBER, "Deactivate in Mixpanel", {"email": email}),
            PlannedStep(StepKind.VERIFY_REMOVED, "Check they are gone", {"email": email}),
            _rotate_step(email, successor, (member.extra.get("service_accounts") or []) if member else []),
        ]
        return steps

    def execute(self, step: PlannedStep) -> StepOutcome:
        runners: dict[str, StepRunner] = {
            "remove_from_teams": lambda params: self._leave_teams(params["email"]),
            StepKind.REMOVE_MEMBER: lambda params: self._deactivate(params["email"]),
            StepKind.VERIFY_REMOVED: lambda params: self._verify(params["email"]),
            StepKind.CHANGE_ROLE: self._change_role,
            StepKind.REMOVE_FROM_PROJECT: self._remove_from_project,
            StepKind.INVITE: self._invite,
        }
        return run_step(self.name, self.label, step, runners, _explained)

    # -- lookups -----------------------------------------------------------------------------------
    def _teams(self) -> list[Team]:
        return [Team.from_group(group) for group in self._scim.groups()]

    def _active_user(self, email: str) -> dict[str, Any] | None:
        user = self._scim.find_user(email)
        return user if user is not None and user.get("active") is not False else None

    def _teams_of(self, user_id: str) -> list[Team]:
        return [team for team in self._teams() if team.has(user_id)]

    # -- assessment --------------------------------------------------------------------------------
    def _assess(self, email: str) -> Assessment:
        user = self._scim.find_user(email)
        if user is None:
            return Assessment(self.name, AssessmentStatus.NOT_MEMBER, email=email)
        if user.get("active") is False:
            return Assessment(self.name, AssessmentStatus.NOT_MEMBER, email=email,
                              warnings=(f"{email} has a Mixpanel account, but it is already deactivated.",))
        warnings = [
            "Mixpanel's SCIM API shows no last login and nothing about the boards and reports they own "
            "(UNVERIFIED: no field for it is documented).",
        ]
        teams = self._teams_of(str(user.get("id")))
        if not teams:
            warnings.append("They are in no Team: their org role and project access were given one by one, which "
                            f"SCIM cannot see; check them in {_MEMBERS_UI}.")
        extra: dict[str, Any] = {}
        accounts = self._service_accounts_of(email, warnings)
        if accounts is not None:
            extra["service_accounts"] = accounts
        member = _member(user, teams, **extra)
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

    # -- removal -----------------------------------------------------------------------------------
    def _leave_teams(self, email: str) -> StepOutcome:
        user = self._active_user(email)
        if user is None:
            return StepOutcome(f"{email} is no longer an active Mixpanel user; no Teams to leave",
                               {"already_removed": True, "teams": []})
        user_id = str(user.get("id"))
        left = [t.name for t in self._teams_of(user_id) if self._scim.remove_from_group(t.id, user_id)]
        still = self._teams_of(user_id) if left else []
        if still:
            raise VendorError(f"{email} is still in the Mixpanel Teams {_names(still)}: remove them there "
                              f"({_TEAMS_UI}), then press Retry.", vendor=self.name)
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
        found = self._scim.deactivate_user(user_id) is not None
        if self._active_user(email) is not None:
            raise VendorError(f"{email} is still an active Mixpanel user after deactivating them. Remove them by "
                              f"hand ({_REMOVE_UI}), then press Retry.", vendor=self.name)
        if not found:  # removed by someone else between our lookup and the PATCH
            return StepOutcome(f"{email} was already removed from Mixpanel", {"already_removed": True})
        return StepOutcome(f"Deactivated {email} in Mixpanel", {"already_removed": False, "user_id": user_id})

    def _verify(self, email: str) -> StepOutcome:
        user = self._scim.find_user(email)
        if user is not None and user.get("active") is not False:
            raise VendorError(f"{email} is still an active Mixpanel user. Remove them by hand ({_REMOVE_UI}), "
                              "then press Retry.", vendor=self.name)
        teams = self._teams_of(str(user.get("id"))) if user else []
        if teams:
            raise VendorError(f"{email} is deactivated but still in the Mixpanel Teams {_names(teams)}: remove "
                              "them there, then press Retry.", vendor=self.name)
        return StepOutcome(f"Checked: {email} is no longer an active Mixpanel user",
                           {"verified_at": datetime.now(UTC).isoformat()})

    # -- role change: a move between Teams ---------------------------------------------------------
    def _change_role(self, params: dict[str, Any]) -> StepOutcome:
        email, target = params["email"], _role_param(params)
        word = vendor_role(self.name, target)
        if word is None:
            raise ConflictError(f"Mixpanel has no {target.value} organization role. {_role_by_hand(email, target)}",
                                vendor=self.name)
        user = self._active_user(email)
        if user is None:
            raise VendorError(f"{email} is not an active Mixpanel user: there is no role to change", vendor=self.name)
        user_id = str(user.get("id"))
        teams = self._teams()
        mine = [t for t in teams if t.has(user_id)]
        if effective_role(mine)[0] == target:
            return StepOutcome(f"{email} already has the {word} role in Mixpanel (from their Teams); nothing changed",
                               {"status": "already", "role": target.value})
        join, leave = _role_move(email, mine, teams, target, word)
        if join is not None:
            self._scim.add_to_group(join.id, user_id)
        for team in leave:
            self._scim.remove_from_group(team.id, user_id)
        after = self._teams_of(user_id)
        if effective_role(after)[0] != target:
            raise VendorError(f"{email}'s Mixpanel Teams ({_names(after) or 'none'}) still do not give them the {word} "
                              f"role. {_role_by_hand(email, target)} Then press Retry.", vendor=self.name)
        return _role_outcome(email, word, target, mine, after)

    # -- project removal: leaving the Teams that give the project -----------------------------------
    def _remove_from_project(self, params: dict[str, Any]) -> StepOutcome:
        email, project_id = params["email"], str(params["project_id"])
        project = str(params.get("project_name") or project_id)
        user = self._active_user(email)
        if user is None:
            return StepOutcome(f"{email} is not an active Mixpanel user: no access to {project} to remove",
                               {"status": "no_access"})
        user_id = str(user.get("id"))
        mine = self._teams_of(user_id)
        granting = [t for t in mine if project_id in t.project_ids]
        if not granting:
            return StepOutcome(f"{email} is in no Mixpanel Team that gives {project}: no access to remove. "
                               f"{_OUTSIDE_TEAMS}", {"status": "no_access"})
        _refuse_collateral(email, project_id, project, granting, [t for t in mine if t not in granting])
        for team in granting:
            self._scim.remove_from_group(team.id, user_id)
        still = [t for t in self._teams_of(user_id) if project_id in t.project_ids]
        if still:
            raise VendorError(f"{email} is still in the Mixpanel Teams {_names(still)}, which give {project}. "
                              f"{_project_by_hand(email, project)} Then press Retry.", vendor=self.name)
        return StepOutcome(f"Removed {email}'s access to Mixpanel project {project}: they left the Teams "
                           f"{_names(granting)}. {_OUTSIDE_TEAMS}",
                           {"status": "removed", "teams": sorted(t.name for t in granting)})

    # -- invitation: a SCIM create, then Teams for the role and projects -----------------------------
    def _invite(self, params: dict[str, Any]) -> StepOutcome:
        email, role = params["email"], _role_param(params)
        wanted = frozenset(str(p) for p in params.get("projects") or [])
        teams = self._teams()
        user, status = self._ensure_user(email)
        user_id = str(user.get("id"))
        grant = _teams_granting(teams, role, wanted)
        refused = self._join(user_id, [t for t in grant if not t.has(user_id)])
        given = [t for t in grant if t.name not in refused]
        self._check_invited(email, user_id, given)
        return _invite_outcome(email, status, role, wanted, given, refused, bool(params.get("message")))

    def _ensure_user(self, email: str) -> tuple[dict[str, Any], str]:
        """The user, created (or reactivated) when needed, and what was done: "invited", "reactivated"
        or "already_member"."""
        user = self._scim.find_user(email)
        if user is None:
            try:
                return self._scim.create_user(email), "invited"
            except ConflictError:  # created by someone else between our lookup and the POST
                user = self._scim.find_user(email)
                if user is None:
                    raise
        if user.get("active") is False:
            # UNVERIFIED: `active: true` reactivates a deactivated Mixpanel user, as RFC 7644 implies.
            return self._scim.set_active(str(user.get("id")), True) or user, "reactivated"
        return user, "already_member"

    def _join(self, user_id: str, teams: list[Team]) -> dict[str, str]:
        """Add to each Team; a Team Mixpanel refuses by its rules (the Owner role) is reported, not fatal:
        the person exists by now, and the outcome says what they did not get."""
        refused: dict[str, str] = {}
        for team in teams:
            try:
                self._scim.add_to_group(team.id, user_id)
            except ConflictError as exc:
                refused[team.name] = exc.message
        return refused

    def _check_invited(self, email: str, user_id: str, given: list[Team]) -> None:
        if self._active_user(email) is None:
            raise VendorError(f"Mixpanel accepted {email} but does not list them as active. Invite them by hand "
                              f"({_MEMBERS_UI} → Invite), then press Retry.", vendor=self.name)
        now = {t.id for t in self._teams_of(user_id)} if given else set()
        missing = [t for t in given if t.id not in now]
        if missing:
            raise VendorError(f"{email} is in Mixpanel but not in the Teams {_names(missing)} offboard added them "
                              f"to. Add them there by hand ({_TEAMS_UI}), then press Retry.", vendor=self.name)


# -- pure helpers ------------------------------------------------------------------------------------------
_OUTSIDE_TEAMS = ("Access given one by one, outside Teams, is not visible to SCIM: check their project list in "
                  f"{_MEMBERS_UI} → their name.")


def _teams_by_user(teams: list[Team]) -> dict[str, list[Team]]:
    index: dict[str, list[Team]] = {}
    for team in teams:
        for user_id in team.member_ids:
            index.setdefault(user_id, []).append(team)
    return index


def _member(user: dict[str, Any], teams: list[Team], **extra: Any) -> Member:
    user_id = str(user.get("id"))
    role, word = effective_role(teams)
    projects: dict[str, ProjectAccess] = {}
    for team in teams:
        for access in team.projects:
            projects.setdefault(access.project_id, access)
    team_list = [{"id": t.id, "name": t.name, "org_role": t.org_role} for t in teams]
    return Member(email=str(user.get("userName") or user_id), member_id=user_id, name=user_name(user), role=role,
                  vendor_role=f"{word} (from their Teams)" if word else _NO_ROLE_SHOWN,
                  projects=tuple(projects.values()), extra={"user_id": user_id, "teams": team_list, **extra},
                  last_login_known=False)


def _role_param(params: Mapping[str, Any]) -> Role:
    try:
        return Role(str(params.get("role") or Role.MEMBER.value))
    except ValueError:
        raise VendorError(f"“{params.get('role')}” is not a role offboard knows", vendor="mixpanel") from None


def _role_move(email: str, mine: list[Team], teams: list[Team], target: Role, word: str
               ) -> tuple[Team | None, list[Team]]:
    """The Team to join (None: none needed) and the Teams to leave so that `target` is the highest
    role their Teams give. Teams of a lower role stay: they do not raise the role and keep projects."""
    leave = [t for t in mine if t.role is not None and RANK[t.role] > RANK[target]]
    staying = [t for t in mine if t not in leave]
    held, kept = projects_of(mine), projects_of(staying)
    candidates = [t for t in teams if t.role == target and t not in mine]
    if any(t.role == target for t in staying) or (target == Role.MEMBER and not candidates):
        return None, leave  # Member is what remains when no Team gives more
    if target == Role.MEMBER:
        # Optional: a Member Team that gives back projects they would lose, and nothing new.
        useful = [t for t in candidates if t.project_ids <= held and t.project_ids & (held - kept)]
        return (max(useful, key=lambda t: (len(t.project_ids & (held - kept)), t.name)) if useful else None), leave
    if not candidates:
        raise ConflictError(
            f"No Mixpanel Team carries the {word} role, so offboard cannot give it to {email}. Create a Team with "
            f"the {word} organization role ({_TEAMS_UI}) and press Retry, or {_role_by_hand(email, target)}",
            vendor="mixpanel")
    # The Team that grants the fewest projects they do not hold, then keeps the most of those they would lose.
    return min(candidates, key=lambda t: (len(t.project_ids - held), -len(t.project_ids & (held - kept)),
                                          t.name)), leave


def _role_outcome(email: str, word: str, target: Role, before: list[Team], after: list[Team]) -> StepOutcome:
    joined = sorted({t.name for t in after} - {t.name for t in before})
    left = sorted({t.name for t in before} - {t.name for t in after})
    gained = sorted(projects_of(after) - projects_of(before))
    lost = sorted(projects_of(before) - projects_of(after))
    parts = [f"Gave {email} the {word} role in Mixpanel"]
    parts += [f"joined the Teams {', '.join(joined)}"] if joined else []
    parts += [f"left the Teams {', '.join(left)}"] if left else []
    parts += [f"this also gave them projects {', '.join(gained)}"] if gained else []
    parts += [f"they lost projects {', '.join(lost)}"] if lost else []
    return StepOutcome("; ".join(parts), {"status": "changed", "role": target.value, "joined": joined, "left": left,
                                          "projects_gained": gained, "projects_lost": lost})


def _refuse_collateral(email: str, project_id: str, project: str, granting: list[Team], staying: list[Team]) -> None:
    """Leaving the Teams that give `project_id` must take nothing else: no other project and no org
    role they do not also hold through a Team they keep."""
    names = {p.project_id: p.project_name for t in granting for p in t.projects}
    kept = projects_of(staying) | {project_id}
    taken = {t.name: sorted(names[p] for p in t.project_ids - kept) for t in granting}
    taken = {team: projects for team, projects in taken.items() if projects}
    if taken:
        what = "; ".join(f"{team} also gives {', '.join(projects)}" for team, projects in sorted(taken.items()))
        raise ConflictError(
            f"offboard will not take {email} out of {project} alone: {what}, which no other Team of theirs gives, so "
            f"leaving would take that too. Give them a Team without {project} first ({_TEAMS_UI}, or your identity "
            f"provider's Mixpanel groups) and press Retry, or {_project_by_hand(email, project)}", vendor="mixpanel")
    before, after = effective_role(granting + staying), effective_role(staying)
    if after[0] != before[0]:
        raise ConflictError(
            f"offboard will not take {email} out of {project} alone: the Teams that give it ({_names(granting)}) also "
            f"give them the {before[1]} organization role, which no other Team of theirs gives. Change their Teams "
            f"({_TEAMS_UI}) and press Retry, or {_project_by_hand(email, project)}", vendor="mixpanel")


def _teams_granting(teams: list[Team], role: Role, wanted: frozenset[str]) -> list[Team]:
    """Teams that together give `role` and the `wanted` projects and nothing more (no higher role, no
    other project), chosen greedily: the Team with the role first, then those adding most projects.
    What they cannot give is left out, never approximated."""
    eligible = [t for t in teams if t.role is not None and RANK[t.role] <= RANK[role] and t.project_ids <= wanted]
    chosen = []
    with_role = [t for t in eligible if t.role == role and RANK[role] > RANK[Role.MEMBER]]
    if with_role:
        chosen.append(max(with_role, key=lambda t: (len(t.project_ids), t.name)))
    covered = projects_of(chosen)
    while True:
        best = max((t for t in eligible if t not in chosen), key=lambda t: (len(t.project_ids - covered), t.name),
                   default=None)
        if best is None or not best.project_ids - covered:
            return chosen
        chosen.append(best)
        covered |= best.project_ids


def _invite_outcome(email: str, status: str, role: Role, wanted: frozenset[str], given: list[Team],
                    refused: dict[str, str], message: bool) -> StepOutcome:
    got_role, got_word = effective_role(given)
    got_projects = projects_of(given)
    not_given = [f"project {p} (no Team gives exactly the projects asked for; add it by hand in {_MEMBERS_UI} → "
                 "their name)" for p in sorted(wanted - got_projects)]
    if got_role != role:
        not_given.append(f"the {role.value} role ({_ROLE_GAP.get(role, _NO_TEAM_FOR_ROLE)})")
    not_given += [f"the Team {team}: {why}" for team, why in sorted(refused.items())]
    if message:
        not_given.append("the message (SCIM creates the account; Mixpanel sends no invitation text)")
    head = {"invited": f"Created {email} in Mixpanel as an org Member",
            "reactivated": f"Reactivated {email}'s deactivated Mixpanel account",
            "already_member": f"{email} is already an active Mixpanel user: nobody was created"}[status]
    parts = [head]
    if given:
        parts.append(f"in the Teams {_names(given)} (role {got_word or 'member'}; projects "
                     f"{', '.join(sorted(got_projects)) or 'none'})")
    if not_given:
        parts.append("not given: " + "; ".join(not_given))
    return StepOutcome(". ".join(parts), {
        "status": status, "teams": sorted(t.name for t in given), "role_given": got_role.value,
        "projects_given": sorted(got_projects), "projects_not_given": sorted(wanted - got_projects),
        "not_given": not_given,
    })


_NO_TEAM_FOR_ROLE = f"no Team carries it with only the projects asked for: create one in {_TEAMS_UI}, or set it by hand"
_ROLE_GAP = {
    Role.READ_ONLY: "Mixpanel has no read-only organization role: they are an org Member; give them Consumer "
                    "access per project by hand",
    Role.OWNER: "only an Owner can make an Owner; an Owner does it by hand",
}


def _explained(exc: VendorError) -> VendorError:
    if isinstance(exc, AuthError) and exc.status == 401:
        return AuthError(exc.message + _TOKEN_HINT, status=exc.status, vendor=exc.vendor)
    return exc


# -- manual steps (click paths from /work/shared/runbooks/mixpanel-remove-collaborator.txt) --------------
def manual_step(capability: Capability, email: str, details: Mapping[str, Any]) -> PlannedStep:
    """What a person does in Mixpanel's UI instead of `capability`, naming `email` and the details."""
    return build_manual_step("mixpanel", _BY_HAND, capability, email, details)


def _details_role(details: Mapping[str, Any]) -> Role | None:
    try:
        return Role(str(details.get("role")))
    except ValueError:
        return None


def _role_by_hand(email: str, role: Role | None) -> str:
    if role == Role.READ_ONLY:
        return (f"do it by hand: Mixpanel has no read-only organization role, so go to {_MEMBERS_UI}, click "
                f"{email}'s name, keep their organization role Member and set each of their projects to Consumer.")
    word = vendor_role("mixpanel", role) if role else None
    return (f"change it by hand: go to {_MEMBERS_UI}, click {email}'s name and change their organization role to "
            f"{(word or 'the agreed role').title()}. If a Team gives their role, change their Teams in {_TEAMS_UI} "
            "(or your identity provider's Mixpanel groups) instead, or the Team gives it back.")


def _project_by_hand(email: str, project: str) -> str:
    return (f"remove it by hand: go to {_MEMBERS_UI}, click {email}'s name and remove their access to {project} "
            f"(if a Team gives it, change their Teams in {_TEAMS_UI} instead).")


def _project(details: Mapping[str, Any]) -> str:
    name, project_id = details.get("project_name"), details.get("project_id")
    return f"{name} (project {project_id})" if name and project_id else str(name or project_id or "the project")


def _find_by_hand(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    reason = details.get("reason") or "offboard did not look it up"
    return "Check whether they are in Mixpanel", (
        f"Nobody has looked yet ({reason}). Navigate to {_MEMBERS_UI} and locate {email}'s account. Note whether "
        "they are there, their organization role and project assignments, then confirm here."
    )


def _list_by_hand(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    return "Export the Mixpanel member list", (
        f"Navigate to {_MEMBERS_UI} and export member list as CSV; note whether {email} is on it and confirm here."
    )


def _role_read_by_hand(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    return "Note their Mixpanel role", (
        f"Navigate to {_MEMBERS_UI}, locate {email}'s account and view details: note their organization role "
        "(Owner, Admin, Billing Admin or Member) and the Teams they are in."
    )


def _last_login_by_hand(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    return "Note their last Mixpanel activity", (
        f"Mixpanel's API shows no last login. Navigate to {_MEMBERS_UI}, locate {email}'s account and view details: "
        "note their last activity (for the audit trail, Organization Settings → Activity Log, filtered for their "
        "email)."
    )


def _projects_by_hand(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    return "Note their Mixpanel projects", (
        f"Navigate to {_MEMBERS_UI}, locate {email}'s account and view details: note their project assignments "
        "and their role in each."
    )


def _assets_by_hand(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    return "List what they created in Mixpanel", (
        f"Mixpanel's API cannot list what {email} created. Navigate to {_MEMBERS_UI}, locate their account and note "
        "dashboards, reports, or cohorts they created, plus the data pipelines, integrations and API tokens they "
        "manage."
    )


def _transfer_instructions(email: str, successor: str) -> str:
    return (
        f"Do this before the removal: Mixpanel's API cannot see or move what {email} created. Go to "
        f"{_MEMBERS_UI}, locate their account and note the dashboards, reports or cohorts they created. "
        f"Dashboards/Reports: duplicate important content to {successor}'s account and export critical "
        f"reports. Cohorts/Segments: transfer valuable cohorts to {successor} and document their definitions."
    )


def _handover_by_hand(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    successor = details.get("new_owner_email") or _SUCCESSOR
    return "Hand over their boards, reports and cohorts", _transfer_instructions(email, successor)


def _role_change_by_hand(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    role = _details_role(details)
    return f"Change their Mixpanel role to {role.value if role else 'the agreed role'}", (
        f"Change {email}'s role in Mixpanel: {_role_by_hand(email, role)}"
    )


def _project_removal_by_hand(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    project = _project(details)
    return f"Remove them from {project}", (
        f"Take away {email}'s access to {project} only; they stay in the organization. Go to {_MEMBERS_UI}, click "
        f"their name and remove their access to {project}. If a Team gives it, take them out of that Team in "
        f"{_TEAMS_UI} (or your identity provider's Mixpanel groups), making sure they keep their other projects."
    )


def _removal_by_hand(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    return "Remove them from Mixpanel", (
        f"Go to {_MEMBERS_UI}, locate {email}'s account, click three-dot menu or Actions, select Remove Member or "
        "Delete, confirm deletion and verify the account disappears from the list. Then remove SSO/SCIM access: "
        "log into the IdP console (Okta, Azure AD, etc.), remove the user from Mixpanel groups/roles and confirm "
        "SCIM won't auto-recreate them."
    )


def _verify_by_hand(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    return "Check they are gone from Mixpanel", (
        f"Verify removal of {email}: user not in the active member list of {_MEMBERS_UI} (or shows zero projects), "
        "SSO login fails, API tokens return 401 errors, automated reports don't send to the user."
    )


def _invite_by_hand(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    # The runbook has no invitation click path; Members is where Mixpanel invites.
    role = _details_role(details)
    projects = ", ".join(str(p) for p in details.get("projects") or []) or "the projects agreed"
    word = (vendor_role("mixpanel", role) or "member").title() if role else "Member"
    return f"Invite them to Mixpanel as {word}", (
        f"Go to {_MEMBERS_UI} → Invite, enter {email}, choose the organization role {word} and give access to "
        f"{projects}. Confirm here once the invitation is sent."
    )


def _cancel_invite_by_hand(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    return "Remove the account instead of cancelling an invitation", (
        f"Mixpanel's SCIM creates users directly, so there is no invitation of {email}'s to cancel through the API. "
        f"Deactivate or remove them by hand: go to {_MEMBERS_UI}, locate their account, click three-dot menu → "
        "Remove Member and confirm (if an invitation was sent from Mixpanel itself, revoke it there instead), and "
        "remove them from the Mixpanel groups in your identity provider so SCIM does not re-create them."
    )


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
    return PlannedStep(StepKind.MANUAL, "Hand over their boards, reports and cohorts", manual=True,
                       key="mixpanel_transfer_assets", instructions=_transfer_instructions(email, successor))


def _rotate_step(email: str, successor: str, accounts: list[dict[str, Any]]) -> PlannedStep:
    found = "".join(f"\n• service account {a.get('username')} (id {a.get('id')})" for a in accounts)
    listed = f" Service accounts they created:{found}" if found else ""
    return PlannedStep(
        StepKind.MANUAL, "Rotate the integrations and service accounts they managed", manual=True,
        key="mixpanel_rotate_integrations",
        params={CREDENTIALS_PARAM: [f"Mixpanel service account {a.get('username')}" for a in accounts]
                + [f"Mixpanel API tokens and integrations {email} set up"]},
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
        StepKind.MANUAL, "Check Mixpanel by hand", manual=True, key="mixpanel_check_by_hand",
        instructions=(
            f"Mixpanel could not be checked when this was planned ({reason}). Go to {_MEMBERS_UI} and locate "
            f"{email}'s account. If they are there, the steps below remove them once Mixpanel answers again; if "
            f"offboard keeps failing, click the three-dot menu → Remove Member, confirm, and confirm here."
        ),
    )
