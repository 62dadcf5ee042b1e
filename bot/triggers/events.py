"""What an offboarding event says, read from each sender's own payload shape. Pure: no database, no bot.

- Okta Event Hooks (developer.okta.com, "Event hooks"): an envelope with `eventType: com.okta.event_hook` and
  `data.events[]`, each with its `uuid`, `eventType`, `published` time and `target[]`; the person is the
  target of type `User` (or `AppUser` for an app assignment), their login in `alternateId`.
- The HR webhook (ours, for any HR system or script): one JSON object, see `read_hr`.
- BambooHR's field-based webhook: `employees[]` with `id`, `action`, `timestamp` and the posted `fields`
  (the work email and termination date must be among the fields BambooHR is told to post).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

log = logging.getLogger(__name__)

# The Okta events that end someone's access everywhere, and the one that ends it in one app.
OKTA_LEAVING = ("user.lifecycle.deactivate", "user.lifecycle.suspend")
OKTA_APP_REMOVED = "application.user_membership.remove"
OKTA_ENVELOPE = "com.okta.event_hook"
# An id, not prose: it is shown on the card and in the evidence as it came.
EVENT_ID = re.compile(r"[\w.:@/+=-]{1,200}")
HR_REASONS = ("termination", "resignation", "contract_end", "role_change", "security_incident", "audit_finding")


class UnreadableEvent(ValueError):
    """The delivery is authentic but not an event offboard can act on (answered 400, so it is seen)."""


@dataclass(frozen=True)
class OffboardEvent:
    source: str  # "okta", "hr", "bamboohr", "cli"
    event_id: str
    event_type: str
    email: str
    effective_at: datetime | None = None
    reason: str = "termination"
    ticket: str = ""
    requested_by: str = ""  # who asked, as the sender names them (an email, a name, "okta")
    vendors: tuple[str, ...] | None = None  # None: every tool; Okta app removals name one


def read_okta(body: bytes, app_vendors: Mapping[str, str] | None = None) -> list[OffboardEvent]:
    """The offboarding events in one Okta delivery; events of other types are left out. `app_vendors` maps an
    Okta app's id or name to the vendor it signs people into, for app-membership removals."""
    envelope = _json(body)
    if envelope.get("eventType") != OKTA_ENVELOPE:
        raise UnreadableEvent(f"not an Okta event hook delivery (eventType {envelope.get('eventType')!r})")
    events = (envelope.get("data") or {}).get("events")
    if not isinstance(events, list):
        raise UnreadableEvent("an Okta delivery without data.events")
    found = []
    for event in events:
        kind = str(event.get("eventType") or "")
        if kind not in (*OKTA_LEAVING, OKTA_APP_REMOVED):
            continue
        targets = [t for t in event.get("target") or [] if isinstance(t, dict)]
        person = next((t for t in targets if t.get("type") in ("User", "AppUser") and t.get("alternateId")), None)
        if person is None or not event.get("uuid"):
            # One odd event must not refuse the others delivered with it (Okta batches them).
            log.warning("left out an Okta %s event without a uuid or a target user", kind)
            continue
        vendors = None
        if kind == OKTA_APP_REMOVED:
            app = next((t for t in targets if t.get("type") == "AppInstance"), {})
            keys = (str(app.get("id") or ""), str(app.get("alternateId") or ""), str(app.get("displayName") or ""))
            vendor = next((app_vendors[k] for k in keys if k and app_vendors and k in app_vendors), None)
            if vendor is None:
                continue  # an app offboard does not manage
            vendors = (vendor,)
        actor = event.get("actor") or {}
        found.append(OffboardEvent(
            "okta", str(event["uuid"]), kind, _email(person["alternateId"]),
            effective_at=_instant(event.get("published")), reason="termination",
            requested_by=str(actor.get("alternateId") or "okta"), vendors=vendors))
    return found


def read_hr(body: bytes) -> OffboardEvent:
    """Our HR webhook: {"event_id", "email", "termination_at" (ISO time, or a date: the end of that day UTC),
    "reason", "ticket", "requested_by"}; only event_id and email are required."""
    data = _json(body)
    event_id, email = str(data.get("event_id") or "").strip(), str(data.get("email") or "")
    if not event_id or not email:
        raise UnreadableEvent("an HR event needs event_id and email")
    if not EVENT_ID.fullmatch(event_id):
        raise UnreadableEvent("event_id may hold letters, digits and . _ : @ / + = - (up to 200)")
    reason = str(data.get("reason") or "termination").strip().lower()
    if reason not in HR_REASONS:
        raise UnreadableEvent(f"unknown reason {reason!r}; use one of {', '.join(HR_REASONS)}")
    return OffboardEvent("hr", event_id, "termination", _email(email),
                         effective_at=_instant(data.get("termination_at")), reason=reason,
                         ticket=str(data.get("ticket") or "")[:200],
                         requested_by=str(data.get("requested_by") or "")[:200])


def read_bamboohr(body: bytes) -> list[OffboardEvent]:
    """BambooHR's field-based delivery: each employee whose posted fields say they were terminated."""
    data = _json(body)
    employees = data.get("employees")
    if not isinstance(employees, list):
        raise UnreadableEvent("a BambooHR delivery without employees[] (use the field-based format)")
    found = []
    for employee in employees:
        fields = {str(k).lower().replace(" ", ""): v for k, v in (employee.get("fields") or {}).items()}
        status = str(fields.get("employmentstatus") or fields.get("status") or "").lower()
        ends = fields.get("terminationdate")
        if not ends and "terminated" not in status and status != "inactive":
            continue
        email = fields.get("workemail") or fields.get("email")
        if not email:
            raise UnreadableEvent(f"BambooHR employee {employee.get('id')} has no work email among the posted fields")
        event_id = f"{employee.get('id')}:{employee.get('timestamp') or ends or ''}"
        found.append(OffboardEvent("bamboohr", event_id, f"bamboohr {employee.get('action') or 'Updated'}",
                                   _email(str(email)), effective_at=_instant(ends), reason="termination",
                                   requested_by="BambooHR"))
    return found


def _json(body: bytes) -> dict[str, Any]:
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise UnreadableEvent("the body is not JSON") from exc
    if not isinstance(data, dict):
        raise UnreadableEvent("the body is not a JSON object")
    return data


def _email(value: str) -> str:
    email = value.strip().lower()
    local, at, domain = email.partition("@")
    if not (local and at and "." in domain) or any(c.isspace() or c in "<>|" for c in email):
        raise UnreadableEvent(f"{value[:100]!r} is not an email address")
    return email


def _instant(value: Any) -> datetime | None:
    """An ISO time (no zone: UTC), or a date alone: the end of that day, UTC (a last day is worked in full)."""
    if value in (None, ""):
        return None
    text = str(value).strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(23, 59, 59), UTC)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise UnreadableEvent(f"{text[:60]!r} is not a date or an ISO time") from exc
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
