"""Vendor faults at random during a bulk run (429 with Retry-After, 500, timeouts, dropped connections):
every person ends removed-and-verified, or with a failed step that says why and offers Retry; never
silently skipped. Retrying after the vendors recover finishes everyone, and nobody is removed twice."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.offboarding.values import CardLocation, NotificationKind, Reason, RequestDraft, RequestSnapshot
from bot.offboarding.workflow import Workflow
from storage.db import Database
from storage.models import RequestStatus, StepStatus
from vendors.base import Role
from vendors.http import RetryPolicy
from vendors.sandbox.amplitude import AmplitudeSandbox
from vendors.sandbox.contract import ContractSandbox
from vendors.sandbox.kissmetrics import KissmetricsSandbox
from vendors.sandbox.posthog import PostHogSandbox
from vendors.sandbox.server import Fault

PEOPLE = 12
SEEDS = (7, 1234)
# Few attempts and short timeouts, so some faults outlast the retries and surface as failed steps.
POLICY = RetryPolicy(timeout=0.5, max_attempts=2, backoff=0.01, max_retry_after=1.0)
APPROVER = "UAPP"


class Quiet:
    def show_card(self, snapshot: RequestSnapshot) -> CardLocation | None:
        return None

    def deliver(self, kind: NotificationKind, snapshot: RequestSnapshot) -> str:
        return "sent"


@pytest.fixture
def sandboxes() -> Iterator[dict[str, ContractSandbox]]:
    started: dict[str, ContractSandbox] = {}
    try:
        for name, kind in (("posthog", PostHogSandbox), ("amplitude", AmplitudeSandbox),
                           ("kissmetrics", KissmetricsSandbox)):
            sandbox = kind()
            sandbox.start()
            started[name] = sandbox
        yield started
    finally:
        for sandbox in started.values():
            sandbox.stop()


def random_faults(rng: random.Random, sandbox: ContractSandbox, count: int) -> None:
    for _ in range(count):
        method = rng.choice(["GET", "DELETE", None])
        match rng.choice(["429", "500", "timeout", "drop"]):
            case "429":
                sandbox.inject(Fault("status", 429, {"detail": "slow down"}, {"Retry-After": "0"}, method=method))
            case "500":
                sandbox.inject(Fault("status", 500, {"detail": "boom"}, method=method))
            case "timeout":
                sandbox.inject(Fault("delay", delay=POLICY.timeout * 1.6, method=method))
            case "drop":
                sandbox.inject(Fault("drop", method=method))


def wait_until_settled(workflow: Workflow, ids: list[int], timeout: float = 60.0) -> dict[int, RequestSnapshot]:
    deadline = time.monotonic() + timeout
    while True:
        snapshots = {i: workflow.snapshot(i) for i in ids}
        for request_id, snapshot in snapshots.items():
            assert snapshot is not None
            if snapshot.status == RequestStatus.PENDING_APPROVAL:
                workflow.approve(request_id, APPROVER)
            for step in snapshot.manual_steps_open if snapshot.status != RequestStatus.PENDING_APPROVAL else []:
                assert step.id is not None
                workflow.confirm_manual_step(step.id, APPROVER)
        settled = all(s.status in (RequestStatus.COMPLETED, RequestStatus.NEEDS_ATTENTION)
                      and not any(st.status == StepStatus.RUNNING for st in s.steps) for s in snapshots.values())
        if settled:
            return snapshots
        if time.monotonic() > deadline:
            raise AssertionError({i: s.status for i, s in snapshots.items()})
        time.sleep(0.1)


@pytest.mark.parametrize("seed", SEEDS)
def test_random_vendor_faults_never_skip_anyone(database_url: str, sandboxes: dict[str, ContractSandbox],
                                                seed: int) -> None:
    rng = random.Random(seed)
    emails = [f"fault{n:02d}@corp.com" for n in range(PEOPLE)]
    for sandbox in sandboxes.values():
        for email in emails:
            sandbox.seed_person(email, Role.MEMBER, sandbox.project_ids()[:1])
    db = Database(database_url)
    db.migrate()
    connectors = {name: sandbox.connector(POLICY) for name, sandbox in sandboxes.items()}
    workflow = Workflow(db, connectors, Quiet(), lambda user: user == APPROVER,
                        background=ThreadPoolExecutor(max_workers=8))
    try:
        for sandbox in sandboxes.values():
            random_faults(rng, sandbox, count=25)
        ids = []
        for email in emails:
            request_id = workflow.create_request(RequestDraft(subject_email=email, reason=Reason.RESIGNATION,
                                                              requester_id="UREQ"))
            workflow.start_assessment(request_id)
            ids.append(request_id)
        snapshots = wait_until_settled(workflow, ids)

        for request_id, snapshot in snapshots.items():
            email = snapshot.request.subject_email
            if snapshot.status == RequestStatus.COMPLETED:
                for name, sandbox in sandboxes.items():
                    assert sandbox.seat(email) is None, f"{email} reported removed from {name} but is there"
            else:
                failed = [s for s in snapshot.steps if s.status == StepStatus.FAILED]
                assert failed and all(s.last_error for s in failed), f"#{request_id} stopped without saying why"
        outcomes = {s.status for s in snapshots.values()}
        assert RequestStatus.NEEDS_ATTENTION in outcomes, "the faults should have outlasted some retries"

        for sandbox in sandboxes.values():  # the vendors recover; people press Retry
            sandbox.clear_faults()
        for snapshot in snapshots.values():
            for step in snapshot.steps:
                if step.status == StepStatus.FAILED:
                    assert step.id is not None
                    assert workflow.retry_step(step.id, APPROVER).ok
        final = wait_until_settled(workflow, ids)
        assert {s.status for s in final.values()} == {RequestStatus.COMPLETED}
        for name, sandbox in sandboxes.items():
            for email in emails:
                assert sandbox.seat(email) is None, (name, email)
            deletes = sandbox.delete_count
            assert [e for e in emails if deletes(e) > 1] == [], f"{name}: someone removed twice"
    finally:
        workflow.shutdown()
        db.dispose()

