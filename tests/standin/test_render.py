"""What a person would read in Slack, from the message's text and blocks."""

from __future__ import annotations

from typing import Any

from bot.demo.standin.render import render_message, render_text, render_view

NAMES = {"UREQ": "rita", "UAPP1": "alex", "UALICE": "alice"}


def name_of(user_id: str) -> str:
    return NAMES.get(user_id, user_id)


def md(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def button(text: str, action_id: str) -> dict[str, Any]:
    return {"type": "button", "action_id": action_id, "text": {"type": "plain_text", "text": text}}


CARD: dict[str, Any] = {
    "text": "Offboarding request #7",
    "blocks": [
        {"type": "header", "text": {"type": "plain_text", "text": "Offboard alice@corp.com"}},
        {"type": "section", "text": md(":hourglass_flowing_sand: *Waiting for approval* from <!subteam^S1|@team>")},
        {"type": "section", "fields": [
            md("*Person*\n<@UALICE|alice>"),
            md("*Requested by*\n<@UREQ>"),
            md("*Reason*\nresignation"),
            md("*When*\n<!date^1767225600^{date}|2026-01-01>"),
        ]},
        {"type": "divider"},
        {"type": "section", "text": md("~PostHog~ removal, see <https://app.posthog.com/org|PostHog> & more"),
         "accessory": button("Retry", "retry_step")},
        {"type": "context", "elements": [md("Ticket HR-1042"), md("contract_end &lt;not a tag&gt;")]},
        {"type": "actions", "elements": [button("Approve", "approve"), button("Reject", "reject")]},
    ],
}


def test_a_card_reads_like_slack_shows_it() -> None:
    text = render_message(CARD, name_of)
    lines = text.split("\n")
    assert lines[0] == "Offboard alice@corp.com" and set(lines[1]) == {"═"}
    assert "⏳ Waiting for approval from @team" in text
    assert "@alice" in text and "@rita" in text and "<@" not in text
    assert "2026-01-01" in text and "!date" not in text
    assert "PostHog removal, see PostHog & more" in text and "https://" not in text
    assert "[ Retry ]" in text and "[ Approve ]  [ Reject ]" in text
    assert "Ticket HR-1042  contract_end <not a tag>" in text
    assert any(set(line) == {"─"} for line in lines)
    assert "Offboarding request #7" not in text  # with blocks, Slack shows the blocks, not the text


def test_fields_sit_in_two_columns_or_one_per_line() -> None:
    two = render_message(CARD, name_of).split("\n")
    person_row = next(line for line in two if line.startswith("Person"))
    assert "Requested by" in person_row  # side by side
    assert two[two.index(person_row) + 1].split() == ["@alice", "@rita"]
    one = render_message(CARD, name_of, columns=1)
    assert "Person: @alice\nRequested by: @rita\nReason: resignation" in one


def test_text_only_messages_and_files() -> None:
    assert render_message({"text": "Hi <@UAPP1>, *done*"}, name_of) == "Hi @alex, done"
    shared = render_message({"text": "Evidence", "files": [{"name": "evidence.csv", "title": "Evidence #7"}]})
    assert shared == "Evidence\n📎 Evidence #7"


def test_mrkdwn_details() -> None:
    assert render_text("<mailto:a@corp.com|a@corp.com> <https://x.io> <#C1|approvals> <!here>") == (
        "a@corp.com https://x.io #approvals @here"
    )
    assert render_text("snake_case_name stays, _this_ is italic") == "snake_case_name stays, this is italic"


def test_a_modal_shows_its_inputs_and_buttons() -> None:
    view = {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Offboard someone"},
        "submit": {"type": "plain_text", "text": "Submit"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {"type": "input", "label": {"type": "plain_text", "text": "Email"},
             "element": {"type": "plain_text_input", "initial_value": "alice@corp.com"}},
            {"type": "input", "optional": True, "label": {"type": "plain_text", "text": "New owner"},
             "element": {"type": "users_select", "placeholder": {"type": "plain_text", "text": "Pick someone"}}},
        ],
    }
    text = render_view(view, name_of)
    assert "Email\n  [ alice@corp.com ]" in text
    assert "New owner (optional)\n  [ Pick someone ▾ ]" in text
    assert text.rstrip().endswith("[ Cancel ]  [ Submit ]")
