"""The SCIM client helper against the Amplitude and Mixpanel sandboxes, over real HTTP."""

from __future__ import annotations

import base64
import inspect
from collections.abc import Iterator

import httpx
import pytest

from vendors.base import AuthError, ConflictError, NotFoundError, RateLimitedError, Role, VendorError
from vendors.http import RetryPolicy, VendorHTTP
from vendors.sandbox.amplitude import SANDBOX_SCIM_KEY, AmplitudeSandbox
from vendors.sandbox.contract import ContractSandbox, Seat
from vendors.sandbox.mixpanel import (
    CONTRACTOR,
    DEACTIVATED,
    ORG_ID,
    SA_SECRET,
    SA_USERNAME,
    SANDBOX_SCIM_TOKEN,
    MixpanelSandbox,
)
from vendors.sandbox.scim import ERROR_SCHEMA, ScimUser, UserTable
from vendors.sandbox.server import Fault
from vendors.scim import ScimClient, name_from_email, new_user_body, scim_classify, scim_detail, scim_filter_eq

DEMO = ("alice@corp.com", "bob@corp.com", "carol@corp.com", "dave@corp.com")


@pytest.fixture(scope="module")
def amplitude_server() -> Iterator[AmplitudeSandbox]:
    with AmplitudeSandbox() as server:
        yield server


@pytest.fixture(scope="module")
def mixpanel_server() -> Iterator[MixpanelSandbox]:
    with MixpanelSandbox() as server:
        yield server


@pytest.fixture
def amp(amplitude_server: AmplitudeSandbox) -> AmplitudeSandbox:
    amplitude_server.reset(page_size=100)
    return amplitude_server


@pytest.fixture
def mp(mixpanel_server: MixpanelSandbox) -> MixpanelSandbox:
    mixpanel_server.reset(page_size=100)
    return mixpanel_server


@pytest.fixture
def sleeps() -> list[float]:
    return []


def client(url: str, token: str, param: str, sleeps: list[float], page_size: int = 100) -> ScimClient:
    http = VendorHTTP(url, {"Authorization": f"Bearer {token}"}, vendor="scim", label="SCIM",
                      policy=RetryPolicy(backoff=0.001, max_attempts=3, sleep=sleeps.append),
                      detail=scim_detail, classify_error=scim_classify)
    return ScimClient(http, page_size_param=param, page_size=page_size)


def amp_client(amp: AmplitudeSandbox, sleeps: list[float], page_size: int = 100,
               token: str = SANDBOX_SCIM_KEY) -> ScimClient:
    return client(amp.url + "/scim/1", token, "itemsPerPage", sleeps, page_size)


def mp_client(mp: MixpanelSandbox, sleeps: list[float], page_size: int = 100) -> ScimClient:
    return client(mp.url + "/api/app/scim/v2", SANDBOX_SCIM_TOKEN, "count", sleeps, page_size)


# -- helpers ----------------------------------------------------------------------------------------
def test_filter_is_quoted() -> None:
    assert scim_filter_eq("userName", 'a"b\\c@x.com') == 'userName eq "a\\"b\\\\c@x.com"'


def test_a_new_user_is_named_from_the_address() -> None:
    assert name_from_email("ann.lee-smith@corp.com") == ("Ann", "Lee Smith")
    assert name_from_email("ops@corp.com") == ("Ops", "")
    body = new_user_body("ann.lee@corp.com")
    assert body["userName"] == "ann.lee@corp.com" and body["emails"] == [{"value": "ann.lee@corp.com", "primary": True}]
    assert body["name"] == {"givenName": "Ann", "familyName": "Lee"}


# -- Amplitude sandbox ------------------------------------------------------------------------------
def test_amplitude_demo_people_are_seeded(amp: AmplitudeSandbox, sleeps: list[float]) -> None:
    scim = amp_client(amp, sleeps)
    for email in DEMO:
        user = scim.find_user(email)
        assert user is not None and user["id"] == email and user["active"] is True
        # The filter's case rule is undocumented: the sandbox serves the worst case, an exact match, while
        # GET /Users/{email} is documented as case-insensitive.
        assert scim.find_user(email.upper()) is None
        assert scim.get_user(email.upper()) == user
    assert amp.user("dave@corp.com").extra["pending"] is True  # type: ignore[union-attr]
    assert scim.find_user("nobody@corp.com") is None


def test_users_stream_page_by_page(amp: AmplitudeSandbox, sleeps: list[float]) -> None:
    scim = amp_client(amp, sleeps, page_size=40)
    users = scim.users()
    assert inspect.isgenerator(users)
    first = next(users)
    assert len(amp.requests("GET", r"/Users$")) == 1  # only the first page has been read
    emails = [first["userName"], *(u["userName"] for u in users)]
    assert len(emails) == len(set(emails)) == len(amp.users) == 255
    calls = amp.requests("GET", r"/Users$")
    assert len(calls) == 7  # 255 people, 40 a page


def test_page_size_is_capped_by_the_vendor_maximum(amp: AmplitudeSandbox, sleeps: list[float]) -> None:
    scim = amp_client(amp, sleeps)
    scim.page_size = 500
    assert len(list(scim.users())) == 255
    assert len(amp.requests("GET", r"/Users$")) == 3  # at most 100 a page


def test_bad_token_is_a_scim_401(amp: AmplitudeSandbox, sleeps: list[float]) -> None:
    response = httpx.get(amp.url + "/scim/1/Users", headers={"Authorization": "Bearer wrong"})
    assert response.status_code == 401 and response.json()["schemas"] == [ERROR_SCHEMA]
    with pytest.raises(AuthError):
        amp_client(amp, sleeps, token="wrong").find_user("alice@corp.com")


def test_create_twice_conflicts(amp: AmplitudeSandbox, sleeps: list[float]) -> None:
    scim = amp_client(amp, sleeps)
    created = scim.http.send_json("POST", "/Users", {"id": "new@corp.com", "userName": "new@corp.com"})
    assert created["id"] == "new@corp.com" and amp.role("new@corp.com") == "Viewer"
    with pytest.raises(ConflictError):
        scim.http.send_json("POST", "/Users", {"id": "NEW@corp.com", "userName": "NEW@corp.com"})


def test_amplitude_create_needs_an_id_that_is_an_email(amp: AmplitudeSandbox, sleeps: list[float]) -> None:
    url, auth = amp.url + "/scim/1/Users", {"Authorization": f"Bearer {SANDBOX_SCIM_KEY}"}
    for body in ({"userName": "new@corp.com"}, {"id": "new", "userName": "new@corp.com"}):
        refused = httpx.post(url, json=body, headers=auth)
        assert refused.status_code == 400 and refused.json()["schemas"] == [ERROR_SCHEMA]
        assert "valid emails" in refused.json()["detail"]
    assert amp.user("new@corp.com") is None


def test_delete_is_204_then_404(amp: AmplitudeSandbox, sleeps: list[float]) -> None:
    scim = amp_client(amp, sleeps)
    assert scim.delete_user("Bob@Corp.com") is True
    assert scim.delete_user("bob@corp.com") is False
    assert amp.delete_count("bob@corp.com") == 1
    assert scim.get_user("bob@corp.com") is None
    assert "bob@corp.com" not in [m["value"] for g in scim.groups() for m in g["members"]]


def test_deactivating_removes_at_amplitude(amp: AmplitudeSandbox, sleeps: list[float]) -> None:
    scim = amp_client(amp, sleeps)
    assert scim.deactivate_user("dave@corp.com") is not None  # revokes the pending invite
    assert scim.find_user("dave@corp.com") is None


def test_last_admin_cannot_be_removed(amp: AmplitudeSandbox, sleeps: list[float]) -> None:
    amp.make_sole_admin("carol@corp.com")
    scim = amp_client(amp, sleeps)
    with pytest.raises(VendorError) as caught:
        scim.delete_user("carol@corp.com")
    assert caught.value.status == 400 and "at least one Admin" in caught.value.message
    with pytest.raises(VendorError):
        scim.deactivate_user("carol@corp.com")
    assert amp.user("carol@corp.com") is not None


def test_groups_patch_add_and_remove(amp: AmplitudeSandbox, sleeps: list[float]) -> None:
    scim = amp_client(amp, sleeps)
    created = scim.http.send_json("POST", "/Groups", {"displayName": "Temp", "members": [{"value": "bob@corp.com"}]})
    assert amp.requests("POST", r"/Groups$") and created["displayName"] == "Temp"
    assert amp.calls("POST", r"/Groups$")[-1].status == 200  # Amplitude answers 200, not 201
    scim.patch_members(created["id"], "add", ["alice@corp.com"])
    assert sorted(amp.groups_of("alice@corp.com")) == ["Analysts", "Growth", "Temp"]
    assert scim.remove_from_group(created["id"], "alice@corp.com") is True
    assert [g["displayName"] for g in scim.groups_of("alice@corp.com")] == ["Analysts", "Growth"]
    scim.http.send_json("DELETE", f"/Groups/{created['id']}")
    assert scim.remove_from_group(created["id"], "bob@corp.com") is False


def test_unsupported_filter_is_a_400(amp: AmplitudeSandbox, sleeps: list[float]) -> None:
    with pytest.raises(VendorError) as caught:
        list(amp_client(amp, sleeps).users(filter='emails co "x"'))
    assert caught.value.status == 400 and "invalidFilter" in caught.value.message


def test_429_retry_after_is_honoured(amp: AmplitudeSandbox, sleeps: list[float]) -> None:
    amp.throttle(2, times=1)
    assert amp_client(amp, sleeps).find_user("alice@corp.com") is not None
    assert sleeps == [2.0]
    amp.throttle(2, times=None)
    with pytest.raises(RateLimitedError):
        amp_client(amp, sleeps).find_user("alice@corp.com")


def test_scim_body_status_wins(amp: AmplitudeSandbox, sleeps: list[float]) -> None:
    amp.inject(Fault("status", 400, {"schemas": [ERROR_SCHEMA], "status": "409", "detail": "taken"}))
    with pytest.raises(ConflictError):
        amp_client(amp, sleeps).find_user("alice@corp.com")
    amp.inject(Fault("status", 400, {"schemas": [ERROR_SCHEMA], "status": "404", "detail": "gone"}))
    with pytest.raises(NotFoundError):
        amp_client(amp, sleeps).find_user("alice@corp.com")


# -- Mixpanel sandbox -------------------------------------------------------------------------------
def test_mixpanel_demo_and_paging(mp: MixpanelSandbox, sleeps: list[float]) -> None:
    scim = mp_client(mp, sleeps, page_size=60)
    for email in DEMO:
        assert scim.find_user(email) is not None
    assert len(list(scim.users())) == 256  # 255 active and one deactivated: Mixpanel keeps listing them
    assert len(mp.requests("GET", r"/Users$")) == 4 + 5  # four lookups, then 256 people at 60 a page


def test_mixpanel_teams_show_name_and_members_only(mp: MixpanelSandbox, sleeps: list[float]) -> None:
    scim = mp_client(mp, sleeps)
    alice = scim.find_user("alice@corp.com")
    assert alice is not None
    teams = {g["displayName"]: g for g in scim.groups_of(alice["id"])}
    assert set(teams) == {"Product Analytics", "Finance Viewers"}
    # The product knows what a Team gives; SCIM shows none of it, as Mixpanel documents.
    assert mp.seat("alice@corp.com") == Seat(Role.MEMBER, frozenset({"101", "102", "103"}))
    for team in teams.values():
        assert set(team) == {"schemas", "id", "displayName", "members", "meta"}


def test_mixpanel_scim_cannot_see_a_member_off_the_verified_domains(mp: MixpanelSandbox, sleeps: list[float]) -> None:
    scim = mp_client(mp, sleeps)
    assert mp.seat(CONTRACTOR) == Seat(Role.MEMBER, frozenset())  # a member of the organization
    assert scim.find_user(CONTRACTOR) is None
    assert CONTRACTOR not in {u["userName"] for u in scim.users()}
    assert scim.get_user(str(mp.user_id_of(CONTRACTOR))) is None
    mp.seed_person("sam@agency.com", Role.ADMIN)  # off the domains, whatever the role: SCIM cannot see them
    assert scim.find_user("sam@agency.com") is None and mp.seat("sam@agency.com") is not None


def test_mixpanel_only_verified_domains(mp: MixpanelSandbox, sleeps: list[float]) -> None:
    scim = mp_client(mp, sleeps)
    with pytest.raises(VendorError) as caught:
        scim.http.send_json("POST", "/Users", {"userName": "eve@gmail.com"})
    assert caught.value.status == 400
    assert scim.http.send_json("POST", "/Users", {"userName": "eve@corp.com"})["active"] is True


def test_mixpanel_deactivation_keeps_an_inactive_user(mp: MixpanelSandbox, sleeps: list[float]) -> None:
    scim = mp_client(mp, sleeps)
    alice = scim.find_user("alice@corp.com")
    assert alice is not None
    scim.deactivate_user(alice["id"])
    again = scim.find_user("alice@corp.com")
    assert again is not None and again["active"] is False
    assert mp.groups_of("alice@corp.com") == [] and mp.deactivations["alice@corp.com"] == 1


def test_mixpanel_service_accounts_use_basic_auth(mp: MixpanelSandbox) -> None:
    url = f"{mp.url}/api/app/organizations/{ORG_ID}/service-accounts"
    assert httpx.get(url, auth=("x", "y")).json() == {"error": "Invalid service account credentials",
                                                      "status": "error"}
    body = httpx.get(url, auth=(SA_USERNAME, SA_SECRET)).json()
    # The documented ServiceAccountRead: `creator` is an integer Mixpanel user id.
    assert body["status"] == "ok" and {a["creator"] for a in body["results"]} == {
        mp.user_id_of("alice@corp.com"), mp.user_id_of("carol@corp.com")}
    assert all(set(a) == {"id", "username", "last_used", "expires", "creator", "created", "user"}
               for a in body["results"])
    basic = base64.b64encode(f"{SA_USERNAME}:{SA_SECRET}".encode()).decode()
    answer = httpx.post(url, json={"username": "new-sa"}, headers={"Authorization": f"Basic {basic}"})
    created = answer.json()
    assert answer.status_code == 201 and created["status"] == "ok" and created["results"]["token"]
    sa_id = created["results"]["id"]
    assert httpx.delete(f"{url}/{sa_id}", auth=(SA_USERNAME, SA_SECRET)).json()["status"] == "ok"
    assert httpx.get(f"{url}/{sa_id}", auth=(SA_USERNAME, SA_SECRET)).status_code == 404


# -- ContractSandbox: state read and set directly -------------------------------------------------------------
def test_both_are_contract_sandboxes_and_reset_restores_the_seeded_world(amp: AmplitudeSandbox,
                                                                         mp: MixpanelSandbox) -> None:
    for sandbox, members in ((amp, 255), (mp, 255)):
        assert isinstance(sandbox, ContractSandbox)
        sandbox.seed_person("extra@corp.com", Role.MEMBER)
        sandbox.reset()
        assert sandbox.member_count() == members and sandbox.seat("extra@corp.com") is None
        assert sandbox.seed_assets("alice@corp.com") == 0
    assert (amp.vendor_name, mp.vendor_name) == ("amplitude", "mixpanel")
    assert amp.project_ids() == [] and mp.project_ids() == ["101", "102", "103"]


def test_amplitude_seats_follow_the_internal_role_words(amp: AmplitudeSandbox) -> None:
    assert amp.seat("alice@corp.com") == Seat(Role.ADMIN, frozenset())  # a Manager reads as admin
    assert amp.seat("dave@corp.com") == Seat(Role.READ_ONLY, frozenset(), pending=True)
    amp.seed_person("boss@corp.com", Role.OWNER, ["ignored"])
    assert amp.role("boss@corp.com") == "Admin" and amp.seat("boss@corp.com") == Seat(Role.ADMIN, frozenset())
    amp.seed_person("dave@corp.com", Role.MEMBER)
    assert amp.seat("dave@corp.com") == Seat(Role.MEMBER, frozenset())
    assert amp.seat("nobody@corp.com") is None and amp.member_count() == 256


def test_mixpanel_seats_come_from_teams(mp: MixpanelSandbox) -> None:
    assert mp.seat("alice@corp.com") == Seat(Role.MEMBER, frozenset({"101", "102", "103"}))
    assert mp.seat("it-ops@corp.com") == Seat(Role.OWNER, frozenset({"101", "102", "103"}))
    assert mp.seat("dave@corp.com") == Seat(Role.MEMBER, frozenset())  # in no Team: an org Member
    assert mp.seat(DEACTIVATED) == Seat(Role.MEMBER, frozenset(), active=False)
    assert mp.member_count() == 255 and len(mp.users) == 256


def test_mixpanel_seed_person_gives_one_team_per_project(mp: MixpanelSandbox) -> None:
    mp.seed_person("pat@corp.com", Role.ADMIN, ["101", "103"])
    assert sorted(mp.groups_of("pat@corp.com")) == ["Admins · Finance", "Admins · Web App"]
    assert mp.seat("pat@corp.com") == Seat(Role.ADMIN, frozenset({"101", "103"}))
    mp.seed_person("pat@corp.com", Role.MEMBER, ["101", "102"])  # re-seeding replaces the Teams
    assert mp.groups_of("pat@corp.com") == ["Members · Web App", "Members · Mobile"]
    mp.seed_person("quinn@corp.com", Role.MEMBER, ["101"])  # an existing Team is reused
    assert mp.groups_of("quinn@corp.com") == ["Members · Web App"]
    mp.seed_person("ro@corp.com", Role.READ_ONLY, ["102"])  # no read-only org role: Member, Consumer access
    assert mp.seat("ro@corp.com") == Seat(Role.MEMBER, frozenset({"102"}))
    mp.seed_person("boss@corp.com", Role.OWNER)
    assert mp.seat("boss@corp.com") == Seat(Role.OWNER, frozenset())


# -- writes_about ---------------------------------------------------------------------------------------------
def test_writes_about_counts_mutating_calls_naming_the_person(amp: AmplitudeSandbox, sleeps: list[float]) -> None:
    scim = amp_client(amp, sleeps)
    scim.find_user("bob@corp.com")
    list(scim.groups())
    assert amp.writes_about("bob@corp.com") == 0  # reads are not writes
    scim.remove_from_group("1", "BOB@corp.com")
    with pytest.raises(ConflictError):
        scim.create_user("bob@corp.com", id="bob@corp.com")  # refused, yet sent: it counts
    scim.delete_user("bob@corp.com")
    scim.delete_user("bob@corp.com")  # 404, yet sent
    assert amp.writes_about("Bob@Corp.com") == 4 and amp.writes_about("alice@corp.com") == 0


def test_writes_about_ignores_calls_a_fault_stopped(amp: AmplitudeSandbox, sleeps: list[float]) -> None:
    amp.inject(Fault("status", 503, times=None))
    with pytest.raises(VendorError):
        amp_client(amp, sleeps).delete_user("bob@corp.com")
    assert amp.writes_about("bob@corp.com") == 0


def test_mixpanel_writes_about_maps_opaque_ids_to_the_person(mp: MixpanelSandbox, sleeps: list[float]) -> None:
    scim = mp_client(mp, sleeps)
    alice = scim.find_user("alice@corp.com")
    assert alice is not None and not alice["id"].count("@")
    team = mp.group("Finance Viewers")
    assert team is not None
    scim.remove_from_group(team.id, alice["id"])
    scim.deactivate_user(alice["id"])
    assert mp.writes_about("alice@corp.com") == 2


# -- Mixpanel's Owner rules -----------------------------------------------------------------------------------
def test_mixpanel_only_an_owner_assigns_owner(mp: MixpanelSandbox, sleeps: list[float]) -> None:
    scim = mp_client(mp, sleeps)
    owners = mp.group("Owners")
    alice = scim.find_user("alice@corp.com")
    assert owners is not None and alice is not None
    with pytest.raises(AuthError) as caught:  # the bare client knows no better than a 403
        scim.add_to_group(owners.id, alice["id"])
    assert caught.value.status == 403 and "Only an organization Owner" in caught.value.message
    assert mp.org_role("alice@corp.com") == Role.MEMBER


def test_mixpanel_keeps_an_owner(mp: MixpanelSandbox, sleeps: list[float]) -> None:
    scim = mp_client(mp, sleeps)
    owners = mp.group("Owners")
    it_ops = scim.find_user("it-ops@corp.com")
    assert owners is not None and it_ops is not None
    for attempt in (lambda: scim.remove_from_group(owners.id, it_ops["id"]),
                    lambda: scim.deactivate_user(it_ops["id"]),
                    lambda: scim.delete_user(it_ops["id"]),
                    lambda: scim.http.send_json("DELETE", f"/Groups/{owners.id}")):
        with pytest.raises(VendorError) as caught:
            attempt()
        assert caught.value.status == 400 and "at least one Owner" in caught.value.message
    assert mp.seat("it-ops@corp.com") == Seat(Role.OWNER, frozenset({"101", "102", "103"}))
    mp.seed_person("second.owner@corp.com", Role.OWNER)
    scim.deactivate_user(it_ops["id"])  # another Owner remains: deprovisioning an Owner works
    assert mp.seat("it-ops@corp.com") == Seat(Role.MEMBER, frozenset(), active=False)


def test_a_refused_patchop_changes_nothing(mp: MixpanelSandbox, sleeps: list[float]) -> None:
    scim = mp_client(mp, sleeps)
    owners = mp.group("Owners")
    assert owners is not None
    ids = [u["id"] for u in (scim.find_user("bob@corp.com"), scim.find_user("it-ops@corp.com")) if u]
    with pytest.raises(VendorError):
        scim.patch_members(owners.id, "remove", ids)  # bob is no Owner (a no-op); it-ops is the last one
    assert mp.groups_of("it-ops@corp.com") == ["Owners", "Org Admins"]


# -- list pages (RFC 7644 §3.4.2.4) -----------------------------------------------------------------------
def users_page(amp: AmplitudeSandbox, **params: str) -> dict[str, object]:
    response = httpx.get(amp.url + "/scim/1/Users", params=params,
                         headers={"Authorization": f"Bearer {SANDBOX_SCIM_KEY}"})
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def page_names(body: dict[str, object]) -> list[str]:
    return [str(r["userName"]) for r in body["Resources"]]  # type: ignore[attr-defined,index]


def test_list_pages_keep_scim_semantics_across_removals(amp: AmplitudeSandbox) -> None:
    amp.reset(seed=False)
    for n in range(10):
        amp.add_user(f"m{n}@corp.com", pending=False)
    body = users_page(amp, startIndex="3", itemsPerPage="4")
    assert (body["totalResults"], body["startIndex"], body["itemsPerPage"]) == (10, 3, 4)
    assert page_names(body) == ["m2@corp.com", "m3@corp.com", "m4@corp.com", "m5@corp.com"]
    assert page_names(users_page(amp, startIndex="0", itemsPerPage="2")) == ["m0@corp.com", "m1@corp.com"]
    empty = users_page(amp, startIndex="11")
    assert empty["totalResults"] == 10 and empty["Resources"] == []
    counted = users_page(amp, itemsPerPage="0")
    assert counted["totalResults"] == 10 and counted["Resources"] == []

    assert httpx.delete(amp.url + "/scim/1/Users/M3@corp.com",
                        headers={"Authorization": f"Bearer {SANDBOX_SCIM_KEY}"}).status_code == 204
    amp.add_user("late@corp.com", pending=False)
    after = users_page(amp, startIndex="3", itemsPerPage="4")
    assert after["totalResults"] == 10  # one gone, one added: the later ones move up, the new one is last
    assert page_names(after) == ["m2@corp.com", "m4@corp.com", "m5@corp.com", "m6@corp.com"]
    assert page_names(users_page(amp, startIndex="10"))[-1] == "late@corp.com"

    found = users_page(amp, filter='userName eq "m5@corp.com"')
    assert found["totalResults"] == 1 and page_names(found) == ["m5@corp.com"]
    assert users_page(amp, filter='userName eq "M5@CORP.com"')["totalResults"] == 0  # exact, the worst case
    assert users_page(amp, filter='userName eq "m3@corp.com"')["totalResults"] == 0  # deleted


def test_a_page_renders_only_its_own_users(amp: AmplitudeSandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    """A sweep reads 100,000 users in 1,000 pages: each page must cost its 100 users, not the directory."""
    amp.reset(seed=False)
    for n in range(20_000):
        amp.add_user(f"m{n:05d}@corp.com", pending=False)
    rendered: list[str] = []
    to_json = ScimUser.to_json
    monkeypatch.setattr(ScimUser, "to_json", lambda user: rendered.append(user.user_name) or to_json(user))
    body = users_page(amp, startIndex="19951", itemsPerPage="100")
    assert body["totalResults"] == 20_000 and page_names(body) == [f"m{n:05d}@corp.com" for n in range(19_950, 20_000)]
    assert len(rendered) == 50
    rendered.clear()
    assert page_names(users_page(amp, filter='userName eq "m12345@corp.com"')) == ["m12345@corp.com"]
    assert rendered == ["m12345@corp.com"]


def test_the_user_table_keeps_order_and_finds_by_username() -> None:
    table = UserTable()
    for key in ("1", "2", "3"):
        table[key] = ScimUser(key, f"U{key}@corp.com", "", "")
    table["2"] = ScimUser("2", "renamed@corp.com", "", "")  # replaced in place, as in a dict
    assert list(table) == ["1", "2", "3"] and [u.user_name for u in table.slice(1, 5)] == ["renamed@corp.com",
                                                                                           "U3@corp.com"]
    assert table.named("u2@corp.com") is None and table.named("RENAMED@corp.com") is table["2"]
    table["4"] = ScimUser("4", "u1@corp.com", "", "")  # the same userName twice: the first is found
    del table["1"]
    assert table.named("U1@corp.com") is table["4"] and len(table) == 3
    assert [u.id for u in table.values()] == ["2", "3", "4"]
