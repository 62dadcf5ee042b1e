"""The PostHog connector: assess a person, plan their removal, run the steps.

PostHog's API (see /work/shared/vendor-apis.md) mixes identifiers, and the connector keeps them
apart on purpose: member paths take the user **uuid**, insight/flag/cohort filters the int user
**id**, notebooks the uuid, project access entries the **membership id**. `created_by` is read-only,
so "handing over" an asset means making restricted dashboards editable by the whole project and
recording who takes over; what no API can do (documenting flags, reassigning running experiments,
replacing personal API keys, reviewing an admin's changes) becomes manual steps naming the items.

Every step looks the person up again when it runs and does nothing that is already done, so the
workflow may run it twice (after a crash) without acting twice.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from vendors.base import (
    Assessment,
    AssessmentStatus,
    Asset,
    AuthError,
    ConflictError,
    Member,
    NotFoundError,
    PlannedStep,
    ProjectAccess,
    Role,
    StepOutcome,
    VendorError,
    assess_safely,
    run_step,
)
from vendors.http import RetryPolicy, VendorHTTP, default_detail

HOSTS = {"us": "https://us.posthog.com", "eu": "https://eu.posthog.com"}
MEMBER_LEVEL, ADMIN_LEVEL, OWNER_LEVEL = 1, 8, 15
EDITABLE, RESTRICTED = 21, 37  # dashboard restriction levels
_THROTTLE_WAIT = re.compile(r"available in (\d+(?:\.\d+)?) second", re.IGNORECASE)
_OWNER_CANNOT_LEAVE = "cannot leave the organization as its owner"
_MEMBERS_UI = "Settings → Organization → Members"
_KEY_HINT = " Check POSTHOG_API_KEY: it must be a valid personal API key of an owner of the organization."


# -- small pure helpers (tested directly) --------------------------------------------------------------
def posthog_base_url(host: str) -> str:
    """"us" / "eu" for PostHog Cloud, or a self-hosted domain or URL."""
    host = host.strip()
    if host.lower() in HOSTS:
        return HOSTS[host.lower()]
    if not host:
        raise ValueError("PostHog host is empty: use 'us', 'eu' or your PostHog's URL")
    url = host if "://" in host else f"https://{host}"
    if httpx.URL(url).scheme not in ("http", "https") or not httpx.URL(url).host:
        raise ValueError(f"PostHog host {host!r} is not 'us', 'eu' or an http(s) URL")
    return url.rstrip("/")


def role_for_level(level: int) -> Role:
    """PostHog's organization levels 1/8/15 in our vocabulary (levels in between round down)."""
    if level >= OWNER_LEVEL:
        return Role.OWNER
    if level >= ADMIN_LEVEL:
        return Role.ADMIN
    return Role.MEMBER


def level_name(level: int) -> str:
    return {OWNER_LEVEL: "owner", ADMIN_LEVEL: "admin", MEMBER_LEVEL: "member"}.get(level, f"level {level}")


def throttle_wait(response: httpx.Response) -> float | None:
    """Older PostHog sent 429s without Retry-After: the wait is only in the detail text."""
    match = _THROTTLE_WAIT.search(default_detail(response))
    return float(match.group(1)) if match else None


def posthog_detail(response: httpx.Response) -> str:
    """PostHog's `detail`, with the field it is about (`attr`) when there is one."""
    detail = default_detail(response)
    try:
        attr = response.json().get("attr")
    except (ValueError, AttributeError):
        return detail
    return f"{detail} (field: {attr})" if attr and detail else detail


def _classify(response: httpx.Response, detail: str) -> VendorError | None:
    if response.status_code == 400 and _OWNER_CANNOT_LEAVE in detail.lower():
        return ConflictError(
            "PostHog will not remove an owner. Demote them to admin first "
            f"({_MEMBERS_UI} → their role), then press Retry."
        )
    return None


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _day(value: Any) -> str:
    parsed = _parse_time(value) if not isinstance(value, datetime) else value
    return parsed.strftime("%Y-%m-%d") if parsed else "never"


# -- what we know about one member ---------------------------------------------------------------------
@dataclass(frozen=True)
class _Person:
    email: str
    name: str
    user_id: int  # insight/flag/cohort filters and created_by.id
    user_uuid: str  # member paths and the notebook filter
    membership_id: str  # project access entries
    level: int
    last_login: datetime | None = None
    joined_at: datetime | None = None

    @classmethod
    def from_member(cls, raw: dict[str, Any]) -> _Person:
        user = raw["user"]
        name = " ".join(p for p in (user.get("first_name"), user.get("last_name")) if p) or user["email"]
        return cls(
            email=user["email"], name=name, user_id=int(user["id"]), user_uuid=str(user["uuid"]),
            membership_id=str(raw["id"]), level=int(raw["level"]),
            last_login=_parse_time(raw.get("last_login")), joined_at=_parse_time(raw.get("joined_at")),
        )


# -- asset kinds ----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Kind:
    kind: str
    segment: str  # /api/projects/{pid}/<segment>/
    creator_params: Callable[[_Person], dict[str, str]]  # the server-side filter, {} when there is none
    name_of: Callable[[dict[str, Any]], str]
    id_of: Callable[[dict[str, Any]], str]
    ui_path: Callable[[dict[str, Any]], str]  # under /project/{pid}/


_KINDS = (
    _Kind("dashboard", "dashboards", lambda p: {},  # no creator filter exists: we filter on created_by.id
          lambda a: a.get("name") or "Untitled dashboard", lambda a: str(a["id"]), lambda a: f"dashboard/{a['id']}"),
    _Kind("insight", "insights", lambda p: {"created_by": json.dumps([p.user_id])},
          lambda a: a.get("name") or a.get("derived_name") or f"Insight {a.get('short_id', a['id'])}",
          lambda a: str(a["id"]), lambda a: f"insights/{a.get('short_id') or a['id']}"),
    _Kind("feature_flag", "feature_flags", lambda p: {"created_by_id": str(p.user_id)},
          lambda a: a.get("key") or a.get("name") or f"Flag {a['id']}", lambda a: str(a["id"]),
          lambda a: f"feature_flags/{a['id']}"),
    _Kind("cohort", "cohorts", lambda p: {"created_by_id": str(p.user_id)},
          lambda a: a.get("name") or f"Cohort {a['id']}", lambda a: str(a["id"]), lambda a: f"cohorts/{a['id']}"),
    # UNVERIFIED: the experiments filter. We send the flag/cohort form and, as for every kind, also
    # keep only items whose created_by.id matches, so a server that ignores it is still handled.
    _Kind("experiment", "experiments", lambda p: {"created_by_id": str(p.user_id)},
          lambda a: a.get("name") or f"Experiment {a['id']}", lambda a: str(a["id"]),
          lambda a: f"experiments/{a['id']}"),
    _Kind("notebook", "notebooks", lambda p: {"created_by": p.user_uuid},
          lambda a: a.get("title") or "Untitled notebook", lambda a: str(a.get("short_id") or a["id"]),
          lambda a: f"notebooks/{a.get('short_id') or a['id']}"),
)


@dataclass(frozen=True)
class _Owned:
    asset: Asset
    raw: dict[str, Any]


# -- the connector ------------------------------------------------------------------------------------
class PostHogVendor:
    """`Vendor` for one PostHog organization, acting with one personal API key.

    The key should belong to an owner: only an owner may demote (and so remove) another owner.
    """

    name = "posthog"
    label = "PostHog"

    def __init__(
        self,
        api_key: str,
        host: str = "us",
        organization_id: str = "@current",
        *,
        page_size: int | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        if not api_key:
            raise ValueError("a PostHog personal API key is required")
        self.base_url = posthog_base_url(host)
        self.organization_id = organization_id or "@current"
        self.page_size = page_size
        policy = policy or RetryPolicy()
        self._workers = policy.max_concurrency
        self._org_name: str | None = None
        self._http = VendorHTTP(
            self.base_url,
            {"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
            vendor=self.name, label=self.label, policy=policy,
            detail=posthog_detail, retry_hint=throttle_wait, classify_error=_classify,
        )

    def __repr__(self) -> str:
        return f"PostHogVendor(base_url={self.base_url!r}, organization_id={self.organization_id!r})"

    def close(self) -> None:
        self._http.close()

    # -- Vendor protocol ---------------------------------------------------------------------------
    def assess(self, email: str) -> Assessment:
        return assess_safely(self.name, self.label, email, self._assess, _explained)

    def plan_removal(self, assessment: Assessment, new_owner_email: str | None) -> list[PlannedStep]:
        if assessment.status == AssessmentStatus.NOT_MEMBER:
            return []
        if assessment.status == AssessmentStatus.UNKNOWN or assessment.member is None:
            return self._plan_unassessed(assessment)
        member = assessment.member
        steps: list[PlannedStep] = []
        if assessment.assets:
            steps.append(_handover_step(member, assessment.assets, new_owner_email))
        if member.role == Role.OWNER:
            steps.append(PlannedStep("demote_owner", "Demote from owner to admin", {"email": member.email}))
        steps += _removal_steps(member.email, self._org_label(member))
        steps += _manual_steps(member, assessment.assets, new_owner_email)
        return steps

    def execute(self, step: PlannedStep) -> StepOutcome:
        runners = {
            "handover_assets": self._handover,
            "demote_owner": self._demote,
            "remove_member": self._remove,
            "verify_removed": self._verify,
        }
        return run_step(self.name, self.label, step, runners, _explained)

    # -- assessment --------------------------------------------------------------------------------
    def _assess(self, email: str) -> Assessment:
        raw = self._find_member(email)
        if raw is None:
            return Assessment(self.name, AssessmentStatus.NOT_MEMBER, email=email)
        person = _Person.from_member(raw)
        warnings: list[str] = []
        org = self._optional(self._organization, "the organization's name", warnings) or {}
        projects = self._projects()
        access = self._member_projects(person, projects, warnings)
        owned = self._owned_assets(person, projects)
        extra = self._member_extra(person, org, owned, warnings)
        warnings[:0] = self._role_warnings(person, org, extra)
        member = Member(
            email=person.email, member_id=person.user_uuid, name=person.name, role=role_for_level(person.level),
            vendor_role=f"{level_name(person.level)} (level {person.level})", projects=access,
            last_login=person.last_login, joined_at=person.joined_at, extra=extra,
        )
        return Assessment(
            self.name, AssessmentStatus.MEMBER, member=member, assets=tuple(o.asset for o in owned),
            warnings=tuple(warnings), email=email,
        )

    def _member_projects(
        self, person: _Person, projects: list[dict[str, Any]], warnings: list[str]
    ) -> tuple[ProjectAccess, ...]:
        if person.level >= ADMIN_LEVEL:  # org admins and owners are admins of every project
            return tuple(ProjectAccess(str(p["id"]), p["name"], "admin") for p in projects)
        access = []
        for project in projects:
            level = self._project_level(person, project, warnings)
            if level != "none":
                access.append(ProjectAccess(str(project["id"]), project["name"], level))
        return tuple(access)

    def _project_level(self, person: _Person, project: dict[str, Any], warnings: list[str]) -> str:
        try:
            controls = self._http.get_json(f"/api/projects/{project['id']}/access_controls")
        except (AuthError, NotFoundError) as exc:
            warnings.append(f"Could not read who may open {project['name']} ({exc.message}).")
            return "member" if not project.get("access_control") else "unknown"
        for entry in controls.get("access_controls") or []:
            if entry.get("organization_member") == person.membership_id and entry.get("resource") == "project":
                return str(entry.get("access_level") or "none")
        return str(controls.get("default_access_level") or "member")

    def _owned_assets(self, person: _Person, projects: list[dict[str, Any]]) -> list[_Owned]:
        pairs = [(project, kind) for project in projects for kind in _KINDS]
        with ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="posthog-assets") as pool:
            found = pool.map(lambda pk: self._assets_of_kind(person, *pk), pairs)
            return [owned for batch in found for owned in batch]

    def _assets_of_kind(self, person: _Person, project: dict[str, Any], kind: _Kind) -> list[_Owned]:
        pid = project["id"]
        items = self._list(f"/api/projects/{pid}/{kind.segment}/", kind.creator_params(person))
        return [
            _Owned(Asset(
                kind=kind.kind, asset_id=kind.id_of(item), name=kind.name_of(item), project_id=str(pid),
                project_name=project["name"], url=f"{self.base_url}/project/{pid}/{kind.ui_path(item)}",
                restricted=kind.kind == "dashboard" and _restricted(item),
            ), item)
            for item in items
            # Every list is also filtered here: dashboards have no server-side filter, experiments'
            # is UNVERIFIED, and a server that ignores a filter must not hand us everyone's assets.
            if (item.get("created_by") or {}).get("id") == person.user_id and not item.get("deleted")
        ]

    def _member_extra(
        self, person: _Person, org: dict[str, Any], owned: list[_Owned], warnings: list[str]
    ) -> dict[str, Any]:
        extra: dict[str, Any] = {
            "organization_id": org.get("id", self.organization_id),
            "organization_name": self._org_label(),
            "membership_id": person.membership_id,
            "user_id": person.user_id,
            "user_uuid": person.user_uuid,
            "level": person.level,
            "active_feature_flags": [o.asset.asset_id for o in owned
                                     if o.asset.kind == "feature_flag" and o.raw.get("active")],
            "running_experiments": [o.asset.asset_id for o in owned if o.asset.kind == "experiment"
                                    and o.raw.get("start_date") and not o.raw.get("end_date")],
            "experiment_start_dates": {o.asset.asset_id: o.raw.get("start_date") for o in owned
                                       if o.asset.kind == "experiment"},
        }
        keys = self._optional(lambda: self._http.get_json(self._member_path(person, "scoped_api_keys/")),
                              "their personal API keys", warnings)
        if keys is not None:
            extra["personal_api_keys"] = [{"name": k.get("name", ""), "last_used_at": k.get("last_used_at")}
                                          for k in keys.get("keys") or []]
            extra["has_keys_active_last_week"] = bool(keys.get("has_keys_active_last_week"))
        if person.level >= ADMIN_LEVEL:
            invites = self._optional(lambda: self._pending_invites_by(person), "the invites they sent", warnings)
            extra["pending_invites_sent"] = invites or []
        extra["is_api_key_owner"] = self._key_owner_uuid() == person.user_uuid
        return extra

    def _role_warnings(self, person: _Person, org: dict[str, Any], extra: dict[str, Any]) -> list[str]:
        warnings = []
        org_name = self._org_label()
        if extra.get("is_api_key_owner"):
            warnings.append(
                f"{person.email} owns the personal API key offboard uses for PostHog: PostHog will refuse to "
                "let it change or remove its own account, and the key dies with the account. Set POSTHOG_API_KEY "
                "to a key of another owner first."
            )
        if person.level < OWNER_LEVEL:
            return warnings
        if not self._other_owners(person):
            warnings.append(
                f"{person.email} is the ONLY owner of {org_name}: make someone else an owner first "
                f"({_MEMBERS_UI}), or removal will stop."
            )
            return warnings
        warnings.append(f"{person.email} is an owner: will be demoted to admin before removal "
                        "(PostHog does not remove owners).")
        key_level = org.get("membership_level")
        if isinstance(key_level, int) and key_level < OWNER_LEVEL:
            warnings.append(f"offboard's PostHog key belongs to an {level_name(key_level)}, and only an owner can "
                            f"demote an owner: use a key of an owner of {org_name}.")
        return warnings

    def _plan_unassessed(self, assessment: Assessment) -> list[PlannedStep]:
        email = assessment.email
        reason = assessment.error or "PostHog could not be checked"
        if not email:  # cannot happen with our own assessments; never plan nothing for an unknown
            return [PlannedStep("manual", "Check PostHog by hand", manual=True, key="posthog_check_by_hand",
                                instructions=f"offboard could not check PostHog ({reason}). In PostHog open "
                                f"{_MEMBERS_UI}, find the person and remove them (⋯ → Remove member).")]
        return [*_removal_steps(email, "the PostHog organization"), _unassessed_review_step(email, reason)]

    # -- steps -------------------------------------------------------------------------------------
    def _handover(self, params: dict[str, Any]) -> StepOutcome:
        email, new_owner = params["email"], params.get("new_owner_email")
        person = self._person_for_handover(email, params)
        if person is None:
            return StepOutcome(f"Nothing to hand over: {email} is not a member of {self._org_label()}",
                               {"new_owner_email": new_owner, "assets": []})
        projects = self._projects()
        owned = self._owned_assets(person, projects)
        handed = [self._hand_over(o, new_owner) for o in owned]
        notes = self._new_owner_notes(new_owner, {o.asset.project_id for o in owned}, projects)
        opened = [h["name"] for h in handed if h["action"] == "made editable by everyone in the project"]
        summary = (f"{len(handed)} assets recorded as handed over to {new_owner or 'the project'}"
                   if handed else f"{email} owns no assets any more")
        if opened:
            summary += f"; made {len(opened)} restricted dashboard(s) editable by the project: {', '.join(opened)}"
        if notes:
            summary += ". " + " ".join(notes)
        return StepOutcome(summary, {"new_owner_email": new_owner, "from_email": email, "assets": handed,
                                     "notes": notes})

    def _hand_over(self, owned: _Owned, new_owner: str | None) -> dict[str, Any]:
        asset = owned.asset
        action = "recorded new owner"
        if asset.kind == "dashboard" and _restricted(owned.raw):
            self._http.send_json("PATCH", f"/api/projects/{asset.project_id}/dashboards/{asset.asset_id}/",
                                 {"restriction_level": EDITABLE})
            action = "made editable by everyone in the project"
        return {**asdict(asset), "restricted": False, "was_restricted": asset.restricted,
                "action": action, "new_owner_email": new_owner}

    def _person_for_handover(self, email: str, params: dict[str, Any]) -> _Person | None:
        raw = self._find_member(email)
        if raw is not None:
            return _Person.from_member(raw)
        if params.get("user_id") and params.get("user_uuid"):  # gone already, but their assets stay behind
            return _Person(email, email, int(params["user_id"]), str(params["user_uuid"]), "", MEMBER_LEVEL)
        return None

    def _new_owner_notes(self, new_owner: str | None, asset_projects: set[str],
                         projects: list[dict[str, Any]]) -> list[str]:
        if not new_owner:
            return []
        raw = self._find_member(new_owner)
        if raw is None:
            return [f"{new_owner} is not a member of {self._org_label()} in PostHog: invite them if they should "
                    "look after these."]
        person = _Person.from_member(raw)
        visible = {a.project_id for a in self._member_projects(person, projects, [])}
        missing = [p["name"] for p in projects if str(p["id"]) in asset_projects - visible]
        if not missing:
            return []
        return [f"{new_owner} cannot open {', '.join(missing)}: give them access there "
                "(Settings → Project → Members, or the project's Access control) if they should own these."]

    def _demote(self, params: dict[str, Any]) -> StepOutcome:
        email = params["email"]
        raw = self._find_member(email)
        if raw is None:
            return StepOutcome(f"{email} is no longer a member of {self._org_label()}; nothing to demote",
                               {"already_removed": True})
        person = _Person.from_member(raw)
        if person.level < OWNER_LEVEL:
            return StepOutcome(f"{email} is already {level_name(person.level)}, not owner; nothing to change",
                               {"level": person.level, "changed": False})
        self._demote_owner(person)
        return StepOutcome(f"Demoted {email} from owner to admin",
                           {"from_level": OWNER_LEVEL, "to_level": ADMIN_LEVEL, "changed": True})

    def _demote_owner(self, person: _Person) -> None:
        org_name = self._org_label()
        if not self._other_owners(person):
            raise ConflictError(
                f"{person.email} is the only owner of {org_name}. Make someone else an owner first "
                f"({_MEMBERS_UI}), then press Retry.", vendor=self.name,
            )
        try:
            self._http.send_json("PATCH", self._member_path(person), {"level": ADMIN_LEVEL})
        except AuthError as exc:
            raise ConflictError(
                f"PostHog refused to demote {person.email} ({exc.status}). The API key offboard uses must belong "
                f"to another owner of {org_name}; change POSTHOG_API_KEY or demote them by hand "
                f"({_MEMBERS_UI}), then press Retry.", status=exc.status, vendor=self.name,
            ) from None

    def _remove(self, params: dict[str, Any]) -> StepOutcome:
        email = params["email"]
        raw = self._find_member(email)
        org_name = self._org_label()
        if raw is None:
            return StepOutcome(f"{email} was already removed from {org_name}", {"already_removed": True})
        person = _Person.from_member(raw)
        demoted = person.level >= OWNER_LEVEL
        if demoted:  # PostHog refuses to remove an owner, however many owners there are
            self._demote_owner(person)
        try:
            self._http.send_json("DELETE", self._member_path(person))
        except NotFoundError:  # removed by someone else between our lookup and our DELETE
            return StepOutcome(f"{email} was already removed from {org_name}", {"already_removed": True})
        except AuthError as exc:
            raise ConflictError(
                f"PostHog refused to remove {email} ({exc.status}). The API key offboard uses must belong to an "
                f"admin or owner of {org_name} ranking at least as high as {email}; or remove them by hand "
                f"({_MEMBERS_UI} → ⋯ → Remove member), then press Retry.", status=exc.status, vendor=self.name,
            ) from None
        suffix = " (demoted from owner first)" if demoted else ""
        return StepOutcome(f"Removed {email} from {org_name}{suffix}",
                           {"already_removed": False, "demoted_first": demoted, "user_uuid": person.user_uuid,
                            "level_before": person.level})

    def _verify(self, params: dict[str, Any]) -> StepOutcome:
        email = params["email"]
        raw = self._find_member(email)
        org_name = self._org_label()
        if raw is not None:
            level = level_name(int(raw.get("level", 0)))
            raise VendorError(
                f"{email} is still a member of {org_name} in PostHog ({level}). Remove them by hand "
                f"({_MEMBERS_UI} → ⋯ → Remove member), then press Retry.", vendor=self.name,
            )
        return StepOutcome(f"Checked: {email} is no longer a member of {org_name}",
                           {"verified_at": datetime.now(UTC).isoformat()})

    # -- lookups -----------------------------------------------------------------------------------
    def _find_member(self, email: str) -> dict[str, Any] | None:
        """The membership for `email`, case-insensitively.

        `?email=` is an exact (case-sensitive) match, so "Alice@Corp.com" stored in PostHog would be
        missed by "alice@corp.com": a miss falls back to `?search=` and compares case-folded, because
        reporting "not a member" wrongly would skip a removal.
        """
        wanted = email.strip().casefold()
        for params in ({"email": email.strip()}, {"search": email.strip()}):
            for raw in self._list(self._org_path("members/"), params):
                if str((raw.get("user") or {}).get("email", "")).casefold() == wanted:
                    return raw
        return None

    def _other_owners(self, person: _Person) -> list[str]:
        # No level filter exists, so this reads the whole member list.
        return [
            raw["user"]["email"] for raw in self._list(self._org_path("members/"), {})
            if int(raw.get("level", 0)) >= OWNER_LEVEL and raw["user"]["uuid"] != person.user_uuid
        ]

    def _projects(self) -> list[dict[str, Any]]:
        return list(self._list(self._org_path("projects/"), {}))

    def _organization(self) -> dict[str, Any]:
        org = self._http.get_json(self._org_path(""))
        if isinstance(org, dict) and org.get("name"):
            self._org_name = str(org["name"])
        return org if isinstance(org, dict) else {}

    def _org_label(self, member: Member | None = None) -> str:
        if member and member.extra.get("organization_name"):
            return str(member.extra["organization_name"])
        if self._org_name is None:
            try:
                self._organization()
            except VendorError:
                return "the PostHog organization"
        return self._org_name or "the PostHog organization"

    def _pending_invites_by(self, person: _Person) -> list[str]:
        return [
            str(i.get("target_email")) for i in self._list(self._org_path("invites/"), {})
            if (i.get("created_by") or {}).get("uuid") == person.user_uuid and not i.get("is_expired")
        ]

    def _key_owner_uuid(self) -> str | None:
        try:
            me = self._http.get_json("/api/users/@me/")
        except (AuthError, NotFoundError):  # a key without the user:read scope: just skip this check
            return None
        return str(me.get("uuid")) if isinstance(me, dict) else None

    def _optional(self, call: Callable[[], Any], what: str, warnings: list[str]) -> Any:
        """A detail worth having but not worth failing the assessment for (e.g. a missing scope)."""
        try:
            return call()
        except (AuthError, NotFoundError) as exc:
            warnings.append(f"Could not check {what}: {exc.message}")
            return None

    def _list(self, path: str, params: dict[str, str]) -> Iterable[dict[str, Any]]:
        if self.page_size:
            params = {**params, "limit": str(self.page_size)}
        return self._http.paginate(path, params=params)

    def _org_path(self, suffix: str) -> str:
        return f"/api/organizations/{self.organization_id}/{suffix}"

    def _member_path(self, person: _Person, suffix: str = "") -> str:
        return self._org_path(f"members/{person.user_uuid}/{suffix}")


def _explained(exc: VendorError) -> VendorError:
    """A rejected key is the one failure people can fix themselves: say how."""
    if isinstance(exc, AuthError) and exc.status == 401:
        return AuthError(exc.message + _KEY_HINT, status=exc.status, vendor=exc.vendor)
    return exc


def _restricted(dashboard: dict[str, Any]) -> bool:
    return int(dashboard.get("restriction_level") or EDITABLE) >= RESTRICTED


# -- plans ------------------------------------------------------------------------------------------------
def _removal_steps(email: str, org_name: str) -> list[PlannedStep]:
    return [
        PlannedStep("remove_member", f"Remove from {org_name}", {"email": email}),
        PlannedStep("verify_removed", "Check they are gone", {"email": email}),
    ]


def _handover_step(member: Member, assets: tuple[Asset, ...], new_owner: str | None) -> PlannedStep:
    restricted = sum(1 for a in assets if a.restricted)
    title = (f"Hand over {len(assets)} assets to {new_owner}" if new_owner
             else f"Make {len(assets)} assets available to the project")
    if restricted:
        title += f" (opens {restricted} restricted dashboard{'s' if restricted > 1 else ''})"
    return PlannedStep(
        "handover_assets", title,
        {"email": member.email, "new_owner_email": new_owner, "user_id": member.extra.get("user_id"),
         "user_uuid": member.member_id},
    )


def _manual_steps(member: Member, assets: tuple[Asset, ...], new_owner: str | None) -> list[PlannedStep]:
    successor = new_owner or "the colleague taking over their work"
    steps = [
        _flags_step(member, [a for a in assets if a.kind == "feature_flag"], successor),
        _experiments_step(member, assets, successor),
        _api_keys_step(member, successor),
        _admin_review_step(member),
    ]
    return [s for s in steps if s is not None]


def _bullets(lines: Iterable[str]) -> str:
    return "\n".join(f"• {line}" for line in lines)


def _flags_step(member: Member, flags: list[Asset], successor: str) -> PlannedStep | None:
    if not flags:
        return None
    active = set(member.extra.get("active_feature_flags", ()))
    items = _bullets(f"{f.name} ({'active' if f.asset_id in active else 'inactive'}) in {f.project_name}: {f.url}"
                     for f in flags)
    return PlannedStep(
        "manual", f"Document and reassign {len(flags)} feature flag{'s' if len(flags) > 1 else ''}", manual=True,
        key="posthog_feature_flags",
        instructions=(
            f"{member.email} created these feature flags. They keep working after the removal, but nobody "
            f"will know what they are for:\n{items}\n"
            f"In PostHog open Feature Flags and filter by creator: {member.name}. For each flag, write its purpose "
            f"and status into its description, name {successor} as its new owner there, and make sure nothing "
            f"breaks once {member.email} is gone."
        ),
    )


def _experiments_step(member: Member, assets: tuple[Asset, ...], successor: str) -> PlannedStep | None:
    running_ids = set(member.extra.get("running_experiments", ()))
    running = [a for a in assets if a.kind == "experiment" and a.asset_id in running_ids]
    if not running:
        return None
    started = member.extra.get("experiment_start_dates", {})
    items = _bullets(f"{e.name} in {e.project_name}, running since {_day(started.get(e.asset_id))}: {e.url}"
                     for e in running)
    return PlannedStep(
        "manual", f"Reassign {len(running)} running experiment{'s' if len(running) > 1 else ''}", manual=True,
        key="posthog_running_experiments",
        instructions=(
            f"{member.email} runs these experiments:\n{items}\n"
            f"In PostHog open Experiments and each experiment above: write down its status and results so far, "
            f"note {successor} as its new owner in the description, and tell them it is theirs now."
        ),
    )


def _api_keys_step(member: Member, successor: str) -> PlannedStep | None:
    keys = member.extra.get("personal_api_keys") or []
    if not keys:
        return None
    items = _bullets(f"“{k['name']}”, last used {_day(k.get('last_used_at'))}" for k in keys)
    return PlannedStep(
        "manual", "Replace their personal API keys in integrations", manual=True, key="posthog_personal_api_keys",
        instructions=(
            f"{member.email} has personal API keys. They stop working the moment {member.email} is removed, and "
            f"nobody else can see or revoke them:\n{items}\n"
            f"Find the scripts and integrations that use them (start with the names above). Replace each with a "
            f"key of {successor} (in PostHog: Settings → User → Personal API keys → Create personal API key) or "
            f"with the project API key where that is enough, then check each integration still works."
        ),
    )


def _admin_review_step(member: Member) -> PlannedStep | None:
    if member.role not in (Role.ADMIN, Role.OWNER):
        return None
    projects = ", ".join(p.project_name for p in member.projects) or "every project"
    invites = member.extra.get("pending_invites_sent") or []
    invite_text = (f" Pending invites they sent: {', '.join(invites)}; cancel any nobody asked for."
                   if invites else " They have no pending invites.")
    return PlannedStep(
        "manual", f"Review {member.name}'s recent changes as {member.role.value}", manual=True,
        key="posthog_admin_review",
        instructions=(
            f"{member.email} was an {member.role.value} of {member.extra.get('organization_name', 'the organization')}"
            f". In each project ({projects}) open Activity and filter by {member.name}: check their changes of the "
            f"last 90 days for anything unexpected (project settings, access, data pipelines). Then open "
            f"{_MEMBERS_UI} and check the invites.{invite_text}"
        ),
    )


def _unassessed_review_step(email: str, reason: str) -> PlannedStep:
    return PlannedStep(
        "manual", "Look for what they created in PostHog", manual=True, key="posthog_review_unassessed",
        instructions=(
            f"PostHog could not be checked when this was planned ({reason}), so offboard did not look for what "
            f"{email} created. In PostHog open Dashboards, Feature Flags and Experiments and filter by creator "
            f"{email}: make their restricted dashboards editable by everyone in the project (dashboard → Share → "
            f"“Everyone in the project can edit”), document their feature flags, and hand running experiments to "
            f"their new owner. If they were an admin or owner, also review their recent changes under Activity."
        ),
    )
