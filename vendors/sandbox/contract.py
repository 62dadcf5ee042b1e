"""What every vendor sandbox offers the connector contract suite (tests/contract), besides its API.

The suite is written once against this protocol, so a new vendor needs its connector, its sandbox
(implementing `ContractSandbox`) and one line in the suite's parametrization. Everything here is
about the sandbox's *state*, read and set directly, never through the API under test: that is how
the suite proves what a connector's call really did.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from vendors.base import Role, Vendor
from vendors.http import RetryPolicy
from vendors.sandbox.server import Fault, LoggedRequest


@dataclass(frozen=True)
class Seat:
    """One person's place at a vendor, as the sandbox holds it."""

    role: Role  # in our vocabulary (through vendors.roles)
    project_ids: frozenset[str]  # projects they can open; empty where the vendor has no projects
    pending: bool = False  # invited, not joined yet
    active: bool = True  # False: deactivated but still listed (Mixpanel keeps deactivated users)


@runtime_checkable
class ContractSandbox(Protocol):
    vendor_name: str  # the connector's `name`

    @property
    def url(self) -> str: ...

    def reset(self) -> None:
        """Back to the seeded world (hundreds of members, several projects), faults cleared."""
        ...

    def connector(self, policy: RetryPolicy, *, page_size: int | None = None,
                  valid_credentials: bool = True) -> Vendor:
        """The vendor's connector pointed at this sandbox, with working or rejected credentials."""
        ...

    def seed_person(self, email: str, role: Role, project_ids: Sequence[str] = ()) -> None:
        """A joined member with this role (the nearest the vendor has) and access to these projects."""
        ...

    def seed_assets(self, email: str) -> int:
        """Give `email` some owned assets where the vendor's API can list them; returns how many (0 if none)."""
        ...

    def seat(self, email: str) -> Seat | None:
        """Their seat, or None when they are neither a member nor invited."""
        ...

    def project_ids(self) -> list[str]:
        """Every project the organization has (empty where the vendor has no projects)."""
        ...

    def member_count(self) -> int:
        """How many people the vendor's member list shows now, as `iter_members` should stream them
        (PostHog lists joined members only; Amplitude's SCIM lists invitees too; deactivated users
        are left out)."""
        ...

    # Given by `LoopbackServer` and each sandbox's vendor-shaped 429:
    def start(self) -> ContractSandbox: ...

    def stop(self) -> None: ...

    def inject(self, fault: Fault) -> None: ...

    def clear_faults(self) -> None: ...

    def calls(self, method: str | None = None, path_pattern: str | None = None) -> list[LoggedRequest]: ...

    def throttle(self, seconds: int, *, times: int | None = 1, path_pattern: str | None = None) -> Fault:
        """Answer the next `times` calls with the vendor's own 429 and `Retry-After: seconds`."""
        ...

    def writes_about(self, email: str) -> int:
        """How many mutating API calls (POST/PUT/PATCH/DELETE) have acted on `email` so far, so the
        suite can prove that running a step twice acts once."""
        ...
