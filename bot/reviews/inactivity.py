"""Who has not logged in for a while: judging each vendor's members, without Slack or the database.

A vendor is judged from its API when the connector can list members and read their last login
(`Capability.LIST_MEMBERS` and `READ_LAST_LOGIN`), else from the members export an admin uploaded (the
CSV its admin UI downloads). Members are streamed page by page and each is looked up in the export's
on-disk index (bot.reviews.members_export); only the inactive ones are kept, so neither a large organization nor
its export is ever held in memory. A vendor that can be judged neither way is reported with the reason.
"""

from __future__ import annotations

import fnmatch
import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from bot.reviews.members_export import ExportRow, MembersExport
from vendors import registry
from vendors.base import Capability, Member, Role, Vendor, VendorError, is_pending_invitation
from vendors.roles import normalize

log = logging.getLogger(__name__)

class LeftOut(StrEnum):
    """Why a member was not judged inactive although they might be."""

    OWNER = "owner"
    SERVICE_ACCOUNT = "service account"
    ALLOWLIST = "allowlist"
    EXEMPT = "exempt"
    NEW = "joined recently"
    PENDING = "pending invitation"
    DEACTIVATED = "deactivated"
    NOT_IN_EXPORT = "not in the export"
    UNREADABLE = "last login unreadable"
    NOTIFIED = "already notified"  # an earlier sweep's notice is still running its grace period
    OFFBOARDING = "offboarding under way"  # an open offboarding request already covers them


LEFT_OUT_WORDS = {  # (one, several) for the card
    LeftOut.OWNER: ("owner", "owners"),
    LeftOut.SERVICE_ACCOUNT: ("service account", "service accounts"),
    LeftOut.ALLOWLIST: ("person on the allowlist", "people on the allowlist"),
    LeftOut.EXEMPT: ("person exempted recently", "people exempted recently"),
    LeftOut.NEW: ("person who joined recently", "people who joined recently"),
    LeftOut.PENDING: ("pending invitation", "pending invitations"),
    LeftOut.DEACTIVATED: ("deactivated account", "deactivated accounts"),
    LeftOut.NOT_IN_EXPORT: ("member missing from the export", "members missing from the export"),
    LeftOut.UNREADABLE: ("member whose last login could not be read", "members whose last login could not be read"),
    LeftOut.NOTIFIED: ("person already notified by an earlier sweep", "people already notified by an earlier sweep"),
    LeftOut.OFFBOARDING: ("person whose offboarding is under way", "people whose offboarding is under way"),
}


@dataclass(frozen=True)
class SweepPolicy:
    inactive_days: int = 90
    per_vendor: Mapping[str, int] = field(default_factory=dict)
    service_accounts: tuple[str, ...] = ()  # emails or patterns such as "*@svc.corp.com"
    allowlist: tuple[str, ...] = ()

    def days_for(self, vendor: str) -> int:
        return int(self.per_vendor.get(vendor, self.inactive_days))

    def configured_exclusion(self, email: str) -> LeftOut | None:
        if not self.service_accounts and not self.allowlist:  # the usual case, asked once per member
            return None
        address = email.strip().lower()
        if _matches(address, self.service_accounts):
            return LeftOut.SERVICE_ACCOUNT
        if _matches(address, self.allowlist):
            return LeftOut.ALLOWLIST
        return None

    def to_json(self) -> dict[str, Any]:
        return {"inactive_days": self.inactive_days, "per_vendor": dict(self.per_vendor)}


def _matches(email: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(email, pattern.strip().lower()) for pattern in patterns)


@dataclass(frozen=True)
class StaleSeat:
    """One inactive person in one vendor."""

    vendor: str
    email: str
    name: str
    role: Role
    vendor_role: str
    last_login: datetime | None  # None: never logged in
    joined_at: datetime | None
    source: str  # "api" or "export"

    def to_json(self) -> dict[str, Any]:
        return {"role": self.role.value, "vendor_role": self.vendor_role, "source": self.source,
                "last_login": self.last_login.isoformat() if self.last_login else None,
                "joined_at": self.joined_at.isoformat() if self.joined_at else None}


@dataclass
class VendorSweep:
    vendor: str
    label: str
    days: int
    source: str | None = None  # "api", "export", or None when not judged
    members: int = 0
    stale: list[StaleSeat] = field(default_factory=list)
    left_out: Counter[str] = field(default_factory=Counter)
    unjudged: str | None = None  # why this vendor could not be judged
    hint: str = ""  # what an admin can do about it
    blind_spot: str = ""  # members its API cannot see, so never judged here (Mixpanel: off the verified domains)

    @property
    def needs_export(self) -> bool:
        return self.unjudged is not None and bool(self.hint)

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "days": self.days, "source": self.source, "members": self.members,
                "stale": len(self.stale), "left_out": dict(self.left_out), "unjudged": self.unjudged,
                "hint": self.hint, "blind_spot": self.blind_spot}


@dataclass(frozen=True)
class PersonFinding:
    email: str
    name: str
    seats: dict[str, StaleSeat]


@dataclass(frozen=True)
class Candidate:
    """What one source says about one person in one vendor, ready to judge."""

    email: str
    name: str
    role: Role
    vendor_role: str
    last_login: datetime | None
    last_login_known: bool
    joined_at: datetime | None
    left_out: LeftOut | None = None  # set when the source itself rules the person out (pending, deactivated)


def judge_vendor(vendor: Vendor, policy: SweepPolicy, exempt: set[str], now: datetime,
                 export: MembersExport | None = None) -> VendorSweep:
    """Judge one vendor's members. Never raises: a vendor that fails is reported as not judged."""
    result = VendorSweep(vendor.name, vendor.label, policy.days_for(vendor.name),
                         blind_spot=str(getattr(vendor, "blind_spot", "") or ""))
    caps = vendor.capabilities
    lists, logins = Capability.LIST_MEMBERS in caps, Capability.READ_LAST_LOGIN in caps
    if lists and logins:
        result.source = "api"
    elif export is not None:
        result.source = "export"
    else:
        result.unjudged = _why_not_judged(vendor, lists)
        result.hint = registry.facts_of(vendor.name).members_export_hint  # where its admin UI exports them
        return result
    try:
        if result.source == "api":
            candidates = _from_api(vendor.iter_members())
        elif lists:
            assert export is not None
            candidates = _from_api_and_export(vendor, export)
        else:
            assert export is not None
            candidates = _from_export(vendor.name, export)
        _judge_all(result, candidates, policy, exempt, now)
    except VendorError as exc:
        _give_up(result, f"{vendor.label} could not be read: {exc.message}")
    except Exception:
        log.exception("the sweep of %s failed unexpectedly", vendor.label)
        _give_up(result, f"{vendor.label} answered in a way offboard did not expect (details in the bot's log)")
    return result


def _give_up(result: VendorSweep, why: str) -> None:
    # A partial list would read as complete: show none of it.
    result.source, result.stale, result.members, result.unjudged = None, [], 0, why
    result.left_out.clear()


def _why_not_judged(vendor: Vendor, lists: bool) -> str:
    if lists:
        return f"{vendor.label}'s API does not say when people last logged in."
    reason = getattr(vendor, "reason", None) or getattr(vendor, "manual_reason", None)
    if reason:
        return f"{reason}, so it cannot list members."
    return f"offboard cannot list the members of {vendor.label} through its API."


def _judge_all(result: VendorSweep, candidates: Iterator[Candidate], policy: SweepPolicy, exempt: set[str],
               now: datetime) -> None:
    cutoff = now - timedelta(days=result.days)
    for candidate in candidates:
        result.members += 1
        verdict = _verdict(candidate, policy, exempt, cutoff)
        if verdict is None:
            result.stale.append(StaleSeat(result.vendor, candidate.email.lower(), candidate.name, candidate.role,
                                          candidate.vendor_role, candidate.last_login, candidate.joined_at,
                                          result.source or "api"))
        elif verdict != "active":
            result.left_out[str(verdict)] += 1


def _verdict(candidate: Candidate, policy: SweepPolicy, exempt: set[str], cutoff: datetime) -> LeftOut | str | None:
    """None: inactive. "active": logged in recently. Else why the person is left out."""
    if candidate.left_out is not None:
        return candidate.left_out
    if candidate.role == Role.OWNER:
        return LeftOut.OWNER
    configured = policy.configured_exclusion(candidate.email)
    if configured is not None:
        return configured
    if candidate.email.lower() in exempt:
        return LeftOut.EXEMPT
    if not candidate.last_login_known:
        return LeftOut.UNREADABLE
    if candidate.last_login is None:
        # Never logged in: only inactive once they have had the whole period to do so.
        recent = candidate.joined_at is not None and candidate.joined_at > cutoff
        return LeftOut.NEW if recent else None
    return None if candidate.last_login < cutoff else "active"


def _from_api(members: Iterator[Member]) -> Iterator[Candidate]:
    for member in members:
        yield _candidate(member, member.last_login, member.last_login_known)


def _candidate(member: Member, last_login: datetime | None, known: bool) -> Candidate:
    left_out = None
    if is_pending_invitation(member):
        left_out = LeftOut.PENDING
    elif member.extra.get("active") is False:
        left_out = LeftOut.DEACTIVATED
    return Candidate(member.email, member.name, member.role, member.vendor_role, last_login, known,
                     member.joined_at, left_out)


def _from_api_and_export(vendor: Vendor, export: MembersExport) -> Iterator[Candidate]:
    """Who is a member comes from the API (someone removed since the export is not flagged); when they
    last logged in comes from the export. Members the connector knows its API cannot list (`known_unseen`:
    Mixpanel's off the verified domains) are judged from the export alone: it is all there is."""
    roles_from_export = Capability.READ_ROLE not in vendor.capabilities
    unseen = getattr(vendor, "known_unseen", None)
    listed_anyway: set[str] = set()  # the few "unseen" the API did list (a domain missing from the setting)
    for member in vendor.iter_members():
        if callable(unseen) and unseen(member.email):
            listed_anyway.add(member.email.lower())
        row = export.get(member.email)
        if row is None:
            yield Candidate(member.email, member.name, member.role, member.vendor_role, None, False,
                            member.joined_at, LeftOut.NOT_IN_EXPORT)
            continue
        candidate = _candidate(member, row.last_login, row.last_login_known)
        if row.pending and candidate.left_out is None:
            candidate = replace(candidate, left_out=LeftOut.PENDING)
        if roles_from_export and row.role_word:  # the API shows no roles (Amplitude): the export may
            candidate = replace(candidate, role=_export_role(vendor.name, row.role_word), vendor_role=row.role_word)
        yield candidate
    if callable(unseen):
        for row in export:
            if unseen(row.email) and row.email.lower() not in listed_anyway:
                yield _export_candidate(vendor.name, row)


def _from_export(vendor: str, export: MembersExport) -> Iterator[Candidate]:
    for row in export:
        yield _export_candidate(vendor, row)


def _export_role(vendor: str, word: str) -> Role:
    roles = registry.facts_of(vendor).roles  # unknown words, and a vendor without a role map: member
    return roles.reading.get(normalize(word), Role.MEMBER) if roles is not None and word else Role.MEMBER


def _export_candidate(vendor: str, row: ExportRow) -> Candidate:
    role = _export_role(vendor, row.role_word)
    return Candidate(row.email, row.name, role, row.role_word or "not in the export", row.last_login,
                     row.last_login_known, None, LeftOut.PENDING if row.pending else None)


def leave_out(results: Iterable[VendorSweep], why: Mapping[str, LeftOut]) -> None:
    """Move the people in `why` (by email) from each vendor's inactive list to its left-out counts."""
    for result in results:
        kept = []
        for seat in result.stale:
            if seat.email in why:
                result.left_out[str(why[seat.email])] += 1
            else:
                kept.append(seat)
        result.stale = kept


def people(vendors: Iterable[VendorSweep]) -> list[PersonFinding]:
    """One finding per person, with the vendors they are inactive in, by email."""
    by_email: dict[str, dict[str, StaleSeat]] = {}
    names: dict[str, str] = {}
    for result in vendors:
        for seat in result.stale:
            by_email.setdefault(seat.email, {})[seat.vendor] = seat
            names.setdefault(seat.email, seat.name)
    return [PersonFinding(email, names.get(email, ""), seats) for email, seats in sorted(by_email.items())]


def sweep_all(vendors: Mapping[str, Vendor], policy: SweepPolicy, exempt: set[str], now: datetime,
              exports: Mapping[str, MembersExport] | None = None) -> list[VendorSweep]:
    exports = exports or {}
    return [judge_vendor(vendor, policy, exempt, now, exports.get(name)) for name, vendor in vendors.items()]
