"""Separation of duties through real signed Slack requests: nobody decides on their own request, whatever
door they use (the button, an edited button value, a forged reject form), only the requester cancels, a
responder does not acknowledge their own emergency. Each refusal reaches the person, is in the audit log,
and changes nothing; the log still verifies (`offboard audit verify`)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from sqlmodel import col, select
from typer.testing import CliRunner

from bot.cli.main import app as cli
from bot.demo.localrun import (
    APPROVALS_CHANNEL,
    APPROVER,
    COMMAND_CHANNEL,
    GROUP_APPROVER,
    OUTSIDER,
    REQUESTER,
    RESPONDER,
    SECURITY_CHANNEL,
    LocalWorld,
)
from bot.engine.decisions import REFUSED
from bot.offboarding.slack import batch_blocks, blocks, change_blocks
from bot.onboarding.slack import blocks as onboard_blocks
from storage.models import AuditEvent, Batch, BatchStatus, Emergency, InviteBatch, InviteBatchStatus, RequestStatus
from tests.e2e.change_support import card_of, click_card, command, latest_request, status_of, wait_status
from tests.e2e.conftest import action_ids, card_text, ephemerals_to, eventually, open_request


def refusals(world: LocalWorld) -> list[AuditEvent]:
    with world.bot.db.session() as session:
        return list(session.exec(select(AuditEvent).where(AuditEvent.action == REFUSED).order_by(col(AuditEvent.seq))))


def refused(world: LocalWorld) -> list[tuple[str, str, int | None]]:
    """(who, what they tried, on which request) of every refusal so far."""
    return [(e.actor, e.details["attempted"], e.request_id) for e in refusals(world)]


def audit_verifies(world: LocalWorld, tmp_path: Path) -> bool:
    env_file = tmp_path / "verify.env"
    env_file.write_text(f"DATABASE_URL={world.database_url}\n")
    result = CliRunner().invoke(cli, ["audit", "verify", "--env-file", str(env_file)])
    return result.exit_code == 0 and "The chain is intact" in result.output


def told(world: LocalWorld, user: str, channel: str = APPROVALS_CHANNEL) -> str:
    return eventually(lambda: ephemerals_to(world, user, channel), what=f"the answer to {user}")[-1]


def with_value(card: dict[str, Any], action_id: str, value: str) -> dict[str, Any]:
    """The card with one button's value edited, as someone replaying a click with a changed payload sends it."""
    edited = copy.deepcopy(card)
    for block in edited["blocks"]:
        for element in [*(block.get("elements") or []), block.get("accessory") or {}]:
            if isinstance(element, dict) and element.get("action_id") == action_id:
                element["value"] = value
    return edited


def open_another(world: LocalWorld, email: str, user: str, *, after: int) -> int:
    """A second request, by `user`, once its card waits for approval (the form is worked after the ack, so
    the newest row is only this one once its id is past `after`)."""
    forms = len(world.slack.calls("views.open"))
    world.driver.slash_command("/offboard", email, user_id=user, channel_id=COMMAND_CHANNEL)
    form = eventually(lambda: world.slack.calls("views.open")[forms:], what="the form")[-1].params["view"]
    assert world.driver.submit_view(form, {"reason": "resignation"}, user_id=user).text in ("", "{}")
    request_id = eventually(lambda: (latest_request(world) or 0) > after and latest_request(world),
                            what="the second request")
    wait_status(world, request_id, RequestStatus.PENDING_APPROVAL)
    return request_id


def test_the_requester_approving_their_own_request_is_refused_and_recorded(world: LocalWorld, tmp_path: Path) -> None:
    request_id = open_request(world, "dave@corp.com")
    click_card(world, request_id, blocks.APPROVE, REQUESTER)
    assert "separation of duties" in told(world, REQUESTER)
    assert refused(world) == [(REQUESTER, "approve", request_id)]
    assert refusals(world)[0].details["why"] == "the requester cannot decide on their own request"
    assert status_of(world, request_id) == RequestStatus.PENDING_APPROVAL
    assert world.posthog.member_by_email("dave@corp.com") is not None
    assert blocks.APPROVE in action_ids(card_of(world, request_id))
    assert audit_verifies(world, tmp_path)


def test_the_requester_rejecting_their_own_request_gets_no_form_and_is_recorded(world: LocalWorld,
                                                                                tmp_path: Path) -> None:
    request_id = open_request(world, "dave@corp.com")
    forms_before = len(world.slack.calls("views.open"))
    click_card(world, request_id, blocks.REJECT, REQUESTER)
    assert "separation of duties" in told(world, REQUESTER)
    assert refused(world) == [(REQUESTER, "reject", request_id)]
    assert len(world.slack.calls("views.open")) == forms_before  # no reject form opened
    assert status_of(world, request_id) == RequestStatus.PENDING_APPROVAL
    assert audit_verifies(world, tmp_path)


def test_a_forged_reject_form_for_ones_own_request_is_refused_and_recorded(world: LocalWorld, tmp_path: Path) -> None:
    request_id = open_request(world, "dave@corp.com")
    card = card_of(world, request_id)
    forged = blocks.reject_modal(request_id, APPROVALS_CHANNEL, str(card["ts"])).to_dict()
    response = world.driver.submit_view(forged, {"comment": "not needed after all"}, user_id=REQUESTER)
    assert response.status_code == 200
    assert "separation of duties" in told(world, REQUESTER)
    assert refused(world) == [(REQUESTER, "reject", request_id)]
    assert status_of(world, request_id) == RequestStatus.PENDING_APPROVAL
    assert "not needed after all" not in card_text(card_of(world, request_id))
    assert audit_verifies(world, tmp_path)


def test_an_approver_pointing_a_button_at_their_own_request_is_refused_and_recorded(world: LocalWorld,
                                                                                    tmp_path: Path) -> None:
    theirs = open_request(world, "alice@corp.com")  # asked by the requester
    mine = open_another(world, "dave@corp.com", APPROVER, after=theirs)  # asked by the approver
    edited = with_value(card_of(world, theirs), blocks.APPROVE, str(mine))
    assert world.driver.click(edited, blocks.APPROVE, user_id=APPROVER, channel_id=APPROVALS_CHANNEL).status_code == 200
    assert "separation of duties" in told(world, APPROVER)
    assert refused(world) == [(APPROVER, "approve", mine)]
    assert status_of(world, mine) == RequestStatus.PENDING_APPROVAL
    assert status_of(world, theirs) == RequestStatus.PENDING_APPROVAL
    assert world.posthog.member_by_email("dave@corp.com") is not None
    assert audit_verifies(world, tmp_path)


def test_an_approver_cannot_decide_on_their_own_offboarding(world: LocalWorld, tmp_path: Path) -> None:
    request_id = open_request(world, "alex@corp.com")  # the approver's own address, asked by the requester
    click_card(world, request_id, blocks.REJECT, APPROVER)
    assert "This offboarding is yours" in told(world, APPROVER)
    assert refused(world) == [(APPROVER, "reject", request_id)]
    assert refusals(world)[0].details["why"] == "the leaver cannot decide on their own offboarding"
    assert status_of(world, request_id) == RequestStatus.PENDING_APPROVAL
    assert audit_verifies(world, tmp_path)


def test_cancel_by_anyone_but_the_requester_is_refused_and_recorded(world: LocalWorld, tmp_path: Path) -> None:
    request_id = open_request(world, "dave@corp.com")
    click_card(world, request_id, blocks.CANCEL, APPROVER)  # an approver, but the request is not yet approved
    assert "Only the person who asked" in told(world, APPROVER)
    click_card(world, request_id, blocks.CANCEL, OUTSIDER)
    assert "Only the person who asked" in told(world, OUTSIDER)
    assert refused(world) == [(APPROVER, "cancel", request_id), (OUTSIDER, "cancel", request_id)]
    assert status_of(world, request_id) == RequestStatus.PENDING_APPROVAL
    assert blocks.CANCEL in action_ids(card_of(world, request_id))
    assert audit_verifies(world, tmp_path)


def emergency_of(world: LocalWorld, request_id: int) -> Emergency:
    with world.bot.db.session() as session:
        found = session.get(Emergency, request_id)
    assert found is not None
    return found


def test_a_responder_acknowledging_their_own_emergency_is_refused_and_recorded(world: LocalWorld,
                                                                               tmp_path: Path) -> None:
    command(world, "dave@corp.com emergency", RESPONDER)
    request_id = eventually(lambda: latest_request(world), what="the emergency")
    assert change_blocks.ACKNOWLEDGE in action_ids(card_of(world, request_id))
    click_card(world, request_id, change_blocks.ACKNOWLEDGE, RESPONDER)
    assert "a second person must acknowledge it" in told(world, RESPONDER, SECURITY_CHANNEL)
    assert refused(world) == [(RESPONDER, "acknowledge", request_id)]
    assert emergency_of(world, request_id).acknowledged_by is None
    assert change_blocks.ACKNOWLEDGE in action_ids(card_of(world, request_id))
    assert audit_verifies(world, tmp_path)


def test_the_leaver_acknowledging_their_own_emergency_is_refused_and_recorded(world: LocalWorld,
                                                                              tmp_path: Path) -> None:
    command(world, "alex@corp.com emergency", RESPONDER)  # the approver's own address
    request_id = eventually(lambda: latest_request(world), what="the emergency")
    click_card(world, request_id, change_blocks.ACKNOWLEDGE, APPROVER)
    assert "This emergency removal is yours" in told(world, APPROVER, SECURITY_CHANNEL)
    assert refused(world) == [(APPROVER, "acknowledge", request_id)]
    assert emergency_of(world, request_id).acknowledged_by is None
    assert audit_verifies(world, tmp_path)


def latest_batch(world: LocalWorld) -> Batch | None:
    with world.bot.db.session() as session:
        return session.exec(select(Batch).order_by(col(Batch.id).desc())).first()


def test_a_batch_is_not_decided_by_its_requester_nor_cancelled_by_anyone_else(world: LocalWorld,
                                                                              tmp_path: Path) -> None:
    world.driver.slash_command("/offboard", "dave@corp.com frank@corp.com resignation", user_id=REQUESTER,
                               channel_id=COMMAND_CHANNEL)
    view = world.slack.wait_for("views.open").params["view"]
    assert world.driver.submit_view(view, {"csv": []}, user_id=REQUESTER).text in ("", "{}")
    batch = eventually(lambda: (b := latest_batch(world)) and b.status == BatchStatus.PENDING_APPROVAL and b,
                       timeout=20, what="the batch waiting for approval")
    card = eventually(lambda: (m := world.slack.message(APPROVALS_CHANNEL, batch.card_ts or ""))
                      and batch_blocks.APPROVE_BATCH in action_ids(m) and m, what="the batch card's buttons")
    clicks = ((REQUESTER, batch_blocks.APPROVE_BATCH), (REQUESTER, batch_blocks.REJECT_BATCH),
              (GROUP_APPROVER, batch_blocks.CANCEL_BATCH))
    for number, (user, action_id) in enumerate(clicks, start=1):
        world.driver.click(card, action_id, user_id=user, channel_id=APPROVALS_CHANNEL)
        eventually(lambda n=number: len(refusals(world)) == n, what="the refusal")  # one at a time, in order
    assert "separation of duties" in told(world, REQUESTER)
    assert "Only the person who asked for this batch" in told(world, GROUP_APPROVER)
    assert [(e.actor, e.details["attempted"], e.details["batch"]) for e in refusals(world)] == [
        (REQUESTER, "approve", batch.id), (REQUESTER, "reject", batch.id), (GROUP_APPROVER, "cancel", batch.id)]
    assert latest_batch(world).status == BatchStatus.PENDING_APPROVAL
    assert audit_verifies(world, tmp_path)


def invite_batch(world: LocalWorld) -> InviteBatch | None:
    with world.bot.db.session() as session:
        return session.exec(select(InviteBatch).order_by(col(InviteBatch.id).desc())).first()


def test_invitations_are_not_approved_by_their_inviter_nor_withdrawn_by_anyone_else(world: LocalWorld,
                                                                                    tmp_path: Path) -> None:
    world.driver.slash_command("/onboard", "boss@corp.com admin vendors=posthog", user_id=APPROVER,
                               channel_id=COMMAND_CHANNEL)
    batch = eventually(lambda: (b := invite_batch(world)) and b.card_ts and b, what="the invitation card")
    card = eventually(lambda: world.slack.message(batch.card_channel or "", batch.card_ts or ""), what="the card")
    for number, (user, action_id) in enumerate(((APPROVER, onboard_blocks.APPROVE),
                                                (OUTSIDER, onboard_blocks.WITHDRAW)), start=1):
        world.driver.click(card, action_id, user_id=user, channel_id=batch.card_channel)
        eventually(lambda n=number: len(refusals(world)) == n, what="the refusal")
    assert "someone else must approve them" in told(world, APPROVER, batch.card_channel or "")
    assert "Only the person who asked for these invitations" in told(world, OUTSIDER, batch.card_channel or "")
    assert [(e.actor, e.details["attempted"], e.details["invitation_batch"]) for e in refusals(world)] == [
        (APPROVER, "approve", batch.id), (OUTSIDER, "withdraw", batch.id)]
    assert invite_batch(world).status == InviteBatchStatus.PENDING_APPROVAL
    assert world.posthog.invites_for("boss@corp.com") == []
    assert audit_verifies(world, tmp_path)
