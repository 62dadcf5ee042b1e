"""The separation-of-duties rules of bot.engine.decisions, one case each, and the shape of a recorded refusal."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import select

from bot.engine.decisions import REFUSED, Act, Case, Kind, Roles, decide, may_view, refusal
from storage import audit
from storage.db import Database
from storage.models import AuditEvent

APPROVER, OTHER_APPROVER, REQUESTER, LEAVER, RESPONDER, ADMIN, AUDITOR, STRANGER = (
    "UAPP", "UAPP2", "UREQ", "ULEAVER", "URESP", "UADMIN", "UAUDIT", "USTRANGER")
ROLES = Roles(may_approve=lambda u: u in {APPROVER, OTHER_APPROVER, LEAVER}, may_respond=lambda u: u == RESPONDER,
              may_audit=lambda u: u == AUDITOR, may_onboard=lambda u: u == ADMIN)
REQUEST = Case(Kind.REQUEST, 7, REQUESTER, leaver=LEAVER)
SCHEDULED = Case(Kind.REQUEST, 7, REQUESTER, leaver=LEAVER, scheduled=True)
IN_BATCH = Case(Kind.REQUEST, 7, REQUESTER, batch=3)
BATCH = Case(Kind.BATCH, 3, REQUESTER)
EMERGENCY = Case(Kind.EMERGENCY, 9, RESPONDER, leaver=LEAVER)
INVITATION = Case(Kind.INVITATION, 4, REQUESTER)
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(("actor", "act", "case", "why"), [
    (REQUESTER, Act.APPROVE, REQUEST, "the requester cannot decide on their own request"),
    (REQUESTER, Act.REJECT, REQUEST, "the requester cannot decide on their own request"),
    (LEAVER, Act.APPROVE, REQUEST, "the leaver cannot decide on their own offboarding"),
    (STRANGER, Act.APPROVE, REQUEST, "not an approver"),
    (APPROVER, Act.APPROVE, IN_BATCH, "decided with its batch"),
    (APPROVER, Act.CANCEL, REQUEST, "not the requester"),
    (LEAVER, Act.CANCEL, SCHEDULED, "not the requester"),
    (LEAVER, Act.RESTORE, REQUEST, "the leaver cannot restore their own access"),
    (REQUESTER, Act.RESTORE, REQUEST, "not an approver (restore)"),
    (STRANGER, Act.WORK, REQUEST, "not an approver or the requester"),
    (REQUESTER, Act.APPROVE, BATCH, "the requester cannot decide on their own request"),
    (APPROVER, Act.CANCEL, BATCH, "not the requester"),
    (RESPONDER, Act.ACKNOWLEDGE, EMERGENCY, "the responder cannot acknowledge their own emergency"),
    (LEAVER, Act.ACKNOWLEDGE, EMERGENCY, "the leaver cannot acknowledge their own emergency"),
    (STRANGER, Act.ACKNOWLEDGE, EMERGENCY, "not a responder or an approver"),
    (REQUESTER, Act.APPROVE, INVITATION, "the inviter cannot decide on their own invitation"),
    (APPROVER, Act.WITHDRAW, INVITATION, "not the inviter"),
    (STRANGER, Act.WORK, INVITATION, "not the inviter, an onboarding admin or an approver"),
    (APPROVER, Act.ACKNOWLEDGE, REQUEST, "acknowledge does not apply to a request"),
])
def test_each_refusal_says_why(actor: str, act: Act, case: Case, why: str) -> None:
    refused = refusal(actor, act, case, ROLES)
    assert refused is not None and refused.why == why and "@" not in refused.why


@pytest.mark.parametrize(("actor", "act", "case"), [
    (APPROVER, Act.APPROVE, REQUEST), (APPROVER, Act.REJECT, REQUEST), (REQUESTER, Act.CANCEL, REQUEST),
    (APPROVER, Act.CANCEL, SCHEDULED), (APPROVER, Act.RESTORE, REQUEST), (REQUESTER, Act.WORK, REQUEST),
    (APPROVER, Act.APPROVE, BATCH), (REQUESTER, Act.CANCEL, BATCH), (APPROVER, Act.ACKNOWLEDGE, EMERGENCY),
    (OTHER_APPROVER, Act.ACKNOWLEDGE, EMERGENCY), (APPROVER, Act.APPROVE, INVITATION),
    (REQUESTER, Act.WITHDRAW, INVITATION), (ADMIN, Act.WORK, INVITATION), (audit.BOT_ACTOR, Act.WORK, INVITATION),
])
def test_those_with_the_right_part_may(actor: str, act: Act, case: Case) -> None:
    assert refusal(actor, act, case, ROLES) is None


def test_who_may_view_a_request() -> None:
    assert [v for v in (REQUESTER, APPROVER, AUDITOR, LEAVER, RESPONDER, STRANGER) if may_view(v, REQUEST, ROLES)] \
        == [REQUESTER, APPROVER, AUDITOR]
    assert may_view(RESPONDER, Case(Kind.EMERGENCY, 9, OTHER_APPROVER), ROLES)


def test_a_refusal_is_recorded_and_an_allowed_act_is_not(db: Database) -> None:
    assert decide(db, APPROVER, Act.APPROVE, REQUEST, ROLES, at=NOW) is None
    assert decide(db, REQUESTER, Act.REJECT, REQUEST, ROLES, at=NOW) is not None
    assert decide(db, APPROVER, Act.CANCEL, BATCH, ROLES, at=NOW) is not None
    with db.session() as session:
        events = session.exec(select(AuditEvent).where(AuditEvent.action == REFUSED)).all()
        assert audit.verify_chain(session).ok
    assert [(e.actor, e.request_id, e.details) for e in events] == [
        (REQUESTER, 7, {"attempted": "reject", "why": "the requester cannot decide on their own request"}),
        (APPROVER, None, {"attempted": "cancel", "why": "not the requester", "batch": 3}),
    ]
