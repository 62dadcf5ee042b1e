"""Granting access: invitations with roles and projects, approvals for elevated roles, pending
invitations (resend, cancel, acceptance), and access end dates. No Slack here.

Every `/onboard` (a command, the form, a CSV) is one batch of people; each person gets one send per tool.
A send is planned with `vendors.planning.plan_change(vendor, email, Invitation(...))`: the connector's INVITE
step where it declares the capability, the tool's click path as a manual step otherwise. Steps are stored
before and after they run and claimed by conditional UPDATEs (`... WHERE status = <expected>`), as the
offboarding workflow does, so two clicks, two threads or two bot processes never send an invitation twice,
and a restart resumes where it stopped. Every change of state is an audit event in the same transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from bot.engine import decisions
from bot.engine import steps as step_runner
from bot.engine.decisions import Act, Case, Kind, Roles
from bot.offboarding.values import ActionResult
from bot.offboarding.workflow import Workflow
from bot.onboarding.parsing import InviteRow
from bot.onboarding.slack.views import (
    BatchView,
    FailureKind,
    InviteNotifier,
    PendingItem,
    PersonView,
    SendDetail,
    SendView,
    failure_kind,
)
from bot.slack import mrkdwn
from storage import audit, owed_cards
from storage.db import Database
from storage.leases import Leases
from storage.models import (
    Invitation,
    InviteBatch,
    InviteBatchStatus,
    InviteSend,
    InviteState,
    InviteStep,
    StepStatus,
    utcnow,
)
from storage.owed_cards import OwedCards
from vendors import planning, registry
from vendors.base import (
    Capability,
    PlannedStep,
    Role,
    StepKind,
    Vendor,
)

log = logging.getLogger(__name__)

DEFAULT_PERSONAL_DOMAINS = (
    "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "ymail.com", "outlook.com", "hotmail.com",
    "live.com", "msn.com", "icloud.com", "me.com", "mac.com", "aol.com", "proton.me", "protonmail.com",
    "gmx.com", "gmx.de", "gmx.net", "web.de", "mail.com", "yandex.com", "yandex.ru", "zoho.com", "fastmail.com",
    "hey.com", "qq.com", "163.com",
)
ELEVATED_ROLES = frozenset({Role.ADMIN, Role.OWNER})


# What differs between tools here is each one's entry in the vendor registry (vendors.facts.VendorFacts): how long
# its invitations stay valid (`invite_lifetime`; none assumed where undocumented), whether its member list can
# show that someone accepted (`acceptance_visible`; if not, invitations stay "invited" until cancelled and the
# pending list says acceptance cannot be seen), and whether its API creates the account outright
# (`creates_account`: no invitation to accept or resend).
def invite_lifetime(vendor: str) -> timedelta | None:
    return registry.facts_of(vendor).invite_lifetime


def acceptance_visible(vendor: str) -> bool:
    return registry.facts_of(vendor).acceptance_visible


def creates_account(vendor: str) -> bool:
    return registry.facts_of(vendor).creates_account


def invitations_lapse() -> dict[str, timedelta]:
    """Each registered tool whose invitations lapse, with how long they stay valid."""
    return {f.name: f.invite_lifetime for f in registry.entries() if f.invite_lifetime is not None}


PENDING_STATES = (InviteState.INVITED, InviteState.ALREADY_INVITED)
BUSY_STATES = (InviteState.SENDING, InviteState.RESENDING, InviteState.CANCELLING, InviteState.MANUAL)
OPEN_STATES = (InviteState.WAITING, InviteState.QUEUED, *BUSY_STATES, *PENDING_STATES)
UNSETTLED_STATES = (InviteState.WAITING, InviteState.QUEUED, InviteState.SENDING)
GRANTED_STATES = (*PENDING_STATES, InviteState.ALREADY_MEMBER, InviteState.CREATED, InviteState.ACCEPTED)
# What the access end date takes back: what was granted, and invitations a person was asked to send by hand
# (they may have sent it without ticking it; the offboarding request checks).
ENDING_STATES = (*GRANTED_STATES, InviteState.MANUAL)
_BUSY_FOR_ACTION = {"invite": InviteState.SENDING, "resend": InviteState.RESENDING, "cancel": InviteState.CANCELLING}
_OUTCOME_STATES = {"invited": InviteState.INVITED, "already_member": InviteState.ALREADY_MEMBER,
                   "already_invited": InviteState.ALREADY_INVITED, "reactivated": InviteState.CREATED}


@dataclass(frozen=True)
class OnboardConfig:
    card_channel: str
    admins: frozenset[str] = frozenset()  # who may invite without approval; empty: whoever may approve
    personal_domains: frozenset[str] = frozenset(DEFAULT_PERSONAL_DOMAINS)
    remind_after: timedelta = timedelta(days=7)
    expiry_warning: timedelta = timedelta(days=1)
    access_end_hour: int = 9  # UTC hour of the day-before reminder and of the day's offboarding request
    acceptance_every: timedelta = timedelta(hours=1)
    max_people: int = 500


@dataclass(frozen=True)
class InviteDraft:
    inviter_id: str
    rows: tuple[InviteRow, ...]
    message: str = ""
    allow_personal: bool = False
    source: str = "command"  # command | form | csv | cli
    source_name: str = ""
    source_channel: str | None = None


@dataclass(frozen=True)
class SubmitResult:
    batch_id: int | None  # None: refused, `problems` say why
    problems: tuple[str, ...] = ()
    waiting: int = 0  # invitations that wait for an approver
    sending: int = 0  # invitations going out now


ApproverCheck = Callable[[str], bool]


class Onboarding:
    def __init__(
        self,
        db: Database,
        vendors: Mapping[str, Vendor],
        workflow: Workflow,
        notifier: InviteNotifier,
        may_approve: ApproverCheck,
        config: OnboardConfig,
        *,
        clock: Callable[[], datetime] = utcnow,
        background: Executor | None = None,
        vendor_workers: int = 8,
    ) -> None:
        self.db = db
        self.vendors = dict(vendors)
        self.workflow = workflow
        self.notifier = notifier
        self.may_approve = may_approve
        self.config = config
        self.clock = clock
        self._background = background or ThreadPoolExecutor(max_workers=4, thread_name_prefix="onboarding")
        self._vendor_pool = ThreadPoolExecutor(max_workers=vendor_workers, thread_name_prefix="onboarding-vendor")
        # Several instances: one instance at a time sends, resends or cancels an invitation (see Workflow._work); the
        # same instance name and lease length as its requests.
        self.leases = Leases(db, model=InviteSend, instance=workflow.leases.instance, clock=clock,
                             seconds=workflow.leases.duration.total_seconds())
        # The batch card is owed until Slack accepts it, as a request's card is (storage/owed_cards.py).
        self.cards = OwedCards(db, "invite_batch", instance=self.leases.instance, clock=clock,
                               claim_seconds=self.leases.duration.total_seconds())

    # -- who may do what ------------------------------------------------------------------------------------------
    def is_admin(self, user_id: str) -> bool:
        """Onboarding admins (OFFBOARD_ONBOARD_ADMINS) send member and read-only invitations without approval
        and may allow personal email domains; when none are configured, whoever may approve."""
        if self.config.admins:
            return user_id in self.config.admins
        return self.may_approve(user_id)

    @property
    def vendor_names(self) -> tuple[str, ...]:
        return tuple(self.vendors)

    def label(self, vendor: str) -> str:
        connector = self.vendors.get(vendor)
        return connector.label if connector else vendor

    def has_projects(self, vendor: str) -> bool:
        connector = self.vendors.get(vendor)
        return connector is not None and bool(
            {Capability.READ_PROJECTS, Capability.REMOVE_FROM_PROJECT} & connector.capabilities)

    # -- asking -----------------------------------------------------------------------------------------------
    def problems(self, draft: InviteDraft) -> list[str]:
        """Why the draft cannot go out as it is, each in words the inviter can act on; empty when it can."""
        if not draft.rows:
            return ["Name at least one person to invite."]
        if len(draft.rows) > self.config.max_people:
            return [f"{len(draft.rows)} people is more than one batch takes ({self.config.max_people}): split it."]
        found: list[str] = []
        # Only an onboarding admin's "allow personal addresses" counts.
        allow_personal = draft.allow_personal and self.is_admin(draft.inviter_id)
        seen: set[str] = set()
        today = self.clock().date()
        open_sends = self._open_sends({row.email for row in draft.rows})
        for row in draft.rows:
            if row.email in seen:
                found.append(f"{row.email} is named twice.")
            seen.add(row.email)
            found += self._row_problems(row, allow_personal, today, open_sends)
        if draft.allow_personal and not allow_personal and any(self.is_personal(r.email) for r in draft.rows):
            found.append("Only onboarding admins may allow personal email addresses.")
        return found

    def _row_problems(self, row: InviteRow, allow_personal: bool, today: date,
                      open_sends: dict[tuple[str, str], int]) -> list[str]:
        found: list[str] = []
        vendors = self.vendors_of(row)
        unknown = [v for v in vendors if v not in self.vendors]
        if unknown:
            found.append(f"{row.email}: {', '.join(unknown)} is not configured ({', '.join(self.vendors)} are).")
        for vendor in row.projects:
            if vendor not in vendors:
                found.append(f"{row.email}: projects are named for {vendor}, which they are not invited to.")
            elif not self.has_projects(vendor):
                found.append(f"{row.email}: offboard cannot give projects in {self.label(vendor)} (its API has "
                             "none); leave its projects out and give access there by hand.")
        if row.end_date is not None and row.end_date <= today:
            found.append(f"{row.email}: the access end date {row.end_date.isoformat()} must be after today.")
        domain = row.email.rpartition("@")[2]
        if self.is_personal(row.email) and not allow_personal:
            found.append(f"{row.email} is a personal address ({domain}). Invite people with their work address, "
                         "so their access can be taken back when they leave; an onboarding admin can allow it "
                         "(`allow-personal`, or the form's checkbox).")
        for vendor in vendors:
            batch_id = open_sends.get((row.email, vendor))
            if batch_id is not None:
                found.append(f"{row.email} already has an open invitation to {self.label(vendor)} (#{batch_id}): "
                             "see `/onboard pending` to resend or cancel it.")
        return found

    def is_personal(self, email: str) -> bool:
        domain = email.rpartition("@")[2].lower()
        return any(domain == d or domain.endswith("." + d) for d in self.config.personal_domains)

    def vendors_of(self, row: InviteRow) -> tuple[str, ...]:
        return row.vendors or tuple(self.vendors)

    def needs_approval(self, inviter_id: str, role: Role) -> bool:
        return role in ELEVATED_ROLES or not self.is_admin(inviter_id)

    def _open_sends(self, emails: set[str]) -> dict[tuple[str, str], int]:
        if not emails:
            return {}
        with self.db.session() as session:
            rows = session.exec(
                select(Invitation.email, InviteSend.vendor, InviteSend.batch_id)
                .join(InviteSend, col(InviteSend.invitation_id) == col(Invitation.id))
                .where(col(Invitation.email).in_(emails), col(InviteSend.status).in_(OPEN_STATES))
            ).all()
        return {(email, vendor): batch_id for email, vendor, batch_id in rows}

    def submit(self, draft: InviteDraft) -> SubmitResult:
        """Check the draft, store it, send what needs no approval at once and show the card. Refusals are
        recorded too (who asked, what was refused and why)."""
        problems = self.problems(draft)
        now = self.clock()
        if problems:
            with self.db.session() as session:
                audit.record(session, "invitation_refused", actor=draft.inviter_id, at=now,
                             emails=[r.email for r in draft.rows][:50], problems=problems[:50], via=draft.source)
            return SubmitResult(None, tuple(problems))
        with self.db.session() as session:
            batch_id, waiting, sending = self._insert_batch(session, draft, now)
        self.show(batch_id)
        if sending:
            self._submit(self._send_queued, batch_id)
        return SubmitResult(batch_id, (), waiting, sending)

    def _insert_batch(self, session: Session, draft: InviteDraft, now: datetime) -> tuple[int, int, int]:
        elevated = any(r.role in ELEVATED_ROLES for r in draft.rows)
        why = _approval_why(elevated, not self.is_admin(draft.inviter_id), draft.inviter_id)
        personal = [r.email for r in draft.rows if self.is_personal(r.email)]
        waiting = sum(1 for r in draft.rows if self.needs_approval(draft.inviter_id, r.role))
        batch = InviteBatch(
            status=InviteBatchStatus.PENDING_APPROVAL if waiting else InviteBatchStatus.SENDING,
            inviter_id=draft.inviter_id, source=draft.source, source_name=draft.source_name[:200],
            source_channel=draft.source_channel, message=draft.message[:2000], approval_why=why if waiting else "",
            personal_override_by=draft.inviter_id if personal else None, created_at=now, updated_at=now,
        )
        session.add(batch)
        session.flush()
        assert batch.id is not None
        for row in draft.rows:
            self._insert_invitation(session, batch.id, draft, row, now)
        if personal:
            audit.record(session, "personal_domain_allowed", actor=draft.inviter_id, at=now, batch=batch.id,
                         emails=personal)
        if waiting:
            audit.record(session, "invitation_approval_requested", actor=draft.inviter_id, at=now, batch=batch.id,
                         count=waiting, why=why)
        return batch.id, waiting, len(draft.rows) - waiting

    def _insert_invitation(self, session: Session, batch_id: int, draft: InviteDraft, row: InviteRow,
                           now: datetime) -> None:
        needs = self.needs_approval(draft.inviter_id, row.role)
        vendors = list(self.vendors_of(row))
        end_due = _at_hour(row.end_date, self.config.access_end_hour) if row.end_date else None
        invitation = Invitation(
            batch_id=batch_id, email=row.email.lower(), role=row.role.value, vendors=vendors,
            projects={v: list(ids) for v, ids in row.projects.items()}, needs_approval=needs,
            personal_domain=self.is_personal(row.email), access_ends_on=row.end_date,
            end_due_at=end_due, end_reminder_due_at=end_due - timedelta(days=1) if end_due else None, created_at=now,
        )
        session.add(invitation)
        session.flush()
        assert invitation.id is not None
        state = InviteState.WAITING if needs else InviteState.QUEUED
        for vendor in vendors:
            session.add(InviteSend(invitation_id=invitation.id, batch_id=batch_id, vendor=vendor, status=state,
                                   updated_at=now))
        audit.record(session, "invitation_requested", actor=draft.inviter_id, at=now, batch=batch_id,
                     invitation=invitation.id, email=invitation.email, role=row.role.value, vendors=vendors,
                     projects=invitation.projects, access_ends_on=row.end_date, needs_approval=needs,
                     message=draft.message, via=draft.source)

    # -- decisions --------------------------------------------------------------------------------------------
    def decision_refusal(self, batch_id: int, user_id: str, act: Act = Act.APPROVE) -> ActionResult | None:
        """Why `user_id` may not approve or reject these invitations (recorded), or None (see bot.engine.decisions)."""
        with self.db.session() as session:
            batch = session.get(InviteBatch, batch_id)
            if batch is None:
                return ActionResult(False, f"Invitation #{batch_id} does not exist.")
            inviter = batch.inviter_id
        return self._decide(user_id, act, Case(Kind.INVITATION, batch_id, inviter))

    def _decide(self, user_id: str, act: Act, case: Case) -> ActionResult | None:
        roles = Roles(self.may_approve, may_onboard=self.is_admin)
        refused = decisions.decide(self.db, user_id, act, case, roles, at=self.clock())
        return None if refused is None else ActionResult(False, refused.message)

    def approve(self, batch_id: int, user_id: str) -> ActionResult:
        refusal = self.decision_refusal(batch_id, user_id)
        if refusal:
            return refusal
        now = self.clock()
        with self.db.session() as session:
            if not self._move_batch(session, batch_id, InviteBatchStatus.PENDING_APPROVAL, InviteBatchStatus.SENDING,
                                    now, decided_by=user_id, decided_at=now):
                return self._already_decided(session, batch_id)
            released = self._move_sends(session, batch_id, InviteState.WAITING, InviteState.QUEUED, now)
            audit.record(session, "invitation_approved", actor=user_id, at=now, batch=batch_id, count=released)
        self.show(batch_id)
        self._submit(self._send_queued, batch_id)
        return ActionResult(True)

    def reject(self, batch_id: int, user_id: str, comment: str) -> ActionResult:
        refusal = self.decision_refusal(batch_id, user_id, Act.REJECT)
        if refusal:
            return refusal
        now = self.clock()
        with self.db.session() as session:
            if not self._move_batch(session, batch_id, InviteBatchStatus.PENDING_APPROVAL, InviteBatchStatus.REJECTED,
                                    now, decided_by=user_id, decided_at=now, decision_comment=comment):
                return self._already_decided(session, batch_id)
            count = self._move_sends(session, batch_id, InviteState.WAITING, InviteState.REJECTED, now)
            audit.record(session, "invitation_rejected", actor=user_id, at=now, batch=batch_id, count=count,
                         comment=comment)
        self.show(batch_id)
        self._submit(self._tell_inviter_when_settled, batch_id)
        return ActionResult(True)

    def withdraw(self, batch_id: int, user_id: str) -> ActionResult:
        """The inviter calls off what still waits for approval (what already went out stays)."""
        now = self.clock()
        with self.db.session() as session:
            batch = session.get(InviteBatch, batch_id)
            if batch is None:
                return ActionResult(False, f"Invitation #{batch_id} does not exist.")
            inviter = batch.inviter_id
        refused = self._decide(user_id, Act.WITHDRAW, Case(Kind.INVITATION, batch_id, inviter))
        if refused:
            return refused
        with self.db.session() as session:
            if not self._move_batch(session, batch_id, InviteBatchStatus.PENDING_APPROVAL, InviteBatchStatus.CANCELLED,
                                    now, decision_comment=f"Withdrawn by <@{user_id}>"):
                return ActionResult(False, f"Invitation #{batch_id} is decided already; use `/onboard pending` to "
                                           "cancel what went out.")
            count = self._move_sends(session, batch_id, InviteState.WAITING, InviteState.WITHDRAWN, now)
            audit.record(session, "invitation_withdrawn", actor=user_id, at=now, batch=batch_id, count=count)
        self.show(batch_id)
        self._submit(self._tell_inviter_when_settled, batch_id)  # what went out before is still news
        return ActionResult(True)

    def _already_decided(self, session: Session, batch_id: int) -> ActionResult:
        batch = session.get(InviteBatch, batch_id)
        assert batch is not None
        session.refresh(batch)
        if batch.decided_by:
            verb = "rejected" if batch.status == InviteBatchStatus.REJECTED else "approved"
            return ActionResult(False, f"Invitation #{batch_id} was already {verb} by <@{batch.decided_by}>.")
        return ActionResult(False, f"Invitation #{batch_id} is no longer waiting for a decision.")

    # -- sending ----------------------------------------------------------------------------------------------
    def _send_queued(self, batch_id: int) -> None:
        with self.db.session() as session:
            queued = list(session.exec(select(InviteSend.id).where(
                InviteSend.batch_id == batch_id, InviteSend.status == InviteState.QUEUED)))
        list(self._vendor_pool.map(self._start_send, [s for s in queued if s is not None]))
        self._tell_inviter_when_settled(batch_id)

    def _start_send(self, send_id: int) -> None:
        with self.db.session() as session:
            claimed = _move_send(session, send_id, [InviteState.QUEUED], InviteState.SENDING, self.clock())
        if claimed:
            self._run_send(send_id)

    def _run_send(self, send_id: int) -> None:
        """Run the current round's steps under the send's lease. Whoever gets it, by whichever path (a click,
        a restart, the periodic check), first puts back a step a worker before it left running: holding the
        lease means nobody else is on the send, so that step was cut off; the connectors' INVITE and
        CANCEL_INVITE look the person up again before acting, so it runs again."""
        self.leases.work(send_id, lambda: self._send_pass(send_id),
                         first=lambda: self._requeue_interrupted(send_id))

    def _requeue_interrupted(self, send_id: int) -> None:
        now = self.clock()
        with self.db.session() as session:
            step_runner.requeue_interrupted(
                session, InviteStep, col(InviteStep.send_id), send_id,
                recorded=lambda step: audit.record(session, "invite_step_interrupted", at=now, step=step.kind,
                                                   send=send_id))

    def _send_pass(self, send_id: int) -> None:
        """Run the current round's steps in order; stop at a failure, at a step another worker holds, or at a
        manual step nobody has ticked yet. Then work out where the send stands."""
        steps = self._round_steps(send_id)
        send = self._send(send_id)
        vendor = self.vendors.get(send.vendor)
        if vendor is None:
            self._settle(send_id, missing_vendor=True)
            return
        for step in step_runner.runnable(steps):
            if not self._run_step(step, vendor):
                break
        self._settle(send_id)

    def _round_steps(self, send_id: int) -> list[InviteStep]:
        """The current round's steps, planned on first need (two planners race safely: one insert wins)."""
        with self.db.session() as session:
            send = session.get(InviteSend, send_id)
            assert send is not None
            steps = self._load_round(session, send)
            if steps or send.vendor not in self.vendors:
                return steps
            invitation = session.get(Invitation, send.invitation_id)
            batch = session.get(InviteBatch, send.batch_id)
            assert invitation is not None and batch is not None
            plan = self._plan(send, invitation, batch.message)
        try:
            with self.db.session() as session:
                for seq, planned in enumerate(plan):
                    session.add(_step_row(send_id, send.round, seq, send.action, planned))
                audit.record(session, "invitation_planned", at=self.clock(), batch=send.batch_id, vendor=send.vendor,
                             purpose=send.action, steps=[{"kind": p.kind, "title": p.title, "manual": p.manual}
                                                        for p in plan])
        except IntegrityError:
            pass  # another worker planned this round first
        with self.db.session() as session:
            return self._load_round(session, send)

    @staticmethod
    def _load_round(session: Session, send: InviteSend) -> list[InviteStep]:
        return list(session.exec(select(InviteStep).where(
            InviteStep.send_id == send.id, InviteStep.round == send.round).order_by(col(InviteStep.seq))))

    def _plan(self, send: InviteSend, invitation: Invitation, message: str) -> list[PlannedStep]:
        vendor = self.vendors[send.vendor]
        change = planning.Invitation(Role(invitation.role), tuple(invitation.projects.get(send.vendor, ())), message)
        if send.action == "invite":
            return planning.plan_change(vendor, invitation.email, change)
        if send.action == "resend":
            return self._resend_plan(vendor, invitation.email, change)
        cancel = planning.plan_change(vendor, invitation.email, planning.InviteCancellation())
        if send.details.get("invited_by_offboard") is True:
            # Amplitude cancels only invitations offboard sent; the INVITE outcome said this one was.
            cancel = [_with_params(s, invited_by_offboard=True) if not s.manual else s for s in cancel]
        return cancel

    def _resend_plan(self, vendor: Vendor, email: str, change: planning.Invitation) -> list[PlannedStep]:
        """Cancel and invite again where the API does both and shows who joined (a cancel never removes a member
        there); otherwise a person resends it from the tool's UI."""
        invite = [s for s in planning.plan_change(vendor, email, change) if not s.params.get("after_invite")]
        automated = all(not s.manual for s in invite) and Capability.CANCEL_INVITE in vendor.capabilities
        if automated and acceptance_visible(vendor.name) and not creates_account(vendor.name):
            return planning.plan_change(vendor, email, planning.InviteCancellation()) + invite
        by_hand = vendor.manual_step(Capability.INVITE, email, {"role": change.role.value,
                                                                "projects": list(change.projects),
                                                                "message": change.message})
        return [PlannedStep(by_hand.kind, f"Resend: {by_hand.title}", by_hand.params, True,
                            f"Send the invitation again. {by_hand.instructions}", f"{by_hand.key}_resend")]

    def _run_step(self, step: InviteStep, vendor: Vendor) -> bool:
        with self.db.session() as session:
            if not step_runner.move(session, InviteStep, step.id, StepStatus.PENDING, StepStatus.RUNNING,
                                    self.clock(), last_error=""):
                return False
        result = step_runner.carry_out(step, vendor, what=f"send {step.send_id}'s invitation step")
        if result.done:
            self._finish_step(step, StepStatus.DONE, outcome=result.outcome, details=result.details)
            return True
        # An invitation waits for no allowance: a wait too long is a refusal to try again later, like a 429.
        refusal = result.waited or result.refusal
        kind = FailureKind.OTHER if result.crashed or refusal is None else failure_kind(refusal)
        self._finish_step(step, StepStatus.FAILED, error=result.error, details={"failure_kind": kind})
        return False

    def _finish_step(self, step: InviteStep, status: StepStatus, *, error: str = "", outcome: str = "",
                     details: dict[str, Any] | None = None) -> None:
        now = self.clock()
        with self.db.session() as session:
            session.execute(update(InviteStep).where(col(InviteStep.id) == step.id).values(
                status=status, finished_at=now, last_error=error, outcome=outcome, details=details or {}))
            send = session.get(InviteSend, step.send_id)
            assert send is not None
            action = "invite_step_succeeded" if status == StepStatus.DONE else "invite_step_failed"
            audit.record(session, action, at=now, batch=send.batch_id, vendor=send.vendor, step=step.kind,
                         summary=outcome or error, details=details or {})

    # -- settling a send --------------------------------------------------------------------------------------
    def _settle(self, send_id: int, *, missing_vendor: bool = False) -> None:
        now = self.clock()
        with self.db.session() as session:
            send = session.get(InviteSend, send_id)
            assert send is not None
            steps = self._load_round(session, send)
            if missing_vendor:
                found: _Settled | None = _Settled(InviteState.FAILED, error=f"{send.vendor} is no longer configured "
                                                  "in offboard", kind=FailureKind.UNSUPPORTED)
            else:
                found = _settled(send.action, steps, send.vendor)
            if found is not None and found.state != send.status and _move_send(
                    session, send_id, list(BUSY_STATES), found.state, now, **self._settle_values(send, found, now)):
                self._record_settled(session, send, found, now)
            batch_id = send.batch_id
        self.show(batch_id)

    def _settle_values(self, send: InviteSend, found: _Settled, now: datetime) -> dict[str, Any]:
        values: dict[str, Any] = {"error": found.error, "failure_kind": found.kind}
        if found.state == InviteState.FAILED:
            return values
        if found.summary:
            values["summary"] = found.summary
        if found.details:
            values["details"] = {**send.details, **found.details}
        if found.role_seen:
            values["role_seen"] = found.role_seen
        if found.state in PENDING_STATES:  # a fresh invitation: its own reminder and expiry
            values |= {"sent_at": now, "reminded_at": None, "expiry_flagged_at": None}
        if send.action == "resend" and found.state in PENDING_STATES:
            values |= {"resends": send.resends + 1}
        if found.state == InviteState.ACCEPTED:
            values["accepted_at"] = now
        if found.state == InviteState.CANCELLED:
            values["cancelled_at"] = now
        return values

    def _record_settled(self, session: Session, send: InviteSend, found: _Settled, now: datetime) -> None:
        invitation = session.get(Invitation, send.invitation_id)
        assert invitation is not None
        action = {InviteState.FAILED: "invitation_failed", InviteState.CANCELLED: "invitation_cancelled",
                  InviteState.ACCEPTED: "invitation_accepted", InviteState.MANUAL: "invitation_awaiting_manual"}.get(
            found.state, "invitation_resent" if send.action == "resend" else "invitation_sent")
        audit.record(session, action, at=now, batch=send.batch_id, invitation=invitation.id, email=invitation.email,
                     vendor=send.vendor, status=found.state, summary=found.summary or found.error,
                     failure_kind=found.kind or None)

    # -- people acting on a send ------------------------------------------------------------------------------
    def retry(self, send_id: int, user_id: str) -> ActionResult:
        send, inviter = self._send_and_inviter(send_id)
        if send is None:
            return ActionResult(False, "That invitation does not exist.")
        refused = self._decide(user_id, Act.WORK, Case(Kind.INVITATION, send.batch_id, inviter))
        if refused:
            return refused
        now = self.clock()
        with self.db.session() as session:
            if not _move_send(session, send_id, [InviteState.FAILED], _BUSY_FOR_ACTION[send.action], now):
                return ActionResult(False, f"The {self.label(send.vendor)} invitation is not failed any more.")
            session.execute(update(InviteStep).where(
                col(InviteStep.send_id) == send_id, col(InviteStep.round) == send.round,
                col(InviteStep.status) == StepStatus.FAILED).values(status=StepStatus.PENDING))
            audit.record(session, "invitation_retry_requested", actor=user_id, at=now, batch=send.batch_id,
                         vendor=send.vendor, purpose=send.action)
        self.show(send.batch_id)
        self._submit(self._run_send, send_id)
        return ActionResult(True)

    def confirm_manual(self, step_id: int, user_id: str) -> ActionResult:
        now = self.clock()
        with self.db.session() as session:
            step = session.get(InviteStep, step_id)
            if step is None or not step.manual:
                return ActionResult(False, "That checklist item does not exist.")
        send, inviter = self._send_and_inviter(step.send_id)
        assert send is not None
        refused = self._decide(user_id, Act.WORK, Case(Kind.INVITATION, send.batch_id, inviter))
        if refused:
            return refused
        if step.round != send.round:
            return ActionResult(False, f"“{step.title}” belongs to an earlier attempt; nothing to tick.")
        with self.db.session() as session:
            ticked = session.execute(update(InviteStep).where(
                col(InviteStep.id) == step_id, col(InviteStep.status) == StepStatus.PENDING).values(
                status=StepStatus.DONE, done_by=user_id, finished_at=now, outcome="confirmed"))
            if ticked.rowcount != 1:  # type: ignore[attr-defined]
                session.refresh(step)
                title = mrkdwn.escape(step.title)
                return ActionResult(False, f"{mrkdwn.user(step.done_by)} already confirmed “{title}”.")
            audit.record(session, "invite_manual_step_confirmed", actor=user_id, at=now, batch=send.batch_id,
                         vendor=send.vendor, step=step.title, key=step.key, purpose=step.purpose)
            self.leases.ask(session, step.send_id)  # recorded with the tick: a crash before the pass loses nothing
        self._submit(self._run_send, send.id or 0)
        return ActionResult(True)

    def resend(self, send_id: int, user_id: str) -> ActionResult:
        return self._start_round(send_id, user_id, "resend", list(PENDING_STATES))

    def cancel_invite(self, send_id: int, user_id: str) -> ActionResult:
        return self._start_round(send_id, user_id, "cancel",
                                 [*PENDING_STATES, InviteState.MANUAL, InviteState.FAILED])

    def _start_round(self, send_id: int, user_id: str, action: str, allowed: list[InviteState]) -> ActionResult:
        send, inviter = self._send_and_inviter(send_id)
        if send is None:
            return ActionResult(False, "That invitation does not exist.")
        refused = self._decide(user_id, Act.WORK, Case(Kind.INVITATION, send.batch_id, inviter))
        if refused:
            return refused
        label = self.label(send.vendor)
        if action == "resend" and creates_account(send.vendor):
            return ActionResult(False, f"{label} created the account outright: there is no invitation to resend.")
        now = self.clock()
        with self.db.session() as session:
            if not _move_send(session, send_id, allowed, _BUSY_FOR_ACTION[action], now, action=action,
                              round=send.round + 1, error="", failure_kind="",
                              **({"cancelled_by": user_id} if action == "cancel" else {})):
                return ActionResult(False, f"The {label} invitation is {_state_words(self._send(send_id).status)}: "
                                           f"nothing to {action}.")
            audit.record(session, f"invitation_{action}_requested", actor=user_id, at=now, batch=send.batch_id,
                         vendor=send.vendor, email=self._email_of(session, send))
        self._round_steps(send_id)  # planned now, so the answer can show any step a person must do
        self.show(send.batch_id)
        self._submit(self._run_send, send_id)
        return ActionResult(True)

    # -- reading ----------------------------------------------------------------------------------------------
    def snapshot(self, batch_id: int) -> BatchView | None:
        with self.db.session() as session:
            batch = session.get(InviteBatch, batch_id)
            if batch is None:
                return None
            invitations = list(session.exec(select(Invitation).where(Invitation.batch_id == batch_id)
                                            .order_by(col(Invitation.id))))
            sends = list(session.exec(select(InviteSend).where(InviteSend.batch_id == batch_id)))
            steps = list(session.exec(select(InviteStep).where(
                col(InviteStep.send_id).in_([s.id for s in sends])).order_by(col(InviteStep.seq))))
        people = [PersonView(i, [self._send_view(s, steps) for s in sends if s.invitation_id == i.id])
                  for i in invitations]
        return BatchView(batch, people)

    def send_view(self, send_id: int) -> SendDetail:
        with self.db.session() as session:
            send = session.get(InviteSend, send_id)
            assert send is not None
            batch = session.get(InviteBatch, send.batch_id)
            assert batch is not None
            email = self._email_of(session, send)
            steps = self._load_round(session, send)
        return SendDetail(self._send_view(send, steps), email, batch.card_channel)

    def _send_view(self, send: InviteSend, steps: Iterable[InviteStep]) -> SendView:
        mine = [s for s in steps if s.send_id == send.id and s.round == send.round]
        return SendView(send, self.label(send.vendor), mine, self.expires_at(send),
                        acceptance_visible(send.vendor))

    def expires_at(self, send: InviteSend) -> datetime | None:
        lifetime = invite_lifetime(send.vendor)
        if lifetime is None or send.sent_at is None or send.status not in PENDING_STATES:
            return None
        return send.sent_at + lifetime

    def pending(self, user_id: str | None = None, *, send_ids: Iterable[int] | None = None) -> list[PendingItem]:
        """Pending invitations, oldest first: everyone's for admins and approvers (or `user_id` None), else the
        ones `user_id` sent."""
        statement = (select(InviteSend, Invitation, InviteBatch)
                     .join(Invitation, col(Invitation.id) == col(InviteSend.invitation_id))
                     .join(InviteBatch, col(InviteBatch.id) == col(InviteSend.batch_id))
                     .where(col(InviteSend.status).in_(PENDING_STATES)).order_by(col(InviteSend.sent_at)))
        if user_id is not None and not (self.is_admin(user_id) or self.may_approve(user_id)):
            statement = statement.where(InviteBatch.inviter_id == user_id)
        if send_ids is not None:
            statement = statement.where(col(InviteSend.id).in_(list(send_ids)))
        with self.db.session() as session:
            rows = session.exec(statement).all()
        return [self._pending_item(send, invitation, batch) for send, invitation, batch in rows]

    def _pending_item(self, send: InviteSend, invitation: Invitation, batch: InviteBatch) -> PendingItem:
        assert send.id is not None
        return PendingItem(send.id, send.batch_id, invitation.email, send.vendor, self.label(send.vendor),
                           invitation.role, batch.inviter_id, send.sent_at or send.updated_at, send.status,
                           self.expires_at(send), acceptance_visible(send.vendor), send.resends)

    def _send(self, send_id: int) -> InviteSend:
        with self.db.session() as session:
            send = session.get(InviteSend, send_id)
            assert send is not None
            return send

    def _send_and_inviter(self, send_id: int) -> tuple[InviteSend | None, str]:
        with self.db.session() as session:
            send = session.get(InviteSend, send_id)
            batch = session.get(InviteBatch, send.batch_id) if send else None
            return send, (batch.inviter_id if batch else "")

    @staticmethod
    def _email_of(session: Session, send: InviteSend) -> str:
        invitation = session.get(Invitation, send.invitation_id)
        return invitation.email if invitation else ""

    # -- cards and the inviter --------------------------------------------------------------------------------
    def show(self, batch_id: int) -> None:
        """Bring the card up to date with the state as it is now: record it as owed, then deliver it. Renders of
        one batch never overlap (the owed row is claimed): a change while one is under way makes that renderer
        go round once more, so a burst of sends costs a few updates. Slack failing never stops the invitations:
        the card stays owed, and deliver_owed_cards tries again."""
        self.cards.show(batch_id, lambda: self._render(batch_id))

    def _deliver_card(self, batch_id: int) -> None:
        self.cards.try_delivering(batch_id, lambda: self._render(batch_id))

    def _render(self, batch_id: int) -> tuple[str, str] | None:
        view = self.snapshot(batch_id)
        if view is None:
            return None
        location = self.notifier.show_batch(view, self.clock())  # Slack's failure goes up: the card stays owed
        if not location:
            return None
        owed_cards.store_post(self.db, InviteBatch, batch_id, location)
        with self.db.session() as session:
            audit.record(session, "invitation_card_posted", at=self.clock(), batch=batch_id, **location.audited())
        return location.channel, location.ts

    def _tell_inviter_when_settled(self, batch_id: int) -> None:
        """Once nothing of the batch waits for a decision or is being sent, the inviter hears the outcome, once."""
        with self.db.session() as session:
            unsettled = session.exec(select(InviteSend.id).where(
                InviteSend.batch_id == batch_id, col(InviteSend.status).in_(UNSETTLED_STATES))).first()
            if unsettled is not None:
                return
            claimed = session.execute(update(InviteBatch).where(
                col(InviteBatch.id) == batch_id, col(InviteBatch.inviter_told).is_(False)).values(inviter_told=True))
            if claimed.rowcount != 1:  # type: ignore[attr-defined]
                return
        view = self.snapshot(batch_id)
        assert view is not None
        try:
            self.notifier.batch_finished(view, self.clock())
        except Exception as exc:
            log.warning("could not tell the inviter of batch %s: %s", batch_id, exc)
            with self.db.session() as session:
                session.execute(update(InviteBatch).where(col(InviteBatch.id) == batch_id).values(inviter_told=False))
            return
        with self.db.session() as session:
            audit.record(session, "invitation_inviter_told", at=self.clock(), batch=batch_id)

    # -- restarts and shutdown --------------------------------------------------------------------------------
    def resume(self) -> list[int]:
        """At start: take over the sends no live instance is working on that were under way (a step cut off
        mid-call included), and send what was queued. Those another instance holds are left to it; if it dies,
        reclaim() takes them once its lease runs out."""
        with self.db.session() as session:
            busy = set(session.exec(select(InviteSend.id).where(
                col(InviteSend.status).in_([InviteState.SENDING, InviteState.RESENDING, InviteState.CANCELLING]))))
            cut_off = set(session.exec(select(InviteStep.send_id).where(InviteStep.status == StepStatus.RUNNING)))
            queued_batches = set(session.exec(select(InviteSend.batch_id).where(
                InviteSend.status == InviteState.QUEUED)))
        for send_id in sorted(s for s in busy | cut_off if s is not None):
            self._submit(self._take_over, send_id)
        for batch_id in queued_batches:
            self._submit(self._send_queued, batch_id)
        return sorted(queued_batches)

    def reclaim(self) -> list[int]:
        """Periodically: take over the sends whose worker stopped renewing its lease (its instance died), and
        those left with work and nobody on it: a pass asked for that nobody took (a tick acked by an instance
        that died first), a step still 'running' after its pass let go (storing its outcome failed, e.g. a
        full disk), or sending, resending or cancelling untouched for a lease."""
        abandoned = self.leases.take_over_abandoned(lambda send_id: self._submit(self._take_over, send_id))
        quiet_since = self.clock() - self.leases.duration
        with self.db.session() as session:
            cut_off = select(InviteStep.send_id).where(InviteStep.status == StepStatus.RUNNING)
            unattended = [int(i) for i in session.exec(select(InviteSend.id).where(
                col(InviteSend.runner).is_(None),
                col(InviteSend.rerun).is_(True) | col(InviteSend.id).in_(cut_off)
                | (col(InviteSend.status).in_([InviteState.SENDING, InviteState.RESENDING, InviteState.CANCELLING])
                   & (col(InviteSend.updated_at) < quiet_since))))
                if i not in abandoned]
        for send_id in unattended:
            log.warning("taking over invitation send %s: it has work left and nobody working on it", send_id)
            self._submit(self._take_over, send_id)
        return sorted(abandoned + unattended)

    def _take_over(self, send_id: int) -> None:
        self._run_send(send_id)

    def deliver_owed_cards(self) -> list[int]:
        """Periodically: the batch cards Slack has not accepted yet, once their back-off is over."""
        due = self.cards.due()
        for batch_id in due:
            self._submit(self._deliver_card, batch_id)
        return due

    def _submit(self, fn: Callable[[int], Any], item: int) -> None:
        def run() -> None:
            try:
                fn(item)
            except Exception:
                log.exception("background %s for %s failed", getattr(fn, "__name__", fn), item)

        self._background.submit(run)

    def shutdown(self, wait: bool = True) -> None:
        self._background.shutdown(wait=wait)
        self._vendor_pool.shutdown(wait=wait)
        self.leases.close()
        self.cards.close()

    # -- small database helpers -------------------------------------------------------------------------------
    @staticmethod
    def _move_batch(session: Session, batch_id: int, expected: InviteBatchStatus, target: InviteBatchStatus,
                    now: datetime, **values: Any) -> bool:
        result = session.execute(update(InviteBatch).where(
            col(InviteBatch.id) == batch_id, col(InviteBatch.status) == expected).values(
            status=target, updated_at=now, **values))
        return result.rowcount == 1  # type: ignore[attr-defined]

    @staticmethod
    def _move_sends(session: Session, batch_id: int, expected: InviteState, target: InviteState,
                    now: datetime) -> int:
        result = session.execute(update(InviteSend).where(
            col(InviteSend.batch_id) == batch_id, col(InviteSend.status) == expected).values(
            status=target, updated_at=now))
        return int(result.rowcount)  # type: ignore[attr-defined]


def _move_send(session: Session, send_id: int, expected: list[InviteState], target: InviteState, now: datetime,
               **values: Any) -> bool:
    result = session.execute(update(InviteSend).where(
        col(InviteSend.id) == send_id, col(InviteSend.status).in_(expected)).values(
        status=target, updated_at=now, **values))
    return result.rowcount == 1  # type: ignore[attr-defined]


@dataclass(frozen=True)
class _Settled:
    state: InviteState
    summary: str = ""
    error: str = ""
    kind: str = ""
    role_seen: str = ""
    details: dict[str, Any] = field(default_factory=dict)


def _settled(action: str, steps: list[InviteStep], vendor: str) -> _Settled | None:
    """Where a send stands after its round's steps; None while an automated step is still to run."""
    failed = next((s for s in steps if s.status == StepStatus.FAILED), None)
    if failed is not None:
        return _Settled(InviteState.FAILED, error=failed.last_error,
                        kind=str(failed.details.get("failure_kind") or FailureKind.OTHER))
    first_open = next((s for s in steps if s.status != StepStatus.DONE), None)
    if first_open is not None and not first_open.manual:
        return None
    if action == "cancel":
        return _cancel_settled(steps, first_open)
    invite = next((s for s in steps if _is_invite_step(s)), None)
    if invite is None or invite.status != StepStatus.DONE:
        return _Settled(InviteState.MANUAL) if action == "invite" else None
    if invite.manual:
        return _Settled(InviteState.INVITED, summary=f"Invited by hand (confirmed by <@{invite.done_by}>)")
    status = str(invite.details.get("status") or "invited")
    state = _OUTCOME_STATES.get(status, InviteState.INVITED)
    if state == InviteState.INVITED and creates_account(vendor):
        state = InviteState.CREATED
    if action == "resend" and state == InviteState.ALREADY_MEMBER:
        state = InviteState.ACCEPTED  # they joined before the resend reached them
    role = str(invite.details.get("role") or invite.details.get("role_given") or "")
    return _Settled(state, summary=invite.outcome, details=dict(invite.details),
                    role_seen=role if state == InviteState.ALREADY_MEMBER else "")


def _cancel_settled(steps: list[InviteStep], first_open: InviteStep | None) -> _Settled | None:
    if first_open is not None:
        return None  # a person is cancelling it by hand
    cancel = steps[-1] if steps else None
    summary = "Cancelled by hand" if cancel is None or cancel.manual else cancel.outcome
    return _Settled(InviteState.CANCELLED, summary=summary)


def _is_invite_step(step: InviteStep) -> bool:
    return step.kind == StepKind.INVITE or (step.manual and f"_{Capability.INVITE.value}" in step.key
                                            and "_cancel_invite" not in step.key)


def _step_row(send_id: int, round_: int, seq: int, purpose: str, planned: PlannedStep) -> InviteStep:
    return InviteStep(send_id=send_id, round=round_, seq=seq, purpose=purpose, kind=planned.kind,
                      key=planned.key, title=planned.title, manual=planned.manual,
                      instructions=planned.instructions, params=dict(planned.params))


def _with_params(step: PlannedStep, **params: Any) -> PlannedStep:
    return PlannedStep(step.kind, step.title, {**step.params, **params}, step.manual, step.instructions, step.key)


def _approval_why(elevated: bool, not_admin: bool, inviter: str) -> str:
    if not_admin:
        return f"<@{inviter}> is not an onboarding admin, so an approver decides."
    return "Admin and owner invitations need an approver's click." if elevated else ""


def _at_hour(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour=hour), tzinfo=UTC)


STATE_WORDS = {
    InviteState.WAITING: "waiting for approval",
    InviteState.QUEUED: "about to be sent",
    InviteState.SENDING: "being sent",
    InviteState.RESENDING: "being resent",
    InviteState.CANCELLING: "being cancelled",
    InviteState.MANUAL: "to be sent by hand",
    InviteState.INVITED: "pending",
    InviteState.ALREADY_INVITED: "pending (an earlier invitation)",
    InviteState.ALREADY_MEMBER: "already a member",
    InviteState.CREATED: "account created",
    InviteState.ACCEPTED: "accepted",
    InviteState.FAILED: "failed",
    InviteState.CANCELLED: "cancelled",
    InviteState.REJECTED: "rejected",
    InviteState.WITHDRAWN: "withdrawn",
}


def _state_words(status: str) -> str:
    try:
        return STATE_WORDS[InviteState(status)]
    except ValueError:
        return status
