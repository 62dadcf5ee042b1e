"""No typed or vendor-supplied text turns into a mention, a channel ping or a link in any message or card the
bot builds: whatever the ticket, note, reason, comment, real name, bulk note, asset, project, member or Team
name, file name or vendor error holds, the only `<…>` left in mrkdwn are the bot's own (known user, channel
and group ids, Slack dates, the connector's asset URL)."""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from hypothesis import given, settings

from bot.audit.slack import blocks as audit_blocks
from bot.offboarding.slack import batch_blocks, blocks, details_view
from bot.offboarding.values import BatchSnapshot
from bot.onboarding.slack import blocks as onboard_blocks
from bot.reviews.slack import review_blocks, sweep_blocks
from bot.slack import app_home
from storage.models import BatchApproval, BatchStatus, RequestMode, RequestStatus, StepStatus
from tests.properties.builder_inputs import (
    NOW,
    Typed,
    access_review,
    batch_row,
    evidence,
    findings,
    foreign_markup,
    invite_views,
    mrkdwn_texts,
    pending_items,
    request_snapshot,
    request_snapshots,
    sweep_run,
    typed,
)

ROOT = Path(blocks.__file__).resolve().parents[3]  # the checkout: bot/offboarding/slack/blocks.py
Rendered = Any


def _dict(built: Any) -> Rendered:
    if isinstance(built, blocks.Message):
        return {"text": built.text, "blocks": built.blocks}
    return built.to_dict() if hasattr(built, "to_dict") else built


# -- every builder, with the hostile text in every field it shows ----------------------------------------------
def _requests(t: Typed) -> Iterator[Rendered]:
    for snapshot in request_snapshots(t):
        yield blocks.approval_card(snapshot, NOW)
        yield details_view.details_view(snapshot, NOW, card_channel="CAPPROVALS")
        if snapshot.removals:  # the notice is sent only then
            yield blocks.stakeholder_notification(snapshot, "")
        yield blocks.new_owner_message(snapshot)
        yield blocks.requester_outcome(snapshot)
    yield blocks.status_message("alice@corp.com", list(request_snapshots(t))[:8], NOW)
    shown = list(request_snapshots(t))[:6]
    sweep = sweep_run(t)
    sweep.status = t.vendor_error
    configuration = app_home.Configuration([t.team_name, t.vendor_error], sweep, 3, t.ticket)
    yield app_home.home_view(app_home.HomeFacts("UAPP1", shown, shown, shown, shown, configuration), NOW)


def _batches(t: Typed) -> Iterator[Rendered]:
    for status in BatchStatus:
        row = batch_row(t, status)
        members = [request_snapshot(t, s, RequestMode.FULL, StepStatus.DONE, batch=row)
                   for s in (RequestStatus.COMPLETED, RequestStatus.PENDING_APPROVAL, RequestStatus.NEEDS_ATTENTION)]
        batch = BatchSnapshot(row, members, [BatchApproval(batch_id=3, approver_id="UAPP1", decided_at=NOW)],
                              {"posthog": "PostHog", "amplitude": "Amplitude", "mixpanel": "Mixpanel"})
        yield batch_blocks.batch_card(batch, NOW)
        yield batch_blocks.batch_notice(batch, "")
        yield batch_blocks.requester_batch_outcome(batch)


def _sweep(t: Typed) -> Iterator[Rendered]:
    run, found = sweep_run(t), findings(t)
    yield sweep_blocks.review_card(run, found, NOW, exempt_days=90)
    yield sweep_blocks.review_card(run, found, NOW, exempt_days=90, page_size=2)
    yield sweep_blocks.notice_dm(found[1], run.vendors, NOW)


def _review(t: Typed) -> Iterator[Rendered]:
    yield review_blocks.review_report(access_review(t, attested=False))
    yield review_blocks.review_report(access_review(t, attested=True))


def _audit(t: Typed) -> Iterator[Rendered]:
    yield audit_blocks.evidence_message("alice@corp.com", [evidence(t)], {"posthog": "PostHog"})
    yield audit_blocks.evidence_message("alice@corp.com", [])
    for channel, unreadable in ((None, None), ("CCARD", None), ("CCARD", t.vendor_error)):
        yield audit_blocks.report_sent_message(3, NOW, NOW, channel, unreadable)


def _invitations(t: Typed) -> Iterator[Rendered]:
    for view in invite_views(t):
        yield onboard_blocks.batch_card(view, NOW)
        yield onboard_blocks.batch_outcome(view, NOW)
    items = pending_items(t)
    yield onboard_blocks.pending_message(items, NOW)
    yield onboard_blocks.reminder_message(items, NOW, 7)
    yield onboard_blocks.expiry_message(items, NOW)
    yield onboard_blocks.action_result_message("Resending.", [(t.step_text, t.step_text)])
    yield onboard_blocks.access_end_inviter_message("jane@corp.com", [t.team_name], NOW.date())
    yield onboard_blocks.access_end_person_message([t.team_name], NOW.date(), "UINV")
    yield onboard_blocks.access_ended_message("jane@corp.com", NOW.date(), 7, "CAPPROVALS")
    yield onboard_blocks.problems_message([t.file_name, t.vendor_error], "Nothing was sent:")


RUNS: tuple[Callable[[Typed], Iterator[Rendered]], ...] = (_requests, _batches, _sweep, _review, _audit,
                                                           _invitations)

# What the runs above call, by module: the test below fails when a builder module gains a message builder that
# is not here. Builders that take no text from people or vendors are listed as such.
COVERED = {
    "bot.offboarding.slack.blocks": {"approval_card", "stakeholder_notification", "new_owner_message",
                                     "requester_outcome", "status_message"},
    "bot.offboarding.slack.batch_blocks": {"batch_card", "batch_notice", "requester_batch_outcome"},
    "bot.reviews.slack.sweep_blocks": {"review_card", "notice_dm"},
    "bot.reviews.slack.review_blocks": {"review_report"},
    "bot.audit.slack.blocks": {"evidence_message", "report_sent_message"},
    "bot.onboarding.slack.blocks": {"batch_card", "batch_outcome", "pending_message", "reminder_message",
                                    "expiry_message", "action_result_message", "access_end_inviter_message",
                                    "access_end_person_message", "access_ended_message", "problems_message"},
    # Its parts are drawn by bot.offboarding.slack.blocks' cards above, in every mode.
    "bot.offboarding.slack.change_blocks": set(),
    "bot.offboarding.slack.details_view": {"details_view"},
    "bot.slack.app_home": {"home_view"},
}
# Modals (their typed values are plain_text), fixed texts, and builders whose text argument is the bot's own mrkdwn
# (its writer escapes what it quotes: bot.slack.mrkdwn).
NO_TYPED_TEXT = {
    "bot.offboarding.slack.blocks": {"request_modal", "reject_modal", "help_message", "error_message"},
    "bot.offboarding.slack.batch_blocks": {"bulk_modal", "batch_reject_modal"},
    "bot.reviews.slack.sweep_blocks": {"upload_modal", "dm_answered"},
    "bot.reviews.slack.review_blocks": set(),
    "bot.audit.slack.blocks": {"refusal_message", "usage_message", "export_sent_message"},
    "bot.onboarding.slack.blocks": {"onboard_modal", "csv_modal", "reject_modal", "help_message", "info_message"},
    "bot.offboarding.slack.change_blocks": set(),
    "bot.offboarding.slack.details_view": set(),
    "bot.slack.app_home": set(),
}


# Builder modules not named *blocks.py: the Details view and App Home.
VIEW_MODULES = {"bot.offboarding.slack.details_view", "bot.slack.app_home"}


@settings(max_examples=40, deadline=None)
@given(typed)
def test_no_typed_or_vendor_text_becomes_markup_in_any_message(t: Typed) -> None:
    for run in RUNS:
        for built in run(t):
            for text in mrkdwn_texts(_dict(built)):
                assert not foreign_markup(text), (run.__name__, foreign_markup(text), text)


@settings(max_examples=30, deadline=None)
@given(typed)
def test_the_emergency_reminder_mentions_only_the_responders(t: Typed) -> None:
    from bot.offboarding.slack.change_notify import SlackChangeNotifier

    posted: list[dict[str, Any]] = []

    class Client:
        def chat_postMessage(self, **params: Any) -> None:
            posted.append(params)

    snapshot = request_snapshot(t, RequestStatus.EXECUTING, RequestMode.EMERGENCY, StepStatus.PENDING)
    snapshot.request.subject_email = t.ticket  # whatever reaches the request's email column
    notifier = SlackChangeNotifier(Client(), approvals_channel="CAPPROVALS",  # type: ignore[arg-type]
                                   responders=("UAPP2",), responder_group="SRESPONDERS")
    notifier.remind_emergency(snapshot, 1)
    assert not foreign_markup(posted[0]["text"])
    assert "<@UAPP2>" in posted[0]["text"] and "<!subteam^SRESPONDERS>" in posted[0]["text"]


def _message_builders(module: Any) -> set[str]:
    found = set()
    for name, function in inspect.getmembers(module, inspect.isfunction):
        if function.__module__ != module.__name__ or name.startswith("_"):
            continue
        returns = str(inspect.signature(function).return_annotation)
        if returns in ("Message", "View", "dict[str, Any]", "blocks.Message"):
            found.add(name)
    return found


def test_every_message_builder_is_run_with_hostile_text() -> None:
    modules = {".".join(path.relative_to(ROOT).with_suffix("").parts) for path in (ROOT / "bot").rglob("*blocks.py")}
    modules |= VIEW_MODULES
    assert modules == set(COVERED), "a new builder module: add its builders to this test"
    for name in sorted(modules):
        module = importlib.import_module(name)
        unlisted = _message_builders(module) - COVERED[name] - NO_TYPED_TEXT[name]
        assert not unlisted, f"{name}: {sorted(unlisted)} not run with hostile text"
