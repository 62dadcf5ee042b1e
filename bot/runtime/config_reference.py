"""The settings table in docs/configuration.md, written from `bot.runtime.config.Settings`.

Each setting's words live here, in one place, next to nothing else: the names and defaults come from the
Settings fields themselves, so a renamed variable or a changed default shows in the docs at the next run.
`python -m bot.runtime.config_reference` rewrites the table in place; `--check` exits 1 when it is out of date, and a
unit test fails when a setting has no description here.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pydantic import SecretStr
from pydantic_core import PydanticUndefined

from bot.runtime.config import Settings, env_names
from vendors import registry

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
BEGIN = "<!-- settings table: written by `python -m bot.runtime.config_reference`, do not edit by hand -->"
END = "<!-- end of settings table -->"

# What each setting means, keyed by its Settings field. The default column is the field's own default; where
# an empty default means something (falls back to another setting), UNSET_MEANS says what.
DESCRIPTIONS: dict[str, str] = {
    # Slack and the process
    "slack_bot_token": "bot token, `xoxb-…` (required)",
    "slack_signing_secret": "signing secret (required in HTTP mode)",
    "slack_app_token": "app-level token, `xapp-…`; when set, the bot uses Socket Mode",
    "slack_api_url": "Slack Web API base URL, to point the bot at a stand-in",
    "port": "the port HTTP mode listens on (`/slack/events`)",
    "host": "the address HTTP mode listens on",
    "front_read_timeout": "seconds a client may take to send a whole request (or keep a connection idle) before "
                          "HTTP mode cuts it off",
    "front_max_connections": "open connections HTTP mode holds at once; past it, a new one is answered 503 at once "
                             "(Slack retries)",
    "health_port": "a port of its own for `/healthz`, `/readyz` and `/metrics` (see [operations](operations.md)); "
                   "Socket Mode listens on no other port",
    "log_format": "`text`, or `json`: one JSON object per line with `request_id`, `tool` and `step` on a step's "
                  "lines",
    # Where things go and who decides
    "database_url": "SQLAlchemy URL; SQLite (WAL mode) or `postgresql+psycopg://…`",
    "approvals_channel": "channel id for approval cards (required)",
    "notify_channel": "channel id for stakeholder notifications",
    "approvers": "comma-separated Slack user ids who may approve",
    "approver_group": "a Slack user group id whose members may approve",
    "contact": "whom the notification names for questions, e.g. `<#C0IT|it-help>`",
    "scheduler_interval_seconds": "seconds between checks for scheduled removals",
    "lease_seconds": "how long an instance's hold on a request lasts unless its heartbeat renews it; after a "
                     "crash, the request is taken over once it runs out (see *Running several instances* in "
                     "[operations](operations.md))",
    # Vendors (each vendor's own settings are described by its registry entry: vendors/<name>_facts.py)
    "manual_vendors": "comma-separated vendors worked entirely by hand (no credentials needed, their API is never "
                      "called): " + ", ".join(f"`{facts.name}`" for facts in registry.BUILT_IN),
    "rate_limit_scale": "multiplies every vendor's rate limits (PostHog 480/min and 4800/hour, Amplitude 100/min, "
                        "Kissmetrics 15/min), e.g. `2` if a vendor granted you double",
    "max_call_wait": "seconds one vendor call may wait for its rate limit or a 429's `Retry-After`; a longer wait "
                     "parks the step until then (see *Waiting out a rate limit* in [vendors](vendors.md))",
    "vendor_connections": "calls PostHog, Amplitude and Mixpanel may each have on the wire at once (their rate "
                          "limits still apply; Kissmetrics always sends one at a time). Raise it when calls are "
                          "slow rather than rate-limited, e.g. a reorganisation offboarding hundreds",
    "workers": "requests one instance assesses or carries out at once (each fans out to its tools in parallel)",
    # Audit evidence and retention
    "audit_admins": "Slack user ids who may see audit data in Slack (comma-separated)",
    "retention_years": "per-reason overrides, e.g. `termination=10,contract_end=5,security_incident=forever`. "
                       "Reasons: termination, resignation, contract_end, role_change, inactive, security_incident, "
                       "audit_finding; records: sweep, access_review, invitation, approver_nudge",
    "retention_other_years": "years to keep entries tied to no request (refused looks at audit data, exports), "
                             "or `forever`",
    "audit_channel": "the channel id the signed chain heads are posted to (invite the bot). Empty: heads are not "
                     "witnessed",
    "witness_key_file": "the Ed25519 private key file (PEM) that signs the heads; `offboard audit witness-key FILE "
                        "--generate` makes one. Keep it out of the database and its backups",
    "witness_interval_minutes": "how often a moved head is posted besides after each completed removal",
    "seat_cost": "what a seat costs per month, for the report's seats freed: `posthog=20,amplitude=49`, or one "
                 "number for every tool",
    # Scheduled work
    "admin_channel": "channel id for sweep cards and access reviews",
    "sweep_schedule": "when the sweep runs: a crontab line in UTC (`minute hour day month weekday`, Sunday is 0 "
                      "or 7), or `off`",
    "inactive_days": "days without a login that make an account inactive",
    "inactive_days_per_vendor": "per tool, e.g. `posthog=60,mixpanel=120`",
    "service_accounts": "emails or patterns never flagged, e.g. `etl@corp.com,*@svc.corp.com`",
    "sweep_allowlist": "more emails or patterns never flagged",
    "exempt_days": "how long Keep and \"I still need access\" exempt a person",
    "grace_days": "days between Notify and the removal",
    "inactive_auto_remove": "`true`: no answer by the deadline removes without an approver",
    "reminder_hours": "back-off between approval reminders; the last repeats",
    "escalate_after_hours": "hours pending before escalation",
    "fallback_approver": "Slack user id escalations go to (may approve)",
    "escalation_channel": "channel id escalations are posted in",
    "approval_expiry_days": "days pending before a request expires",
    "checklist_reminder_schedule": "when open checklist items are reminded (crontab, UTC)",
    "checklist_owners": "who does each tool's manual steps, e.g. `posthog=U123,amplitude=U456`",
    "review_schedule": "when the access review runs (crontab, UTC)",
    # Invitations
    "onboard_channel": "channel id for invitation cards",
    "onboard_admins": "Slack user ids whose member and read-only invitations need no approval, and who may allow "
                      "personal addresses",
    "personal_domains": "comma-separated personal email domains refused without an override (`none`: no policy)",
    "invite_remind_days": "days pending before the inviter is reminded (once)",
    "invite_expiry_warning_hours": "how long before a tool's invitation lapses it is flagged",
    "access_end_hour": "UTC hour of the day-before reminder and of the day's offboarding request",
    "invite_acceptance_check_minutes": "minutes between acceptance checks (each streams the member lists)",
    # Emergencies, batches, restore, guards
    "emergency_responders": "Slack user ids who may start an emergency removal (comma-separated)",
    "responder_group": "a Slack user group id whose members may start one too",
    "security_channel": "where emergency cards and reminders go",
    "emergency_reminder_minutes": "how long an emergency may stay unacknowledged before (each) reminder",
    "two_approvers_over": "a batch of more people than this needs two distinct approvers",
    "dispute_window_days": "business days after a removal during which approvers may restore it",
    "bot_accounts": "emails of the accounts offboard's own vendor credentials belong to: never changed",
    "idp_groups": "`vendor=IdP group` pairs for tools whose accounts an identity provider provisions, e.g. "
                  "`amplitude=Amplitude users,mixpanel=Mixpanel`",
    "idp_name": "the identity provider's name in those checklist items, e.g. `Okta`",
    # Offboarding that starts itself
    "okta_hook_header": "the name of the header Okta's event hook authenticates with, as configured in Okta",
    "okta_hook_secret": "the secret value Okta's event hook sends in that header; empty turns `/triggers/okta` "
                        "off (404)",
    "okta_apps": "`okta-app=vendor` pairs (the app's id or name), e.g. `0oa1b2c3=posthog,Amplitude=amplitude`: "
                 "removing someone from that Okta app offboards them from that tool alone",
    "hr_webhook_secret": "the shared secret of the signed HR webhook (`/triggers/hr`)",
    "bamboohr_webhook_key": "a BambooHR webhook's private key: BambooHR's own signature is accepted on "
                            "`/triggers/hr`",
    "trigger_approval": "`required` (a triggered request waits for an approver's click) or `event` (the event is "
                        "the approval)",
    "removal_deadline_days": "the removal deadline: business days (Monday to Friday, UTC) after the effective time, "
                             "or after the request was made; `0` turns it off",
    "overdue_schedule": "cron (UTC) of the daily list of leavers past their deadline, in the admin channel",
    "recheck_hours": "hours after a completed removal at which each tool is asked again",
}

UNSET_MEANS: dict[str, str] = {
    "slack_api_url": "`https://slack.com/api/`",
    "health_port": "none",
    "notify_channel": "the card's thread",
    "contact": "the requester",
    "audit_admins": "whoever may approve",
    "retention_years": "per reason, `storage.retention.DEFAULT_RETENTION_YEARS`",
    "admin_channel": "the approvals channel",
    "checklist_owners": "the approver",
    "onboard_channel": "the approvals channel",
    "onboard_admins": "whoever may approve",
    "personal_domains": "the built-in list",
    "emergency_responders": "nobody",
    "security_channel": "the approvals channel",
}


class UndocumentedSettings(ValueError):
    """Settings fields with no description here (or descriptions of fields that are gone)."""


def descriptions() -> dict[str, str]:
    """Every setting's words: the ones here, and each built-in vendor's from its registry entry (a vendor
    registered while a process runs cannot add fields to Settings, so it has none to describe)."""
    return {**DESCRIPTIONS, **{name: words for facts in registry.BUILT_IN for name, words in facts.settings.items()}}


def unset_means() -> dict[str, str]:
    return {**UNSET_MEANS, **{name: words for facts in registry.BUILT_IN for name, words in facts.unset_means.items()}}


def _default(field_name: str) -> str:
    info = Settings.model_fields[field_name]
    value = info.get_default(call_default_factory=True) if info.default is PydanticUndefined else info.default
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if value in ("", None, [], {}):
        return unset_means().get(field_name, "")
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, list):
        value = ",".join(str(int(v) if isinstance(v, float) and v.is_integer() else v) for v in value)
    return f"`{value}`"


def _cell(text: str) -> str:
    # A `|` inside a table cell ends the cell in GitHub's Markdown, even inside backticks, unless escaped.
    return text.replace("|", "\\|")


def missing_descriptions() -> tuple[list[str], list[str]]:
    """(settings without a description, descriptions of no setting)."""
    fields = set(Settings.model_fields)
    described = descriptions()
    return sorted(fields - set(described)), sorted(set(described) - fields)


def settings_table() -> str:
    undocumented, stale = missing_descriptions()
    if undocumented or stale:
        raise UndocumentedSettings(
            "; ".join(part for part in (
                f"no description in bot/runtime/config_reference.py for {', '.join(undocumented)}"
                if undocumented else "",
                f"descriptions of settings that no longer exist: {', '.join(stale)}" if stale else "",
            ) if part))
    secret = {name for name, info in Settings.model_fields.items() if info.annotation is SecretStr}
    lines = ["| variable | meaning | default |", "|---|---|---|"]
    described = descriptions()
    for name in Settings.model_fields:
        names = ", ".join(f"`{env}`" for env in env_names(name))
        meaning = described[name] + (" (*secret*)" if name in secret else "")
        lines.append(f"| {names} | {_cell(meaning)} | {_cell(_default(name))} |")
    return "\n".join(lines)


def rendered(document: str) -> str:
    """The document with the table between its markers replaced by the current one."""
    head, begin, rest = document.partition(BEGIN)
    _old, end, tail = rest.partition(END)
    if not begin or not end:
        raise ValueError(f"{REFERENCE.name} lacks the settings table's markers")
    return f"{head}{BEGIN}\n{settings_table()}\n{END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write the settings table in docs/configuration.md.")
    parser.add_argument("--check", action="store_true", help="exit 1 if the file is out of date; change nothing")
    args = parser.parse_args(argv)
    current = REFERENCE.read_text(encoding="utf-8")
    try:
        wanted = rendered(current)
    except UndocumentedSettings as exc:
        print(exc, file=sys.stderr)
        return 1
    if args.check:
        if wanted != current:
            print(f"{REFERENCE} is out of date: run `python -m bot.runtime.config_reference`", file=sys.stderr)
            return 1
        return 0
    if wanted != current:
        REFERENCE.write_text(wanted, encoding="utf-8")
        print(f"wrote {REFERENCE}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
