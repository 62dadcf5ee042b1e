"""Settings from environment variables, or from a `.env`-style file named by `OFFBOARD_ENV_FILE`
(default `.env` in the working directory). Every name is listed in docs/configuration.md.

Secrets can come from files instead, as container platforms hand them over: `NAME_FILE` names a file holding
the secret setting NAME (e.g. `SLACK_BOT_TOKEN_FILE=/run/secrets/slack_bot_token`), and `OFFBOARD_SECRETS_DIR`
names a directory with one file per setting, named after it (`slack_bot_token`, any case). The environment
wins over `NAME_FILE`, which wins over the `.env` file, which wins over the secrets directory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SecretsSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from storage.db import DEFAULT_DATABASE_URL
from vendors import registry

CommaList = Annotated[list[str], NoDecode]


def known_vendors() -> tuple[str, ...]:
    """The vendors a setting may name: those in the vendor registry (vendors.registry), read when checked, so
    a vendor registered while the process runs is known too."""
    return registry.names()


def _env(*names: str) -> AliasChoices:
    return AliasChoices(*names)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=os.environ.get("OFFBOARD_ENV_FILE", ".env"),
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    # Slack
    slack_bot_token: SecretStr = Field(SecretStr(""), validation_alias=_env("SLACK_BOT_TOKEN"))
    slack_signing_secret: SecretStr = Field(SecretStr(""), validation_alias=_env("SLACK_SIGNING_SECRET"))
    slack_app_token: SecretStr = Field(SecretStr(""), validation_alias=_env("SLACK_APP_TOKEN"))
    slack_api_url: str | None = Field(None, validation_alias=_env("SLACK_API_URL"))
    port: int = Field(3000, validation_alias=_env("OFFBOARD_PORT", "PORT"))
    host: str = Field("0.0.0.0", validation_alias=_env("OFFBOARD_HOST"))
    # HTTP mode's front (bot.runtime.front): a client slower than this to send a request is cut off, and past this
    # many open connections a new one is answered 503 at once.
    front_read_timeout: float = Field(5.0, gt=0, validation_alias=_env("OFFBOARD_FRONT_READ_TIMEOUT"))
    front_max_connections: int = Field(256, gt=0, validation_alias=_env("OFFBOARD_FRONT_MAX_CONNECTIONS"))
    # /healthz and /readyz (and /metrics) on a port of their own; Socket Mode listens on no other port.
    health_port: int | None = Field(None, ge=0, le=65535, validation_alias=_env("OFFBOARD_HEALTH_PORT"))
    # "json": one JSON object per line (with request id, tool and step where known), for a log pipeline.
    log_format: Literal["text", "json"] = Field("text", validation_alias=_env("OFFBOARD_LOG_FORMAT"))

    # Where things go and who decides
    database_url: str = Field(DEFAULT_DATABASE_URL, validation_alias=_env("DATABASE_URL"))
    approvals_channel: str = Field("", validation_alias=_env("OFFBOARD_APPROVALS_CHANNEL"))
    notify_channel: str = Field("", validation_alias=_env("OFFBOARD_NOTIFY_CHANNEL"))
    approvers: CommaList = Field(default_factory=list, validation_alias=_env("OFFBOARD_APPROVERS"))
    approver_group: str = Field("", validation_alias=_env("OFFBOARD_APPROVER_GROUP"))
    contact: str = Field("", validation_alias=_env("OFFBOARD_CONTACT"))
    scheduler_interval_seconds: int = Field(60, validation_alias=_env("OFFBOARD_SCHEDULER_INTERVAL"))
    # How long an instance's hold on a request lasts unless renewed (a third of it, by its heartbeat).
    # After a crash, another instance (or the restarted one) takes the request over once it has run out.
    lease_seconds: float = Field(30.0, gt=0, validation_alias=_env("OFFBOARD_LEASE_SECONDS"))

    # PostHog
    posthog_api_key: SecretStr = Field(SecretStr(""), validation_alias=_env("POSTHOG_API_KEY"))
    posthog_host: str = Field("us", validation_alias=_env("POSTHOG_HOST"))
    posthog_org_id: str = Field("@current", validation_alias=_env("POSTHOG_ORG_ID"))

    # Amplitude and Mixpanel, through SCIM (an Enterprise feature on both)
    amplitude_scim_key: SecretStr = Field(SecretStr(""), validation_alias=_env("AMPLITUDE_SCIM_KEY"))
    amplitude_region: str = Field("us", validation_alias=_env("AMPLITUDE_REGION"))
    mixpanel_scim_token: SecretStr = Field(SecretStr(""), validation_alias=_env("MIXPANEL_SCIM_TOKEN"))
    mixpanel_region: str = Field("us", validation_alias=_env("MIXPANEL_REGION"))
    mixpanel_service_account_username: str = Field("", validation_alias=_env("MIXPANEL_SERVICE_ACCOUNT_USERNAME"))
    mixpanel_service_account_secret: SecretStr = Field(
        SecretStr(""), validation_alias=_env("MIXPANEL_SERVICE_ACCOUNT_SECRET")
    )
    mixpanel_org_id: str = Field("", validation_alias=_env("MIXPANEL_ORG_ID"))
    # Mixpanel's SCIM sees only emails on the organization's verified claimed domains: off them, a SCIM miss is
    # "unknown", never "not a member". Empty: every SCIM miss is unknown (offboard cannot tell).
    mixpanel_verified_domains: CommaList = Field(default_factory=list,
                                                 validation_alias=_env("MIXPANEL_VERIFIED_DOMAINS"))
    # Only https://mixpanel.com/api/app/scim/v2 is documented (its EU and India SCIM hosts are not): empty uses it.
    mixpanel_scim_url: str = Field("", validation_alias=_env("MIXPANEL_SCIM_URL"))

    # Kissmetrics: no public user API is known, so by default it is a checklist of manual steps.
    kissmetrics_enabled: bool = Field(False, validation_alias=_env("KISSMETRICS_ENABLED"))
    kissmetrics_api_key: SecretStr = Field(SecretStr(""), validation_alias=_env("KISSMETRICS_API_KEY"))
    kissmetrics_api_url: str = Field("https://api.kissmetrics.com", validation_alias=_env("KISSMETRICS_API_URL"))

    # Vendors worked by hand: enabled without credentials, never called (e.g. no Enterprise plan for SCIM).
    manual_vendors: CommaList = Field(default_factory=list, validation_alias=_env("OFFBOARD_MANUAL_VENDORS"))
    # Multiplies every vendor's documented rate limit (a vendor that granted you more, or a benchmark).
    rate_limit_scale: float = Field(1.0, gt=0, validation_alias=_env("OFFBOARD_RATE_LIMIT_SCALE"))
    # Seconds one vendor call may wait for its rate limit (or a 429's Retry-After); a longer wait parks the step
    # until then instead of holding a worker, and the scheduler's tick resumes it.
    max_call_wait: float = Field(60.0, gt=0, validation_alias=_env("OFFBOARD_MAX_CALL_WAIT"))
    # How many calls each vendor (PostHog, Amplitude, Mixpanel) may have on the wire at once; their rate
    # limits still apply. Kissmetrics always sends one at a time. More helps when calls are slow, not limited.
    vendor_connections: int = Field(4, ge=1, le=64, validation_alias=_env("OFFBOARD_VENDOR_CONNECTIONS"))
    # Requests assessed or carried out at once in this instance (each fans out to its vendors in parallel).
    workers: int = Field(16, ge=1, le=256, validation_alias=_env("OFFBOARD_WORKERS"))

    # Audit evidence and retention: fields go below this line.
    # Who may see audit data in Slack (Slack user ids); empty: whoever may approve.
    audit_admins: CommaList = Field(default_factory=list, validation_alias=_env("OFFBOARD_AUDIT_ADMINS"))
    # Years to keep a request's personal data, per reason, e.g. "termination=7,security_incident=forever";
    # reasons not named keep the defaults of storage.retention.DEFAULT_RETENTION_YEARS.
    retention_years: Annotated[dict[str, int | None], NoDecode] = Field(
        default_factory=dict, validation_alias=_env("OFFBOARD_RETENTION_YEARS")
    )
    # Years to keep audit entries that belong to no request (e.g. refused looks at audit data).
    # Default: storage.retention.DEFAULT_OTHER_YEARS.
    retention_other_years: int | None = Field(7, validation_alias=_env("OFFBOARD_RETENTION_OTHER_YEARS"))
    # Witnessed chain heads (storage/witness.py): the channel the signed heads go to, the Ed25519 key file that
    # signs them (never the database), and how often a moved head is posted besides after each removal.
    audit_channel: str = Field("", validation_alias=_env("OFFBOARD_AUDIT_CHANNEL"))
    witness_key_file: str = Field("", validation_alias=_env("OFFBOARD_WITNESS_KEY_FILE"))
    witness_interval_minutes: float = Field(60.0, gt=0, validation_alias=_env("OFFBOARD_WITNESS_INTERVAL_MINUTES"))
    # What a seat costs per tool and month, for the report's "seats freed": "posthog=20,amplitude=49", or one
    # number for every tool.
    seat_cost: Annotated[dict[str, float], NoDecode] = Field(
        default_factory=dict, validation_alias=_env("OFFBOARD_SEAT_COST"))

    # Scheduled work (inactive-user sweeps, approval reminders and escalation, access reviews).
    # Schedules are crontab lines in UTC (Sunday is 0 or 7, as in cron), or "off".
    admin_channel: str = Field("", validation_alias=_env("OFFBOARD_ADMIN_CHANNEL"))  # empty: the approvals channel
    sweep_schedule: str = Field("0 9 * * mon", validation_alias=_env("OFFBOARD_SWEEP_SCHEDULE"))
    inactive_days: int = Field(90, ge=1, validation_alias=_env("OFFBOARD_INACTIVE_DAYS"))
    inactive_days_per_vendor: Annotated[dict[str, int], NoDecode] = Field(
        default_factory=dict, validation_alias=_env("OFFBOARD_INACTIVE_DAYS_PER_VENDOR"))
    service_accounts: CommaList = Field(default_factory=list, validation_alias=_env("OFFBOARD_SERVICE_ACCOUNTS"))
    sweep_allowlist: CommaList = Field(default_factory=list, validation_alias=_env("OFFBOARD_SWEEP_ALLOWLIST"))
    exempt_days: int = Field(90, ge=1, validation_alias=_env("OFFBOARD_SWEEP_EXEMPT_DAYS"))
    grace_days: int = Field(14, ge=1, validation_alias=_env("OFFBOARD_GRACE_DAYS"))
    inactive_auto_remove: bool = Field(False, validation_alias=_env("OFFBOARD_INACTIVE_AUTO_REMOVE"))
    reminder_hours: Annotated[list[float], NoDecode] = Field(
        default_factory=lambda: [4.0, 8.0, 16.0], validation_alias=_env("OFFBOARD_REMINDER_HOURS"))
    escalate_after_hours: float = Field(24.0, gt=0, validation_alias=_env("OFFBOARD_ESCALATE_AFTER_HOURS"))
    fallback_approver: str = Field("", validation_alias=_env("OFFBOARD_FALLBACK_APPROVER"))
    escalation_channel: str = Field("", validation_alias=_env("OFFBOARD_ESCALATION_CHANNEL"))
    approval_expiry_days: float = Field(7.0, gt=0, validation_alias=_env("OFFBOARD_APPROVAL_EXPIRY_DAYS"))
    checklist_reminder_schedule: str = Field("0 9 * * *", validation_alias=_env("OFFBOARD_CHECKLIST_REMINDER_SCHEDULE"))
    checklist_owners: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict, validation_alias=_env("OFFBOARD_CHECKLIST_OWNERS"))
    review_schedule: str = Field("0 9 1 1,4,7,10 *", validation_alias=_env("OFFBOARD_REVIEW_SCHEDULE"))

    # Invitations (/onboard).
    onboard_channel: str = Field("", validation_alias=_env("OFFBOARD_ONBOARD_CHANNEL"))  # empty: the approvals channel
    onboard_admins: CommaList = Field(default_factory=list, validation_alias=_env("OFFBOARD_ONBOARD_ADMINS"))
    # Replaces the built-in list of personal email domains (bot.onboarding.workflow.DEFAULT_PERSONAL_DOMAINS);
    # "none": no policy.
    personal_domains: Annotated[list[str] | None, NoDecode] = Field(
        None, validation_alias=_env("OFFBOARD_PERSONAL_DOMAINS"))
    invite_remind_days: int = Field(7, ge=1, validation_alias=_env("OFFBOARD_INVITE_REMIND_DAYS"))
    invite_expiry_warning_hours: float = Field(
        24.0, gt=0, validation_alias=_env("OFFBOARD_INVITE_EXPIRY_WARNING_HOURS"))
    access_end_hour: int = Field(9, ge=0, le=23, validation_alias=_env("OFFBOARD_ACCESS_END_HOUR"))
    invite_acceptance_check_minutes: int = Field(
        60, ge=1, validation_alias=_env("OFFBOARD_INVITE_ACCEPTANCE_CHECK_MINUTES"))

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_log_format(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("onboard_admins", "personal_domains", mode="before")
    @classmethod
    def _split_onboard_lists(cls, value: object) -> object:
        if isinstance(value, str):
            if value.strip().lower() in ("none", "off"):
                return []
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("sweep_schedule", "checklist_reminder_schedule", "review_schedule")
    @classmethod
    def _check_schedule(cls, value: str) -> str:
        from storage.schedule import parse_schedule

        parse_schedule(value)
        return value

    @field_validator("inactive_days_per_vendor", "checklist_owners", mode="before")
    @classmethod
    def _read_vendor_pairs(cls, value: object) -> object:
        if isinstance(value, str):
            pairs = [part.strip().partition("=") for part in value.split(",") if part.strip()]
            if any(not sep for _, sep, _ in pairs):
                raise ValueError("write vendor=value pairs separated by commas, e.g. posthog=60,mixpanel=120")
            value = {vendor.strip().lower(): setting.strip() for vendor, _, setting in pairs}
        if isinstance(value, dict):
            unknown = sorted(set(map(str, value)) - set(known_vendors()))
            if unknown:
                raise ValueError(f"unknown vendor(s) {', '.join(unknown)}: use {', '.join(known_vendors())}")
        return value

    @field_validator("service_accounts", "sweep_allowlist", mode="before")
    @classmethod
    def _split_patterns(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().lower() for part in value.split(",") if part.strip()]
        return value

    @field_validator("reminder_hours", mode="before")
    @classmethod
    def _read_reminder_hours(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list) and (not value or any(float(v) <= 0 for v in value)):
            raise ValueError("OFFBOARD_REMINDER_HOURS: give positive hours, e.g. 4,8,16")
        return value

    # Emergency removal, partial changes, batches, restore, guards.
    # Who may remove at once without approval (Slack user ids and/or a user group); nobody when both are empty.
    emergency_responders: CommaList = Field(default_factory=list,
                                            validation_alias=_env("OFFBOARD_EMERGENCY_RESPONDERS"))
    responder_group: str = Field("", validation_alias=_env("OFFBOARD_RESPONDER_GROUP"))
    security_channel: str = Field("", validation_alias=_env("OFFBOARD_SECURITY_CHANNEL"))  # empty: approvals channel
    emergency_reminder_minutes: float = Field(30.0, gt=0, validation_alias=_env("OFFBOARD_EMERGENCY_REMINDER_MINUTES"))
    two_approvers_over: int = Field(10, ge=1, validation_alias=_env("OFFBOARD_BATCH_TWO_APPROVERS_OVER"))
    dispute_window_days: int = Field(5, ge=0, validation_alias=_env("OFFBOARD_DISPUTE_WINDOW_DAYS"))  # business days
    # Emails of the accounts offboard's own vendor credentials belong to: never changed or removed.
    bot_accounts: CommaList = Field(default_factory=list, validation_alias=_env("OFFBOARD_BOT_ACCOUNTS"))
    # vendor=IdP group pairs: those vendors' accounts are provisioned by the identity provider (SSO/SCIM).
    idp_groups: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict,
                                                            validation_alias=_env("OFFBOARD_IDP_GROUPS"))
    idp_name: str = Field("your identity provider", validation_alias=_env("OFFBOARD_IDP_NAME"))

    # Offboarding that starts itself (bot/triggers): Okta Event Hooks, the signed HR webhook, `offboard request`.
    okta_hook_header: str = Field("Authorization", validation_alias=_env("OFFBOARD_OKTA_HOOK_HEADER"))
    okta_hook_secret: SecretStr = Field(SecretStr(""), validation_alias=_env("OFFBOARD_OKTA_HOOK_SECRET"))
    # okta-app=vendor pairs (the Okta app's id or name): removing someone from that app offboards them there.
    okta_apps: Annotated[dict[str, str], NoDecode] = Field(default_factory=dict,
                                                           validation_alias=_env("OFFBOARD_OKTA_APPS"))
    hr_webhook_secret: SecretStr = Field(SecretStr(""), validation_alias=_env("OFFBOARD_HR_WEBHOOK_SECRET"))
    bamboohr_webhook_key: SecretStr = Field(SecretStr(""), validation_alias=_env("OFFBOARD_BAMBOOHR_WEBHOOK_KEY"))
    # "required": a triggered request waits for an approver's click; "event": the event is the approval.
    trigger_approval: str = Field("required", pattern="^(required|event)$",
                                  validation_alias=_env("OFFBOARD_TRIGGER_APPROVAL"))
    # Removal deadline: business days after the effective time (or the request's creation); 0 turns it off.
    removal_deadline_days: int = Field(1, ge=0, validation_alias=_env("OFFBOARD_REMOVAL_DEADLINE_DAYS"))
    overdue_schedule: str = Field("0 9 * * *", validation_alias=_env("OFFBOARD_OVERDUE_SCHEDULE"))
    # Hours after completion at which each tool is asked again whether the person is still gone.
    recheck_hours: CommaList = Field(default_factory=lambda: ["1", "24", "168"],
                                     validation_alias=_env("OFFBOARD_RECHECK_HOURS"))

    @field_validator("okta_apps", mode="before")
    @classmethod
    def _read_okta_apps(cls, value: object) -> object:
        if isinstance(value, str):
            pairs = [part.strip().partition("=") for part in value.split(",") if part.strip()]
            value = {app.strip(): vendor.strip().lower() for app, _sep, vendor in pairs}
        if isinstance(value, dict):
            unknown = sorted(set(map(str, value.values())) - set(known_vendors()))
            if unknown:
                raise ValueError(f"OFFBOARD_OKTA_APPS names unknown vendor(s) {', '.join(unknown)}")
        return value

    @field_validator("recheck_hours", mode="before")
    @classmethod
    def _split_recheck_hours(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            for hours in value:
                if not str(hours).replace(".", "", 1).isdigit() or float(hours) <= 0:
                    raise ValueError(f"OFFBOARD_RECHECK_HOURS: {hours!r} is not a positive number of hours")
        return value

    @field_validator("emergency_responders", mode="before")
    @classmethod
    def _split_responders(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("bot_accounts", mode="before")
    @classmethod
    def _split_bot_accounts(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip().lower() for part in value.split(",") if part.strip()]
        return value

    @field_validator("idp_groups", mode="before")
    @classmethod
    def _read_idp_groups(cls, value: object) -> object:
        if isinstance(value, str):
            pairs = [part.strip().partition("=") for part in value.split(",") if part.strip()]
            value = {vendor.strip().lower(): (group.strip() if sep else "") for vendor, sep, group in pairs}
        if isinstance(value, dict):
            unknown = sorted(set(map(str, value)) - set(known_vendors()))
            if unknown:
                raise ValueError(f"OFFBOARD_IDP_GROUPS names unknown vendor(s) {', '.join(unknown)}: use "
                                 f"{', '.join(known_vendors())}")
        return value

    @field_validator("audit_admins", mode="before")
    @classmethod
    def _split_audit_admins(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("retention_years", mode="before")
    @classmethod
    def _read_retention_years(cls, value: object) -> object:
        if isinstance(value, str):
            pairs = [part.strip() for part in value.split(",") if part.strip()]
            parsed: dict[str, object] = {}
            for pair in pairs:
                reason, sep, years = pair.partition("=")
                if not sep:
                    raise ValueError(f"OFFBOARD_RETENTION_YEARS: write reason=years, not {pair!r}")
                parsed[reason.strip().lower()] = years.strip()
            value = parsed
        if not isinstance(value, dict):
            return value
        from storage.retention import DEFAULT_RETENTION_YEARS, RECORD_RETENTION_YEARS

        unknown = sorted(set(map(str, value)) - set(DEFAULT_RETENTION_YEARS) - set(RECORD_RETENTION_YEARS))
        if unknown:
            raise ValueError(f"OFFBOARD_RETENTION_YEARS names unknown reason(s) {', '.join(unknown)}; reasons are "
                             f"{', '.join(DEFAULT_RETENTION_YEARS)}, and records {', '.join(RECORD_RETENTION_YEARS)}")
        return {str(reason): _retention_period(f"OFFBOARD_RETENTION_YEARS {reason}", years)
                for reason, years in value.items()}

    @field_validator("seat_cost", mode="before")
    @classmethod
    def _read_seat_cost(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        if "=" not in value:
            return {"*": value.strip()} if value.strip() else {}
        costs: dict[str, str] = {}
        for pair in (p.strip() for p in value.split(",") if p.strip()):
            tool, sep, amount = pair.partition("=")
            if not sep:
                raise ValueError(f"OFFBOARD_SEAT_COST: write tool=amount, not {pair!r}")
            costs[tool.strip().lower()] = amount.strip()
        return costs

    @field_validator("retention_other_years", mode="before")
    @classmethod
    def _read_other_years(cls, value: object) -> object:
        return _retention_period("OFFBOARD_RETENTION_OTHER_YEARS", value)

    @field_validator("approvers", "manual_vendors", "mixpanel_verified_domains", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings, SecretFiles(settings_cls),
                                                     dotenv_settings]
        secrets_dir = os.environ.get(SECRETS_DIR_VARIABLE, "").strip()
        if secrets_dir:
            if not Path(secrets_dir).is_dir():
                raise SettingsProblems([f"{SECRETS_DIR_VARIABLE}: {secrets_dir} is not a directory"])
            sources.append(SecretsSettingsSource(settings_cls, secrets_dir=secrets_dir))
        return tuple(sources)

    @property
    def socket_mode(self) -> bool:
        return bool(self.slack_app_token.get_secret_value())

    def problems(self) -> list[str]:
        """What stops `serve` from working, in words an admin can act on."""
        found = []
        if not self.slack_bot_token.get_secret_value():
            found.append("SLACK_BOT_TOKEN is not set (the bot token, xoxb-…).")
        if not self.socket_mode and not self.slack_signing_secret.get_secret_value():
            found.append("SLACK_SIGNING_SECRET is not set (needed in HTTP mode to verify Slack's requests).")
        if not self.approvals_channel:
            found.append("OFFBOARD_APPROVALS_CHANNEL is not set (the channel id where approval cards go).")
        if not self.approvers and not self.approver_group:
            found.append(
                "Set OFFBOARD_APPROVERS (Slack user ids) and/or OFFBOARD_APPROVER_GROUP (a user group id)."
            )
        vendors = registry.entries()
        if not self.manual_vendors and not any(facts.configured(self) for facts in vendors):
            ways = ", ".join(facts.turned_on_by for facts in vendors if facts.turned_on_by)
            found.append(f"No vendor is configured: set {ways} and/or OFFBOARD_MANUAL_VENDORS (see docs/vendors.md).")
        known = known_vendors()
        unknown = [v for v in self.manual_vendors if v.lower() not in known]
        if unknown:
            found.append(f"OFFBOARD_MANUAL_VENDORS names unknown vendor(s) {', '.join(unknown)}: use "
                         f"{', '.join(known)}.")
        return found


SECRETS_DIR_VARIABLE = "OFFBOARD_SECRETS_DIR"


class SettingsProblems(ValueError):
    """Settings that cannot be read, one line each, worded for whoever set them."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("; ".join(lines))
        self.lines = lines


def env_names(field_name: str) -> list[str]:
    """The environment names a setting is read from (its aliases), e.g. ["OFFBOARD_PORT", "PORT"]."""
    alias = Settings.model_fields[field_name].validation_alias
    return [str(choice) for choice in alias.choices] if isinstance(alias, AliasChoices) else [field_name.upper()]


def secret_fields() -> list[str]:
    return [name for name, info in Settings.model_fields.items() if info.annotation is SecretStr]


class SecretFiles(PydanticBaseSettingsSource):
    """`NAME_FILE` for each secret setting NAME: the file's content, less its trailing newline."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # everything is read at once in __call__

    def __call__(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        problems: list[str] = []
        for name in secret_fields():
            for env_name in env_names(name):
                path = os.environ.get(f"{env_name}_FILE", "").strip()
                if not path:
                    continue
                try:
                    found[name] = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
                except (OSError, UnicodeDecodeError) as exc:
                    problems.append(f"{env_name}_FILE: cannot read {path} ({getattr(exc, 'strerror', None) or exc})")
                break
        if problems:
            raise SettingsProblems(problems)
        return found


def load_settings(**values: Any) -> Settings:
    """Settings(), with what cannot be read raised as SettingsProblems (one line per problem, no secret shown)."""
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise SettingsProblems(describe(exc)) from None
    except SettingsError as exc:  # a value pydantic-settings could not even decode
        raise SettingsProblems([str(exc).splitlines()[0]]) from None


def describe(error: ValidationError) -> list[str]:
    secret = set(secret_fields())
    by_alias = {alias: name for name in Settings.model_fields for alias in env_names(name)}
    lines = []
    for problem in error.errors(include_url=False):
        where = str(problem["loc"][0]) if problem["loc"] else "settings"
        field_name = by_alias.get(where, where)
        env_name = env_names(field_name)[0] if field_name in Settings.model_fields else where
        message = str(problem["msg"]).removeprefix("Value error, ")
        if field_name in secret or "input" not in problem:
            lines.append(f"{env_name}: {message}")
        else:
            lines.append(f"{env_name}={_shown(problem['input'])}: {message}")
    return lines


def _shown(value: object) -> str:
    text = value if isinstance(value, str) else repr(value)
    return repr(text[:60] + "…" if len(text) > 60 else text)


FOREVER_WORDS = ("forever", "permanent", "permanently")


def _retention_period(name: str, value: object) -> int | None:
    """Whole years (at least 1), or None for "forever"."""
    if value is None or (isinstance(value, str) and value.strip().lower() in FOREVER_WORDS):
        return None
    try:
        years = int(str(value).strip())
    except ValueError:
        raise ValueError(f"{name}: {value!r} is not a number of years or 'forever'") from None
    if years < 1:
        raise ValueError(f"{name}: keep records at least 1 year, or write 'forever'")
    return years
