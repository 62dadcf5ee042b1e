"""Two `offboard serve` processes sharing one database, as behind a load balancer (on PostgreSQL in the
PostgreSQL run, on one SQLite file otherwise): each scheduled item happens once per due time, not once per
process, and every request is executed by one instance at a time, so no vendor action is doubled.

Slack's deliveries land on either process, as a load balancer would send them; a click retried by Slack
may land on the other one."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from bot.demo.localrun import BOT_TOKEN, SIGNING_SECRET
from bot.demo.served import ServedBot
from bot.demo.standin.driver import SlackDriver
from bot.demo.standin.slack_api import SlackStandIn
from bot.offboarding.slack import blocks
from storage import audit
from storage.db import Database
from storage.models import AuditEvent, OffboardRequest, RequestStatus, Step, StepStatus, utcnow
from tests.e2e.conftest import confirm_values, mark_done
from tests.faults.test_crash_resume import wait
from vendors.base import Role
from vendors.sandbox.posthog import ORG_ID, SANDBOX_API_KEY, PostHogSandbox
from vendors.sandbox.server import Fault

APPROVALS = "CAPPROVALS"
PEOPLE = [f"leaver{n}@corp.com" for n in range(6)]
LATER = "later@corp.com"  # removed at a time set in the form


class Cluster:
    def __init__(self, slack: SlackStandIn, posthog: PostHogSandbox, db: Database, bots: list[ServedBot]) -> None:
        self.slack, self.posthog, self.db, self.bots = slack, posthog, db, bots
        self.drivers = [SlackDriver(bot.events_url, SIGNING_SECRET, slack) for bot in bots]

    def request_of(self, email: str) -> OffboardRequest | None:
        with self.db.session() as session:
            return session.exec(select(OffboardRequest).where(OffboardRequest.subject_email == email)).first()

    def card_of(self, email: str) -> dict[str, Any]:
        request = wait(lambda: (r := self.request_of(email)) and r.card_ts and r, f"{email}'s card")
        message = self.slack.message(APPROVALS, request.card_ts)
        assert message is not None
        return message

    def open(self, email: str, via: int, **form: Any) -> None:
        """/offboard on one process; the form's submission lands on the other."""
        before = len(self.slack.calls("views.open"))
        answered = self.drivers[via].slash_command("/offboard", email, user_id="UREQ", channel_id="CREQ")
        assert answered.status_code == 200
        wait(lambda: len(self.slack.calls("views.open")) > before, f"{email}'s form")
        view = self.slack.calls("views.open")[-1].params["view"]
        submitted = self.drivers[1 - via].submit_view(view, {"reason": "resignation", **form}, user_id="UREQ")
        assert submitted.status_code == 200 and submitted.text in ("", "{}"), submitted.text
        wait(lambda: (r := self.request_of(email)) and r.status == RequestStatus.PENDING_APPROVAL
             and blocks.APPROVE in json.dumps(self.card_of(email)), f"{email}'s card to ask for approval")

    def reminders(self, email: str) -> int:
        card = self.card_of(email)
        return sum("Reminder" in json.dumps(reply) for reply in self.slack.replies(APPROVALS, card["ts"]))


def click_at_once(card: dict[str, Any], approvers: list[tuple[SlackDriver, str]]) -> list[int]:
    """Approve clicks by different people on different processes, released together."""
    barrier = threading.Barrier(len(approvers))
    answers: list[int] = []

    def click(driver: SlackDriver, user: str) -> None:
        barrier.wait()
        answers.append(driver.click(card, blocks.APPROVE, user_id=user, channel_id=APPROVALS).status_code)

    threads = [threading.Thread(target=click, args=pair) for pair in approvers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


@pytest.fixture
def cluster(tmp_path: Path, database_url: str) -> Iterator[Cluster]:
    with SlackStandIn() as slack, PostHogSandbox() as posthog:
        for email in [*PEOPLE, LATER]:
            posthog.seed_person(email, Role.MEMBER, posthog.project_ids()[:1])
        env = {
            "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": f"{slack.url}/api/",
            "DATABASE_URL": database_url, "OFFBOARD_APPROVALS_CHANNEL": APPROVALS,
            "OFFBOARD_APPROVERS": "UAPP1,UAPP2",
            "POSTHOG_API_KEY": SANDBOX_API_KEY, "POSTHOG_HOST": posthog.url, "POSTHOG_ORG_ID": ORG_ID,
            "OFFBOARD_SCHEDULER_INTERVAL": "1", "OFFBOARD_LEASE_SECONDS": "3",
            # The first approval reminder 2 s after a card asks, the next far beyond the test.
            "OFFBOARD_REMINDER_HOURS": "0.00056,1000", "OFFBOARD_ESCALATE_AFTER_HOURS": "2000",
        }
        bots = [ServedBot(env, tmp_path), ServedBot(env, tmp_path)]
        # Both start at once: one migrates the empty database, the other waits its turn and finds it done.
        starting = [threading.Thread(target=bot.start) for bot in bots]
        for thread in starting:
            thread.start()
        for thread in starting:
            thread.join()
        db = Database(database_url)
        try:
            yield Cluster(slack, posthog, db, bots)
        finally:
            for bot in bots:
                bot.stop()
            db.dispose()


def test_two_processes_share_the_work_and_do_each_thing_once(cluster: Cluster) -> None:
    assert all(bot.process and bot.process.poll() is None for bot in cluster.bots), "both processes came up"
    for n, email in enumerate(PEOPLE):
        cluster.open(email, via=n % 2)

    # Both processes tick every second and find each card's first reminder due: each card gets one.
    wait(lambda: all(cluster.reminders(email) >= 1 for email in PEOPLE), "the reminders")
    time.sleep(2.5)  # more ticks on both processes, and nothing more is due
    assert {email: cluster.reminders(email) for email in PEOPLE} == dict.fromkeys(PEOPLE, 1)

    # Approvals: each click reaches one process and, as Slack's retry, the other too; for half the people a
    # second approver clicks on the other process at the same moment.
    for n, email in enumerate(PEOPLE):
        card = cluster.card_of(email)
        first = cluster.drivers[n % 2]
        approvers = [(first, "UAPP1")] + ([(cluster.drivers[1 - n % 2], "UAPP2")] if n % 2 else [])
        assert set(click_at_once(card, approvers)) == {200}
        retried = cluster.drivers[1 - n % 2].send(first.last_body, retry_num=1)
        assert retried.status_code == 200

    # A removal set for later in the form: approved now, started by whichever process's tick comes first.
    tomorrow = (utcnow() + timedelta(days=1)).date()
    cluster.open(LATER, via=0, effective_date=tomorrow.isoformat(), effective_time="09:00")
    cluster.drivers[1].click(cluster.card_of(LATER), blocks.APPROVE, user_id="UAPP2", channel_id=APPROVALS)
    wait(lambda: cluster.request_of(LATER).status == RequestStatus.SCHEDULED, "the removal to be scheduled")
    with cluster.db.session() as session:  # the clock is real: bring the set time to now, not a day on
        session.execute(update(OffboardRequest).where(col(OffboardRequest.subject_email) == LATER)
                        .values(effective_at=utcnow()))

    everyone = [*PEOPLE, LATER]
    for email in everyone:
        for _ in range(10):  # tick any checklist item, on alternate processes
            values = confirm_values(cluster.drivers[0], cluster.card_of(email), "UAPP2")
            if not values or cluster.request_of(email).status == RequestStatus.COMPLETED:
                break
            mark_done(cluster.drivers[len(values) % 2], cluster.card_of(email), "UAPP2", values[0])
            wait(lambda e=email, v=values[0]: v not in confirm_values(cluster.drivers[0], cluster.card_of(e), "UAPP2"),
                 "the tick to show", every=0.5)  # each look opens the Details view: don't crowd out the tick
        wait(lambda e=email: cluster.request_of(e).status == RequestStatus.COMPLETED, f"{email}'s removal")
    wait(lambda: all(cluster.request_of(e).runner is None for e in everyone), "both processes to let go")

    assert {e: cluster.posthog.delete_count(e) for e in everyone} == dict.fromkeys(everyone, 1)
    with cluster.db.session() as session:
        assert audit.verify_chain(session).ok
        events = list(session.exec(select(AuditEvent).order_by(col(AuditEvent.seq))))
    approvals = Counter(e.request_id for e in events if e.action == "approved")
    assert sorted(approvals.values()) == [1] * len(everyone), approvals
    started = Counter((e.request_id, e.details.get("vendor"), e.details.get("step"))
                      for e in events if e.action == "step_started")
    assert started and set(started.values()) == {1}, [k for k, n in started.items() if n > 1]
    assert [e.action for e in events].count("scheduled_start") == 1
    later = cluster.card_of(LATER)
    assert sum("started" in json.dumps(r) for r in cluster.slack.replies(APPROVALS, later["ts"])) == 1


def test_a_process_starting_while_another_removes_leaves_that_removal_alone(cluster: Cluster) -> None:
    """A deploy overlapping the running process: the new one's start-up must not take a removal the other
    is in the middle of for one cut off by a crash, and send it again."""
    email = PEOPLE[0]
    cluster.open(email, via=0)
    # The vendor holds the DELETE until the other process is back up, however long its start takes.
    release = threading.Event()
    cluster.posthog.inject(Fault("hold", release=release, delay=60.0, method="DELETE", path_pattern=r"/members/",
                                 times=1))
    cluster.drivers[0].click(cluster.card_of(email), blocks.APPROVE, user_id="UAPP1", channel_id=APPROVALS)
    wait(lambda: any(s.kind == "remove_member" and s.status == StepStatus.RUNNING for s in steps(cluster, email)),
         "the removal to be under way")
    try:
        cluster.bots[1].stop()
        cluster.bots[1].start()  # resumes at start-up whatever no live process holds
        time.sleep(1.0)  # its start-up resume has run (it runs before the HTTP server answers) and taken effect
        overlapped = [s.status for s in steps(cluster, email) if s.kind == "remove_member"] == [StepStatus.RUNNING]
    finally:
        release.set()
    # Removed and verified; what is left is the step only a person can do (their personal API keys).
    wait(lambda: cluster.request_of(email).status == RequestStatus.AWAITING_MANUAL, "the removal to finish",
         timeout=40)
    assert cluster.posthog.delete_count(email) == 1
    with cluster.db.session() as session:
        actions = [e.action for e in session.exec(select(AuditEvent).where(
            AuditEvent.request_id == cluster.request_of(email).id))]
    assert "step_interrupted" not in actions
    assert overlapped, "the removal must still have been under way when the other process started"


def steps(cluster: Cluster, email: str) -> list[Step]:
    request = cluster.request_of(email)
    assert request is not None
    with cluster.db.session() as session:
        return list(session.exec(select(Step).where(Step.request_id == request.id)))
