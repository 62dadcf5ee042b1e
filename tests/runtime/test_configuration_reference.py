"""docs/configuration.md's settings table is written from the Settings, and no setting goes undocumented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import Field

from bot.runtime import config_reference
from bot.runtime.config import Settings, env_names

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_has_a_description_and_none_describes_a_setting_that_is_gone() -> None:
    assert config_reference.missing_descriptions() == ([], [])


def test_the_configuration_reference_is_up_to_date() -> None:
    current = config_reference.REFERENCE.read_text(encoding="utf-8")
    assert config_reference.rendered(current) == current, "run `python -m bot.runtime.config_reference`"


def test_every_environment_name_is_a_row_of_the_reference_with_its_default() -> None:
    rows = {row.split(" | ")[0].removeprefix("| "): row
            for row in config_reference.REFERENCE.read_text(encoding="utf-8").splitlines() if row.startswith("| `")}
    for name in Settings.model_fields:
        names = ", ".join(f"`{env}`" for env in env_names(name))
        assert names in rows, f"{names} is not in docs/configuration.md"
    assert rows["`OFFBOARD_INACTIVE_DAYS`"].endswith("| `90` |")
    assert rows["`OFFBOARD_REMINDER_HOURS`"].endswith("| `4,8,16` |")
    assert rows["`OFFBOARD_SECURITY_CHANNEL`"].endswith("| the approvals channel |")
    assert "(*secret*)" in rows["`SLACK_BOT_TOKEN`"] and "(*secret*)" not in rows["`OFFBOARD_HOST`"]
    # a | inside a cell is escaped, or GitHub would split the row there
    assert "`<#C0IT\\|it-help>`" in rows["`OFFBOARD_CONTACT`"]


def test_a_setting_added_without_a_description_fails_the_generator(monkeypatch: pytest.MonkeyPatch,
                                                                     tmp_path: Path) -> None:
    class WithANewSetting(Settings):
        new_thing: int = Field(3, validation_alias="OFFBOARD_NEW_THING")

    monkeypatch.setattr(config_reference, "Settings", WithANewSetting)
    with pytest.raises(config_reference.UndocumentedSettings, match="new_thing"):
        config_reference.settings_table()

    copy = tmp_path / "configuration.md"
    copy.write_text(config_reference.REFERENCE.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setattr(config_reference, "REFERENCE", copy)
    assert config_reference.main(["--check"]) == 1


def test_check_finds_a_hand_edited_table_and_the_generator_puts_it_back(monkeypatch: pytest.MonkeyPatch,
                                                                          tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    good = config_reference.REFERENCE.read_text(encoding="utf-8")
    copy = tmp_path / "configuration.md"
    copy.write_text(good.replace("| `OFFBOARD_INACTIVE_DAYS` |", "| `OFFBOARD_INACTIVE_DAYZ` |"), encoding="utf-8")
    monkeypatch.setattr(config_reference, "REFERENCE", copy)

    assert config_reference.main(["--check"]) == 1
    assert "out of date" in capsys.readouterr().err
    assert "OFFBOARD_INACTIVE_DAYZ" in copy.read_text(encoding="utf-8")  # --check changes nothing

    assert config_reference.main([]) == 0
    assert copy.read_text(encoding="utf-8") == good
    assert config_reference.main(["--check"]) == 0


def test_the_readme_starts_with_the_two_commands_and_links_every_docs_page() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = readme.split("```sh\n", 1)[1].split("```", 1)[0]
    assert [line.split()[0] for line in first_block.splitlines()] == ["./scripts/demo", "./scripts/test"]
    linked = set(re.findall(r"\]\((docs/[\w-]+\.md)", readme))
    pages = {f"docs/{page.name}" for page in (ROOT / "docs").glob("*.md")}
    assert pages == linked


def test_links_between_docs_pages_and_to_the_repository_resolve() -> None:
    for page in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            if target.startswith(("http://", "https://")):
                continue
            assert (page.parent / target).exists(), f"{page.relative_to(ROOT)} links to missing {target}"
