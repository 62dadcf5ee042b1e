"""Every CSV file the bot shares for people to open in a spreadsheet (a batch's detail file, the sweep's findings,
the access review) writes a cell that starts like a formula with a leading quote, so the spreadsheet shows it
as text. The cells come from people (a ticket) and vendors (a member's name)."""

from __future__ import annotations

import csv
import io

from bot.demo.localrun import APPROVER, COMMAND_CHANNEL, LocalWorld
from bot.demo.standin.slack_api import UploadedFile
from tests.e2e.conftest import eventually
from tests.e2e.scheduled_world import start_world, work
from tests.e2e.test_bulk import open_bulk

FORMULA = '=HYPERLINK("https://evil.example","Re-authenticate")'


def rows_of(upload: UploadedFile) -> list[dict[str, str]]:
    assert upload.content is not None
    return list(csv.DictReader(io.StringIO(upload.content.decode())))


def test_a_batchs_detail_file_quotes_a_ticket_that_looks_like_a_formula(world: LocalWorld) -> None:
    submitted = open_bulk(world, "dave@corp.com frank@corp.com", ticket=FORMULA)
    assert submitted.text in ("", "{}"), submitted.text
    [upload] = eventually(lambda: [f for f in world.slack.files() if f.channel], timeout=20, what="the detail file")
    rows = rows_of(upload)
    assert rows and all(r["ticket"] == "'" + FORMULA for r in rows)


def test_the_sweeps_findings_file_quotes_a_vendor_name_that_looks_like_a_formula(database_url: str) -> None:
    world = start_world(database_url)  # the seeded PostHog world: more findings than a card shows, so a file
    try:
        world.posthog.member_by_email("dave@corp.com").user.first_name = "@SUM(1+1)"  # type: ignore[union-attr]
        work(world).sweeps.run("schedule")
        [upload] = eventually(lambda: [f for f in world.slack.files() if f.channel], what="the findings file")
        dave = next(r for r in rows_of(upload) if r["email"] == "dave@corp.com")
        assert dave["name"].startswith("'@SUM(1+1)")
        assert all(not r[c].startswith(("=", "+", "-", "@")) for r in rows_of(upload) for c in r)
    finally:
        world.stop()


def test_the_access_reviews_file_quotes_a_vendor_name_that_looks_like_a_formula(database_url: str) -> None:
    world = start_world(database_url, vendors=("posthog",))
    try:
        world.posthog.member_by_email("alice@corp.com").user.first_name = "-2+3"  # type: ignore[union-attr]
        response = world.driver.slash_command("/offboard", "review", user_id=APPROVER, channel_id=COMMAND_CHANNEL)
        assert response.status_code == 200
        [upload] = eventually(lambda: [f for f in world.slack.files() if f.channel], timeout=30, what="the CSV")
        alice = next(r for r in rows_of(upload) if r["email"] == "alice@corp.com")
        assert alice["name"].startswith("'-2+3")
    finally:
        world.stop()

