"""Mixpanel's entry in the vendor registry (vendors.registry): what the bot knows of it beside the connector."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from vendors.base import Vendor
from vendors.facts import BuildContext, FollowUpTexts, VendorFacts
from vendors.roles import ROLE_MAPS


def _configured(settings: Any) -> bool:
    return bool(settings.mixpanel_scim_token.get_secret_value())


def _build(context: BuildContext) -> Vendor | None:
    settings = context.settings
    if context.manual or not _configured(settings):
        return None
    from vendors import mixpanel
    from vendors.http import RetryPolicy

    return mixpanel.MixpanelVendor(
        settings.mixpanel_scim_token.get_secret_value(),
        region=settings.mixpanel_region,
        scim_url=settings.mixpanel_scim_url or None,
        verified_domains=settings.mixpanel_verified_domains,
        service_account_username=settings.mixpanel_service_account_username or None,
        service_account_secret=settings.mixpanel_service_account_secret.get_secret_value() or None,
        organization_id=settings.mixpanel_org_id or None,
        policy=replace(context.paced(RetryPolicy()), max_concurrency=context.connections),
    )


FACTS = VendorFacts(
    name="mixpanel",
    label="Mixpanel",
    connector_module="vendors.mixpanel",
    roles=ROLE_MAPS["mixpanel"],
    build=_build,
    configured=_configured,
    turned_on_by="MIXPANEL_SCIM_TOKEN",
    settings={  # the words for docs/configuration.md
        "mixpanel_scim_token": "Mixpanel SCIM token (Enterprise)",
        "mixpanel_region": "Mixpanel's region: `us`, `eu`, `in` or a URL (the region picks the "
                           "service-account host)",
        "mixpanel_scim_url": "Mixpanel's SCIM base URL. Only `https://mixpanel.com/api/app/scim/v2` is "
                             "documented; an organization in the EU or India data center sets what Mixpanel "
                             "support gives it",
        "mixpanel_verified_domains": "the organization's verified claimed domains, comma-separated (e.g. "
                                     "`corp.com,corp.co.uk`): Mixpanel's SCIM sees only emails on them, so anyone "
                                     "else is *unknown*, never \"not a member\"",
        "mixpanel_service_account_username": "optional, with the secret and the org id: lists the service "
                                             "accounts a leaver created, for rotation",
        "mixpanel_service_account_secret": "optional: that service account's secret",
        "mixpanel_org_id": "optional: the Mixpanel organization id the service account lists accounts in",
    },
    unset_means={"mixpanel_scim_url": "`https://mixpanel.com/api/app/scim/v2`"},
    # Its SCIM creates the user outright.
    creates_account=True,
    follow_up=FollowUpTexts(
        "project token and API secret",
        "Mixpanel's runbook: invalidate API tokens and generate new ones under a service account (Settings → "
        "API Tokens), revoke data warehouse credentials and update scheduled exports; check no token was copied "
        "to a service account.",
        "In Mixpanel open Organization Settings → Activity Log (or Audit Log), filter by {email}, review and "
        "export their recent entries (logins, actions, changes, exports).",
    ),
    cannot_come_back=(
        "their API tokens (invalidated at the removal)",
        "reports keep showing “created by removed user”",
    ),
    # The runbooks: "Organization Settings → Users & Teams … Export member list as CSV".
    members_export_hint="In Mixpanel, open Organization Settings → Users & Teams and export the user list as CSV.",
    pending_invites_note="none: SCIM creates users directly, without invitations",
)
