"""`offboard invite --csv FILE --by U123`: the same batch `/onboard csv` makes, from a shell. What needs
no approval is sent before the command returns; the rest waits for one approver's click on the card."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape

from bot.onboarding.parsing import parse_invite_csv
from bot.onboarding.slack.blocks import STATE_LINES, failure_headline, role_words
from bot.onboarding.workflow import InviteDraft, Onboarding
from bot.runtime.config import Settings
from storage.models import InviteState

EXIT_OK, EXIT_FAILED, EXIT_REFUSED = 0, 1, 2


def run_invite_csv(console: Console, errors: Console, settings: Settings, path: Path, by: str, message: str,
                   allow_personal: bool) -> int:
    problems = settings.problems()
    if problems:
        errors.print("[bold red]Cannot invite:[/] " + " ".join(problems))
        return EXIT_REFUSED
    try:
        content = path.read_bytes()
    except OSError as exc:
        errors.print(f"[bold red]Cannot read {escape(str(path))}:[/] {escape(exc.strerror or str(exc))}")
        return EXIT_REFUSED
    from bot.runtime.app import create_bot

    bot = create_bot(settings)
    try:
        assert bot.onboarding is not None
        return _invite(console, errors, bot.onboarding, path.name, content, by, message, allow_personal)
    finally:
        bot.stop()  # waits for the invitations under way


def _invite(console: Console, errors: Console, onboarding: Onboarding, name: str, content: bytes, by: str,
            message: str, allow_personal: bool) -> int:
    parsed = parse_invite_csv(content, onboarding.vendor_names)
    if parsed.problems:
        _print_problems(errors, f"{name}: nothing was sent", parsed.problems)
        return EXIT_REFUSED
    draft = InviteDraft(by, parsed.rows, message, allow_personal, "cli", name)
    result = onboarding.submit(draft)
    if result.batch_id is None:
        _print_problems(errors, f"{name}: nothing was sent", result.problems)
        return EXIT_REFUSED
    onboarding.shutdown(wait=True)  # what needs no approval goes out before we report
    view = onboarding.snapshot(result.batch_id)
    assert view is not None
    console.print(f"Invitation batch #{result.batch_id} from {escape(name)}: {result.sending} sent now, "
                  f"{result.waiting} waiting for an approver on the card in <#{onboarding.config.card_channel}>.")
    failed = False
    for person in view.people:
        console.print(f"  {escape(person.invitation.email)} as {role_words(person.invitation.role)}")
        for send in person.sends:
            state = InviteState(send.send.status)
            words = STATE_LINES[state].split(" ", 1)[1]
            if state == InviteState.FAILED:
                failed = True
                words = f"failed: {failure_headline(send.send.failure_kind)} ({send.send.error})"
            console.print(f"    {send.label}: {escape(words)}")
    return EXIT_FAILED if failed else EXIT_OK


def _print_problems(errors: Console, intro: str, problems: tuple[str, ...]) -> None:
    errors.print(f"[bold red]{escape(intro)}:[/]")
    for problem in problems:
        errors.print(f"  • {escape(problem)}")
