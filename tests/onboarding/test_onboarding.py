"""Invitation policy, failures in plain words, and the card's fit in Slack's limits."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from bot.demo.standin.limits import MAX_MESSAGE_BLOCKS, blocks_problems
from bot.offboarding.workflow import Workflow
from bot.onboarding.parsing import InviteRow
from bot.onboarding.slack import blocks as onboard_blocks
from bot.onboarding.slack.views import BatchView, FailureKind, PendingItem, PersonView, SendView, failure_kind
from bot.onboarding.workflow import InviteDraft, OnboardConfig, Onboarding
from storage.db import Database
from storage.models import Invitation, InviteBatch, InviteBatchStatus, InviteSend, InviteState, InviteStep
from vendors.amplitude import AmplitudeVendor
from vendors.base import AuthError, RateLimitedError, Role, UnsupportedError, Vendor, VendorError
from vendors.posthog import PostHogVendor

NOW = datetime(2025, 3, 3, 12, tzinfo=UTC)
ADMIN, APPROVER, OTHER = "UADMIN", "UAPPROVER", "UOTHER"


class NoSlack:
    """Policy checks never talk to people; any call here would be a bug."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"unexpected notifier call {name}")


@pytest.fixture
def onboarding(database_url: str) -> Iterator[Onboarding]:
    db = Database(database_url)
    db.migrate()
    # Real connectors, never called here: only their names, labels and declared capabilities matter.
    vendors: dict[str, Vendor] = {"posthog": PostHogVendor("phx_unused", "http://127.0.0.1:9"),
               "amplitude": AmplitudeVendor("unused", "http://127.0.0.1:9/scim/1")}
    workflow = Workflow(db, vendors, NoSlack(), lambda user: user == APPROVER, clock=lambda: NOW)
    service = Onboarding(db, vendors, workflow, NoSlack(), workflow.may_approve,
                         OnboardConfig(card_channel="C1", admins=frozenset({ADMIN}),
                                       personal_domains=frozenset({"gmail.com"})), clock=lambda: NOW)
    yield service
    service.shutdown()
    workflow.shutdown()
    db.dispose()


def draft(*rows: InviteRow, inviter: str = ADMIN, allow_personal: bool = False) -> InviteDraft:
    return InviteDraft(inviter, rows, allow_personal=allow_personal)


def test_a_clean_draft_has_no_problems_and_only_elevated_roles_or_non_admins_need_approval(
        onboarding: Onboarding) -> None:
    assert onboarding.problems(draft(InviteRow("ana@corp.com", Role.MEMBER))) == []
    assert not onboarding.needs_approval(ADMIN, Role.MEMBER) and not onboarding.needs_approval(ADMIN, Role.READ_ONLY)
    assert onboarding.needs_approval(ADMIN, Role.ADMIN) and onboarding.needs_approval(ADMIN, Role.OWNER)
    assert onboarding.needs_approval(OTHER, Role.READ_ONLY)  # not an onboarding admin
    assert onboarding.is_admin(ADMIN) and not onboarding.is_admin(APPROVER)


def test_personal_domains_need_an_admins_override(onboarding: Onboarding) -> None:
    row = InviteRow("jane@mail.gmail.com", Role.MEMBER)
    (refused,) = onboarding.problems(draft(row))
    assert "personal address (mail.gmail.com)" in refused
    assert onboarding.problems(draft(row, allow_personal=True)) == []
    assert any("Only onboarding admins" in p for p in onboarding.problems(draft(row, inviter=OTHER,
                                                                                allow_personal=True)))
    assert onboarding.problems(draft(InviteRow("jane@corp.com", Role.MEMBER), inviter=OTHER,
                                     allow_personal=True)) == []  # nothing personal: the box changes nothing


def test_each_mistake_is_named(onboarding: Onboarding) -> None:
    problems = onboarding.problems(draft(
        InviteRow("ana@corp.com", Role.MEMBER, ("posthog",), {"amplitude": ("1",)}),
        InviteRow("ana@corp.com", Role.MEMBER),
        InviteRow("ben@corp.com", Role.MEMBER, ("amplitude",), {"amplitude": ("7",)}),
        InviteRow("cy@corp.com", Role.MEMBER, end_date=NOW.date()),
        InviteRow("di@corp.com", Role.MEMBER, ("slack",)),
    ))
    assert problems == [
        "ana@corp.com: projects are named for amplitude, which they are not invited to.",
        "ana@corp.com is named twice.",
        "ben@corp.com: offboard cannot give projects in Amplitude (its API has none); leave its projects out and "
        "give access there by hand.",
        f"cy@corp.com: the access end date {NOW.date().isoformat()} must be after today.",
        "di@corp.com: slack is not configured (posthog, amplitude are).",
    ]
    assert onboarding.problems(InviteDraft(ADMIN, ())) == ["Name at least one person to invite."]


@pytest.mark.parametrize(("error", "kind"), [
    (VendorError("Amplitude: POST /Users failed (400: all 5 seats of the organization's plan are in use)"),
     FailureKind.SEAT_LIMIT),
    (VendorError("Mixpanel takes only people on the organization's verified domains (x)"), FailureKind.DOMAIN),
    (VendorError("PostHog refused to invite a as owner: nope. Only an owner can invite an owner"),
     FailureKind.PERMISSION),
    (RateLimitedError("slow down"), FailureKind.RATE_LIMIT),
    (AuthError("bad key", status=401), FailureKind.CREDENTIALS),
    (AuthError("no scope", status=403), FailureKind.PERMISSION),
    (UnsupportedError("cannot"), FailureKind.UNSUPPORTED),
    (VendorError("something else"), FailureKind.OTHER),
])
def test_failures_are_named_in_plain_words(error: VendorError, kind: FailureKind) -> None:
    assert failure_kind(error) == kind


def test_a_batch_of_hundreds_with_failures_and_manual_steps_fits_one_slack_message() -> None:
    batch = InviteBatch(id=9, status=InviteBatchStatus.PENDING_APPROVAL, inviter_id=ADMIN, source="csv",
                        source_name="big.csv", approval_why="Admin and owner invitations need an approver's click.",
                        created_at=NOW, updated_at=NOW)
    people = []
    for n in range(300):
        invitation = Invitation(id=n, batch_id=9, email=f"p{n}@corp.com", role="admin", vendors=["posthog"],
                                access_ends_on=date(2099, 1, 1), created_at=NOW)
        failed = InviteSend(id=n, invitation_id=n, batch_id=9, vendor="posthog", status=InviteState.FAILED,
                            error="x" * 400, failure_kind="seat_limit", updated_at=NOW)
        manual = InviteSend(id=1000 + n, invitation_id=n, batch_id=9, vendor="kissmetrics",
                            status=InviteState.MANUAL, updated_at=NOW)
        step = InviteStep(id=n, send_id=1000 + n, seq=0, kind="manual", title="Invite by hand", manual=True,
                          instructions="y" * 800)
        people.append(PersonView(invitation, [SendView(failed, "PostHog", []),
                                              SendView(manual, "Kissmetrics", [step])]))
    message = onboard_blocks.batch_card(BatchView(batch, people), NOW)
    assert len(message.blocks) <= MAX_MESSAGE_BLOCKS
    assert blocks_problems(message.blocks, max_blocks=MAX_MESSAGE_BLOCKS) == []
    assert message.blocks[-1]["type"] == "actions"  # Approve and Reject survive the cut
    assert "more blocks not shown" in str(message.blocks[-2])


def test_pending_items_show_expiry_and_what_a_tool_cannot_see() -> None:
    sent = NOW - timedelta(days=4)
    expired = PendingItem(1, 2, "a@corp.com", "posthog", "PostHog", "member", ADMIN, sent, InviteState.INVITED,
                          sent + timedelta(days=3), True, 0)
    unseen = PendingItem(3, 2, "a@corp.com", "amplitude", "Amplitude", "member", ADMIN, sent, InviteState.INVITED,
                         None, False, 1)
    assert ":warning: expired" in onboard_blocks.pending_line(expired, NOW)
    line = onboard_blocks.pending_line(unseen, NOW)
    assert "cannot show whether they accepted" in line and "resent 1 time" in line and "4 days ago" in line


def test_a_step_by_hand_after_an_invitation_that_failed_is_not_offered() -> None:
    send = InviteSend(id=1, invitation_id=1, batch_id=1, vendor="amplitude", status=InviteState.FAILED,
                      updated_at=NOW)
    invite = InviteStep(id=1, send_id=1, seq=0, kind="invite", title="Invite", status="failed")
    set_role = InviteStep(id=2, send_id=1, seq=1, kind="manual", title="Make them Member", manual=True)
    assert SendView(send, "Amplitude", [invite, set_role]).open_manual_steps == []
    invite.status = "done"
    assert SendView(send, "Amplitude", [invite, set_role]).open_manual_steps == [set_role]
