"""At most once per Slack delivery.

Slack retries a request it thinks went unanswered (`X-Slack-Retry-Num`), and anyone who captured a
signed request can replay it while its timestamp is fresh (5 minutes). Either way the body is the same
(every interaction carries its own trigger_id/action_ts), so the body's digest identifies the
delivery. The first to insert the digest handles the request; a repeat is answered 200 with nothing
done, and recorded in the log (not the audit log: nothing changed).

Under `offboard serve` the ack front (bot.runtime.front) answers slash commands and clicks before this claim is
made: with the same empty 200 a repeat gets, so the answer gives nothing away, and the claim still comes
before any listener runs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable
from datetime import datetime, timedelta

from slack_bolt import BoltRequest, BoltResponse
from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from storage.db import Database
from storage.models import SlackDelivery

log = logging.getLogger(__name__)

# Slack accepts a signature for 5 minutes and retries within minutes: an hour remembers every repeat.
KEEP_FOR = timedelta(hours=1)


class DeliveryLog:
    def __init__(self, db: Database, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.clock = clock
        # Claims queue here rather than in SQLite's busy handler, whose growing sleeps (up to 100 ms
        # a try) would put a burst of deliveries' acks far behind each other.
        self._claiming = threading.Lock()

    def first_time(self, body: str | bytes) -> bool:
        """True for a delivery not seen before (and now claimed), False for a repeat."""
        raw = body.encode() if isinstance(body, str) else body
        digest = hashlib.sha256(raw).hexdigest()
        now = self.clock()
        try:
            with self._claiming, self.db.session() as session:
                session.add(SlackDelivery(digest=digest, seen_at=now))
        except IntegrityError:
            return False
        return True

    def forget_old(self) -> int:
        """Drop what is older than any repeat could be; returns how many."""
        with self.db.session() as session:
            result = session.execute(
                delete(SlackDelivery).where(col(SlackDelivery.seen_at) < self.clock() - KEEP_FOR)
            )
            return int(result.rowcount or 0)  # type: ignore[attr-defined]


def delivery_body(request: BoltRequest) -> str:
    """The delivery as received. Over Socket Mode Bolt keeps only the parsed payload (its raw body is empty for
    every envelope, which would make each delivery look like the first one's repeat): its canonical JSON then.
    A redelivered envelope carries the same payload, so it is still recognised."""
    if request.raw_body:
        return request.raw_body
    return json.dumps(request.body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def once_per_delivery(deliveries: DeliveryLog) -> Callable[..., BoltResponse | None]:
    """Bolt middleware (runs after Bolt's signature check): a repeat delivery stops here with a 200."""

    def middleware(request: BoltRequest, next: Callable[[], BoltResponse]) -> BoltResponse | None:
        if deliveries.first_time(delivery_body(request)):
            return next()
        retry = request.headers.get("x-slack-retry-num", [""])[0]
        log.info("ignored a repeated Slack delivery%s", f" (retry {retry})" if retry else "")
        return BoltResponse(status=200, body="")

    return middleware
