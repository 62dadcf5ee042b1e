"""Cards owed to Slack (the `card_owed` table): what an item's message should show is recorded before it is
attempted, and delivered until Slack has accepted it.

Every change worth showing raises the row's `wanted` version. Delivering claims the row (a conditional UPDATE,
so of all threads and instances one renders at a time), reads the version, renders the state as it is then,
and marks that version shown; a change made meanwhile leaves `wanted` ahead, so the claimer goes round again
and the latest state always lands last. A failed attempt lets go with a back-off, and `due()` lists what a
periodic check should try again; a new change ends the back-off (the card is worth another try at once) but
not Slack's Retry-After. A claimer that dies loses its claim when it runs out, so a card is never posted twice
by two live instances and never left owed by a dead one."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from storage.db import Database
from storage.heartbeat import Heartbeat
from storage.models import CardOwed, utcnow

log = logging.getLogger(__name__)

FIRST_RETRY_SECONDS = 1.0
MAX_RETRY_SECONDS = 60.0
MAX_RETRY_AFTER_SECONDS = 3600.0  # Slack's word is honoured in full, short of a nonsensical one
DEFAULT_CLAIM_SECONDS = 30.0


def backoff(attempts: int, retry_after: float | None = None) -> float:
    """Seconds before the next attempt after `attempts` failed ones: Slack's own word when it gave one,
    else doubling from a second, capped at a minute."""
    if retry_after is not None and retry_after > 0:
        return min(retry_after, MAX_RETRY_AFTER_SECONDS)
    return min(FIRST_RETRY_SECONDS * 2 ** max(attempts - 1, 0), MAX_RETRY_SECONDS)


def retry_after_of(exc: Exception) -> float | None:
    """The seconds the service asked us to wait (a 429's Retry-After, which slack_sdk's errors carry on
    `exc.response.headers`), or None when it did not say."""
    headers = getattr(getattr(exc, "response", None), "headers", None) or {}
    for name, value in dict(headers).items():
        if str(name).lower() == "retry-after":
            value = value[0] if isinstance(value, list | tuple) and value else value
            try:
                return float(value)
            except (TypeError, ValueError):
                return None
    return None


@dataclass(frozen=True)
class CardLocation:
    channel: str
    ts: str
    replaces: str | None = None  # the ts of a deleted post this one was posted in place of

    def audited(self) -> dict[str, str]:
        """What the audit event of the post records."""
        return {"channel": self.channel, "ts": self.ts, **({"replaces": self.replaces} if self.replaces else {})}


def store_post(db: Database, model: Any, item_id: int, location: CardLocation) -> None:
    """Store where a new post landed, in a transaction of its own (a later failure must not make the next attempt
    post again): on a card with no post yet, or on exactly the deleted post it replaces, so a post another worker
    stored meanwhile is never overwritten. `model` has `id`, `card_channel` and `card_ts` columns."""
    card_ts = col(model.card_ts)
    stored_before = card_ts.is_(None) if location.replaces is None else card_ts == location.replaces
    with db.session() as session:
        session.execute(update(model).where(col(model.id) == item_id, stored_before)
                        .values(card_channel=location.channel, card_ts=location.ts))


class OwedCards:
    """The owed cards of one kind of item (`request`, `batch`, `invite_batch`)."""

    def __init__(self, db: Database, kind: str, *, instance: str, claim_seconds: float = DEFAULT_CLAIM_SECONDS,
                 clock: Callable[[], datetime] = utcnow,
                 retry_after: Callable[[Exception], float | None] = retry_after_of) -> None:
        self.db = db
        self.kind = kind
        self.instance = instance
        self.claim = timedelta(seconds=claim_seconds)
        self.clock = clock
        self.retry_after = retry_after
        # Claims held while Slack is asked are renewed by a heartbeat (a third of the claim), as leases are: a
        # slow or throttled Slack call never lets a second deliverer in, and a dead instance's claim runs out.
        self._heartbeat = Heartbeat(self._renew, lambda: self.claim.total_seconds() / 3,
                                    name=f"{kind}-cards-heartbeat")

    def want(self, item_id: int) -> None:
        """The item changed: its card owes Slack one more version."""
        now = self.clock()
        if self._bump(item_id, now):
            return
        try:
            with self.db.session() as session:
                session.add(CardOwed(kind=self.kind, item_id=item_id, wanted=1, next_attempt_at=now, updated_at=now))
        except IntegrityError:  # another thread or instance made the row first
            self._bump(item_id, now)

    def deliver(self, item_id: int, show: Callable[[], tuple[str, str] | None]) -> bool:
        """Show the latest state with `show` (it posts or updates the card, records where a post landed and
        returns that (channel, ts)) if the card is owed, due, and nobody else is delivering it. True when this
        call brought Slack up to date; False when it was not this caller's to show (nothing owed, backing off,
        another deliverer on it) or an attempt failed (the row keeps it owed; `due()` offers it again later)."""
        version = self._claim(item_id)
        if version is None:
            return False
        self._heartbeat.hold(item_id)
        try:
            while version is not None:
                try:
                    posted = show()
                except Exception as exc:
                    self._failed(item_id, exc)
                    return False
                version = self._shown(item_id, version, posted)
            return True
        finally:
            self._heartbeat.let_go(item_id)

    def show(self, item_id: int, show: Callable[[], tuple[str, str] | None]) -> bool:
        """Record that the item's card owes Slack its latest state, then deliver it (`deliver`). Nothing here
        fails its caller: a database or Slack failure is logged and leaves the card owed, for `due()`."""
        return self.owe(item_id) and self.try_delivering(item_id, show)

    def owe(self, item_id: int) -> bool:
        """`want`, with a failure logged (the database failing: the change itself most likely failed too)."""
        try:
            self.want(item_id)
        except Exception:
            log.exception("could not record the %s card of %s as owed", self.kind, item_id)
            return False
        return True

    def try_delivering(self, item_id: int, show: Callable[[], tuple[str, str] | None]) -> bool:
        """`deliver`, with any failure logged: for the periodic delivery of what `due()` found."""
        try:
            return self.deliver(item_id, show)
        except Exception:
            log.exception("could not deliver the %s card of %s", self.kind, item_id)
            return False

    def due(self) -> list[int]:
        """Items whose card is owed and may be tried now (nobody holds it, its back-off is over)."""
        now = self.clock()
        with self.db.session() as session:
            ids = session.exec(select(CardOwed.item_id).where(
                CardOwed.kind == self.kind, col(CardOwed.wanted) > col(CardOwed.shown), self._may_try(now)))
            return [int(i) for i in ids]

    def owed(self, item_id: int) -> CardOwed | None:
        with self.db.session() as session:
            return session.exec(select(CardOwed).where(CardOwed.kind == self.kind,
                                                       CardOwed.item_id == item_id)).first()

    # -- the row's moves ---------------------------------------------------------------------------------------
    def _bump(self, item_id: int, now: datetime) -> bool:
        with self.db.session() as session:
            return bool(session.execute(
                update(CardOwed).where(col(CardOwed.kind) == self.kind, col(CardOwed.item_id) == item_id)
                .values(wanted=CardOwed.wanted + 1, next_attempt_at=now, updated_at=now)
            ).rowcount)  # type: ignore[attr-defined]

    def _claim(self, item_id: int) -> int | None:
        """Take the row if its card is owed and may be tried; the version to show, or None."""
        now = self.clock()
        with self.db.session() as session:
            taken = session.execute(
                update(CardOwed)
                .where(col(CardOwed.kind) == self.kind, col(CardOwed.item_id) == item_id,
                       col(CardOwed.wanted) > col(CardOwed.shown), self._may_try(now))
                .values(claimed_by=self.instance, claimed_until=now + self.claim)
            ).rowcount  # type: ignore[attr-defined]
            if not taken:
                return None
            return session.exec(select(CardOwed.wanted).where(CardOwed.kind == self.kind,
                                                              CardOwed.item_id == item_id)).one()

    def _shown(self, item_id: int, version: int, posted: tuple[str, str] | None) -> int | None:
        """Slack accepted `version`. Let go, unless a newer one was wanted meanwhile: then keep the claim
        (renewed) and return that version, for the caller to show too."""
        now = self.clock()
        mine = and_(col(CardOwed.kind) == self.kind, col(CardOwed.item_id) == item_id,
                    col(CardOwed.claimed_by) == self.instance)
        where = {"channel": posted[0], "ts": posted[1]} if posted else {}
        with self.db.session() as session:
            let_go = session.execute(
                update(CardOwed).where(mine, col(CardOwed.wanted) == version)
                .values(shown=version, attempts=0, last_error="", claimed_by=None, claimed_until=None,
                        updated_at=now, **where)
            ).rowcount  # type: ignore[attr-defined]
            if let_go:
                return None
            kept = session.execute(
                update(CardOwed).where(mine).values(shown=version, attempts=0, last_error="",
                                                    claimed_until=now + self.claim, updated_at=now, **where)
            ).rowcount  # type: ignore[attr-defined]
            if not kept:
                # Another deliverer took over meanwhile, and this render may have landed after theirs: owe the
                # card once more, so the latest state is shown last whatever the order was.
                log.warning("the claim on the %s card of %s ran out while this instance showed it",
                            self.kind, item_id)
                session.execute(update(CardOwed).where(col(CardOwed.kind) == self.kind,
                                                       col(CardOwed.item_id) == item_id)
                                .values(wanted=CardOwed.wanted + 1, next_attempt_at=now, updated_at=now))
                return None
            return int(session.exec(select(CardOwed.wanted).where(CardOwed.kind == self.kind,
                                                                  CardOwed.item_id == item_id)).one())

    def _failed(self, item_id: int, exc: Exception) -> None:
        now = self.clock()
        with self.db.session() as session:
            row = session.exec(select(CardOwed).where(CardOwed.kind == self.kind,
                                                      CardOwed.item_id == item_id)).one()
            attempts = row.attempts + 1
            retry_after = self.retry_after(exc)
            delay = backoff(attempts, retry_after)
            later = now + timedelta(seconds=delay)
            session.execute(
                update(CardOwed).where(col(CardOwed.id) == row.id, col(CardOwed.claimed_by) == self.instance)
                .values(attempts=attempts, next_attempt_at=later, throttled_until=later if retry_after else None,
                        last_error=f"{type(exc).__name__}: {exc}"[:500], claimed_by=None, claimed_until=None,
                        updated_at=now)
            )
        log.warning("could not show the %s card of %s (attempt %d, next in %.0f s): %s",
                    self.kind, item_id, attempts, delay, exc)

    def close(self) -> None:
        self._heartbeat.close()

    def _renew(self, held: list[int]) -> None:
        with self.db.session() as session:
            session.execute(update(CardOwed).where(
                col(CardOwed.kind) == self.kind, col(CardOwed.claimed_by) == self.instance,
                col(CardOwed.item_id).in_(held)).values(claimed_until=self.clock() + self.claim))

    @staticmethod
    def _may_try(now: datetime):  # type: ignore[no-untyped-def]
        unclaimed = or_(col(CardOwed.claimed_by).is_(None), col(CardOwed.claimed_until) < now)
        backed_off = or_(col(CardOwed.next_attempt_at).is_(None), col(CardOwed.next_attempt_at) <= now)
        not_throttled = or_(col(CardOwed.throttled_until).is_(None), col(CardOwed.throttled_until) <= now)
        return and_(unclaimed, backed_off, not_throttled)
