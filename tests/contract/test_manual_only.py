"""Any vendor can be worked by hand (no Enterprise plan for SCIM, no API at all): the connector
module's click paths become the whole plan, and the workflow waits for a person on each step."""

from __future__ import annotations

import importlib
from concurrent.futures import Executor, Future
from typing import Any

import pytest

from bot.offboarding.values import CardLocation, NotificationKind, Reason, RequestDraft, RequestSnapshot
from bot.offboarding.workflow import Workflow
from bot.runtime.app import manual_vendor
from storage.db import Database
from storage.models import RequestStatus
from vendors.base import AssessmentStatus, Capability, PlannedStep, Role, StepKind, UnsupportedError
from vendors.kissmetrics import KissmetricsVendor
from vendors.manual import REMOVAL_BY_HAND, ManualVendor
from vendors.planning import RoleChange, plan_change

VENDORS = ("posthog", "amplitude", "mixpanel", "kissmetrics")
EMAIL = "leaver@corp.com"


class Inline(Executor):
    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        future.set_result(fn(*args, **kwargs))
        return future


class Quiet:
    def show_card(self, snapshot: RequestSnapshot) -> CardLocation | None:
        return None

    def deliver(self, kind: NotificationKind, snapshot: RequestSnapshot) -> str:
        return "sent"



@pytest.mark.parametrize("name", VENDORS)
def test_every_connector_module_gives_click_paths_for_every_capability(name: str) -> None:
    module = importlib.import_module(f"vendors.{name}")
    steps = [module.manual_step(c, EMAIL, {"role": "admin", "project_id": "p1", "project_name": "Web",
                                           "new_owner_email": "bo@corp.com", "reason": "manual-only"})
             for c in Capability]
    assert all(s.manual and s.kind == StepKind.MANUAL and EMAIL in s.instructions for s in steps)
    assert len({s.key for s in steps}) == len(Capability)


@pytest.mark.parametrize("name", VENDORS)
def test_a_manual_only_vendor_is_offboarded_entirely_by_hand_through_the_workflow(db: Database, name: str) -> None:
    vendor = manual_vendor(name) if name != "kissmetrics" else KissmetricsVendor()
    assert vendor.capabilities == frozenset()
    with pytest.raises(UnsupportedError):
        vendor.execute(PlannedStep(StepKind.REMOVE_MEMBER, "Remove", {"email": EMAIL}))
    assert all(s.manual for s in plan_change(vendor, EMAIL, RoleChange(Role.ADMIN)))

    workflow = Workflow(db, {name: vendor}, Quiet(), lambda user: user == "UAPP", background=Inline())
    request_id = workflow.create_request(RequestDraft(subject_email=EMAIL, reason=Reason.RESIGNATION,
                                                      requester_id="UREQ", new_owner_email="bo@corp.com"))
    workflow.assess(request_id)
    snapshot = workflow.snapshot(request_id)
    assert snapshot is not None and snapshot.assessments[name].status == AssessmentStatus.UNKNOWN
    assert snapshot.steps and all(s.manual for s in snapshot.steps)
    assert name not in snapshot.checkable  # nothing to check again: nobody can look it up
    assert workflow.approve(request_id, "UAPP").ok
    for step in workflow.snapshot(request_id).manual_steps_open:
        assert workflow.confirm_manual_step(step.id, "UAPP").ok
    done = workflow.snapshot(request_id)
    assert done.status == RequestStatus.COMPLETED
    assert [s.vendor for s in done.removals] == [name], "the confirmed manual removal counts as the removal"
    assert all(s.done_by == "UAPP" for s in done.steps if s.vendor == name)


def test_manual_vendor_plans_the_removal_in_the_order_a_person_works() -> None:
    module = importlib.import_module("vendors.amplitude")
    vendor = ManualVendor("amplitude", "Amplitude", module.manual_step)
    plan = vendor.plan_removal(vendor.assess(EMAIL), "bo@corp.com")
    assert [s.key for s in plan] == [f"amplitude_{c}" for c in REMOVAL_BY_HAND]
