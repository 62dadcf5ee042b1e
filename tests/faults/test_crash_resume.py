"""SIGKILL in the middle of a multi-vendor removal, then a fresh start on the same database: the
request completes, no vendor action is repeated, and the audit chain is whole.

The bot runs as `offboard serve` in its own process (configured only by environment variables), so
the kill is a real one: no cleanup, no flush, a vendor call cut off on the wire.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from bot.demo.localrun import BOT_TOKEN, SIGNING_SECRET
from bot.demo.served import ServedBot
from bot.demo.standin.driver import SlackDriver
from bot.demo.standin.slack_api import SlackStandIn
from bot.offboarding.slack import blocks
from storage import audit
from storage.db import Database
from storage.models import AuditEvent, OffboardRequest, RequestStatus, Step, StepStatus
from tests.e2e.conftest import confirm_values, mark_done
from vendors.sandbox.mixpanel import ORG_ID as MIXPANEL_ORG
from vendors.sandbox.mixpanel import SA_SECRET, SA_USERNAME, SANDBOX_SCIM_TOKEN, MixpanelSandbox
from vendors.sandbox.posthog import ORG_ID, SANDBOX_API_KEY, PostHogSandbox
from vendors.sandbox.server import Fault

LEAVER = "dave@corp.com"


def wait(check: Callable[[], Any], what: str, timeout: float = 40.0, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


@pytest.fixture
def setting(
    tmp_path: Path, database_url: str,
) -> Iterator[tuple[ServedBot, SlackStandIn, PostHogSandbox, MixpanelSandbox, Database]]:
    with SlackStandIn() as slack, PostHogSandbox() as posthog, MixpanelSandbox() as mixpanel:
        env = {
            "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": f"{slack.url}/api/",
            "DATABASE_URL": database_url,
            "OFFBOARD_APPROVALS_CHANNEL": "CAPPROVALS", "OFFBOARD_APPROVERS": "UAPP1,UAPP2",
            "POSTHOG_API_KEY": SANDBOX_API_KEY, "POSTHOG_HOST": posthog.url, "POSTHOG_ORG_ID": ORG_ID,
            "MIXPANEL_SCIM_TOKEN": SANDBOX_SCIM_TOKEN, "MIXPANEL_REGION": mixpanel.url,
            "MIXPANEL_SERVICE_ACCOUNT_USERNAME": SA_USERNAME, "MIXPANEL_SERVICE_ACCOUNT_SECRET": SA_SECRET,
            "MIXPANEL_ORG_ID": str(MIXPANEL_ORG),
            # The killed process held the request's lease: the next one takes over once it runs out.
            "OFFBOARD_LEASE_SECONDS": "2", "OFFBOARD_SCHEDULER_INTERVAL": "1",
        }
        served = ServedBot(env, tmp_path)
        db = Database(database_url)
        try:
            yield served, slack, posthog, mixpanel, db
        finally:
            served.stop()
            db.dispose()


def card(slack: SlackStandIn) -> dict[str, Any]:
    return slack.messages("CAPPROVALS")[0]


def step(db: Database, vendor: str, kind: str) -> Step | None:
    with db.session() as session:
        return session.exec(select(Step).where(Step.vendor == vendor, Step.kind == kind)).first()


def status(db: Database) -> str | None:
    with db.session() as session:
        request = session.exec(select(OffboardRequest)).first()
        return request.status if request else None


def runner(db: Database) -> str | None:
    with db.session() as session:
        return session.exec(select(OffboardRequest.runner)).one()


def test_a_kill_mid_removal_resumes_without_repeating_any_vendor_action(setting: Any) -> None:
    served, slack, posthog, mixpanel, db = setting
    served.start()
    driver = SlackDriver(served.events_url, SIGNING_SECRET, slack)
    driver.slash_command("/offboard", LEAVER, user_id="UREQ")
    view = slack.wait_for("views.open", timeout=10).params["view"]
    assert driver.submit_view(view, {"reason": "resignation"}, user_id="UREQ").status_code == 200
    wait(lambda: status(db) == RequestStatus.PENDING_APPROVAL and blocks.APPROVE in str(card(slack)), "the card")

    # PostHog's DELETE will be cut off on the wire: the sandbox acts after a pause, the bot dies during it.
    posthog.inject(Fault("delay", delay=2.0, method="DELETE", path_pattern=r"/members/", times=1))
    driver.click(card(slack), blocks.APPROVE, user_id="UAPP1", channel_id="CAPPROVALS")
    wait(lambda: (s := step(db, "posthog", "remove_member")) and s.status == StepStatus.RUNNING,
         "PostHog's removal to be under way")
    served.kill()
    wait(lambda: posthog.member_by_email(LEAVER) is None, "the cut-off DELETE to land at PostHog anyway")
    assert step(db, "posthog", "remove_member").status == StepStatus.RUNNING  # the bot never heard back

    served.start()  # a fresh process on the same database resumes the request
    driver = SlackDriver(served.events_url, SIGNING_SECRET, slack)
    wait(lambda: step(db, "posthog", "verify_removed").status == StepStatus.DONE, "PostHog's check")
    for _ in range(10):  # tick Mixpanel's checklist; each tick lets the automated steps behind it run
        values = confirm_values(driver, card(slack), "UAPP2")
        if not values:
            break
        mark_done(driver, card(slack), "UAPP2", values[0])
        wait(lambda v=values[0]: v not in confirm_values(driver, card(slack), "UAPP2"), "the tick to show")
    wait(lambda: status(db) == RequestStatus.COMPLETED, "the request to complete", timeout=30)

    assert posthog.delete_count(LEAVER) == 1, "the removal cut off by the kill was not sent again"
    assert "already removed" in step(db, "posthog", "remove_member").outcome
    deactivated = mixpanel.user(LEAVER)
    assert deactivated is None or not deactivated.active
    wait(lambda: runner(db) is None, "the process that finished the request to let go of it")
    served.stop()  # notifications may still be being recorded: verify the chain once the bot has stopped
    with db.session() as session:
        assert audit.verify_chain(session).ok
        events = list(session.exec(select(AuditEvent).order_by(AuditEvent.seq)))
    posthog_removals = [e for e in events if e.action == "step_started"
                        and e.details.get("vendor") == "posthog" and e.details.get("step") == "remove_member"]
    assert len(posthog_removals) == 2  # started, cut off, resumed: twice asked, once done at PostHog
    assert [e.details.get("vendor") for e in events if e.action == "step_interrupted"] == ["posthog"]
    assert [e.action for e in events].count("completed") == 1
