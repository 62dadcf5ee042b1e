"""Sandboxes served from a child process (vendors/sandbox/remote.py), as the bulk benchmark runs them: the
connector built here talks to the child over HTTP, and the sandbox's state is read and steered over a pipe."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from vendors.base import AssessmentStatus, Role, StepKind
from vendors.http import RetryPolicy
from vendors.sandbox.remote import SandboxHost

EMAIL = "remote.person@corp.com"


@pytest.fixture(scope="module")
def host() -> Iterator[SandboxHost]:
    with SandboxHost(("posthog", "slack")) as running:
        yield running


def test_a_connector_here_acts_on_the_sandbox_there(host: SandboxHost) -> None:
    sandbox = host.sandboxes["posthog"]
    sandbox.seed_person(EMAIL, Role.MEMBER, sandbox.project_ids()[:1])
    connector = sandbox.connector(RetryPolicy(backoff=0.01))
    assessment = connector.assess(EMAIL)
    assert assessment.status == AssessmentStatus.MEMBER
    removal = next(s for s in connector.plan_removal(assessment, None) if s.kind == StepKind.REMOVE_MEMBER)
    connector.execute(removal)
    assert sandbox.seat(EMAIL) is None, "the child's state shows the removal made from here"
    assert sandbox.delete_count(EMAIL) == 1
    assert any(call.method == "DELETE" for call in sandbox.calls())


def test_configure_steers_the_sandbox_and_errors_come_back(host: SandboxHost) -> None:
    sandbox = host.sandboxes["posthog"]
    connector = sandbox.connector(RetryPolicy(backoff=0.01))
    sandbox.configure(latency=0.2)
    try:
        started = time.monotonic()
        connector.assess("nobody@corp.com")
        assert time.monotonic() - started >= 0.2
    finally:
        sandbox.configure(latency=0.0)
    with pytest.raises(RuntimeError, match="no_such_method"):
        sandbox.no_such_method()


def test_the_slack_stand_in_answers_from_the_child(host: SandboxHost) -> None:
    import httpx

    answer = httpx.post(f"{host.sandboxes['slack'].url}/api/auth.test",
                        headers={"Authorization": "Bearer xoxb-test-token"}).json()
    assert answer["ok"] is True
