"""The PostHog sandbox itself: shapes, pagination, guards and auth, spoken to over plain HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from vendors.base import AssessmentStatus, Role
from vendors.http import RetryPolicy
from vendors.sandbox.contract import ContractSandbox, Seat
from vendors.sandbox.posthog import (
    ADMIN,
    EDITABLE,
    FINANCE_ID,
    KEY_OWNER_EMAIL,
    MEMBER,
    ORG_ID,
    OWNER,
    PRODUCTION_ID,
    RESTRICTED,
    SANDBOX_API_KEY,
    STAGING_ID,
    PostHogSandbox,
)
from vendors.sandbox.server import Fault

MEMBERS = "/api/organizations/@current/members/"


def client(sandbox: PostHogSandbox, key: str = SANDBOX_API_KEY) -> httpx.Client:
    return httpx.Client(base_url=sandbox.url, headers={"Authorization": f"Bearer {key}"}, timeout=5)


@pytest.fixture
def api(sandbox: PostHogSandbox) -> Iterator[httpx.Client]:
    with client(sandbox) as http:
        yield http


def uuid_of(sandbox: PostHogSandbox, email: str) -> str:
    member = sandbox.member_by_email(email)
    assert member is not None
    return member.user.uuid


# -- auth -------------------------------------------------------------------------------------------
def test_a_bad_key_is_refused_in_posthogs_shape(sandbox: PostHogSandbox) -> None:
    response = client(sandbox, "phx_wrong").get(MEMBERS)
    assert response.status_code == 401
    assert response.json() == {"type": "authentication_error", "code": "authentication_failed",
                               "detail": "Personal API key found in request Authorization header is invalid.",
                               "attr": None}


def test_no_key_is_refused(sandbox: PostHogSandbox) -> None:
    response = httpx.get(sandbox.url + MEMBERS)
    assert response.status_code == 401 and response.json()["code"] == "not_authenticated"


def test_a_key_needs_the_scope(sandbox: PostHogSandbox) -> None:
    narrow = sandbox.issue_key(KEY_OWNER_EMAIL, scopes=["dashboard:write"])
    refused = client(sandbox, narrow).get(MEMBERS)
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
    assert "organization_member:read" in refused.json()["detail"]
    assert client(sandbox, narrow).get(f"/api/projects/{PRODUCTION_ID}/dashboards/").status_code == 200


def test_the_organization_is_its_uuid_or_current(sandbox: PostHogSandbox, api: httpx.Client) -> None:
    assert api.get(f"/api/organizations/{ORG_ID}/members/").json()["count"] == 300
    assert api.get("/api/organizations/@current/").json()["name"] == "Corp"
    other = api.get("/api/organizations/00000000-0000-0000-0000-000000000000/members/")
    assert other.status_code == 404
    assert other.json() == {"type": "invalid_request", "code": "not_found", "detail": "Not found.", "attr": None}


# -- members ----------------------------------------------------------------------------------------
def test_members_paginate_with_absolute_links(sandbox: PostHogSandbox, api: httpx.Client) -> None:
    first = api.get(MEMBERS, params={"limit": 7}).json()
    assert first["count"] == 300 and len(first["results"]) == 7 and first["previous"] is None
    assert first["next"] == f"{sandbox.url}{MEMBERS}?limit=7&offset=7"
    emails, link = [m["user"]["email"] for m in first["results"]], first["next"]
    while link:
        page = api.get(link).json()  # an absolute link, followed on the same keep-alive connection
        emails += [m["user"]["email"] for m in page["results"]]
        link = page["next"]
    assert len(emails) == len(set(emails)) == 300
    assert "ghost@corp.com" not in emails  # inactive users are left out
    second = api.get(MEMBERS, params={"limit": 7, "offset": 7}).json()
    assert parse_qs(urlsplit(second["previous"]).query) == {"limit": ["7"]}


def test_the_default_page_size_is_configurable(sandbox: PostHogSandbox, api: httpx.Client) -> None:
    sandbox.reset(page_size=10)
    page = api.get(MEMBERS).json()
    assert len(page["results"]) == 10 and "limit=10" in page["next"]


def test_members_come_newest_first(api: httpx.Client) -> None:
    joined = [m["joined_at"] for m in api.get(MEMBERS).json()["results"]]
    assert joined == sorted(joined, reverse=True)


def test_the_email_filter_is_exact_and_search_is_not(api: httpx.Client) -> None:
    alice = api.get(MEMBERS, params={"email": "alice@corp.com"}).json()
    assert alice["count"] == 1
    member = alice["results"][0]
    assert member["level"] == ADMIN and member["user"]["id"] == 42 and member["last_login"].endswith("Z")
    assert set(member) >= {"id", "level", "joined_at", "updated_at", "is_2fa_enabled", "has_social_auth", "user"}
    assert api.get(MEMBERS, params={"email": "ALICE@corp.com"}).json()["count"] == 0
    assert api.get(MEMBERS, params={"email": "erin.ng@corp.com"}).json()["count"] == 0
    found = api.get(MEMBERS, params={"search": "erin.ng@corp"}).json()["results"]
    assert [m["user"]["email"] for m in found] == ["Erin.Ng@Corp.com"]


def test_nobody_changes_their_own_level(sandbox: PostHogSandbox, api: httpx.Client) -> None:
    response = api.patch(f"{MEMBERS}{uuid_of(sandbox, KEY_OWNER_EMAIL)}/", json={"level": ADMIN})
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"


def test_only_an_owner_makes_an_owner(sandbox: PostHogSandbox, api: httpx.Client) -> None:
    as_admin = client(sandbox, sandbox.issue_key("alice@corp.com"))
    bob = f"{MEMBERS}{uuid_of(sandbox, 'bob@corp.com')}/"
    assert as_admin.patch(bob, json={"level": OWNER}).status_code == 403
    assert as_admin.patch(bob, json={"level": ADMIN}).json()["level"] == ADMIN
    assert api.patch(bob, json={"level": OWNER}).json()["level"] == OWNER


def test_an_admin_cannot_touch_an_owner(sandbox: PostHogSandbox) -> None:
    as_admin = client(sandbox, sandbox.issue_key("alice@corp.com"))
    carol = f"{MEMBERS}{uuid_of(sandbox, 'carol@corp.com')}/"
    assert as_admin.patch(carol, json={"level": ADMIN}).status_code == 403
    assert as_admin.delete(carol).status_code == 403
    assert sandbox.delete_count("carol@corp.com") == 0


def test_only_level_is_writable_and_must_be_valid(sandbox: PostHogSandbox, api: httpx.Client) -> None:
    bob = f"{MEMBERS}{uuid_of(sandbox, 'bob@corp.com')}/"
    assert api.patch(bob, json={"joined_at": "2000-01-01T00:00:00Z"}).json()["level"] == MEMBER
    invalid = api.patch(bob, json={"level": 9})
    assert invalid.status_code == 400 and invalid.json()["attr"] == "level"


def test_an_owner_is_never_deleted_before_demotion(sandbox: PostHogSandbox, api: httpx.Client) -> None:
    carol = f"{MEMBERS}{uuid_of(sandbox, 'carol@corp.com')}/"
    refused = api.delete(carol)  # although it-ops is an owner too
    assert refused.status_code == 400
    assert refused.json() == {"type": "validation_error", "code": "invalid_input",
                              "detail": "Cannot leave the organization as its owner!", "attr": None}
    assert api.patch(carol, json={"level": ADMIN}).status_code == 200
    assert api.delete(carol).status_code == 204
    assert api.delete(carol).status_code == 404
    assert sandbox.delete_count("carol@corp.com") == 1 and sandbox.removed_members == ["carol@corp.com"]
    assert api.get(MEMBERS, params={"email": "carol@corp.com"}).json()["count"] == 0


def test_no_personal_api_key_may_list_a_members_keys(sandbox: PostHogSandbox, api: httpx.Client) -> None:
    # The action declares no required scopes, so PostHog refuses every personal API key, even "*" ones.
    for email in ("alice@corp.com", "dave@corp.com", KEY_OWNER_EMAIL):
        refused = api.get(f"{MEMBERS}{uuid_of(sandbox, email)}/scoped_api_keys/")
        assert refused.status_code == 403
        assert refused.json()["detail"] == "This action does not support personal API key access"


def test_a_key_reads_its_own_scopes_whatever_they_are(sandbox: PostHogSandbox) -> None:
    narrow = sandbox.issue_key(KEY_OWNER_EMAIL, scopes=["organization_member:read"])
    me = client(sandbox, narrow).get("/api/personal_api_keys/@current/")
    assert me.status_code == 200
    body = me.json()
    assert body["scopes"] == ["organization_member:read"] and body["value"] is None
    assert set(body) == {"id", "label", "value", "mask_value", "created_at", "last_used_at", "user_id", "scopes",
                         "scoped_teams", "scoped_organizations", "last_rolled_at"}
    owner = sandbox.member_by_email(KEY_OWNER_EMAIL)
    assert owner is not None and body["user_id"] == owner.user.id
    assert client(sandbox, narrow).get("/api/personal_api_keys/").status_code == 403  # only itself, only read
    assert client(sandbox, "phx_wrong").get("/api/personal_api_keys/@current/").status_code == 401


def test_make_sole_owner(sandbox: PostHogSandbox, api: httpx.Client) -> None:
    sandbox.make_sole_owner("carol@corp.com")
    everyone = api.get(MEMBERS, params={"limit": 1000}).json()["results"]
    owners = [m["user"]["email"] for m in everyone if m["level"] == OWNER]
    assert owners == ["carol@corp.com"]
    # The key owner is an admin now, so it may not demote or delete carol.
    assert api.delete(f"{MEMBERS}{uuid_of(sandbox, 'carol@corp.com')}/").status_code == 403


# -- projects and access ------------------------------------------------------------------------------
def test_projects_and_access_controls(sandbox: PostHogSandbox, api: httpx.Client) -> None:
    projects = api.get("/api/organizations/@current/projects/").json()["results"]
    assert projects == [{"id": PRODUCTION_ID, "name": "Production", "access_control": False},
                        {"id": STAGING_ID, "name": "Staging", "access_control": False},
                        {"id": FINANCE_ID, "name": "Finance", "access_control": True}]
    finance = api.get(f"/api/projects/{FINANCE_ID}/access_controls").json()
    assert finance["default_access_level"] == "admin"  # PostHog's fixed default, the same for every project
    everyone = [e for e in finance["access_controls"] if e["organization_member"] is None and e["role"] is None]
    assert [e["access_level"] for e in everyone] == ["none"]  # what makes Finance private
    assert set(everyone[0]) == {"access_level", "resource", "resource_id", "organization_member", "role",
                                "created_by", "created_at", "updated_at"}  # AccessControlSerializer's fields
    erin = sandbox.member_by_email("Erin.Ng@Corp.com")
    assert erin is not None
    entry = next(e for e in finance["access_controls"] if e["organization_member"] == erin.id)
    assert entry["access_level"] == "admin" and entry["resource"] == "project" and entry["resource_id"] == "1003"

    bob = sandbox.member_by_email("bob@corp.com")
    assert bob is not None
    put = api.put(f"/api/projects/{FINANCE_ID}/access_controls",
                  json={"organization_member": bob.id, "access_level": "member"})
    assert put.status_code == 200 and put.json()["access_level"] == "member"
    gone = api.put(f"/api/projects/{FINANCE_ID}/access_controls",
                   json={"organization_member": bob.id, "access_level": None})
    assert gone.status_code == 204
    levels = api.get(f"/api/projects/{FINANCE_ID}/access_controls").json()["access_controls"]
    assert bob.id not in [e["organization_member"] for e in levels]


def test_access_control_puts_are_checked_as_posthog_checks_them(sandbox: PostHogSandbox, api: httpx.Client) -> None:
    path = f"/api/projects/{PRODUCTION_ID}/access_controls"
    bob = sandbox.member_by_email("bob@corp.com")
    assert bob is not None
    bad_level = api.put(path, json={"organization_member": bob.id, "access_level": "viewer"})
    assert bad_level.status_code == 400 and bad_level.json()["attr"] == "access_level"
    assert bad_level.json()["detail"] == "Invalid access level. Must be one of: none, member, admin"
    not_an_id = api.put(path, json={"organization_member": "bob@corp.com", "access_level": "none"})
    assert not_an_id.status_code == 400 and "Invalid organization member id" in not_an_id.json()["detail"]
    nobody = api.put(path, json={"organization_member": "00000000-0000-0000-0000-000000000000",
                                 "access_level": "none"})
    assert nobody.status_code == 400 and nobody.json()["code"] == "does_not_exist"
    as_member = client(sandbox, sandbox.issue_key("dave@corp.com"))
    refused = as_member.put(path, json={"organization_member": bob.id, "access_level": "none"})
    assert refused.status_code == 403 and refused.json()["detail"] == "Must be admin to modify project permissions."
    assert sandbox.seat("bob@corp.com").project_ids == {str(PRODUCTION_ID), str(STAGING_ID)}  # type: ignore[union-attr]
    # An explicit "none" overrides an open project's default, for a member; an org admin opens every project.
    assert api.put(path, json={"organization_member": bob.id, "access_level": "none"}).status_code == 200
    assert sandbox.seat("bob@corp.com").project_ids == {str(STAGING_ID)}  # type: ignore[union-attr]
    alice = sandbox.member_by_email("alice@corp.com")
    assert alice is not None
    assert api.put(path, json={"organization_member": alice.id, "access_level": "none"}).status_code == 200
    assert str(PRODUCTION_ID) in sandbox.seat("alice@corp.com").project_ids  # type: ignore[union-attr]


def test_a_member_without_access_cannot_open_a_private_project(sandbox: PostHogSandbox) -> None:
    as_bob = client(sandbox, sandbox.issue_key("bob@corp.com"))
    assert as_bob.get(f"/api/projects/{FINANCE_ID}/insights/").status_code == 403
    assert [p["name"] for p in as_bob.get("/api/organizations/@current/projects/").json()["results"]] == [
        "Production", "Staging"]


# -- assets ---------------------------------------------------------------------------------------------
def names(response: httpx.Response, key: str = "name") -> list[str]:
    assert response.status_code == 200, response.text
    return [item[key] for item in response.json()["results"]]


def test_creator_filters_take_each_kinds_identifier(sandbox: PostHogSandbox, api: httpx.Client) -> None:
    alice_uuid = uuid_of(sandbox, "alice@corp.com")
    prod = f"/api/projects/{PRODUCTION_ID}"
    assert names(api.get(f"{prod}/insights/", params={"created_by": "[42]"})) == ["Weekly active users", None]
    assert names(api.get(f"{prod}/feature_flags/", params={"created_by_id": 42}), "key") == ["new-checkout"]
    assert names(api.get(f"{prod}/cohorts/", params={"created_by_id": 42})) == ["Power users"]
    assert names(api.get(f"{prod}/notebooks/", params={"created_by": alice_uuid}), "title") == ["Q3 research notes"]
    assert names(api.get(f"{prod}/experiments/", params={"created_by_id": 42})) == ["Checkout redesign"]
    # Dashboards have no creator filter: the parameter is ignored and everybody's come back.
    assert names(api.get(f"{prod}/dashboards/", params={"created_by": 42})) == [
        "Growth KPIs", "Alice's scratchpad", "Board metrics"]
    bad = api.get(f"{prod}/insights/", params={"created_by": "alice"})
    assert bad.status_code == 400 and bad.json()["type"] == "validation_error"


def test_assets_paginate(sandbox: PostHogSandbox, api: httpx.Client) -> None:
    page = api.get(f"/api/projects/{PRODUCTION_ID}/dashboards/", params={"limit": 2}).json()
    assert page["count"] == 3 and len(page["results"]) == 2 and page["next"]


def test_dashboard_restriction_and_deletion(sandbox: PostHogSandbox, api: httpx.Client) -> None:
    scratch = sandbox.assets_of("alice@corp.com", "dashboard")[1]
    assert scratch.restriction_level == RESTRICTED
    path = f"/api/projects/{PRODUCTION_ID}/dashboards/{scratch.id}/"
    assert api.patch(path, json={"restriction_level": EDITABLE}).json()["restriction_level"] == EDITABLE
    assert sandbox.restriction_changes == [(scratch.id, RESTRICTED, EDITABLE)]
    assert api.patch(path, json={"restriction_level": 5}).status_code == 400
    assert api.patch(path, json={"deleted": True}).status_code == 200
    assert api.get(path).status_code == 404
    assert scratch.id not in [d["id"] for d in api.get(f"/api/projects/{PRODUCTION_ID}/dashboards/").json()["results"]]


def test_experiments_carry_their_dates(sandbox: PostHogSandbox, api: httpx.Client) -> None:
    running = api.get(f"/api/projects/{PRODUCTION_ID}/experiments/", params={"created_by_id": 42}).json()
    experiment = running["results"][0]
    assert experiment["start_date"] and experiment["end_date"] is None
    assert experiment["created_by"]["email"] == "alice@corp.com"


# -- invites --------------------------------------------------------------------------------------------
def test_invites(sandbox: PostHogSandbox, api: httpx.Client) -> None:
    invites = "/api/organizations/@current/invites/"
    missing = api.post(invites, json={})
    assert missing.status_code == 400 and missing.json()["code"] == "required"
    assert missing.json()["attr"] == "target_email"
    member = api.post(invites, json={"target_email": "bob@corp.com"})
    assert member.status_code == 400 and "already belongs" in member.json()["detail"]
    created = api.post(invites, json={"target_email": "new@corp.com", "level": ADMIN})
    assert created.status_code == 201 and created.json()["level"] == ADMIN and not created.json()["is_expired"]
    again = api.post(invites, json={"target_email": "new@corp.com"})  # resending replaces the earlier one
    listed = [i["target_email"] for i in api.get(invites).json()["results"]]
    assert listed.count("new@corp.com") == 1 and "contractor@agency.example" in listed
    assert api.delete(f"{invites}{again.json()['id']}/").status_code == 204
    assert api.delete(f"{invites}{again.json()['id']}/").status_code == 404
    as_admin = client(sandbox, sandbox.issue_key("alice@corp.com"))
    assert as_admin.post(invites, json={"target_email": "boss@corp.com", "level": OWNER}).status_code == 403


def test_invites_check_private_project_access(sandbox: PostHogSandbox, api: httpx.Client) -> None:
    invites = "/api/organizations/@current/invites/"

    def invite(access: object, key: str = SANDBOX_API_KEY) -> httpx.Response:
        return client(sandbox, key).post(invites, json={"target_email": "new@corp.com",
                                                        "private_project_access": access})

    assert invite({"id": FINANCE_ID}).json()["detail"] == "The field must be a list of dictionaries."
    assert invite([{"id": str(FINANCE_ID), "level": "member"}]).json()["detail"] == 'The "id" field must be an integer.'
    assert "valid access level" in invite([{"id": FINANCE_ID, "level": "owner"}]).json()["detail"]
    unknown = invite([{"id": 4242, "level": "member"}])
    assert unknown.status_code == 400 and unknown.json()["attr"] == "private_project_access"
    assert unknown.json()["detail"].startswith("Project does not exist on this organization")
    # A member who cannot administer the private Finance project may not invite anyone into it.
    as_grace = sandbox.issue_key("grace@corp.com")
    assert invite([{"id": FINANCE_ID, "level": "member"}], as_grace).status_code == 400
    assert invite([{"id": PRODUCTION_ID, "level": "member"}], as_grace).status_code == 201
    created = invite([{"id": FINANCE_ID, "level": "member"}])
    assert created.status_code == 201 and created.json()["private_project_access"] == [
        {"id": FINANCE_ID, "level": "member"}]
    seat = sandbox.seat("new@corp.com")
    assert seat == Seat(Role.MEMBER, frozenset({str(FINANCE_ID)}), pending=True)


def test_members_are_ordered_only_by_joining(api: httpx.Client) -> None:
    oldest_first = [m["joined_at"] for m in api.get(MEMBERS, params={"order": "joined_at"}).json()["results"]]
    assert oldest_first == sorted(oldest_first)
    by_level = [m["joined_at"] for m in api.get(MEMBERS, params={"order": "-level"}).json()["results"]]
    assert by_level == sorted(by_level, reverse=True)  # not an ordering PostHog offers: the default


# -- the contract suite's view ----------------------------------------------------------------------------
def test_it_is_a_contract_sandbox(sandbox: PostHogSandbox) -> None:
    assert isinstance(sandbox, ContractSandbox) and sandbox.vendor_name == "posthog"
    assert sandbox.project_ids() == [str(PRODUCTION_ID), str(STAGING_ID), str(FINANCE_ID)]


def test_reset_with_no_arguments_brings_back_the_seeded_world(sandbox: PostHogSandbox, api: httpx.Client) -> None:
    sandbox.reset(page_size=5, seed=False)
    sandbox.rate_limit_per_minute = 1
    sandbox.inject(Fault("status", 500, times=None))
    assert sandbox.member_count() == 1 and sandbox.project_ids() == []
    sandbox.reset()
    assert sandbox.member_count() == 300 and len(sandbox.project_ids()) == 3
    assert sandbox.page_size == 100 and sandbox.rate_limit_per_minute is None
    assert len(sandbox.assets_of("alice@corp.com")) == 12 and sandbox.writes_about("bob@corp.com") == 0
    page = api.get(MEMBERS).json()
    assert page["count"] == 300 and len(page["results"]) == 100  # faults cleared, default page size
    finance_members = [e for e in api.get(f"/api/projects/{FINANCE_ID}/access_controls").json()["access_controls"]]
    assert len(finance_members) > 50  # the crowd is spread over the projects too


def test_seed_person_gives_exactly_the_projects_asked_for(sandbox: PostHogSandbox) -> None:
    sandbox.seed_person("pat@corp.com", Role.MEMBER, [str(FINANCE_ID)])
    assert sandbox.seat("pat@corp.com") == Seat(Role.MEMBER, frozenset({str(FINANCE_ID)}))
    sandbox.seed_person("pat@corp.com", Role.MEMBER, [str(PRODUCTION_ID), str(STAGING_ID)])
    assert sandbox.seat("pat@corp.com") == Seat(Role.MEMBER, frozenset({str(PRODUCTION_ID), str(STAGING_ID)}))
    sandbox.seed_person("pat@corp.com", Role.ADMIN)
    every = frozenset(sandbox.project_ids())
    assert sandbox.seat("pat@corp.com") == Seat(Role.ADMIN, every)
    sandbox.seed_person("ro@corp.com", Role.READ_ONLY, [str(PRODUCTION_ID)])  # the nearest PostHog has
    assert sandbox.seat("ro@corp.com") == Seat(Role.MEMBER, frozenset({str(PRODUCTION_ID)}))
    sandbox.seed_person("boss@corp.com", Role.OWNER)
    assert sandbox.member_by_email("boss@corp.com").level == OWNER  # type: ignore[union-attr]
    assert sandbox.seat("nobody@corp.com") is None and sandbox.member_count() == 303


def test_seeded_assets_are_what_the_connector_finds(sandbox: PostHogSandbox) -> None:
    sandbox.seed_person("pat@corp.com", Role.MEMBER, [str(STAGING_ID)])
    count = sandbox.seed_assets("pat@corp.com")
    assessment = sandbox.connector(RetryPolicy(), page_size=20).assess("pat@corp.com")
    assert count == 6 and len(assessment.assets) == count
    assert {a.project_name for a in assessment.assets} == {"Staging"}
    assert sum(a.restricted for a in assessment.assets) == 1


def test_the_connector_with_rejected_credentials(sandbox: PostHogSandbox) -> None:
    assessment = sandbox.connector(RetryPolicy(), valid_credentials=False).assess("bob@corp.com")
    assert assessment.status == AssessmentStatus.UNKNOWN and assessment.error
    assert "Authorization header is invalid." in assessment.error


def test_writes_about_counts_the_calls_that_reached_posthog(sandbox: PostHogSandbox, api: httpx.Client) -> None:
    bob = sandbox.member_by_email("bob@corp.com")
    assert bob is not None
    member = f"{MEMBERS}{bob.user.uuid}/"
    api.patch(member, json={"level": ADMIN})
    api.patch(member, json={"level": 9})  # refused, yet a call about bob
    api.put(f"/api/projects/{PRODUCTION_ID}/access_controls", json={"organization_member": bob.id,
                                                                    "access_level": "none"})
    sandbox.inject(Fault("status", 503, method="DELETE", times=1))
    assert api.delete(member).status_code == 503  # answered by the fault: never reached PostHog
    assert api.delete(member).status_code == 204
    assert sandbox.writes_about("BOB@corp.com") == 4
    invites = "/api/organizations/@current/invites/"
    created = api.post(invites, json={"target_email": "new@corp.com"}).json()
    api.delete(f"{invites}{created['id']}/")
    assert sandbox.writes_about("new@corp.com") == 2 and sandbox.writes_about("alice@corp.com") == 0


# -- throttling and helpers ---------------------------------------------------------------------------
def test_throttling_answers_in_posthogs_shape(sandbox: PostHogSandbox, api: httpx.Client) -> None:
    sandbox.rate_limit_per_minute = 2
    try:
        statuses = [api.get(MEMBERS).status_code for _ in range(3)]
    finally:
        sandbox.rate_limit_per_minute = None
    assert statuses == [200, 200, 429]
    sandbox.throttle(9, header=False)
    throttled = api.get(MEMBERS)
    assert throttled.status_code == 429 and "Retry-After" not in throttled.headers
    assert throttled.json() == {"type": "throttled_error", "code": "throttled",
                                "detail": "Request was throttled. Expected available in 9 seconds.", "attr": None}


def test_seed_and_helpers(sandbox: PostHogSandbox) -> None:
    alice = sandbox.member_by_email("ALICE@corp.com")
    assert alice is not None and alice.user.id == 42 and alice.level == ADMIN
    assert alice.last_login == sandbox.now - timedelta(days=2)
    dave = sandbox.member_by_email("dave@corp.com")
    assert dave is not None and dave.last_login and sandbox.now - dave.last_login > timedelta(days=90)
    assert sandbox.assets_of("dave@corp.com") == []
    assert len(sandbox.assets_of("alice@corp.com")) == 12
    new = sandbox.add_member("zoe@corp.com", level=ADMIN)
    flag = sandbox.add_asset("feature_flag", creator="zoe@corp.com", key="zoe-flag", project_id=STAGING_ID)
    assert new.user.id > 42 and flag.project_id == STAGING_ID and sandbox.assets_of("zoe@corp.com") == [flag]
    with pytest.raises(ValueError):
        sandbox.add_member("zoe@corp.com")
    empty = PostHogSandbox(seed=False)
    assert empty.member_by_email(KEY_OWNER_EMAIL) is not None and empty.member_by_email("alice@corp.com") is None


# -- project access as PostHog enforces it: own row, roles, everyone, the fixed default ---------------
def test_the_highest_of_own_and_role_rows_wins_else_everyone_else_the_default(
    sandbox: PostHogSandbox, api: httpx.Client,
) -> None:
    sandbox.add_role("Analysts", members=["grace@corp.com"])
    sandbox.set_role_access("Analysts", FINANCE_ID, "member")
    sandbox.set_access("grace@corp.com", FINANCE_ID, "none")
    assert sandbox.access_level_of("grace@corp.com", FINANCE_ID) == "member"  # "none" does not beat the role
    sandbox.remove_from_role("Analysts", "grace@corp.com")
    assert sandbox.access_level_of("grace@corp.com", FINANCE_ID) == "none"
    sandbox.set_access("grace@corp.com", FINANCE_ID, None)
    assert sandbox.access_level_of("grace@corp.com", FINANCE_ID) == "none"  # Finance's everyone row
    sandbox.set_everyone_access(FINANCE_ID, None)
    assert sandbox.access_level_of("grace@corp.com", FINANCE_ID) == "admin"  # no row at all: the fixed default

    rows = api.get(f"/api/projects/{FINANCE_ID}/access_controls").json()["access_controls"]
    role = sandbox.role_by_name("Analysts")
    assert [(r["role"], r["organization_member"], r["access_level"]) for r in rows
            if r["role"]] == [(role.id, None, "member")]


def test_roles_list_their_members_as_posthog_shows_them(sandbox: PostHogSandbox, api: httpx.Client) -> None:
    sandbox.add_role("Analysts", members=["grace@corp.com", "bob@corp.com"])
    roles = api.get("/api/organizations/@current/roles/").json()
    assert roles["count"] == 1
    analysts = roles["results"][0]
    assert analysts["name"] == "Analysts" and set(analysts) == {"id", "name", "created_at", "created_by", "members",
                                                                  "is_default"}
    grace = sandbox.member_by_email("grace@corp.com")
    assert grace is not None
    row = next(m for m in analysts["members"] if m["user"]["email"] == "grace@corp.com")
    assert row["organization_member"]["id"] == grace.id and row["role_id"] == analysts["id"]
    narrow = sandbox.issue_key(KEY_OWNER_EMAIL, scopes=["organization_member:read"])
    refused = client(sandbox, narrow).get("/api/organizations/@current/roles/")
    assert refused.status_code == 403 and "organization:read" in refused.json()["detail"]


def test_role_and_everyone_rows_are_put_like_member_rows(sandbox: PostHogSandbox, api: httpx.Client) -> None:
    role = sandbox.add_role("Analysts")
    path = f"/api/projects/{STAGING_ID}/access_controls"
    assert api.put(path, json={"role": role.id, "access_level": "admin"}).json()["role"] == role.id
    bob = sandbox.member_by_email("bob@corp.com")
    assert bob is not None
    both = api.put(path, json={"role": role.id, "organization_member": bob.id, "access_level": "none"})
    assert both.status_code == 400 and "both a member and a role" in both.json()["detail"]
    assert api.put(path, json={"access_level": "none"}).status_code == 200  # everyone: Staging turns private
    assert sandbox.access_level_of("bob@corp.com", STAGING_ID) == "none"
    assert api.put(path, json={"access_level": None}).status_code == 204  # no everyone row: the fixed default
    assert sandbox.access_level_of("bob@corp.com", STAGING_ID) == "admin"


# -- guests -----------------------------------------------------------------------------------------------
def test_guests_are_listed_only_when_asked_and_not_found_by_detail_routes(
    sandbox: PostHogSandbox, api: httpx.Client,
) -> None:
    sandbox.add_member("visitor@agency.example", is_guest=True)
    plain = api.get(MEMBERS, params={"email": "visitor@agency.example"}).json()
    assert plain["count"] == 0
    listed = api.get(MEMBERS, params={"email": "visitor@agency.example", "include_guests": "true"}).json()
    assert listed["count"] == 1 and listed["results"][0]["is_guest"] is True
    uuid = uuid_of(sandbox, "visitor@agency.example")
    assert api.delete(f"{MEMBERS}{uuid}/").status_code == 404
    assert api.patch(f"{MEMBERS}{uuid}/", json={"level": ADMIN}).status_code == 404
    assert sandbox.member_by_email("visitor@agency.example") is not None


def test_an_older_server_ignores_include_guests_and_marks_nobody(sandbox: PostHogSandbox, api: httpx.Client) -> None:
    sandbox.add_member("visitor@agency.example", is_guest=True)
    sandbox.honours_include_guests = False
    listed = api.get(MEMBERS, params={"email": "visitor@agency.example", "include_guests": "true"}).json()
    assert listed["count"] == 0
    bob = api.get(MEMBERS, params={"email": "bob@corp.com", "include_guests": "true"}).json()["results"][0]
    assert "is_guest" not in bob
