"""The parts of a request's card beyond full removal: the title by mode, the emergency banner (clock, acknowledgment),
what a partial change does (before → after per project), restore information, and the card's extra
buttons (Acknowledge, Restore). bot/offboarding/slack/blocks.py calls these; this module must not import it (cycle)."""

from __future__ import annotations

from datetime import datetime

from slack_sdk.models.blocks import (
    Block,
    ButtonElement,
    ConfirmObject,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    RadioButtonsElement,
    SectionBlock,
)

from bot.offboarding.modes import (
    MODE_LABELS,
    PARTIAL_MODES,
    REMOVAL_MODES,
    VERIFY_CHANGE,
    cannot_come_back,
    nearest_role,
)
from bot.offboarding.values import RequestSnapshot
from bot.slack import mrkdwn
from bot.slack.mrkdwn import escape
from storage.models import RequestMode, RequestStatus, Step, StepStatus
from vendors.base import Role, StepKind

ACKNOWLEDGE = "acknowledge_emergency"
RESTORE = "restore_access"
MAX_TEXT = 2900

TITLES = {
    RequestMode.FULL: "Offboarding request",
    RequestMode.EMERGENCY: ":rotating_light: Emergency removal",
    RequestMode.PROJECTS: "Project removal",
    RequestMode.READ_ONLY: "Downgrade to read-only",
    RequestMode.RESTORE: "Restore access",
}


def _md(text: str) -> MarkdownTextObject:
    """mrkdwn already escaped (bot.slack.mrkdwn), inside Slack's length limit."""
    return MarkdownTextObject(text=mrkdwn.clip(text, MAX_TEXT))


_date = mrkdwn.date


def card_title(snapshot: RequestSnapshot) -> str:
    """Plain text, for the card's header."""
    request = snapshot.request
    return f"{TITLES[snapshot.change.mode]} #{snapshot.id}: {request.subject_name or request.subject_email}"


def card_text(snapshot: RequestSnapshot, status_words: str) -> str:
    """The notification text of the card (what a phone shows), in mrkdwn."""
    return f"{TITLES[snapshot.change.mode].replace(':rotating_light: ', '')} #{snapshot.id} for " \
           f"{escape(snapshot.request.subject_email)}: {status_words}"


# -- blocks under the card's fields ----------------------------------------------------------------------------
def summary_blocks(snapshot: RequestSnapshot, now: datetime) -> list[Block]:
    mode = snapshot.change.mode
    blocks: list[Block] = []
    if mode == RequestMode.EMERGENCY:
        blocks.append(SectionBlock(text=_md("\n".join(emergency_lines(snapshot, now)))))
    elif mode in PARTIAL_MODES:
        blocks.append(SectionBlock(text=_md(f"*What changes:* {change_words(snapshot)}")))
    elif mode == RequestMode.RESTORE:
        blocks.append(SectionBlock(text=_md("\n".join(restore_lines(snapshot)))))
    if snapshot.change.batch is not None:
        blocks.append(ContextBlock(elements=[_md(
            f"Part of batch #{snapshot.change.batch.id}: approved or rejected as a whole on the batch card.")]))
    window = window_line(snapshot, now)
    if window:
        blocks.append(ContextBlock(elements=[_md(window)]))
    return blocks


def emergency_lines(snapshot: RequestSnapshot, now: datetime) -> list[str]:
    emergency = snapshot.change.emergency
    request = snapshot.request
    responder = emergency.responder_id if emergency else request.requester_id
    lines = [f":rotating_light: *Security incident: removed at once, without approval, by {mrkdwn.user(responder)}.* "
             "Assets are handed over after the removal; the follow-up checklist is under Details."]
    if emergency is None:
        return lines
    if emergency.removed_at is not None and emergency.seconds_to_removal is not None:
        lines.append(f":stopwatch: Removed and verified in every tool {_duration(emergency.seconds_to_removal)} "
                     f"after the command ({_date(emergency.started_at)}).")
    else:
        lines.append(f":hourglass_flowing_sand: Removing since {_date(emergency.started_at)}; the clock stops when "
                     "every tool's removal is verified.")
    late = _late_handovers(snapshot)
    if late:
        lines.append(f":information_source: {', '.join(late)}: the hand-over is done by hand after the removal, as "
                     "the emergency runbooks say; check what of theirs survived the removal before handing it over.")
    if emergency.acknowledged_by and emergency.acknowledged_at:
        lines.append(f":white_check_mark: Acknowledged by {mrkdwn.user(emergency.acknowledged_by)} "
                     f"{_date(emergency.acknowledged_at)}.")
    else:
        reminded = f" (reminders sent: {emergency.reminders_sent})" if emergency.reminders_sent else ""
        lines.append(f":warning: *Not acknowledged yet*{reminded}: a second person (a responder or an approver) "
                     "must acknowledge this emergency action.")
    return lines


def _late_handovers(snapshot: RequestSnapshot) -> list[str]:
    """Tools whose manual hand-over is still open although the person is already removed there."""
    removed = {s.vendor for s in snapshot.removals}
    return [escape(snapshot.vendor_labels.get(s.vendor, s.vendor)) for s in snapshot.steps
            if s.manual and s.vendor in removed and s.status != StepStatus.DONE
            and s.key.endswith(("_handover_assets", "_transfer_assets"))]


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    minutes = seconds / 60
    return f"{minutes:.0f} min" if minutes < 120 else f"{minutes / 60:.1f} h"


def change_words(snapshot: RequestSnapshot) -> str:
    mode = snapshot.change.mode
    if mode == RequestMode.PROJECTS:
        projects = ", ".join(escape(p) for p in snapshot.request.mode_params.get("projects") or []) or "(none named)"
        return f"remove from {projects} only; they stay in the organization and keep their other projects."
    return ("downgrade to read-only (where a tool has no read-only role, the nearest it has); they keep their "
            "projects.")


def restore_lines(snapshot: RequestSnapshot) -> list[str]:
    restores = snapshot.request.mode_params.get("restores")
    lines = [f":leftwards_arrow_with_hook: *Restores the access removed by request #{restores}*: an invitation "
             "with the role and projects they had, where they had them."]
    lost = cannot_come_back(snapshot.vendor_names)
    lines.append("*What cannot come back:*")
    lines += [f"• {escape(line)}" for line in lost]
    return lines


def window_line(snapshot: RequestSnapshot, now: datetime) -> str:
    window = snapshot.change.restore_window
    if window is None:
        return ""
    if window.restore_request_id is not None:
        when = _date(window.restored_at) if window.restored_at else ""
        return (f":leftwards_arrow_with_hook: Restore requested by {mrkdwn.user(window.restored_by)} {when}: request "
                f"#{window.restore_request_id}.")
    if now >= window.closes_at:
        return f"The dispute window closed {_date(window.closes_at)}; this removal can no longer be restored here."
    return f"An approver may restore this access until {_date(window.closes_at)} (the dispute window)."


# -- per vendor: before → after ---------------------------------------------------------------------------------
def before_after_lines(snapshot: RequestSnapshot, vendor: str) -> list[str]:
    """For a partial change, in mrkdwn: the role and each project before, and after (planned, done, or
    checked). Roles and project names are the vendor's words, escaped here."""
    mode = snapshot.change.mode
    steps = [s for s in snapshot.steps_for(vendor)]
    assessment = snapshot.assessments.get(vendor)
    member = assessment.member if assessment else None
    if mode not in PARTIAL_MODES:
        return []
    if not steps:
        if member is not None and mode == RequestMode.PROJECTS:
            return [f"_None of their projects here is {_projects_named(snapshot)}: nothing to change._"]
        if member is not None:
            return [f"_Already {escape(member.role.value)}: nothing to change._"]
        return []
    verify = next((s for s in steps if s.kind == VERIFY_CHANGE), None)
    after = verify.details.get("after") if verify is not None and verify.status == StepStatus.DONE else None
    state = _state(steps, verify, after)
    lines = [f"*Before → after* _({state})_"]
    if after is not None and not after.get("member"):
        return [*lines, "• no longer a member at all"]
    if mode == RequestMode.READ_ONLY:
        target = _target_role(vendor, steps)
        before = member.role.value if member else "unknown"
        lines.append(f"• Role: {escape(before)} → {escape(after['role'] if after else target)}")
    removed = _removed_projects(steps)
    known = {p.project_id: (p.project_name, p.level) for p in member.projects} if member else {}
    for project_id, name in {**{k: v[0] for k, v in known.items()}, **removed}.items():
        before_level = known.get(project_id, (name, "?"))[1]
        if after is not None:
            after_level = (after.get("projects") or {}).get(project_id, {}).get("level", "none")
        else:
            after_level = "none" if project_id in removed else before_level
        lines.append(f"• {escape(name)}: {escape(before_level)} → {escape(after_level)}")
    return lines


def _projects_named(snapshot: RequestSnapshot) -> str:
    return " or ".join(escape(p) for p in snapshot.request.mode_params.get("projects") or []) or "named"


def _state(steps: list[Step], verify: Step | None, after: dict | None) -> str:
    if after is not None:
        return "checked through the API"
    changes = [s for s in steps if s is not verify]
    if changes and all(s.status == StepStatus.DONE for s in changes):
        by_hand = [s for s in changes if s.manual and s.done_by]
        who = f", confirmed by {mrkdwn.user(by_hand[0].done_by)}" if by_hand else ""
        return f"done{who}" + (", not yet checked" if verify is not None else "")
    return "planned"


def _target_role(vendor: str, steps: list[Step]) -> str:
    for step in steps:
        if step.kind == VERIFY_CHANGE:
            return str((step.params.get("expect") or {}).get("role_at_most") or "")
    return nearest_role(vendor, Role.READ_ONLY).value


def _removed_projects(steps: list[Step]) -> dict[str, str]:
    removed: dict[str, str] = {}
    for step in steps:
        if step.kind == StepKind.REMOVE_FROM_PROJECT or "_remove_from_project" in step.key:
            project_id = str(step.params.get("project_id") or step.params.get("project_name") or "")
            removed[project_id] = str(step.params.get("project_name") or project_id)
    return removed


# -- buttons ------------------------------------------------------------------------------------------------------
def action_buttons(snapshot: RequestSnapshot, now: datetime) -> list[ButtonElement]:
    buttons: list[ButtonElement] = []
    emergency = snapshot.change.emergency
    if emergency is not None and not emergency.acknowledged_by:
        buttons.append(ButtonElement(text="Acknowledge", action_id=ACKNOWLEDGE, value=str(snapshot.id),
                                     style="primary"))
    window = snapshot.change.restore_window
    if (window is not None and window.restore_request_id is None and now < window.closes_at
            and snapshot.status == RequestStatus.COMPLETED and snapshot.change.mode in REMOVAL_MODES):
        confirm = ConfirmObject(
            title="Restore access?",
            text=f"Invite {escape(snapshot.request.subject_email)} again with the role and projects they had? Some "
                 "things cannot come back; the new card lists them.",
            confirm="Restore", deny="Back",
        )
        buttons.append(ButtonElement(text="Restore", action_id=RESTORE, value=str(snapshot.id), confirm=confirm))
    return buttons


def approve_confirm_text(snapshot: RequestSnapshot, removing: int) -> str:
    """A confirm dialog's text, which Slack reads as mrkdwn."""
    email = escape(snapshot.request.subject_email)
    match snapshot.change.mode:
        case RequestMode.PROJECTS:
            return f"Remove {email} from the chosen projects in {removing} tool(s)? They stay in the organization."
        case RequestMode.READ_ONLY:
            return f"Downgrade {email} to read-only in {removing} tool(s)?"
    return f"Remove {email} from {removing} tool(s)? This cannot be undone."


# -- words in notifications ------------------------------------------------------------------------------------
def decided_words(snapshot: RequestSnapshot) -> str | None:
    """Who decided, where it is not an approver's click on this card; None where it is."""
    if snapshot.change.mode == RequestMode.EMERGENCY:
        emergency = snapshot.change.emergency
        responder = emergency.responder_id if emergency else snapshot.request.requester_id
        return f"nobody: emergency removal by {mrkdwn.user(responder)} (security incident)"
    return None


def requester_outcome_text(snapshot: RequestSnapshot) -> str | None:
    """The requester's DM for a partial change or a restore; None for a removal (bot/offboarding/slack/blocks.py
    says it)."""
    mode = snapshot.change.mode
    request = snapshot.request
    if snapshot.status != RequestStatus.COMPLETED or mode not in (*PARTIAL_MODES, RequestMode.RESTORE):
        return None
    label = MODE_LABELS[mode].lower()
    lines = [f":white_check_mark: Request #{snapshot.id} ({label}) for {escape(request.subject_email)} is complete."]
    for vendor in snapshot.vendor_names:
        name = escape(snapshot.vendor_labels.get(vendor, vendor))
        steps = [s for s in snapshot.steps_for(vendor)]
        if mode in PARTIAL_MODES:
            change = before_after_lines(snapshot, vendor)
            lines.append(f"*{name}:* " + ("; ".join(change[1:]) if len(change) > 1 else "nothing to change"))
        else:
            done = [escape(s.outcome or s.title) for s in steps if s.status == StepStatus.DONE and not s.manual]
            by_hand = [escape(s.title) for s in steps if s.manual and s.status == StepStatus.DONE]
            lines.append(f"*{name}:* " + ("; ".join([*done, *(f'{t} (by hand)' for t in by_hand)]) or "nothing to do"))
    if mode == RequestMode.RESTORE:
        lines.append("What cannot come back: " + "; ".join(escape(line) for line in cannot_come_back(
            snapshot.vendor_names)) + ".")
    return "\n".join(lines)


# -- the request form's choice of what to do --------------------------------------------------------------------
FORM_MODES = (RequestMode.FULL, RequestMode.PROJECTS, RequestMode.READ_ONLY)


def mode_inputs() -> list[Block]:
    options = [Option(value=m.value, label=MODE_LABELS[m]) for m in FORM_MODES]
    return [
        InputBlock(
            block_id="mode", label="What to do",
            element=RadioButtonsElement(action_id="mode", options=options, initial_option=options[0]),
            hint="A security incident with full removal is an emergency: removed at once, without approval "
                 "(responders only).",
        ),
        InputBlock(
            block_id="projects", label="Projects to remove them from (for “remove from chosen projects only”)",
            optional=True,
            element=PlainTextInputElement(action_id="projects", placeholder="Finance, Staging"),
            hint="Project names (or ids), separated by commas; each tool removes them from the projects it has "
                 "with these names.",
        ),
    ]
