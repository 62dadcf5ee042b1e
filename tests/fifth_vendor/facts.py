"""Lumen's registry entry: everything the bot knows of the fifth vendor, in the one place a vendor declares it.

The test registers it (`vendors.registry.register`) pointed at its running sandbox, and takes it out after.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.fifth_vendor.connector import LABEL, NAME, ROLES, LumenVendor
from vendors.facts import BuildContext, FollowUpTexts, VendorFacts
from vendors.http import RetryPolicy

INVITE_LIFETIME = timedelta(days=2)
FOLLOW_UP = FollowUpTexts(
    "board share link",
    "In Lumen, open Settings → Sharing and regenerate every board share link; update the pages that embed them.",
    "In Lumen open Settings → Audit trail, filter by {email} (user {member_uuid}) and read their last 90 days.",
)
CANNOT_COME_BACK = ("their Lumen board subscriptions (dropped with the membership)",)
EXPORT_HINT = "In Lumen, open Settings → Team → Export and save it as CSV."


def lumen_facts(base_url: str, api_key: str) -> VendorFacts:
    """The entry for a Lumen at `base_url`. A real vendor's build reads its settings fields from
    `context.settings`; this one is given its sandbox instead, so the bot's settings stay untouched."""

    def build(context: BuildContext) -> LumenVendor | None:
        if context.manual:
            return None  # worked by hand: the bot makes a ManualVendor with this module's click paths
        return LumenVendor(api_key, base_url, policy=context.paced(RetryPolicy(backoff=0.01, max_retry_after=1.0)))

    def configured(settings: Any) -> bool:
        return True

    return VendorFacts(
        name=NAME, label=LABEL, connector_module="tests.fifth_vendor.connector", build=build, configured=configured,
        turned_on_by="the test's sandbox", roles=ROLES, invite_lifetime=INVITE_LIFETIME, follow_up=FOLLOW_UP,
        cannot_come_back=CANNOT_COME_BACK, members_export_hint=EXPORT_HINT,
    )
