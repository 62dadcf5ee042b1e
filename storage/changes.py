"""What a card needs to know about a request besides its steps: its emergency, its batch, its
dispute window, and the removal a restore undoes. Read in the same session as the rest of a snapshot."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlmodel import Session, col, select

from storage.models import Batch, Emergency, OffboardRequest, RequestMode, RestoreWindow


@dataclass(frozen=True)
class ChangeFacts:
    mode: RequestMode = RequestMode.FULL
    emergency: Emergency | None = None
    batch: Batch | None = None
    restore_window: RestoreWindow | None = None  # set once a removal completed: it may be undone until it closes
    restores: int | None = None  # for a restore: the request whose removal it undoes

    @property
    def batch_card(self) -> tuple[str, str] | None:
        """(channel, ts) of the batch card, where a member's own card goes as a thread reply."""
        if self.batch is None or not self.batch.card_channel or not self.batch.card_ts:
            return None
        return self.batch.card_channel, self.batch.card_ts


def load_facts(session: Session, request: OffboardRequest) -> ChangeFacts:
    try:
        mode = RequestMode(request.mode)
    except ValueError:
        mode = RequestMode.FULL
    emergency = session.get(Emergency, request.id) if mode == RequestMode.EMERGENCY else None
    batch = session.get(Batch, request.batch_id) if request.batch_id is not None else None
    window = session.get(RestoreWindow, request.id)
    restores = None
    if mode == RequestMode.RESTORE:
        restores = session.exec(
            select(RestoreWindow.request_id).where(col(RestoreWindow.restore_request_id) == request.id)
        ).first()
    return ChangeFacts(mode, emergency, batch, window, restores)


def add_business_days(start: datetime, days: int) -> datetime:
    """`start` plus `days` working days (Monday to Friday, UTC; public holidays are not known)."""
    moment = start.astimezone(UTC)
    left = days
    while left > 0:
        moment += timedelta(days=1)
        if moment.weekday() < 5:
            left -= 1
    return moment
