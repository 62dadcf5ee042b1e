"""Reading and checking the submitted request modal. Pure, so every rule is easy to test."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from bot.offboarding.parsing import normalise_email
from bot.offboarding.values import Reason


@dataclass(frozen=True)
class RequestForm:
    subject_email: str
    reason: Reason
    ticket: str
    new_owner_slack_id: str | None
    effective_at: datetime | None  # None: now
    note: str
    vendors: tuple[str, ...] | None


FormErrors = dict[str, str]  # block_id → message, the shape Slack's response_action "errors" takes


def _value(values: dict[str, Any], block: str) -> dict[str, Any]:
    return values.get(block, {}).get(block, {}) or {}


def _text(values: dict[str, Any], block: str) -> str:
    return (_value(values, block).get("value") or "").strip()


def read_request_form(
    values: dict[str, Any], now: datetime, *, subject_slack_id: str | None = None
) -> RequestForm | FormErrors:
    errors: FormErrors = {}
    raw_subject = _text(values, "subject")
    email = normalise_email(raw_subject) if raw_subject else None
    if email is None:
        errors["subject"] = "Enter the person's work email address, like alice@corp.com."

    selected_reason = (_value(values, "reason").get("selected_option") or {}).get("value")
    reason = Reason(selected_reason) if selected_reason in {r.value for r in Reason} else None
    if reason is None:
        errors["reason"] = "Choose a reason."

    new_owner = _value(values, "new_owner").get("selected_user") or None
    if new_owner and subject_slack_id and new_owner == subject_slack_id:
        errors["new_owner"] = "The new owner cannot be the person who is leaving."

    effective_at, effective_error = _effective(values, now)
    if effective_error:
        errors["effective_date"] = effective_error

    vendor_options = _value(values, "vendors").get("selected_options")
    vendors = tuple(o["value"] for o in vendor_options) if vendor_options is not None else None
    if vendors is not None and not vendors:
        errors["vendors"] = "Choose at least one tool."

    if errors:
        return errors
    assert email is not None and reason is not None
    return RequestForm(
        subject_email=email,
        reason=reason,
        ticket=_text(values, "ticket")[:200],
        new_owner_slack_id=new_owner,
        effective_at=effective_at,
        note=_text(values, "note")[:2000],
        vendors=vendors,
    )


def _effective(values: dict[str, Any], now: datetime) -> tuple[datetime | None, str]:
    """A date (and optional UTC time) in the future, or None for now."""
    picked = _value(values, "effective_date").get("selected_date")
    if not picked:
        return None, ""
    day = date.fromisoformat(picked)
    if day < now.astimezone(UTC).date():
        return None, "That date has passed. Leave it empty to remove access now."
    picked_time = _value(values, "effective_time").get("selected_time") or "18:00"
    hour, minute = (int(part) for part in picked_time.split(":"))
    moment = datetime.combine(day, time(hour, minute), tzinfo=UTC)
    return (moment if moment > now else None), ""
