import pytest

from bot.offboarding.parsing import Help, Invalid, Start, Status, Target, parse_command, parse_reason
from bot.offboarding.values import Reason

VENDORS = ("posthog", "mixpanel")


@pytest.mark.parametrize("text", ["", "   ", "help", "HELP", "--help", "?"])
def test_help(text: str) -> None:
    assert parse_command(text, VENDORS) == Help()


def test_email_is_normalised() -> None:
    assert parse_command("Alice@Corp.COM", VENDORS) == Start(Target(email="alice@corp.com"))


def test_escaped_mention_with_reason() -> None:
    parsed = parse_command("<@U123ABC|alice> resignation", VENDORS)
    assert parsed == Start(Target(slack_id="U123ABC"), reason=Reason.RESIGNATION)


@pytest.mark.parametrize(
    ("words", "reason"),
    [
        ("contract end", Reason.CONTRACT_END),
        ("contract_end", Reason.CONTRACT_END),
        ("Security-Incident", Reason.SECURITY_INCIDENT),
        ("inactive account", Reason.INACTIVE),
        ("audit finding", Reason.AUDIT_FINDING),
    ],
)
def test_reason_words(words: str, reason: Reason) -> None:
    assert parse_reason(words) == reason


def test_unknown_words_become_a_note() -> None:
    parsed = parse_command("bob@corp.com moved to the sales team", VENDORS)
    assert parsed == Start(Target(email="bob@corp.com"), reason=None, note="moved to the sales team")


def test_vendor_option_limits_the_vendors() -> None:
    parsed = parse_command("bob@corp.com vendors=PostHog,posthog termination", VENDORS)
    assert parsed == Start(Target(email="bob@corp.com"), reason=Reason.TERMINATION, vendors=("posthog",))


def test_unknown_vendor_is_refused_with_the_configured_list() -> None:
    parsed = parse_command("bob@corp.com vendors=amplitude", VENDORS)
    assert isinstance(parsed, Invalid)
    assert "amplitude" in parsed.message and "posthog, mixpanel" in parsed.message


@pytest.mark.parametrize("text", ["alice", "alice@", "alice@@corp.com", "alice@corp", "<#C123|general>"])
def test_malformed_email_is_refused(text: str) -> None:
    parsed = parse_command(text, VENDORS)
    assert isinstance(parsed, Invalid)
    assert "not a valid email address" in parsed.message


@pytest.mark.parametrize("text", ["@alice", "@alice.smith", "@corp.com"])
def test_unescaped_at_name_asks_for_autocomplete(text: str) -> None:
    parsed = parse_command(text, VENDORS)
    assert isinstance(parsed, Invalid) and "autocomplete" in parsed.message


def test_status_needs_exactly_one_person() -> None:
    assert parse_command("status alice@corp.com", VENDORS) == Status(Target(email="alice@corp.com"))
    assert isinstance(parse_command("status", VENDORS), Invalid)
    assert isinstance(parse_command("status a@b.com c@d.com", VENDORS), Invalid)


def test_slack_mailto_link_is_understood() -> None:
    assert parse_command("<mailto:alice@corp.com|alice@corp.com>", VENDORS) == Start(Target(email="alice@corp.com"))
