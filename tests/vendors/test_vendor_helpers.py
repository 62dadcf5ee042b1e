"""The two helpers every connector shares: assessing without raising, and running one step."""

import logging

import pytest

from vendors.base import AssessmentStatus, AuthError, PlannedStep, StepOutcome, VendorError, assess_safely, run_step


def test_a_vendor_error_becomes_unknown_with_its_explained_message() -> None:
    def refuse(email: str):
        raise AuthError("401 from /members")

    def explain(exc: VendorError) -> VendorError:
        return AuthError(exc.message + ". Check ACME_KEY.")

    result = assess_safely("acme", "Acme", "  a@corp.com ", refuse, explain)
    assert result.status == AssessmentStatus.UNKNOWN
    assert result.email == "a@corp.com" and result.error == "401 from /members. Check ACME_KEY."


def test_an_unexpected_crash_is_logged_and_becomes_unknown(caplog: pytest.LogCaptureFixture) -> None:
    def crash(email: str):
        raise KeyError("results")

    with caplog.at_level(logging.ERROR):
        result = assess_safely("acme", "Acme", "a@corp.com", crash)
    assert result.status == AssessmentStatus.UNKNOWN
    assert "did not expect" in (result.error or "")
    assert "Acme assessment of a@corp.com failed unexpectedly" in caplog.text


def test_run_step_hands_the_runner_a_trimmed_email() -> None:
    seen: list[dict] = []
    runners = {"remove_member": lambda params: seen.append(params) or StepOutcome("removed")}
    step = PlannedStep("remove_member", "Remove", {"email": " a@corp.com ", "org": "Corp"})
    assert run_step("acme", "Acme", step, runners).summary == "removed"
    assert seen == [{"email": "a@corp.com", "org": "Corp"}]


@pytest.mark.parametrize(
    ("step", "message"),
    [
        (PlannedStep("manual", "Click things", manual=True), "cannot run the Acme step “Click things”"),
        (PlannedStep("teleport", "Teleport", {"email": "a@corp.com"}), "cannot run the Acme step “Teleport”"),
        (PlannedStep("remove_member", "Remove", {"email": "  "}), "does not say whom it is about"),
    ],
)
def test_run_step_refuses_what_it_cannot_run(step: PlannedStep, message: str) -> None:
    runners = {"remove_member": lambda params: StepOutcome("removed")}
    with pytest.raises(VendorError, match=message):
        run_step("acme", "Acme", step, runners)


def test_run_step_explains_an_auth_failure() -> None:
    def refuse(params: dict) -> StepOutcome:
        raise AuthError("401")

    with pytest.raises(AuthError, match=r"^401\. Check ACME_KEY\.$"):
        run_step("acme", "Acme", PlannedStep("remove_member", "Remove", {"email": "a@corp.com"}),
                 {"remove_member": refuse}, lambda exc: AuthError(exc.message + ". Check ACME_KEY."))
