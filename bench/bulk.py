"""Benchmark 2, bulk offboarding: N people x the four vendors through the real workflow.

(a) latency-bound: every sandbox adds 50 ms to each call and no rate limit applies. Prints the total
    time, and the same work done one call at a time (a sample, measured in the same run and scaled). In
    the parallel run each connector may have `--connections` calls on the wire at once, as
    OFFBOARD_VENDOR_CONNECTIONS sets in production (default 4, which caps PostHog, a bit over half of all
    calls, at 80 calls a second here); the sample has one call on the wire, in one worker.
(b) rate-bound: every sandbox enforces its vendor's documented limit (PostHog 480/min, Amplitude
    100/min, Kissmetrics 15/min; Mixpanel documents none), all multiplied by one factor so the run
    stays short, and the connectors pace themselves to the same limits (their production policies,
    scaled). Prints the total time, the lower bound those limits set for the calls actually made, and
    the ratio.

Both check every sandbox afterwards: each person removed exactly once everywhere, nobody skipped, no
step failed (a 429 that surfaced would have failed one).

Where things run. The bot runs here as in production: its workflow, its SQLite file, its HTTP clients.
The four sandboxes and the Slack stand-in run in a child process (vendors/sandbox/remote.py), because in
production they answer from elsewhere: hosted in the bot's interpreter, every call they answer takes the
interpreter lock from the bot they serve, so the benchmark would time them as much as the bot. Both
settings, parallel and one at a time, run the same way. `--in-process` hosts them here instead, as the
benchmark did until 2026-12 (slower, for comparison). The "people" who approve and tick checklist items
are played by the benchmark: in the parallel runs by PEOPLE threads at once (in Slack each click is its
own listener thread), in the sample by one, after each other.

    .venv/bin/python -m bench.bulk [--people 200] [--scale 100] [--sample 8] [--connections 16] [--in-process]
"""

from __future__ import annotations

import re
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlmodel import col, select

from bot.demo.localrun import APPROVER, REQUESTER, local_settings
from bot.demo.standin.slack_api import SlackStandIn
from bot.offboarding.values import ActionResult, Reason, RequestDraft
from bot.offboarding.workflow import Workflow
from bot.runtime.app import create_bot
from storage.models import OffboardRequest, RequestStatus, Step, StepStatus
from vendors import amplitude, kissmetrics, posthog
from vendors.base import Role, Vendor
from vendors.http import RetryPolicy
from vendors.sandbox.amplitude import AmplitudeSandbox
from vendors.sandbox.kissmetrics import KissmetricsSandbox
from vendors.sandbox.mixpanel import MixpanelSandbox
from vendors.sandbox.posthog import PostHogSandbox
from vendors.sandbox.remote import RemoteSandbox, SandboxHost

console = Console()
VENDORS = ("posthog", "amplitude", "mixpanel", "kissmetrics")
SANDBOXES: dict[str, type] = {"posthog": PostHogSandbox, "amplitude": AmplitudeSandbox,
                              "mixpanel": MixpanelSandbox, "kissmetrics": KissmetricsSandbox}
DOCUMENTED_PER_MINUTE = {"posthog": posthog.RATE_LIMIT_PER_MINUTE, "amplitude": amplitude.RATE_LIMIT_PER_MINUTE,
                         "kissmetrics": kissmetrics.RATE_LIMIT_PER_MINUTE, "mixpanel": None}
DEFAULT_POLICIES = {"posthog": posthog.DEFAULT_POLICY, "amplitude": amplitude.DEFAULT_POLICY,
                    "kissmetrics": kissmetrics.DEFAULT_POLICY, "mixpanel": RetryPolicy()}
LATENCY = 0.05
PEOPLE = 8  # approvers clicking at once in the parallel runs


@dataclass
class Run:
    seconds: float
    people: int
    calls: dict[str, int]
    failed_steps: int
    problems: list[str]
    once: dict[str, int] = field(default_factory=dict)  # of `calls`, those made once per connector, not per person

    def per_person(self) -> dict[str, float]:
        """Calls per person, leaving out those made once per connector."""
        return {v: (n - self.once.get(v, 0)) / self.people for v, n in self.calls.items()}


def main(
    people: Annotated[int, typer.Option(help="How many people, each in all four tools.")] = 200,
    scale: Annotated[float, typer.Option(help="(b): the factor applied to every documented rate limit.")] = 100.0,
    sample: Annotated[int, typer.Option(help="(a): people in the one-call-at-a-time sample.")] = 8,
    connections: Annotated[int, typer.Option(help="(a): calls each connector may have on the wire at once.")] = 16,
    in_process: Annotated[bool, typer.Option(help="Host the sandboxes and the Slack stand-in in the bot's "
                                                  "interpreter rather than a child process.")] = False,
) -> None:
    where = "in this process" if in_process else "in a child process"
    console.rule(f"(a) latency-bound: 50 ms per call, no rate limit; {connections} calls on the wire per "
                 f"connector; sandboxes {where}")
    parallel = run(people, latency=LATENCY, policies={v: RetryPolicy(max_concurrency=connections) for v in VENDORS},
                   serial=False, in_process=in_process)
    one_at_a_time = run(sample, latency=LATENCY, policies={v: RetryPolicy(max_concurrency=1) for v in VENDORS},
                        serial=True, in_process=in_process)
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
    bounded = run(people, latency=0.0, policies=policies, serial=False, sandbox_limits=limits, in_process=in_process)
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
        sandbox_limits: dict[str, float] | None = None, in_process: bool = False) -> Run:
    with tempfile.TemporaryDirectory() as tmp, stand_ins(in_process) as (slack_url, sandboxes):
        emails = [f"bulk{i:04d}@corp.com" for i in range(people)]
        for name, sandbox in sandboxes.items():
            projects = sandbox.project_ids()[:2]
            for email in emails:
                sandbox.seed_person(email, Role.MEMBER, projects)
            limit = (sandbox_limits or {}).get(name)
            configure(sandbox, latency=latency, rate_limit_per_minute=int(limit) if limit else None)
        connectors: dict[str, Vendor] = {n: s.connector(policies[n]) for n, s in sandboxes.items()}
        before = {n: len(s.calls()) for n, s in sandboxes.items()}
        bot = create_bot(local_settings(Path(tmp) / "bulk.db", _Where(slack_url)), vendors=connectors)  # type: ignore[arg-type]
        workflow = bot.deps.workflow
        if serial:  # one person after another, one vendor after another, one call at a time
            workflow = Workflow(bot.db, connectors, bot.deps.notifier, bot.deps.directory.may_approve,
                                background=ThreadPoolExecutor(max_workers=1), vendor_workers=1)
        started = time.perf_counter()
        offboard_everyone(workflow, emails, serial)
        seconds = time.perf_counter() - started
        made = {n: s.calls()[before[n]:] for n, s in sandboxes.items()}
        calls = {n: len(made[n]) for n in sandboxes}
        once = {n: sum(1 for c in made[n] if _once_per_connector(n, c.path)) for n in sandboxes}
        failed = count_failed_steps(workflow, people)
        problems = check_sandboxes(sandboxes, emails)
        if serial:
            workflow.shutdown()
        bot.stop()
        return Run(seconds, people, calls, failed, problems, once)


@dataclass(frozen=True)
class _Where:
    """All `local_settings` needs of the Slack stand-in: where it answers."""

    url: str


@contextmanager
def stand_ins(in_process: bool) -> Iterator[tuple[str, dict[str, Any]]]:
    """The Slack stand-in and the four sandboxes: in a child process (the default: in production they answer
    from elsewhere, and here they would take the interpreter lock from the bot they are serving), or in
    this one (`--in-process`, as the benchmark ran before)."""
    if not in_process:
        with SandboxHost((*VENDORS, "slack")) as host:
            yield host.sandboxes["slack"].url, {name: host.sandboxes[name] for name in VENDORS}
        return
    with SlackStandIn() as slack:
        sandboxes: dict[str, Any] = {}
        try:
            for name in VENDORS:
                sandboxes[name] = SANDBOXES[name]()
                sandboxes[name].start()
            yield slack.url, sandboxes
        finally:
            for sandbox in sandboxes.values():
                sandbox.stop()


def configure(sandbox: Any, **attributes: Any) -> None:
    if isinstance(sandbox, RemoteSandbox):
        sandbox.configure(**attributes)
        return
    for attribute, value in attributes.items():
        setattr(sandbox, attribute, value)


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
        with ThreadPoolExecutor(max_workers=PEOPLE, thread_name_prefix="person") as people:
            play_people(workflow, set(ids), poll=0.2, people=people)


def finish(workflow: Workflow, request_id: int) -> None:
    workflow.assess(request_id)
    play_people(workflow, {request_id}, poll=0.01)


def play_people(workflow: Workflow, open_ids: set[int], *, poll: float, people: Executor | None = None) -> None:
    """Do what people would (approve, tick checklist items) until every request is over. Each round is two
    cheap queries, where everyone stands and which checklist items are open, so that watching hundreds of
    requests does not compete with the work it watches. With `people`, its threads click at the same time,
    as several approvers do through Slack (each click is its own listener thread there); without, one does."""
    deadline = time.monotonic() + 1800
    while open_ids:
        standing = statuses(workflow, open_ids)
        open_ids -= {i for i, status in standing.items() if status in DONE}
        approvals = [i for i, status in standing.items() if status == RequestStatus.PENDING_APPROVAL]
        acting = {i for i, status in standing.items() if status in (RequestStatus.EXECUTING,
                                                                      RequestStatus.AWAITING_MANUAL)}
        ticks = open_manual_steps(workflow, acting)
        clicks: list[partial[ActionResult]] = [partial(workflow.approve, i, APPROVER) for i in approvals]
        clicks += [partial(workflow.confirm_manual_step, step_id, APPROVER) for step_id in ticks]
        for click, result in zip(clicks, (people.map if people else map)(_click, clicks), strict=True):
            if not result.ok and click.func == workflow.approve:
                raise RuntimeError(f"approval of #{click.args[0]} refused: {result.message}")
        if not open_ids:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(open_ids)} requests did not finish in 30 minutes")
        time.sleep(poll)


def _click(click: partial[ActionResult]) -> ActionResult:
    return click()


DONE = (RequestStatus.COMPLETED, RequestStatus.NEEDS_ATTENTION)


def statuses(workflow: Workflow, ids: set[int]) -> dict[int, str]:
    with workflow.db.session() as session:
        rows = session.exec(select(OffboardRequest.id, OffboardRequest.status).where(col(OffboardRequest.id).in_(ids)))
        return {int(request_id): status for request_id, status in rows}


def open_manual_steps(workflow: Workflow, ids: set[int]) -> list[int]:
    if not ids:
        return []
    with workflow.db.session() as session:
        return [int(i) for i in session.exec(select(Step.id).where(
            col(Step.request_id).in_(ids), col(Step.manual).is_(True), Step.status == StepStatus.PENDING))]


def count_failed_steps(workflow: Workflow, people: int) -> int:
    failed = 0
    for request_id in range(1, people + 1):
        snapshot = workflow.snapshot(request_id)
        assert snapshot is not None
        failed += sum(1 for s in snapshot.steps if s.status == StepStatus.FAILED)
    return failed


# Calls a connector makes once in its life, not once per person: PostHog's key owner (a personal API key
# never changes hands). Counted apart, so calls per person compare between runs of any size.
ONCE_PER_CONNECTOR = {"posthog": re.compile(r"^/api/users/@me/")}


def _once_per_connector(vendor: str, path: str) -> bool:
    pattern = ONCE_PER_CONNECTOR.get(vendor)
    return pattern is not None and pattern.search(path) is not None


def check_sandboxes(sandboxes: dict[str, Any], emails: list[str]) -> list[str]:
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
