"""The audit log: one append-only event for every change of state."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from storage.models import AuditEvent, utcnow
from vendors.base import to_jsonable

BOT_ACTOR = "offboard"


def record(
    session: Session,
    action: str,
    *,
    actor: str = BOT_ACTOR,
    request_id: int | None = None,
    at: datetime | None = None,
    **details: Any,
) -> AuditEvent:
    """Add an event in the caller's transaction, so the event and the change it records commit
    together or not at all."""
    event = AuditEvent(
        at=at or utcnow(), request_id=request_id, actor=actor, action=action, details=to_jsonable(details)
    )
    session.add(event)
    return event


def events_for(session: Session, request_id: int) -> list[AuditEvent]:
    statement = select(AuditEvent).where(AuditEvent.request_id == request_id).order_by(AuditEvent.id)
    return list(session.exec(statement))
