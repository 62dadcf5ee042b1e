"""The personal API key scopes the PostHog connector uses, and what each one's absence stops.

The one table: the list in docs/vendors.md, the start-up log, `PostHogVendor.check` and the assessment warnings
all read it, so a scope the connector starts to need is added here once. PostHog answers a call without
its scope with 403 "API key missing required scope '…'"; a `:write` scope also grants `:read`, and "*"
grants everything (`posthog/permissions.py`, `APIScopePermission`). A key may always read its own scopes
(`GET /api/personal_api_keys/@current/`), so offboard can say what is missing before it matters.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

ALL_SCOPES = "*"
KEY_SETTINGS = "PostHog → Settings → User → Personal API keys → the key's scopes"


@dataclass(frozen=True)
class ScopeUse:
    scope: str
    stops: str  # what offboard cannot do without it, in words for the people who run it


SCOPES: tuple[ScopeUse, ...] = (
    ScopeUse("organization_member:read", "find people and list members and invitations, so it can check nobody"),
    ScopeUse("organization_member:write", "change roles, remove people from the organization, invite or cancel "
                                          "invitations"),
    ScopeUse("organization:read", "read the organization's name, the key's own level and its roles, so it cannot "
                                  "tell which project access a role gives"),
    ScopeUse("project:read", "list the projects, so it sees nobody's project access or assets"),
    ScopeUse("access_control:read", "read who may open each project, so project access reads as unknown"),
    ScopeUse("access_control:write", "take someone out of one project while they stay in the organization"),
    ScopeUse("user:read", "tell whether the person leaving owns the key offboard uses (PostHog would then refuse "
                          "the change, and the key dies with the account)"),
    ScopeUse("dashboard:write", "list dashboards, and open restricted dashboards to the project at the hand-over"),
    ScopeUse("insight:read", "list the insights a person created"),
    ScopeUse("feature_flag:read", "list the feature flags a person created"),
    ScopeUse("cohort:read", "list the cohorts a person created"),
    ScopeUse("experiment:read", "list the experiments a person runs"),
    ScopeUse("notebook:read", "list the notebooks a person created"),
)


def grants(granted: Iterable[str], scope: str) -> bool:
    """Whether a key with `granted` scopes may make a call needing `scope`, as PostHog decides it."""
    have = set(granted)
    if ALL_SCOPES in have or scope in have:
        return True
    return scope.endswith(":read") and scope.replace(":read", ":write") in have


def missing_scopes(granted: Iterable[str]) -> list[ScopeUse]:
    have = list(granted)
    return [use for use in SCOPES if not grants(have, use.scope)]


def missing_scope_line(use: ScopeUse) -> str:
    """One problem: what is missing, what it stops, and what to do."""
    return (f"offboard's PostHog key lacks the {use.scope} scope, so offboard cannot {use.stops}. Add {use.scope} "
            f"to the key ({KEY_SETTINGS}).")
