"""The sweep card and the review report stay inside Slack's limits whatever the numbers, and show the
buttons that fit each finding's state; the reminder back-off; the new /offboard words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.demo.standin import limits
from bot.offboarding.parsing import Invalid, ReviewNow, SweepNow, parse_command
from bot.offboarding.reminders import hours, next_reminder
from bot.reviews.slack import sweep_blocks
from bot.reviews.slack.review_blocks import review_report
from storage.models import AccessReview, FindingStatus, SweepFinding, SweepRun

NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)
VENDORS = {
    "posthog": {"label": "PostHog", "days": 90, "source": "api", "members": 300, "stale": 3,
                "left_out": {"owner": 2, "joined recently": 1}, "unjudged": None, "hint": ""},
    "amplitude": {"label": "Amplitude", "days": 90, "source": None, "members": 0, "stale": 0, "left_out": {},
                  "unjudged": "Amplitude's API does not say when people last logged in.", "hint": "Export it."},
    "mixpanel": {"label": "Mixpanel", "days": 120, "source": "export", "members": 80, "stale": 1,
                 "left_out": {"not in the export": 4}, "unjudged": None, "hint": "",
                 "export": {"by": "UAPP1", "at": NOW.isoformat(), "rows": 76, "filename": "mp.csv"}},
    "kissmetrics": {"label": "Kissmetrics", "days": 90, "source": None, "members": 0, "stale": 0, "left_out": {},
                    "unjudged": "offboard cannot list the members of Kissmetrics through its API.", "hint": "X" * 900},
}


def run(page: int = 0) -> SweepRun:
    return SweepRun(id=7, trigger="schedule", started_at=NOW, page=page, vendors=VENDORS)


def findings(count: int, status: FindingStatus = FindingStatus.FOUND) -> list[SweepFinding]:
    seat = {"role": "member", "vendor_role": "member (level 1)", "last_login": (NOW - timedelta(days=200)).isoformat(),
            "joined_at": None, "source": "api"}
    return [SweepFinding(id=i + 1, sweep_id=7, email=f"person{i:04d}@corp.com", name=f"Person {i} " + "Long" * 40,
                         vendors={"posthog": seat, "mixpanel": {**seat, "source": "export", "last_login": None}},
                         status=status, acted_by="UAPP1", acted_at=NOW, grace_until=NOW + timedelta(days=14))
            for i in range(count)]


@pytest.mark.parametrize("count", [0, 1, sweep_blocks.PAGE_SIZE, sweep_blocks.PAGE_SIZE + 1, 2500])
@pytest.mark.parametrize("page", [0, 1, 500])
def test_the_sweep_card_always_fits_slack(count: int, page: int) -> None:
    message = sweep_blocks.review_card(run(page), findings(count), NOW, exempt_days=90)
    assert limits.blocks_problems(message.blocks, max_blocks=limits.MAX_MESSAGE_BLOCKS) == []
    assert len(message.blocks) <= 50


def test_buttons_follow_each_finding_state() -> None:
    def actions(status: FindingStatus) -> list[str]:
        message = sweep_blocks.review_card(run(), findings(1, status), NOW, exempt_days=90)
        return [e["action_id"] for b in message.blocks if b.get("block_id", "").startswith("finding_actions")
                for e in b["elements"]]

    assert actions(FindingStatus.FOUND) == [sweep_blocks.NOTIFY, sweep_blocks.OFFBOARD, sweep_blocks.KEEP]
    assert actions(FindingStatus.NOTIFIED) == [sweep_blocks.OFFBOARD, sweep_blocks.KEEP]
    for done in (FindingStatus.KEPT, FindingStatus.STILL_NEEDED, FindingStatus.OFFBOARDING):
        assert actions(done) == []


def test_the_card_says_which_vendors_could_not_be_judged_and_offers_the_upload() -> None:
    message = sweep_blocks.review_card(run(), findings(2), NOW, exempt_days=90)
    uploads = [b["accessory"]["value"] for b in message.blocks if b.get("accessory", {}).get("action_id")
               == sweep_blocks.UPLOAD]
    assert uploads == ["7:amplitude", "7:kissmetrics"]
    text = str(message.blocks)
    assert "Amplitude could not be judged" in text and "Mixpanel judged from the members export mp.csv" in text
    assert "4 current member(s) are not in it" in text and "Notify all (2)" in text


def test_the_dm_and_the_upload_modal_fit_slack() -> None:
    [finding] = findings(1, FindingStatus.NOTIFIED)
    dm = sweep_blocks.notice_dm(finding, VENDORS, NOW)
    assert limits.blocks_problems(dm.blocks, max_blocks=50) == []
    assert "PostHog and Mixpanel" in dm.text
    assert limits.view_problems(sweep_blocks.upload_modal(7, [("amplitude", "Amplitude")], "amplitude")) == []


def test_the_review_report_fits_slack_and_lists_owners_and_admins() -> None:
    summary = {f"vendor{i}": {"vendor": f"vendor{i}", "label": f"Vendor {i}", "days": 90, "listed": True,
                              "problem": "", "members": 5000, "owners": [f"o{j}@corp.com" for j in range(3)],
                              "admins": [f"admin{j:04d}@corp.com" for j in range(900)], "inactive": None,
                              "never_logged_in": 0, "pending": None, "invites_note": "see the UI"}
               for i in range(60)}
    review = AccessReview(id=3, trigger="schedule", period="2025 Q2", started_at=NOW, summary=summary)
    message = review_report(review)
    assert limits.blocks_problems(message.blocks, max_blocks=50) == []
    assert "and 885 more (see the CSV)" in str(message.blocks)
    assert message.blocks[-1]["elements"][0]["action_id"] == "access_review_attest"


def test_reminders_back_off_and_missed_ones_are_not_caught_up_one_by_one() -> None:
    intervals = [timedelta(hours=h) for h in (4, 8, 16)]
    assert next_reminder(NOW, intervals, NOW) == NOW + timedelta(hours=4)
    assert next_reminder(NOW, intervals, NOW + timedelta(hours=4)) == NOW + timedelta(hours=12)
    assert next_reminder(NOW, intervals, NOW + timedelta(hours=13)) == NOW + timedelta(hours=28)
    assert next_reminder(NOW, intervals, NOW + timedelta(hours=29)) == NOW + timedelta(hours=44)  # then every 16 h
    assert next_reminder(NOW, intervals, NOW + timedelta(days=5)) == NOW + timedelta(hours=124)
    assert hours(timedelta(hours=1)) == "1 hour" and hours(timedelta(hours=30)) == "30 hours"
    assert hours(timedelta(days=3)) == "3 days"


def test_sweep_and_review_are_commands() -> None:
    assert parse_command("sweep") == SweepNow() and parse_command("Review") == ReviewNow()
    assert isinstance(parse_command("sweep now"), Invalid)
