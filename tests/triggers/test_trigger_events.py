"""The pure parts of the triggers: who may send (Okta's header secret, the signed HR webhook, BambooHR's
signature), what each sender's payload says, and the removal deadline's arithmetic."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest

from bot.demo.standin.senders import okta_delivery, okta_event
from bot.triggers import deadline, events, signatures
from bot.triggers.signatures import TriggerSecrets

SECRETS = TriggerSecrets(okta_header="x-okta-secret", okta_secret="okta", hr_secret="hr", bamboohr_key="bamboo")


def test_the_hr_signature_is_slacks_scheme_and_the_replay_window_holds() -> None:
    body, now = b'{"event_id":"1","email":"a@corp.com"}', 1_800_000_000
    expected = "v0=" + hmac.new(b"hr", b"v0:1800000000:" + body, hashlib.sha256).hexdigest()
    assert signatures.hr_signature("hr", str(now), body) == expected
    headers = {signatures.HR_TIMESTAMP: str(now), signatures.HR_SIGNATURE: expected}
    assert signatures.hr_signed(body, headers, SECRETS, now=now + 299) == "hr"
    assert signatures.hr_signed(body, headers, SECRETS, now=now + 301) is None
    assert signatures.hr_signed(body + b" ", headers, SECRETS, now=now) is None


def test_bamboohr_signs_the_body_followed_by_the_timestamp() -> None:
    body, now = b'{"employees":[]}', 1_800_000_000
    signature = hmac.new(b"bamboo", body + str(now).encode(), hashlib.sha256).hexdigest()
    headers = {signatures.BAMBOOHR_TIMESTAMP: str(now), signatures.BAMBOOHR_SIGNATURE: signature.upper()}
    assert signatures.hr_signed(body, headers, SECRETS, now=now) == "bamboohr"
    wrong_order = hmac.new(b"bamboo", str(now).encode() + body, hashlib.sha256).hexdigest()
    assert signatures.hr_signed(body, {**headers, signatures.BAMBOOHR_SIGNATURE: wrong_order}, SECRETS,
                                now=now) is None


def test_okta_is_authenticated_by_its_configured_header_and_off_without_a_secret() -> None:
    assert signatures.authenticated(signatures.OKTA_PATH, b"", {"x-okta-secret": "okta"}, SECRETS) == "okta"
    assert signatures.authenticated(signatures.OKTA_PATH, b"", {"authorization": "okta"}, SECRETS) is None
    off = TriggerSecrets()
    assert signatures.okta_verification({"x-okta-verification-challenge": "c"}, off).status == 404
    assert signatures.okta_verification({"x-okta-secret": "okta"}, SECRETS).status == 400


def test_an_okta_delivery_yields_its_leaving_events_and_app_removals_for_managed_apps_only() -> None:
    published = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
    body = okta_delivery(
        okta_event("Alice@Corp.com", "user.lifecycle.deactivate", event_id="e1", published=published),
        okta_event("bob@corp.com", "user.session.start", event_id="e2"),
        okta_event("carol@corp.com", events.OKTA_APP_REMOVED, event_id="e3", app={"id": "0oaPH", "name": "PostHog"}),
        okta_event("dave@corp.com", events.OKTA_APP_REMOVED, event_id="e4", app={"id": "0oaXX", "name": "Zoom"}),
    )
    found = events.read_okta(body, {"0oaPH": "posthog"})
    assert [(e.event_id, e.email, e.vendors) for e in found] == [("e1", "alice@corp.com", None),
                                                                 ("e3", "carol@corp.com", ("posthog",))]
    assert found[0].effective_at == published and found[0].requested_by == "it-admin@corp.com"
    with pytest.raises(events.UnreadableEvent):
        events.read_okta(json.dumps({"eventType": "something.else"}).encode())


def test_an_hr_event_reads_a_date_as_the_end_of_that_day_and_refuses_what_it_cannot_read() -> None:
    event = events.read_hr(b'{"event_id": "x", "email": "a@corp.com", "termination_at": "2026-12-18"}')
    assert event.effective_at == datetime(2026, 12, 18, 23, 59, 59, tzinfo=UTC)
    for bad in (b'{"email": "a@corp.com"}', b'{"event_id": "x", "email": "<!channel>"}',
                b'{"event_id": "x", "email": "a@corp.com", "reason": "vacation"}',
                b'{"event_id": "x", "email": "a@corp.com", "termination_at": "soon"}', b"[]",
                b'{"event_id": "<!channel>", "email": "a@corp.com"}'):
        with pytest.raises(events.UnreadableEvent):
            events.read_hr(bad)


def test_the_deadline_counts_business_days_and_says_met_or_late_by_how_much() -> None:
    policy = deadline.DeadlinePolicy(1)
    friday = datetime(2026, 12, 4, 17, 0, tzinfo=UTC)
    due = policy.due_from(friday)
    assert due == datetime(2026, 12, 7, 17, 0, tzinfo=UTC)  # Monday, the weekend skipped
    assert deadline.judged(due, due - timedelta(hours=1)).words == "met"
    assert deadline.judged(due, due + timedelta(days=1, hours=3)).words == "late by 1 d 3 h"
    assert deadline.judged(due, None).words == "open"
    assert deadline.DeadlinePolicy(0).due_from(friday) is None


def test_the_access_is_gone_when_each_tool_verified_its_removal_or_finished_it_by_hand() -> None:
    from storage.models import Step, StepStatus

    t0 = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)

    def step(vendor: str, kind: str, minutes: int | None, manual: bool = False) -> Step:
        done = minutes is not None
        return Step(request_id=1, vendor=vendor, seq=0, kind=kind, key=kind, title=kind, manual=manual,
                    status=StepStatus.DONE if done else StepStatus.PENDING,
                    finished_at=t0 + timedelta(minutes=minutes) if done else None)

    verified = [step("posthog", "remove_member", 1), step("posthog", "verify_removed", 2),
                step("posthog", "manual", None, manual=True)]  # the personal keys: still a person's to do
    assert deadline.removed_at(verified) == t0 + timedelta(minutes=2)
    by_hand = [step("kissmetrics", "manual", 30, manual=True)]
    assert deadline.removed_at(verified + by_hand) == t0 + timedelta(minutes=30)
    assert deadline.removed_at([*verified, step("kissmetrics", "manual", None, manual=True)]) is None
    notices = [step("slack", "notify_requester", None)]  # a notice owed is not access
    assert deadline.removed_at(verified + notices) == t0 + timedelta(minutes=2)
    assert deadline.removed_at([]) is None
