"""Every vendor offboard knows, one `vendors.facts.VendorFacts` entry each, in the order the bot shows them.

Adding a vendor is its connector (vendors/<name>.py, the `vendors.base.Vendor` protocol), its sandbox
(vendors/sandbox/<name>.py), and its entry (vendors/<name>_facts.py) listed below. Its settings are fields of
`bot.runtime.config.Settings` (pydantic-settings needs them on the class, which is made before any entry is
read); the entry names them, with the words docs/configuration.md gives each.

`register` adds an entry while a process runs (a test's own vendor) and gives back a function that takes it
out again; nothing else changes the list.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from vendors import amplitude_facts, kissmetrics_facts, mixpanel_facts, posthog_facts
from vendors.facts import VendorFacts, unknown_facts

BUILT_IN: tuple[VendorFacts, ...] = (posthog_facts.FACTS, amplitude_facts.FACTS, mixpanel_facts.FACTS,
                                     kissmetrics_facts.FACTS)

_lock = threading.Lock()
_entries: dict[str, VendorFacts] = {facts.name: facts for facts in BUILT_IN}


def entries() -> tuple[VendorFacts, ...]:
    """Every registered vendor's facts, built-in ones first, in registry order."""
    with _lock:
        return tuple(_entries.values())


def names() -> tuple[str, ...]:
    return tuple(facts.name for facts in entries())


def get(name: str) -> VendorFacts | None:
    with _lock:
        return _entries.get(name)


def facts_of(name: str) -> VendorFacts:
    """The vendor's facts, or the cautious defaults (`vendors.facts.unknown_facts`) for one nobody registered."""
    return get(name) or unknown_facts(name)


def register(facts: VendorFacts) -> Callable[[], None]:
    """Add a vendor's entry; the function returned takes it out again. A name already registered is refused:
    two entries for one name would make the bot's answers depend on which was read."""
    with _lock:
        if facts.name in _entries:
            raise ValueError(f"a vendor named {facts.name!r} is registered already")
        _entries[facts.name] = facts

    def unregister() -> None:
        with _lock:
            if _entries.get(facts.name) is facts:
                del _entries[facts.name]

    return unregister
