"""Request leases (storage/leases.py): one worker per request at a time across instances sharing a database,
no trigger lost, and a dead instance's requests taken over once its lease runs out. On SQLite files and, in
the PostgreSQL run, on PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from storage.db import Database
from storage.leases import Leases
from storage.models import Invitation, InviteBatch, InviteSend, OffboardRequest, RequestStatus

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def db(db: Database) -> Database:
    """The shared migrated database, with two requests to lease."""
    with db.session() as session:
        for _ in range(2):
            session.add(OffboardRequest(subject_email="alice@corp.com", reason="resignation", requester_id="UREQ",
                                        status=RequestStatus.EXECUTING, created_at=NOW, updated_at=NOW))
    return db


def row(db: Database, request_id: int = 1) -> OffboardRequest:
    with db.session() as session:
        request = session.get(OffboardRequest, request_id)
        assert request is not None
        return request


def test_a_held_request_is_not_taken_and_its_holder_makes_one_more_pass(db: Database) -> None:
    clock = Clock()
    first, second = Leases(db, instance="a", clock=clock), Leases(db, instance="b", clock=clock)
    assert first.acquire(1)
    assert not second.acquire(1)  # busy: b leaves a its work instead
    assert row(db).runner == "a" and row(db).rerun
    assert second.acquire(2)  # other requests are free
    assert not first.release(1)  # a keeps it for the pass b asked for
    assert row(db).runner == "a" and not row(db).rerun
    assert first.release(1)
    assert row(db).runner is None and row(db).runner_until is None
    assert second.acquire(1)
    first.close()
    second.close()


def test_a_lease_nobody_renews_runs_out_and_is_taken_over(db: Database) -> None:
    clock = Clock()
    dead, alive = Leases(db, instance="dead", seconds=30, clock=clock), Leases(db, instance="alive",
                                                                                             clock=clock)
    assert dead.acquire(1)
    clock.now += timedelta(seconds=29)
    assert alive.abandoned() == [] and not alive.acquire(1)
    clock.now += timedelta(seconds=2)
    assert alive.abandoned() == [1]
    handed: list[int] = []
    assert alive.take_over_abandoned(handed.append) == [1] and handed == [1]
    assert alive.acquire(1) and row(db).runner == "alive" and not row(db).rerun
    assert dead.release(1)  # the old holder, back from a long pause, must not free what is no longer its
    assert row(db).runner == "alive"
    dead.close()
    alive.close()


def test_the_heartbeat_keeps_a_long_pass_leased(db: Database) -> None:
    holder, other = Leases(db, instance="a", seconds=0.3), Leases(db, instance="b", seconds=0.3)
    try:
        assert holder.acquire(1)
        first_until = row(db).runner_until
        time.sleep(1.0)  # more than three leases long: only renewals keep it
        assert not other.acquire(1)
        until = row(db).runner_until
        assert first_until is not None and until is not None and until > first_until
        assert holder.release(1) is False and holder.release(1)  # b's ask, then let go
    finally:
        holder.close()


def heartbeats() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "lease-heartbeat"]


def test_the_heartbeat_runs_only_while_something_is_held(db: Database) -> None:
    leases = Leases(db, instance="a", seconds=30)  # a beat every 10 s: an idle heartbeat would sit that long
    assert leases.acquire(1) and len(heartbeats()) == 1
    beating = heartbeats()[0]
    assert leases.release(1)
    beating.join(timeout=2)
    assert not beating.is_alive(), "the heartbeat outlived the last lease it renewed"
    assert leases.acquire(1) and len(heartbeats()) == 1  # the next hold starts it again
    leases.drop(1)
    for thread in heartbeats():
        thread.join(timeout=2)
    assert heartbeats() == []


def test_a_failed_pass_lets_go_at_once(db: Database) -> None:
    first, second = Leases(db, instance="a"), Leases(db, instance="b")
    assert first.acquire(1) and not second.acquire(1)
    first.drop(1)
    assert row(db).runner is None and not row(db).rerun and second.acquire(1)
    first.close()
    second.close()


def test_invitation_sends_are_leased_alike(db: Database) -> None:
    with db.session() as session:
        for made in (InviteBatch(id=1, inviter_id="UAPP1", created_at=NOW, updated_at=NOW),
                     Invitation(id=1, batch_id=1, email="new@corp.com", role="member", created_at=NOW),
                     InviteSend(id=1, invitation_id=1, batch_id=1, vendor="posthog", updated_at=NOW)):
            session.add(made)
            session.flush()  # in order: each row refers to the one before
    first = Leases(db, model=InviteSend, instance="a")
    second = Leases(db, model=InviteSend, instance="b")
    passes: list[str] = []
    assert first.acquire(1) and not second.work(1, lambda: passes.append("b"))
    assert first.release(1) is False  # b's ask: one more pass for a
    assert second.work(1, lambda: passes.append("b")) is False  # still a's
    assert first.release(1) is False and first.release(1)
    assert second.work(1, lambda: passes.append("b")) and passes == ["b"]
    assert row(db).runner is None  # the requests' leases are apart


def test_racing_instances_never_overlap_and_never_lose_a_trigger(db: Database) -> None:
    """Four instances, each with threads that ask for work on the same request over and over, as clicks and
    ticks arriving anywhere would. Passes never overlap, and the last pass starts after the last ask."""
    instances = [Leases(db, instance=f"i{n}") for n in range(4)]
    lock = threading.Lock()
    running: list[str] = []
    overlaps: list[tuple[str, ...]] = []
    asks: list[float] = []
    pass_starts: list[float] = []

    def one_pass(me: str) -> None:
        with lock:
            running.append(me)
            if len(running) > 1:
                overlaps.append(tuple(running))
            pass_starts.append(time.monotonic())
        time.sleep(0.002)
        with lock:
            running.remove(me)

    def ask(leases: Leases) -> None:
        for _ in range(15):
            with lock:
                asks.append(time.monotonic())
            if leases.acquire(1):
                while True:
                    one_pass(leases.instance)
                    if leases.release(1):
                        break

    threads = [threading.Thread(target=ask, args=(leases,)) for leases in instances for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps == []
    assert max(pass_starts) >= max(asks)  # the last ask was served by a pass that began after it
    assert row(db).runner is None and not row(db).rerun


def test_a_pass_that_fails_lets_go_still_asked_for_so_the_periodic_check_tries_again(db: Database) -> None:
    leases = Leases(db, instance="a")

    def failing_pass() -> None:
        raise RuntimeError("database or disk is full")

    try:
        assert leases.work(1, failing_pass)
        assert row(db).runner is None and row(db).rerun, "free for anyone, and asked for"
        passes: list[int] = []
        assert leases.work(1, lambda: passes.append(1))
        assert passes == [1] and row(db).runner is None and not row(db).rerun
    finally:
        leases.close()
