"""The Mixpanel connector: assess, list, invite and remove people over Mixpanel's SCIM API.

What Mixpanel documents (mixpanel/docs `docs/access-security/single-sign-on/overview.mdx`, `okta.mdx`,
`azure.mdx`, `openapi/src/service-accounts.openapi.yaml`; see /work/shared/vendor-apis.md):

- SCIM (Enterprise) lives at https://mixpanel.com/api/app/scim/v2 with the org's SCIM token. **It sees only
  users whose email is on one of the organization's verified claimed domains.** A member on another
  domain (a contractor at agency.com) is invisible to it: a lookup finds nothing although they are a
  member. So offboard must know the verified domains (`verified_domains`): off them, or with none
  configured, a SCIM miss is *unknown*, never "not a member", and the plan is a manual check-and-delete
  step with no API step that could end "done" about someone the API cannot see.
- SCIM Groups are Mixpanel Teams by name, but SCIM shows no Team's organization role or project access
  ("You will not be able to provision Organization Role and Project access for the Group"). So over SCIM a
  member's role and projects are unknown: reading them, changing a role and taking one project away are
  manual steps (`vendors.planning` plans them from the capabilities this connector lacks). SCIM creates
  users as org Members with no project access, and `active: false` deactivates.
- Service accounts (HTTP Basic) name their `creator` by an integer Mixpanel user id only.

What is guessed is kept in the UNVERIFIED block below, each guess once.

Every step looks the person up again when it runs, does nothing that is already done, and checks
the result with a fresh lookup.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator, Mapping
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
    Role,
    StepKind,
    StepOutcome,
    StepRunner,
    VendorError,
    assess_safely,
    build_manual_step,
    refuse_unseen,
    run_step,
    unseen,
)
from vendors.http import RetryPolicy, VendorHTTP
from vendors.roles import vendor_role
from vendors.scim import ScimClient, scim_classify, scim_detail, user_name

HOSTS = {"us": "https://mixpanel.com", "eu": "https://eu.mixpanel.com", "in": "https://in.mixpanel.com"}
SCIM_PATH = "/api/app/scim/v2"
# The only SCIM base Mixpanel documents. Its EU and India hosts are undocumented, so the base is not derived
# from the region: a deployment elsewhere sets it (MIXPANEL_SCIM_URL) to what Mixpanel support gives it.
DEFAULT_SCIM_URL = "https://mixpanel.com" + SCIM_PATH
APP_PATH = "/api/app"  # the service-account API, documented on the us, eu and in hosts
MAX_ACCOUNTS_LISTED = 25  # beyond this the rotate step points at the Service Accounts page

# -- UNVERIFIED, each in one place ------------------------------------------------------------------------
MAX_PAGE_SIZE = 100  # Mixpanel documents no SCIM page size; RFC 7644's `count` is used
# Whether a service account's integer `creator` is the same id as the SCIM user's `id` is undocumented:
# offboard matches them when they are equal (`_service_accounts_of`), says so on the rotate step, and
# otherwise lists every account with its creator id for a person to check.
# That `active: true` reactivates a deactivated user (RFC 7644 implies it; `_ensure_user` relies on it), and
# that a deactivated user stays listed with `active: false` (the steps read it as removed).
# The wording Mixpanel uses when it refuses by its rules (`_classify`): statuses and words are guesses.
_LAST_OWNER_WORDS = ("at least one owner",)
_VERIFIED_DOMAIN_WORDS = ("verified domain",)
# ----------------------------------------------------------------------------------------------------------

UNKNOWN_ROLE = "unknown (Mixpanel's SCIM shows no roles or project access)"
_USERS_UI = "Organization Settings → Users & Teams"
_TEAMS_UI = f"{_USERS_UI} → Teams"
_SERVICE_ACCOUNTS_UI = "Organization Settings → Service Accounts"
_DELETE_UI = f"{_USERS_UI} → tick the checkbox next to their name → Delete (at the top of the table) → confirm"
_PROJECT_UI = "Project Settings → Project Users"
_TOKEN_HINT = (" Check MIXPANEL_SCIM_TOKEN: it must be a current SCIM token of the organization (generating a new "
               "one kills the old). An organization outside the US data center may need MIXPANEL_SCIM_URL: Mixpanel "
               "documents only " + DEFAULT_SCIM_URL + ".")
_SUCCESSOR = "the colleague taking over their work"
_NO_DOMAINS = ("MIXPANEL_VERIFIED_DOMAINS is not set, so offboard cannot tell a person Mixpanel's SCIM cannot see "
               "(anyone whose email is not on the organization's verified claimed domains) from one who is not a "
               "member. Set it to those domains (Organization Settings → Access Security → Domain Claiming).")


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


def mixpanel_scim_url(region: str, scim_url: str | None = None) -> str:
    """The SCIM base: `scim_url` when given; for a named region the documented one (see DEFAULT_SCIM_URL);
    for a region given as a URL (a proxy, a sandbox) that host's SCIM path."""
    if scim_url and scim_url.strip():
        url = httpx.URL(scim_url.strip())
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError(f"Mixpanel SCIM URL {scim_url!r} is not an http(s) URL")
        return str(url).rstrip("/")
    if region.strip().lower() in HOSTS:
        return DEFAULT_SCIM_URL
    return mixpanel_host(region) + SCIM_PATH


def domains(values: Iterable[str]) -> frozenset[str]:
    """"corp.com", "@Corp.com " → {"corp.com"}."""
    return frozenset(d.strip().lstrip("@").casefold() for d in values if d.strip().lstrip("@"))


def domain_of(email: str) -> str:
    return email.strip().rpartition("@")[2].casefold()


def _classify(response: httpx.Response, detail: str) -> VendorError | None:
    """Mixpanel's rules, refused in words, become instructions (statuses and wording UNVERIFIED)."""
    text = detail.lower()
    if any(w in text for w in _LAST_OWNER_WORDS):
        return ConflictError(f"Mixpanel will not leave the organization without an Owner ({detail}). Make someone "
                             f"else an Owner first ({_USERS_UI} → their name → organization role Owner), then "
                             "press Retry.")
    if any(w in text for w in _VERIFIED_DOMAIN_WORDS):
        return ConflictError(f"Mixpanel's SCIM takes only people on the organization's verified domains ({detail}): "
                             f"invite them by hand ({_USERS_UI} → Invite Users).")
    return scim_classify(response, detail)


class MixpanelVendor:
    """`Vendor` for one Mixpanel organization, acting with its SCIM token (and optionally a service account)."""

    name = "mixpanel"
    label = "Mixpanel"
    # What SCIM can do. Not: roles and project access (SCIM shows them for no user and no Team), last login,
    # assets, hand-over, role changes, project-only removal, and cancelling an invitation (SCIM creates
    # users directly): those are manual steps.
    capabilities = frozenset({
        Capability.FIND_MEMBER, Capability.LIST_MEMBERS, Capability.REMOVE_MEMBER, Capability.VERIFY_REMOVAL,
        Capability.INVITE,
    })
    invite_role = Role.MEMBER  # SCIM creates org Members: the planner adds a manual step for any other role

    def __init__(self, scim_token: str, region: str = "us", *, scim_url: str | None = None,
                 verified_domains: Iterable[str] = (), service_account_username: str | None = None,
                 service_account_secret: str | None = None, organization_id: int | str | None = None,
                 page_size: int | None = None, policy: RetryPolicy | None = None) -> None:
        if not scim_token:
            raise ValueError("a Mixpanel SCIM token is required")
        self.host = mixpanel_host(region)
        self.scim_url = mixpanel_scim_url(region, scim_url)
        self.verified_domains = domains(verified_domains)
        self._http = VendorHTTP(
            self.scim_url, {"Authorization": f"Bearer {scim_token}", "Accept": "application/scim+json"},
            vendor=self.name, label=self.label, policy=policy, detail=scim_detail, classify_error=_classify,
        )
        self._scim = ScimClient(self._http, page_size_param="count",
                                page_size=min(page_size or MAX_PAGE_SIZE, MAX_PAGE_SIZE))
        self.organization_id = str(organization_id) if organization_id else None
        given = (service_account_username, service_account_secret, self.organization_id)
        self._service_half_set = any(given) and not all(given)
        self._service: VendorHTTP | None = None
        if all(given):
            basic = base64.b64encode(f"{service_account_username}:{service_account_secret}".encode()).decode()
            self._service = VendorHTTP(
                self.host + APP_PATH, {"Authorization": f"Basic {basic}", "Accept": "application/json"},
                vendor=self.name, label=self.label, policy=policy, secrets=(str(service_account_secret),),
            )

    def __repr__(self) -> str:
        return (f"MixpanelVendor(scim_url={self.scim_url!r}, organization_id={self.organization_id!r}, "
                f"verified_domains={sorted(self.verified_domains)!r})")

    def close(self) -> None:
        self._http.close()
        if self._service:
            self._service.close()

    def sees(self, email: str) -> bool:
        """Whether Mixpanel's SCIM can see `email` at all: only on the organization's verified domains."""
        return domain_of(email) in self.verified_domains

    def known_unseen(self, email: str) -> bool:
        """True only where SCIM certainly cannot see `email` (off the verified domains offboard knows), so a
        sweep judges them from a members export alone; with no domains set, nobody is known to be unseen."""
        return bool(self.verified_domains) and not self.sees(email)

    # -- Vendor protocol ---------------------------------------------------------------------------
    def assess(self, email: str) -> Assessment:
        return assess_safely(self.name, self.label, email, self._assess, _explained)

    def iter_members(self) -> Iterator[Member]:
        """Every active user SCIM shows, one /Users page at a time as the stream is consumed. Deactivated
        users are left out (they are no longer members), and so, unavoidably, is everyone off the verified
        domains: SCIM does not show them (`blind_spot` says so on listings)."""
        for user in self._scim.users():
            if user.get("active") is not False:
                yield _member(user, [])

    @property
    def blind_spot(self) -> str:
        """What every listing of this connector's members leaves out, for the sweep and review to say."""
        where = ", ".join(sorted(self.verified_domains)) or "none set in MIXPANEL_VERIFIED_DOMAINS"
        return (f"Mixpanel's SCIM API shows only users on the organization's verified domains ({where}): members on "
                f"other domains (contractors, agencies) are invisible to it and not in its list; only a members export "
                f"shows them. Check them in {_USERS_UI}.")

    def check(self) -> list[str]:
        """Read-only: one authenticated SCIM read, the verified-domains setting, and the service account."""
        problems: list[str] = []
        try:
            self._http.get_json("/Users", params={"startIndex": "1", "count": "1"})
        except AuthError as exc:
            problems.append(f"Mixpanel: the SCIM token was refused ({exc.message}).{_TOKEN_HINT}")
        except VendorError as exc:
            problems.append(f"Mixpanel: SCIM at {self.scim_url} could not be read ({exc.message}). Check "
                            "MIXPANEL_SCIM_URL and that the organization has SCIM (an Enterprise feature).")
        if not self.verified_domains:
            problems.append(f"Mixpanel: {_NO_DOMAINS}")
        if self._service_half_set:
            problems.append("Mixpanel: set all of MIXPANEL_SERVICE_ACCOUNT_USERNAME, MIXPANEL_SERVICE_ACCOUNT_SECRET "
                            "and MIXPANEL_ORG_ID, or none: with only some, offboard cannot list service accounts.")
        elif self._service is not None:
            try:
                self._service.get_json(f"/organizations/{self.organization_id}/service-accounts")
            except AuthError as exc:
                problems.append(f"Mixpanel: the service account was refused ({exc.message}). Check "
                                "MIXPANEL_SERVICE_ACCOUNT_USERNAME and MIXPANEL_SERVICE_ACCOUNT_SECRET (an Admin or "
                                "Owner service account of the organization).")
            except NotFoundError as exc:
                problems.append(f"Mixpanel: organization {self.organization_id} was not found ({exc.message}). Check "
                                "MIXPANEL_ORG_ID.")
        return problems

    def manual_step(self, capability: Capability, email: str, details: Mapping[str, Any]) -> PlannedStep:
        return manual_step(capability, email, details)

    def plan_removal(self, assessment: Assessment, new_owner_email: str | None) -> list[PlannedStep]:
        if assessment.status == AssessmentStatus.NOT_MEMBER:
            return []
        member = assessment.member
        email = member.email if member else assessment.email
        reason = assessment.error or "Mixpanel could not be checked"
        if not email:
            return [_check_by_hand_step("(unnamed)", reason)]
        successor = new_owner_email or _SUCCESSOR
        if member is None and not self.sees(email):
            # The API cannot see them (or cannot tell): a person checks and deletes. No API step is planned,
            # as none could tell a removal from a person it cannot see.
            return [_transfer_step(email, successor), _check_and_delete_step(email, reason),
                    _rotate_step(email, successor, [], matched=False)]
        steps: list[PlannedStep] = []
        if member is None:
            steps.append(_check_by_hand_step(email, reason))
        steps.append(_transfer_step(email, successor))
        teams = (member.extra.get("teams") or []) if member else []
        if teams or member is None:
            names = ", ".join(t["name"] for t in teams) or "every Team they are in"
            steps.append(PlannedStep("remove_from_teams", f"Remove from Teams ({names})", {"email": email}))
        accounts = (member.extra.get("service_accounts") or []) if member else []
        matched = bool(member and member.extra.get("service_accounts_matched"))
        steps += [
            PlannedStep(StepKind.REMOVE_MEMBER, "Deactivate in Mixpanel", {"email": email}),
            PlannedStep(StepKind.VERIFY_REMOVED, "Check they are gone", {"email": email}),
            _rotate_step(email, successor, accounts, matched=matched),
        ]
        return steps

    def execute(self, step: PlannedStep) -> StepOutcome:
        runners: dict[str, StepRunner] = {
            "remove_from_teams": lambda params: self._leave_teams(params["email"]),
            StepKind.REMOVE_MEMBER: lambda params: self._deactivate(params["email"]),
            StepKind.VERIFY_REMOVED: lambda params: self._verify(params["email"]),
            StepKind.INVITE: self._invite,
        }
        return run_step(self.name, self.label, step, runners, _explained)

    # -- lookups -----------------------------------------------------------------------------------
    def _unseen_why(self, email: str) -> str:
        if self.verified_domains:
            verified = ", ".join(sorted(self.verified_domains))
            return (f"{email} is not on the organization's verified domains ({verified}), and Mixpanel's SCIM API "
                    "sees only those: offboard cannot tell whether they are a member")
        return f"Mixpanel's SCIM API does not list {email}, which does not show they are not a member. {_NO_DOMAINS}"

    def _absent(self, email: str) -> bool:
        """A SCIM miss means gone only where SCIM can see the person; elsewhere the step refuses to say done."""
        if self.sees(email):
            return True
        raise refuse_unseen(self.name, self.label, f"whether {email} is still a member ({self._unseen_why(email)})")

    def _active_user(self, email: str) -> dict[str, Any] | None:
        user = self._scim.find_user(email)
        return user if user is not None and user.get("active") is not False else None

    def _teams_of(self, user_id: str) -> list[dict[str, str]]:
        return [{"id": str(g.get("id")), "name": str(g.get("displayName") or g.get("id"))}
                for g in self._scim.groups_of(user_id)]

    # -- assessment --------------------------------------------------------------------------------
    def _assess(self, email: str) -> Assessment:
        user = self._scim.find_user(email)
        if user is None:
            if self.sees(email):
                return Assessment(self.name, AssessmentStatus.NOT_MEMBER, email=email)
            return unseen(self.name, email, self._unseen_why(email))
        if user.get("active") is False:
            return Assessment(self.name, AssessmentStatus.NOT_MEMBER, email=email,
                              warnings=(f"{email} has a Mixpanel account, but it is already deactivated.",))
        warnings = [
            "Mixpanel's SCIM API shows no organization role, no project access, no last login and nothing about "
            f"the boards and reports they own: check them in {_USERS_UI} before approving.",
        ]
        if not self.sees(email):
            warnings.append(f"SCIM lists {email} although {domain_of(email)} is not in MIXPANEL_VERIFIED_DOMAINS: add "
                            "it to the setting.")
        user_id = str(user.get("id"))
        teams = self._teams_of(user_id)
        if teams:
            warnings.append(f"Teams: {', '.join(t['name'] for t in teams)} (SCIM shows a Team's name only, not the "
                            "role or projects it gives; they leave them on removal).")
        extra: dict[str, Any] = {}
        accounts = self._service_accounts_of(user_id, email, warnings)
        if accounts is not None:
            extra["service_accounts"], extra["service_accounts_matched"] = accounts
        member = _member(user, teams, **extra)
        return Assessment(self.name, AssessmentStatus.MEMBER, member=member, warnings=tuple(warnings), email=email)

    def _service_accounts_of(self, user_id: str, email: str, warnings: list[str]
                             ) -> tuple[list[dict[str, Any]], bool] | None:
        """The service accounts whose integer `creator` is this user's SCIM id (and True), or, when none is,
        every account with its creator id (and False) for a person to check (the ids' sameness is UNVERIFIED)."""
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
        if not isinstance(results, list):
            warnings.append("Mixpanel answered the service-account list without a 'results' list; check "
                            f"{_SERVICE_ACCOUNTS_UI} by hand.")
            return None
        accounts = [_service_account(a) for a in results if isinstance(a, dict)]
        mine = [a for a in accounts if a["creator"] is not None and str(a["creator"]) == user_id]
        if mine:
            return mine, True
        if accounts:
            warnings.append(f"No Mixpanel service account names {email}'s user id ({user_id}) as its creator, and "
                            "Mixpanel names creators by a user id only: the rotate step lists every service account "
                            "with its creator id to check.")
        return accounts, False

    # -- removal -----------------------------------------------------------------------------------
    def _leave_teams(self, email: str) -> StepOutcome:
        user = self._scim.find_user(email)
        if user is None and self._absent(email):
            return StepOutcome(f"{email} is no longer a Mixpanel user; no Teams to leave",
                               {"already_removed": True, "teams": []})
        assert user is not None
        user_id = str(user.get("id"))
        left = [t["name"] for t in self._teams_of(user_id) if self._scim.remove_from_group(t["id"], user_id)]
        still = self._teams_of(user_id) if left else []
        if still:
            raise VendorError(f"{email} is still in the Mixpanel Teams {_names(still)}: remove them there "
                              f"({_TEAMS_UI}), then press Retry.", vendor=self.name)
        if not left:
            return StepOutcome(f"{email} is in no Mixpanel Team; nothing to remove", {"teams": []})
        return StepOutcome(f"Removed {email} from the Mixpanel Teams {', '.join(left)}", {"teams": left})

    def _deactivate(self, email: str) -> StepOutcome:
        user = self._scim.find_user(email)
        if user is None and self._absent(email):
            return StepOutcome(f"{email} was already removed from Mixpanel", {"already_removed": True})
        assert user is not None
        if user.get("active") is False:
            return StepOutcome(f"{email} was already deactivated in Mixpanel", {"already_removed": True})
        user_id = str(user.get("id"))
        found = self._scim.deactivate_user(user_id) is not None
        if self._active_user(email) is not None:
            raise VendorError(f"{email} is still an active Mixpanel user after deactivating them. Remove them by "
                              f"hand ({_DELETE_UI}), then press Retry.", vendor=self.name)
        if not found:  # removed by someone else between our lookup and the PATCH
            return StepOutcome(f"{email} was already removed from Mixpanel", {"already_removed": True})
        return StepOutcome(f"Deactivated {email} in Mixpanel", {"already_removed": False, "user_id": user_id})

    def _verify(self, email: str) -> StepOutcome:
        user = self._scim.find_user(email)
        if user is None:
            self._absent(email)
        elif user.get("active") is not False:
            raise VendorError(f"{email} is still an active Mixpanel user. Remove them by hand ({_DELETE_UI}), "
                              "then press Retry.", vendor=self.name)
        teams = self._teams_of(str(user.get("id"))) if user else []
        if teams:
            raise VendorError(f"{email} is deactivated but still in the Mixpanel Teams {_names(teams)}: remove "
                              f"them there ({_TEAMS_UI}), then press Retry.", vendor=self.name)
        return StepOutcome(f"Checked: {email} is no longer an active Mixpanel user",
                           {"verified_at": datetime.now(UTC).isoformat()})

    # -- invitation: a SCIM create (an org Member with no project access) ----------------------------
    def _invite(self, params: dict[str, Any]) -> StepOutcome:
        email = params["email"]
        if self.verified_domains and not self.sees(email):
            raise ConflictError(f"Mixpanel's SCIM creates only people on the organization's verified domains "
                                f"({', '.join(sorted(self.verified_domains))}). {_invite_by_hand(email, params)[1]}",
                                vendor=self.name)
        not_given = _invite_shortfall(params)
        status = self._ensure_user(email)
        if self._active_user(email) is None:
            raise VendorError(f"Mixpanel accepted {email} but does not list them as active. Invite them by hand "
                              f"({_USERS_UI} → Invite Users), then press Retry.", vendor=self.name)
        head = {"invited": f"Created {email} in Mixpanel as an org Member with no project access",
                "reactivated": f"Reactivated {email}'s deactivated Mixpanel account",
                "already_member": f"{email} is already an active Mixpanel user: nobody was created"}[status]
        summary = head + (". Not given: " + "; ".join(not_given) if not_given else "")
        return StepOutcome(summary, {"status": status, "role_given": Role.MEMBER.value, "not_given": not_given})

    def _ensure_user(self, email: str) -> str:
        """Create (or reactivate) the user when needed; says what was done: "invited", "reactivated" or
        "already_member"."""
        user = self._scim.find_user(email)
        if user is None:
            try:
                self._scim.create_user(email)
                return "invited"
            except ConflictError:  # created by someone else between our lookup and the POST
                user = self._scim.find_user(email)
                if user is None:
                    raise
        if user.get("active") is False:
            # UNVERIFIED (see the block at the top): `active: true` reactivates a deactivated user.
            self._scim.set_active(str(user.get("id")), True)
            return "reactivated"
        return "already_member"


# -- pure helpers ------------------------------------------------------------------------------------------
def _names(teams: Iterable[Mapping[str, str]]) -> str:
    return ", ".join(sorted(t["name"] for t in teams))


def _member(user: dict[str, Any], teams: list[dict[str, str]], **extra: Any) -> Member:
    """SCIM shows no role, projects or last login: the role reads as member with the word "unknown"."""
    user_id = str(user.get("id"))
    return Member(email=str(user.get("userName") or user_id), member_id=user_id, name=user_name(user),
                  role=Role.MEMBER, vendor_role=UNKNOWN_ROLE,
                  extra={"user_id": user_id, "teams": teams, "active": user.get("active") is not False, **extra},
                  last_login_known=False)


def _service_account(account: Mapping[str, Any]) -> dict[str, Any]:
    """The documented `ServiceAccountRead` fields offboard shows; `creator` is an integer user id."""
    creator = account.get("creator")
    return {"id": account.get("id"), "username": str(account.get("username") or ""),
            "creator": creator if isinstance(creator, int) and not isinstance(creator, bool) else None,
            "last_used": account.get("last_used")}


def _invite_shortfall(params: Mapping[str, Any]) -> list[str]:
    """What an invitation asked for that SCIM cannot give, said in the outcome so nobody assumes it."""
    missing = []
    role = str(params.get("role") or Role.MEMBER.value)
    if role != Role.MEMBER.value:
        missing.append(f"the {role} role (SCIM creates org Members; the plan has a step to set it by hand)")
    projects = [str(p) for p in params.get("projects") or []]
    if projects:
        missing.append(f"access to projects {', '.join(projects)} (SCIM gives no project access: add them in each "
                       f"project's {_PROJECT_UI} → Invite Users, or through a Team in {_TEAMS_UI})")
    if params.get("message"):
        missing.append("the message (SCIM creates the account; Mixpanel sends no invitation text)")
    return missing


def _explained(exc: VendorError) -> VendorError:
    if isinstance(exc, AuthError) and exc.status == 401:
        return AuthError(exc.message + _TOKEN_HINT, status=exc.status, vendor=exc.vendor)
    return exc


# -- manual steps (click paths: mixpanel/docs orgs-and-projects/roles-and-permissions.md, and the runbook
# /work/shared/runbooks/mixpanel-remove-collaborator.txt for the hand-over and credentials) -----------------
def manual_step(capability: Capability, email: str, details: Mapping[str, Any]) -> PlannedStep:
    """What a person does in Mixpanel's UI instead of `capability`, naming `email` and the details."""
    return build_manual_step("mixpanel", _BY_HAND, capability, email, details)


def _details_role(details: Mapping[str, Any]) -> Role | None:
    try:
        return Role(str(details.get("role")))
    except ValueError:
        return None


def _project(details: Mapping[str, Any]) -> str:
    name, project_id = details.get("project_name"), details.get("project_id")
    return f"{name} (project {project_id})" if name and project_id else str(name or project_id or "the project")


def _find_by_hand(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    reason = details.get("reason") or "offboard did not look it up"
    return "Check whether they are in Mixpanel", (
        f"Nobody has looked yet ({reason}). Go to {_USERS_UI} and search for {email}. Note whether they are there, "
        "their organization role, their Teams and their projects, then confirm here."
    )


def _list_by_hand(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    return "Export the Mixpanel user list", (
        f"Go to {_USERS_UI} and export the user list as CSV; note whether {email} is on it and confirm here."
    )


def _role_read_by_hand(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    return "Note their Mixpanel role", (
        f"Mixpanel's SCIM API shows no roles. Go to {_USERS_UI}, find {email}: note their organization role "
        "(Owner, Admin, Billing Admin or Member) and the Teams they are in (a Team can give a role too)."
    )


def _last_login_by_hand(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    return "Note their last Mixpanel activity", (
        f"Mixpanel's API shows no last login. Go to {_USERS_UI}, find {email} and note their last activity (for "
        "the audit trail, Organization Settings → Activity Log, filtered for their email)."
    )


def _projects_by_hand(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    return "Note their Mixpanel projects", (
        f"Mixpanel's SCIM API shows no project access. Go to {_USERS_UI}, find {email} and note the projects they "
        "can open and their role in each, including what their Teams give them."
    )


def _assets_by_hand(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    return "List what they created in Mixpanel", (
        f"Mixpanel's API cannot list what {email} created. In each project note the boards, reports and cohorts "
        "they created, plus the data pipelines, integrations and API tokens they manage."
    )


def _transfer_instructions(email: str, successor: str) -> str:
    return (
        f"Do this before the removal: Mixpanel's API cannot see or move what {email} created. In each project, "
        f"note the boards, reports or cohorts they created. Dashboards/Reports: duplicate important content to "
        f"{successor}'s account and export critical reports. Cohorts/Segments: transfer valuable cohorts to "
        f"{successor} and document their definitions."
    )


def _handover_by_hand(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    successor = details.get("new_owner_email") or _SUCCESSOR
    return "Hand over their boards, reports and cohorts", _transfer_instructions(email, successor)


def _role_change_by_hand(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    if details.get("restore"):
        return "Give back their Mixpanel role, Teams and projects", (
            f"offboard could not see what {email} had in Mixpanel ({details.get('reason') or 'SCIM shows no roles'}). "
            f"Go to {_USERS_UI}, click their name and set the organization role they had; add them back to the "
            f"Teams they left ({_TEAMS_UI}; the removal's Teams step names them) and to the projects they could "
            f"open ({_PROJECT_UI}). Confirm here once done."
        )
    role = _details_role(details)
    when = ("Once the account exists (Mixpanel's SCIM creates everyone as an org Member): "
            if details.get("after_invite") else "Mixpanel's SCIM API cannot change roles. ")
    if role == Role.READ_ONLY:
        how = (f"Mixpanel has no read-only organization role: go to {_USERS_UI}, keep {email}'s organization role "
               f"Member and set each of their projects to Consumer ({_PROJECT_UI} → their role).")
    else:
        word = (vendor_role("mixpanel", role) if role else None) or "the agreed role"
        how = (f"go to {_USERS_UI}, click {email}'s name and change their organization role to {word.title()}. "
               "Only an Owner can make an Owner. If one of their Teams gives a higher role, change their Teams "
               f"({_TEAMS_UI}, or your identity provider's Mixpanel groups) too, or the Team keeps it.")
    return f"Change their Mixpanel role to {role.value if role else 'the agreed role'}", when + how


def _project_removal_by_hand(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    project = _project(details)
    return f"Remove them from {project}", (
        f"Mixpanel's SCIM API cannot change project access. Take away {email}'s access to {project} only; they stay "
        f"in the organization. In {project} open {_PROJECT_UI}, tick the checkbox next to their name and click "
        f"Delete. If a Team gives them {project}, take them out of that Team in {_TEAMS_UI} (or your identity "
        "provider's Mixpanel groups) instead, making sure they keep their other projects."
    )


def _removal_by_hand(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    return "Remove them from Mixpanel", (
        f"Go to {_USERS_UI}, find {email}, tick the checkbox next to their name, click Delete at the top of the "
        "table and confirm (this removes them from every project and Team and cannot be undone); check they are "
        "gone from the list. Then remove them from the Mixpanel groups in your identity provider so SCIM does "
        "not re-create them."
    )


def _verify_by_hand(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    return "Check they are gone from Mixpanel", (
        f"Verify removal of {email}: they are not in the user list of {_USERS_UI}, SSO login fails, API tokens "
        "return 401 errors, automated reports don't send to them."
    )


def _invite_by_hand(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    role = _details_role(details)
    projects = ", ".join(str(p) for p in details.get("projects") or []) or "the projects agreed"
    word = (vendor_role("mixpanel", role) or "member").title() if role else "Member"
    return f"Invite them to Mixpanel as {word}", (
        f"Go to {_USERS_UI} → Invite Users, enter {email}, choose the organization role {word} and give access to "
        f"{projects}, then click Invite. Confirm here once the invitation is sent."
    )


def _cancel_invite_by_hand(email: str, details: Mapping[str, Any]) -> tuple[str, str]:
    return "Remove the account instead of cancelling an invitation", (
        f"Mixpanel's SCIM creates users directly, so there is no invitation of {email}'s to cancel through the API. "
        f"Delete the account by hand: {_DELETE_UI} (if an invitation was sent from Mixpanel itself, revoke it "
        "there instead), and remove them from the Mixpanel groups in your identity provider so SCIM does not "
        "re-create them."
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


def _account_line(account: Mapping[str, Any], *, with_creator: bool) -> str:
    creator = f", created by user id {account.get('creator')}" if with_creator else ""
    return f"\n• service account {account.get('username')} (id {account.get('id')}{creator})"


def _rotate_step(email: str, successor: str, accounts: list[dict[str, Any]], *, matched: bool) -> PlannedStep:
    credentials = [f"Mixpanel API tokens and integrations {email} set up"]
    if matched and accounts:
        listed = (" Service accounts whose creator id is their user id (Mixpanel does not document that these are "
                  f"the same ids: glance at {_SERVICE_ACCOUNTS_UI} too):"
                  + "".join(_account_line(a, with_creator=False) for a in accounts))
        credentials = [*(f"Mixpanel service account {a.get('username')}" for a in accounts), *credentials]
    elif accounts:
        shown = accounts[:MAX_ACCOUNTS_LISTED]
        more = len(accounts) - len(shown)
        listed = (f" offboard could not tell which service accounts {email} created: Mixpanel names each account's "
                  f"creator by a user id only, and none matched theirs. Check each in {_SERVICE_ACCOUNTS_UI} and "
                  "rotate those they created:" + "".join(_account_line(a, with_creator=True) for a in shown)
                  + (f"\n• and {more} more in {_SERVICE_ACCOUNTS_UI}" if more else ""))
        credentials = [f"Mixpanel service accounts {email} created (to be found in the list on the step)", *credentials]
    else:
        listed = (f" offboard did not list Mixpanel's service accounts for them: check {_SERVICE_ACCOUNTS_UI} for "
                  "accounts they created.")
    return PlannedStep(
        StepKind.MANUAL, "Rotate the integrations and service accounts they managed", manual=True,
        key="mixpanel_rotate_integrations", params={CREDENTIALS_PARAM: credentials},
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
            f"Mixpanel could not be checked when this was planned ({reason}). Go to {_USERS_UI} and search for "
            f"{email}. If they are there, the steps below remove them once Mixpanel answers again; if offboard keeps "
            f"failing, delete them by hand ({_DELETE_UI}) and confirm here."
        ),
    )


def _check_and_delete_step(email: str, reason: str) -> PlannedStep:
    """The whole removal for someone Mixpanel's SCIM cannot see: keyed as the removal, so the request waits
    for a person to confirm it."""
    return PlannedStep(
        StepKind.MANUAL, "Check Mixpanel by hand and delete them", {"email": email}, manual=True,
        key=f"mixpanel_{Capability.REMOVE_MEMBER.value}",
        instructions=(
            f"Mixpanel's API cannot tell offboard about {email}: {reason}. Go to {_USERS_UI} and search for {email}. "
            "If they are listed, tick the checkbox next to their name, click Delete at the top of the table and "
            "confirm (this removes them from every project and Team and cannot be undone), and check they are gone "
            "from the list. If they are not listed, they are not a member. Confirm here either way."
        ),
    )
