"""What each kind of request plans for one vendor, besides the connector's own full removal.

Pure: no Slack, no database. The workflow asks `plan_for` once per vendor after the assessment:

* full removal: the connector's plan (`Vendor.plan_removal`);
* emergency: the same steps, but whatever only hands assets over moves after the verified removal, and a
  follow-up checklist (credentials to rotate, activity to review) is added;
* remove from chosen projects / downgrade to read-only: `vendors.planning.plan_change` (automated where
  the connector declares the capability, the vendor's click path otherwise), then a fresh lookup that
  checks the change took effect (`verify_change`, a step the workflow runs itself);
* restore: re-invite with the role and projects the removal snapshotted (`Invitation`).

Guards apply to every mode: offboard never plans a change of the account its own credentials belong to,
and a vendor whose accounts an identity provider provisions gets a checklist item for the IdP group.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from storage.models import RequestMode
from vendors import registry
from vendors.base import (
    CREDENTIALS_PARAM,
    Assessment,
    AssessmentStatus,
    Capability,
    Member,
    PlannedStep,
    Role,
    StepKind,
    StepOutcome,
    Vendor,
    VendorError,
)
from vendors.planning import Invitation, ProjectRemoval, RoleChange, plan_change

VERIFY_CHANGE = "verify_change"  # a step kind the workflow runs itself: a fresh look after a partial change
WORKFLOW_STEP_KINDS = frozenset({VERIFY_CHANGE})
PARTIAL_MODES = frozenset({RequestMode.PROJECTS, RequestMode.READ_ONLY})
REMOVAL_MODES = frozenset({RequestMode.FULL, RequestMode.EMERGENCY})
# Modes that run as soon as they are planned: the emergency needs no approval, and a restore was approved
# by the click that started it.
UNAPPROVED_MODES = frozenset({RequestMode.EMERGENCY, RequestMode.RESTORE})
ROLE_RANK = {Role.READ_ONLY: 0, Role.MEMBER: 1, Role.ADMIN: 2, Role.OWNER: 3}
# Markers a connector may put in `Member.extra` when the vendor says an identity provider manages the account.
IDP_MARKERS = ("idp_managed", "scim_managed", "sso_managed", "external_id")


@dataclass(frozen=True)
class ChangeConfig:
    """The settings the workflow needs for emergencies, partial changes, batches, restores and guards (see
    bot/runtime/config.py for their environment names)."""

    bot_accounts: frozenset[str] = frozenset()  # emails offboard's own vendor credentials belong to
    idp_groups: Mapping[str, str] = field(default_factory=dict)  # vendor → the IdP group that provisions it
    idp_name: str = "your identity provider"
    two_approvers_over: int = 10  # a batch of more people needs two distinct approvers
    dispute_window_business_days: int = 5
    emergency_reminder: timedelta = timedelta(minutes=30)


MODE_LABELS = {
    RequestMode.FULL: "Full removal",
    RequestMode.PROJECTS: "Remove from chosen projects only",
    RequestMode.READ_ONLY: "Downgrade to read-only",
    RequestMode.EMERGENCY: "Emergency removal",
    RequestMode.RESTORE: "Restore access",
}


def mode_of(value: str) -> RequestMode:
    try:
        return RequestMode(value)
    except ValueError:
        return RequestMode.FULL


def parse_project_list(text: str) -> list[str]:
    """"Finance, Staging" or one per line → ["Finance", "Staging"], without repeats."""
    parts = (p.strip() for p in re.split(r"[,\n;]+", text or ""))
    return list(dict.fromkeys(p for p in parts if p))


# -- the one entry point ---------------------------------------------------------------------------------------
def plan_for(
    mode: RequestMode,
    vendor: Vendor,
    assessment: Assessment,
    *,
    email: str,
    new_owner_email: str | None,
    mode_params: Mapping[str, Any],
    config: ChangeConfig,
) -> list[PlannedStep]:
    if mode == RequestMode.RESTORE:
        entry = (mode_params.get("snapshot") or {}).get(vendor.name)
        return restore_plan(vendor, assessment, email, entry, config)
    refusal = own_account_refusal(vendor, assessment, email, config)
    if refusal is not None:
        return [refusal]
    match mode:
        case RequestMode.EMERGENCY:
            steps = emergency_plan(vendor, assessment, new_owner_email)
        case RequestMode.PROJECTS:
            steps = projects_plan(vendor, assessment, email, [str(p) for p in mode_params.get("projects") or []])
        case RequestMode.READ_ONLY:
            steps = read_only_plan(vendor, assessment, email)
        case _:
            steps = vendor.plan_removal(assessment, new_owner_email)
    idp = idp_step(vendor, assessment, email, config, mode)
    return [*steps, idp] if steps and idp is not None else steps


# -- guards --------------------------------------------------------------------------------------------------------
def is_own_account(assessment: Assessment, email: str, config: ChangeConfig) -> bool:
    member = assessment.member
    if member is not None and member.extra.get("is_api_key_owner"):
        return True
    return email.lower() in config.bot_accounts or (member is not None and member.email.lower() in config.bot_accounts)


def own_account_refusal(vendor: Vendor, assessment: Assessment, email: str,
                        config: ChangeConfig) -> PlannedStep | None:
    """offboard never changes the account it acts as: the removal would kill its own credentials mid-way
    (and PostHog refuses it anyway). The plan is then one item that says so and what to do instead."""
    if assessment.status == AssessmentStatus.NOT_MEMBER or not is_own_account(assessment, email, config):
        return None
    label = vendor.label
    return PlannedStep(
        StepKind.MANUAL.value, f"Refused: {email} is the account offboard uses for {label}", {"email": email},
        manual=True, key=f"{vendor.name}_own_account",
        instructions=(
            f"offboard acts in {label} with credentials that belong to {email}, so it will not change or remove "
            f"that account: it would cut off its own access half-way, and every later offboarding would fail. "
            f"First give offboard credentials of another admin (see {label} in docs/vendors.md) and restart it. "
            f"Then either offboard {email} again, or make the change by hand in {label} and mark this done."
        ),
    )


def is_idp_managed(vendor: Vendor, assessment: Assessment, config: ChangeConfig) -> bool:
    if vendor.name in config.idp_groups:
        return True
    member = assessment.member
    return member is not None and any(member.extra.get(marker) for marker in IDP_MARKERS)


def idp_step(vendor: Vendor, assessment: Assessment, email: str, config: ChangeConfig,
             mode: RequestMode) -> PlannedStep | None:
    """An account an identity provider provisions (SSO just-in-time or SCIM) comes back at the next
    sync or login unless the person leaves the IdP group too."""
    if not is_idp_managed(vendor, assessment, config):
        return None
    group = config.idp_groups.get(vendor.name) or f"the group that gives access to {vendor.label}"
    idp = config.idp_name
    if mode in PARTIAL_MODES:
        what = ("change their group there to one that gives only the access this request leaves them, or the "
                "next sync gives the old access back")
    else:
        what = f"remove {email} from it, or the next sync or sign-in re-creates their {vendor.label} account"
    return PlannedStep(
        StepKind.MANUAL.value, f"Update {idp}: {group}", {"email": email}, manual=True,
        key=f"{vendor.name}_idp_group",
        instructions=(f"{vendor.label} accounts are provisioned by {idp}. In {idp}, open {group} and {what}. "
                      "Check the IdP's provisioning log shows the change."),
    )


# -- emergency ---------------------------------------------------------------------------------------------------
def _hands_over(step: PlannedStep) -> bool:
    """Steps that only hand assets over (or check something the removal itself refuses on): in an
    emergency they wait until the person is out, as every vendor's emergency runbook says."""
    if step.kind == StepKind.HANDOVER_ASSETS and not step.manual:
        return True
    return step.manual and step.key.endswith(("_handover_assets", "_transfer_assets", "_last_admin"))


def emergency_plan(vendor: Vendor, assessment: Assessment, new_owner_email: str | None) -> list[PlannedStep]:
    planned = vendor.plan_removal(assessment, new_owner_email)
    if not planned:
        return []
    # First what takes them out and proves it (in the connector's order: an owner is demoted before the
    # removal), then the hand-over (automated first, so it runs at once after the removal, while the manual
    # parts wait for a person), then everything else, then the security follow-up.
    now = [s for s in planned if is_removal_critical(s.kind, s.key, s.manual)]
    handover = sorted((s for s in planned if _hands_over(s)), key=lambda s: s.manual)
    rest = [s for s in planned if s not in now and s not in handover]
    return now + handover + rest + follow_up_steps(vendor, assessment)


def follow_up_steps(vendor: Vendor, assessment: Assessment) -> list[PlannedStep]:
    """The security follow-up for one vendor: rotate what they could see, review what they did."""
    email = assessment.email or (assessment.member.email if assessment.member else "")
    texts = registry.facts_of(vendor.name).follow_up  # its runbook's, else the generic texts
    projects = [p.project_name for p in assessment.member.projects] if assessment.member else []
    where = ", ".join(projects) if projects else "every project they may have opened"
    credentials = [f"{vendor.label} {texts.credential} of {p}" for p in projects] or [
        f"{vendor.label} {texts.credential}s of every project they may have opened"]
    rotate = PlannedStep(
        StepKind.MANUAL.value, f"Rotate the {texts.credential}s they could see", {"email": email,
                                                                             CREDENTIALS_PARAM: credentials},
        manual=True, key=f"{vendor.name}_emergency_rotate",
        instructions=f"{email} could see the {texts.credential}s of: {where}. {texts.rotate}",
    )
    review = PlannedStep(
        StepKind.MANUAL.value, f"Review their recent activity in {vendor.label}", {"email": email}, manual=True,
        key=f"{vendor.name}_emergency_audit_log",
        instructions=f"{texts.audit.format(email=email, member_uuid=_member_uuid(assessment.member))} Look for data "
                     "exports, changed settings or access, new invitations and new integrations; note what you find "
                     "in the incident ticket.",
    )
    return [rotate, review]


def _member_uuid(member: Member | None) -> str:
    return str(member.member_id) if member else "<their user id>"


def is_removal_critical(kind: str, key: str, manual: bool) -> bool:
    """The steps that take the person out and prove it: what an emergency's clock waits for."""
    if manual:
        return key.endswith(("_find_member", "_remove_member", "_verify_removal", "_check_by_hand",
                             "_cancel_invite", "_change_role", "_own_account"))
    return kind not in (StepKind.HANDOVER_ASSETS, VERIFY_CHANGE)


# -- partial modes ---------------------------------------------------------------------------------------------
def _wanted_projects(member: Member, wanted: list[str]) -> tuple[dict[str, str], list[str]]:
    """The member's projects matching what was asked (by id or name, any case), and the names that match none."""
    chosen: dict[str, str] = {}
    missing: list[str] = []
    for word in wanted:
        match = next((p for p in member.projects
                      if word.casefold() in (p.project_id.casefold(), p.project_name.casefold())), None)
        if match is None:
            missing.append(word)
        else:
            chosen[match.project_id] = match.project_name
    return chosen, missing


def projects_plan(vendor: Vendor, assessment: Assessment, email: str, wanted: list[str]) -> list[PlannedStep]:
    if assessment.status == AssessmentStatus.NOT_MEMBER or not wanted:
        return []
    member = assessment.member
    if member is None or Capability.READ_PROJECTS not in vendor.capabilities:
        # Nobody could see their projects: a person removes each named project by hand (ids unknown).
        return [vendor.manual_step(Capability.REMOVE_FROM_PROJECT, email, {"project_name": name, "project_id": ""})
                for name in wanted]
    chosen, _ = _wanted_projects(member, wanted)
    if not chosen:
        return []
    # A connector whose vendor grants project access other ways than the person's own entry (PostHog: roles)
    # plans it itself, with the manual steps those need; the generic plan would end "removed" too early.
    own_plan = getattr(vendor, "plan_project_removal", None)
    if callable(own_plan) and Capability.REMOVE_FROM_PROJECT in vendor.capabilities:
        steps = own_plan(assessment, chosen)
    else:
        steps = plan_change(vendor, email, ProjectRemoval(chosen))
    return steps + _verify_step(vendor, email, {"without_projects": sorted(chosen)}, Capability.READ_PROJECTS)


def read_only_plan(vendor: Vendor, assessment: Assessment, email: str) -> list[PlannedStep]:
    if assessment.status == AssessmentStatus.NOT_MEMBER:
        return []
    target = nearest_role(vendor.name, Role.READ_ONLY)
    member = assessment.member
    if member is not None and Capability.READ_ROLE in vendor.capabilities and ROLE_RANK[member.role] <= ROLE_RANK[
            target]:
        return []  # already there
    steps = plan_change(vendor, email, RoleChange(Role.READ_ONLY))
    return steps + _verify_step(vendor, email, {"role_at_most": target.value}, Capability.READ_ROLE)


def nearest_role(vendor_name: str, wanted: Role) -> Role:
    """`wanted`, or the lowest role the vendor has above it (PostHog has no read-only: member)."""
    role_map = registry.facts_of(vendor_name).roles
    if role_map is None or wanted in role_map.writing:
        return wanted
    above = [r for r in role_map.writing if ROLE_RANK[r] >= ROLE_RANK[wanted]]
    return min(above, key=lambda r: ROLE_RANK[r]) if above else wanted


def _verify_step(vendor: Vendor, email: str, expect: dict[str, Any], reads: Capability) -> list[PlannedStep]:
    if Capability.FIND_MEMBER not in vendor.capabilities or reads not in vendor.capabilities:
        return []  # nothing can look: the person who did it by hand confirmed it, and the card says so
    return [PlannedStep(VERIFY_CHANGE, "Check the change took effect", {"email": email, "expect": expect})]


def verify_change(vendor: Vendor, params: Mapping[str, Any]) -> StepOutcome:
    """A fresh lookup proving a partial change took effect; raises VendorError (so the card offers
    Retry) when it did not, naming what is still there."""
    email = str(params.get("email") or "")
    expect = params.get("expect") or {}
    assessment = vendor.assess(email)
    if assessment.status == AssessmentStatus.UNKNOWN:
        raise VendorError(f"{vendor.label} could not be asked whether the change took effect "
                          f"({assessment.error}); press Retry.", vendor=vendor.name)
    if assessment.member is None:
        return StepOutcome(f"Checked: {email} is no longer a member of {vendor.label} at all",
                           {"after": {"member": False}})
    member = assessment.member
    after = access_of(member)
    problems = []
    role_at_most = expect.get("role_at_most")
    if role_at_most and ROLE_RANK[member.role] > ROLE_RANK[Role(role_at_most)]:
        problems.append(f"is still {member.role.value} ({member.vendor_role}), not {role_at_most}")
    kept = [p for p in member.projects if p.project_id in set(expect.get("without_projects") or ())
            and p.level != "none"]
    if kept:
        problems.append("can still open " + ", ".join(f"{p.project_name} ({p.level})" for p in kept))
    if problems:
        raise VendorError(f"{email} {' and '.join(problems)} in {vendor.label}. Make the change by hand there, "
                          "then press Retry.", vendor=vendor.name)
    projects = ", ".join(f"{p.project_name} ({p.level})" for p in member.projects) or "no project"
    return StepOutcome(f"Checked: {email} is now {member.role.value} in {vendor.label}, with {projects}",
                       {"after": after})


def access_of(member: Member) -> dict[str, Any]:
    return {"member": True, "role": member.role.value, "vendor_role": member.vendor_role,
            "projects": {p.project_id: {"name": p.project_name, "level": p.level} for p in member.projects}}


# -- restore -------------------------------------------------------------------------------------------------------
def snapshot_entry(assessment: Assessment) -> dict[str, Any]:
    """What a removal took away at one vendor, as a restore needs it (stored on the restore request)."""
    member = assessment.member
    if member is None:
        return {"status": str(assessment.status), "error": assessment.error or ""}
    return {"status": str(assessment.status), "role": member.role.value, "vendor_role": member.vendor_role,
            "projects": [{"project_id": p.project_id, "project_name": p.project_name, "level": p.level}
                         for p in member.projects]}


def restore_plan(vendor: Vendor, current: Assessment, email: str, entry: Mapping[str, Any] | None,
                 config: ChangeConfig) -> list[PlannedStep]:
    if entry is None or current.status == AssessmentStatus.MEMBER:
        return []  # nothing was taken here, or they are back already
    steps: list[PlannedStep]
    recorded = entry.get("status") == AssessmentStatus.MEMBER and bool(entry.get("role"))
    if recorded and Capability.READ_ROLE in vendor.capabilities:
        projects = tuple(str(p["project_id"]) for p in entry.get("projects") or ())
        steps = plan_change(vendor, email, Invitation(Role(entry["role"]), projects,
                                                      message="Your access is restored, as it was before."))
    elif recorded:
        # Its API showed no role or projects (Amplitude, Mixpanel): the recorded role is a placeholder. The API
        # invites as it can, and a person gives back what they had.
        fixed = getattr(vendor, "invite_role", None) or Role(entry["role"])
        steps = plan_change(vendor, email, Invitation(fixed, (), message="Your access is restored, as it was before."))
        steps.append(vendor.manual_step(Capability.CHANGE_ROLE, email, {
            "role": "", "restore": True, "reason": "its API showed neither their role nor their projects before the "
                                                   "removal; give back what the removal record and their team say"}))
    else:  # nobody could see what they had: a person invites them as the removal record says
        steps = [vendor.manual_step(Capability.INVITE, email, {
            "role": "", "projects": [], "reason": "offboard could not see their role and projects before the "
                                                  "removal; give back what the removal record shows"})]
    if vendor.name in config.idp_groups:
        group = config.idp_groups[vendor.name]
        steps.append(PlannedStep(
            StepKind.MANUAL.value, f"Add them back to {group} in {config.idp_name}", {"email": email}, manual=True,
            key=f"{vendor.name}_idp_group",
            instructions=f"In {config.idp_name}, add {email} back to {group}, so single sign-on lets them in.",
        ))
    return steps


ALWAYS_LOST = (
    "whatever was done by hand after the removal (keys rotated, flags and experiments reassigned) stays done",
)


def cannot_come_back(vendors: Iterable[str]) -> list[str]:
    """What a restore cannot give back: each vendor's own (its registry entry's `cannot_come_back`, from the
    runbooks and vendor-apis.md), then what holds everywhere, with the tools whose invitations lapse."""
    lines = [line for name in vendors for line in registry.facts_of(name).cannot_come_back]
    lapsing = [f"{f.label}'s invitations expire after {_days(f.invite_lifetime)}"
               for f in registry.entries() if f.invite_lifetime is not None]
    accept = "they must accept the invitation before they can sign in"
    return [*lines, *ALWAYS_LOST, f"{accept} ({'; '.join(lapsing)})" if lapsing else accept]


def _days(lifetime: timedelta) -> str:
    days = lifetime / timedelta(days=1)
    return f"{days:g} day" + ("" if days == 1 else "s")
