"""The Amplitude connector against the Amplitude sandbox over real HTTP: assess, plan, execute, verify."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from vendors.amplitude import UNKNOWN_ROLE, AmplitudeVendor, amplitude_base_url
from vendors.base import (
    Assessment,
    AssessmentStatus,
    AuthError,
    ConflictError,
    PlannedStep,
    Role,
    StepOutcome,
    Vendor,
    VendorError,
    assessment_from_json,
)
from vendors.http import RetryPolicy
from vendors.sandbox.amplitude import SANDBOX_SCIM_KEY, AmplitudeSandbox
from vendors.sandbox.server import Fault

ALICE = "alice@corp.com"


@pytest.fixture(scope="module")
def server() -> Iterator[AmplitudeSandbox]:
    with AmplitudeSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(server: AmplitudeSandbox) -> AmplitudeSandbox:
    server.reset(page_size=100)
    return server


@pytest.fixture
def sleeps() -> list[float]:
    return []


def make_vendor(sandbox: AmplitudeSandbox, sleeps: list[float], key: str = SANDBOX_SCIM_KEY) -> AmplitudeVendor:
    # A small page size makes every list the connector reads span several pages.
    policy = RetryPolicy(backoff=0.001, max_attempts=3, sleep=sleeps.append)
    return AmplitudeVendor(key, sandbox.url, page_size=30, policy=policy)


@pytest.fixture
def vendor(sandbox: AmplitudeSandbox, sleeps: list[float]) -> Iterator[AmplitudeVendor]:
    vendor = make_vendor(sandbox, sleeps)
    yield vendor
    vendor.close()


def run_plan(vendor: AmplitudeVendor, steps: list[PlannedStep]) -> dict[str, StepOutcome]:
    return {step.kind: vendor.execute(step) for step in steps if not step.manual}


# -- pure helpers -----------------------------------------------------------------------------------
def test_base_urls() -> None:
    assert amplitude_base_url("us") == "https://core.amplitude.com/scim/1"
    assert amplitude_base_url("EU") == "https://core.eu.amplitude.com/scim/1"
    assert amplitude_base_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080/scim/1"
    assert amplitude_base_url("https://proxy.corp.com/amp/scim/1/") == "https://proxy.corp.com/amp/scim/1"
    with pytest.raises(ValueError):
        amplitude_base_url("")
    with pytest.raises(ValueError):
        AmplitudeVendor("", "us")


def test_is_a_vendor(vendor: AmplitudeVendor) -> None:
    assert isinstance(vendor, Vendor) and vendor.name == "amplitude" and vendor.label == "Amplitude"
    assert SANDBOX_SCIM_KEY not in repr(vendor)


# -- assess -----------------------------------------------------------------------------------------
def test_assess_member(vendor: AmplitudeVendor, sandbox: AmplitudeSandbox) -> None:
    result = vendor.assess("Alice@Corp.com ")
    assert result.status == AssessmentStatus.MEMBER and result.email == "Alice@Corp.com"
    member = result.member
    assert member is not None and member.email == ALICE and member.member_id == ALICE
    assert member.name == "Alice Anders"
    assert member.role == Role.MEMBER and member.vendor_role == UNKNOWN_ROLE
    assert member.last_login is None and member.projects == ()
    assert [g["name"] for g in member.extra["permission_groups"]] == ["Analysts", "Growth"]
    assert any("does not show a member's role, last login, projects" in w for w in result.warnings)
    assert assessment_from_json(result.to_json()) == result


def test_assess_finds_someone_on_a_late_page(vendor: AmplitudeVendor, sandbox: AmplitudeSandbox) -> None:
    last = list(sandbox.users.values())[-1].user_name
    assert vendor.assess(last).status == AssessmentStatus.MEMBER
    # Groups are listed page by page too: 4 groups at 30 a page is one page; the user lookup is one.
    assert len(sandbox.requests("GET", r"/Users$")) == 1


def test_pending_invitee_is_a_member(vendor: AmplitudeVendor) -> None:
    result = vendor.assess("dave@corp.com")
    assert result.status == AssessmentStatus.MEMBER
    assert any("pending invitees look the same" in w for w in result.warnings)


def test_not_member(vendor: AmplitudeVendor) -> None:
    result = vendor.assess("nobody@corp.com")
    assert result.status == AssessmentStatus.NOT_MEMBER and result.email == "nobody@corp.com"
    assert vendor.plan_removal(result, None) == []


def test_unknown_on_persistent_500(vendor: AmplitudeVendor, sandbox: AmplitudeSandbox, sleeps: list[float]) -> None:
    sandbox.inject(Fault("status", 500, {"detail": "boom"}, times=None))
    result = vendor.assess(ALICE)
    assert result.status == AssessmentStatus.UNKNOWN and result.email == ALICE
    assert "not answering properly" in (result.error or "") and len(sleeps) == 2


def test_unknown_on_bad_key(sandbox: AmplitudeSandbox, sleeps: list[float]) -> None:
    result = make_vendor(sandbox, sleeps, key="wrong-key-123").assess(ALICE)
    assert result.status == AssessmentStatus.UNKNOWN
    assert "AMPLITUDE_SCIM_KEY" in (result.error or "") and "wrong-key-123" not in (result.error or "")


def test_429_retry_after_is_honoured(vendor: AmplitudeVendor, sandbox: AmplitudeSandbox, sleeps: list[float]) -> None:
    sandbox.throttle(3, times=2)
    assert vendor.assess(ALICE).status == AssessmentStatus.MEMBER
    assert sleeps == [3.0, 3.0]


# -- plan -------------------------------------------------------------------------------------------
def test_plan_has_manual_steps_with_ui_paths(vendor: AmplitudeVendor) -> None:
    steps = vendor.plan_removal(vendor.assess(ALICE), "bob@corp.com")
    kinds = [s.kind for s in steps]
    assert kinds == ["manual", "manual", "remove_member", "verify_removed"]
    transfer, admin = steps[0], steps[1]
    assert transfer.manual and "change the Owner field to bob@corp.com" in transfer.instructions
    assert "Dashboards section" in transfer.instructions and "BEFORE the removal" in transfer.instructions
    assert admin.manual and "Settings → Members & Groups" in admin.instructions
    assert "last one" in admin.instructions
    assert len({s.key for s in steps if s.manual}) == 2
    assert all(s.params == {"email": ALICE} for s in steps if not s.manual)


def test_unknown_still_plans_removal(vendor: AmplitudeVendor, sandbox: AmplitudeSandbox) -> None:
    sandbox.inject(Fault("status", 500, times=None))
    result = vendor.assess(ALICE)
    steps = vendor.plan_removal(result, None)
    assert steps[0].manual and steps[0].key == "amplitude_check_by_hand"
    assert "Settings → Members & Groups" in steps[0].instructions and ALICE in steps[0].instructions
    assert [s.kind for s in steps if not s.manual] == ["remove_member", "verify_removed"]
    sandbox.clear_faults()
    run_plan(vendor, steps)
    assert sandbox.user(ALICE) is None


def test_unknown_without_email_plans_a_check() -> None:
    vendor = AmplitudeVendor("k", "us")
    steps = vendor.plan_removal(Assessment("amplitude", AssessmentStatus.UNKNOWN, error="down"), None)
    assert len(steps) == 1 and steps[0].manual


# -- execute ----------------------------------------------------------------------------------------
def test_remove_then_verify(vendor: AmplitudeVendor, sandbox: AmplitudeSandbox) -> None:
    outcomes = run_plan(vendor, vendor.plan_removal(vendor.assess(ALICE), None))
    assert outcomes["remove_member"].details["already_removed"] is False
    assert "Checked" in outcomes["verify_removed"].summary
    assert sandbox.user(ALICE) is None and sandbox.delete_count(ALICE) == 1
    assert vendor.assess(ALICE).status == AssessmentStatus.NOT_MEMBER


def test_remove_twice_deletes_once(vendor: AmplitudeVendor, sandbox: AmplitudeSandbox) -> None:
    step = PlannedStep("remove_member", "Remove", {"email": ALICE})
    vendor.execute(step)
    again = vendor.execute(step)
    assert again.details == {"already_removed": True} and "already removed" in again.summary
    assert len(sandbox.requests("DELETE", r"/Users/")) == 1 and sandbox.delete_count(ALICE) == 1


def test_verify_fails_while_still_there(vendor: AmplitudeVendor) -> None:
    with pytest.raises(VendorError) as caught:
        vendor.execute(PlannedStep("verify_removed", "Check", {"email": ALICE}))
    assert "still a member" in caught.value.message and "Remove from Organization" in caught.value.message


def test_last_admin_is_a_conflict(vendor: AmplitudeVendor, sandbox: AmplitudeSandbox) -> None:
    sandbox.make_sole_admin("carol@corp.com")
    with pytest.raises(ConflictError) as caught:
        vendor.execute(PlannedStep("remove_member", "Remove", {"email": "carol@corp.com"}))
    assert "last Admin" in caught.value.message and "Settings → Members & Groups" in caught.value.message
    assert sandbox.user("carol@corp.com") is not None


def test_execute_refuses_manual_and_bad_steps(vendor: AmplitudeVendor, sandbox: AmplitudeSandbox,
                                              sleeps: list[float]) -> None:
    with pytest.raises(VendorError):
        vendor.execute(PlannedStep("manual", "Do it", manual=True))
    with pytest.raises(VendorError):
        vendor.execute(PlannedStep("remove_member", "Remove", {}))
    with pytest.raises(AuthError) as caught:
        make_vendor(sandbox, sleeps, key="bad-key-456").execute(PlannedStep("remove_member", "R", {"email": ALICE}))
    assert "AMPLITUDE_SCIM_KEY" in caught.value.message


def test_execute_retries_throttled_delete(vendor: AmplitudeVendor, sandbox: AmplitudeSandbox,
                                          sleeps: list[float]) -> None:
    sandbox.throttle(1, times=1, path_pattern=r"/Users/")
    outcome = vendor.execute(PlannedStep("remove_member", "Remove", {"email": ALICE}))
    assert outcome.details["already_removed"] is False and sleeps == [1.0]
    assert sandbox.delete_count(ALICE) == 1
