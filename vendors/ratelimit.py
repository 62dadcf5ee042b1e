"""Pacing calls to a vendor so that bulk work stays inside the vendor's documented rate limit.

One `RateLimit` belongs to one vendor client, and the bot holds one client per vendor, so every
request, assessment and sweep running at once draws from the same allowance. It is the generic
cell rate algorithm: each call reserves the next free slot, so concurrent callers are spread out
evenly instead of all waking at once; a small burst is allowed so one person's assessment (a few
dozen calls) is not slowed down at all. To keep *any* 60-second window inside the vendor's limit
even right after a burst, the steady rate is the limit minus the burst (and one call of slack).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

DEFAULT_BURST_FRACTION = 0.1


class RateLimit:
    def __init__(
        self,
        per_minute: float,
        *,
        burst: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self.per_minute = per_minute
        self.burst = max(1, int(per_minute * DEFAULT_BURST_FRACTION) if burst is None else burst)
        if self.burst >= per_minute:
            raise ValueError("the burst must be smaller than the per-minute limit")
        # One slot of slack beyond the exact bound, so rounding (ours or the vendor's clock) never tips a
        # window over the limit.
        self.interval = 60.0 / (per_minute - self.burst)  # seconds between calls, steadily
        self._tolerance = (self.burst - 1) * self.interval
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._next_slot = 0.0  # "theoretical arrival time" of the next call

    def __repr__(self) -> str:
        return f"RateLimit(per_minute={self.per_minute}, burst={self.burst})"

    def reserve(self) -> float:
        """Reserve the next slot; returns how long to wait before using it (0 when it is free now)."""
        with self._lock:
            now = self._clock()
            slot = max(self._next_slot, now)
            self._next_slot = slot + self.interval
            return max(0.0, slot - self._tolerance - now)

    def acquire(self) -> float:
        """Wait for a slot (outside the lock, so others can reserve theirs); returns the wait."""
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
        return wait
