"""Who may start an offboarding over HTTP: checks that need no database, so the ack front (bot.runtime.front) makes
them before anything reaches the bot.

- Okta Event Hooks authenticate with one header Okta is configured to send (name and secret value);
- the HR webhook is signed like Slack's requests: `v0=` + hex HMAC-SHA256 of `v0:{timestamp}:{body}`, with
  the timestamp in its own header and a replay window;
- BambooHR signs with its own scheme: hex HMAC-SHA256 of the body followed by `X-BambooHR-Timestamp`, in
  `X-BambooHR-Signature` (BambooHR's webhook documentation, "Security").
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field

OKTA_PATH = "/triggers/okta"
HR_PATH = "/triggers/hr"
PATHS = (OKTA_PATH, HR_PATH)
HR_SIGNATURE = "x-offboard-signature"
HR_TIMESTAMP = "x-offboard-request-timestamp"
BAMBOOHR_SIGNATURE = "x-bamboohr-signature"
BAMBOOHR_TIMESTAMP = "x-bamboohr-timestamp"
REPLAY_WINDOW = 300  # seconds, as Slack's


@dataclass(frozen=True)
class TriggerSecrets:
    """What the front needs to check trigger deliveries; empty secrets switch the endpoint off (404)."""

    okta_header: str = "authorization"
    okta_secret: str = field(default="", repr=False)
    hr_secret: str = field(default="", repr=False)
    bamboohr_key: str = field(default="", repr=False)

    def enabled(self, path: str) -> bool:
        if path == OKTA_PATH:
            return bool(self.okta_secret)
        return path == HR_PATH and bool(self.hr_secret or self.bamboohr_key)


def okta_authorized(headers: dict[str, str], secrets: TriggerSecrets) -> bool:
    """`headers` with lower-case names, as both servers pass them."""
    got = headers.get(secrets.okta_header.lower(), "")
    return bool(secrets.okta_secret) and hmac.compare_digest(got.encode(), secrets.okta_secret.encode())


def hr_signature(secret: str, timestamp: str, body: bytes) -> str:
    """The signature an HR system or script sends for `body` at `timestamp`: as docs/integrations.md's curl."""
    mac = hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256)
    return "v0=" + mac.hexdigest()


def bamboohr_signature(key: str, timestamp: str, body: bytes) -> str:
    return hmac.new(key.encode(), body + timestamp.encode(), hashlib.sha256).hexdigest()


def hr_signed(body: bytes, headers: dict[str, str], secrets: TriggerSecrets, now: float | None = None) -> str | None:
    """The scheme that signed this HR delivery ("hr" or "bamboohr"), or None when neither did."""
    now = time.time() if now is None else now
    if secrets.hr_secret and HR_SIGNATURE in headers:
        timestamp = headers.get(HR_TIMESTAMP, "")
        if _fresh(timestamp, now) and hmac.compare_digest(
                hr_signature(secrets.hr_secret, timestamp, body), headers[HR_SIGNATURE]):
            return "hr"
        return None
    if secrets.bamboohr_key and BAMBOOHR_SIGNATURE in headers:
        timestamp = headers.get(BAMBOOHR_TIMESTAMP, "")
        if _fresh(timestamp, now) and hmac.compare_digest(
                bamboohr_signature(secrets.bamboohr_key, timestamp, body), headers[BAMBOOHR_SIGNATURE].lower()):
            return "bamboohr"
    return None


def _fresh(timestamp: str, now: float) -> bool:
    return timestamp.isdigit() and abs(now - int(timestamp)) <= REPLAY_WINDOW


def authenticated(path: str, body: bytes, headers: dict[str, str], secrets: TriggerSecrets) -> str | None:
    """The source a trigger delivery to `path` is from ("okta", "hr", "bamboohr"), or None: refuse it (401)."""
    if path == OKTA_PATH:
        return "okta" if okta_authorized(headers, secrets) else None
    if path == HR_PATH:
        return hr_signed(body, headers, secrets)
    return None


@dataclass(frozen=True)
class TriggerReply:
    status: int
    body: bytes = b""
    content_type: str = "application/json;charset=utf-8"


NOT_FOUND = TriggerReply(404, b'{"error": "not found"}')
REFUSED = TriggerReply(401, b'{"error": "invalid request"}')


def json_reply(status: int, data: object) -> TriggerReply:
    return TriggerReply(status, json.dumps(data).encode())


def okta_verification(headers: dict[str, str], secrets: TriggerSecrets) -> TriggerReply:
    """Okta's one-time GET: echo X-Okta-Verification-Challenge as {"verification": ...}. Okta sends its
    configured authentication header on this request too, so it is checked like a delivery."""
    if not secrets.enabled(OKTA_PATH):
        return NOT_FOUND
    if not okta_authorized(headers, secrets):
        return REFUSED
    challenge = headers.get("x-okta-verification-challenge")
    if not challenge:
        return json_reply(400, {"error": "no X-Okta-Verification-Challenge header"})
    return json_reply(200, {"verification": challenge})
