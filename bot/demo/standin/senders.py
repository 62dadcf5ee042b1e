"""The systems that start an offboarding, as they send: Okta's Event Hooks (the one-time verification GET and
event deliveries, shaped as developer.okta.com documents them: the `com.okta.event_hook` envelope,
`data.events[]` with `uuid`, `eventType`, `published`, `actor` and `target[]`), and HR systems posting the
signed HR webhook or BambooHR's own signed field-based delivery. Real HTTP to the bot, nothing mocked."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from bot.triggers.signatures import (
    BAMBOOHR_SIGNATURE,
    BAMBOOHR_TIMESTAMP,
    HR_PATH,
    HR_SIGNATURE,
    HR_TIMESTAMP,
    OKTA_PATH,
    bamboohr_signature,
    hr_signature,
)

ORG = "https://corp.okta.com"


def okta_event(email: str, event_type: str = "user.lifecycle.deactivate", *, event_id: str | None = None,
               published: datetime | None = None, app: dict[str, str] | None = None) -> dict[str, Any]:
    """One entry of `data.events[]`, as Okta's System Log writes it."""
    targets: list[dict[str, Any]] = [{"id": "00u1ab2cd3EF4gh5i6j7", "type": "AppUser" if app else "User",
                                      "alternateId": email, "displayName": email.split("@")[0].title(),
                                      "detailEntry": None}]
    if app:
        targets.append({"id": app["id"], "type": "AppInstance", "alternateId": app.get("name", ""),
                        "displayName": app.get("name", ""), "detailEntry": {"signOnModeType": "SAML_2_0"}})
    return {
        "uuid": event_id or str(uuid.uuid4()),
        "published": (published or datetime.now(UTC)).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "eventType": event_type,
        "version": "0",
        "displayMessage": "Deactivate Okta user",
        "severity": "INFO",
        "legacyEventType": "core.user.config.user_deactivated",
        "actor": {"id": "00u0admin", "type": "User", "alternateId": "it-admin@corp.com", "displayName": "IT Admin"},
        "outcome": {"result": "SUCCESS", "reason": None},
        "target": targets,
    }


def okta_delivery(*events: dict[str, Any]) -> bytes:
    """The envelope Okta POSTs to an event hook."""
    return json.dumps({
        "eventType": "com.okta.event_hook",
        "eventTypeVersion": "1.0",
        "cloudEventsVersion": "0.1",
        "source": f"{ORG}/api/v1/eventHooks/who8abcdefgHIJKL0h7",
        "eventId": str(uuid.uuid4()),
        "data": {"events": list(events)},
        "eventTime": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "contentType": "application/json",
    }).encode()


class OktaSender:
    def __init__(self, base_url: str, secret: str, header: str = "Authorization") -> None:
        self.url = base_url.rstrip("/") + OKTA_PATH
        self.secret, self.header = secret, header
        self._http = httpx.Client(timeout=15)

    def verify(self, challenge: str, *, secret: str | None = None) -> httpx.Response:
        return self._http.get(self.url, headers={"X-Okta-Verification-Challenge": challenge,
                                                 "User-Agent": "Okta-Integrations", "Accept": "application/json",
                                                 self.header: self.secret if secret is None else secret})

    def deliver(self, body: bytes, *, secret: str | None = None) -> httpx.Response:
        return self._http.post(self.url, content=body, headers={
            "Content-Type": "application/json", "User-Agent": "Okta-Integrations",
            self.header: self.secret if secret is None else secret})

    def close(self) -> None:
        self._http.close()


def hr_event(email: str, event_id: str, **fields: Any) -> bytes:
    return json.dumps({"event_id": event_id, "email": email, **fields}).encode()


class HrSender:
    """The HR webhook (any HR system or script), and BambooHR's own signature."""

    def __init__(self, base_url: str, secret: str = "", bamboohr_key: str = "") -> None:
        self.url = base_url.rstrip("/") + HR_PATH
        self.secret, self.bamboohr_key = secret, bamboohr_key
        self._http = httpx.Client(timeout=15)

    def send(self, body: bytes, *, secret: str | None = None, timestamp: int | None = None) -> httpx.Response:
        stamp = str(int(time.time()) if timestamp is None else timestamp)
        signature = hr_signature(self.secret if secret is None else secret, stamp, body)
        return self._http.post(self.url, content=body, headers={
            "Content-Type": "application/json", HR_TIMESTAMP: stamp, HR_SIGNATURE: signature})

    def send_bamboohr(self, body: bytes, *, key: str | None = None) -> httpx.Response:
        stamp = str(int(time.time()))
        signature = bamboohr_signature(self.bamboohr_key if key is None else key, stamp, body)
        return self._http.post(self.url, content=body, headers={
            "Content-Type": "application/json", BAMBOOHR_TIMESTAMP: stamp, BAMBOOHR_SIGNATURE: signature})

    def close(self) -> None:
        self._http.close()
