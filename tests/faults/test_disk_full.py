"""The database's disk fills up (a real one: the bot's SQLite file on a small filesystem of the test's own).
Whatever a person does meanwhile is refused out loud (nothing recorded, try again), never dropped or answered
500; and a step whose outcome could not be stored goes on by itself once space is back, within a lease and a
scheduler tick, without a restart and without its vendor action being repeated."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import select

from bot.demo.localrun import APPROVALS_CHANNEL, APPROVER, COMMAND_CHANNEL, REQUESTER, LocalWorld
from bot.demo.standin.disk import SmallDisk, small_disk
from bot.offboarding.slack import blocks
from bot.offboarding.values import STATUS_WORDS
from bot.slack.unrecorded import NOTHING_RECORDED
from storage import audit
from storage.models import OffboardRequest, RequestStatus, Step, StepStatus
from tests.e2e.conftest import card_text, click, ephemerals_to, eventually, open_request
from vendors.base import Role
from vendors.sandbox.server import Fault

LEAVER = "dave@corp.com"
LEASE_SECONDS = 2
# Where the removal's request rests once its automated steps are done: finished, or waiting on a checklist item
# a person must tick (PostHog's personal API keys, say).
SETTLED = (RequestStatus.COMPLETED, RequestStatus.AWAITING_MANUAL)
TICK_SECONDS = 1


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[SmallDisk]:
    with small_disk(tmp_path / "disk") as mounted:
        yield mounted


@pytest.fixture
def world(disk: SmallDisk) -> Iterator[LocalWorld]:
    local = LocalWorld.start(disk.database, settings={"scheduler_interval_seconds": TICK_SECONDS,
                                                      "lease_seconds": LEASE_SECONDS})
    local.posthog.seed_person(LEAVER, Role.MEMBER, local.posthog.project_ids()[:1])
    yield local
    disk.free()  # the bot's stop writes too
    local.stop()


def request_status(world: LocalWorld, request_id: int) -> RequestStatus:
    snapshot = world.bot.workflow.snapshot(request_id)
    assert snapshot is not None
    return snapshot.status


def test_an_approve_the_database_cannot_record_is_refused_out_loud(world: LocalWorld, disk: SmallDisk) -> None:
    request_id = open_request(world, LEAVER)
    disk.fill()
    click(world, blocks.APPROVE, APPROVER)
    told = eventually(lambda: [t for t in ephemerals_to(world, APPROVER) if "Nothing was recorded" in t],
                      what="the approver to be told")
    assert "try again" in told[0]
    assert request_status(world, request_id) == RequestStatus.PENDING_APPROVAL
    assert world.posthog.delete_count(LEAVER) == 0

    disk.free()
    click(world, blocks.APPROVE, APPROVER)  # the same click, again, once there is room
    eventually(lambda: world.posthog.delete_count(LEAVER) == 1, what="the removal")
    assert request_status(world, request_id) != RequestStatus.PENDING_APPROVAL


def test_a_request_form_the_database_cannot_record_keeps_the_modal_open_with_why(world: LocalWorld,
                                                                                 disk: SmallDisk) -> None:
    world.driver.slash_command("/offboard", LEAVER, user_id=REQUESTER, channel_id=COMMAND_CHANNEL)
    view = world.slack.wait_for("views.open").params["view"]
    disk.fill()
    answer = world.driver.submit_view(view, {"reason": "resignation"}, user_id=REQUESTER)
    assert answer.status_code == 200, answer.text
    errors = json.loads(answer.text)
    assert errors["response_action"] == "errors"
    assert list(errors["errors"].values()) == [NOTHING_RECORDED]
    with world.bot.db.session() as session:
        assert session.exec(select(OffboardRequest)).first() is None

    disk.free()
    again = world.driver.submit_view(view, {"reason": "resignation"}, user_id=REQUESTER)
    assert again.status_code == 200 and again.text in ("", "{}"), again.text
    eventually(lambda: world.slack.messages(APPROVALS_CHANNEL), what="the card")


def running_removal(world: LocalWorld) -> bool:
    with world.bot.db.session() as session:
        step = session.exec(select(Step).where(Step.kind == "remove_member")).first()
        return step is not None and step.status == StepStatus.RUNNING


def test_a_step_whose_outcome_hit_a_full_disk_goes_on_once_space_is_back(world: LocalWorld, disk: SmallDisk) -> None:
    request_id = open_request(world, LEAVER)
    # PostHog takes a moment to remove the person; the disk fills meanwhile, so the outcome cannot be stored.
    world.posthog.inject(Fault("delay", delay=1.5, method="DELETE", path_pattern=r"/members/", times=1))
    click(world, blocks.APPROVE, APPROVER)
    eventually(lambda: running_removal(world), what="the removal to be under way")
    disk.fill()
    eventually(lambda: world.posthog.member_by_email(LEAVER) is None, what="PostHog to remove the person")
    time.sleep(1.0)  # the bot hears back and fails to store it: nothing observable to wait on while the disk is full
    assert running_removal(world)

    disk.free()
    freed = time.monotonic()
    eventually(lambda: request_status(world, request_id) in SETTLED, timeout=15,
               what="the request to go on once space is back")
    took = time.monotonic() - freed
    # A lease to run out, a scheduler tick to notice, and the steps themselves (slack for a slow machine).
    assert took < LEASE_SECONDS + TICK_SECONDS + 5, f"took {took:.1f} s after space came back"
    assert not running_removal(world)
    words = STATUS_WORDS[request_status(world, request_id)].capitalize()
    eventually(lambda: words in card_text(world.slack.messages(APPROVALS_CHANNEL)[0]), what="the card")
    assert world.posthog.delete_count(LEAVER) == 1, "the removal that landed is not sent again"
    with world.bot.db.session() as session:  # one transaction: a consistent chain, whatever is being added
        assert audit.verify_chain(session).ok
