"""The access review (quarterly, and on demand with `/offboard review`): per vendor the member count, the
owners and admins, who has been inactive for the period, pending invitations, and a CSV of every member
(role, projects, last login) attached for the reviewer, who attests on the card.

Members are streamed page by page straight into a temporary CSV file, so a large organization is never
held in memory; only counts and the owner/admin names are kept for the card.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from slack_sdk.errors import SlackApiError
from sqlalchemy import update
from sqlmodel import col

from bot import spreadsheet
from bot.offboarding.values import ActionResult
from bot.offboarding.workflow import Workflow
from bot.reviews.inactivity import SweepPolicy
from bot.reviews.slack import review_blocks
from bot.slack import mrkdwn
from bot.slack.post import SlackPoster
from storage import audit
from storage.models import AccessReview, utcnow
from vendors import registry
from vendors.base import Capability, Member, Role, Vendor, VendorError, is_pending_invitation

log = logging.getLogger(__name__)

CSV_COLUMNS = ("tool", "email", "name", "role", "tool_role", "projects", "last_login_utc", "joined_utc", "status")

@dataclass
class VendorReview:
    vendor: str
    label: str
    days: int
    listed: bool = True
    problem: str = ""  # why the members could not be listed
    members: int = 0
    roles_known: bool = True  # False: the API shows no roles, so owners and admins cannot be named
    owners: list[str] = field(default_factory=list)
    admins: list[str] = field(default_factory=list)
    inactive: int | None = 0  # None: the API does not say when people last logged in
    never_logged_in: int = 0
    pending: int | None = 0  # None: see invites_note
    invites_note: str = ""
    blind_spot: str = ""  # members its API cannot see, so not in this list (Mixpanel: off the verified domains)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def period_of(moment: datetime) -> str:
    return f"{moment.year} Q{(moment.month - 1) // 3 + 1}"


def review_vendor(vendor: Vendor, writer: Any, now: datetime, days: int) -> VendorReview:
    """Stream one vendor's members into the CSV `writer`, counting as they pass. Never raises."""
    review = VendorReview(vendor.name, vendor.label, days, blind_spot=str(getattr(vendor, "blind_spot", "") or ""))
    if Capability.LIST_MEMBERS not in vendor.capabilities:
        label = vendor.label
        reason = getattr(vendor, "reason", None) or f"offboard cannot list the members of {label} through its API"
        review.listed, review.problem = False, f"{reason}. Review its members in its own admin UI."
        return review
    logins = Capability.READ_LAST_LOGIN in vendor.capabilities
    review.inactive = 0 if logins else None
    review.roles_known = Capability.READ_ROLE in vendor.capabilities
    note = registry.facts_of(vendor.name).pending_invites_note  # where its member stream does not show them
    review.pending, review.invites_note = (None, note) if note else (0, "")
    try:
        _stream(vendor, review, writer, now - timedelta(days=days), logins)
    except VendorError as exc:
        review.listed, review.problem = False, f"{vendor.label} could not be read: {exc.message}"
    except Exception:
        log.exception("the access review of %s failed unexpectedly", vendor.label)
        review.listed, review.problem = False, f"{vendor.label} answered in a way offboard did not expect"
    return review


def _stream(vendor: Vendor, review: VendorReview, writer: Any, cutoff: datetime, logins: bool) -> None:
    for member in vendor.iter_members():
        pending = is_pending_invitation(member)
        if pending and review.pending is not None:
            review.pending += 1
        else:
            review.members += 1
            _count(review, member, cutoff, logins)
        writer.writerow(_row(vendor.label, member, logins, pending))


def _count(review: VendorReview, member: Member, cutoff: datetime, logins: bool) -> None:
    if member.role == Role.OWNER:
        review.owners.append(member.email)
    elif member.role == Role.ADMIN:
        review.admins.append(member.email)
    if not logins or review.inactive is None:
        return
    if member.last_login is None:
        if member.joined_at is None or member.joined_at <= cutoff:  # a newcomer has not had the time yet
            review.never_logged_in += 1
            review.inactive += 1
    elif member.last_login < cutoff:
        review.inactive += 1


def _row(label: str, member: Member, logins: bool, pending: bool) -> list[str]:
    if member.last_login:
        login = member.last_login.isoformat()
    else:
        login = "never" if logins and member.last_login_known else "not given by its API"
    projects = "; ".join(f"{p.project_name} ({p.level})" for p in member.projects)
    return [label, member.email, member.name, member.role.value, member.vendor_role, projects, login,
            member.joined_at.isoformat() if member.joined_at else "", "pending invitation" if pending else "member"]


class AccessReviews:
    def __init__(self, workflow: Workflow, poster: SlackPoster, *, admin_channel: str, policy: SweepPolicy,
                 audit_admins: Iterable[str] = (), clock: Callable[[], datetime] = utcnow) -> None:
        self.workflow = workflow
        self.db = workflow.db
        self.poster = poster
        self.admin_channel = admin_channel
        self.policy = policy
        self.audit_admins = frozenset(audit_admins)
        self.clock = clock

    def may_review(self, user_id: str) -> bool:
        return user_id in self.audit_admins or self.workflow.may_approve(user_id)

    def run(self, trigger: str) -> int:
        """Review every vendor, post the report, attach the CSV. Returns the review's id."""
        now = self.clock()
        with tempfile.TemporaryDirectory(prefix="offboard-review-") as folder:
            path = Path(folder) / f"access-review-{now:%Y-%m-%d}.csv"
            with path.open("w", newline="", encoding="utf-8") as out:
                reviews = self._write(out, now)
            review_id = self._store(trigger, now, reviews)
            self.show(review_id)
            self._attach(review_id, path, reviews)
        return review_id

    def _write(self, out: IO[str], now: datetime) -> list[VendorReview]:
        writer = spreadsheet.writer(out)
        writer.writerow(CSV_COLUMNS)
        return [review_vendor(v, writer, now, self.policy.days_for(name)) for name, v in self.workflow.vendors.items()]

    def _store(self, trigger: str, now: datetime, reviews: list[VendorReview]) -> int:
        with self.db.session() as session:
            row = AccessReview(trigger=trigger, period=period_of(now), started_at=now,
                               summary={r.vendor: r.to_json() for r in reviews})
            session.add(row)
            session.flush()
            assert row.id is not None
            audit.record(session, "access_review_made", actor=trigger if trigger.startswith("U") else audit.BOT_ACTOR,
                         at=now, review=row.id, vendors=[r.vendor for r in reviews],
                         count=sum(r.members for r in reviews))
            return row.id

    def _attach(self, review_id: int, path: Path, reviews: list[VendorReview]) -> None:
        with self.db.session() as session:
            row = session.get(AccessReview, review_id)
            assert row is not None
        if not row.card_channel:
            return
        listed = sum(r.members + (r.pending or 0) for r in reviews if r.listed)
        try:
            self.poster.upload_csv(row.card_channel, path.name, path=path, thread_ts=row.card_ts,
                                   title=f"Access review {row.period}: every member",
                                   comment=f"Every member of every tool offboard can list ({listed} rows): role, "
                                           "projects, last login. Check each one, then attest on the report.")
        except SlackApiError as exc:
            log.warning("could not attach the access review CSV: %s", exc.response.get("error"))

    def show(self, review_id: int) -> None:
        with self.db.session() as session:
            row = session.get(AccessReview, review_id)
            assert row is not None
        message = review_blocks.review_report(row)
        if row.card_channel and row.card_ts:
            self.poster.update(row.card_channel, row.card_ts, message)
            return
        channel, ts = self.poster.post(self.admin_channel, message)
        with self.db.session() as session:
            session.execute(update(AccessReview).where(col(AccessReview.id) == review_id)
                            .values(card_channel=channel, card_ts=ts))

    def attest(self, review_id: int, user_id: str) -> ActionResult:
        if not self.may_review(user_id):
            with self.db.session() as session:
                audit.record(session, "action_refused", actor=user_id, why="attesting needs an approver or audit admin")
            return ActionResult(False, "Only approvers and audit admins can attest an access review.")
        now = self.clock()
        with self.db.session() as session:
            won = session.execute(update(AccessReview).where(
                col(AccessReview.id) == review_id, col(AccessReview.attested_by).is_(None))
                .values(attested_by=user_id, attested_at=now)).rowcount  # type: ignore[attr-defined]
            if won:
                audit.record(session, "access_review_attested", actor=user_id, at=now, review=review_id)
            row = session.get(AccessReview, review_id)
        if row is None:
            return ActionResult(False, "That access review does not exist.")
        if not won:
            return ActionResult(False, f"{mrkdwn.user(row.attested_by)} already attested this review.")
        self.show(review_id)
        return ActionResult(True)
