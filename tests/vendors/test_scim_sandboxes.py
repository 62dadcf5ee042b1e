"""The SCIM client helper against the Amplitude and Mixpanel sandboxes, over real HTTP."""

from __future__ import annotations

import base64
import inspect
from collections.abc import Iterator

import httpx
import pytest

from vendors.base import AuthError, ConflictError, NotFoundError, RateLimitedError, VendorError
from vendors.http import RetryPolicy, VendorHTTP
from vendors.sandbox.amplitude import SANDBOX_SCIM_KEY, AmplitudeSandbox
from vendors.sandbox.mixpanel import ORG_ID, SA_SECRET, SA_USERNAME, SANDBOX_SCIM_TOKEN, MixpanelSandbox
from vendors.sandbox.scim import ERROR_SCHEMA
from vendors.scim import ScimClient, scim_classify, scim_detail, scim_filter_eq

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


# -- Amplitude sandbox ------------------------------------------------------------------------------
def test_amplitude_demo_people_are_seeded(amp: AmplitudeSandbox, sleeps: list[float]) -> None:
    scim = amp_client(amp, sleeps)
    for email in DEMO:
        user = scim.find_user(email.upper())
        assert user is not None and user["id"] == email and user["active"] is True
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
    created = scim.http.send_json("POST", "/Users", {"userName": "new@corp.com"})
    assert created["id"] == "new@corp.com" and amp.role("new@corp.com") == "Viewer"
    with pytest.raises(ConflictError):
        scim.http.send_json("POST", "/Users", {"userName": "NEW@corp.com"})


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
    from vendors.sandbox.server import Fault

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
    assert len(list(scim.users())) == 255
    assert len(mp.requests("GET", r"/Users$")) == 4 + 5  # four lookups, then 255 people at 60 a page


def test_mixpanel_teams_carry_role_and_projects(mp: MixpanelSandbox, sleeps: list[float]) -> None:
    scim = mp_client(mp, sleeps)
    alice = scim.find_user("alice@corp.com")
    assert alice is not None
    teams = {g["displayName"]: g for g in scim.groups_of(alice["id"])}
    assert set(teams) == {"Product Analytics", "Finance Viewers"}
    ext = next(v for k, v in teams["Finance Viewers"].items() if k.startswith("urn:mixpanel"))
    assert ext["projects"] == [{"id": 103, "name": "Finance", "role": "consumer"}]


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
    assert body["status"] == "ok" and {a["creator"]["email"] for a in body["results"]} == {
        "alice@corp.com", "carol@corp.com"}
    basic = base64.b64encode(f"{SA_USERNAME}:{SA_SECRET}".encode()).decode()
    created = httpx.post(url, json={"username": "new-sa"}, headers={"Authorization": f"Basic {basic}"}).json()
    assert created["status"] == "ok"
    sa_id = created["results"]["id"]
    assert httpx.delete(f"{url}/{sa_id}", auth=(SA_USERNAME, SA_SECRET)).json()["status"] == "ok"
    assert httpx.get(f"{url}/{sa_id}", auth=(SA_USERNAME, SA_SECRET)).status_code == 404
