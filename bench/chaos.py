"""Chaos: real `offboard serve` processes sharing one SQLite file on a small filesystem of its own, while a
seeded timeline SIGKILLs them (and starts them again), makes Slack answer 500 or 429 for seconds at a time,
makes PostHog fail, and fills the disk for a moment. People are played as in Slack: they act only on what the
card shows them (Approve, Retry, Mark done), and try again when told nothing was recorded.

Afterwards, with every fault over: every request is completed with its notices sent, the one card each
request has shows that, every removal happened exactly once at PostHog, and `offboard audit verify` passes.
The fault test runs a small configuration (tests/faults/test_chaos.py); a larger one runs from here:

    .venv/bin/python -m bench.chaos [--requests 50] [--seed 7] [--window 40]

Needs root: the small filesystem is a tmpfs mount (bot/demo/standin/disk.py)."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlmodel import col, select

from bot.demo.localrun import BOT_TOKEN, SIGNING_SECRET
from bot.demo.served import ServedBot
from bot.demo.standin.disk import SmallDisk
from bot.demo.standin.driver import SlackDriver
from bot.demo.standin.slack_api import SlackStandIn
from bot.offboarding.slack import blocks
from bot.offboarding.values import NOTIFY_VENDOR, STATUS_WORDS
from storage.db import Database
from storage.models import OffboardRequest, RequestStatus, Step, StepStatus
from vendors.base import Role
from vendors.sandbox.posthog import ORG_ID, SANDBOX_API_KEY, PostHogSandbox
from vendors.sandbox.server import Fault

APPROVALS = "CAPPROVALS"
REQUESTER, APPROVER = "UREQ", "UAPP1"
CLICK_EVERY = 1.0  # seconds between a person's clicks on one card (they read the card first)


@dataclass(frozen=True)
class ChaosConfig:
    requests: int = 12
    seed: int = 20261204
    instances: int = 2
    window: float = 20.0  # seconds of faults, from the first request on
    kills: int = 2
    slack_bursts: int = 4
    vendor_faults: int = 4
    disk_full_seconds: float = 1.5
    lease_seconds: float = 2.0
    settle_timeout: float = 90.0  # after the window: how long everything may take to converge


@dataclass
class ChaosReport:
    config: ChaosConfig
    statuses: dict[str, str] = field(default_factory=dict)  # email -> request status
    open_steps: dict[str, list[str]] = field(default_factory=dict)  # email -> steps not done
    cards: dict[str, int] = field(default_factory=dict)  # email -> cards posted for it
    card_final: dict[str, bool] = field(default_factory=dict)  # email -> its card shows "Completed"
    deletes: dict[str, int] = field(default_factory=dict)  # email -> PostHog removals
    audit_ok: bool = False
    audit_output: str = ""
    events: list[str] = field(default_factory=list)  # the faults, as they happened
    clicks: int = 0
    told_nothing_recorded: int = 0
    slack_calls_refused: int = 0
    wall_seconds: float = 0.0
    converged_after_faults: float = 0.0  # seconds from the last fault's end to everything final

    @property
    def problems(self) -> list[str]:
        found = [f"{e}: {s}" for e, s in self.statuses.items() if s != RequestStatus.COMPLETED]
        found += [f"{e}: steps left {s}" for e, s in self.open_steps.items() if s]
        found += [f"{e}: {n} cards" for e, n in self.cards.items() if n != 1]
        found += [f"{e}: the card does not show it completed" for e, ok in self.card_final.items() if not ok]
        found += [f"{e}: removed {n} times" for e, n in self.deletes.items() if n != 1]
        if not self.audit_ok:
            found.append(f"audit verify failed: {self.audit_output}")
        return found


class Chaos:
    def __init__(self, config: ChaosConfig, workdir: Path) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.workdir = workdir
        self.disk = SmallDisk(workdir / "disk", size_mb=64)
        self.report = ChaosReport(config)
        self.emails = [f"chaos{n:03d}@corp.com" for n in range(config.requests)]
        self._guard = threading.Lock()
        self._down: set[int] = set()  # instances killed and not started again yet
        self._last_click: dict[int, float] = {}

    # -- the world --------------------------------------------------------------------------------------------
    def run(self) -> ChaosReport:
        started = time.monotonic()
        self.disk.mount()
        try:
            with SlackStandIn() as slack, PostHogSandbox() as posthog:
                self.slack, self.posthog = slack, posthog
                for email in self.emails:
                    posthog.seed_person(email, Role.MEMBER, posthog.project_ids()[:1])
                self.bots = [ServedBot(self._env(), self.workdir) for _ in range(self.config.instances)]
                self._start_all()
                self.db = Database(self.disk.url)
                self.drivers = [SlackDriver(b.events_url, SIGNING_SECRET, slack) for b in self.bots]
                try:
                    self._play(started)
                finally:
                    for bot in self.bots:
                        bot.stop()
                    self.db.dispose()
                self._check()
        finally:
            self.disk.free()
            self.disk.unmount()
        self.report.wall_seconds = time.monotonic() - started
        return self.report

    def _env(self) -> dict[str, str]:
        return {
            "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": f"{self.slack.url}/api/", "DATABASE_URL": self.disk.url,
            "OFFBOARD_APPROVALS_CHANNEL": APPROVALS, "OFFBOARD_APPROVERS": APPROVER,
            "POSTHOG_API_KEY": SANDBOX_API_KEY, "POSTHOG_HOST": self.posthog.url, "POSTHOG_ORG_ID": ORG_ID,
            "KISSMETRICS_ENABLED": "true",  # a checklist a person ticks on the card
            "OFFBOARD_LEASE_SECONDS": str(self.config.lease_seconds), "OFFBOARD_SCHEDULER_INTERVAL": "1",
            "OFFBOARD_REMINDER_HOURS": "1000", "OFFBOARD_ESCALATE_AFTER_HOURS": "2000",
        }

    def _start_all(self) -> None:
        starting = [threading.Thread(target=bot.start) for bot in self.bots]
        for thread in starting:
            thread.start()
        for thread in starting:
            thread.join()

    # -- the faults -------------------------------------------------------------------------------------------
    def _timeline(self) -> list[tuple[float, str, Callable[[], None]]]:
        window, rng = self.config.window, self.rng
        events: list[tuple[float, str, Callable[[], None]]] = []
        for _ in range(self.config.kills):
            victim, pause = rng.randrange(self.config.instances), rng.uniform(0.5, 2.0)
            events.append((rng.uniform(1.0, window - 3), f"SIGKILL instance {victim}, back after {pause:.1f} s",
                           lambda v=victim, p=pause: self._kill(v, p)))
        for _ in range(self.config.slack_bursts):
            method = rng.choice(["chat.update", "chat.postMessage"])
            status, seconds = rng.choice([500, 429]), rng.uniform(1.0, 4.0)
            events.append((rng.uniform(0.0, window - 4), f"Slack {method} answers {status} for {seconds:.1f} s",
                           lambda m=method, s=status, d=seconds: self._slack_burst(m, s, d)))
        for _ in range(self.config.vendor_faults):
            kind = rng.choice(["500", "429", "slow"])
            events.append((rng.uniform(0.0, window - 2), f"PostHog DELETE: {kind}",
                           lambda k=kind: self._vendor_fault(k)))
        if self.config.disk_full_seconds:
            seconds = self.config.disk_full_seconds
            events.append((rng.uniform(2.0, window - seconds - 1), f"disk full for {seconds:.1f} s",
                           lambda: self._disk_full(seconds)))
        return sorted(events, key=lambda e: e[0])

    def _faults(self, origin: float, events: list[tuple[float, str, Callable[[], None]]]) -> None:
        threads = []
        for at, what, act in events:
            time.sleep(max(0.0, origin + at - time.monotonic()))
            self.report.events.append(f"{at:5.1f} s  {what}")
            thread = threading.Thread(target=act)  # a fault that lasts runs beside the next ones
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join()

    def _kill(self, victim: int, pause: float) -> None:
        with self._guard:  # one instance stays up while another is down (a deploy, a crash: not an outage)
            if victim in self._down or (self.config.instances > 1 and len(self._down) >= self.config.instances - 1):
                return
            self._down.add(victim)
        self.bots[victim].kill()
        time.sleep(pause)
        for _ in range(10):  # a start during the disk-full moment may fail: started again, as a supervisor would
            try:
                self.bots[victim].start()
                break
            except RuntimeError:
                time.sleep(0.5)
        with self._guard:
            self._down.discard(victim)

    def _slack_burst(self, method: str, status: int, seconds: float) -> None:
        fault = (self.slack.rate_limit(method, retry_after=1, times=None) if status == 429
                 else self.slack.fail(method, status=status))
        time.sleep(seconds)
        self.slack.heal(fault)

    def _vendor_fault(self, kind: str) -> None:
        where = {"method": "DELETE", "path_pattern": r"/members/"}
        fault = {"500": Fault("status", 500, {"detail": "boom"}, times=2, **where),
                 "429": Fault("status", 429, {"detail": "slow down"}, {"Retry-After": "1"}, times=2, **where),
                 "slow": Fault("delay", delay=1.5, times=1, **where)}[kind]
        self.posthog.inject(fault)

    def _disk_full(self, seconds: float) -> None:
        self.disk.fill()
        time.sleep(seconds)
        self.disk.free()

    # -- the people -------------------------------------------------------------------------------------------
    def _play(self, started: float) -> None:
        origin = time.monotonic()
        faults = threading.Thread(target=self._faults, args=(origin, self._timeline()))
        faults.start()
        try:
            for email in self.emails:
                self._ask_for(email)
                self._act_on_cards()
            deadline = origin + self.config.window + self.config.settle_timeout
            while faults.is_alive() or not self._all_final():
                if time.monotonic() > deadline:
                    break
                self._act_on_cards()
                time.sleep(0.2)
        finally:
            faults.join()
        self.report.converged_after_faults = max(0.0, time.monotonic() - origin - self.config.window)

    def _driver(self) -> SlackDriver:
        with self._guard:
            live = [n for n in range(len(self.bots)) if n not in self._down]
        return self.drivers[self.rng.choice(live or [0])]

    def _ask_for(self, email: str) -> None:
        """/offboard, then the form: again (as a person would) when an instance died under it or nothing
        was recorded."""
        for _ in range(30):
            before = len(self.slack.calls("views.open"))
            try:
                self._driver().slash_command("/offboard", email, user_id=REQUESTER, channel_id="CREQ")
                if not _wait(lambda b=before: len(self.slack.calls("views.open")) > b, 5.0):
                    continue
                view = self.slack.calls("views.open")[-1].params["view"]
                answer = self._driver().submit_view(view, {"reason": "resignation"}, user_id=REQUESTER)
            except Exception:  # the instance was killed mid-request
                time.sleep(0.3)
                continue
            if answer.status_code == 200 and answer.text in ("", "{}"):
                if _wait(lambda: self._request(email) is not None, 5.0):
                    return
            elif "Nothing was recorded" in answer.text:
                self.report.told_nothing_recorded += 1
            time.sleep(0.3)
        raise AssertionError(f"could not ask for {email}'s offboarding")

    def _request(self, email: str) -> OffboardRequest | None:
        with self.db.session() as session:
            return session.exec(select(OffboardRequest).where(OffboardRequest.subject_email == email)).first()

    def _act_on_cards(self) -> None:
        with self.db.session() as session:
            requests = list(session.exec(select(OffboardRequest).where(col(OffboardRequest.card_ts).is_not(None))))
            manual_open = set(session.exec(select(Step.request_id).where(col(Step.manual),
                                                                         Step.status == StepStatus.PENDING)))
        for request in requests:
            assert request.id is not None and request.card_ts is not None
            if time.monotonic() - self._last_click.get(request.id, 0.0) < CLICK_EVERY:
                continue
            card = self.slack.message(APPROVALS, request.card_ts)
            if card is None:
                continue
            found = _buttons(card)
            click = (next(((a, v) for a, v in found if a == blocks.APPROVE), None)
                     or next(((a, v) for a, v in found if a == blocks.RETRY), None))
            checklist = click is None and request.id in manual_open and any(a == blocks.DETAILS for a, _ in found)
            if click is None and not checklist:
                continue
            self._last_click[request.id] = time.monotonic()
            self.report.clicks += 1
            try:
                if click is not None:
                    self._driver().click(card, click[0], user_id=APPROVER, value=click[1], channel_id=APPROVALS)
                else:
                    self._tick_in_details(card)
            except Exception:  # the instance was killed mid-click: the person clicks again
                continue

    def _tick_in_details(self, card: dict[str, Any]) -> None:
        """Mark done lives in the card's Details view: open it, as a person does, and tick the first item."""
        driver = self._driver()
        driver.click(card, blocks.DETAILS, user_id=APPROVER, channel_id=APPROVALS)
        trigger = driver.last_trigger_id
        if not _wait(lambda: any(c.params.get("trigger_id") == trigger for c in self.slack.calls("views.open")), 3.0):
            return
        call = next(c for c in self.slack.calls("views.open") if c.params.get("trigger_id") == trigger)
        view = self.slack.view(call.response["view"]["id"]) if call.ok and call.response else None
        values = [v for a, v in _buttons(view or {}) if a == blocks.CONFIRM]
        if view is not None and values:
            driver.click_in_view(view, blocks.CONFIRM, user_id=APPROVER, value=values[0])

    def _all_final(self) -> bool:
        with self.db.session() as session:
            requests = list(session.exec(select(OffboardRequest)))
            open_steps = session.exec(select(Step.id).where(Step.status != StepStatus.DONE)).first()
        if len(requests) < len(self.emails) or open_steps is not None:
            return False
        if any(r.status != RequestStatus.COMPLETED or r.card_ts is None for r in requests):
            return False
        return all(_shows_completed(self.slack.message(APPROVALS, r.card_ts or "")) for r in requests)

    # -- the invariants ---------------------------------------------------------------------------------------
    def _check(self) -> None:
        report = self.report
        db = Database(self.disk.url)
        try:
            with db.session() as session:
                requests = {r.subject_email: r for r in session.exec(select(OffboardRequest))}
                steps = list(session.exec(select(Step)))
        finally:
            db.dispose()
        top_level = self.slack.messages(APPROVALS)
        for email in self.emails:
            request = requests.get(email)
            report.statuses[email] = request.status if request else "never recorded"
            mine = [s for s in steps if request and s.request_id == request.id]
            report.open_steps[email] = [f"{s.vendor}:{s.kind}={s.status}" for s in mine if s.status != StepStatus.DONE]
            report.cards[email] = sum(email in json.dumps(m) for m in top_level)
            card = self.slack.message(APPROVALS, request.card_ts) if request and request.card_ts else None
            report.card_final[email] = _shows_completed(card)
            report.deletes[email] = self.posthog.delete_count(email)
            if request and request.status != RequestStatus.COMPLETED:  # what the person saw, to tell why
                report.open_steps[email].append(f"card buttons {_buttons(card) if card else None}")
            if request and not any(s.vendor == NOTIFY_VENDOR for s in mine):
                report.open_steps[email].append("no notices planned")
        report.slack_calls_refused = sum(1 for c in self.slack.calls() if c.status != 200)
        report.told_nothing_recorded += sum("Nothing was recorded" in json.dumps(c.params)
                                            for c in self.slack.calls("chat.postEphemeral"))
        verified = subprocess.run([sys.executable, "-m", "bot.cli.main", "audit", "verify"], capture_output=True,
                                  text=True, env={**os.environ, "DATABASE_URL": self.disk.url}, cwd=self.workdir)
        report.audit_ok = verified.returncode == 0
        report.audit_output = (verified.stdout + verified.stderr).strip()[-500:]


def _wait(check: Callable[[], Any], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return False


def _buttons(card: dict[str, Any]) -> list[tuple[str, str | None]]:
    found: list[tuple[str, str | None]] = []
    for block in card.get("blocks") or []:
        elements = [*(block.get("elements") or []), *([block["accessory"]] if "accessory" in block else [])]
        found += [(e["action_id"], e.get("value")) for e in elements if isinstance(e, dict) and e.get("action_id")]
    return found


def _shows_completed(card: dict[str, Any] | None) -> bool:
    if card is None:
        return False
    words = STATUS_WORDS[RequestStatus.COMPLETED].capitalize()
    text = json.dumps(card.get("blocks") or []) + (card.get("text") or "")
    return words in text and not any(a in (blocks.RETRY, blocks.CONFIRM, blocks.APPROVE) for a, _ in _buttons(card))


def run(config: ChaosConfig) -> ChaosReport:
    with tempfile.TemporaryDirectory(prefix="offboard-chaos-") as workdir:
        return Chaos(config, Path(workdir)).run()


def main(
    requests: Annotated[int, typer.Option(help="requests to carry through the faults")] = 50,
    seed: Annotated[int, typer.Option(help="the timeline's seed")] = 7,
    window: Annotated[float, typer.Option(help="seconds of faults")] = 40.0,
    kills: Annotated[int, typer.Option(help="SIGKILLs")] = 4,
) -> None:
    config = ChaosConfig(requests=requests, seed=seed, window=window, kills=kills, slack_bursts=8, vendor_faults=8,
                         disk_full_seconds=2.0, settle_timeout=180.0)
    report = run(config)
    console = Console()
    for event in report.events:
        console.print(event)
    table = Table("figure", "value")
    completed = sum(s == RequestStatus.COMPLETED for s in report.statuses.values())
    for name, value in (
        ("requests completed", f"{completed}/{config.requests}"),
        ("cards posted", sum(report.cards.values())),
        ("PostHog removals", sum(report.deletes.values())),
        ("clicks played", report.clicks),
        ("told nothing was recorded", report.told_nothing_recorded),
        ("Slack calls refused (500/429)", report.slack_calls_refused),
        ("converged after the faults (s)", f"{report.converged_after_faults:.1f}"),
        ("wall time (s)", f"{report.wall_seconds:.1f}"),
        ("audit verify", "ok" if report.audit_ok else "FAILED"),
    ):
        table.add_row(name, str(value))
    console.print(table)
    if report.problems:
        console.print("[bold red]Problems:[/]")
        for problem in report.problems:
            console.print(f"  {problem}")
        raise typer.Exit(1)


if __name__ == "__main__":
    typer.run(main)
