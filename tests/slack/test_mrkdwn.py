"""The one escaping function, the bot's own markup built apart, and the one CSV cell rule."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot import spreadsheet
from bot.demo.standin.render import render_text
from bot.slack import mrkdwn


def test_escape_turns_slacks_three_control_characters_into_entities_once() -> None:
    typed = "<!channel> R&D <https://evil.example|Log in>"
    escaped = mrkdwn.escape(typed)
    assert escaped == "&lt;!channel&gt; R&amp;D &lt;https://evil.example|Log in&gt;"
    assert render_text(escaped) == typed  # the reader sees exactly what was typed


def test_mentions_channels_and_groups_are_made_only_from_ids_of_their_shape() -> None:
    assert mrkdwn.user("U123ABC") == "<@U123ABC>"
    assert mrkdwn.user("U1><!channel") == "U1&gt;&lt;!channel"
    assert mrkdwn.user(None, "a person") == "a person"
    assert mrkdwn.channel("C0APPROVALS") == "<#C0APPROVALS>"
    assert mrkdwn.channel("C1|x>") == "C1|x&gt;"
    assert mrkdwn.group("S0RESP") == "<!subteam^S0RESP>"
    assert mrkdwn.group("here>") == "here&gt;"


def test_a_link_needs_a_url_of_its_own_and_its_label_cannot_end_it() -> None:
    label = "Q4> <https://evil.example|Re-authenticate PostHog>"
    made = mrkdwn.link("https://eu.posthog.com/project/1/dashboard/7", label)
    assert made == ("<https://eu.posthog.com/project/1/dashboard/7|Q4&gt; &lt;https://evil.example|"
                    "Re-authenticate PostHog&gt;>")
    assert mrkdwn.link("https://evil.example|Log in", "Dashboard") == "Dashboard"
    assert mrkdwn.link("javascript:alert(1)", "Dashboard") == "Dashboard"
    assert mrkdwn.link(None, "<b>") == "&lt;b&gt;"


def test_recorded_phrases_keep_their_mention_and_anything_else_is_text() -> None:
    assert mrkdwn.recorded("Cancelled by <@U0ABC>") == "Cancelled by <@U0ABC>"
    assert mrkdwn.recorded("Cancelled with batch #3 by <@U0ABC>") == "Cancelled with batch #3 by <@U0ABC>"
    assert mrkdwn.recorded("posted in <#C0GHI>, sent to <@U0DEF>") == "posted in <#C0GHI>, sent to <@U0DEF>"
    assert mrkdwn.recorded("Cancelled by <@U0ABC> <!channel>") == "Cancelled by &lt;@U0ABC&gt; &lt;!channel&gt;"
    assert mrkdwn.recorded("sent to <@U0ABC>, <!here>") == "sent to <@U0ABC>, &lt;!here&gt;"


def test_clipping_never_cuts_a_token_or_an_entity() -> None:
    assert mrkdwn.clip("abc <@U12345>", 10) == "abc …"
    assert mrkdwn.clip("abc &amp; def", 8) == "abc …"
    assert mrkdwn.clip("short", 10) == "short"
    assert len(mrkdwn.clip("x" * 5000, 2900)) == 2900


def test_a_slack_date_has_a_utc_fallback() -> None:
    moment = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    stamp = int(moment.timestamp())
    assert mrkdwn.date(moment) == f"<!date^{stamp}^{{date_short_pretty}} {{time}}|2026-11-22 12:00 UTC>"


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_a_cell_that_starts_like_a_formula_gets_a_quote(start: str) -> None:
    assert spreadsheet.cell(start + "1+1") == "'" + start + "1+1"


def test_other_cells_are_written_as_they_are() -> None:
    assert spreadsheet.cell("HR-42") == "HR-42"
    assert spreadsheet.cell(None) == ""
    assert spreadsheet.cell(["=a", "b"]) == "'=a; b"
    assert spreadsheet.render(("a", "b"), [["=x", 3]]) == "a,b\n'=x,3\n"
