"""Benchmark 3, the inactive-user sweep at scale: 10,000 and then 100,000 members per vendor, read page
by page from sandboxes running in another process, judged as the weekly sweep judges them. Prints
the time and the sweep's peak memory (tracemalloc, this process only) for each size: the members are
streamed, so memory stays flat as they grow.

PostHog is judged from its API (it gives last logins); Amplitude's API gives no last login, so its
sweep streams the members and joins an uploaded members export (measured with and without the
export, whose rows are held in memory as the file is).

    .venv/bin/python -m bench.sweep_scale [--sizes 10000,100000]
"""

from __future__ import annotations

import multiprocessing
import time
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from bot.inactivity import SweepPolicy, judge_vendor
from bot.members_export import parse_members_export
from vendors.amplitude import AmplitudeVendor
from vendors.base import Vendor
from vendors.http import RetryPolicy
from vendors.posthog import PostHogVendor
from vendors.sandbox.amplitude import SANDBOX_SCIM_KEY, AmplitudeSandbox
from vendors.sandbox.posthog import ORG_ID, SANDBOX_API_KEY, PostHogSandbox

console = Console()
POLICY = RetryPolicy(max_attempts=3, backoff=0.05)


def serve_posthog(count: int, ready: Any) -> None:
    sandbox = PostHogSandbox(seed=False)
    sandbox.add_many_members(count)
    sandbox.start()
    ready.put(sandbox.url)
    time.sleep(3600)


def serve_amplitude(count: int, ready: Any) -> None:
    sandbox = AmplitudeSandbox(seed=False)
    for n in range(count):
        sandbox.add_user(f"member{n:06d}@scale.corp.com", pending=False, role="Member")
    sandbox.start()
    ready.put(sandbox.url)
    time.sleep(3600)


def amplitude_export(count: int) -> bytes:
    rows = ["Email,Name,Role,Last Seen"]
    rows += [f"member{n:06d}@scale.corp.com,Member {n},Member,{'2025-11-20' if n % 100 == 0 else '2026-11-21'}"
             for n in range(count)]
    return "\n".join(rows).encode()


def measure(make_vendor: Callable[[str], Vendor], serve: Callable[[int, Any], None], count: int,
            export: bytes | None = None) -> tuple[float, float, int, int]:
    """(seconds, peak MiB, members judged, stale found) for one sweep of one vendor of `count` members."""
    ready: Any = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve, args=(count, ready), daemon=True)
    server.start()
    try:
        vendor = make_vendor(ready.get(timeout=600))
        tracemalloc.start()
        started = time.perf_counter()
        parsed = parse_members_export(vendor.name, "members.csv", export) if export else None
        result = judge_vendor(vendor, SweepPolicy(), set(), datetime(2026, 11, 22, tzinfo=UTC), parsed)
        seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert result.unjudged is None, result.unjudged
        return seconds, peak / 2**20, result.members, len(result.stale)
    finally:
        server.kill()


def main(sizes: Annotated[str, typer.Option(help="Member counts to compare, comma-separated.")] = "10000,100000",
         ) -> None:
    counts = [int(s) for s in sizes.split(",")]
    table = Table(title="Inactive-user sweep: time and peak memory of the sweep")
    for column in ("vendor", "members", "judged", "inactive found", "time (s)", "peak memory (MiB)"):
        table.add_column(column, justify="right")
    cases: list[tuple[str, Callable[[str], Vendor], Callable[[int, Any], None], bool]] = [
        ("PostHog (API)", lambda url: PostHogVendor(SANDBOX_API_KEY, url, ORG_ID, policy=POLICY),
         serve_posthog, False),
        ("Amplitude (API + export)", lambda url: AmplitudeVendor(SANDBOX_SCIM_KEY, url, policy=POLICY),
         serve_amplitude, True),
    ]
    for label, make_vendor, serve, needs_export in cases:
        for count in counts:
            export = amplitude_export(count) if needs_export else None
            seconds, peak, judged, stale = measure(make_vendor, serve, count, export)
            table.add_row(label, f"{count:,}", f"{judged:,}", f"{stale:,}", f"{seconds:.1f}", f"{peak:.1f}")
            console.print(f"  {label}, {count:,} members: {seconds:.1f} s, peak {peak:.1f} MiB")
    console.print(table)
    console.print("Peak memory is the sweep's own (this process): the members arrive one page at a time. For a "
                  "vendor judged from an export, the export's rows are in memory, as the uploaded file is.")


if __name__ == "__main__":
    typer.run(main)
