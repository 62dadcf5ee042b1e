"""What offboard's PostHog key lacks, said where it matters: `check` (read-only, one line per problem),
the card's warnings, and never a guard skipped in silence. Against the sandbox over real HTTP."""

from __future__ import annotations

import logging

import pytest

from bot.runtime.app import log_deployment_problems
from vendors.base import Checkable, deployment_problems
from vendors.http import RetryPolicy
from vendors.posthog import PostHogVendor
from vendors.posthog_scopes import SCOPES, grants, missing_scopes
from vendors.sandbox.posthog import ADMIN, KEY_OWNER_EMAIL, REJECTED_API_KEY, SANDBOX_API_KEY, PostHogSandbox

EVERY_SCOPE = [use.scope for use in SCOPES]


def make_vendor(sandbox: PostHogSandbox, key: str) -> PostHogVendor:
    return PostHogVendor(key, sandbox.url, policy=RetryPolicy(backoff=0.001, max_attempts=2, sleep=lambda s: None))


def without(*scopes: str) -> list[str]:
    return [s for s in EVERY_SCOPE if s not in scopes]


def test_write_grants_read_and_star_grants_all() -> None:
    assert grants(["*"], "access_control:write") and grants(["dashboard:write"], "dashboard:read")
    assert not grants(["dashboard:read"], "dashboard:write")
    assert missing_scopes(EVERY_SCOPE) == [] and len(missing_scopes([])) == len(SCOPES)


def test_check_of_a_good_key_finds_nothing(sandbox: PostHogSandbox) -> None:
    vendor = make_vendor(sandbox, SANDBOX_API_KEY)
    assert isinstance(vendor, Checkable)
    assert vendor.check() == [] and deployment_problems(vendor) == []
    assert make_vendor(sandbox, sandbox.issue_key(KEY_OWNER_EMAIL, scopes=EVERY_SCOPE)).check() == []
    assert not any(method != "GET" for method, _ in sandbox.requests())  # read-only


def test_check_of_a_bad_key_says_so_once(sandbox: PostHogSandbox) -> None:
    problems = make_vendor(sandbox, REJECTED_API_KEY).check()
    assert len(problems) == 1
    assert "POSTHOG_API_KEY is not a valid personal API key" in problems[0] and REJECTED_API_KEY not in problems[0]


def test_check_names_each_missing_scope_and_what_it_stops(sandbox: PostHogSandbox) -> None:
    key = sandbox.issue_key(KEY_OWNER_EMAIL, scopes=without("user:read", "access_control:write"))
    problems = make_vendor(sandbox, key).check()
    assert len(problems) == 2
    user, access = sorted(problems, key=lambda p: "access_control" in p)
    assert "lacks the user:read scope" in user and "owns the key offboard uses" in user
    assert "lacks the access_control:write scope" in access and "out of one project" in access
    assert all("Personal API keys" in p for p in problems)  # where to add it


def test_check_says_a_key_of_an_admin_cannot_remove_an_owner(sandbox: PostHogSandbox) -> None:
    sandbox.add_member("ops-admin@corp.com", level=ADMIN)
    problems = make_vendor(sandbox, sandbox.issue_key("ops-admin@corp.com")).check()
    assert len(problems) == 1 and "belongs to an admin" in problems[0] and "owner" in problems[0]


def test_without_user_read_the_own_account_guard_is_a_warning_not_silence(sandbox: PostHogSandbox) -> None:
    key = sandbox.issue_key(KEY_OWNER_EMAIL, scopes=without("user:read"))
    assessment = make_vendor(sandbox, key).assess(KEY_OWNER_EMAIL)
    assert assessment.member is not None and assessment.member.extra["is_api_key_owner"] is None
    assert any(f"could not tell whether {KEY_OWNER_EMAIL} owns the PostHog key" in w for w in assessment.warnings)
    assert any("lacks the user:read scope" in w for w in assessment.warnings)


def test_the_card_says_what_a_missing_scope_stops(sandbox: PostHogSandbox) -> None:
    key = sandbox.issue_key(KEY_OWNER_EMAIL, scopes=without("access_control:write"))
    warnings = make_vendor(sandbox, key).assess("grace@corp.com").warnings
    assert any("lacks the access_control:write scope" in w and "out of one project" in w for w in warnings)
    assert not make_vendor(sandbox, SANDBOX_API_KEY).assess("grace@corp.com").warnings


def test_start_up_logs_one_line_per_missing_scope(sandbox: PostHogSandbox, caplog: pytest.LogCaptureFixture) -> None:
    key = sandbox.issue_key(KEY_OWNER_EMAIL, scopes=without("user:read", "access_control:write"))
    with caplog.at_level(logging.WARNING, logger="bot.runtime.app"):
        log_deployment_problems({"posthog": make_vendor(sandbox, key)})
    lines = [r.getMessage() for r in caplog.records if r.name == "bot.runtime.app"]
    assert len(lines) == 2 and all(line.startswith("PostHog: ") for line in lines)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="bot.runtime.app"):
        log_deployment_problems({"posthog": make_vendor(sandbox, SANDBOX_API_KEY)})
    assert not [r for r in caplog.records if r.name == "bot.runtime.app"]
