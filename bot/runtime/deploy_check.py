"""`offboard check`: what this deployment still needs, asked read-only of the live services. The settings
`serve` requires; each configured tool's credentials (the connector's own `check()`, through
`vendors.base.deployment_problems`); Slack (`bot.runtime.slack_check`); the database (`bot.runtime.database_check`).

One line per problem, each saying what to do, or a short "all good". Exit 0 when nothing is wrong, 1 when
something is, 2 when a setting cannot even be read (as `offboard serve` and `offboard db` do). Nothing here
changes anything, and no secret is ever printed: vendor messages are scrubbed by `vendors.http`, Slack's come
from its error codes, and database URLs are shown with their password hidden.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from slack_sdk import WebClient

from bot.runtime import database_check, slack_check
from bot.runtime.config import Settings, known_vendors
from vendors.base import Vendor, deployment_problems

log = logging.getLogger(__name__)

# Where manifest.yml is looked for unless --manifest names it: the checkout this code runs from, then the
# working directory (after `pip install .` the code lives elsewhere, the manifest stays in the checkout).
MANIFEST_PLACES = (Path(__file__).resolve().parents[2] / "manifest.yml", Path("manifest.yml"))


class MalformedSettings(Exception):
    """Settings that cannot be read at all: nothing can be checked until they are fixed (exit 2)."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("; ".join(lines))
        self.lines = lines


@dataclass
class CheckReport:
    problems: list[str] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)  # what was checked and found right, for the summary
    notes: list[str] = field(default_factory=list)  # worth saying, not wrong (a tool worked by hand)

    @property
    def exit_code(self) -> int:
        return 1 if self.problems else 0


def load_settings(env_file: Path | None) -> Settings:
    try:
        return Settings(_env_file=env_file) if env_file else Settings()
    except ValidationError as exc:
        raise MalformedSettings([_validation_line(error) for error in exc.errors()]) from None


def _validation_line(error: object) -> str:
    details = dict(error)  # type: ignore[call-overload]
    location = details.get("loc") or ()
    name = str(location[0]) if location else ""
    where = slack_check.setting_name(name) if name in Settings.model_fields else name or "a setting"
    # Only the message: pydantic's `input` would be the setting's value, which may be a secret.
    return f"{where}: {details.get('msg', 'is not valid')}"


def run_check(
    settings: Settings,
    manifest: Path | None = None,
    *,
    vendors: Mapping[str, Vendor] | None = None,
    client: WebClient | None = None,
) -> CheckReport:
    """Raises MalformedSettings. `vendors` and `client` default to what `offboard serve` would build."""
    from bot.runtime.app import slack_client, vendors_from_settings

    _refuse_malformed(settings)
    report = CheckReport(problems=list(settings.problems()))
    if vendors is None:
        try:
            vendors = vendors_from_settings(settings)
        except ValueError as exc:  # a region or host no connector can use
            raise MalformedSettings([str(exc)]) from None
    _check_slack(report, settings, manifest, client or slack_client(settings))
    _check_database(report, settings.database_url)
    _check_vendors(report, vendors)
    return report


def _refuse_malformed(settings: Settings) -> None:
    lines = []
    known = known_vendors()
    unknown = [v for v in settings.manual_vendors if v.lower() not in known]
    if unknown:
        lines.append(f"OFFBOARD_MANUAL_VENDORS names unknown vendor(s) {', '.join(unknown)}: use "
                     f"{', '.join(known)}")
    try:
        database_check.parse_database_url(settings.database_url)
    except database_check.MalformedDatabaseUrl as exc:
        lines.append(str(exc))
    if lines:
        raise MalformedSettings(lines)


def _check_slack(report: CheckReport, settings: Settings, manifest: Path | None, client: WebClient) -> None:
    if not settings.slack_bot_token.get_secret_value():
        return  # settings.problems() already says SLACK_BOT_TOKEN is missing
    declared: list[str] | None = None
    place = manifest or next((p for p in MANIFEST_PLACES if p.is_file()), None)
    if place is None:
        report.problems.append("Cannot find manifest.yml to compare the bot token's scopes with: run offboard check "
                               "from the checkout, or pass --manifest")
    else:
        try:
            declared = slack_check.declared_bot_scopes(place)
        except (OSError, ValueError) as exc:
            report.problems.append(f"Cannot read the scopes manifest.yml declares ({exc}): pass --manifest with the "
                                   "app's manifest")
    channels = slack_check.posting_channels(settings)
    found = slack_check.slack_problems(client, declared, channels)
    report.problems += found
    if not found:
        scopes = f"{len(declared)} scopes" if declared is not None else "scopes not compared"
        report.passed.append(f"Slack (the bot token, {scopes}, the bot in {len(channels)} channel(s))")


def _check_database(report: CheckReport, url: str) -> None:
    found = database_check.database_problems(url)
    report.problems += found
    if not found:
        report.passed.append(f"the database (at migration {database_check.head_revision()})")


def _check_vendors(report: CheckReport, vendors: Mapping[str, Vendor]) -> None:
    for vendor in vendors.values():
        try:
            found = deployment_problems(vendor)
        except Exception as exc:  # one connector's surprise must not hide the other checks' answers
            log.exception("checking %s failed unexpectedly", vendor.label)
            found = [f"{vendor.label}: offboard could not finish checking it ({type(exc).__name__}); check its "
                     "credentials by hand, and run offboard check again"]
        finally:
            close = getattr(vendor, "close", None)
            if callable(close):
                close()
        report.problems += found
        if found:
            continue
        if vendor.capabilities:
            report.passed.append(vendor.label)
        else:  # a connector with no capabilities never calls its tool: nothing there to check
            report.notes.append(f"{vendor.label} is worked by hand (offboard does not call it): nothing to check")


def print_report(console: Console, report: CheckReport) -> None:
    # Lines carry text from settings and services: escaped, so brackets are never read as rich markup.
    for line in report.problems:
        console.print(f"[bold red]✗[/] {escape(line)}", soft_wrap=True)
    for line in report.notes:
        console.print(f"• {escape(line)}", soft_wrap=True)
    if report.problems:
        count = len(report.problems)
        console.print(f"{count} problem{'s' if count != 1 else ''}: fix {'them' if count != 1 else 'it'} and run "
                      "`offboard check` again.", soft_wrap=True)
    else:
        console.print(f"[bold green]✓ All good:[/] {escape(', '.join(report.passed) or 'nothing to check')}.",
                      soft_wrap=True)


def run_cli(console: Console, error_console: Console, env_file: Path | None, manifest: Path | None) -> int:
    """The `offboard check` command: the exit code it ends with."""
    try:
        report = run_check(load_settings(env_file), manifest)
    except MalformedSettings as exc:
        error_console.print("[bold red]offboard cannot check this deployment; these settings cannot be read:[/]")
        for line in exc.lines:
            error_console.print(f"  • {escape(line)}", soft_wrap=True)
        error_console.print("See docs/configuration.md.")
        return 2
    print_report(console, report)
    return report.exit_code
