"""Judging who is inactive, per vendor: from the API's last login, from a members export, or not at all
(and saying why). The connectors themselves are tested against their sandboxes; here a scripted vendor
implements the protocol with the members given."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.reviews.inactivity import LeftOut, SweepPolicy, judge_vendor, people
from bot.reviews.members_export import parse_members_export
from vendors.base import Capability, Member, PlannedStep, Role, UnavailableError

NOW = datetime(2025, 6, 1, tzinfo=UTC)


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


class ListedVendor:
    """Streams the members given; raises after `fail_after` of them, as a vendor going down mid-list."""

    def __init__(self, name: str, members: list[Member], *, logins: bool = True, lists: bool = True,
                 fail_after: int | None = None) -> None:
        self.name, self.label = name, name.title()
        caps = {Capability.FIND_MEMBER}
        caps |= {Capability.LIST_MEMBERS} if lists else set()
        caps |= {Capability.READ_LAST_LOGIN} if logins else set()
        self.capabilities = frozenset(caps)
        self.members, self.fail_after, self.pages_read = members, fail_after, 0

    def iter_members(self) -> Iterator[Member]:
        for index, member in enumerate(self.members):
            if self.fail_after is not None and index == self.fail_after:
                raise UnavailableError("Vendor answered 503 three times", vendor=self.name)
            self.pages_read += 1
            yield member

    def manual_step(self, capability: Capability, email: str, details: Mapping[str, Any]) -> PlannedStep:
        raise AssertionError("not used by the sweep")


def member(email: str, *, role: Role = Role.MEMBER, login: float | None = None, joined: float | None = 400,
           known: bool = True, **extra: Any) -> Member:
    return Member(email=email, member_id=email, name=email.split("@")[0].title(), role=role, vendor_role=role.value,
                  last_login=None if login is None else ago(login), joined_at=None if joined is None else ago(joined),
                  last_login_known=known, extra=extra)


def test_who_is_inactive_and_who_is_left_out_and_why() -> None:
    vendor = ListedVendor("posthog", [
        member("stale@corp.com", login=91),
        member("fresh@corp.com", login=89),
        member("never@corp.com"),  # joined 400 days ago, never logged in
        member("never-unknown-join@corp.com", joined=None),  # no join date: flagged for a person to look
        member("new@corp.com", joined=30),
        member("owner@corp.com", role=Role.OWNER, login=500),
        member("etl@svc.corp.com", login=500),
        member("kept@corp.com", login=500),
        member("ceo@corp.com", login=500),
        member("invited@corp.com", status="pending"),
    ])
    policy = SweepPolicy(90, service_accounts=("*@svc.corp.com",), allowlist=("CEO@corp.com",))
    result = judge_vendor(vendor, policy, {"kept@corp.com"}, NOW)
    assert result.source == "api" and result.unjudged is None and result.members == 10
    assert {s.email for s in result.stale} == {"stale@corp.com", "never@corp.com", "never-unknown-join@corp.com"}
    assert result.left_out == {LeftOut.NEW: 1, LeftOut.OWNER: 1, LeftOut.SERVICE_ACCOUNT: 1, LeftOut.EXEMPT: 1,
                               LeftOut.ALLOWLIST: 1, LeftOut.PENDING: 1}


def test_the_period_is_per_vendor() -> None:
    members = [member("a@corp.com", login=100)]
    policy = SweepPolicy(90, per_vendor={"mixpanel": 120})
    assert judge_vendor(ListedVendor("posthog", members), policy, set(), NOW).stale
    assert not judge_vendor(ListedVendor("mixpanel", members), policy, set(), NOW).stale


def test_a_vendor_without_last_login_is_not_judged_and_the_card_says_how_to_fix_it() -> None:
    vendor = ListedVendor("amplitude", [member("a@corp.com", known=False)], logins=False)
    result = judge_vendor(vendor, SweepPolicy(), set(), NOW)
    assert result.source is None and not result.stale and vendor.pages_read == 0  # not even listed
    assert result.unjudged == "Amplitude's API does not say when people last logged in."
    assert "Settings → Members & Groups" in result.hint and result.needs_export


def test_a_vendor_that_fails_mid_list_shows_nothing_rather_than_half() -> None:
    vendor = ListedVendor("posthog", [member(f"m{i}@corp.com", login=200) for i in range(5)], fail_after=3)
    result = judge_vendor(vendor, SweepPolicy(), set(), NOW)
    assert result.stale == [] and result.members == 0 and result.source is None
    assert result.unjudged == "Posthog could not be read: Vendor answered 503 three times"


def test_members_come_from_the_api_and_last_logins_from_the_export() -> None:
    vendor = ListedVendor("amplitude", [member("stale@corp.com", known=False), member("fresh@corp.com", known=False),
                                        member("missing@corp.com", known=False)], logins=False)
    export = parse_members_export("amplitude", "a.csv", (
        "Email,Last Login,Status\n"
        f"stale@corp.com,{ago(200):%Y-%m-%d},Active\n"
        f"fresh@corp.com,{ago(2):%Y-%m-%d},Active\n"
        f"left-already@corp.com,{ago(300):%Y-%m-%d},Active\n"))
    result = judge_vendor(vendor, SweepPolicy(), set(), NOW, export)
    assert result.source == "export" and [s.email for s in result.stale] == ["stale@corp.com"]
    assert result.stale[0].source == "export" and result.left_out == {LeftOut.NOT_IN_EXPORT: 1}


def test_a_vendor_that_cannot_list_is_judged_from_the_export_alone_with_its_role_words() -> None:
    vendor = ListedVendor("kissmetrics", [], lists=False, logins=False)
    export = parse_members_export("kissmetrics", "k.csv", (
        "Email,Role,Last login\n"
        f"owner@corp.com,Account Owner,{ago(400):%Y-%m-%d}\n"
        f"user@corp.com,User,{ago(400):%Y-%m-%d}\n"
        "ghost@corp.com,Admin,unknown-date\n"))
    result = judge_vendor(vendor, SweepPolicy(), set(), NOW, export)
    assert [s.email for s in result.stale] == ["user@corp.com"]
    assert result.left_out == {LeftOut.OWNER: 1, LeftOut.UNREADABLE: 1}


def test_people_are_one_row_each_across_vendors() -> None:
    posthog = judge_vendor(ListedVendor("posthog", [member("a@corp.com", login=200)]), SweepPolicy(), set(), NOW)
    mixpanel = judge_vendor(ListedVendor("mixpanel", [member("A@corp.com", login=300), member("b@corp.com")]),
                            SweepPolicy(), set(), NOW)
    found = people([posthog, mixpanel])
    assert [(p.email, sorted(p.seats)) for p in found] == [("a@corp.com", ["mixpanel", "posthog"]),
                                                          ("b@corp.com", ["mixpanel"])]


def test_where_the_api_shows_no_roles_the_exports_role_keeps_owners_out() -> None:
    vendor = ListedVendor("mixpanel", [member("boss@corp.com", known=False), member("pat@corp.com", known=False)],
                          logins=False)
    export = parse_members_export("mixpanel", "m.csv", (
        "Email,Role,Last login\n"
        f"boss@corp.com,Owner,{ago(400):%Y-%m-%d}\n"
        f"pat@corp.com,Member,{ago(400):%Y-%m-%d}\n"))
    result = judge_vendor(vendor, SweepPolicy(), set(), NOW, export)
    assert [s.email for s in result.stale] == ["pat@corp.com"] and result.left_out == {LeftOut.OWNER: 1}


class BlindVendor(ListedVendor):
    """A vendor whose API cannot list anyone at agency.com (as Mixpanel's SCIM off the verified domains)."""

    blind_spot = "members at agency.com are invisible to its API"

    def known_unseen(self, email: str) -> bool:
        return email.lower().endswith("@agency.com")


def test_members_the_api_cannot_list_are_judged_from_the_export_once() -> None:
    listed = [member("amy@corp.com", known=False), member("odd@agency.com", known=False)]  # one listed anyway
    vendor = BlindVendor("mixpanel", listed, logins=False)
    export = parse_members_export("mixpanel", "m.csv", (
        "Email,Last login\n"
        f"amy@corp.com,{ago(400):%Y-%m-%d}\n"
        f"odd@agency.com,{ago(400):%Y-%m-%d}\n"
        f"pat@agency.com,{ago(400):%Y-%m-%d}\n"
        f"gone@corp.com,{ago(400):%Y-%m-%d}\n"))  # on a domain the API sees, and not listed: gone
    result = judge_vendor(vendor, SweepPolicy(), set(), NOW, export)
    assert sorted(s.email for s in result.stale) == ["amy@corp.com", "odd@agency.com", "pat@agency.com"]
    assert result.members == 3 and result.blind_spot == BlindVendor.blind_spot
    assert result.to_json()["blind_spot"] == BlindVendor.blind_spot
