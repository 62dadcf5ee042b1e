"""Benchmark 2, bulk offboarding: N people x the four vendors through the real workflow.

(a) latency-bound: every sandbox adds 50 ms to each call and no rate limit applies. Prints the total
    time, and the same work done one call at a time (a sample, measured in the same run and scaled).
(b) rate-bound: every sandbox enforces its vendor's documented limit (PostHog 480/min, Amplitude
    100/min, Kissmetrics 15/min; Mixpanel documents none), all multiplied by one factor so the run
    stays short, and the connectors pace themselves to the same limits. Prints the total time, the
    lower bound those limits set for the calls actually made, and the ratio.

Both check every sandbox afterwards: each person removed exactly once everywhere, nobody skipped, no
step failed (a 429 that surfaced would have failed one).

    .venv/bin/python -m bench.bulk [--people 200] [--scale 100] [--sample 8]
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlmodel import col, select

from bot.app import create_bot
from bot.localrun import APPROVER, REQUESTER, local_settings
from bot.standin.slack_api import SlackStandIn
from bot.workflow import Reason, RequestDraft, Workflow
from storage.models import OffboardRequest, RequestStatus, StepStatus
from vendors import amplitude, kissmetrics, posthog
from vendors.base import Role, Vendor
from vendors.http import RetryPolicy
from vendors.sandbox.amplitude import AmplitudeSandbox
from vendors.sandbox.contract import ContractSandbox
from vendors.sandbox.kissmetrics import KissmetricsSandbox
from vendors.sandbox.mixpanel import MixpanelSandbox
from vendors.sandbox.posthog import PostHogSandbox

console = Console()
VENDORS = ("posthog", "amplitude", "mixpanel", "kissmetrics")
SANDBOXES: dict[str, type] = {"posthog": PostHogSandbox, "amplitude": AmplitudeSandbox,
                              "mixpanel": MixpanelSandbox, "kissmetrics": KissmetricsSandbox}
DOCUMENTED_PER_MINUTE = {"posthog": posthog.RATE_LIMIT_PER_MINUTE, "amplitude": amplitude.RATE_LIMIT_PER_MINUTE,
                         "kissmetrics": kissmetrics.RATE_LIMIT_PER_MINUTE, "mixpanel": None}
DEFAULT_POLICIES = {"posthog": posthog.DEFAULT_POLICY, "amplitude": amplitude.DEFAULT_POLICY,
                    "kissmetrics": kissmetrics.DEFAULT_POLICY, "mixpanel": RetryPolicy()}
LATENCY = 0.05


@dataclass
class Run:
    seconds: float
    people: int
    calls: dict[str, int]
    failed_steps: int
    problems: list[str]


def main(
    people: Annotated[int, typer.Option(help="How many people, each in all four tools.")] = 200,
    scale: Annotated[float, typer.Option(help="(b): the factor applied to every documented rate limit.")] = 100.0,
    sample: Annotated[int, typer.Option(help="(a): people in the one-call-at-a-time sample.")] = 8,
) -> None:
    console.rule("(a) latency-bound: 50 ms per call, no rate limit")
    parallel = run(people, latency=LATENCY, policies={v: RetryPolicy() for v in VENDORS}, serial=False)
    one_at_a_time = run(sample, latency=LATENCY, policies={v: RetryPolicy(max_concurrency=1) for v in VENDORS},
                        serial=True)
    per_person = one_at_a_time.seconds / sample
    estimate = per_person * people
    table = Table()
    for column in ("setting", "people", "vendor calls", "time (s)"):
        table.add_column(column, justify="right")
    table.add_row("parallel", str(people), str(sum(parallel.calls.values())), f"{parallel.seconds:.1f}")
    table.add_row("one call at a time (sample)", str(sample), str(sum(one_at_a_time.calls.values())),
                  f"{one_at_a_time.seconds:.1f}")
    table.add_row("one call at a time (scaled)", str(people), "", f"{estimate:.1f}")
    console.print(table)
    speedup = estimate / parallel.seconds
    console.print(f"Speed-up: {speedup:.1f}x ({'meets' if speedup >= 10 else 'MISSES'} the 10x target)")
    verdict(parallel)

    console.rule(f"(b) rate-bound: documented limits x {scale:g}")
    policies = {v: DEFAULT_POLICIES[v].scaled(scale) for v in VENDORS}
    limits = {v: (DOCUMENTED_PER_MINUTE[v] or 0) * scale for v in VENDORS}
    bounded = run(people, latency=0.0, policies=policies, serial=False, sandbox_limits=limits)
    bounds = {v: bounded.calls[v] / (limits[v] / 60) for v in VENDORS if limits[v]}
    bound = max(bounds.values())
    table = Table()
    for column in ("vendor", "limit / min", "calls made", "lower bound (s)"):
        table.add_column(column, justify="right")
    for vendor in VENDORS:
        limit = f"{limits[vendor]:g}" if limits[vendor] else "none documented"
        shown = f"{bounds[vendor]:.1f}" if vendor in bounds else "-"
        table.add_row(vendor, limit, str(bounded.calls[vendor]), shown)
    console.print(table)
    ratio = bounded.seconds / bound
    console.print(f"Total {bounded.seconds:.1f} s against a lower bound of {bound:.1f} s: {ratio:.2f}x "
                  f"({'meets' if ratio <= 1.25 else 'MISSES'} the 1.25x target)")
    verdict(bounded)


def run(people: int, *, latency: float, policies: dict[str, RetryPolicy], serial: bool,
        sandbox_limits: dict[str, float] | None = None) -> Run:
    with tempfile.TemporaryDirectory() as tmp, SlackStandIn() as slack:
        sandboxes: dict[str, ContractSandbox] = {}
        try:
            for name in VENDORS:
                sandbox = SANDBOXES[name]()
                sandbox.start()
                sandboxes[name] = sandbox
            emails = [f"bulk{i:04d}@corp.com" for i in range(people)]
            for name, sandbox in sandboxes.items():
                for email in emails:
                    sandbox.seed_person(email, Role.MEMBER, sandbox.project_ids()[:2])
                sandbox.latency = latency  # type: ignore[attr-defined]
                limit = (sandbox_limits or {}).get(name)
                sandbox.rate_limit_per_minute = int(limit) if limit else None  # type: ignore[attr-defined]
            connectors: dict[str, Vendor] = {n: s.connector(policies[n]) for n, s in sandboxes.items()}
            before = {n: len(s.calls()) for n, s in sandboxes.items()}
            bot = create_bot(local_settings(Path(tmp) / "bulk.db", slack), vendors=connectors)
            workflow = bot.deps.workflow
            if serial:  # one person after another, one vendor after another, one call at a time
                workflow = Workflow(bot.db, connectors, bot.deps.notifier, bot.deps.directory.may_approve,
                                    background=ThreadPoolExecutor(max_workers=1), vendor_workers=1)
            started = time.perf_counter()
            offboard_everyone(workflow, emails, serial)
            seconds = time.perf_counter() - started
            calls = {n: len(s.calls()) - before[n] for n, s in sandboxes.items()}
            failed = count_failed_steps(workflow, people)
            problems = check_sandboxes(sandboxes, emails)
            bot.stop()
            if serial:
                workflow.shutdown()
            return Run(seconds, people, calls, failed, problems)
        finally:
            for sandbox in sandboxes.values():
                sandbox.stop()


def offboard_everyone(workflow: Workflow, emails: list[str], serial: bool) -> None:
    ids = []
    for email in emails:
        request_id = workflow.create_request(RequestDraft(subject_email=email, reason=Reason.RESIGNATION,
                                                          requester_id=REQUESTER, vendors=VENDORS))
        ids.append(request_id)
        if serial:
            finish(workflow, request_id)
        else:
            workflow.start_assessment(request_id)
    if not serial:
        open_ids = set(ids)
        deadline = time.monotonic() + 1800
        while open_ids:
            # One cheap query for where everyone stands; a full snapshot only for those a person must act on.
            for request_id, status in statuses(workflow, open_ids).items():
                if status in DONE:
                    open_ids.discard(request_id)
                elif status in NEEDS_A_PERSON:
                    advance(workflow, request_id)
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(open_ids)} requests did not finish in 30 minutes")
            time.sleep(0.2)


DONE = (RequestStatus.COMPLETED, RequestStatus.NEEDS_ATTENTION)
NEEDS_A_PERSON = (RequestStatus.PENDING_APPROVAL, RequestStatus.EXECUTING, RequestStatus.AWAITING_MANUAL)


def statuses(workflow: Workflow, ids: set[int]) -> dict[int, str]:
    with workflow.db.session() as session:
        rows = session.exec(select(OffboardRequest.id, OffboardRequest.status).where(col(OffboardRequest.id).in_(ids)))
        return {int(request_id): status for request_id, status in rows}


def finish(workflow: Workflow, request_id: int) -> None:
    workflow.assess(request_id)
    while not advance(workflow, request_id):
        time.sleep(0.01)


def advance(workflow: Workflow, request_id: int) -> bool:
    """Do what a person would at this point (approve, tick the checklist); True once it is over."""
    snapshot = workflow.snapshot(request_id)
    assert snapshot is not None
    if snapshot.status in DONE:
        return True
    if snapshot.status == RequestStatus.PENDING_APPROVAL:
        decided = workflow.approve(request_id, APPROVER)
        if not decided.ok:
            raise RuntimeError(f"approval of #{request_id} refused: {decided.message}")
    elif snapshot.status in (RequestStatus.EXECUTING, RequestStatus.AWAITING_MANUAL):
        for step in snapshot.manual_steps_open:
            assert step.id is not None
            workflow.confirm_manual_step(step.id, APPROVER)
    return False


def count_failed_steps(workflow: Workflow, people: int) -> int:
    failed = 0
    for request_id in range(1, people + 1):
        snapshot = workflow.snapshot(request_id)
        assert snapshot is not None
        failed += sum(1 for s in snapshot.steps if s.status == StepStatus.FAILED)
    return failed


def check_sandboxes(sandboxes: dict[str, ContractSandbox], emails: list[str]) -> list[str]:
    problems = []
    for name, sandbox in sandboxes.items():
        writes = Counter(sandbox.writes_about(email) for email in emails)
        for email in emails:
            seat = sandbox.seat(email)
            if seat is not None and seat.active:
                problems.append(f"{name}: {email} still has access")
        if len(writes) != 1:  # everyone was seeded alike, so a lost or doubled call shows as an odd count
            problems.append(f"{name}: mutating calls per person differ: {dict(writes)}")
        deletes = getattr(sandbox, "delete_count", None)
        if deletes and name != "mixpanel":
            doubled = [e for e in emails if deletes(e) != 1]
            if doubled:
                problems.append(f"{name}: {len(doubled)} people not deleted exactly once")
    return problems


def verdict(run: Run) -> None:
    calls = ", ".join(f"{v} {n}" for v, n in run.calls.items())
    console.print(f"Vendor calls: {calls}. Failed steps: {run.failed_steps}.")
    if run.problems:
        console.print(f"[bold red]{len(run.problems)} problems:[/]")
        for problem in run.problems[:20]:
            console.print(f"  • {problem}")
    else:
        console.print(f"Every sandbox checked: all {run.people} people removed, each exactly once; none skipped.")


if __name__ == "__main__":
    typer.run(main)
