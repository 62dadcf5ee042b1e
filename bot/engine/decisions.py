"""Who may decide on what: the separation of duties for every approval, rejection, cancellation, withdrawal,
acknowledgement and restore, of offboarding requests, batches, emergencies and invitations alike, decided here
and nowhere else. A refusal is told to the person and always recorded in the audit log, so an attempt to
decide one's own request leaves a trace whichever door it came through (a button, an edited button value, a
forged form). Also who may look at a request (`may_view`), which `/offboard status` records per look."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlmodel import Session

from storage import audit
from storage.db import Database
from storage.models import OffboardRequest, RequestStatus

REFUSED = "action_refused"  # the audit action of every refusal decided here

PersonCheck = Callable[[str], bool]


def _nobody(_user: str) -> bool:
    return False


class Act(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"
    CANCEL = "cancel"
    WITHDRAW = "withdraw"
    ACKNOWLEDGE = "acknowledge"
    RESTORE = "restore"
    WORK = "work"  # retry a failed step, tick a manual one; resend or cancel an invitation that went out


class Kind(StrEnum):
    REQUEST = "request"  # one offboarding request
    BATCH = "batch"  # a bulk offboarding, decided as a whole
    EMERGENCY = "emergency"  # an emergency removal, acknowledged by a second person
    INVITATION = "invitation"  # a batch of invitations waiting for approval


@dataclass(frozen=True)
class Case:
    """What is being decided on, as far as who may decide: the facts, not the rows."""

    kind: Kind
    id: int
    requester: str  # who asked: the requester, the inviter, the responder who declared the emergency
    leaver: str | None = None  # the Slack id of the person losing access, where known
    batch: int | None = None  # the batch an offboarding request belongs to
    scheduled: bool = False  # approved and waiting for its time (an approver may still call it off)


@dataclass(frozen=True)
class Roles:
    may_approve: PersonCheck
    may_respond: PersonCheck = _nobody  # emergency responders
    may_audit: PersonCheck = _nobody  # audit admins
    may_onboard: PersonCheck = _nobody  # onboarding admins


@dataclass(frozen=True)
class Refusal:
    message: str  # for the person, ephemerally
    why: str  # for the audit log: a fact, no personal data


def request_case(request: OffboardRequest) -> Case:
    """The facts decided on, of one offboarding request."""
    assert request.id is not None
    return Case(Kind.REQUEST, request.id, request.requester_id, leaver=request.subject_slack_id,
                batch=request.batch_id, scheduled=request.status == RequestStatus.SCHEDULED)


def refusal(actor: str, act: Act, case: Case, roles: Roles) -> Refusal | None:
    """None when `actor` may do `act` on `case`, else why not. Pure: `decide` records it."""
    match case.kind:
        case Kind.REQUEST:
            return _on_request(actor, act, case, roles)
        case Kind.BATCH:
            return _on_batch(actor, act, case, roles)
        case Kind.EMERGENCY:
            return _on_emergency(actor, act, case, roles)
        case Kind.INVITATION:
            return _on_invitation(actor, act, case, roles)


def decide(db: Database, actor: str, act: Act, case: Case, roles: Roles, *, at: datetime) -> Refusal | None:
    """`refusal`, with a refusal recorded in the audit log before it is told. The roles are asked outside any
    transaction (the approver group may take a Slack call)."""
    refused = refusal(actor, act, case, roles)
    if refused is not None:
        with db.session() as session:
            record(session, actor, act, case, refused.why, at=at)
    return refused


def record(session: Session, actor: str, act: Act | str, case: Case, why: str, *, at: datetime) -> None:
    """The one shape of a refusal in the audit log: who, what they tried, on what, and why not."""
    where: dict[str, int] = {}
    if case.kind == Kind.BATCH:
        where["batch"] = case.id
    elif case.kind == Kind.INVITATION:
        where["invitation_batch"] = case.id
    audit.record(session, REFUSED, actor=actor, request_id=case.id if case.kind in (Kind.REQUEST, Kind.EMERGENCY)
                 else None, at=at, attempted=str(act), why=why, **where)


def may_view(viewer: str, case: Case, roles: Roles) -> bool:
    """Who may see a request at all: those with a part in it (its requester, whoever may decide on it,
    responders for an emergency, audit admins), never the person leaving."""
    if case.leaver is not None and viewer == case.leaver:
        return False
    if viewer == case.requester or roles.may_approve(viewer) or roles.may_audit(viewer):
        return True
    return case.kind == Kind.EMERGENCY and roles.may_respond(viewer)


def sees_every_request(viewer: str, roles: Roles) -> bool:
    """Approvers (who may decide on any request) and audit admins see every request but their own offboarding."""
    return roles.may_approve(viewer) or roles.may_audit(viewer)


STATUS_SHOWN = "request_status_viewed"
STATUS_REFUSED = "request_status_refused"


def record_look(db: Database, viewer: str, subject: str, *, shown: list[int], withheld: list[int], refused: bool,
                at: datetime) -> None:
    """One look at a person's requests: who looked, for whom, whether they were answered or refused, which
    requests they saw and which were withheld from them."""
    with db.session() as session:
        audit.record(session, STATUS_REFUSED if refused else STATUS_SHOWN, actor=viewer, at=at, via="slack",
                     subject=subject, request_ids=shown, withheld=withheld)


# -- the rules ------------------------------------------------------------------------------------------------------
_OWN_REQUEST = "the requester cannot decide on their own request"
_OWN_OFFBOARDING = "the leaver cannot decide on their own offboarding"
_NOT_APPROVER = "not an approver"
_NOT_REQUESTER = "not the requester"


def _on_request(actor: str, act: Act, case: Case, roles: Roles) -> Refusal | None:
    if act in (Act.APPROVE, Act.REJECT):
        if case.batch is not None:
            return Refusal(f"Request #{case.id} is part of batch #{case.batch}: approve or reject the whole batch "
                           "on the batch card.", "decided with its batch")
        if actor == case.requester:
            return Refusal("You asked for this offboarding, so someone else must decide on it (separation of "
                           "duties). Nothing was changed.", _OWN_REQUEST)
        if actor == case.leaver:
            return Refusal("This offboarding is yours, so someone else must decide on it (separation of duties). "
                           "Nothing was changed.", _OWN_OFFBOARDING)
        if not roles.may_approve(actor):
            return Refusal("Only approvers can decide on offboarding requests. Nothing was changed.", _NOT_APPROVER)
        return None
    if act == Act.CANCEL:
        if actor == case.requester:
            return None
        if case.scheduled and roles.may_approve(actor) and actor != case.leaver:
            return None  # an approved removal waiting for its time may also be called off by an approver
        return Refusal("Only the person who asked for this request can cancel it. Nothing was changed.",
                       _NOT_REQUESTER)
    if act == Act.RESTORE:
        if not roles.may_approve(actor):
            return Refusal("Only approvers can restore access. Nothing was changed.", "not an approver (restore)")
        if actor == case.leaver:
            return Refusal("You cannot restore your own access: another approver must.",
                           "the leaver cannot restore their own access")
        return None
    if act == Act.WORK:
        if actor == case.requester or roles.may_approve(actor):
            return None
        return Refusal("Only approvers or the requester can act on this request. Nothing was changed.",
                       "not an approver or the requester")
    return _not_for(act, case)


def _on_batch(actor: str, act: Act, case: Case, roles: Roles) -> Refusal | None:
    if act in (Act.APPROVE, Act.REJECT):
        if actor == case.requester:
            return Refusal("You asked for this batch, so others must decide on it (separation of duties). "
                           "Nothing was changed.", _OWN_REQUEST)
        if not roles.may_approve(actor):
            return Refusal("Only approvers can decide on offboarding requests. Nothing was changed.", _NOT_APPROVER)
        return None
    if act == Act.CANCEL:
        if actor == case.requester:
            return None
        return Refusal("Only the person who asked for this batch can cancel it. Nothing was changed.",
                       _NOT_REQUESTER)
    return _not_for(act, case)


def _on_emergency(actor: str, act: Act, case: Case, roles: Roles) -> Refusal | None:
    if act != Act.ACKNOWLEDGE:
        return _not_for(act, case)
    if actor == case.requester:
        return Refusal("You started this emergency removal: a second person must acknowledge it.",
                       "the responder cannot acknowledge their own emergency")
    if actor == case.leaver:
        return Refusal("This emergency removal is yours: a second person must acknowledge it.",
                       "the leaver cannot acknowledge their own emergency")
    if not (roles.may_respond(actor) or roles.may_approve(actor)):
        return Refusal("Only emergency responders or approvers can acknowledge an emergency removal.",
                       "not a responder or an approver")
    return None


def _on_invitation(actor: str, act: Act, case: Case, roles: Roles) -> Refusal | None:
    if act in (Act.APPROVE, Act.REJECT):
        if actor == case.requester:
            return Refusal("You asked for these invitations, so someone else must approve them (separation of "
                           "duties). Nothing was changed.", "the inviter cannot decide on their own invitation")
        if not roles.may_approve(actor):
            return Refusal("Only approvers can decide on invitations. Nothing was changed.", _NOT_APPROVER)
        return None
    if act == Act.WITHDRAW:
        if actor == case.requester:
            return None
        return Refusal("Only the person who asked for these invitations can withdraw them. Nothing was changed.",
                       "not the inviter")
    if act == Act.WORK:
        if actor in (case.requester, audit.BOT_ACTOR) or roles.may_onboard(actor) or roles.may_approve(actor):
            return None
        return Refusal("Only the inviter, onboarding admins and approvers can act on this invitation. Nothing was "
                       "changed.", "not the inviter, an onboarding admin or an approver")
    return _not_for(act, case)


def _not_for(act: Act, case: Case) -> Refusal:
    return Refusal("That cannot be done here. Nothing was changed.", f"{act} does not apply to a {case.kind}")
