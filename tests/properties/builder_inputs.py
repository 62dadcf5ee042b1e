"""What the message-builder property tests feed the builders: hostile text for every field a person or a
vendor fills, plain workflow state made from it, and the check that only the bot's own markup is left."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from bot.audit.evidence import (
    AssetMove,
    Decision,
    Evidence,
    ManualTick,
    Notice,
    TimelineEntry,
    VendorAfter,
    VendorBefore,
)
from bot.offboarding.values import RequestSnapshot
from bot.onboarding.slack.views import BatchView, PendingItem, PersonView, SendView
from storage.changes import ChangeFacts
from storage.models import (
    AccessReview,
    Approval,
    Batch,
    Emergency,
    Invitation,
    InviteBatch,
    InviteBatchStatus,
    InviteSend,
    InviteState,
    InviteStep,
    OffboardRequest,
    RequestMode,
    RequestStatus,
    RestoreWindow,
    Step,
    StepStatus,
    SweepFinding,
    SweepRun,
)
from vendors.base import Assessment, AssessmentStatus, Asset, Member, ProjectAccess, Role

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
# The ids and URLs the bot itself puts in messages in these tests: the only markup allowed to be left.
KNOWN_USERS = frozenset({"UREQ", "UBOB", "UAPP1", "UAPP2", "UALICE", "UINV"})
KNOWN_CHANNELS = frozenset({"CAPPROVALS", "CCARD"})
KNOWN_GROUPS = frozenset({"SRESPONDERS"})
ASSET_URL = "https://eu.posthog.com/project/1/dashboard/7"

# Markup a person or vendor could type to ping, phish or break the layout, and pieces of it.
HOSTILE_PIECES = (
    "<!channel>", "<!here>", "<!everyone>", "<@U0EVIL>", "<@W0EVIL|boss>", "<!subteam^S0EVIL>", "<#C0EVIL>",
    "<https://evil.example|Re-authenticate PostHog>", "Q4> <https://evil.example|Re-authenticate PostHog>",
    "<mailto:x@evil.example|IT>", "<!date^1^{date}|today>", "&lt;!channel&gt;", "&amp;", "&", "<", ">", "|",
    "*", "_", "~", "`", "```", "\n", ":rotating_light:", "<", "<@", "<!", "HR-9",
)
hostile = st.lists(st.one_of(st.sampled_from(HOSTILE_PIECES), st.text(max_size=8)), min_size=1, max_size=5).map(
    "".join)


@dataclass(frozen=True)
class Typed:
    """One hostile text per field that people or vendors fill."""

    ticket: str
    note: str
    reason_words: str
    comment: str
    real_name: str
    bulk_note: str
    asset_name: str
    project_name: str
    member_name: str
    team_name: str
    vendor_error: str
    vendor_role: str
    file_name: str
    invite_message: str
    step_text: str  # titles, instructions and outcomes, which name assets, projects and people


typed = st.builds(Typed, *(hostile for _ in range(15)))


# -- offboarding requests --------------------------------------------------------------------------------------
def assessments(t: Typed) -> dict[str, Assessment]:
    member = Member(email="alice@corp.com", member_id="u-1", name=t.member_name, role=Role.ADMIN,
                    vendor_role=t.vendor_role, projects=(ProjectAccess("1", t.project_name, t.vendor_role),),
                    last_login=NOW - timedelta(days=3))
    assets = (Asset("dashboard", "7", t.asset_name, "1", t.project_name, ASSET_URL),
              Asset(t.asset_name, "8", t.asset_name, "1", t.project_name))
    return {
        "posthog": Assessment("posthog", AssessmentStatus.MEMBER, member, assets, (t.vendor_error, t.team_name)),
        "amplitude": Assessment("amplitude", AssessmentStatus.UNKNOWN, error=t.vendor_error, email="alice@corp.com"),
        "mixpanel": Assessment("mixpanel", AssessmentStatus.NOT_MEMBER, email="alice@corp.com"),
    }


def steps(t: Typed, status: StepStatus) -> list[Step]:
    moved = [{"kind": "dashboard", "asset_id": "7", "name": t.asset_name, "project_name": t.project_name,
              "url": ASSET_URL},
             {"kind": t.asset_name, "asset_id": "8", "name": t.asset_name, "project_name": t.project_name,
              "url": "https://evil.example|" + t.asset_name}]
    common = dict(request_id=7, title=t.step_text, instructions=t.step_text, last_error=t.vendor_error,
                  outcome=t.step_text, attempts=2, finished_at=NOW)
    return [
        Step(id=1, vendor="posthog", seq=0, kind="handover_assets", status=StepStatus.DONE,
             details={"assets": moved}, **common),
        Step(id=2, vendor="posthog", seq=1, kind="remove_member", status=status, **common),
        Step(id=3, vendor="posthog", seq=2, kind="remove_from_project", status=status,
             params={"project_id": "1", "project_name": t.project_name}, **common),
        Step(id=4, vendor="posthog", seq=3, kind="verify_change", status=StepStatus.DONE,
             details={"after": {"member": True, "role": t.vendor_role,
                                "projects": {"1": {"level": t.vendor_role}}}}, **common),
        Step(id=5, vendor="amplitude", seq=4, kind="manual", manual=True, key="amplitude_remove_member",
             status=status, done_by="UAPP2" if status == StepStatus.DONE else None, **common),
        Step(id=6, vendor="amplitude", seq=5, kind="manual", manual=True, key="amplitude_transfer_assets",
             status=StepStatus.PENDING, **common),
        Step(id=7, vendor="slack", seq=6, kind="notify_stakeholders", status=status, **common),
    ]


def request_snapshot(t: Typed, status: RequestStatus, mode: RequestMode, step_status: StepStatus,
                     decided_by: str = "UAPP1", batch: Batch | None = None) -> RequestSnapshot:
    comment = {RequestStatus.CANCELLED: "Cancelled by <@UAPP1>", RequestStatus.EXPIRED: t.reason_words}.get(
        status, t.comment)
    request = OffboardRequest(
        id=7, status=status, subject_email="alice@corp.com", subject_slack_id="UALICE", subject_name=t.real_name,
        reason=t.reason_words, ticket=t.ticket, note=t.note, requester_id="UREQ", new_owner_slack_id="UBOB",
        new_owner_email="bob@corp.com", vendors=["posthog", "amplitude", "mixpanel"], card_channel="CCARD",
        card_ts="1.1", decided_by=decided_by, decided_at=NOW, decision_comment=comment, created_at=NOW,
        updated_at=NOW, completed_at=NOW, effective_at=NOW + timedelta(days=1), mode=mode,
        mode_params={"projects": [t.project_name], "restores": 3}, batch_id=batch.id if batch else None)
    emergency = Emergency(request_id=7, responder_id="UAPP2", started_at=NOW, removed_at=NOW, seconds_to_removal=42.0,
                          acknowledged_by="UAPP1" if step_status == StepStatus.DONE else None, acknowledged_at=NOW,
                          reminders_sent=2)
    window = RestoreWindow(request_id=7, closes_at=NOW + timedelta(days=3), restored_by="UAPP1", restored_at=NOW,
                           restore_request_id=9 if step_status == StepStatus.FAILED else None)
    change = ChangeFacts(mode=mode, emergency=emergency if mode == RequestMode.EMERGENCY else None, batch=batch,
                         restore_window=window, restores=3 if mode == RequestMode.RESTORE else None)
    approvals = [Approval(request_id=7, approver_id="UAPP1", decision="approved", comment=t.comment, decided_at=NOW)]
    labels = {"posthog": "PostHog", "amplitude": "Amplitude", "mixpanel": "Mixpanel"}
    return RequestSnapshot(request, assessments(t), steps(t, step_status), approvals, labels,
                           frozenset({"amplitude"}), change)


def request_snapshots(t: Typed) -> Iterator[RequestSnapshot]:
    """Every status in every mode, with steps done, failed and waiting, by a person and by offboard."""
    for status in RequestStatus:
        for mode in RequestMode:
            for step_status in (StepStatus.DONE, StepStatus.FAILED, StepStatus.PENDING):
                yield request_snapshot(t, status, mode, step_status)
    yield request_snapshot(t, RequestStatus.COMPLETED, RequestMode.FULL, StepStatus.DONE, decided_by="offboard")


# -- batches ---------------------------------------------------------------------------------------------------
def batch_row(t: Typed, status: str) -> Batch:
    return Batch(id=3, status=status, requester_id="UREQ", reason=t.reason_words, ticket=t.ticket, note=t.bulk_note,
                 source=t.file_name, size=2, approvals_needed=2, card_channel="CCARD", card_ts="1.1",
                 decided_by="UAPP1", decided_at=NOW, decision_comment=t.comment, created_at=NOW, updated_at=NOW,
                 completed_at=NOW)


# -- the sweep, the access review, audit evidence ----------------------------------------------------------------
def sweep_run(t: Typed) -> SweepRun:
    vendors = {
        "posthog": {"label": "PostHog", "days": 90, "members": 3, "left_out": {"bot": 1, t.team_name: 2},
                    "export": {"by": "UAPP1", "at": NOW.isoformat(), "rows": 4, "filename": t.file_name}},
        "amplitude": {"label": "Amplitude", "days": 90, "unjudged": t.vendor_error, "hint": t.vendor_error},
    }
    return SweepRun(id=5, trigger="UAPP1", started_at=NOW, vendors=vendors, card_channel="CCARD", card_ts="1.1")


def findings(t: Typed) -> list[SweepFinding]:
    seat = {"role": "member", "vendor_role": t.vendor_role, "last_login": None, "joined_at": t.vendor_role,
            "source": "export"}
    return [SweepFinding(id=i, sweep_id=5, email=f"p{i}@corp.com", name=t.real_name, vendors={"posthog": seat},
                         status=status, acted_by="UAPP1", acted_at=NOW, grace_until=NOW + timedelta(days=7),
                         request_id=8)
            for i, status in enumerate(("found", "notified", "kept", "still_needed", "offboarding"), start=1)]


def access_review(t: Typed, attested: bool) -> AccessReview:
    listed = {"vendor": "posthog", "label": "PostHog", "listed": True, "members": 3, "owners": [t.member_name],
              "admins": [t.member_name], "days": 90, "inactive": None, "pending": None, "invites_note": t.team_name}
    unlisted = {"vendor": "amplitude", "label": "Amplitude", "listed": False, "problem": t.vendor_error}
    return AccessReview(id=4, trigger="UAPP1", period="2026 Q4", started_at=NOW,
                        summary={"posthog": listed, "amplitude": unlisted},
                        attested_by="UAPP1" if attested else None, attested_at=NOW if attested else None)


def evidence(t: Typed) -> Evidence:
    return Evidence(
        request_id=7, subject="alice@corp.com", subject_name=t.real_name, reason=t.reason_words, ticket=t.ticket,
        note=t.note, requested_by="UREQ", requested_at=NOW, status="completed", vendors=("posthog",),
        new_owner=t.member_name, effective_at="", decisions=(Decision("rejected", "UAPP1", NOW, t.comment),
                                                             Decision("approved", t.member_name, NOW)),
        before=(VendorBefore("posthog", "member", NOW, "admin", t.vendor_role, (t.project_name,), "today",
                             ((t.asset_name, 2),)),
                VendorBefore("amplitude", "unknown", NOW, problem=t.vendor_error)),
        after=(VendorAfter("posthog", "failed", NOW, detail=t.vendor_error),
               VendorAfter("amplitude", "confirmed_by_hand", NOW, by=("UAPP2", t.member_name))),
        assets_moved=(AssetMove("posthog", "dashboard", t.asset_name, t.project_name, "alice@corp.com",
                                "bob@corp.com", "moved"),),
        manual_ticks=(ManualTick("amplitude", t.step_text, "UAPP2", NOW),),
        notifications=(Notice("dm_requester", "sent to <@UREQ>", NOW, True),
                       Notice("notify_stakeholders", t.vendor_error, NOW, False)),
        timeline=(TimelineEntry(1, NOW, "UREQ", "rejected", t.comment), TimelineEntry(2, NOW, t.member_name, "x", "y")),
        completed_at=NOW, purged=False)


# -- invitations -----------------------------------------------------------------------------------------------
def invite_views(t: Typed) -> Iterator[BatchView]:
    for status in InviteBatchStatus:
        batch = InviteBatch(id=11, status=status, inviter_id="UINV", source="csv", source_name=t.file_name,
                            message=t.invite_message, approval_why=t.reason_words, personal_override_by="UAPP1",
                            card_channel="CCARD", card_ts="1.1", decided_by="UAPP1", decided_at=NOW,
                            decision_comment="Withdrawn by <@UINV>" if status == InviteBatchStatus.CANCELLED
                            else t.comment, created_at=NOW, updated_at=NOW)
        invitation = Invitation(id=12, batch_id=11, email="jane@corp.com", role=Role.ADMIN, vendors=["posthog"],
                                projects={"posthog": [t.project_name]}, access_ends_on=date(2027, 1, 1),
                                personal_domain=True, created_at=NOW)
        sends = []
        for number, state in enumerate(InviteState, start=1):
            send = InviteSend(id=number, invitation_id=12, batch_id=11, vendor="posthog", status=state,
                              summary=t.team_name, error=t.vendor_error, failure_kind=t.reason_words,
                              role_seen=t.vendor_role, sent_at=NOW, accepted_at=NOW, cancelled_by="UAPP1",
                              updated_at=NOW)
            manual = InviteStep(id=number, send_id=number, seq=0, kind="manual", title=t.step_text, manual=True,
                                instructions=t.step_text)
            sends.append(SendView(send, t.team_name, [manual], expires_at=NOW, acceptance_seen=False))
        yield BatchView(batch, [PersonView(invitation, sends), PersonView(invitation, sends[:1])])


def pending_items(t: Typed) -> list[PendingItem]:
    return [PendingItem(send_id=1, batch_id=11, email="jane@corp.com", vendor="posthog", label=t.team_name,
                        role=t.vendor_role, inviter_id="UINV", sent_at=NOW - timedelta(days=8),
                        status=InviteState.ALREADY_INVITED, expires_at=NOW, acceptance_seen=False, resends=2)]


# -- the check -------------------------------------------------------------------------------------------------
_TOKEN = re.compile(r"<([^<>]*)>")
_DATE = re.compile(r"!date\^\d+\^[^|]*\|\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC")


def mrkdwn_texts(rendered: Any) -> Iterable[str]:
    """Every string Slack parses as mrkdwn in a message, view or block list: mrkdwn text objects (section text,
    fields, context elements, confirm dialogs) and a message's `text`."""
    if isinstance(rendered, dict):
        if rendered.get("type") == "mrkdwn":
            yield str(rendered.get("text", ""))
        for key, value in rendered.items():
            if key == "text" and isinstance(value, str) and rendered.get("type") in (None, "message"):
                yield value  # a message's notification text
            elif not isinstance(value, str):
                yield from mrkdwn_texts(value)
    elif isinstance(rendered, list | tuple):
        for item in rendered:
            yield from mrkdwn_texts(item)


def foreign_markup(text: str) -> list[str]:
    """The `<…>` tokens in mrkdwn that the bot did not build."""
    foreign = []
    for token in _TOKEN.findall(text):
        target, _, label = token.partition("|")
        ours = ((target.startswith("@") and target[1:] in KNOWN_USERS and not label)
                or (target.startswith("#") and target[1:] in KNOWN_CHANNELS and not label)
                or (target.startswith("!subteam^") and target[9:] in KNOWN_GROUPS and not label)
                or bool(_DATE.fullmatch(token))
                or (target == ASSET_URL and "<" not in label))
        if not ours:
            foreign.append(f"<{token}>")
    return foreign
