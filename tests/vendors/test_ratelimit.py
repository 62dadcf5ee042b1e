"""The rate limits: slots spread evenly, bursts bounded, every window of every limit inside the vendor's
limit (PostHog's minute and hour alike), also for calls made a little after their slot, and one allowance
shared through the database by two instances."""

from __future__ import annotations

import bisect
import itertools
import random
import threading
from collections.abc import Iterator, Sequence

import pytest

from storage.allowance import DatabaseAllowance
from storage.db import Database
from vendors.ratelimit import AllowanceKey, RateLimit, RateLimitExceeded, Window

POSTHOG = (Window.per_minute(480), Window.per_hour(4800))
KEY = AllowanceKey("posthog", "0123456789abcdef")


class FakeTime:
    """A clock that moves only when someone sleeps, so the test sees the waits the limiter asks for."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start
        self.lock = threading.Lock()

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.now += seconds


def call_times(limit: RateLimit, time: FakeTime, calls: int) -> list[float]:
    """When each of `calls` sequential callers went (each waits for its slot, then calls)."""
    times = []
    for _ in range(calls):
        limit.acquire()
        times.append(time.now)
    return times


def busiest(times: Sequence[float], seconds: float) -> int:
    """The most calls any half-open span of `seconds` holds (the vendor counts the last `seconds`)."""
    ordered = sorted(times)
    return max(bisect.bisect_left(ordered, start + seconds) - i for i, start in enumerate(ordered))


def limiter(time: FakeTime, windows: Sequence[Window], **options: object) -> RateLimit:
    return RateLimit(windows, clock=time.clock, sleep=time.sleep, **options)  # type: ignore[arg-type]


def test_a_burst_goes_at_once_then_calls_are_paced_evenly() -> None:
    time = FakeTime()
    window = Window(120, 60.0, burst_calls=10)
    times = call_times(limiter(time, [window]), time, 30)
    start = times[0]
    at_once = sum(1 for t in times if t == start)
    # The burst, less the calls the lateness margin keeps in hand.
    assert at_once == int(window.tolerance / window.interval) + 1 and at_once >= 8
    gaps = {round(b - a, 6) for a, b in itertools.pairwise(times[at_once:])}
    assert gaps == {round(window.interval, 6)}
    assert window.interval == pytest.approx(60 / 110)


@pytest.mark.parametrize("windows", [
    (Window.per_minute(480),), (Window.per_minute(100),), (Window.per_minute(15),), (Window(100, 60.0, 1),),
    (Window(60, 60.0, 30),), (Window(7, 60.0, 2),), (Window(40, 1.0, 20), Window(80, 3.0, 40)),
], ids=lambda windows: "+".join(w.name for w in windows))
def test_no_window_ever_holds_more_calls_than_its_limit_even_for_calls_made_late(windows: tuple[Window, ...]) -> None:
    time = FakeTime()
    limit = limiter(time, windows)
    longest = max(w.seconds for w in windows)
    slots = call_times(limit, time, max(w.calls for w in windows) * 3)
    # Each call reaches the vendor anywhere up to its window's lateness after its slot.
    rng = random.Random(7)
    lateness = min(w.lateness for w in windows)
    arrivals = [t + rng.uniform(0, lateness) for t in slots]
    for window in windows:
        assert busiest(slots, window.seconds) <= window.calls
        assert busiest(arrivals, window.seconds) <= window.calls
    # ...and it is not needlessly slow: past the burst, each call waits no more than the slowest steady interval.
    steady = max(w.interval for w in windows)
    assert slots[-1] - slots[0] <= len(slots) * steady + longest * 1e-9


def test_posthog_hourly_limit_is_paced_not_hit_after_eleven_minutes() -> None:
    """Paced at the minute's rate alone, 432 calls a minute meet the 4800-an-hour cap at minute 11; paced by
    both, an afternoon of calls never has more than 480 in a minute or 4800 in an hour, and keeps going."""
    time = FakeTime()
    limit = limiter(time, POSTHOG)
    times = call_times(limit, time, 12_000)
    assert busiest(times, 60) <= 480 and busiest(times, 3600) <= 4800
    first_hour = sum(1 for t in times if t < times[0] + 3600)
    assert 4700 <= first_hour <= 4800  # close to the cap, not far below it
    minute = Window.per_minute(480)
    in_eleven_minutes = sum(1 for t in times if t < times[0] + 660)
    assert in_eleven_minutes < 4800  # the hour's allowance is spread over the hour...
    steady = [b - a for a, b in itertools.pairwise(times[6000:])]
    assert min(steady) == pytest.approx(3600 / (4800 - 480))  # ...at the hour's steady rate, not the minute's
    assert minute.interval < min(steady)


def test_a_wait_longer_than_a_call_may_wait_is_refused_and_takes_nothing() -> None:
    time = FakeTime()
    hourly = Window(20, 3600.0, burst_calls=10)
    limit = limiter(time, [Window(10, 60.0, 5), hourly], max_wait=60.0)
    taken = 0
    with pytest.raises(RateLimitExceeded) as refused:
        while True:
            limit.acquire()
            taken += 1
    assert refused.value.window == hourly and refused.value.wait > 60
    assert "20 calls an hour" in str(refused.value)
    # Nothing was taken by the refusal: once its wait has passed, the next call goes at once.
    time.sleep(refused.value.wait)
    assert limit.acquire() == 0.0
    assert taken >= 10


def test_concurrent_callers_get_distinct_slots() -> None:
    time = FakeTime()
    window = Window(60, 60.0, burst_calls=1)
    limit = limiter(time, [window])
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
    # Nobody slept, so the clock stood still: twenty distinct slots a steady interval apart, after the first
    # (the burst's tolerance lets each go that much before its slot).
    expected = [0.0] + [i * window.interval - window.tolerance for i in range(1, 20)]
    assert sorted(waits) == [pytest.approx(e) for e in expected]


def test_a_limit_needs_room_for_its_burst() -> None:
    with pytest.raises(ValueError):
        Window(10, 60.0, burst_calls=10)
    with pytest.raises(ValueError):
        Window(0, 60.0)
    with pytest.raises(ValueError):
        RateLimit([])


# -- one allowance, two instances -------------------------------------------------------------------------
@pytest.fixture
def two_instances(db: Database) -> Iterator[tuple[Database, Database]]:
    """Two bot instances: each its own engine (connection pool) on the one database."""
    other = Database(db.url)
    yield db, other
    other.dispose()


def shared(time: FakeTime, db: Database, windows: Sequence[Window], **options: object) -> RateLimit:
    return limiter(time, windows, store=DatabaseAllowance(db), key=KEY, **options)


def test_two_instances_share_one_allowance_and_together_stay_inside_every_window(
    two_instances: tuple[Database, Database],
) -> None:
    time = FakeTime()
    windows = (Window(30, 60.0), Window(90, 600.0))
    first, second = (shared(time, db, windows) for db in two_instances)
    times = []
    for turn in range(270):  # the instances take turns in runs of uneven length
        limit = first if (turn // 7) % 3 else second
        limit.acquire()
        times.append(time.now)
    for window in windows:
        assert busiest(times, window.seconds) <= window.calls
    # Separately, each would have allowed itself a whole window's calls: here they had one budget between them.
    assert sum(1 for t in times if t < times[0] + 60) <= 30


def test_a_shared_allowance_is_claimed_in_batches_not_once_per_call(db: Database) -> None:
    time = FakeTime()
    limit = shared(time, db, POSTHOG)
    call_times(limit, time, 1000)
    assert limit.claims <= 1000 / 8  # batches grow while all their slots get used


def test_concurrent_claims_from_two_engines_never_hand_out_one_slot_twice(
    two_instances: tuple[Database, Database],
) -> None:
    """The compare-and-set at work: threads of two instances claim at once with the clock standing still, so
    every slot they get must come from one schedule; a lost update would hand the same burst out twice."""
    time = FakeTime()
    windows = (Window(20, 10.0, burst_calls=10), Window(50, 100.0, burst_calls=25))
    limits = [shared(time, db, windows) for db in two_instances]
    slots: list[float] = []
    lock = threading.Lock()

    def work(limit: RateLimit) -> None:
        for _ in range(15):
            wait = limit.reserve()
            with lock:
                slots.append(time.now + wait)

    threads = [threading.Thread(target=work, args=(limits[i % 2],)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(slots) == 90
    for window in windows:
        assert busiest(slots, window.seconds) <= window.calls


def test_the_bot_paces_posthog_by_both_windows_through_its_database(db: Database) -> None:
    from bot.runtime.app import vendors_from_settings
    from bot.runtime.config import Settings

    allowance = DatabaseAllowance(db)
    settings = Settings(_env_file=None, posthog_api_key="phx_secret_key_of_the_bot", max_call_wait=90,
                        amplitude_scim_key="amp_x")
    built = vendors_from_settings(settings, allowance)
    posthog_limit = built["posthog"]._http.rate_limit  # type: ignore[attr-defined]
    assert posthog_limit.windows == POSTHOG and posthog_limit.store is allowance and posthog_limit.max_wait == 90
    assert posthog_limit.key.vendor == "posthog" and "phx_secret" not in posthog_limit.key.fingerprint
    amplitude_limit = built["amplitude"]._http.rate_limit  # type: ignore[attr-defined]
    assert amplitude_limit.windows == (Window.per_minute(100),) and amplitude_limit.store is allowance
    for vendor in built.values():
        vendor.close()  # type: ignore[attr-defined]
