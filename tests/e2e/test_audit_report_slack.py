"""The audit report through Slack, with real signed requests against the real bot: the scheduler's tick posts the
signed chain head to the audit channel after a removal, and an audit admin who asks for the report gets one HTML
file in a DM (files.upload v2) that shows the leaver and the chain checked against that head; anyone else is
refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.demo.localrun import APPROVER, OUTSIDER, LocalWorld
from storage import witness
from tests.audit.test_audit_report import Page
from tests.e2e.test_audit_slack import audit_entries, command, offboard_alice, shown

AUDIT_CHANNEL = "CAUDIT"


@pytest.fixture
def witnessed_world(database_url: str, tmp_path: Path) -> Iterator[LocalWorld]:
    key_file = tmp_path / "witness.pem"
    witness.generate_key_file(key_file)
    local = LocalWorld.start(database_url, settings={"audit_channel": AUDIT_CHANNEL,
                                                     "witness_key_file": str(key_file), "seat_cost": {"*": 12.5}})
    yield local
    local.stop()


def test_an_audit_admin_gets_the_report_checked_against_the_witnessed_head(witnessed_world: LocalWorld) -> None:
    world = witnessed_world
    request_id = offboard_alice(world)
    scheduled = world.bot.deps.scheduled
    assert scheduled is not None and scheduled.witness is not None
    scheduled.tick(wait=True)  # what APScheduler fires every OFFBOARD_SCHEDULER_INTERVAL
    (posted,) = world.slack.messages(AUDIT_CHANNEL)
    (head,) = witness.heads_in_text(posted["text"])
    assert posted["text"].startswith(f"Signed audit chain head: entry {head.seq}")

    answer = shown(command(world, "audit report from=2020-01-01 to=2099-12-31", APPROVER))
    assert "I sent you the audit report for 2020-01-01 to 2099-12-31 (1 leaver)" in answer
    assert f"checked against <#{AUDIT_CHANNEL}>" in answer
    (upload,) = world.slack.files()
    assert upload.channel == world.slack.dm_channel(APPROVER) and upload.filename.endswith(".html")
    assert upload.content is not None
    page = Page(upload.content.decode())
    section = page.one("section", id=f"request-{request_id}")
    assert "alice@corp.com" in section.words and "PostHog verified" in section.words
    assert page.one("p", id="witness-verdict").words.startswith(
        f"✓ Every witnessed head is in the chain as signed: 1 of 1, read from Slack channel {AUDIT_CHANNEL}")
    assert any(head.hash in e.words for e in page.find("tr"))
    assert any(r.words == "PostHog 1 12.50 per month" for r in page.find("tr"))
    made = audit_entries(world, "audit_report_made")
    assert [(e.actor, e.details["via"], e.details["request_ids"]) for e in made] == [(APPROVER, "slack", [request_id])]


def test_the_report_is_refused_to_others_and_a_bad_period_is_explained(witnessed_world: LocalWorld) -> None:
    world = witnessed_world
    refused = shown(command(world, "audit report from=2026-01-01 to=2026-03-31", OUTSIDER))
    assert "Only audit admins can see audit evidence" in refused
    bad = shown(command(world, "audit report from=2026-03-31 to=2026-01-01", APPROVER))
    assert "the period ends (2026-01-01) before it starts (2026-03-31)" in bad and "/offboard audit report" in bad
    missing = shown(command(world, "audit report", APPROVER))
    assert "Say the period: `/offboard audit report from=2026-01-01 to=2026-03-31`" in missing
    assert world.slack.files() == [] and audit_entries(world, "audit_report_made") == []
