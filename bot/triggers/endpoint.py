"""The trigger routes, answered in the bot's process: /triggers/okta (Okta Event Hooks: the one-time GET
verification and the event deliveries) and /triggers/hr (the signed HR webhook, or BambooHR's).

Behind the ack front the front has checked the sender already (`verified=True`); in the bot's own HTTP server
(the local world, tests) this checks it. Either way nothing unauthenticated is read, and the answer comes once
the event is recorded, so a sender that sees 200 knows it need not send again.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from bot.triggers import events, signatures
from bot.triggers.intake import Intake
from bot.triggers.signatures import NOT_FOUND, REFUSED, TriggerReply, TriggerSecrets, json_reply, okta_verification

log = logging.getLogger(__name__)


class TriggerEndpoint:
    def __init__(self, intake: Intake, secrets: TriggerSecrets, okta_apps: Mapping[str, str] | None = None) -> None:
        self.intake = intake
        self.secrets = secrets
        self.okta_apps = dict(okta_apps or {})

    def answer(self, method: str, path: str, raw: bytes, headers: dict[str, str], *,
               source: str | None = None) -> TriggerReply:
        """`headers` with lower-case names. `source`: what the ack front found the sender to be (it checked)."""
        if path not in signatures.PATHS or not self.secrets.enabled(path):
            return NOT_FOUND
        if method == "GET" and path == signatures.OKTA_PATH:
            return okta_verification(headers, self.secrets)
        if method != "POST":
            return TriggerReply(405)
        source = source or signatures.authenticated(path, raw, headers, self.secrets)
        if source is None:
            log.info("refused a trigger delivery to %s with a missing or wrong secret or signature", path)
            return REFUSED
        try:
            found = self._read(source, raw)
        except events.UnreadableEvent as exc:
            log.warning("a %s delivery could not be read: %s", source, exc)
            return json_reply(400, {"error": str(exc)})
        taken = [self.intake.take(event, raw) for event in found]
        return json_reply(200, {"requests": [{"event_id": event.event_id, "request_id": t.request_id,
                                         "outcome": t.outcome} for event, t in zip(found, taken, strict=True)]})

    def _read(self, source: str, raw: bytes) -> list[events.OffboardEvent]:
        if source == "okta":
            return events.read_okta(raw, self.okta_apps)
        if source == "bamboohr":
            return events.read_bamboohr(raw)
        return [events.read_hr(raw)]
