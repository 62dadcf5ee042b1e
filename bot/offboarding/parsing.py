"""Reading `/offboard` text. Pure: no Slack calls, so every answer is easy to test."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from email_validator import EmailNotValidError, validate_email

from bot.audit.evidence import parse_since
from bot.offboarding.values import REASON_LABELS, Reason
from bot.slack.mrkdwn import escape

# Slack escapes mentions as <@U123|name> (or <@U123>) when the command has should_escape on.
MENTION = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
VENDORS_OPTION = re.compile(r"^vendors?=(\S*)$", re.IGNORECASE)
SINCE_OPTION = re.compile(r"^(?:--)?since=", re.IGNORECASE)


@dataclass(frozen=True)
class Target:
    email: str | None = None
    slack_id: str | None = None


@dataclass(frozen=True)
class Help:
    pass


@dataclass(frozen=True)
class Status:
    target: Target


@dataclass(frozen=True)
class Start:
    target: Target
    reason: Reason | None = None
    note: str = ""  # words after the person that are not a known reason
    vendors: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Invalid:
    message: str  # mrkdwn: what it quotes of the command is escaped (bot.slack.mrkdwn)


@dataclass(frozen=True)
class AuditShow:
    """`/offboard audit <person>`: the evidence of that person's offboardings."""

    target: Target


@dataclass(frozen=True)
class AuditExport:
    """`/offboard audit export [since=YYYY-MM-DD]`: the removal log as a CSV file."""

    since: datetime | None = None


@dataclass(frozen=True)
class AuditReportAsk:
    """`/offboard audit report from=YYYY-MM-DD to=YYYY-MM-DD`: the audit report (HTML) for [start, end)."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class AuditUsage:
    """`/offboard audit` with missing or bad words; still an ask for audit data, so still admins only."""

    message: str = ""


@dataclass(frozen=True)
class SweepNow:
    """`/offboard sweep`: run the inactive-user sweep now."""


@dataclass(frozen=True)
class ReviewNow:
    """`/offboard review`: post an access review now."""


@dataclass(frozen=True)
class EmergencyStart(Start):
    """`/offboard @bob emergency [note]`: a security incident; removed at once, without approval."""


@dataclass(frozen=True)
class Bulk(Start):
    """`/offboard a@corp.com b@corp.com [reason]` or `/offboard bulk`: several people, one batch.
    `target` is the first person (empty for `bulk` alone), `others` the rest."""

    others: tuple[Target, ...] = ()


AuditAsk = AuditShow | AuditExport | AuditReportAsk | AuditUsage
Parsed = Help | Status | Start | Invalid | AuditShow | AuditExport | AuditReportAsk | AuditUsage | SweepNow | ReviewNow

USAGE = "Try `/offboard alice@corp.com`, `/offboard @alice resignation`, or `/offboard help`."


def normalise_email(text: str) -> str | None:
    """The address in canonical form, or None when it is not a valid address."""
    try:
        return validate_email(text.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        return None


def parse_target(token: str) -> Target | Invalid:
    mention = MENTION.match(token)
    if mention:
        return Target(slack_id=mention.group(1))
    if token.startswith("@"):
        return Invalid(f"I could not tell who `{escape(token)}` is. Pick the person from Slack's @-autocomplete.")
    if token.startswith("mailto:") or token.startswith("<mailto:"):
        token = token.removeprefix("<").removeprefix("mailto:").split("|")[0].rstrip(">")
    email = normalise_email(token)
    if email is None:
        return Invalid(f"`{escape(token)}` is not a valid email address. {USAGE}")
    return Target(email=email)


def parse_reason(words: str) -> Reason | None:
    wanted = re.sub(r"[\s\-_]+", " ", words.strip().lower())
    for reason in Reason:
        if wanted in (reason.value.replace("_", " "), REASON_LABELS[reason].lower()):
            return reason
    return None


REPORT_USAGE = "Say the period: `/offboard audit report from=2026-01-01 to=2026-03-31` (both days included)."


def _parse_report(tokens: list[str]) -> AuditReportAsk | AuditUsage:
    from bot.audit.report_run import parse_period

    given = dict(t.lstrip("-").partition("=")[::2] for t in tokens)
    if len(tokens) != 2 or set(given) != {"from", "to"}:
        return AuditUsage(REPORT_USAGE)
    try:
        return AuditReportAsk(*parse_period(given["from"], given["to"]))
    except ValueError as exc:
        return AuditUsage(f"{exc}. {REPORT_USAGE}")


def parse_audit(tokens: list[str]) -> AuditAsk:
    """The words after `/offboard audit`."""
    if not tokens or tokens[0].lower() in ("help", "-h", "--help", "?"):
        return AuditUsage()
    if tokens[0].lower() == "export":
        if len(tokens) > 2:
            return AuditUsage("Say at most one start date: `/offboard audit export since=2024-01-01`.")
        if len(tokens) == 1:
            return AuditExport()
        try:
            return AuditExport(parse_since(SINCE_OPTION.sub("", tokens[1])))
        except ValueError as exc:
            return AuditUsage(escape(str(exc)))  # it quotes what was typed
    if tokens[0].lower() == "report":
        return _parse_report(tokens[1:])
    if len(tokens) != 1:
        return AuditUsage("Say whose evidence you want: `/offboard audit alice@corp.com`.")
    target = parse_target(tokens[0])
    return AuditUsage(target.message) if isinstance(target, Invalid) else AuditShow(target)


def parse_command(text: str, known_vendors: tuple[str, ...] = ()) -> Parsed:
    tokens = text.split()
    if not tokens or tokens[0].lower() in ("help", "-h", "--help", "?"):
        return Help()
    if tokens[0].lower() == "audit":
        return parse_audit(tokens[1:])
    if tokens[0].lower() in ("sweep", "review"):  # scheduled work, run now
        if len(tokens) > 1:
            return Invalid(f"`/offboard {tokens[0].lower()}` takes no other words.")
        return SweepNow() if tokens[0].lower() == "sweep" else ReviewNow()
    if tokens[0].lower() == "status":
        if len(tokens) != 2:
            return Invalid("Say whose status you want: `/offboard status alice@corp.com`.")
        target = parse_target(tokens[1])
        return target if isinstance(target, Invalid) else Status(target)
    bulk = tokens[0].lower() == "bulk"  # `/offboard bulk` opens the bulk form
    people = _leading_people(tokens[1:] if bulk else tokens)
    if isinstance(people, Invalid):
        return people
    targets, used = people
    target = targets[0] if targets else parse_target(tokens[0])
    if isinstance(target, Invalid) and not bulk:
        return target
    vendors: tuple[str, ...] | None = None
    rest: list[str] = []
    for token in (tokens[1:] if bulk else tokens)[max(used, 0 if bulk else 1):]:
        option = VENDORS_OPTION.match(token)
        if not option:
            rest.append(token)
            continue
        chosen = tuple(dict.fromkeys(v.strip().lower() for v in option.group(1).split(",") if v.strip()))
        unknown = [v for v in chosen if v not in known_vendors]
        if not chosen or unknown:
            listed = ", ".join(known_vendors) or "none configured"
            return Invalid(f"Unknown vendor(s) `{escape(', '.join(unknown)) or '(empty)'}`. Configured: {listed}.")
        vendors = chosen
    if rest and rest[0].lower() == "emergency":  # emergency removal
        if bulk or len(targets) > 1:
            return Invalid("Emergency removal takes one person at a time: `/offboard @bob emergency`.")
        assert isinstance(target, Target)
        return EmergencyStart(target=target, reason=Reason.SECURITY_INCIDENT, note=" ".join(rest[1:]))
    words = " ".join(rest)
    reason = parse_reason(words) if words else None
    if bulk or len(targets) > 1:  # several people are one batch
        return Bulk(target=targets[0] if targets else Target(), reason=reason, note="" if reason else words,
                    vendors=vendors, others=tuple(targets[1:]))
    assert isinstance(target, Target)
    return Start(target=target, reason=reason, note="" if reason else words, vendors=vendors)


def _leading_people(tokens: list[str]) -> tuple[list[Target], int] | Invalid:
    """The people named before the other words (reason, note, options), and how many tokens
    they took. A token that looks like a person but is not a valid one is refused, naming it."""
    targets: list[Target] = []
    for token in tokens:
        if not (MENTION.match(token) or "@" in token or token.lower().startswith(("mailto:", "<mailto:"))):
            break
        parsed = parse_target(token)
        if isinstance(parsed, Invalid):
            return parsed
        if parsed not in targets:
            targets.append(parsed)
        else:
            targets.append(Target())  # a repeat still takes its token; dropped below
    used = len(targets)
    return [t for t in targets if t.email or t.slack_id], used
