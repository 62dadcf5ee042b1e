"""The Slack app manifest matches what the code uses; settings read as the README documents."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from bot.cli.main import app as cli
from bot.runtime.config import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def manifest() -> dict:
    return yaml.safe_load((ROOT / "manifest.yml").read_text())


def test_manifest_declares_the_command_interactivity_and_socket_mode(manifest: dict) -> None:
    assert manifest["_metadata"]["major_version"] == 1
    assert re.fullmatch(r"[\w\-.]+", manifest["features"]["bot_user"]["display_name"])
    commands = manifest["features"]["slash_commands"]
    assert [c["command"] for c in commands] == ["/offboard", "/onboard"]  # invitations add /onboard
    for command in commands:
        assert len(command["command"]) <= 32 and command["description"] and command["usage_hint"]
        assert command["should_escape"] is True  # mentions arrive as <@U…|name>, which the parsers read
    assert manifest["settings"]["interactivity"]["is_enabled"] is True
    assert manifest["settings"]["socket_mode_enabled"] is True


def test_manifest_subscribes_to_every_event_the_bot_listens_to(manifest: dict) -> None:
    source = "\n".join(p.read_text() for p in (ROOT / "bot").rglob("*.py"))
    listened = set(re.findall(r'@app\.event\("(\w+)"\)', source))
    assert listened == {"app_home_opened"}
    assert set(manifest["settings"]["event_subscriptions"]["bot_events"]) == listened
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True


def test_manifest_scopes_cover_every_slack_method_the_code_calls(manifest: dict) -> None:
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    needed = {"commands", "chat:write", "users:read", "users:read.email", "im:write"}
    source = "\n".join(p.read_text() for p in (ROOT / "bot").rglob("*.py"))
    if "usergroups_users_list" in source:
        needed.add("usergroups:read")
    if "files_upload" in source:
        needed.add("files:write")
    assert needed <= scopes, needed - scopes


def test_settings_read_environment_names_and_comma_lists(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.setenv("OFFBOARD_APPROVERS", "UAPP1, UAPP2,,")
    monkeypatch.setenv("DATABASE_URL", "sqlite:///x.db")
    monkeypatch.setenv("POSTHOG_HOST", "eu")
    settings = Settings(_env_file=None)
    assert settings.approvers == ["UAPP1", "UAPP2"]
    assert settings.database_url == "sqlite:///x.db" and settings.posthog_host == "eu"
    assert not settings.socket_mode
    assert "xoxb-1" not in repr(settings)  # secrets stay out of reprs and logs


def test_serve_refuses_to_start_and_says_what_is_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "POSTHOG_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(cli, ["serve"])
    assert result.exit_code == 2
    for name in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "OFFBOARD_APPROVALS_CHANNEL", "POSTHOG_API_KEY"):
        assert name in result.output


def test_vendors_are_built_from_settings() -> None:
    from bot.runtime.app import vendors_from_settings

    assert vendors_from_settings(Settings(_env_file=None)) == {}
    manual = vendors_from_settings(Settings(_env_file=None, posthog_api_key="phx_x", kissmetrics_enabled=True))
    assert list(manual) == ["posthog", "kissmetrics"] and manual["kissmetrics"].manual
    with_api = vendors_from_settings(Settings(_env_file=None, kissmetrics_api_key="km_x"))
    assert list(with_api) == ["kissmetrics"] and not with_api["kissmetrics"].manual


def test_scim_vendors_are_built_from_settings() -> None:
    from bot.runtime.app import vendors_from_settings

    built = vendors_from_settings(
        Settings(_env_file=None, amplitude_scim_key="amp_x", mixpanel_scim_token="mp_x", mixpanel_region="eu")
    )
    assert list(built) == ["amplitude", "mixpanel"]
    assert "amp_x" not in repr(built["amplitude"]) and "mp_x" not in repr(built["mixpanel"])


def test_mixpanel_verified_domains_and_scim_url_reach_the_connector(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.runtime.app import vendors_from_settings
    from vendors.mixpanel import DEFAULT_SCIM_URL, MixpanelVendor

    monkeypatch.setenv("MIXPANEL_SCIM_TOKEN", "mp_x")
    monkeypatch.setenv("MIXPANEL_REGION", "eu")
    monkeypatch.setenv("MIXPANEL_VERIFIED_DOMAINS", " corp.com, @Corp.co.uk ,")
    built = vendors_from_settings(Settings(_env_file=None))["mixpanel"]
    assert isinstance(built, MixpanelVendor)
    assert built.verified_domains == {"corp.com", "corp.co.uk"} and built.scim_url == DEFAULT_SCIM_URL
    assert built.host == "https://eu.mixpanel.com"  # the service-account API is documented per region
    monkeypatch.setenv("MIXPANEL_SCIM_URL", "https://scim.eu.example.test/api/app/scim/v2")
    built = vendors_from_settings(Settings(_env_file=None))["mixpanel"]
    assert isinstance(built, MixpanelVendor) and built.scim_url == "https://scim.eu.example.test/api/app/scim/v2"
