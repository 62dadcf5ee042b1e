"""The vendor registry (vendors.registry): one entry per vendor, consistent with its connector and the settings."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest

from bot.runtime.config import Settings
from vendors import registry
from vendors.facts import GENERIC_EXPORT_HINT, GENERIC_FOLLOW_UP, VendorFacts

BUILT_IN = ("posthog", "amplitude", "mixpanel", "kissmetrics")


def test_the_built_in_vendors_are_listed_in_the_order_the_bot_shows_them() -> None:
    assert registry.names() == BUILT_IN


@pytest.mark.parametrize("facts", registry.BUILT_IN, ids=lambda f: f.name)
def test_each_entry_agrees_with_its_connector_and_names_real_settings(facts: VendorFacts) -> None:
    module = importlib.import_module(facts.connector_module)
    connectors = [c for c in vars(module).values() if isinstance(c, type) and getattr(c, "name", None) == facts.name]
    assert connectors, f"no connector class named {facts.name!r} in {facts.connector_module}"
    assert {c.label for c in connectors} == {facts.label}
    assert callable(module.manual_step)
    assert facts.settings and set(facts.settings) | set(facts.unset_means) <= set(Settings.model_fields)
    assert facts.turned_on_by


def test_a_vendor_nobody_registered_gets_the_cautious_defaults() -> None:
    facts = registry.facts_of("acme")
    assert registry.get("acme") is None
    assert (facts.label, facts.invite_lifetime, facts.acceptance_visible, facts.creates_account) == (
        "Acme", None, True, False)
    assert facts.follow_up == GENERIC_FOLLOW_UP and facts.members_export_hint == GENERIC_EXPORT_HINT
    assert facts.cannot_come_back == () and facts.pending_invites_note == ""


def test_register_adds_an_entry_until_it_is_taken_out_and_refuses_a_second_of_one_name() -> None:
    entry = VendorFacts(name="acme", label="Acme", connector_module="vendors.acme", invite_lifetime=timedelta(days=1))
    unregister = registry.register(entry)
    try:
        assert registry.names() == (*BUILT_IN, "acme") and registry.facts_of("acme") is entry
        with pytest.raises(ValueError, match="registered already"):
            registry.register(VendorFacts(name="posthog", label="PostHog 2", connector_module="vendors.posthog"))
    finally:
        unregister()
    assert registry.names() == BUILT_IN
    unregister()  # a second call changes nothing
    assert registry.names() == BUILT_IN
