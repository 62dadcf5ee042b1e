"""The whole PostHog offboarding through Slack: real signed requests into the bot, the PostHog
sandbox and the Slack stand-in on loopback, a real SQLite file."""

from __future__ import annotations

import threading

from sqlmodel import select

from bot.demo.localrun import (
    APPROVALS_CHANNEL,
    APPROVER,
    GROUP_APPROVER,
    NOTIFY_CHANNEL,
    OUTSIDER,
    REQUESTER,
    LocalWorld,
)
from bot.offboarding.slack import blocks
from storage.models import AuditEvent, OffboardRequest, RequestStatus, Step, StepStatus
from tests.e2e.conftest import (
    action_ids,
    card_text,
    click,
    complete_checklist,
    confirm_values,
    ephemerals_to,
    eventually,
    mark_done,
    open_request,
    seen_text,
    the_card,
    wait_for_status,
)
from vendors.sandbox.server import Fault


def dm_texts(world: LocalWorld, user: str) -> list[str]:
    channel = world.slack.dm_channel(user)
    return [card_text(m) for m in world.slack.messages(channel)]


def test_full_offboarding_of_an_admin_with_assets(world: LocalWorld) -> None:
    restricted = [a for a in world.posthog.assets_of("alice@corp.com", "dashboard") if a.restriction_level == 37]
    assert restricted, "the sandbox seeds a restricted dashboard for alice"

    request_id = open_request(world, "alice@corp.com", ticket="HR-42", new_owner="UBOB")
    card = the_card(world)
    text = card_text(card)
    for fact in ["alice@corp.com", "Resignation", "HR-42", "<@UREQ>", "<@UBOB>", "*admin (level 8)*", "last login",
                 "Production", "dashboards"]:
        assert fact in text, fact
    assert action_ids(card) == [blocks.APPROVE, blocks.REJECT, blocks.CANCEL, blocks.DETAILS]

    # Someone who may not approve, and the requester, are refused; nothing changes.
    click(world, blocks.APPROVE, OUTSIDER)
    click(world, blocks.APPROVE, REQUESTER)
    eventually(lambda: ephemerals_to(world, OUTSIDER) and ephemerals_to(world, REQUESTER), what="refusals")
    assert "Only approvers" in ephemerals_to(world, OUTSIDER)[0]
    assert "separation of duties" in ephemerals_to(world, REQUESTER)[0]
    assert world.posthog.member_by_email("alice@corp.com") is not None

    click(world, blocks.APPROVE, APPROVER)
    wait_for_status(world, request_id, RequestStatus.AWAITING_MANUAL)

    # PostHog now: alice is gone, removed exactly once; her restricted dashboards are open to the project.
    assert world.posthog.member_by_email("alice@corp.com") is None
    assert world.posthog.delete_count("alice@corp.com") == 1
    assert all(world.posthog.asset(a.id).restriction_level == 21 for a in restricted)

    card = the_card(world)
    assert "Approved by <@UAPP1>" in card_text(card)
    manual = confirm_values(world.driver, card)
    assert manual, "PostHog leaves manual steps (flags, experiments, personal keys)"
    for value in manual:
        mark_done(world.driver, the_card(world), GROUP_APPROVER, value)
    wait_for_status(world, request_id, RequestStatus.COMPLETED)

    notice = eventually(lambda: world.slack.messages(NOTIFY_CHANNEL), what="the stakeholder notification")
    notice_text = card_text(notice[0])
    assert "alice@corp.com" in notice_text and "PostHog" in notice_text and "Resignation" in notice_text
    assert "<@UBOB>" in notice_text and "it-help" in notice_text
    assert any("you are now the owner" in t for t in eventually(lambda: dm_texts(world, "UBOB"), what="owner DM"))
    assert any("is complete" in t for t in eventually(lambda: dm_texts(world, REQUESTER), what="requester DM"))

    def all_steps_done() -> list[Step]:
        # A notification step is marked done just after Slack accepted it, so the DM can show first.
        with world.bot.db.session() as session:
            steps = session.exec(select(Step).where(Step.request_id == request_id)).all()
        return steps if all(s.status == StepStatus.DONE for s in steps) else []

    steps = eventually(all_steps_done, what="every step, notifications included, to be done")
    assert {s.done_by for s in steps if s.manual} == {GROUP_APPROVER}
    with world.bot.db.session() as session:
        audit = [e.action for e in session.exec(select(AuditEvent).where(AuditEvent.request_id == request_id))]
    for action in ["request_created", "vendor_assessed", "approved", "step_succeeded", "manual_step_confirmed",
                   "completed", "notification_sent"]:
        assert action in audit, action
    with world.bot.db.session() as session:
        refused = session.exec(select(AuditEvent).where(AuditEvent.action == "action_refused")).all()
    assert sorted((e.actor, e.details["attempted"], e.request_id) for e in refused) == sorted([
        (OUTSIDER, "approve", request_id), (REQUESTER, "approve", request_id)])  # the clicks run side by side


def test_two_approvers_clicking_at_once_remove_once(world: LocalWorld) -> None:
    request_id = open_request(world, "dave@corp.com")
    card = the_card(world)
    barrier = threading.Barrier(4)

    def approve(user: str) -> None:
        barrier.wait()
        world.driver.click(card, blocks.APPROVE, user_id=user, channel_id=APPROVALS_CHANNEL)

    threads = [threading.Thread(target=approve, args=(u,)) for u in [APPROVER, GROUP_APPROVER] * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    complete_checklist(world, request_id)
    assert world.posthog.delete_count("dave@corp.com") == 1
    with world.bot.db.session() as session:
        request = session.get(OffboardRequest, request_id)
        assert request.decided_by in (APPROVER, GROUP_APPROVER)
    def refusals() -> list[str]:
        found = [t for u in (APPROVER, GROUP_APPROVER) for t in ephemerals_to(world, u)]
        return found if len(found) >= 3 else []

    refused = eventually(refusals, what="the three losing clicks' answers")
    assert len(refused) == 3 and all("already approved" in t for t in refused)


def test_a_vendor_outage_fails_the_step_and_retry_finishes_it(world: LocalWorld) -> None:
    request_id = open_request(world, "dave@corp.com")
    world.posthog.inject(Fault("status", 503, {"detail": "down"}, method="DELETE", times=None))
    click(world, blocks.APPROVE, APPROVER)
    wait_for_status(world, request_id, RequestStatus.NEEDS_ATTENTION)
    card = the_card(world)
    assert blocks.RETRY in action_ids(card)
    assert "failed" in card_text(card)
    assert world.posthog.member_by_email("dave@corp.com") is not None

    world.posthog.clear_faults()
    retry_value = next(b["accessory"]["value"] for b in card["blocks"]
                       if b.get("accessory", {}).get("action_id") == blocks.RETRY)
    click(world, blocks.RETRY, REQUESTER, value=retry_value)
    complete_checklist(world, request_id)
    assert world.posthog.member_by_email("dave@corp.com") is None
    assert world.posthog.delete_count("dave@corp.com") == 1


def test_the_only_owner_is_never_removed(world: LocalWorld) -> None:
    world.posthog.make_sole_owner("carol@corp.com")
    request_id = open_request(world, "carol@corp.com")
    assert "only owner" in card_text(the_card(world)).lower()
    click(world, blocks.APPROVE, APPROVER)
    wait_for_status(world, request_id, RequestStatus.NEEDS_ATTENTION)
    text = card_text(the_card(world))
    assert "owner first" in text.lower()
    member = world.posthog.member_by_email("carol@corp.com")
    assert member is not None and member.level == 15
    assert world.posthog.delete_count("carol@corp.com") == 0


def test_rejection_asks_why_and_tells_the_requester(world: LocalWorld) -> None:
    request_id = open_request(world, "dave@corp.com")
    before = len(world.slack.calls("views.open"))
    click(world, blocks.REJECT, GROUP_APPROVER)
    eventually(lambda: len(world.slack.calls("views.open")) > before, what="the reject modal")
    view = world.slack.calls("views.open")[-1].params["view"]
    empty = world.driver.submit_view(view, {"comment": "   "}, user_id=GROUP_APPROVER)
    assert "errors" in empty.text  # a rejection must say why
    world.driver.submit_view(view, {"comment": "Dave moves to the data team instead"}, user_id=GROUP_APPROVER)
    wait_for_status(world, request_id, RequestStatus.REJECTED)
    assert "Dave moves to the data team instead" in card_text(the_card(world))
    assert action_ids(the_card(world)) == [blocks.DETAILS]
    dms = eventually(lambda: dm_texts(world, REQUESTER), what="the requester's DM")
    assert any("rejected" in t and "data team" in t for t in dms)
    assert world.posthog.member_by_email("dave@corp.com") is not None


def test_a_person_in_no_tool_completes_as_a_no_op(world: LocalWorld) -> None:
    request_id = open_request(world, "nobody@corp.com")
    assert "not a member" in card_text(the_card(world))
    click(world, blocks.APPROVE, APPROVER)
    wait_for_status(world, request_id, RequestStatus.COMPLETED)
    assert world.posthog.calls("DELETE") == []
    assert world.slack.messages(NOTIFY_CHANNEL) == []
    dms = eventually(lambda: dm_texts(world, REQUESTER), what="the requester's DM")
    assert any("nothing needed removing" in t for t in dms)


def test_the_requester_may_cancel_while_pending(world: LocalWorld) -> None:
    request_id = open_request(world, "dave@corp.com")
    click(world, blocks.CANCEL, APPROVER)
    eventually(lambda: ephemerals_to(world, APPROVER), what="the refusal")
    click(world, blocks.CANCEL, REQUESTER)
    wait_for_status(world, request_id, RequestStatus.CANCELLED)
    assert action_ids(the_card(world)) == [blocks.DETAILS]
    assert world.posthog.member_by_email("dave@corp.com") is not None


def test_an_unknown_vendor_at_assessment_still_removes_and_verifies(world: LocalWorld) -> None:
    world.posthog.inject(Fault("status", 500, {"detail": "boom"}, times=None))
    request_id = open_request(world, "dave@corp.com")
    assert "unknown" in card_text(the_card(world))
    world.posthog.clear_faults()
    click(world, blocks.APPROVE, APPROVER)
    # Removed and verified; what could not be looked at becomes a manual check.
    wait_for_status(world, request_id, RequestStatus.AWAITING_MANUAL)
    assert world.posthog.member_by_email("dave@corp.com") is None
    values = confirm_values(world.driver, the_card(world))
    assert len(values) == 1 and "could not be checked" in seen_text(world.driver, the_card(world))
    mark_done(world.driver, the_card(world), APPROVER, values[0])
    wait_for_status(world, request_id, RequestStatus.COMPLETED)


def test_a_restart_resumes_without_repeating_the_removal(world: LocalWorld) -> None:
    request_id = open_request(world, "dave@corp.com")
    click(world, blocks.APPROVE, APPROVER)
    complete_checklist(world, request_id)
    # Rewind the record to the instant the process died: DELETE sent, step still marked running.
    with world.bot.db.session() as session:
        request = session.get(OffboardRequest, request_id)
        request.status = RequestStatus.EXECUTING
        for step in session.exec(select(Step).where(Step.request_id == request_id)):
            if step.kind in ("remove_member", "verify_removed"):
                step.status = StepStatus.RUNNING if step.kind == "remove_member" else StepStatus.PENDING
            if step.vendor == "slack":
                session.delete(step)
            session.add(step)
        session.add(request)
    world.restart_bot()
    complete_checklist(world, request_id)
    assert world.posthog.delete_count("dave@corp.com") == 1
    with world.bot.db.session() as session:
        remove = session.exec(
            select(Step).where(Step.request_id == request_id, Step.kind == "remove_member")
        ).one()
        assert remove.attempts == 2 and "already" in remove.outcome.lower()


def test_clicks_are_acked_before_the_slow_vendor_work(world: LocalWorld) -> None:
    request_id = open_request(world, "dave@corp.com")
    world.posthog.inject(Fault("delay", delay=1.5, method="DELETE"))
    response = world.driver.click(the_card(world), blocks.APPROVE, user_id=APPROVER, channel_id=APPROVALS_CHANNEL)
    # Slack has its answer while PostHog is still working on the removal.
    assert response.status_code == 200
    assert world.posthog.member_by_email("dave@corp.com") is not None
    complete_checklist(world, request_id)
    assert world.posthog.member_by_email("dave@corp.com") is None
