"""The heartbeat shared by leases and owed-card claims: it renews what is held, and holds no thread when idle."""

from __future__ import annotations

import threading

from storage.heartbeat import Heartbeat


def test_it_renews_what_is_held_and_its_thread_ends_with_the_last_let_go() -> None:
    renewed: list[list[int]] = []
    beat = threading.Event()

    def renew(ids: list[int]) -> None:
        renewed.append(ids)
        beat.set()

    heartbeat = Heartbeat(renew, lambda: 0.01, name="test-heartbeat")
    try:
        heartbeat.hold(7)
        heartbeat.hold(3)
        assert beat.wait(5)
        assert [3, 7] in renewed or [7] in renewed
        thread = next(t for t in threading.enumerate() if t.name == "test-heartbeat")
        heartbeat.let_go(7)
        heartbeat.let_go(3)
        thread.join(5)
        assert not thread.is_alive() and heartbeat.held() == []
        heartbeat.hold(1)  # holding again starts a new beat
        beat.clear()
        assert beat.wait(5) and renewed[-1] == [1]
    finally:
        heartbeat.close()
    assert not any(t.name == "test-heartbeat" for t in threading.enumerate())


def test_a_failing_renewal_is_tried_again_at_the_next_beat() -> None:
    calls: list[int] = []
    twice = threading.Event()

    def renew(ids: list[int]) -> None:
        calls.append(len(ids))
        if len(calls) >= 2:
            twice.set()
        raise RuntimeError("the database went away")

    heartbeat = Heartbeat(renew, lambda: 0.01, name="failing-heartbeat")
    try:
        heartbeat.hold(1)
        assert twice.wait(5)
    finally:
        heartbeat.close()
