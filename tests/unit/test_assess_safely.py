import logging

import pytest

from vendors.base import AssessmentStatus, AuthError, VendorError, assess_safely


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
