"""The shared rate limit: slots spread evenly, bursts bounded, any 60 s window inside the vendor's limit."""

from __future__ import annotations

import itertools
import threading

import pytest

from vendors.ratelimit import RateLimit


class FakeTime:
    """A clock that moves only when someone sleeps, so the test sees the waits the limiter asks for."""

    def __init__(self) -> None:
        self.now = 0.0
        self.lock = threading.Lock()

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now = max(self.now, seconds + self.now)


def call_times(limit: RateLimit, time: FakeTime, calls: int) -> list[float]:
    """When each of `calls` sequential callers got to go."""
    times = []
    for _ in range(calls):
        wait = limit.reserve()
        times.append(time.now + wait)
    return times


def test_a_burst_goes_at_once_then_calls_are_paced_evenly() -> None:
    time = FakeTime()
    limit = RateLimit(120, burst=10, clock=time.clock, sleep=time.sleep)
    times = call_times(limit, time, 30)
    assert times[:10] == [0.0] * 10
    gaps = [round(b - a, 6) for a, b in itertools.pairwise(times[9:])]
    assert set(gaps) == {round(limit.interval, 6)}
    assert limit.interval == pytest.approx(60 / 110)


@pytest.mark.parametrize(("per_minute", "burst"), [(480, None), (100, None), (15, None), (100, 1), (60, 30), (7, 2)])
def test_no_sixty_second_window_ever_holds_more_calls_than_the_limit(per_minute: int, burst: int | None) -> None:
    time = FakeTime()
    limit = RateLimit(per_minute, burst=burst, clock=time.clock, sleep=time.sleep)
    times = call_times(limit, time, per_minute * 3)
    busiest = max(sum(1 for t in times if start <= t < start + 60) for start in times)
    assert busiest <= per_minute
    # ...and it is not needlessly slow: the steady rate is the limit minus the burst.
    assert times[-1] <= (len(times) - limit.burst) * 60 / (per_minute - limit.burst) + 1e-6


def test_concurrent_callers_get_distinct_slots() -> None:
    time = FakeTime()
    limit = RateLimit(60, burst=1, clock=time.clock, sleep=time.sleep)
    waits: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        wait = limit.reserve()
        with lock:
            waits.append(wait)

    threads = [threading.Thread(target=take) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(waits) == [pytest.approx(i * limit.interval) for i in range(20)]


def test_a_limit_needs_room_for_its_burst() -> None:
    with pytest.raises(ValueError):
        RateLimit(10, burst=10)
    with pytest.raises(ValueError):
        RateLimit(0)
