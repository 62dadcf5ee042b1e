"""Benchmark 3, the inactive-user sweep at scale: 10,000 and then 100,000 members per vendor, read page
by page from sandboxes running in another process, judged as the weekly sweep judges them. Prints
the time and the sweep's peak memory for each size: the members are streamed, so memory stays flat as
they grow.

PostHog is judged from its API (it gives last logins). Amplitude's and Mixpanel's SCIM APIs give no last
login, so their sweep streams the members and joins a members export: the CSV is fed in 64 KiB chunks,
as a Slack upload arrives, spooled to a temporary file and indexed by email in a private SQLite file
(bot/reviews/members_export.py). Writing the CSV itself happens before the measurement, as the admin's download
does.

Each size is swept twice against the same sandbox. The first sweep is timed (wall time, members per second)
and measures how far the process's resident memory rose above where it started (Linux's VmHWM, reset
through /proc/self/clear_refs just before; "n/a" elsewhere). The second measures the peak Python heap
(tracemalloc, which slows what it watches, so it is not timed) and SQLite's own allocations
(`sqlite3_memory_highwater`, which tracemalloc cannot see; "n/a" when the sqlite library cannot be reached
through ctypes).

    .venv/bin/python -m bench.sweep_scale [--sizes 10000,100000] [--vendors posthog,amplitude,mixpanel]
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import sqlite3
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from bot.reviews.inactivity import SweepPolicy, VendorSweep, judge_vendor
from bot.reviews.members_export import parse_members_export_chunks
from vendors.amplitude import AmplitudeVendor
from vendors.base import Vendor
from vendors.http import RetryPolicy
from vendors.mixpanel import MixpanelVendor
from vendors.posthog import PostHogVendor
from vendors.sandbox.amplitude import SANDBOX_SCIM_KEY, AmplitudeSandbox
from vendors.sandbox.mixpanel import OWNER_TEAM_ROLE, SANDBOX_SCIM_TOKEN, MixpanelSandbox
from vendors.sandbox.posthog import ORG_ID, SANDBOX_API_KEY, PostHogSandbox

console = Console(width=150)
POLICY = RetryPolicy(max_attempts=3, backoff=0.05)
NOW = datetime(2026, 11, 22, tzinfo=UTC)
CHUNK = 64 * 1024
DOMAIN = "scale.corp.com"


def member_email(n: int) -> str:
    return f"member{n:06d}@{DOMAIN}"


# -- the sandboxes, each in its own process ---------------------------------------------------------------
def serve_posthog(count: int, ready: Any) -> None:
    sandbox = PostHogSandbox(seed=False)
    sandbox.add_many_members(count, domain=DOMAIN)
    sandbox.start()
    ready.put(sandbox.url)
    time.sleep(3600)


def serve_amplitude(count: int, ready: Any) -> None:
    sandbox = AmplitudeSandbox(seed=False)
    for n in range(count):
        sandbox.add_user(member_email(n), pending=False, role="Member")
    sandbox.start()
    ready.put(sandbox.url)
    time.sleep(3600)


def serve_mixpanel(count: int, ready: Any) -> None:
    sandbox = MixpanelSandbox(seed=False)
    for n in range(count):
        sandbox.add_user(member_email(n))
    # One Owner, last seen a year ago: the roles the Teams give are joined too, and the Owner left out.
    sandbox.add_team("Owners", [member_email(0)], org_role=OWNER_TEAM_ROLE)
    sandbox.start()
    ready.put(sandbox.url)
    time.sleep(3600)


def members_export(count: int, into: IO[bytes]) -> None:
    """The admin UI's members list: one in a hundred last seen a year ago, the rest yesterday."""
    into.write(b"Email,Name,Role,Last Seen\n")
    for n in range(count):
        seen = "2025-11-20" if n % 100 == 0 else "2026-11-21"
        into.write(f"{member_email(n)},Member {n},Member,{seen}\n".encode())
    into.flush()


# -- measuring -----------------------------------------------------------------------------------------------
class SqliteMemory:
    """SQLite's own allocator counters, from the library Python's sqlite3 module is linked to."""

    def __init__(self) -> None:
        self._lib: Any = None
        name = ctypes.util.find_library("sqlite3")
        try:
            lib = ctypes.CDLL(name) if name else None
            if lib is not None:
                lib.sqlite3_libversion.restype = ctypes.c_char_p
                if lib.sqlite3_libversion().decode() != sqlite3.sqlite_version:
                    return  # not the library the sqlite3 module uses
                lib.sqlite3_memory_highwater.restype = ctypes.c_int64
                lib.sqlite3_memory_highwater.argtypes = [ctypes.c_int]
                lib.sqlite3_memory_used.restype = ctypes.c_int64
                self._lib = lib
        except (OSError, AttributeError):
            self._lib = None  # statically linked or absent: reported as n/a
        self._base = 0

    def start(self) -> None:
        if self._lib is not None:
            self._base = self._lib.sqlite3_memory_used()
            self._lib.sqlite3_memory_highwater(1)  # reset the high-water mark to what is in use now

    def peak(self) -> float | None:
        """MiB above what was in use at `start`."""
        return (self._lib.sqlite3_memory_highwater(0) - self._base) / 2**20 if self._lib is not None else None


class ResidentMemory:
    """How far this process's resident set rose above where it was at `start` (Linux only)."""

    def __init__(self) -> None:
        self._base: int | None = None

    @staticmethod
    def _status_kib(field_name: str) -> int | None:
        try:
            with open("/proc/self/status") as status:
                for line in status:
                    if line.startswith(field_name + ":"):
                        return int(line.split()[1])
        except OSError:
            return None
        return None

    def start(self) -> None:
        try:
            with open("/proc/self/clear_refs", "w") as clear:
                clear.write("5")  # resets the high-water mark (VmHWM) to the resident set now
        except OSError:
            self._base = None
            return
        self._base = self._status_kib("VmRSS")

    def peak(self) -> float | None:
        """MiB of the high-water mark above the resident set at `start`."""
        high = self._status_kib("VmHWM")
        return (high - self._base) / 1024 if high is not None and self._base is not None else None


@dataclass(frozen=True)
class Figures:
    seconds: float
    resident_mib: float | None
    python_mib: float
    sqlite_mib: float | None
    judged: int
    stale: int
    export_rows: int | None

    @property
    def per_second(self) -> float:
        return self.judged / self.seconds if self.seconds else 0.0


def chunks_of(path: Path) -> Iterator[bytes]:
    with path.open("rb") as file:
        while chunk := file.read(CHUNK):
            yield chunk


def sweep_once(vendor: Vendor, export: Path | None) -> tuple[VendorSweep, int | None]:
    """One sweep of `vendor`, reading its export (if any) as an upload."""
    parsed = parse_members_export_chunks(vendor.name, export.name, chunks_of(export)) if export else None
    try:
        result = judge_vendor(vendor, SweepPolicy(), set(), NOW, parsed)
        rows = len(parsed) if parsed else None
    finally:
        if parsed:
            parsed.close()
    assert result.unjudged is None, result.unjudged
    return result, rows


def measure(make_vendor: Callable[[str], Vendor], serve: Callable[[int, Any], None], count: int,
            export: Path | None, sqlite: SqliteMemory) -> Figures:
    """Two sweeps of one vendor of `count` members: one timed, one under tracemalloc."""
    ready: Any = multiprocessing.Queue()
    server = multiprocessing.Process(target=serve, args=(count, ready), daemon=True)
    server.start()
    try:
        url = ready.get(timeout=900)
        resident = ResidentMemory()
        vendor = make_vendor(url)
        resident.start()
        started = time.perf_counter()
        result, rows = sweep_once(vendor, export)
        seconds = time.perf_counter() - started
        resident_mib = resident.peak()
        vendor = make_vendor(url)  # a fresh connector, so the second sweep starts as the first did
        sqlite.start()
        tracemalloc.start()
        try:
            again, _ = sweep_once(vendor, export)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert (again.members, len(again.stale)) == (result.members, len(result.stale))
        return Figures(seconds, resident_mib, peak / 2**20, sqlite.peak(), result.members, len(result.stale), rows)
    finally:
        server.kill()


@dataclass(frozen=True)
class Case:
    label: str
    make_vendor: Callable[[str], Vendor]
    serve: Callable[[int, Any], None]
    needs_export: bool


CASES = {
    "posthog": Case("PostHog (API)", lambda url: PostHogVendor(SANDBOX_API_KEY, url, ORG_ID, policy=POLICY),
                    serve_posthog, False),
    "amplitude": Case("Amplitude (API + export)", lambda url: AmplitudeVendor(SANDBOX_SCIM_KEY, url, policy=POLICY),
                      serve_amplitude, True),
    "mixpanel": Case("Mixpanel (API + export)",
                     lambda url: MixpanelVendor(SANDBOX_SCIM_TOKEN, url, policy=POLICY),
                     serve_mixpanel, True),
}


def main(sizes: Annotated[str, typer.Option(help="Member counts to compare, comma-separated.")] = "10000,100000",
         vendors: Annotated[str, typer.Option(help="Which vendors, comma-separated.")] = "posthog,amplitude,mixpanel",
         ) -> None:
    counts = [int(s) for s in sizes.split(",")]
    chosen = [CASES[v.strip()] for v in vendors.split(",")]
    sqlite = SqliteMemory()
    table = Table(title="Inactive-user sweep: time (untraced sweep) and peak memory")
    for column in ("vendor", "members", "judged", "inactive found", "export rows", "time (s)", "members/s",
                   "resident rise (MiB)", "peak Python heap (MiB)", "peak SQLite (MiB)"):
        table.add_column(column, justify="right")
    with tempfile.TemporaryDirectory(prefix="sweep-scale-") as scratch:
        for case in chosen:
            for count in counts:
                export = None
                if case.needs_export:
                    export = Path(scratch) / f"members-{count}.csv"
                    if not export.exists():
                        with export.open("wb") as file:
                            members_export(count, file)
                f = measure(case.make_vendor, case.serve, count, export, sqlite)
                sqlite_text = f"{f.sqlite_mib:.1f}" if f.sqlite_mib is not None else "n/a"
                resident_text = f"{f.resident_mib:.1f}" if f.resident_mib is not None else "n/a"
                rows = f"{f.export_rows:,}" if f.export_rows is not None else "-"
                table.add_row(case.label, f"{count:,}", f"{f.judged:,}", f"{f.stale:,}", rows, f"{f.seconds:.1f}",
                              f"{f.per_second:,.0f}", resident_text, f"{f.python_mib:.1f}", sqlite_text)
                console.print(f"  {case.label}, {count:,} members: {f.seconds:.1f} s ({f.per_second:,.0f}/s), "
                              f"resident +{resident_text} MiB; peak {f.python_mib:.1f} MiB Python + {sqlite_text} "
                              "MiB SQLite")
    console.print(table)
    console.print("Peak memory is the sweep's own (this process): the members arrive one page at a time, and an "
                  "export is spooled to disk and indexed by email in SQLite, whose page cache is capped at 2 MiB. "
                  "What grows is the list of the 1% found inactive.")


if __name__ == "__main__":
    typer.run(main)
