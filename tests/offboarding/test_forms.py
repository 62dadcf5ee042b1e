from datetime import UTC, datetime

from bot.offboarding.slack.forms import RequestForm, read_request_form
from bot.offboarding.values import Reason

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def state(**fields: dict) -> dict:
    return {block: {block: value} for block, value in fields.items()}


def valid(**overrides: dict) -> dict:
    fields = {
        "subject": {"type": "plain_text_input", "value": " Alice@Corp.com "},
        "reason": {"type": "static_select", "selected_option": {"value": "resignation"}},
        "ticket": {"type": "plain_text_input", "value": "HR-42"},
        "new_owner": {"type": "users_select", "selected_user": "UBOB"},
        "note": {"type": "plain_text_input", "value": None},
    }
    fields.update(overrides)
    return state(**fields)


def test_a_complete_form_reads_into_a_request() -> None:
    form = read_request_form(valid(), NOW)
    assert form == RequestForm(
        subject_email="alice@corp.com",
        reason=Reason.RESIGNATION,
        ticket="HR-42",
        new_owner_slack_id="UBOB",
        effective_at=None,
        note="",
        vendors=None,
    )


def test_bad_email_and_missing_reason_are_both_reported() -> None:
    errors = read_request_form(
        valid(subject={"value": "alice at corp"}, reason={"selected_option": None}), NOW
    )
    assert set(errors) == {"subject", "reason"}


def test_new_owner_cannot_be_the_leaver() -> None:
    errors = read_request_form(valid(new_owner={"selected_user": "UALICE"}), NOW, subject_slack_id="UALICE")
    assert errors == {"new_owner": "The new owner cannot be the person who is leaving."}


def test_a_future_date_is_kept_in_utc() -> None:
    form = read_request_form(
        valid(effective_date={"selected_date": "2026-11-30"}, effective_time={"selected_time": "17:30"}), NOW
    )
    assert isinstance(form, RequestForm)
    assert form.effective_at == datetime(2026, 11, 30, 17, 30, tzinfo=UTC)


def test_today_at_a_passed_time_means_now() -> None:
    form = read_request_form(
        valid(effective_date={"selected_date": "2026-11-22"}, effective_time={"selected_time": "08:00"}), NOW
    )
    assert isinstance(form, RequestForm) and form.effective_at is None


def test_a_past_date_is_refused() -> None:
    errors = read_request_form(valid(effective_date={"selected_date": "2026-11-01"}), NOW)
    assert errors == {"effective_date": "That date has passed. Leave it empty to remove access now."}


def test_an_empty_vendor_choice_is_refused() -> None:
    errors = read_request_form(valid(vendors={"selected_options": []}), NOW)
    assert errors == {"vendors": "Choose at least one tool."}
