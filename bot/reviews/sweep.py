"""The inactive-user sweep: find who has not logged in, post the review card, and carry out what the admins
choose (Notify with a grace period, Offboard, Keep), plus the inactive person's "I still need access".

Every decision is a conditional UPDATE on the finding's status, so two admins clicking at once, or an admin
and the grace deadline, act once. A grace deadline is a column (`grace_until`) claimed by the scheduler's
tick; a claim interrupted by a crash is picked up again and never opens a second request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from slack_sdk.errors import SlackApiError
from sqlalchemy import update
from sqlmodel import Session, col, select

from bot.offboarding.values import ActionResult, Reason, RequestDraft
from bot.offboarding.workflow import Workflow
from bot.reviews.inactivity import LeftOut, PersonFinding, SweepPolicy, VendorSweep, leave_out, people, sweep_all
from bot.reviews.members_export import MembersExport
from bot.reviews.slack import sweep_blocks
from bot.slack import mrkdwn
from bot.slack.directory import SlackPerson
from bot.slack.mrkdwn import escape
from bot.slack.post import SlackPoster, info_message
from storage import audit
from storage.models import (
    OPEN_STATUSES,
    FindingStatus,
    OffboardRequest,
    SweepExemption,
    SweepFinding,
    SweepRun,
    utcnow,
)

log = logging.getLogger(__name__)

CLAIM_LEASE = timedelta(minutes=10)  # a grace claim older than this without a request was cut off by a crash


def after_grace(finding: SweepFinding) -> bool:
    """Whether the finding went to offboarding because its grace period ended (not by an admin's click)."""
    return bool(finding.grace_until and finding.claimed_at and finding.claimed_at >= finding.grace_until)


class PeopleDirectory(Protocol):
    def by_email(self, email: str) -> SlackPerson | None: ...


@dataclass(frozen=True)
class SweepConfig:
    policy: SweepPolicy = field(default_factory=SweepPolicy)
    admin_channel: str = ""
    grace_days: int = 14
    exempt_days: int = 90
    auto_remove: bool = False  # no answer by the deadline: remove without an approver


class Sweeps:
    def __init__(self, workflow: Workflow, directory: PeopleDirectory, poster: SlackPoster, config: SweepConfig,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.workflow = workflow
        self.db = workflow.db
        self.directory = directory
        self.poster = poster
        self.config = config
        self.clock = clock

    # -- running a sweep -----------------------------------------------------------------------------
    def exempt_emails(self, now: datetime) -> set[str]:
        with self.db.session() as session:
            return set(session.exec(select(SweepExemption.email).where(col(SweepExemption.until) > now)))

    def find(self, exports: Mapping[str, MembersExport] | None = None) -> tuple[list[VendorSweep], datetime]:
        """What a sweep would find now, changing nothing (the CLI's --dry-run)."""
        now = self.clock()
        return sweep_all(self.workflow.vendors, self.config.policy, self.exempt_emails(now), now, exports), now

    def run(self, trigger: str, exports: Mapping[str, MembersExport] | None = None,
            uploaded_by: str | None = None) -> int:
        """Sweep every vendor, store the findings, post the review card. Returns the sweep's id."""
        started = self.clock()
        with self.db.session() as session:
            run = SweepRun(trigger=trigger, started_at=started, policy=self.config.policy.to_json())
            session.add(run)
            session.flush()
            assert run.id is not None
            sweep_id = run.id
            audit.record(session, "inactive_sweep_started", at=started, via=trigger, sweep=sweep_id)
        results, now = self.find(exports)
        self._leave_out_handled(results)
        with self.db.session() as session:
            run = session.get(SweepRun, sweep_id)
            assert run is not None
            run.vendors = {r.vendor: self._vendor_json(r, (exports or {}).get(r.vendor), uploaded_by, now)
                           for r in results}
            run.finished_at, run.status = self.clock(), "done"
            session.add(run)
            self._store_findings(session, sweep_id, people(results))
            audit.record(session, "inactive_sweep", at=run.finished_at, sweep=sweep_id, vendors=run.vendors,
                         count=sum(len(r.stale) for r in results))
        self.show(sweep_id, attach_csv=True)
        return sweep_id

    def _leave_out_handled(self, results: list[VendorSweep], sweep_id: int | None = None) -> None:
        """Someone an earlier sweep notified (their grace period is running) or whose offboarding is open
        is not a new finding: a second notice or a second request would only confuse."""
        emails = {seat.email for r in results for seat in r.stale}
        if not emails:
            return
        with self.db.session() as session:
            notified = set(session.exec(select(SweepFinding.email).where(
                col(SweepFinding.email).in_(emails), SweepFinding.status == FindingStatus.NOTIFIED,
                SweepFinding.sweep_id != (sweep_id or 0))))
            under_way = set(session.exec(select(OffboardRequest.subject_email).where(
                col(OffboardRequest.subject_email).in_(emails), col(OffboardRequest.status).in_(OPEN_STATUSES))))
        why = {email: LeftOut.OFFBOARDING for email in under_way} | {email: LeftOut.NOTIFIED for email in notified}
        leave_out(results, why)

    def _vendor_json(self, result: VendorSweep, export: MembersExport | None, by: str | None,
                     now: datetime) -> dict[str, Any]:
        data = result.to_json()
        if export is not None and result.source == "export":
            data["export"] = {"by": by or "cli", "at": now.isoformat(), "rows": len(export),
                              "filename": export.filename}
        return data

    def _store_findings(self, session: Session, sweep_id: int, found: Iterable[PersonFinding]) -> None:
        for person in found:
            session.add(SweepFinding(sweep_id=sweep_id, email=person.email, name=person.name,
                                     vendors={v: seat.to_json() for v, seat in person.seats.items()}))

    def add_export(self, sweep_id: int, vendor: str, export: MembersExport, user_id: str) -> ActionResult:
        """Judge one vendor of a posted sweep from an uploaded members export; the card gains its findings."""
        refusal = self._refuse_admin(user_id)
        if refusal:
            return refusal
        connector = self.workflow.vendors.get(vendor)
        with self.db.session() as session:
            run = session.get(SweepRun, sweep_id)
            if run is None or connector is None:
                return ActionResult(False, "That sweep or tool does not exist any more.")
            if (run.vendors.get(vendor) or {}).get("source") == "api":
                return ActionResult(False, f"{escape(connector.label)}'s API already says when people last logged in; "
                                           "no export is needed.")
        now = self.clock()
        result = sweep_all({vendor: connector}, self.config.policy, self.exempt_emails(now), now, {vendor: export})[0]
        if result.unjudged:
            return ActionResult(False, escape(result.unjudged))
        self._leave_out_handled([result], sweep_id)
        with self.db.session() as session:
            run = session.get(SweepRun, sweep_id)
            assert run is not None
            run.vendors = {**run.vendors, vendor: self._vendor_json(result, export, user_id, now)}
            session.add(run)
            self._merge_findings(session, sweep_id, vendor, people([result]))
            audit.record(session, "members_export_judged", actor=user_id, at=now, sweep=sweep_id, vendor=vendor,
                         rows=len(export), count=len(result.stale))
        self.show(sweep_id)
        self._thread(sweep_id, f":page_facing_up: {mrkdwn.user(user_id)} uploaded {escape(connector.label)}'s members "
                               f"export ({len(export)} rows): {len(result.stale)} inactive there.")
        return ActionResult(True)

    def _merge_findings(self, session: Session, sweep_id: int, vendor: str, found: list[PersonFinding]) -> None:
        """A new upload replaces what an earlier one of the same vendor said, for findings nobody acted on."""
        open_findings = {f.email: f for f in session.exec(select(SweepFinding).where(
            SweepFinding.sweep_id == sweep_id, SweepFinding.status == FindingStatus.FOUND))}
        for finding in open_findings.values():
            if vendor in finding.vendors:
                finding.vendors = {v: s for v, s in finding.vendors.items() if v != vendor}
                if finding.vendors:
                    session.add(finding)
                else:
                    session.delete(finding)
        for person in found:
            seat = person.seats[vendor].to_json()
            existing = open_findings.get(person.email)
            if existing is not None and existing.vendors:
                existing.vendors = {**existing.vendors, vendor: seat}
                session.add(existing)
            else:  # new, or emptied (and deleted) above
                session.add(SweepFinding(sweep_id=sweep_id, email=person.email, name=person.name,
                                         vendors={vendor: seat}))

    # -- the card ----------------------------------------------------------------------------------
    def findings(self, sweep_id: int) -> list[SweepFinding]:
        with self.db.session() as session:
            return list(session.exec(select(SweepFinding).where(SweepFinding.sweep_id == sweep_id)
                                     .order_by(col(SweepFinding.email))))

    def show(self, sweep_id: int, *, attach_csv: bool = False) -> None:
        """Post the card (first time) or update it in place. With many findings the first post also
        attaches the CSV of all of them in the card's thread."""
        with self.db.session() as session:
            run = session.get(SweepRun, sweep_id)
            assert run is not None
        findings = self.findings(sweep_id)
        message = sweep_blocks.review_card(run, findings, self.clock(), exempt_days=self.config.exempt_days)
        if run.card_channel and run.card_ts:
            self.poster.update(run.card_channel, run.card_ts, message)
            return
        channel, ts = self.poster.post(self.config.admin_channel, message)
        with self.db.session() as session:
            session.execute(update(SweepRun).where(col(SweepRun.id) == sweep_id)
                            .values(card_channel=channel, card_ts=ts))
        if attach_csv and len(findings) > sweep_blocks.PAGE_SIZE:
            day = run.started_at.strftime("%Y-%m-%d")
            self.poster.upload_csv(channel, f"inactive-accounts-{day}.csv",
                                   content=sweep_blocks.findings_csv(findings, run.vendors),
                                   title=f"Inactive accounts {day}", thread_ts=ts,
                                   comment=f"All {len(findings)} inactive people of sweep #{sweep_id}.")

    def turn_page(self, sweep_id: int, page: int, user_id: str) -> ActionResult:
        with self.db.session() as session:
            changed = session.execute(update(SweepRun).where(col(SweepRun.id) == sweep_id)
                                      .values(page=max(page, 0))).rowcount  # type: ignore[attr-defined]
        if not changed:
            return ActionResult(False, "That sweep does not exist any more.")
        self.show(sweep_id)
        return ActionResult(True)

    def _thread(self, sweep_id: int, text: str, *, broadcast: bool = False) -> None:
        with self.db.session() as session:
            run = session.get(SweepRun, sweep_id)
        if run is None or not run.card_channel:
            return
        try:
            self.poster.post(run.card_channel, info_message(text), thread_ts=run.card_ts, broadcast=broadcast)
        except SlackApiError as exc:
            log.warning("could not post in sweep #%s's thread: %s", sweep_id, exc.response.get("error"))

    # -- admins' buttons ---------------------------------------------------------------------------
    def _refuse_admin(self, user_id: str) -> ActionResult | None:
        if self.workflow.may_approve(user_id):
            return None
        with self.db.session() as session:
            audit.record(session, "action_refused", actor=user_id, why="sweep actions are for approvers")
        return ActionResult(False, "Only approvers can act on the inactive-user sweep. Nothing was changed.")

    def _finding(self, finding_id: int) -> SweepFinding | None:
        with self.db.session() as session:
            return session.get(SweepFinding, finding_id)

    def _claim(self, session: Session, finding_id: int, expected: Iterable[FindingStatus], **values: Any) -> bool:
        result = session.execute(update(SweepFinding).where(
            col(SweepFinding.id) == finding_id, col(SweepFinding.status).in_(list(expected))).values(**values))
        return result.rowcount == 1  # type: ignore[attr-defined]

    def notify(self, finding_id: int, user_id: str, *, refresh: bool = True) -> ActionResult:
        """DM the person that access goes at the end of the grace period unless they still need it."""
        refusal = self._refuse_admin(user_id)
        if refusal:
            return refusal
        finding = self._finding(finding_id)
        if finding is None:
            return ActionResult(False, "That finding does not exist any more.")
        if finding.status != FindingStatus.FOUND:
            return _already_handled(finding)
        person = self.directory.by_email(finding.email)
        if person is None or person.deleted or person.is_bot:
            why = "is deactivated in Slack (they have probably left)" if person and person.deleted else \
                "has no Slack account I can message"
            return ActionResult(False, f"{escape(finding.email)} {why}, so nobody can be notified. Use Offboard or "
                                       "Keep.")
        now = self.clock()
        grace_until = now + timedelta(days=self.config.grace_days)
        with self.db.session() as session:
            if not self._claim(session, finding_id, [FindingStatus.FOUND], status=FindingStatus.NOTIFIED,
                               acted_by=user_id, acted_at=now, slack_user_id=person.user_id, grace_until=grace_until):
                return ActionResult(False, f"{escape(finding.email)} was handled by someone else just now.")
            audit.record(session, "inactive_notified", actor=user_id, at=now, email=finding.email,
                         vendors=list(finding.vendors), due=grace_until)
        sent = self._send_notice(finding_id, now)
        if not sent.ok:
            with self.db.session() as session:
                if self._claim(session, finding_id, [FindingStatus.NOTIFIED], status=FindingStatus.FOUND,
                               acted_by=None, acted_at=None, grace_until=None):
                    audit.record(session, "inactive_notify_failed", actor=user_id, email=finding.email,
                                 why=sent.message)
        if refresh:
            self.show(finding.sweep_id)
        return sent

    def _send_notice(self, finding_id: int, now: datetime) -> ActionResult:
        finding = self._finding(finding_id)
        assert finding is not None and finding.slack_user_id
        with self.db.session() as session:
            run = session.get(SweepRun, finding.sweep_id)
            assert run is not None
        try:
            channel, ts = self.poster.dm(finding.slack_user_id, sweep_blocks.notice_dm(finding, run.vendors, now))
        except SlackApiError as exc:
            return ActionResult(False, f"Slack refused the DM to {escape(finding.email)} "
                                       f"({escape(exc.response.get('error'))}); nothing was changed.")
        with self.db.session() as session:
            session.execute(update(SweepFinding).where(col(SweepFinding.id) == finding_id)
                            .values(dm_channel=channel, dm_ts=ts))
        return ActionResult(True)

    def notify_all(self, sweep_id: int, user_id: str) -> ActionResult:
        """Notify everyone on the card nobody has handled yet; say who could not be reached."""
        refusal = self._refuse_admin(user_id)
        if refusal:
            return refusal
        waiting = [f for f in self.findings(sweep_id) if f.status == FindingStatus.FOUND]
        unreachable: list[str] = []
        for finding in waiting:
            assert finding.id is not None
            result = self.notify(finding.id, user_id, refresh=False)
            if not result.ok:
                unreachable.append(result.message)
        self.show(sweep_id)
        notified = len(waiting) - len(unreachable)
        summary = f"Notified {notified} of {len(waiting)} people."
        if unreachable:
            summary += " Not notified:\n" + "\n".join(f"• {m}" for m in unreachable[:20])
        self._thread(sweep_id, f":envelope: {mrkdwn.user(user_id)} clicked Notify all. {summary}")
        return ActionResult(not unreachable, summary)

    def keep(self, finding_id: int, user_id: str) -> ActionResult:
        """Keep the person and leave them out of sweeps for the exemption period."""
        refusal = self._refuse_admin(user_id)
        if refusal:
            return refusal
        now = self.clock()
        with self.db.session() as session:
            finding = session.get(SweepFinding, finding_id)
            if finding is None:
                return ActionResult(False, "That finding does not exist any more.")
            if not self._claim(session, finding_id, [FindingStatus.FOUND, FindingStatus.NOTIFIED],
                               status=FindingStatus.KEPT, acted_by=user_id, acted_at=now):
                return _already_handled(finding)
            until = self._exempt(session, finding.email, now, user_id, "kept by an admin")
            audit.record(session, "inactive_kept", actor=user_id, at=now, email=finding.email, due=until)
            dm = (finding.dm_channel, finding.dm_ts)
        if dm[0] and dm[1]:
            self._update_dm(dm[0], dm[1], ":white_check_mark: An admin decided your access stays. Nothing will be "
                                          "removed.")
        self.show(finding.sweep_id)
        return ActionResult(True)

    def _exempt(self, session: Session, email: str, now: datetime, by: str, why: str) -> datetime:
        until = now + timedelta(days=self.config.exempt_days)
        existing = session.get(SweepExemption, email)
        if existing is None:
            session.add(SweepExemption(email=email, until=until, by=by, why=why))
        elif existing.until < until:
            existing.until, existing.by, existing.why = until, by, why
            session.add(existing)
        return until

    def _update_dm(self, channel: str, ts: str, text: str) -> None:
        try:
            self.poster.update(channel, ts, sweep_blocks.dm_answered(text))
        except SlackApiError as exc:
            log.info("could not update the DM %s/%s: %s", channel, ts, exc.response.get("error"))

    def offboard(self, finding_id: int, user_id: str) -> ActionResult:
        """Open an offboarding request (reason: inactive) at once; it goes through approval as usual."""
        refusal = self._refuse_admin(user_id)
        if refusal:
            return refusal
        now = self.clock()
        with self.db.session() as session:
            finding = session.get(SweepFinding, finding_id)
            if finding is None:
                return ActionResult(False, "That finding does not exist any more.")
            if not self._claim(session, finding_id, [FindingStatus.FOUND, FindingStatus.NOTIFIED],
                               status=FindingStatus.OFFBOARDING, acted_by=user_id, acted_at=now, claimed_at=now):
                return _already_handled(finding)
            audit.record(session, "inactive_offboard_chosen", actor=user_id, at=now, email=finding.email,
                         vendors=list(finding.vendors))
        self._open_request(finding_id, requester=user_id, after_grace=False)
        if finding.dm_channel and finding.dm_ts:
            self._update_dm(finding.dm_channel, finding.dm_ts, "An admin has asked for your access to be removed now; "
                                                               "the offboarding request goes through approval.")
        self.show(finding.sweep_id)
        return ActionResult(True)

    # -- the inactive person's answer --------------------------------------------------------------
    def still_need_access(self, finding_id: int, user_id: str) -> ActionResult:
        finding = self._finding(finding_id)
        if finding is None:
            return ActionResult(False, "I cannot find that notice any more.")
        if user_id != finding.slack_user_id:
            return ActionResult(False, "This button is for the person whose access it is about.")
        now = self.clock()
        with self.db.session() as session:
            won = self._claim(session, finding_id, [FindingStatus.NOTIFIED], status=FindingStatus.STILL_NEEDED,
                              acted_at=now)
            if won:
                until = self._exempt(session, finding.email, now, user_id, "still needs access")
                audit.record(session, "inactive_still_needed", actor=user_id, at=now, email=finding.email, due=until)
        if not won:
            return self._too_late(finding_id, user_id)
        assert finding.dm_channel and finding.dm_ts
        self._update_dm(finding.dm_channel, finding.dm_ts, ":white_check_mark: Thanks: your access stays, and the "
                                                           "admins know you still need it.")
        tools = ", ".join(sorted(finding.vendors))
        planned = finding.grace_until.strftime("%Y-%m-%d") if finding.grace_until else "the deadline"
        self._thread(finding.sweep_id, f":raised_hand: {mrkdwn.user(user_id)} ({escape(finding.email)}) still needs "
                                       f"access to {tools}. "
                                       f"The removal planned for {planned} is cancelled; they are left out of "
                                       f"sweeps for {self.config.exempt_days} days.", broadcast=True)
        self.show(finding.sweep_id)
        return ActionResult(True)

    def _too_late(self, finding_id: int, user_id: str) -> ActionResult:
        finding = self._finding(finding_id)
        assert finding is not None
        if finding.status in (FindingStatus.STILL_NEEDED, FindingStatus.KEPT):
            return ActionResult(False, "Your access already stays; nothing else to do.")
        number = f" #{finding.request_id}" if finding.request_id else ""
        self._thread(finding.sweep_id, f":raised_hand: {mrkdwn.user(user_id)} ({escape(finding.email)}) says they "
                                       f"still need access, but offboarding request{number} is already open. Reject "
                                       "it on its card if they should keep it.", broadcast=True)
        return ActionResult(False, f"The removal is already under way (offboarding request{number}). I told the "
                                   "admins you still need access: they can still stop it.")

    # -- grace deadlines (the scheduler's tick) ----------------------------------------------------
    def run_due_deadlines(self, now: datetime | None = None) -> list[int]:
        """Open an offboarding request for everyone whose grace period ended without an answer. Each
        finding is claimed by a conditional update; a claim cut off by a crash is taken up again."""
        now = now or self.clock()
        with self.db.session() as session:
            due = list(session.exec(select(SweepFinding.id).where(
                SweepFinding.status == FindingStatus.NOTIFIED, col(SweepFinding.grace_until) <= now)))
            stuck = list(session.exec(select(SweepFinding).where(
                SweepFinding.status == FindingStatus.OFFBOARDING, col(SweepFinding.request_id).is_(None),
                col(SweepFinding.claimed_at).is_not(None), col(SweepFinding.claimed_at) <= now - CLAIM_LEASE)))
        opened: list[int] = []
        for finding_id in due:
            assert finding_id is not None
            with self.db.session() as session:
                if not self._claim(session, finding_id, [FindingStatus.NOTIFIED], status=FindingStatus.OFFBOARDING,
                                   claimed_at=now):
                    continue
                finding = session.get(SweepFinding, finding_id)
                assert finding is not None
                audit.record(session, "inactive_grace_ended", at=now, email=finding.email, due=finding.grace_until)
            opened += self._open_request(finding_id, requester=finding.acted_by or audit.BOT_ACTOR, after_grace=True)
        for finding in stuck:
            with self.db.session() as session:
                retaken = session.execute(update(SweepFinding).where(
                    col(SweepFinding.id) == finding.id, col(SweepFinding.claimed_at) == finding.claimed_at,
                    col(SweepFinding.request_id).is_(None)).values(claimed_at=now)).rowcount  # type: ignore[attr-defined]
            if retaken:
                assert finding.id is not None
                opened += self._open_request(finding.id, requester=finding.acted_by or audit.BOT_ACTOR,
                                             after_grace=after_grace(finding))
        return opened

    def _open_request(self, finding_id: int, *, requester: str, after_grace: bool) -> list[int]:
        """The offboarding request for a finding: one that is already open for the person is reused (so a
        retry after a crash never opens a second), else a new one with reason "inactive"."""
        finding = self._finding(finding_id)
        assert finding is not None
        vendors = tuple(v for v in finding.vendors if v in self.workflow.vendors)
        existing = self.workflow.open_request_for(finding.email)
        request_id = existing or self.workflow.create_request(RequestDraft(
            subject_email=finding.email, reason=Reason.INACTIVE, requester_id=requester,
            subject_slack_id=finding.slack_user_id, subject_name=finding.name, note=self._note(finding, after_grace),
            vendors=vendors or None))
        with self.db.session() as session:
            session.execute(update(SweepFinding).where(col(SweepFinding.id) == finding_id)
                            .values(request_id=request_id))
            audit.record(session, "inactive_request_opened", request_id=request_id, email=finding.email,
                         via="grace" if after_grace else "offboard button", reused=existing is not None)
        if existing is None:
            self._start(request_id, after_grace)
        words = "the grace period ended with no answer" if after_grace else f"{mrkdwn.user(requester)} chose Offboard"
        self._thread(finding.sweep_id, f":outbox_tray: {escape(finding.email)}: {words}; offboarding request "
                                       f"#{request_id} " + ("was already open." if existing else "is open."))
        if after_grace:
            self.show(finding.sweep_id)
        return [request_id]

    def _start(self, request_id: int, after_grace: bool) -> None:
        if after_grace and self.config.auto_remove:
            # The team chose removal without an approver for inactivity: assess now, then approve on policy.
            self.workflow.assess(request_id)
            self.workflow.approve_automatically(request_id, "inactivity auto-removal (OFFBOARD_INACTIVE_AUTO_REMOVE)")
        else:
            self.workflow.start_assessment(request_id)

    def _note(self, finding: SweepFinding, after_grace: bool) -> str:
        days = ", ".join(f"{v} {self.config.policy.days_for(v)} days" for v in finding.vendors)
        note = f"Found inactive by sweep #{finding.sweep_id} (no login for {days})."
        if after_grace and finding.acted_at and finding.grace_until:
            note += (f" Notified {finding.acted_at:%Y-%m-%d}; no answer by the end of the grace period "
                     f"({finding.grace_until:%Y-%m-%d}).")
        return note


def _already_handled(finding: SweepFinding) -> ActionResult:
    return ActionResult(False, f"{escape(finding.email)} was already handled ({finding.status.replace('_', ' ')}).")
