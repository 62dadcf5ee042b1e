"""The approval card as a person reads it, built from plain workflow state."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from bot.offboarding.slack import blocks, details_view
from bot.offboarding.values import RequestSnapshot
from storage.models import OffboardRequest, RequestStatus, Step, StepStatus
from vendors.base import Assessment, AssessmentStatus, Asset, Member, ProjectAccess, Role

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def snapshot(status: RequestStatus, steps: list[Step] | None = None, **request: object) -> RequestSnapshot:
    fields = dict(
        id=7, status=status, subject_email="alice@corp.com", subject_slack_id="UALICE", subject_name="Alice Example",
        reason="resignation", ticket="HR-42", requester_id="UREQ", new_owner_slack_id="UBOB", vendors=["posthog"],
        created_at=NOW, updated_at=NOW,
    )
    fields.update(request)
    member = Member(
        email="alice@corp.com", member_id="u-1", name="Alice Example", role=Role.OWNER, vendor_role="owner (15)",
        projects=(ProjectAccess("1", "Production", "admin"),), last_login=NOW - timedelta(days=3),
    )
    assets = (
        Asset("dashboard", "1", "KPIs", "1"),
        Asset("dashboard", "2", "Funnels", "1"),
        Asset("cohort", "3", "VIP", "1"),
    )
    assessment = Assessment("posthog", AssessmentStatus.MEMBER, member, assets, ("Owner: demoted to admin first",))
    return RequestSnapshot(
        OffboardRequest(**fields), {"posthog": assessment}, steps or [], [], {"posthog": "PostHog"}
    )


def text_of(message: blocks.Message) -> str:
    return json.dumps(message.blocks, ensure_ascii=False)


def action_ids(message: blocks.Message) -> list[str]:
    found = []
    for block in message.blocks:
        found += [e["action_id"] for e in block.get("elements", []) if "action_id" in e]
        if "accessory" in block:
            found.append(block["accessory"]["action_id"])
    return found


def view_action_ids(view: dict) -> list[str]:
    return action_ids(blocks.Message(text="", blocks=view["blocks"]))


def test_pending_card_shows_the_assessment_and_the_decision_buttons() -> None:
    card = blocks.approval_card(snapshot(RequestStatus.PENDING_APPROVAL), NOW)
    text = text_of(card)
    for fact in ["alice@corp.com", "Resignation", "HR-42", "<@UREQ>", "*owner (15)*", "last login 3 days ago",
                 "Production (admin)", "1 cohort, 2 dashboards", "<@UBOB>", "Owner: demoted to admin first"]:
        assert fact in text, fact
    assert action_ids(card) == [blocks.APPROVE, blocks.REJECT, blocks.CANCEL, blocks.DETAILS]


def test_failed_step_offers_retry_and_manual_step_offers_mark_done_once_approved() -> None:
    steps = [
        Step(id=1, request_id=7, vendor="posthog", seq=0, kind="remove_member", title="Remove from Corp",
             status=StepStatus.FAILED, last_error="PostHog answered 503", attempts=1),
        Step(id=2, request_id=7, vendor="posthog", seq=1, kind="manual", title="Reassign flags", manual=True,
             instructions="Feature Flags → filter by creator", status=StepStatus.PENDING),
    ]
    card = blocks.approval_card(
        snapshot(RequestStatus.NEEDS_ATTENTION, steps, decided_by="UAPP1", decided_at=NOW), NOW
    )
    # Retry stays on the card; Mark done and the click path are in the Details view, the card counts them.
    assert action_ids(card) == [blocks.RETRY, blocks.DETAILS]
    assert "PostHog answered 503" in text_of(card)
    assert "Approved by <@UAPP1>" in text_of(card)
    assert "1 step by hand, 0 done" in text_of(card) and "filter by creator" not in text_of(card)
    view = details_view.details_view(
        snapshot(RequestStatus.NEEDS_ATTENTION, steps, decided_by="UAPP1", decided_at=NOW), NOW).to_dict()
    assert view_action_ids(view) == [blocks.CONFIRM]
    assert "Feature Flags → filter by creator" in json.dumps(view, ensure_ascii=False)


def test_manual_steps_are_not_tickable_before_approval() -> None:
    steps = [Step(id=2, request_id=7, vendor="posthog", seq=1, kind="manual", title="Reassign flags", manual=True)]
    card = blocks.approval_card(snapshot(RequestStatus.PENDING_APPROVAL, steps), NOW)
    assert blocks.CONFIRM not in action_ids(card)
    view = details_view.details_view(snapshot(RequestStatus.PENDING_APPROVAL, steps), NOW).to_dict()
    assert blocks.CONFIRM not in view_action_ids(view)
    assert "once the request is approved" in json.dumps(view, ensure_ascii=False)


def test_a_huge_card_stays_within_slacks_block_limit_and_keeps_its_buttons() -> None:
    steps = [
        Step(id=i, request_id=7, vendor="posthog", seq=i, kind="remove_member", title=f"Step {i}", key=str(i),
             status=StepStatus.FAILED, last_error="503")
        for i in range(80)
    ]
    card = blocks.approval_card(snapshot(RequestStatus.NEEDS_ATTENTION, steps), NOW)
    assert len(card.blocks) == blocks.MAX_BLOCKS
    assert card.blocks[-1]["type"] == "actions"
    assert "more items" in text_of(card)


def test_rejected_card_says_who_and_why_and_has_no_buttons() -> None:
    card = blocks.approval_card(
        snapshot(RequestStatus.REJECTED, decided_by="UAPP2", decided_at=NOW, decision_comment="Staying on"), NOW
    )
    assert "Rejected by <@UAPP2>" in text_of(card) and "Staying on" in text_of(card)
    assert action_ids(card) == [blocks.DETAILS]


def test_request_modal_prefills_and_lists_vendors_only_when_there_is_a_choice() -> None:
    single = blocks.request_modal(blocks.ModalPrefill(subject="alice@corp.com", vendors=("posthog",))).to_dict()
    assert [b["block_id"] for b in single["blocks"]] == [
        "subject", "reason", "ticket", "new_owner", "effective_date", "effective_time", "note"
    ]
    assert single["blocks"][0]["element"]["initial_value"] == "alice@corp.com"
    several = blocks.request_modal(blocks.ModalPrefill(vendors=("posthog", "mixpanel"))).to_dict()
    assert "vendors" in [b["block_id"] for b in several["blocks"]]


def test_an_unknown_manual_only_vendor_does_not_promise_an_automatic_lookup() -> None:
    unknown = Assessment("kissmetrics", AssessmentStatus.UNKNOWN, error="no public API; check by hand")
    manual_only = blocks.assessment_text("Kissmetrics", unknown, None, NOW, automated=False)
    assert "done by hand" in manual_only and "look the person up again" not in manual_only
    assert "look the person up again" in blocks.assessment_text("PostHog", unknown, None, NOW, automated=True)


def test_a_last_login_the_api_does_not_give_is_not_called_never() -> None:
    hidden = Member(email="a@corp.com", member_id="a", name="A", role=Role.MEMBER, vendor_role="member",
                    last_login_known=False)
    never = Member(email="a@corp.com", member_id="a", name="A", role=Role.MEMBER, vendor_role="member")
    assert "not given by its API" in blocks.assessment_text(
        "Amplitude", Assessment("amplitude", AssessmentStatus.MEMBER, hidden), None, NOW
    )
    assert "never logged in" in blocks.assessment_text(
        "PostHog", Assessment("posthog", AssessmentStatus.MEMBER, never), None, NOW
    )


def unknown_snapshot(status: RequestStatus, checkable: frozenset[str]) -> RequestSnapshot:
    base = snapshot(status, vendors=["posthog", "kissmetrics"])
    down = Assessment("posthog", AssessmentStatus.UNKNOWN, error="PostHog answered 503", email="alice@corp.com")
    manual = Assessment("kissmetrics", AssessmentStatus.UNKNOWN, error="no public API", email="alice@corp.com")
    return RequestSnapshot(base.request, {"posthog": down, "kissmetrics": manual}, [], [],
                           {"posthog": "PostHog", "kissmetrics": "Kissmetrics"}, checkable)


def test_a_vendor_that_could_not_be_checked_offers_check_again_while_pending() -> None:
    card = blocks.approval_card(unknown_snapshot(RequestStatus.PENDING_APPROVAL, frozenset({"posthog"})), NOW)
    assert action_ids(card) == [blocks.REASSESS, blocks.APPROVE, blocks.REJECT, blocks.CANCEL, blocks.DETAILS]
    button = next(b["accessory"] for b in card.blocks if b.get("accessory", {}).get("action_id") == blocks.REASSESS)
    assert button["value"] == "7:posthog"  # only PostHog: Kissmetrics cannot be looked up at all
    assert "could not check (PostHog answered 503)" in text_of(card)
    decided = blocks.approval_card(unknown_snapshot(RequestStatus.EXECUTING, frozenset({"posthog"})), NOW)
    assert blocks.REASSESS not in action_ids(decided)


def test_the_notices_say_which_removals_a_person_did_by_hand() -> None:
    steps = [
        Step(id=1, request_id=7, vendor="posthog", seq=0, kind="remove_member", title="Remove",
             status=StepStatus.DONE),
        Step(id=2, request_id=7, vendor="kissmetrics", seq=0, kind="manual", key="kissmetrics_remove_member",
             title="Remove them in Kissmetrics", manual=True, status=StepStatus.DONE, done_by="UAPP2"),
        Step(id=3, request_id=7, vendor="kissmetrics", seq=1, kind="manual", key="kissmetrics_verify_removal",
             title="Check", manual=True, status=StepStatus.DONE, done_by="UAPP2"),
    ]
    done = snapshot(RequestStatus.COMPLETED, steps, vendors=["posthog", "kissmetrics"], decided_by="UAPP1",
                    completed_at=NOW)
    done = RequestSnapshot(done.request, done.assessments, steps, [],
                           {"posthog": "PostHog", "kissmetrics": "Kissmetrics"})
    expected = "PostHog (through its API, verified) and Kissmetrics (by hand, confirmed by <@UAPP2>)"
    assert expected in text_of(blocks.stakeholder_notification(done, ""))
    assert expected in text_of(blocks.requester_outcome(done))


def test_the_notice_has_a_line_for_every_tool_including_those_they_were_not_in() -> None:
    steps = [
        Step(id=1, request_id=7, vendor="posthog", seq=0, kind="remove_member", title="Remove",
             status=StepStatus.DONE),
        Step(id=2, request_id=7, vendor="posthog", seq=1, kind="manual", key="posthog_feature_flags",
             title="Flags", manual=True, status=StepStatus.DONE, done_by="UAPP2"),
    ]
    base = snapshot(RequestStatus.COMPLETED, steps, vendors=["posthog", "amplitude"], decided_by="UAPP1",
                    completed_at=NOW)
    absent = Assessment("amplitude", AssessmentStatus.NOT_MEMBER, email="alice@corp.com")
    done = RequestSnapshot(base.request, {**base.assessments, "amplitude": absent}, steps, [],
                           {"posthog": "PostHog", "amplitude": "Amplitude"})
    text = text_of(blocks.stakeholder_notification(done, ""))
    assert "PostHog: removed through its API and verified (was owner); 1 checklist item done by hand" in text
    assert "Amplitude: was not a member" in text


def test_typed_text_is_escaped_once_on_the_card_and_in_the_notices() -> None:
    done = Step(id=1, request_id=7, vendor="posthog", seq=0, kind="remove_member", title="Remove from R&D",
                status=StepStatus.DONE)
    typed = snapshot(RequestStatus.COMPLETED, [done], ticket="R&D <!channel>", note="a > b", subject_name="Al <@U0X>",
                     decided_by="UAPP1", decided_at=NOW, completed_at=NOW)
    card = text_of(blocks.approval_card(typed, NOW))
    assert "R&amp;D &lt;!channel&gt;" in card and "a &gt; b" in card and "Remove from R&amp;D" in card
    assert "&amp;amp;" not in card and "&amp;lt;" not in card and "<!channel>" not in card
    notice = blocks.stakeholder_notification(typed, "")
    notice_text = text_of(notice) + notice.text
    assert "(ticket R&amp;D &lt;!channel&gt;)" in notice_text and "*Al &lt;@U0X&gt;*" in notice_text
    assert "<@U0X>" not in notice_text and "&amp;amp;" not in notice_text


def test_a_long_note_typed_after_the_person_is_prefilled_within_what_the_form_keeps() -> None:
    modal = blocks.request_modal(blocks.ModalPrefill(subject="alice@corp.com", note="x" * 5000)).to_dict()
    note = next(b for b in modal["blocks"] if b["block_id"] == "note")
    assert len(note["element"]["initial_value"]) == blocks.NOTE_LIMIT


def test_the_card_keeps_one_progress_line_per_tool_and_the_details_view_the_click_paths() -> None:
    steps = [
        Step(id=1, request_id=7, vendor="posthog", seq=0, kind="remove_member", title="Remove from Corp",
             status=StepStatus.DONE, outcome="Removed alice@corp.com from Corp"),
        Step(id=2, request_id=7, vendor="posthog", seq=1, kind="manual", title="Reassign flags", manual=True,
             instructions="Feature Flags → filter by creator", status=StepStatus.DONE, done_by="UAPP2",
             finished_at=NOW),
        Step(id=3, request_id=7, vendor="posthog", seq=2, kind="manual", title="Replace keys", manual=True,
             instructions="Settings → User → Personal API keys"),
    ]
    pending = blocks.approval_card(snapshot(RequestStatus.PENDING_APPROVAL, steps), NOW)
    assert "Will: Remove from Corp; and 2 steps by hand" in text_of(pending)
    decided = snapshot(RequestStatus.AWAITING_MANUAL, steps, decided_by="UAPP1", decided_at=NOW)
    card = blocks.approval_card(decided, NOW)
    assert ":white_check_mark: Remove from Corp · :clipboard: 2 steps by hand, 1 done" in text_of(card)
    assert "Personal API keys" not in text_of(card) and "Removed alice@corp.com" not in text_of(card)
    view = json.dumps(details_view.details_view(decided, NOW).to_dict(), ensure_ascii=False)
    for fact in ["Removed alice@corp.com from Corp", "Settings → User → Personal API keys", "~Reassign flags~",
                 "confirmed by <@UAPP2>", "dashboard: KPIs", "cohort: VIP"]:
        assert fact in view, fact
    assert view.count(blocks.CONFIRM) == 1  # only the open one
