"""Kissmetrics' entry in the vendor registry (vendors.registry): what the bot knows of it beside the connector."""

from __future__ import annotations

from typing import Any

from vendors.base import Vendor
from vendors.facts import BuildContext, FollowUpTexts, VendorFacts
from vendors.roles import ROLE_MAPS


def _configured(settings: Any) -> bool:
    return bool(settings.kissmetrics_enabled or settings.kissmetrics_api_key.get_secret_value())


def _build(context: BuildContext) -> Vendor | None:
    """No public user API is known, so its connector is a checklist of manual steps by default; worked by hand
    (OFFBOARD_MANUAL_VENDORS) it is that checklist too, its opt-in API key unused."""
    settings = context.settings
    if not (context.manual or _configured(settings)):
        return None
    from vendors import kissmetrics

    api_key = "" if context.manual else settings.kissmetrics_api_key.get_secret_value()
    return kissmetrics.KissmetricsVendor(api_key=api_key or None, base_url=settings.kissmetrics_api_url,
                                         policy=context.paced(kissmetrics.DEFAULT_POLICY))


FACTS = VendorFacts(
    name="kissmetrics",
    label="Kissmetrics",
    connector_module="vendors.kissmetrics",
    roles=ROLE_MAPS["kissmetrics"],
    build=_build,
    configured=_configured,
    turned_on_by="KISSMETRICS_ENABLED=true",
    settings={  # the words for docs/configuration.md
        "kissmetrics_enabled": "`true` adds Kissmetrics as a checklist of manual steps (it has no known public "
                               "user API)",
        "kissmetrics_api_key": "opt-in: the user API shown in the seed runbook (`/v1/users`), **documented "
                               "only by that runbook and unconfirmed publicly**",
        "kissmetrics_api_url": "that opt-in user API's base URL",
    },
    follow_up=FollowUpTexts(
        "API key",
        "Kissmetrics' runbook for a compromised account: change the API keys they could see and update whatever "
        "sends data with them (UNVERIFIED click path: Settings → API keys).",
        "In Kissmetrics review {email}'s recent activity for suspicious behaviour (their runbook gives no click "
        "path; UNVERIFIED: Settings → Team → their entry).",
    ),
    cannot_come_back=(
        "their previous session data and personal settings",
        "API keys they created, if Kissmetrics invalidated them",
    ),
    # UNVERIFIED: whether the page offers an export button, and its columns, is not documented.
    members_export_hint="In Kissmetrics, open Settings → Team and save the team list as a CSV with each person's "
                        "email and last login.",
)
