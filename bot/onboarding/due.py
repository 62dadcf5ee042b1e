"""What comes due after an invitation went out: acceptance, the inviter's reminder after N days,
the flag before a tool's invitation lapses, and the access end date (a reminder the day before, an
offboarding request with reason "contract end" on the day).

Each due item is a column of our own tables and is claimed by a conditional UPDATE (`... WHERE <column>
IS NULL`), so a restart never loses one and two bot processes never act on one twice. A notice that
could not be delivered gives its claim back, so the next tick tries again.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from bot.offboarding.values import Reason, RequestDraft
from bot.onboarding.slack.views import AccessEndNotice, PendingItem
from bot.onboarding.workflow import (
    ENDING_STATES,
    PENDING_STATES,
    Onboarding,
    acceptance_visible,
    creates_account,
    invitations_lapse,
)
from storage import audit
from storage.models import Invitation, InviteBatch, InviteSend, InviteState, OnboardJob
from vendors.base import Capability, VendorError, is_pending_invitation

log = logging.getLogger(__name__)

ACCEPTANCE_JOB = "invitation_acceptance"


class OnboardingDue:
    def __init__(self, onboarding: Onboarding) -> None:
        self.onboarding = onboarding
        self.db = onboarding.db
        self.config = onboarding.config

    def tick(self, now: datetime | None = None) -> None:
        """One pass over everything due. One failing part never starves the others."""
        now = now or self.onboarding.clock()
        parts: tuple[tuple[str, Callable[[datetime], object]], ...] = (
            ("acceptance check", self.check_acceptance_if_due),
            ("pending reminders", self.remind_pending),
            ("expiry flags", self.flag_expiring),
            ("access end reminders", self.remind_access_end),
            ("access end requests", self.end_access),
        )
        for name, part in parts:
            try:
                part(now)
            except Exception:
                log.exception("onboarding: %s failed", name)

    # -- acceptance ---------------------------------------------------------------------------------------------
    def check_acceptance_if_due(self, now: datetime) -> list[int]:
        """At most every OFFBOARD_INVITE_ACCEPTANCE_CHECK_MINUTES: each check streams the tools' member lists."""
        if not self._claim_job(ACCEPTANCE_JOB, now, self.config.acceptance_every):
            return []
        return self.check_acceptance(now)

    def _claim_job(self, name: str, now: datetime, every: timedelta) -> bool:
        try:
            with self.db.session() as session:
                if session.get(OnboardJob, name) is None:
                    session.add(OnboardJob(name=name, next_run_at=now))
        except IntegrityError:
            pass  # another process made the row first
        with self.db.session() as session:
            claimed = session.execute(update(OnboardJob).where(
                col(OnboardJob.name) == name, col(OnboardJob.next_run_at) <= now).values(
                next_run_at=now + every))
            return claimed.rowcount == 1  # type: ignore[attr-defined]

    def check_acceptance(self, now: datetime) -> list[int]:
        """Pending invitations whose person now shows as a member are accepted. Tools that cannot tell an
        invitee from a member (`acceptance_visible` false in their registry entry), that create accounts
        outright, or have no member list are left as they are."""
        wanted: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
        with self.db.session() as session:
            rows = session.exec(select(InviteSend.id, InviteSend.vendor, Invitation.email)
                                .join(Invitation, col(Invitation.id) == col(InviteSend.invitation_id))
                                .where(col(InviteSend.status).in_(PENDING_STATES))).all()
        for send_id, vendor, email in rows:
            connector = self.onboarding.vendors.get(vendor)
            if (connector is not None and acceptance_visible(vendor) and not creates_account(vendor)
                    and Capability.LIST_MEMBERS in connector.capabilities and send_id is not None):
                wanted[vendor][email.lower()].append(send_id)
        accepted: list[int] = []
        for vendor, people in wanted.items():
            accepted += self._accepted_in(vendor, dict(people), now)
        return accepted

    def _accepted_in(self, vendor: str, people: dict[str, list[int]], now: datetime) -> list[int]:
        found: list[int] = []
        try:
            for member in self.onboarding.vendors[vendor].iter_members():
                email = member.email.lower()
                # A member list may show invitees beside its members (Kissmetrics does).
                if email in people and not is_pending_invitation(member):
                    found += [s for s in people.pop(email) if self._mark_accepted(s, vendor, email, now)]
                if not people:
                    break
        except VendorError as exc:
            log.warning("could not check %s for accepted invitations: %s", vendor, exc.message)
        return found

    def _mark_accepted(self, send_id: int, vendor: str, email: str, now: datetime) -> bool:
        with self.db.session() as session:
            moved = session.execute(update(InviteSend).where(
                col(InviteSend.id) == send_id, col(InviteSend.status).in_(PENDING_STATES)).values(
                status=InviteState.ACCEPTED, accepted_at=now, updated_at=now))
            if moved.rowcount != 1:  # type: ignore[attr-defined]
                return False
            send = session.get(InviteSend, send_id)
            assert send is not None
            audit.record(session, "invitation_accepted", at=now, batch=send.batch_id, vendor=vendor, email=email,
                         via="member list")
        self.onboarding.show(send.batch_id)
        return True

    # -- the inviter's reminders --------------------------------------------------------------------------------
    def remind_pending(self, now: datetime) -> list[int]:
        """Invitations still pending after OFFBOARD_INVITE_REMIND_DAYS: one DM per inviter, once per invitation."""
        due = self._due_sends(col(InviteSend.reminded_at).is_(None),
                              col(InviteSend.sent_at) <= now - self.config.remind_after)
        return self._notify_claimed(due, "reminded_at", now, "invitation_reminder_sent",
                                    self.onboarding.notifier.pending_reminder)

    def flag_expiring(self, now: datetime) -> list[int]:
        """Invitations of tools whose invitations lapse (their registry entry's `invite_lifetime`), within the
        warning time of lapsing."""
        due: list[int] = []
        for vendor, lifetime in invitations_lapse().items():
            due += self._due_sends(col(InviteSend.vendor) == vendor, col(InviteSend.expiry_flagged_at).is_(None),
                                   col(InviteSend.sent_at) <= now - lifetime + self.config.expiry_warning)
        flagged = self._notify_claimed(due, "expiry_flagged_at", now, "invitation_expiry_flagged",
                                       self.onboarding.notifier.expiry_warning)
        for batch_id in {item.batch_id for item in self.onboarding.pending(send_ids=flagged)}:
            self.onboarding.show(batch_id)  # the card shows the flag
        return flagged

    def _due_sends(self, *conditions: object) -> list[int]:
        with self.db.session() as session:
            found = session.exec(select(InviteSend.id).where(
                col(InviteSend.status).in_(PENDING_STATES), col(InviteSend.sent_at).is_not(None),
                *conditions)).all()  # type: ignore[arg-type]
        return [s for s in found if s is not None]

    def _notify_claimed(self, send_ids: list[int], column: str, now: datetime, action: str,
                        notify: Callable[[str, list[PendingItem], datetime], None]) -> list[int]:
        claimed = [s for s in send_ids if self._claim(s, column, now)]
        by_inviter: dict[str, list[PendingItem]] = defaultdict(list)
        for item in self.onboarding.pending(send_ids=claimed):
            by_inviter[item.inviter_id].append(item)
        done: list[int] = []
        for inviter, items in by_inviter.items():
            try:
                notify(inviter, items, now)
            except Exception as exc:
                log.warning("could not reach %s about %d invitations: %s", inviter, len(items), exc)
                self._release([i.send_id for i in items], column)
                continue
            with self.db.session() as session:
                for item in items:
                    audit.record(session, action, at=now, batch=item.batch_id, vendor=item.vendor, email=item.email,
                                 to=inviter)
            done += [i.send_id for i in items]
        return done

    def _claim(self, send_id: int, column: str, now: datetime) -> bool:
        field = getattr(InviteSend, column)
        with self.db.session() as session:
            claimed = session.execute(update(InviteSend).where(
                col(InviteSend.id) == send_id, col(field).is_(None)).values({column: now}))
            return claimed.rowcount == 1  # type: ignore[attr-defined]

    def _release(self, send_ids: list[int], column: str) -> None:
        with self.db.session() as session:
            session.execute(update(InviteSend).where(col(InviteSend.id).in_(send_ids)).values({column: None}))

    # -- the access end date ------------------------------------------------------------------------------------
    def remind_access_end(self, now: datetime) -> list[int]:
        """The day before (at OFFBOARD_ACCESS_END_HOUR UTC): the person and the inviter are reminded."""
        reminded: list[int] = []
        for invitation_id in self._due_invitations("end_reminder_due_at", "end_reminded_at", now):
            notice = self._notice(invitation_id)
            if notice is None:
                self._record_end(invitation_id, "access_end_skipped", now, why="nothing was granted")
                continue
            try:
                reached = self.onboarding.notifier.access_end_reminder(notice)
            except Exception as exc:
                log.warning("could not send the access end reminder of invitation %s: %s", invitation_id, exc)
                self._release_invitation(invitation_id, "end_reminded_at")
                continue
            self._record_end(invitation_id, "access_end_reminder_sent", now, to=reached,
                             ends_on=notice.ends_on.isoformat())
            reminded.append(invitation_id)
        return reminded

    def end_access(self, now: datetime) -> list[int]:
        """On the day: an offboarding request with reason "contract end", through approval as any other; and
        pending invitations of tools that can cancel them safely are cancelled."""
        started: list[int] = []
        for invitation_id in self._due_invitations("end_due_at", "end_claimed_at", now):
            try:
                request_id = self._end_access_of(invitation_id, now)
            except Exception:  # give the claim back: the next tick tries again
                log.exception("could not end the access of invitation %s", invitation_id)
                self._release_invitation(invitation_id, "end_claimed_at")
                continue
            if request_id is not None:
                started.append(request_id)
        return started

    def _end_access_of(self, invitation_id: int, now: datetime) -> int | None:
        notice = self._notice(invitation_id)
        if notice is None:
            self._record_end(invitation_id, "access_end_skipped", now, why="nothing was granted")
            return None
        request_id = self._offboarding_request(invitation_id, notice, now)
        self._cancel_pending(invitation_id)
        if request_id is not None:
            self._tell_access_ended(replace(notice, request_id=request_id))
        return request_id

    def _offboarding_request(self, invitation_id: int, notice: AccessEndNotice, now: datetime) -> int | None:
        workflow = self.onboarding.workflow
        already = workflow.open_request_for(notice.email)
        if already is not None:
            self._record_end(invitation_id, "access_end_request_linked", now, request_id=already)
            return already
        vendors = tuple(v for v in self._granted_vendors(invitation_id) if v in workflow.vendors)
        if not vendors:
            self._record_end(invitation_id, "access_end_skipped", now, why="none of its tools is configured")
            return None
        found = self.onboarding.notifier.find_person(notice.email)
        request_id = workflow.create_request(RequestDraft(
            subject_email=notice.email, reason=Reason.CONTRACT_END, requester_id=notice.inviter_id,
            subject_slack_id=found[0] if found else None, subject_name=found[1] if found else "",
            ticket=f"invitation #{notice.batch_id}",
            # A note is shown as text (escaped): the inviter is named as the requester, not mentioned here.
            note=(f"Access end date {notice.ends_on.isoformat()}, set by the inviter (the requester) when inviting "
                  f"them (invitation #{notice.batch_id}). offboard asked for this removal on that day."),
            vendors=vendors,
        ))
        self._record_end(invitation_id, "access_end_request_created", now, request_id=request_id, vendors=vendors)
        workflow.start_assessment(request_id)
        return request_id

    def _cancel_pending(self, invitation_id: int) -> None:
        """Cancel what is still pending where a cancel can only cancel (never remove a member who joined)."""
        with self.db.session() as session:
            pending = session.exec(select(InviteSend).where(
                InviteSend.invitation_id == invitation_id, col(InviteSend.status).in_(PENDING_STATES))).all()
        for send in pending:
            connector = self.onboarding.vendors.get(send.vendor)
            if (connector is not None and send.id is not None and acceptance_visible(send.vendor)
                    and Capability.CANCEL_INVITE in connector.capabilities):
                self.onboarding.cancel_invite(send.id, audit.BOT_ACTOR)

    def _tell_access_ended(self, notice: AccessEndNotice) -> None:
        try:
            self.onboarding.notifier.access_end_started(notice)
        except Exception as exc:
            log.warning("could not tell %s that access of invitation %s ended: %s", notice.inviter_id,
                        notice.invitation_id, exc)

    def _due_invitations(self, due_column: str, claim_column: str, now: datetime) -> list[int]:
        due_field, claim_field = getattr(Invitation, due_column), getattr(Invitation, claim_column)
        with self.db.session() as session:
            found = session.exec(select(Invitation.id).where(
                col(due_field).is_not(None), col(due_field) <= now, col(claim_field).is_(None))).all()
        claimed: list[int] = []
        for invitation_id in found:
            with self.db.session() as session:
                won = session.execute(update(Invitation).where(
                    col(Invitation.id) == invitation_id, col(claim_field).is_(None)).values({claim_column: now}))
                if won.rowcount == 1 and invitation_id is not None:  # type: ignore[attr-defined]
                    claimed.append(invitation_id)
        return claimed

    def _release_invitation(self, invitation_id: int, column: str) -> None:
        with self.db.session() as session:
            session.execute(update(Invitation).where(col(Invitation.id) == invitation_id).values({column: None}))

    def _granted_vendors(self, invitation_id: int) -> list[str]:
        with self.db.session() as session:
            # In the order the invitation named them (the rows' order), which SQL keeps only when asked.
            return list(session.exec(select(InviteSend.vendor).where(
                InviteSend.invitation_id == invitation_id, col(InviteSend.status).in_(ENDING_STATES))
                .order_by(col(InviteSend.id))).all())

    def _notice(self, invitation_id: int) -> AccessEndNotice | None:
        """What the notices say; None when none of the invitation's tools granted (or offered) access."""
        granted = self._granted_vendors(invitation_id)
        if not granted:
            return None
        with self.db.session() as session:
            invitation = session.get(Invitation, invitation_id)
            assert invitation is not None and invitation.access_ends_on is not None
            batch = session.get(InviteBatch, invitation.batch_id)
            assert batch is not None
        return AccessEndNotice(invitation_id, invitation.batch_id, invitation.email, batch.inviter_id,
                               invitation.access_ends_on, tuple(self.onboarding.label(v) for v in granted))

    def _record_end(self, invitation_id: int, action: str, now: datetime, **details: Any) -> None:
        request_id = details.pop("request_id", None)
        with self.db.session() as session:
            if request_id is not None:
                session.execute(update(Invitation).where(col(Invitation.id) == invitation_id).values(
                    end_request_id=request_id))
            audit.record(session, action, at=now, request_id=request_id if isinstance(request_id, int) else None,
                         invitation=invitation_id, **details)
