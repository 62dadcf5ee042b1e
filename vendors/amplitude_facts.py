"""Amplitude's entry in the vendor registry (vendors.registry): what the bot knows of it beside the connector."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from vendors.base import Vendor
from vendors.facts import BuildContext, FollowUpTexts, VendorFacts
from vendors.roles import ROLE_MAPS


def _configured(settings: Any) -> bool:
    return bool(settings.amplitude_scim_key.get_secret_value())


def _build(context: BuildContext) -> Vendor | None:
    settings = context.settings
    if context.manual or not _configured(settings):
        return None
    from vendors import amplitude

    return amplitude.AmplitudeVendor(
        settings.amplitude_scim_key.get_secret_value(), region=settings.amplitude_region,
        policy=replace(context.paced(amplitude.DEFAULT_POLICY), max_concurrency=context.connections),
    )


FACTS = VendorFacts(
    name="amplitude",
    label="Amplitude",
    connector_module="vendors.amplitude",
    roles=ROLE_MAPS["amplitude"],
    build=_build,
    configured=_configured,
    turned_on_by="AMPLITUDE_SCIM_KEY",
    settings={  # the words for docs/configuration.md
        "amplitude_scim_key": "Amplitude SCIM key (Enterprise)",
        "amplitude_region": "Amplitude's region: `us`, `eu` or a URL",
    },
    # Its SCIM lists invitees and joined members alike.
    acceptance_visible=False,
    follow_up=FollowUpTexts(
        "API key",
        "Amplitude's runbook: rotate the ingestion (project) API keys and export keys they had access to, "
        "regenerate data warehouse credentials, and update integrations that used their credentials "
        "(UNVERIFIED click path: Settings → Projects → the project → General → API keys).",
        "In Amplitude open Settings → Access Logs (or Audit Logs), filter by {email} and review their recent "
        "activity: data exports, dashboard or tracking plan changes, user invitations, integration changes.",
    ),
    cannot_come_back=(
        "their old login: deletion is permanent, the invitation makes a new one",
        "dashboards, notebooks and metrics they owned that were not transferred before the removal",
        "their role: Amplitude's API invites as Viewer, so a person sets the role",
    ),
    # UNVERIFIED: the runbooks name the page ("Settings → Members & Groups"); whether it offers an export
    # button, and its columns, is not documented.
    members_export_hint="In Amplitude, open Settings → Members & Groups and export the Members table as CSV "
                        "(it must have each member's email and last login).",
    pending_invites_note="SCIM lists invitations like members, so they are counted among the members",
)
