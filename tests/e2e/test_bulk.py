"""Bulk offboarding through Slack against the PostHog sandbox: several emails (or a CSV file)
make one batch with one approval card, a detail file and per-person progress; vendor failures stop only
the person they hit; one notification at the end; a large batch needs two distinct approvers."""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlmodel import col, select

from bot.demo.localrun import (
    APPROVALS_CHANNEL,
    APPROVER,
    COMMAND_CHANNEL,
    GROUP_APPROVER,
    NOTIFY_CHANNEL,
    OUTSIDER,
    REQUESTER,
    LocalWorld,
)
from bot.offboarding.slack import batch_blocks, blocks
from storage.models import Batch, BatchStatus, OffboardRequest, RequestStatus
from tests.e2e.change_support import card_of, click_card, events, wait_status
from tests.e2e.conftest import action_ids, card_text, complete_checklist, ephemerals_to, eventually
from vendors.sandbox.server import Fault

PEOPLE = ("dave@corp.com", "frank@corp.com", "grace@corp.com")


@pytest.fixture
def world(database_url: str) -> Iterator[LocalWorld]:
    local = LocalWorld.start(database_url, vendors=("posthog",), settings={"two_approvers_over": 3})
    yield local
    local.stop()


def latest_batch(world: LocalWorld) -> Batch | None:
    with world.bot.db.session() as session:
        return session.exec(select(Batch).order_by(col(Batch.id).desc())).first()


def batch_row(world: LocalWorld) -> Batch:
    found = eventually(lambda: latest_batch(world), what="the batch")
    assert found is not None
    return found


def members(world: LocalWorld, batch_id: int) -> dict[str, OffboardRequest]:
    with world.bot.db.session() as session:
        rows = session.exec(select(OffboardRequest).where(OffboardRequest.batch_id == batch_id)).all()
    return {r.subject_email: r for r in rows}


def batch_card(world: LocalWorld) -> dict[str, Any]:
    cards = world.slack.messages(APPROVALS_CHANNEL)
    assert len(cards) == 1, f"expected the one batch card, found {len(cards)}"
    return cards[0]


def wait_batch(world: LocalWorld, status: BatchStatus, timeout: float = 20.0) -> Batch:
    eventually(lambda: batch_row(world).status == status, timeout, f"the batch to be {status}")
    words = batch_blocks.BATCH_WORDS[status]
    eventually(lambda: words in card_text(batch_card(world)), timeout, f"the batch card to show {status}")
    return batch_row(world)


def finish_batch(world: LocalWorld, timeout: float = 30.0) -> Batch:
    """Wait for the approved batch to be done, ticking each person's manual steps on the way (a PostHog
    removal always has one: replacing their personal API keys, which no API shows)."""
    for request in members(world, batch_row(world).id).values():
        complete_checklist(world, request.id, timeout=timeout)
    return wait_batch(world, BatchStatus.DONE)


def open_bulk(world: LocalWorld, text: str, **form: Any) -> Any:
    before = len(world.slack.calls("views.open"))
    world.driver.slash_command("/offboard", text, user_id=REQUESTER, channel_id=COMMAND_CHANNEL)
    eventually(lambda: len(world.slack.calls("views.open")) > before, what="the bulk form")
    view = world.slack.calls("views.open")[-1].params["view"]
    assert view["callback_id"] == batch_blocks.BULK_MODAL
    values = {"csv": form.pop("csv", []), "reason": form.pop("reason", "resignation"), **form}
    return world.driver.submit_view(view, values, user_id=REQUESTER)


def click_batch(world: LocalWorld, action_id: str, user: str) -> None:
    card = batch_card(world)
    assert action_id in action_ids(card), action_ids(card)
    assert world.driver.click(card, action_id, user_id=user, channel_id=APPROVALS_CHANNEL).status_code == 200


def dms(world: LocalWorld, user: str) -> list[str]:
    return [card_text(m) for m in world.slack.messages(world.slack.dm_channel(user))]


def test_three_emails_are_one_batch_one_card_one_approval_and_one_notification(world: LocalWorld) -> None:
    submitted = open_bulk(world, " ".join(PEOPLE) + " resignation")
    assert submitted.text in ("", "{}"), submitted.text
    batch = wait_batch(world, BatchStatus.PENDING_APPROVAL)
    assert batch.size == 3 and batch.approvals_needed == 1 and batch.requester_id == REQUESTER

    card = batch_card(world)
    text = card_text(card)
    for fact in ("Batch #", "3 people", "PostHog: 3 member(s)", *PEOPLE, "Waiting for approval"):
        assert fact in text, fact
    assert action_ids(card) == [batch_blocks.APPROVE_BATCH, batch_blocks.REJECT_BATCH, batch_blocks.CANCEL_BATCH]
    # Each person's card is in the batch card's thread, without buttons of its own to decide.
    thread = world.slack.replies(APPROVALS_CHANNEL, card["ts"])
    person_cards = [m for m in thread if "Offboarding request #" in card_text(m)]
    assert len(person_cards) == 3 and all(blocks.APPROVE not in action_ids(m) for m in person_cards)
    # The detail file: every person and tool, attached in the thread.
    details = eventually(lambda: [f for f in world.slack.files() if f.thread_ts == card["ts"]], what="the file")
    rows = list(csv.DictReader(io.StringIO(details[0].content.decode())))
    assert {r["email"] for r in rows} == set(PEOPLE) and {r["found"] for r in rows} == {"member"}
    assert all(r["automated steps"] for r in rows)

    # An approver approves the batch; nobody approves one person out of it.
    member_ids = {email: r.id for email, r in members(world, batch.id).items()}
    outcome = world.bot.workflow.approve(member_ids["dave@corp.com"], APPROVER)
    assert not outcome.ok and "batch" in outcome.message
    click_batch(world, batch_blocks.APPROVE_BATCH, APPROVER)
    finish_batch(world)
    for email in PEOPLE:
        assert world.posthog.member_by_email(email) is None and world.posthog.delete_count(email) == 1
    text = card_text(batch_card(world))
    assert "Approved by <@UAPP1>" in text and text.count("completed") >= 3

    # One notification for everyone, one DM to the requester (no per-person ones).
    notices = eventually(lambda: world.slack.messages(NOTIFY_CHANNEL), what="the notification")
    assert len(notices) == 1 and all(email in card_text(notices[0]) for email in PEOPLE)
    requester_dms = eventually(lambda: [t for t in dms(world, REQUESTER) if "is finished" in t], what="the DM")
    assert len(requester_dms) == 1 and "3 completed" in requester_dms[0]
    assert not [t for t in dms(world, REQUESTER) if "Offboarding request #" in t and "is complete" in t]
    assert len(events(world, "batch_completed")) == 1 and len(events(world, "notification_sent")) >= 1


def test_a_vendor_failure_stops_only_its_person_and_retry_finishes_the_batch(world: LocalWorld) -> None:
    frank = world.posthog.member_by_email("frank@corp.com")
    assert frank is not None
    open_bulk(world, " ".join(PEOPLE))
    batch = wait_batch(world, BatchStatus.PENDING_APPROVAL)
    # PostHog refuses frank's removal (503 until cleared) and throttles everyone for a moment (429 +
    # Retry-After): the shared limiter waits, the others go through, exactly once each.
    world.posthog.inject(Fault("status", 503, {"detail": "down"}, method="DELETE",
                               path_pattern=frank.user.uuid, times=None))
    world.posthog.throttle(1, times=2, path_pattern="/members/")
    click_batch(world, batch_blocks.APPROVE_BATCH, APPROVER)

    frank_id = members(world, batch.id)["frank@corp.com"].id
    wait_status(world, frank_id, RequestStatus.NEEDS_ATTENTION, timeout=30)
    for email in ("dave@corp.com", "grace@corp.com"):
        complete_checklist(world, members(world, batch.id)[email].id, timeout=30)
        assert world.posthog.delete_count(email) == 1
    assert world.posthog.member_by_email("frank@corp.com") is not None
    assert batch_row(world).status == BatchStatus.APPROVED  # not done while frank is not
    assert not world.slack.messages(NOTIFY_CHANNEL)
    eventually(lambda: ":warning: frank@corp.com: stopped at a failed step" in card_text(batch_card(world)),
               what="the batch card to show frank's failure")

    world.posthog.clear_faults()
    card = card_of(world, frank_id)
    retry = next(b["accessory"]["value"] for b in card["blocks"]
                 if b.get("accessory", {}).get("action_id") == blocks.RETRY)
    click_card(world, frank_id, blocks.RETRY, REQUESTER, value=retry)
    finish_batch(world)
    assert world.posthog.delete_count("frank@corp.com") == 1
    assert len(eventually(lambda: world.slack.messages(NOTIFY_CHANNEL), what="the one notification")) == 1


def test_a_large_batch_needs_two_distinct_approvers_neither_the_requester(world: LocalWorld) -> None:
    people = [f"member{n:03d}@corp.com" for n in (1, 2, 3, 4)]  # more than OFFBOARD_BATCH_TWO_APPROVERS_OVER=3
    open_bulk(world, " ".join(people))
    batch = wait_batch(world, BatchStatus.PENDING_APPROVAL)
    assert batch.approvals_needed == 2
    assert "two different approvers" in card_text(batch_card(world))

    click_batch(world, batch_blocks.APPROVE_BATCH, REQUESTER)
    click_batch(world, batch_blocks.APPROVE_BATCH, OUTSIDER)
    click_batch(world, batch_blocks.APPROVE_BATCH, APPROVER)
    eventually(lambda: "1 of 2 needed" in card_text(batch_card(world)), what="the first approval")
    click_batch(world, batch_blocks.APPROVE_BATCH, APPROVER)  # the same approver again counts once
    eventually(lambda: ephemerals_to(world, REQUESTER) and ephemerals_to(world, OUTSIDER)
               and ephemerals_to(world, APPROVER), what="the refusals")
    assert "separation of duties" in ephemerals_to(world, REQUESTER)[0]
    assert "Only approvers" in ephemerals_to(world, OUTSIDER)[0]
    assert "already approved" in ephemerals_to(world, APPROVER)[0]
    assert batch_row(world).status == BatchStatus.PENDING_APPROVAL
    assert all(world.posthog.member_by_email(p) is not None for p in people)

    click_batch(world, batch_blocks.APPROVE_BATCH, GROUP_APPROVER)
    finish_batch(world)
    assert all(world.posthog.member_by_email(p) is None for p in people)
    text = card_text(batch_card(world))
    assert "Approved by <@UAPP1> and <@UAPP2>" in text
    with world.bot.db.session() as session:
        request = session.exec(select(OffboardRequest).where(OffboardRequest.batch_id == batch.id)).first()
    approvers = {e.details.get("approvers") and tuple(e.details["approvers"]) for e in events(world, "approved",
                                                                                                request.id)}
    assert approvers == {(APPROVER, GROUP_APPROVER)}


def test_a_csv_file_gives_each_person_their_reason_ticket_and_new_owner(world: LocalWorld) -> None:
    bad = world.slack.share_file(REQUESTER, "leavers.csv", b"email,reason,ticket,new owner\n"
                                                          b"dave@corp.com,termination,HR-1,bob@corp.com\n"
                                                          b"not-an-email,resignation,,\n")
    refused = open_bulk(world, "bulk", csv=[bad], reason="contract_end")
    assert "leavers.csv, line 3" in refused.json()["errors"]["csv"]
    assert world.bot.workflow.batch_snapshot(1) is None

    good = world.slack.share_file(REQUESTER, "leavers.csv", b"email,reason,ticket,new owner\r\n"
                                                           b"dave@corp.com,termination,HR-1,bob@corp.com\r\n"
                                                           b"Grace@Corp.com,,HR-2,\r\n")
    submitted = open_bulk(world, "bulk", csv=[good], reason="contract_end")
    assert submitted.text in ("", "{}"), submitted.text
    batch = wait_batch(world, BatchStatus.PENDING_APPROVAL)
    assert batch.source == "leavers.csv"
    rows = members(world, batch.id)
    assert rows["dave@corp.com"].reason == "termination" and rows["dave@corp.com"].ticket == "HR-1"
    assert rows["dave@corp.com"].new_owner_slack_id == "UBOB"
    assert rows["grace@corp.com"].reason == "contract_end" and rows["grace@corp.com"].ticket == "HR-2"


def test_rejecting_the_batch_rejects_everyone_and_tells_the_requester_once(world: LocalWorld) -> None:
    open_bulk(world, " ".join(PEOPLE))
    batch = wait_batch(world, BatchStatus.PENDING_APPROVAL)
    click_batch(world, batch_blocks.REJECT_BATCH, APPROVER)
    view = eventually(lambda: [c for c in world.slack.calls("views.open")
                               if c.params["view"]["callback_id"] == batch_blocks.BATCH_REJECT_MODAL],
                      what="the reject form")[-1].params["view"]
    world.driver.submit_view(view, {"comment": "Not these three: HR changed the list"}, user_id=APPROVER)
    wait_batch(world, BatchStatus.REJECTED)
    assert {r.status for r in members(world, batch.id).values()} == {RequestStatus.REJECTED}
    assert all(world.posthog.writes_about(p) == 0 for p in PEOPLE)
    rejected = eventually(lambda: [t for t in dms(world, REQUESTER) if "was rejected" in t], what="the DM")
    assert len(rejected) == 1 and "HR changed the list" in rejected[0]


def test_two_approvers_clicking_at_once_approve_the_batch_once(world: LocalWorld) -> None:
    open_bulk(world, " ".join(PEOPLE))
    wait_batch(world, BatchStatus.PENDING_APPROVAL)
    card = batch_card(world)
    barrier = threading.Barrier(4)

    def approve(user: str) -> None:
        barrier.wait()
        world.driver.click(card, batch_blocks.APPROVE_BATCH, user_id=user, channel_id=APPROVALS_CHANNEL)

    threads = [threading.Thread(target=approve, args=(u,)) for u in [APPROVER, GROUP_APPROVER] * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    finish_batch(world)
    assert all(world.posthog.delete_count(p) == 1 for p in PEOPLE)
    assert len(events(world, "batch_approved")) == 1
    refused = eventually(lambda: [t for u in (APPROVER, GROUP_APPROVER) for t in ephemerals_to(world, u)]
                         if len([t for u in (APPROVER, GROUP_APPROVER) for t in ephemerals_to(world, u)]) >= 3
                         else None, what="the three losing clicks' answers")
    assert all("already approved" in t for t in refused)


def test_a_batch_waiting_for_approval_survives_a_restart(world: LocalWorld) -> None:
    open_bulk(world, " ".join(PEOPLE))
    wait_batch(world, BatchStatus.PENDING_APPROVAL)
    world.restart_bot()
    click_batch(world, batch_blocks.APPROVE_BATCH, APPROVER)
    finish_batch(world)
    assert all(world.posthog.delete_count(p) == 1 for p in PEOPLE)
    assert len(world.slack.files()) == 1  # the detail file went up once, not again after the restart
    assert len(eventually(lambda: world.slack.messages(NOTIFY_CHANNEL), what="the notification")) == 1
