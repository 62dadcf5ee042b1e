"""Owed cards (storage/owed_cards.py): a card is owed until Slack accepts its latest version; one deliverer at a
time across instances, the latest state last, back-off after a failure (Slack's Retry-After honoured), and a
dead deliverer's claim runs out. On SQLite files and, in the PostgreSQL run, on PostgreSQL."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from storage.db import Database
from storage.owed_cards import OwedCards, backoff

NOW = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)
WAIT = 10.0


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


MADE: list[OwedCards] = []


@pytest.fixture(autouse=True)
def _close_heartbeats() -> Iterator[None]:
    yield
    while MADE:
        MADE.pop().close()


def cards(db: Database, instance: str, clock: Clock) -> OwedCards:
    made = OwedCards(db, "request", instance=instance, claim_seconds=30, clock=clock)
    MADE.append(made)
    return made


class SlackDown(Exception):
    def __init__(self, retry_after: str | None = None) -> None:
        super().__init__("ratelimited" if retry_after else "fatal_error")
        self.response = SimpleNamespace(headers={"Retry-After": retry_after} if retry_after else {})


def fail(error: Exception):  # type: ignore[no-untyped-def]
    def show() -> None:
        raise error
    return show


def test_one_instance_delivers_at_a_time_and_the_latest_version_lands_last(db: Database) -> None:
    clock = Clock()
    a, b = cards(db, "a", clock), cards(db, "b", clock)
    a.want(1)
    shown: list[int] = []
    entered, release = threading.Event(), threading.Event()

    def slow_show() -> tuple[str, str] | None:
        shown.append(a.owed(1).wanted)  # what the state was when this render read it
        if len(shown) == 1:
            entered.set()
            assert release.wait(WAIT)
        return ("CAPPROVALS", "1.0001")

    rendering = threading.Thread(target=a.deliver, args=(1, slow_show))
    rendering.start()
    assert entered.wait(WAIT)
    b.want(1)  # another instance changes the request while a renders
    assert not b.deliver(1, fail(AssertionError("b must not render while a does")))
    release.set()
    rendering.join(WAIT)
    assert shown == [1, 2], "a went round once more for the change made meanwhile"
    row = a.owed(1)
    assert row is not None and row.shown == row.wanted == 2 and row.claimed_by is None
    assert (row.channel, row.ts) == ("CAPPROVALS", "1.0001")
    assert a.due() == []


def test_a_failure_backs_off_and_a_new_change_ends_the_back_off(db: Database) -> None:
    clock = Clock()
    owed = cards(db, "a", clock)
    owed.want(1)
    assert not owed.deliver(1, fail(SlackDown()))
    assert not owed.deliver(1, lambda: None), "backing off: not tried again at once"
    assert owed.due() == []
    clock.advance(1)
    assert owed.due() == [1]
    assert not owed.deliver(1, fail(SlackDown()))
    row = owed.owed(1)
    assert row is not None and row.attempts == 2 and row.next_attempt_at == clock.now + timedelta(seconds=2)
    owed.want(1)  # the request moved on: worth a try at once
    assert owed.due() == [1]
    assert owed.deliver(1, lambda: None)
    row = owed.owed(1)
    assert row is not None and row.attempts == 0 and row.shown == row.wanted


def test_slack_s_retry_after_is_honoured_even_when_the_request_moves_on(db: Database) -> None:
    clock = Clock()
    owed = cards(db, "a", clock)
    owed.want(1)
    assert not owed.deliver(1, fail(SlackDown(retry_after="7")))
    owed.want(1)
    clock.advance(6)
    assert owed.due() == []
    assert not owed.deliver(1, fail(AssertionError("throttled: Slack must not be asked")))
    clock.advance(1)
    assert owed.due() == [1]


def test_a_dead_deliverer_s_claim_runs_out(db: Database) -> None:
    clock = Clock()
    dead, live = cards(db, "dead", clock), cards(db, "live", clock)
    dead.want(1)
    assert dead._claim(1) == 1  # claimed, then the instance died before Slack answered
    assert live.due() == []
    clock.advance(31)
    assert live.due() == [1]
    shown: list[int] = []
    assert live.deliver(1, lambda: shown.append(1) or None)
    assert shown == [1]


def test_back_off_doubles_to_a_cap() -> None:
    assert [backoff(n) for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert backoff(30) == 60
    assert backoff(3, retry_after=20) == 20
    assert backoff(3, retry_after=120) == 120  # Slack's word, even past the cap


def test_a_slow_slack_call_keeps_its_claim_past_the_claim_time(db: Database) -> None:
    slow = OwedCards(db, "request", instance="slow", claim_seconds=0.6)  # the real clock: the heartbeat renews
    other = OwedCards(db, "request", instance="other", claim_seconds=0.6)
    slow.want(1)
    inside, release = threading.Event(), threading.Event()

    def throttled_post() -> tuple[str, str]:  # Slack's client sleeping out a Retry-After, say
        inside.set()
        assert release.wait(WAIT)
        return ("CAPPROVALS", "1.0001")

    posting = threading.Thread(target=slow.deliver, args=(1, throttled_post))
    posting.start()
    try:
        assert inside.wait(WAIT)
        time.sleep(1.2)  # twice the claim time goes by while the post is under way
        assert other.due() == []
        assert not other.deliver(1, fail(AssertionError("a second post of the same card")))
    finally:
        release.set()
        posting.join(WAIT)
        slow.close()
        other.close()
    row = other.owed(1)
    assert row is not None and row.shown == 1 and row.ts == "1.0001"
