"""The Mixpanel connector against the Mixpanel sandbox over real HTTP: assess, plan, execute, verify."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from vendors.base import (
    AssessmentStatus,
    AuthError,
    PlannedStep,
    Role,
    StepOutcome,
    Vendor,
    VendorError,
    assessment_from_json,
)
from vendors.http import RetryPolicy
from vendors.mixpanel import MixpanelVendor, mixpanel_host
from vendors.sandbox.mixpanel import ORG_ID, SA_SECRET, SA_USERNAME, SANDBOX_SCIM_TOKEN, MixpanelSandbox
from vendors.sandbox.server import Fault

ALICE = "alice@corp.com"


@pytest.fixture(scope="module")
def server() -> Iterator[MixpanelSandbox]:
    with MixpanelSandbox() as sandbox:
        yield sandbox


@pytest.fixture
def sandbox(server: MixpanelSandbox) -> MixpanelSandbox:
    server.reset(page_size=100)
    return server


@pytest.fixture
def sleeps() -> list[float]:
    return []


def make_vendor(sandbox: MixpanelSandbox, sleeps: list[float], token: str = SANDBOX_SCIM_TOKEN,
                service_account: bool = True, sa_secret: str = SA_SECRET) -> MixpanelVendor:
    policy = RetryPolicy(backoff=0.001, max_attempts=3, sleep=sleeps.append)
    extra = ({"service_account_username": SA_USERNAME, "service_account_secret": sa_secret,
              "organization_id": ORG_ID} if service_account else {})
    return MixpanelVendor(token, sandbox.url, page_size=2, policy=policy, **extra)  # type: ignore[arg-type]


@pytest.fixture
def vendor(sandbox: MixpanelSandbox, sleeps: list[float]) -> Iterator[MixpanelVendor]:
    vendor = make_vendor(sandbox, sleeps)
    yield vendor
    vendor.close()


def run_plan(vendor: MixpanelVendor, steps: list[PlannedStep]) -> dict[str, StepOutcome]:
    return {step.kind: vendor.execute(step) for step in steps if not step.manual}


# -- pure helpers -----------------------------------------------------------------------------------
def test_hosts() -> None:
    assert mixpanel_host("us") == "https://mixpanel.com"
    assert mixpanel_host("EU") == "https://eu.mixpanel.com"
    assert mixpanel_host("in") == "https://in.mixpanel.com"
    assert mixpanel_host("http://127.0.0.1:9000/anything") == "http://127.0.0.1:9000"
    with pytest.raises(ValueError):
        mixpanel_host("")
    with pytest.raises(ValueError):
        MixpanelVendor("", "us")


def test_is_a_vendor(vendor: MixpanelVendor) -> None:
    assert isinstance(vendor, Vendor) and vendor.name == "mixpanel" and vendor.label == "Mixpanel"
    assert SANDBOX_SCIM_TOKEN not in repr(vendor) and SA_SECRET not in repr(vendor)


# -- assess -----------------------------------------------------------------------------------------
def test_assess_member_with_teams(vendor: MixpanelVendor, sandbox: MixpanelSandbox) -> None:
    result = vendor.assess("ALICE@corp.com")
    assert result.status == AssessmentStatus.MEMBER
    member = result.member
    assert member is not None and member.email == ALICE and member.name == "Alice Anders"
    assert member.role == Role.MEMBER and member.vendor_role == "member (from their Teams)"
    assert sorted(t["name"] for t in member.extra["teams"]) == ["Finance Viewers", "Product Analytics"]
    assert {(p.project_name, p.level) for p in member.projects} == {
        ("Web App", "analyst"), ("Mobile", "analyst"), ("Finance", "consumer")}
    assert member.last_login is None and any("no last login" in w and "UNVERIFIED" in w for w in result.warnings)
    assert [a["username"] for a in member.extra["service_accounts"]] == ["etl-export.5f6e7d.mp-service-account"]
    # Three Teams at two a page: the groups were streamed over two pages.
    assert len(sandbox.requests("GET", r"/Groups$")) == 2
    assert assessment_from_json(result.to_json()) == result


def test_admin_role_comes_from_a_team(vendor: MixpanelVendor) -> None:
    member = vendor.assess("carol@corp.com").member
    assert member is not None and member.role == Role.ADMIN and member.vendor_role.startswith("admin")


def test_no_team_no_service_account_credentials(sandbox: MixpanelSandbox, sleeps: list[float]) -> None:
    result = make_vendor(sandbox, sleeps, service_account=False).assess("dave@corp.com")
    assert result.status == AssessmentStatus.MEMBER and result.member is not None
    assert "unknown" in result.member.vendor_role
    assert any("in no Team" in w for w in result.warnings)
    assert any("no Mixpanel service-account credentials" in w for w in result.warnings)


def test_bad_service_account_is_only_a_warning(sandbox: MixpanelSandbox, sleeps: list[float]) -> None:
    result = make_vendor(sandbox, sleeps, sa_secret="wrong-secret-789").assess(ALICE)
    assert result.status == AssessmentStatus.MEMBER
    assert any("Could not list Mixpanel service accounts" in w for w in result.warnings)
    assert not any("wrong-secret-789" in w for w in result.warnings)


def test_not_member(vendor: MixpanelVendor) -> None:
    result = vendor.assess("nobody@corp.com")
    assert result.status == AssessmentStatus.NOT_MEMBER and vendor.plan_removal(result, None) == []


def test_unknown_on_persistent_500(vendor: MixpanelVendor, sandbox: MixpanelSandbox, sleeps: list[float]) -> None:
    sandbox.inject(Fault("status", 503, times=None))
    result = vendor.assess(ALICE)
    assert result.status == AssessmentStatus.UNKNOWN and result.email == ALICE and len(sleeps) == 2


def test_unknown_on_bad_token(sandbox: MixpanelSandbox, sleeps: list[float]) -> None:
    result = make_vendor(sandbox, sleeps, token="bad-token-321").assess(ALICE)
    assert result.status == AssessmentStatus.UNKNOWN
    assert "MIXPANEL_SCIM_TOKEN" in (result.error or "") and "bad-token-321" not in (result.error or "")


def test_429_retry_after_is_honoured(vendor: MixpanelVendor, sandbox: MixpanelSandbox, sleeps: list[float]) -> None:
    sandbox.throttle(4, times=1, path_pattern=r"/Groups")
    assert vendor.assess(ALICE).status == AssessmentStatus.MEMBER
    assert sleeps == [4.0]


# -- plan and execute -------------------------------------------------------------------------------
def test_plan(vendor: MixpanelVendor) -> None:
    steps = vendor.plan_removal(vendor.assess(ALICE), "bob@corp.com")
    assert [s.kind for s in steps] == ["manual", "remove_from_teams", "remove_member", "verify_removed", "manual"]
    transfer, rotate = steps[0], steps[-1]
    assert "Organization Settings → Members" in transfer.instructions and "bob@corp.com" in transfer.instructions
    assert "Dashboards/Reports" in transfer.instructions
    assert "Settings → API Tokens" in rotate.instructions
    assert "etl-export.5f6e7d.mp-service-account" in rotate.instructions
    assert "Finance Viewers" in steps[1].title


def test_remove_deactivates_and_verifies(vendor: MixpanelVendor, sandbox: MixpanelSandbox) -> None:
    outcomes = run_plan(vendor, vendor.plan_removal(vendor.assess(ALICE), None))
    assert sorted(outcomes["remove_from_teams"].details["teams"]) == ["Finance Viewers", "Product Analytics"]
    assert outcomes["remove_member"].details["already_removed"] is False
    assert "Checked" in outcomes["verify_removed"].summary
    user = sandbox.user(ALICE)
    assert user is not None and user.active is False and sandbox.groups_of(ALICE) == []
    assert sorted(g for g, _ in sandbox.group_removals) == ["Finance Viewers", "Product Analytics"]
    assert vendor.assess(ALICE).status == AssessmentStatus.NOT_MEMBER


def test_execute_twice_acts_once(vendor: MixpanelVendor, sandbox: MixpanelSandbox) -> None:
    steps = [s for s in vendor.plan_removal(vendor.assess(ALICE), None) if not s.manual]
    first = run_plan(vendor, steps)
    second = run_plan(vendor, steps)
    assert first["remove_member"].details["already_removed"] is False
    assert second["remove_member"].details["already_removed"] is True
    assert second["remove_from_teams"].details["teams"] == []
    assert sandbox.deactivations[ALICE] == 1
    assert len(sandbox.requests("PATCH", r"/Users/")) == 1
    assert len(sandbox.requests("PATCH", r"/Groups/")) == 2


def test_unknown_still_plans_removal(vendor: MixpanelVendor, sandbox: MixpanelSandbox) -> None:
    sandbox.inject(Fault("status", 500, times=None))
    steps = vendor.plan_removal(vendor.assess(ALICE), None)
    assert steps[0].key == "mixpanel_check_by_hand" and "Organization Settings → Members" in steps[0].instructions
    assert [s.kind for s in steps if not s.manual] == ["remove_from_teams", "remove_member", "verify_removed"]
    sandbox.clear_faults()
    run_plan(vendor, steps)
    user = sandbox.user(ALICE)
    assert user is not None and not user.active


def test_verify_fails_while_active(vendor: MixpanelVendor) -> None:
    with pytest.raises(VendorError) as caught:
        vendor.execute(PlannedStep("verify_removed", "Check", {"email": ALICE}))
    assert "still an active Mixpanel user" in caught.value.message


def test_execute_refusals(vendor: MixpanelVendor, sandbox: MixpanelSandbox, sleeps: list[float]) -> None:
    with pytest.raises(VendorError):
        vendor.execute(PlannedStep("manual", "Do it", manual=True))
    with pytest.raises(VendorError):
        vendor.execute(PlannedStep("remove_member", "Deactivate", {}))
    with pytest.raises(AuthError) as caught:
        make_vendor(sandbox, sleeps, token="bad-token-654").execute(
            PlannedStep("remove_member", "Deactivate", {"email": ALICE}))
    assert "MIXPANEL_SCIM_TOKEN" in caught.value.message
