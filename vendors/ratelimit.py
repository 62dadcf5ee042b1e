"""Pacing calls to a vendor so that bulk work stays inside every one of the vendor's rate limits.

A vendor may have several limits at once (PostHog: 480 calls a minute *and* 4800 an hour, per personal API
key), each a `Window`. A limit belongs to the vendor's credential, not to one process: every bot instance
using one key draws from the same allowance, so the allowance lives in an `AllowanceStore` that the
instances share (storage/allowance.py keeps it in the database); without one it is kept in this process.

Each window is paced with the generic cell rate algorithm: a call is given the earliest time at which it
conforms to every window, and each window's "next free slot" moves on by its steady interval. Concurrent
callers are thereby spread out evenly instead of all waking at once, and a small burst goes at once so one
person's assessment (a few dozen calls) is not slowed down at all. Any window of the vendor's length then
holds at most `burst + length / interval` calls; the steady rate is the limit minus the burst, and the
burst's tolerance is shortened by `lateness` so that a call made up to that long after its slot (a thread
woken late, the time on the wire) still leaves every window inside the limit.

To spare the shared store a round trip per call, a limiter claims a small batch of slots at once and hands
them out itself; a slot nobody used within half its lateness is thrown away (it would no longer be safe),
and the batch shrinks. Times are wall-clock seconds (`time.time`), as instances on several hosts must agree
on them; NTP keeps hosts far closer than the lateness margin.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

DEFAULT_BURST_FRACTION = 0.1
MAX_LATENESS = 1.0  # seconds a call may reach the vendor after its slot, at most
BATCH_SPREAD = 15.0  # seconds a batch may reach ahead: slots far ahead go unused if the work stops
MAX_BATCH = 16


@dataclass(frozen=True)
class Window:
    """A vendor's limit: at most `calls` in any `seconds`."""

    calls: int
    seconds: float
    burst_calls: int | None = None  # how many may go at once; default a tenth of the limit

    def __post_init__(self) -> None:
        if self.calls <= 0 or self.seconds <= 0:
            raise ValueError("a rate limit needs a positive number of calls and seconds")
        if self.burst >= self.calls:
            raise ValueError("the burst must be smaller than the limit")

    @classmethod
    def per_minute(cls, calls: float) -> Window:
        return cls(max(1, int(calls)), 60.0)

    @classmethod
    def per_hour(cls, calls: float) -> Window:
        return cls(max(1, int(calls)), 3600.0)

    @property
    def name(self) -> str:
        """How the shared store knows this window ("480/60s"): a changed limit starts afresh."""
        return f"{self.calls}/{self.seconds:g}s"

    @property
    def burst(self) -> int:
        default = int(self.calls * DEFAULT_BURST_FRACTION)
        return max(1, default if self.burst_calls is None else self.burst_calls)

    @property
    def interval(self) -> float:
        """Seconds between calls, steadily."""
        return self.seconds / (self.calls - self.burst)

    @property
    def lateness(self) -> float:
        return min(MAX_LATENESS, self.burst * self.interval / 2)

    @property
    def tolerance(self) -> float:
        # Any span of `seconds` then holds at most floor((seconds + tolerance + lateness) / interval) + 1 calls,
        # which is `calls` exactly when tolerance + lateness stays (just) under burst * interval.
        return self.burst * self.interval * (1 - 1e-9) - self.lateness

    def scaled(self, factor: float) -> Window:
        burst = None if self.burst_calls is None else max(1, int(self.burst_calls * factor))
        return Window(max(2, int(self.calls * factor)), self.seconds, burst)

    def describe(self) -> str:
        unit = {60.0: "a minute", 3600.0: "an hour"}.get(self.seconds, f"per {self.seconds:g} s")
        return f"{self.calls} calls {unit}"


class AllowanceKey(NamedTuple):
    """Whose allowance: the vendor and a fingerprint of the credential (never the credential itself)."""

    vendor: str
    fingerprint: str


@dataclass(frozen=True)
class Plan:
    """The slots a claim got (wall-clock times, earliest first) and each window's next free slot after them.
    `earliest` is when the first call could go, also when that is too late to claim; `binding` the window
    that decided it."""

    times: list[float]
    next_free: dict[str, float]
    earliest: float
    binding: Window | None


def plan_calls(windows: Sequence[Window], next_free: Mapping[str, float], now: float, *, count: int,
               latest: float, spread: float = BATCH_SPREAD) -> Plan:
    """Up to `count` slots, none later than `latest` nor more than `spread` after the first."""
    state = dict(next_free)
    times: list[float] = []
    earliest: float | None = None
    binding: Window | None = None
    slot = now
    for _ in range(count):
        for window in windows:
            conforming = state.get(window.name, now) - window.tolerance
            if conforming > slot:
                slot, binding = conforming, window
        if earliest is None:
            earliest = slot
        if slot > latest or slot > earliest + spread:
            break
        for window in windows:
            state[window.name] = max(state.get(window.name, slot), slot) + window.interval
        times.append(slot)
    return Plan(times, state, now if earliest is None else earliest, binding)


class AllowanceStore(Protocol):
    """Where the windows' next free slots are kept; `claim` plans and records a batch atomically."""

    def claim(self, key: AllowanceKey, windows: Sequence[Window], now: float, *, count: int,
              latest: float) -> Plan: ...


@dataclass
class LocalAllowance:
    """The allowance of this process alone (unit use, and a bot without a database)."""

    _next_free: dict[AllowanceKey, dict[str, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def claim(self, key: AllowanceKey, windows: Sequence[Window], now: float, *, count: int,
              latest: float) -> Plan:
        with self._lock:
            plan = plan_calls(windows, self._next_free.get(key, {}), now, count=count, latest=latest)
            if plan.times:
                self._next_free[key] = plan.next_free
            return plan


class RateLimitExceeded(Exception):
    """The next free slot is further away than a call may wait."""

    def __init__(self, wait: float, window: Window | None) -> None:
        super().__init__(f"the rate limit{f' ({window.describe()})' if window else ''} allows the next call "
                         f"in {wait:.0f} s")
        self.wait = wait
        self.window = window


NO_KEY = AllowanceKey("", "")


def credential_fingerprint(secrets: Iterable[str]) -> str:
    """A short SHA-256 prefix that tells credentials apart without revealing them."""
    return hashlib.sha256("\n".join(sorted(set(secrets))).encode()).hexdigest()[:16]


class RateLimit:
    """Paces one vendor client's calls through the allowance of its credential."""

    def __init__(
        self,
        windows: Sequence[Window],
        *,
        store: AllowanceStore | None = None,
        key: AllowanceKey = NO_KEY,
        max_wait: float = math.inf,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        max_batch: int | None = None,
    ) -> None:
        if not windows:
            raise ValueError("a rate limit needs at least one window")
        self.windows = tuple(windows)
        self.shared = store is not None
        self.store: AllowanceStore = store if store is not None else LocalAllowance()
        self.key = key
        self.max_wait = max_wait
        # In this process a claim costs nothing, so one slot at a time; a shared store is claimed in batches.
        self.max_batch = max_batch or (MAX_BATCH if self.shared else 1)
        self.claims = 0  # how many times the store was asked (each is one transaction when shared)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._slots: deque[float] = deque()
        self._usable_for = min(w.lateness for w in self.windows) / 2  # the other half is the time on the wire
        self._batch = 1
        self._wasted = False

    def __repr__(self) -> str:
        return f"RateLimit({', '.join(w.describe() for w in self.windows)}{', shared' if self.shared else ''})"

    def reserve(self) -> float:
        """Take the next slot; returns how long to wait before using it (0 when it is free now). Raises
        RateLimitExceeded, taking nothing, when that would be longer than `max_wait`."""
        with self._lock:
            now = self._clock()
            while self._slots and now > self._slots[0] + self._usable_for:
                self._slots.popleft()  # too late to use safely
                self._wasted = True
            if not self._slots:
                self._claim(now)
            return max(0.0, self._slots.popleft() - now)

    def acquire(self) -> float:
        """Wait for a slot (outside the lock, so others can take theirs); returns the wait."""
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
        return wait

    def _claim(self, now: float) -> None:
        if self.claims:
            self._batch = max(1, self._batch // 2) if self._wasted else min(self.max_batch, self._batch * 2)
        self._wasted = False
        self.claims += 1
        plan = self.store.claim(self.key, self.windows, now, count=self._batch, latest=now + self.max_wait)
        if not plan.times:
            raise RateLimitExceeded(plan.earliest - now, plan.binding)
        self._slots.extend(plan.times)
