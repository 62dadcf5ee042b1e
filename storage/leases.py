"""Which bot instance works on which request (or invitation send). Several instances may share one database
(behind a load balancer, or a deploy overlapping the old process); each item is worked on by one of them at a
time.

A lease is a row's `runner` (the instance) and `runner_until`, renewed by a heartbeat while the work goes
on. Whoever wants to work on a request that another holds leaves `rerun` set instead, and the holder makes
one more pass before it lets go, so no trigger is lost and no two passes overlap. An instance that dies
stops renewing; once its lease has run out, another takes the request over (see Workflow.reclaim)."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, update
from sqlmodel import col, select

from storage.db import Database
from storage.heartbeat import Heartbeat
from storage.models import OffboardRequest, utcnow

log = logging.getLogger(__name__)

DEFAULT_LEASE_SECONDS = 30.0


def new_instance_id() -> str:
    """Unique per process start, and readable in the database: which host and process held a lease."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Leases:
    """Leases on the rows of one table with `id`, `runner`, `runner_until` and `rerun` columns."""

    def __init__(
        self,
        db: Database,
        *,
        model: Any = OffboardRequest,
        instance: str | None = None,
        seconds: float = DEFAULT_LEASE_SECONDS,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.model = model
        self.instance = instance or new_instance_id()
        self.duration = timedelta(seconds=seconds)
        self.clock = clock
        self._heartbeat = Heartbeat(self._renew, lambda: self.duration.total_seconds() / 3, name="lease-heartbeat")

    def work(self, item_id: int, one_pass: Callable[[], object], *,
             first: Callable[[], object] | None = None) -> bool:
        """Do `one_pass` under the item's lease, again for as long as others ask meanwhile; `first` once before
        (e.g. requeue what a dead holder left running). False when another holds it (they will do the pass).
        A pass that fails (the database refusing a write, say) is logged and lets go with the item still asked
        for, so the owner's periodic check tries again (not this thread at once, which would fail the same
        way); only an interrupt (KeyboardInterrupt, SystemExit) lets go without."""
        if not self.acquire(item_id):
            return False
        try:
            if first is not None:
                first()
            while True:
                try:
                    one_pass()
                except Exception:
                    log.exception("a pass over %s %s failed", self.model.__tablename__, item_id)
                    self.drop(item_id, asked=True)
                    return True
                if self.release(item_id):
                    return True
        except BaseException:
            try:
                self.drop(item_id)
            finally:
                # Even when the database cannot be told (a full disk), stop renewing: the lease then runs
                # out and the item is taken over, rather than held by an instance that no longer works on it.
                self._heartbeat.let_go(item_id)
            raise

    def ask(self, session: Any, item_id: int) -> None:
        """Record, in the caller's transaction (beside the change that needs the pass: a tick, a Retry), that
        the item wants one more pass: its holder makes it before letting go, and if nobody holds it and the
        asker dies before taking it, the owner's periodic check finds it asked for (`rerun` with no `runner`)."""
        session.execute(update(self.model).where(col(self.model.id) == item_id).values(rerun=True))

    def acquire(self, item_id: int) -> bool:
        """Take the item if nobody holds it (or its holder's lease ran out). When someone does, ask them
        for one more pass instead and return False: the work will be done, by them."""
        while True:
            now = self.clock()
            with self.db.session() as session:
                taken = session.execute(
                    update(self.model)
                    .where(col(self.model.id) == item_id, self._free(now))
                    .values(runner=self.instance, runner_until=now + self.duration, rerun=False)
                ).rowcount  # type: ignore[attr-defined]
            if taken:
                self._heartbeat.hold(item_id)
                return True
            with self.db.session() as session:
                asked = session.execute(
                    update(self.model)
                    .where(col(self.model.id) == item_id, ~self._free(now))
                    .values(rerun=True)
                ).rowcount  # type: ignore[attr-defined]
            if asked:
                return False
            with self.db.session() as session:  # no such item, or it came free in between: try again
                if session.get(self.model, item_id) is None:
                    return False

    def release(self, item_id: int) -> bool:
        """Let go, unless one more pass was asked for meanwhile: then keep the lease, clear the ask and return
        False (the caller makes that pass and calls again)."""
        with self.db.session() as session:
            let_go = session.execute(
                update(self.model)
                .where(col(self.model.id) == item_id, col(self.model.runner) == self.instance,
                       col(self.model.rerun).is_(False))
                .values(runner=None, runner_until=None)
            ).rowcount  # type: ignore[attr-defined]
            again = not let_go and session.execute(
                update(self.model)
                .where(col(self.model.id) == item_id, col(self.model.runner) == self.instance)
                .values(rerun=False)
            ).rowcount  # type: ignore[attr-defined]
        if again:
            return False
        self._heartbeat.let_go(item_id)
        if not let_go:
            log.warning("the lease on %s %s ran out while this instance worked on it",
                        self.model.__tablename__, item_id)
        return True

    def drop(self, item_id: int, *, asked: bool = False) -> None:
        """Let go at once. `asked`: the item is left asked for (`rerun` with no `runner`), for the owner's
        periodic check to take; otherwise whatever was asked meanwhile is let go too."""
        with self.db.session() as session:
            session.execute(
                update(self.model)
                .where(col(self.model.id) == item_id, col(self.model.runner) == self.instance)
                .values(runner=None, runner_until=None, rerun=asked)
            )
        self._heartbeat.let_go(item_id)

    def abandoned(self) -> list[int]:
        """Items whose holder stopped renewing: it died, or lost the database for longer than a lease."""
        now = self.clock()
        with self.db.session() as session:
            ids = session.exec(select(self.model.id).where(
                col(self.model.runner).is_not(None), col(self.model.runner_until) < now)).all()
        return [int(item_id) for item_id in ids if item_id is not None]

    def take_over_abandoned(self, take_over: Callable[[int], object]) -> list[int]:
        """Hand each abandoned item to `take_over` (which re-queues what its dead holder left running)."""
        abandoned = self.abandoned()
        for item_id in abandoned:
            log.warning("taking over %s %s: the instance working on it stopped renewing its lease",
                        self.model.__tablename__, item_id)
            take_over(item_id)
        return abandoned

    def _renew(self, held: list[int]) -> None:
        if not held:
            return
        now = self.clock()
        with self.db.session() as session:
            session.execute(
                update(self.model)
                .where(col(self.model.runner) == self.instance, col(self.model.id).in_(held))
                .values(runner_until=now + self.duration)
            )

    def close(self) -> None:
        self._heartbeat.close()

    def _free(self, now: datetime):  # type: ignore[no-untyped-def]
        return or_(col(self.model.runner).is_(None),
                   and_(col(self.model.runner_until).is_not(None), col(self.model.runner_until) < now))
