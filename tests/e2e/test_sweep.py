"""The inactive-user sweep end to end: the PostHog and Amplitude sandboxes, the Slack stand-in, real signed
clicks, a real SQLite file, and time travel for the grace period."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select

from bot.demo.localrun import APPROVER, GROUP_APPROVER, OUTSIDER, LocalWorld
from bot.offboarding.slack import blocks
from bot.reviews.slack import sweep_blocks
from storage.models import (
    AuditEvent,
    FindingStatus,
    OffboardRequest,
    RequestStatus,
    SweepExemption,
    SweepFinding,
    utcnow,
)
from tests.e2e.conftest import card_text, eventually, wait_for_status
from tests.e2e.scheduled_world import (
    ADMIN_CHANNEL,
    dm_messages,
    request_row,
    start_world,
    thread_texts,
    tick_at,
    work,
)
from vendors.sandbox.posthog import ADMIN, MEMBER, OWNER

STALE = {"dave@corp.com", "gone@corp.com"}
EXCLUSIONS: dict[str, Any] = {"service_accounts": ["*@svc.corp.com"], "sweep_allowlist": ["carol@corp.com"]}


def seed_posthog(world: LocalWorld) -> None:
    """Exactly two stale accounts, and one of each kind the sweep must leave out."""
    sandbox = world.posthog
    sandbox.reset(seed=False)  # only it-ops@corp.com, the owner holding the API key
    now = sandbox.now

    def days(n: float) -> Any:
        return now - timedelta(days=n)

    sandbox.add_member("dave@corp.com", first_name="Dave", last_name="Diaz", joined_at=days(500),
                       last_login=days(120))  # stale
    sandbox.add_member("gone@corp.com", first_name="Gone", last_name="Person", joined_at=days(300))  # never logged in
    sandbox.add_member("alice@corp.com", level=ADMIN, joined_at=days(700), last_login=days(5))  # active
    sandbox.add_member("frank@corp.com", joined_at=days(10))  # new, never logged in yet
    sandbox.add_member("olga@corp.com", level=OWNER, joined_at=days(900), last_login=days(400))  # an owner
    sandbox.add_member("robot@svc.corp.com", joined_at=days(900), last_login=days(200))  # a service account
    sandbox.add_member("carol@corp.com", level=MEMBER, joined_at=days(900), last_login=days(200))  # allowlisted
    sandbox.add_member("bob@corp.com", joined_at=days(900), last_login=days(200))  # exempted below
    with world.bot.db.session() as session:
        session.add(SweepExemption(email="bob@corp.com", until=utcnow() + timedelta(days=30), by=APPROVER))


@pytest.fixture
def world(database_url: str) -> Iterator[LocalWorld]:
    local = start_world(database_url, vendors=("posthog",), **EXCLUSIONS)
    seed_posthog(local)
    yield local
    local.stop()


def the_sweep_card(world: LocalWorld) -> dict[str, Any]:
    cards = world.slack.messages(ADMIN_CHANNEL)
    assert len(cards) == 1, f"expected one sweep card, found {len(cards)}"
    return cards[0]


def finding(world: LocalWorld, email: str) -> SweepFinding:
    with world.bot.db.session() as session:
        found = session.exec(select(SweepFinding).where(SweepFinding.email == email)).first()
        assert found is not None, email
        return found


def click_card(world: LocalWorld, action_id: str, user: str, value: str) -> None:
    response = world.driver.click(the_sweep_card(world), action_id, user_id=user, value=value,
                                  channel_id=ADMIN_CHANNEL)
    assert response.status_code == 200


def test_a_sweep_finds_exactly_the_seeded_stale_accounts_and_says_what_it_left_out(world: LocalWorld) -> None:
    sweep_id = work(world).sweeps.run("schedule")

    findings = work(world).sweeps.findings(sweep_id)
    assert {f.email for f in findings} == STALE
    assert finding(world, "dave@corp.com").vendors["posthog"]["last_login"] is not None
    assert finding(world, "gone@corp.com").vendors["posthog"]["last_login"] is None  # never logged in
    text = card_text(the_sweep_card(world))
    assert "Inactive accounts: 2 people" in text
    for words in ("2 owners", "1 service account", "1 person on the allowlist", "1 person exempted recently",
                  "1 person who joined recently", "9 seats checked"):
        assert words in text, words
    assert "dave@corp.com" in text and "last login 120 days ago" in text and "never logged in" in text


def test_notify_then_no_answer_by_the_deadline_opens_an_inactive_request_that_goes_through_approval(
    world: LocalWorld,
) -> None:
    work(world).sweeps.run("schedule")
    dave = finding(world, "dave@corp.com")

    click_card(world, sweep_blocks.NOTIFY, APPROVER, str(dave.id))
    dm = eventually(lambda: dm_messages(world, "UDAVE"), what="the DM to dave")[0]
    assert "will be removed on" in card_text(dm) and "PostHog" in card_text(dm)
    assert sweep_blocks.STILL_NEED in card_text(dm)
    dave = eventually(lambda: finding(world, "dave@corp.com") if finding(world, "dave@corp.com").dm_ts else None,
                      what="the notice recorded")
    assert dave.status == FindingStatus.NOTIFIED and dave.grace_until is not None
    assert dave.grace_until - dave.acted_at == timedelta(days=14)  # type: ignore[operator]
    eventually(lambda: "Notified by <@UAPP1>" in card_text(the_sweep_card(world)), what="the card to update")

    tick_at(world, dave.grace_until - timedelta(hours=1))
    assert finding(world, "dave@corp.com").status == FindingStatus.NOTIFIED  # not yet
    tick_at(world, dave.grace_until + timedelta(minutes=1))
    tick_at(world, dave.grace_until + timedelta(minutes=2))  # a second tick (or instance) opens nothing more

    with world.bot.db.session() as session:
        requests = list(session.exec(select(OffboardRequest)))
    assert len(requests) == 1
    request = requests[0]
    assert request.reason == "inactive" and request.subject_email == "dave@corp.com"
    assert request.vendors == ["posthog"] and request.requester_id == APPROVER
    assert finding(world, "dave@corp.com").request_id == request.id
    assert request.id is not None
    wait_for_status(world, request.id, RequestStatus.PENDING_APPROVAL)
    sweep_thread = thread_texts(world, ADMIN_CHANNEL, the_sweep_card(world)["ts"])
    assert any("grace period ended with no answer" in t and f"#{request.id}" in t for t in sweep_thread)

    # Like any other request: the one who set it going cannot approve it; another approver can.
    card = world.slack.messages("CAPPROVALS")[0]
    world.driver.click(card, blocks.APPROVE, user_id=GROUP_APPROVER, channel_id="CAPPROVALS")
    eventually(lambda: world.posthog.member_by_email("dave@corp.com") is None, what="dave removed")
    assert world.posthog.delete_count("dave@corp.com") == 1


def test_i_still_need_access_cancels_the_removal_tells_the_admins_and_exempts_them(world: LocalWorld) -> None:
    sweep_id = work(world).sweeps.run("schedule")
    dave = finding(world, "dave@corp.com")
    click_card(world, sweep_blocks.NOTIFY, APPROVER, str(dave.id))
    dm = eventually(lambda: dm_messages(world, "UDAVE"), what="the DM to dave")[0]

    # Only dave may answer for dave.
    world.driver.click(dm, sweep_blocks.STILL_NEED, user_id="UBOB")
    world.driver.click(dm, sweep_blocks.STILL_NEED, user_id="UDAVE")
    eventually(lambda: finding(world, "dave@corp.com").status == FindingStatus.STILL_NEEDED, what="the answer")
    eventually(lambda: "your access stays" in card_text(dm_messages(world, "UDAVE")[0]), what="the DM updated")
    thread = eventually(lambda: [t for t in thread_texts(world, ADMIN_CHANNEL, the_sweep_card(world)["ts"])
                                 if "still needs access" in t], what="the admins told")
    assert "<@UDAVE>" in thread[0] and "cancelled" in thread[0]
    assert any(c.params.get("reply_broadcast") for c in world.slack.calls("chat.postMessage"))

    tick_at(world, utcnow() + timedelta(days=15))  # past the old deadline: nothing happens
    with world.bot.db.session() as session:
        assert not list(session.exec(select(OffboardRequest)))
        assert session.get(SweepExemption, "dave@corp.com") is not None

    # The next sweep leaves dave out as exempt.
    next_sweep = work(world).sweeps.run("schedule")
    assert next_sweep != sweep_id
    assert {f.email for f in work(world).sweeps.findings(next_sweep)} == STALE - {"dave@corp.com"}


def test_keep_offboard_and_refusals(world: LocalWorld) -> None:
    work(world).sweeps.run("schedule")
    dave, gone = finding(world, "dave@corp.com"), finding(world, "gone@corp.com")

    click_card(world, sweep_blocks.KEEP, OUTSIDER, str(dave.id))  # not an approver
    eventually(lambda: world.slack.ephemerals(user=OUTSIDER), what="the refusal")
    assert finding(world, "dave@corp.com").status == FindingStatus.FOUND

    click_card(world, sweep_blocks.NOTIFY, APPROVER, str(gone.id))  # deactivated in Slack: nobody to DM
    refusal = eventually(lambda: world.slack.ephemerals(user=APPROVER), what="the refusal")
    assert "deactivated in Slack" in refusal[0]["text"]
    assert finding(world, "gone@corp.com").status == FindingStatus.FOUND

    click_card(world, sweep_blocks.KEEP, APPROVER, str(dave.id))
    eventually(lambda: finding(world, "dave@corp.com").status == FindingStatus.KEPT, what="dave kept")
    with world.bot.db.session() as session:
        exemption = session.get(SweepExemption, "dave@corp.com")
        assert exemption is not None and exemption.until > utcnow() + timedelta(days=89)

    click_card(world, sweep_blocks.OFFBOARD, APPROVER, str(gone.id))
    request_id = eventually(lambda: finding(world, "gone@corp.com").request_id, what="the request")
    wait_for_status(world, request_id, RequestStatus.PENDING_APPROVAL)
    request = request_row(world, request_id)
    assert request.reason == "inactive" and request.requester_id == APPROVER
    text = eventually(lambda: card_text(the_sweep_card(world)) if f"#{request_id}" in card_text(
        the_sweep_card(world)) else None, what="the card to show the request")
    assert f"Offboarding request #{request_id} opened by <@{APPROVER}>" in text
    assert "Kept by <@UAPP1>" in text
    with world.bot.db.session() as session:
        actions = [e.action for e in session.exec(select(AuditEvent))]
    assert {"inactive_sweep", "inactive_kept", "inactive_offboard_chosen", "inactive_request_opened"} <= set(actions)


def test_auto_removal_after_the_grace_period_when_the_team_chose_it(database_url: str) -> None:
    world = start_world(database_url, inactive_auto_remove=True, **EXCLUSIONS)
    try:
        seed_posthog(world)
        work(world).sweeps.run("schedule")
        dave = finding(world, "dave@corp.com")
        assert dave.id is not None
        assert work(world).sweeps.notify(dave.id, APPROVER).ok
        dave = finding(world, "dave@corp.com")
        assert dave.grace_until is not None
        tick_at(world, dave.grace_until + timedelta(minutes=1))
        eventually(lambda: world.posthog.member_by_email("dave@corp.com") is None, what="dave removed")
        request_id = finding(world, "dave@corp.com").request_id
        assert request_id is not None
        request = request_row(world, request_id)
        assert request.decided_by == "offboard" and "auto-removal" in request.decision_comment
        eventually(lambda: "Approved by offboard automatically" in card_text(world.slack.messages("CAPPROVALS")[0]),
                   what="the card")
    finally:
        world.stop()


def test_a_long_list_pages_and_attaches_a_csv_and_every_message_fits_slack(database_url: str) -> None:
    world = start_world(database_url)  # the seeded PostHog world: hundreds of members
    try:
        sweep_id = work(world).sweeps.run("schedule")
        findings = work(world).sweeps.findings(sweep_id)
        assert len(findings) > 3 * sweep_blocks.PAGE_SIZE
        card = the_sweep_card(world)
        assert len(card["blocks"]) <= 50
        assert all(c.ok for c in world.slack.calls())  # the stand-in refuses anything over Slack's limits
        [csv_file] = world.slack.files()
        assert csv_file.thread_ts == card["ts"] and csv_file.content is not None
        assert csv_file.content.decode().count("\n") == len(findings) + 1
        first_page = {b["block_id"] for b in card["blocks"] if b.get("block_id", "").startswith("finding_")}

        world.driver.click(card, sweep_blocks.PAGE_NEXT, user_id=APPROVER, channel_id=ADMIN_CHANNEL)
        eventually(lambda: "Page 2 of" in card_text(the_sweep_card(world)), what="page 2")
        second_page = {b["block_id"] for b in the_sweep_card(world)["blocks"]
                       if b.get("block_id", "").startswith("finding_")}
        assert second_page and not second_page & first_page
        assert all(c.ok for c in world.slack.calls())
    finally:
        world.stop()


def test_notify_all_dms_everyone_reachable_and_reports_the_rest(world: LocalWorld) -> None:
    sweep_id = work(world).sweeps.run("schedule")
    click_card(world, sweep_blocks.NOTIFY_ALL, APPROVER, str(sweep_id))
    summary = eventually(lambda: world.slack.ephemerals(user=APPROVER), what="the summary")[0]["text"]
    assert "Notified 1 of 2" in summary and "gone@corp.com" in summary
    assert finding(world, "dave@corp.com").status == FindingStatus.NOTIFIED
    assert finding(world, "gone@corp.com").status == FindingStatus.FOUND
    assert len(dm_messages(world, "UDAVE")) == 1


def test_amplitude_is_judged_from_an_uploaded_members_export(database_url: str) -> None:
    world = start_world(database_url, vendors=("posthog", "amplitude"), **EXCLUSIONS)
    try:
        seed_posthog(world)
        amplitude = world.sandboxes["amplitude"]
        amplitude.reset(seed=False)  # type: ignore[call-arg]
        for email in ("amy@corp.com", "andy@corp.com", "ann@corp.com", "dave@corp.com"):
            amplitude.add_user(email, email.split("@")[0].title(), "Corp", role="Member",  # type: ignore[attr-defined]
                               pending=False)
        sweep_id = work(world).sweeps.run("schedule")
        card = the_sweep_card(world)
        assert "Amplitude could not be judged" in card_text(card) and "does not say when people last logged in" \
            in card_text(card)

        # The admin uploads the export through the card's button and the modal's file input.
        world.driver.click(card, sweep_blocks.UPLOAD, user_id=APPROVER, value=f"{sweep_id}:amplitude",
                           channel_id=ADMIN_CHANNEL)
        view = eventually(lambda: world.slack.views(), what="the upload modal")[0]
        long_ago, recently = (utcnow() - timedelta(days=d) for d in (200, 3))
        csv_text = ("Name,Email,Role,Last Login,Status\n"
                    f"Amy,amy@corp.com,Member,{long_ago:%Y-%m-%d},Active\n"
                    f"Andy,andy@corp.com,Member,{recently:%Y-%m-%d},Active\n"
                    f"Dave,dave@corp.com,Member,{long_ago:%m/%d/%Y},Active\n"
                    f"Former,former@corp.com,Member,{long_ago:%Y-%m-%d},Active\n")  # no longer a member
        shared = world.slack.share_file(APPROVER, "amplitude-members.csv", csv_text.encode())
        response = world.driver.submit_view(view, {"vendor": "amplitude", "export_file": [shared]}, user_id=APPROVER)
        assert response.status_code == 200 and response.text in ("", "{}")

        eventually(lambda: "judged from the members export" in card_text(the_sweep_card(world)), what="the card")
        dave = finding(world, "dave@corp.com")
        assert set(dave.vendors) == {"posthog", "amplitude"} and dave.vendors["amplitude"]["source"] == "export"
        emails = {f.email for f in work(world).sweeps.findings(sweep_id)}
        assert emails == STALE | {"amy@corp.com"}  # not andy (active), ann (not in it), former (gone)
        assert "1 current member(s) are not in it" in card_text(the_sweep_card(world))
    finally:
        world.stop()


def test_a_bad_export_is_refused_with_the_reason(database_url: str) -> None:
    world = start_world(database_url, vendors=("posthog", "amplitude"))
    try:
        sweep_id = work(world).sweeps.run("schedule")
        world.driver.click(the_sweep_card(world), sweep_blocks.UPLOAD, user_id=APPROVER,
                           value=f"{sweep_id}:amplitude", channel_id=ADMIN_CHANNEL)
        view = eventually(lambda: world.slack.views(), what="the upload modal")[0]
        shared = world.slack.share_file(APPROVER, "people.csv", b"Name,Team\nAmy,Growth\n")
        world.driver.submit_view(view, {"vendor": "amplitude", "export_file": [shared]}, user_id=APPROVER)
        dm = eventually(lambda: dm_messages(world, APPROVER), what="the refusal")[0]
        assert "neither an email nor a last-login column" in card_text(dm)
        assert "Amplitude could not be judged" in card_text(the_sweep_card(world))
    finally:
        world.stop()


def test_a_later_sweep_does_not_find_again_who_is_already_notified_or_being_offboarded(world: LocalWorld) -> None:
    first = work(world).sweeps.run("schedule")
    dave, gone = finding(world, "dave@corp.com"), finding(world, "gone@corp.com")
    assert dave.id is not None and gone.id is not None
    assert work(world).sweeps.notify(dave.id, APPROVER).ok
    assert work(world).sweeps.offboard(gone.id, APPROVER).ok

    second = work(world).sweeps.run("schedule")
    assert work(world).sweeps.findings(second) == []
    text = card_text(world.slack.messages(ADMIN_CHANNEL)[-1])
    assert "1 person already notified by an earlier sweep" in text
    assert "1 person whose offboarding is under way" in text
    assert {f.email for f in work(world).sweeps.findings(first)} == STALE


def test_offboard_sweep_in_slack_runs_it_now_for_approvers_only(world: LocalWorld) -> None:
    world.driver.slash_command("/offboard", "sweep", user_id=OUTSIDER)
    refused = eventually(lambda: world.slack.responses(world.driver.last_response_key), what="the refusal")
    assert "Only approvers" in refused[0]["text"]
    assert world.slack.messages(ADMIN_CHANNEL) == []

    world.driver.slash_command("/offboard", "sweep", user_id=APPROVER)
    answer = eventually(lambda: world.slack.responses(world.driver.last_response_key), what="the answer")
    assert "review card will appear in <#CADMIN>" in answer[0]["text"]
    card = eventually(lambda: world.slack.messages(ADMIN_CHANNEL), what="the card")[0]
    assert "Inactive accounts: 2 people" in card_text(card)
