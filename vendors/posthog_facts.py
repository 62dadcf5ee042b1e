"""PostHog's entry in the vendor registry (vendors.registry): what the bot knows of it beside the connector."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from vendors.base import Vendor
from vendors.facts import BuildContext, FollowUpTexts, VendorFacts
from vendors.roles import ROLE_MAPS


def _configured(settings: Any) -> bool:
    return bool(settings.posthog_api_key.get_secret_value())


def _build(context: BuildContext) -> Vendor | None:
    settings = context.settings
    if context.manual or not _configured(settings):
        return None
    from vendors import posthog

    return posthog.PostHogVendor(
        api_key=settings.posthog_api_key.get_secret_value(),
        host=settings.posthog_host,
        organization_id=settings.posthog_org_id,
        policy=replace(context.paced(posthog.DEFAULT_POLICY), max_concurrency=context.connections),
    )


FACTS = VendorFacts(
    name="posthog",
    label="PostHog",
    connector_module="vendors.posthog",
    roles=ROLE_MAPS["posthog"],
    build=_build,
    configured=_configured,
    turned_on_by="POSTHOG_API_KEY",
    settings={  # the words for docs/configuration.md
        "posthog_api_key": "PostHog personal API key (`phx_…`) with the scopes in [vendors](vendors.md)",
        "posthog_host": "`us`, `eu`, or your self-hosted URL",
        "posthog_org_id": "organization UUID, or `@current`",
    },
    # vendor-apis.md: PostHog's invitations expire after 3 days.
    invite_lifetime=timedelta(days=3),
    # Click paths from the runbooks in /work/shared/runbooks/ where they give one; UNVERIFIED where noted.
    follow_up=FollowUpTexts(
        "project API key",
        "PostHog's runbook for a security concern: rotate the project API keys, update every SDK configuration, "
        "deploy it and check tracking still works (UNVERIFIED click path: the project's Settings → Project → "
        "General → Project API key → Reset). Their personal API keys died with the removal.",
        "In PostHog, in each project open Activity and filter by {email} (API: GET "
        "/api/projects/<id>/activity_log/?user={member_uuid}); check data exports and unusual queries too.",
    ),
    # From the runbooks and vendor-apis.md.
    cannot_come_back=(
        "their personal API keys (deleted with the membership: they create new ones)",
        "their personal settings and notification preferences",
        "the restricted dashboards opened to the project stay open, and assets stay with the project",
    ),
    # UNVERIFIED: whether the page offers an export button, and its columns, is not documented.
    members_export_hint="In PostHog, open Settings → Organization → Members and save the list as a CSV with each "
                        "person's email and last login.",
    pending_invites_note="not listed by offboard's PostHog connector: see Settings → Organization → Members → "
                         "Pending invites",
)
