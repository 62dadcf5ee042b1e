"""Benchmark 4, emergency latency: from `/offboard <email> emergency` to the removal verified in every tool
with an API, for EMERGENCIES people one after another, each sandbox answering every call 50 ms late.

Four tools are configured as the demo has them: PostHog, Amplitude and Mixpanel through their APIs
(sandboxes), Kissmetrics by hand (it has no user API: its removal is a checklist item a person ticks, so it
is not on the clock here). The bot's own emergency clock (`Emergency.seconds_to_removal`) waits for that
tick too, so it is not what is measured: the figure is, on the bot's timestamps, from the command reaching the
bot (`Emergency.started_at`) to the last removal step of a tool with an API finishing (every step
`bot.offboarding.modes.is_removal_critical` names, the verification of the removal included). Beside it, the time seen
from outside (the signed slash command sent, to those steps seen done in the database, polled every POLL
seconds), and the ack.

Where the time goes, per emergency, from the bot's step records: the start (command received to the first
removal step starting: the request, the assessment that reads each tool, the plan), and each tool's removal
steps (first started to last finished; the tools run side by side).

Where things run: the three sandboxes in a child process (vendors/sandbox/remote.py; in production they
answer from elsewhere, and hosted here they would take the interpreter lock from the bot); the Slack
stand-in in this process, as the driver that signs the slash commands reads its response URLs, so its own
small cost is part of the figures. The bot runs here in HTTP mode on a SQLite file.

Each connector may have `--connections` calls on the wire at once (OFFBOARD_VENDOR_CONNECTIONS; 4 by default,
as in production). PostHog's assessment (about 25 calls, most of them the person's assets in each project)
is what that cap bounds.

    .venv/bin/python -m bench.emergency_latency [--emergencies 50] [--latency 0.05] [--connections 4]
"""

from __future__ import annotations

import math
import statistics
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlmodel import col, select

from bot.demo.localrun import COMMAND_CHANNEL, FAST_RETRIES, RESPONDER, SIGNING_SECRET, local_settings
from bot.demo.standin.driver import SlackDriver
from bot.demo.standin.slack_api import SlackStandIn
from bot.offboarding.modes import is_removal_critical
from bot.runtime.app import create_bot
from storage.db import Database
from storage.models import Emergency, OffboardRequest, Step, StepStatus
from vendors.base import Role, Vendor
from vendors.kissmetrics import KissmetricsVendor
from vendors.sandbox.remote import SandboxHost

console = Console(width=150)
API_VENDORS = ("posthog", "amplitude", "mixpanel")
MANUAL_VENDORS = ("kissmetrics",)  # no user API: a person removes them by hand
POLL = 0.005  # seconds between looks for the verified removal (outside view only)
TIMEOUT = 60.0  # seconds one emergency may take before the benchmark gives up
TARGET_P99 = 1.0


@dataclass(frozen=True)
class Timing:
    email: str
    bot_seconds: float  # on the bot's timestamps: command received → last API removal step (verify) done
    outside_seconds: float  # slash command sent → verified removal seen
    ack_seconds: float
    start_seconds: float  # command received → first vendor step started
    vendor_seconds: dict[str, float]  # per tool: its first removal step started → its last finished


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile: with 50 values, p99 is the slowest of them."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def main(
    emergencies: Annotated[int, typer.Option(help="How many emergencies, one after another.")] = 50,
    latency: Annotated[float, typer.Option(help="Seconds each sandbox adds to every call.")] = 0.05,
    connections: Annotated[int, typer.Option(help="Calls each connector may have on the wire at once.")] = 4,
) -> None:
    policy = replace(FAST_RETRIES, max_concurrency=connections)
    emails = [f"incident{n:03d}@corp.com" for n in range(emergencies)]
    with tempfile.TemporaryDirectory() as tmp, SandboxHost(API_VENDORS) as host, SlackStandIn() as slack:
        sandboxes = host.sandboxes
        for sandbox in sandboxes.values():
            projects = sandbox.project_ids()[:2]
            for email in emails:
                sandbox.seed_person(email, Role.MEMBER, projects)
            sandbox.configure(latency=latency)
        connectors: dict[str, Vendor] = {n: s.connector(policy) for n, s in sandboxes.items()}
        connectors["kissmetrics"] = KissmetricsVendor()
        before = {n: len(s.calls()) for n, s in sandboxes.items()}
        bot = create_bot(local_settings(Path(tmp) / "emergency.db", slack), vendors=connectors)
        http = bot.start_http()
        driver = SlackDriver(http.url, SIGNING_SECRET, slack)
        try:
            timings = [one_emergency(driver, bot.db, email) for email in emails]
        finally:
            driver.close()
            bot.stop()
            for connector in connectors.values():
                close = getattr(connector, "close", None)
                if close is not None:
                    close()
        calls = {n: (len(s.calls()) - before[n]) / emergencies for n, s in sandboxes.items()}
        still_in = [f"{n}: {e}" for n, s in sandboxes.items() for e in emails
                    if (seat := s.seat(e)) is not None and seat.active]
    report(timings, calls, latency, connections, still_in)


def one_emergency(driver: SlackDriver, db: Database, email: str) -> Timing:
    sent = time.perf_counter()
    response = driver.slash_command("/offboard", f"{email} emergency benchmark", user_id=RESPONDER,
                                    channel_id=COMMAND_CHANNEL)
    ack = time.perf_counter() - sent
    if response.status_code != 200:
        raise RuntimeError(f"the command for {email} was answered {response.status_code}")
    deadline = sent + TIMEOUT
    while True:
        found = verified(db, email)
        if found is not None:
            break
        if time.perf_counter() > deadline:
            raise RuntimeError(f"the emergency removal of {email} was not verified in {TIMEOUT:.0f} s")
        time.sleep(POLL)
    outside = time.perf_counter() - sent
    emergency, steps = found
    critical = [s for s in steps if s.vendor in API_VENDORS]
    done_at = max(_at(s.finished_at) for s in critical)
    return Timing(email, done_at - _at(emergency.started_at), outside, ack, *breakdown(emergency, steps))


def verified(db: Database, email: str) -> tuple[Emergency, list[Step]] | None:
    """The emergency and its removal steps in the tools with an API, once every one of them is done."""
    with db.session() as session:
        emergency = session.exec(
            select(Emergency).join(OffboardRequest, col(OffboardRequest.id) == Emergency.request_id)
            .where(OffboardRequest.subject_email == email)).first()
        if emergency is None:
            return None
        steps = [s for s in session.exec(select(Step).where(Step.request_id == emergency.request_id))
                 if s.vendor in API_VENDORS and is_removal_critical(s.kind, s.key, s.manual)]
        if {s.vendor for s in steps} != set(API_VENDORS) or any(s.status != StepStatus.DONE for s in steps):
            return None  # not planned yet, or still removing
        if any(s.manual for s in steps):
            raise RuntimeError(f"a tool with an API left part of removing {email} to a person")
        return emergency, steps


def breakdown(emergency: Emergency, steps: list[Step]) -> tuple[float, dict[str, float]]:
    """(start, per tool) seconds: received to the first removal step starting, and each tool's removal steps."""
    began = min(_at(s.started_at) for s in steps)
    by_vendor: dict[str, list[Step]] = defaultdict(list)
    for step in steps:
        by_vendor[step.vendor].append(step)
    vendor_seconds = {v: (max(_at(s.finished_at) for s in group) - min(_at(s.started_at) for s in group))
                      for v, group in by_vendor.items()}
    return began - _at(emergency.started_at), vendor_seconds


def _at(moment: datetime | None) -> float:
    assert moment is not None
    return moment.timestamp()


def report(timings: list[Timing], calls: dict[str, float], latency: float, connections: int,
           still_in: list[str]) -> None:
    def row(label: str, values: list[float]) -> None:
        table.add_row(label, f"{percentile(values, 50) * 1000:.0f}", f"{percentile(values, 99) * 1000:.0f}",
                      f"{max(values) * 1000:.0f}", f"{statistics.fmean(values) * 1000:.0f}")

    console.rule(f"Emergency removal: {len(timings)} emergencies, one after another; every sandbox call "
                 f"{latency * 1000:.0f} ms late; {connections} calls on the wire per tool; tools with an API: "
                 f"{', '.join(API_VENDORS)} (by hand: {', '.join(MANUAL_VENDORS)})")
    table = Table()
    for column in ("", "p50 (ms)", "p99 (ms)", "max (ms)", "mean (ms)"):
        table.add_column(column, justify="right")
    row("command received → removed and verified (bot)", [t.bot_seconds for t in timings])
    row("command sent → seen done (outside)", [t.outside_seconds for t in timings])
    row("  ack of the slash command", [t.ack_seconds for t in timings])
    row("  start: received → first removal step", [t.start_seconds for t in timings])
    for vendor in API_VENDORS:
        row(f"  {vendor}: its removal steps", [t.vendor_seconds.get(vendor, 0.0) for t in timings])
    console.print(table)
    console.print("Vendor calls per emergency: " + ", ".join(f"{v} {n:.1f}" for v, n in calls.items())
                  + f" (each at least {latency * 1000:.0f} ms). The tools' steps run side by side, so the "
                    "slowest tool's share, not the sum, adds to the start.")
    p99 = percentile([t.bot_seconds for t in timings], 99)
    console.print(f"p99 {p99:.2f} s ({'meets' if p99 <= TARGET_P99 else 'MISSES'} the {TARGET_P99:.1f} s target)")
    if still_in:
        console.print(f"[bold red]{len(still_in)} still have access:[/] {', '.join(still_in[:10])}")
    else:
        console.print(f"Every sandbox checked: all {len(timings)} people removed.")


if __name__ == "__main__":
    typer.run(main)
