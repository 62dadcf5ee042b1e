"""A vendor worked entirely by hand: for teams without the plan or the credentials its API needs
(SCIM is Enterprise-only at Amplitude and Mixpanel), or for a vendor with no API at all.

It never calls the vendor. Its assessment says plainly that nobody looked; its removal plan is the
vendor's own click paths (the connector module's `manual_step`), which a person does and confirms
in Slack. It declares no capabilities, so every other change is planned as manual steps too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from vendors.base import (
    Assessment,
    AssessmentStatus,
    Capability,
    Member,
    PlannedStep,
    StepOutcome,
    UnsupportedError,
)

ManualStepFactory = Callable[[Capability, str, Mapping[str, Any]], PlannedStep]

# The removal by hand, in the order a person does it: look, hand over, remove, check.
REMOVAL_BY_HAND = (Capability.FIND_MEMBER, Capability.HANDOVER_ASSETS, Capability.REMOVE_MEMBER,
                   Capability.VERIFY_REMOVAL)


def manual_only_reason(label: str) -> str:
    return f"{label} is set up as manual-only: offboard does not call its API, so a person checks by hand"


class ManualVendor:
    """`Vendor` with no API: every step is a person's, guided by `manual_step`."""

    capabilities: frozenset[Capability] = frozenset()

    def __init__(self, name: str, label: str, manual_step: ManualStepFactory, reason: str | None = None) -> None:
        self.name = name
        self.label = label
        self._manual_step = manual_step
        self.reason = reason or manual_only_reason(label)

    def __repr__(self) -> str:
        return f"ManualVendor(name={self.name!r})"

    def close(self) -> None:
        pass

    def assess(self, email: str) -> Assessment:
        return Assessment(self.name, AssessmentStatus.UNKNOWN, error=self.reason, email=email.strip())

    def iter_members(self) -> Iterator[Member]:
        raise UnsupportedError(f"{self.reason}; it cannot list members", vendor=self.name)

    def plan_removal(self, assessment: Assessment, new_owner_email: str | None) -> list[PlannedStep]:
        if assessment.status == AssessmentStatus.NOT_MEMBER:
            return []
        email = assessment.email or (assessment.member.email if assessment.member else "")
        details = {"new_owner_email": new_owner_email, "reason": self.reason}
        return [self._manual_step(capability, email, details) for capability in REMOVAL_BY_HAND]

    def manual_step(self, capability: Capability, email: str, details: Mapping[str, Any]) -> PlannedStep:
        return self._manual_step(capability, email, details)

    def check(self) -> list[str]:
        """`offboard check` (`vendors.base.Checkable`): worked by hand, it holds no credentials and calls
        nothing, so there is nothing to check."""
        return []

    def execute(self, step: PlannedStep) -> StepOutcome:
        raise UnsupportedError(f"{self.reason}; “{step.title}” is done by a person and confirmed in Slack",
                               vendor=self.name)
