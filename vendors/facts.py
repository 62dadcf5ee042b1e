"""What the bot needs to know about one vendor besides its connector, in one frozen entry (`VendorFacts`).

Each vendor declares its entry beside its connector (vendors/<name>_facts.py) and vendors.registry lists
them. The bot reads them there, never from its own table keyed by vendor name: how to build the connector
from the settings, whether its invitations lapse, whether acceptance shows, the security follow-up texts,
what a restore cannot give back, where its members export lives, what the access review says about its
pending invitations. A vendor nobody registered (a test's scripted one) gets `unknown_facts`: the generic
texts and the cautious defaults.

Plain data and small functions only: a facts module imports its connector lazily, inside `build`, so
reading the registry (as the settings' validators do) never loads every connector.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from vendors.roles import RoleMap

if TYPE_CHECKING:
    from vendors.base import Vendor
    from vendors.http import RetryPolicy


@dataclass(frozen=True)
class FollowUpTexts:
    """The security follow-up after an emergency removal: the credentials to rotate, and where to review
    what the person did."""

    credential: str  # singular, e.g. "project API key"
    rotate: str
    audit: str  # may use {email} and {member_uuid}


GENERIC_FOLLOW_UP = FollowUpTexts(
    "API key", "Regenerate each key in the tool's settings, update every integration that uses it, and check the "
    "integrations still work.", "In the tool's audit or activity log, filter by {email} and read the last 90 days.",
)
GENERIC_EXPORT_HINT = "Export its members list as a CSV with each person's email and last login."


@dataclass(frozen=True)
class BuildContext:
    """What building a connector needs besides the vendor's own settings.

    `settings` is bot.runtime.config.Settings (typed loosely here: vendors/ never imports the bot).
    `manual`: the vendor is named in OFFBOARD_MANUAL_VENDORS, so it is worked by hand; most vendors then
    build nothing (the bot makes a `vendors.manual.ManualVendor` with their click paths), but a connector
    that is a checklist anyway may build itself without credentials."""

    settings: Any
    manual: bool
    paced: Callable[[RetryPolicy], RetryPolicy]  # the policy scaled, capped and sharing the bot's allowance
    connections: int  # calls one vendor may have on the wire at once (OFFBOARD_VENDOR_CONNECTIONS)


def _builds_nothing(context: BuildContext) -> Vendor | None:
    return None


def _never_configured(settings: Any) -> bool:
    return False


@dataclass(frozen=True)
class VendorFacts:
    name: str  # the stable key stored in the database, as the connector's `name`: "posthog"
    label: str  # for people: "PostHog"
    connector_module: str  # whose `manual_step` gives the click paths when the vendor is worked by hand
    # The connector the settings configure, or None when they do not (or when `context.manual` and the vendor
    # is then worked by hand through `vendors.manual.ManualVendor`).
    build: Callable[[BuildContext], Vendor | None] = _builds_nothing
    # Whether the settings turn the vendor on at all, for `Settings.problems` ("no vendor is configured").
    configured: Callable[[Any], bool] = _never_configured
    turned_on_by: str = ""  # in that problem's words: "POSTHOG_API_KEY", "KISSMETRICS_ENABLED=true"
    # The Settings fields `build` and `configured` read, each with its words for docs/configuration.md (written
    # by bot.runtime.config_reference); `unset_means`: what an empty default of one of them means there.
    settings: Mapping[str, str] = field(default_factory=dict)
    unset_means: Mapping[str, str] = field(default_factory=dict)
    # How long its invitations stay valid, where that is documented; None: no expiry is assumed.
    invite_lifetime: timedelta | None = None
    # False where its member list cannot show that someone accepted (it lists invitees and members alike):
    # such invitations stay "invited" until cancelled, and the pending list says acceptance cannot be seen.
    acceptance_visible: bool = True
    # True where its API creates the account outright: there is no invitation to accept or resend.
    creates_account: bool = False
    # Its role words against ours (vendors.roles.RoleMap): which of our roles it has, so a change to one it lacks
    # is planned by hand, or moved to the nearest it has. None: the connector maps its words itself, and every
    # role is taken to exist.
    roles: RoleMap | None = None
    follow_up: FollowUpTexts = GENERIC_FOLLOW_UP  # after an emergency removal
    cannot_come_back: tuple[str, ...] = ()  # what a removal takes that no invitation gives back
    members_export_hint: str = GENERIC_EXPORT_HINT  # where its admin UI exports the members list
    # What the access review says of pending invitations its member stream does not show; empty: the stream
    # marks them (`vendors.base.is_pending_invitation`) and the review counts them.
    pending_invites_note: str = ""


def unknown_facts(name: str) -> VendorFacts:
    """The facts of a vendor nobody registered: every default, its name as its label."""
    return VendorFacts(name=name, label=name.title(), connector_module=f"vendors.{name}")
