"""What the invitations' cards, lists and notices are made of, the failures in plain words, and
what `bot.onboarding.workflow` needs from whoever tells people (`InviteNotifier`). No Slack here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Protocol

from bot.offboarding.values import CardLocation
from storage.models import Invitation, InviteBatch, InviteSend, InviteState, InviteStep, StepStatus
from vendors.base import AuthError, RateLimitedError, UnavailableError, UnsupportedError


# -- failures in plain words ------------------------------------------------------------------------------------
class FailureKind(StrEnum):
    SEAT_LIMIT = "seat_limit"
    DOMAIN = "domain"
    PERMISSION = "permission"
    CREDENTIALS = "credentials"
    RATE_LIMIT = "rate_limit"
    UNAVAILABLE = "unavailable"
    UNSUPPORTED = "unsupported"
    OTHER = "other"


FAILURE_HEADLINES = {
    FailureKind.SEAT_LIMIT: "seat limit reached",
    FailureKind.DOMAIN: "email domain not allowed",
    FailureKind.PERMISSION: "not permitted",
    FailureKind.CREDENTIALS: "offboard's credentials were refused",
    FailureKind.RATE_LIMIT: "rate-limited, try again in a minute",
    FailureKind.UNAVAILABLE: "the tool did not answer",
    FailureKind.UNSUPPORTED: "not possible through its API",
    FailureKind.OTHER: "refused",
}
_WORDS = {
    FailureKind.SEAT_LIMIT: ("seat", "licence", "license", "member limit", "user limit", "plan limit"),
    FailureKind.DOMAIN: ("verified domain", "domain is not allowed", "domain not allowed", "allowed domain"),
    FailureKind.PERMISSION: ("permission", "only an owner", "higher permission level", "cannot invite anyone as"),
}


def failure_kind(exc: Exception) -> FailureKind:
    """What kind of refusal a connector's error is, for the card's plain words (its message is shown too)."""
    text = str(getattr(exc, "message", exc)).lower()
    for kind in (FailureKind.SEAT_LIMIT, FailureKind.DOMAIN):  # the vendor's words win over the status class
        if any(word in text for word in _WORDS[kind]):
            return kind
    if isinstance(exc, RateLimitedError):
        return FailureKind.RATE_LIMIT
    if isinstance(exc, UnavailableError):
        return FailureKind.UNAVAILABLE
    if isinstance(exc, UnsupportedError):
        return FailureKind.UNSUPPORTED
    if isinstance(exc, AuthError):
        return FailureKind.CREDENTIALS if exc.status == 401 else FailureKind.PERMISSION
    if any(word in text for word in _WORDS[FailureKind.PERMISSION]):
        return FailureKind.PERMISSION
    return FailureKind.OTHER


# -- what cards and messages show -------------------------------------------------------------------------------
@dataclass(frozen=True)
class SendView:
    send: InviteSend
    label: str
    steps: list[InviteStep]  # the current round's
    expires_at: datetime | None = None  # when a pending invitation lapses, where the tool's lifetime is known
    acceptance_seen: bool = True

    @property
    def open_manual_steps(self) -> list[InviteStep]:
        """Steps a person can do now: none after an automated step that has not succeeded (e.g. setting the role
        of an invitation that failed)."""
        found: list[InviteStep] = []
        for step in sorted(self.steps, key=lambda s: s.seq):
            if not step.manual and step.status != StepStatus.DONE:
                break
            if step.manual and step.status != StepStatus.DONE:
                found.append(step)
        return found

    @property
    def failed_step(self) -> InviteStep | None:
        return next((s for s in self.steps if s.status == StepStatus.FAILED), None)


@dataclass(frozen=True)
class SendDetail:
    send: SendView
    email: str
    card_channel: str | None


@dataclass(frozen=True)
class PersonView:
    invitation: Invitation
    sends: list[SendView]


@dataclass(frozen=True)
class BatchView:
    batch: InviteBatch
    people: list[PersonView]

    @property
    def id(self) -> int:
        assert self.batch.id is not None
        return self.batch.id

    @property
    def waiting(self) -> list[PersonView]:
        return [p for p in self.people if any(s.send.status == InviteState.WAITING for s in p.sends)]


@dataclass(frozen=True)
class PendingItem:
    """One pending invitation for `/onboard pending` and the reminders."""

    send_id: int
    batch_id: int
    email: str
    vendor: str
    label: str
    role: str
    inviter_id: str
    sent_at: datetime
    status: str
    expires_at: datetime | None
    acceptance_seen: bool
    resends: int


@dataclass(frozen=True)
class AccessEndNotice:
    invitation_id: int
    batch_id: int
    email: str
    inviter_id: str
    ends_on: date
    labels: tuple[str, ...]
    request_id: int | None = None


class InviteNotifier(Protocol):
    def show_batch(self, batch: BatchView, now: datetime) -> CardLocation | None:
        """Post the batch's card when it has none yet (and return where), else update it in place."""
        ...

    def batch_finished(self, batch: BatchView, now: datetime) -> None:
        """Tell the inviter the outcome: per tool and person, or the rejection."""
        ...

    def pending_reminder(self, inviter_id: str, items: list[PendingItem], now: datetime) -> None: ...

    def expiry_warning(self, inviter_id: str, items: list[PendingItem], now: datetime) -> None: ...

    def access_end_reminder(self, notice: AccessEndNotice) -> list[str]:
        """Remind the inviter and the person; return whom it reached (Slack ids)."""
        ...

    def access_end_started(self, notice: AccessEndNotice) -> None: ...

    def find_person(self, email: str) -> tuple[str, str] | None:
        """(Slack id, name) of the person with this email, if Slack knows them."""
        ...
