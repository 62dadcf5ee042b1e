"""The container image's install, checked without a container daemon: constraints.txt pins every package
offboard installs at a version its requirements accept, every install script installs through it, and the
Dockerfile, docker-compose.yml and .env.example agree with the code they run."""

from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from bot.runtime.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def pins() -> dict[str, str]:
    found = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep, f"constraints.txt pins exact versions only, not {line!r}"
            found[canonicalize_name(name)] = version.strip()
    return found


def requirements_of(name: str, extras: frozenset[str] = frozenset()) -> list[Requirement]:
    wanted = []
    for text in distribution(name).requires or []:
        requirement = Requirement(text)
        if requirement.marker is None or any(requirement.marker.evaluate({"extra": e}) for e in extras or {""}):
            wanted.append(requirement)
    return wanted


def test_constraints_pin_every_dependency_at_an_accepted_version() -> None:
    pinned = pins()
    assert "offboard" not in pinned
    seen: set[str] = set()
    todo = [(r, "offboard") for r in requirements_of("offboard", frozenset({"dev"}))]
    while todo:
        requirement, wanted_by = todo.pop()
        name = canonicalize_name(requirement.name)
        assert name in pinned, f"{requirement.name} (needed by {wanted_by}) is not in constraints.txt: " \
                               "run scripts/freeze-constraints"
        assert requirement.specifier.contains(pinned[name], prereleases=True), \
            f"constraints.txt pins {name}=={pinned[name]}, but {wanted_by} needs {requirement}"
        key = f"{name}[{','.join(sorted(requirement.extras))}]"
        if key in seen:
            continue
        seen.add(key)
        try:
            todo += [(r, name) for r in requirements_of(name, frozenset(requirement.extras))]
        except PackageNotFoundError:
            pytest.fail(f"{name} is required but not installed here")
    unused = set(pinned) - {key.split("[")[0] for key in seen}
    assert not unused, f"constraints.txt pins packages nothing needs: {sorted(unused)}"


def test_every_install_script_installs_through_the_constraints() -> None:
    for script in ("scripts/test", "scripts/demo", "scripts/install-image"):
        installs = [line for line in (ROOT / script).read_text().splitlines()
                    if "pip install" in line and "--upgrade pip" not in line]
        assert installs and all("-c " in line and "constraints.txt" in line for line in installs), script


def test_the_dockerfile_installs_with_the_script_and_runs_serve_unprivileged() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    base = re.search(r"^FROM python:(\d+)\.(\d+)-slim\b", dockerfile, re.M)
    assert base, "a slim Python base"
    requires = SpecifierSet(distribution("offboard").metadata["Requires-Python"])
    assert requires.contains(f"{base[1]}.{base[2]}.0")
    assert re.search(r"^RUN sh scripts/install-image /opt/offboard\b", dockerfile, re.M)
    for source in re.findall(r"^COPY (.+) \S+$", dockerfile, re.M):
        for path in source.split():
            assert (ROOT / path).exists(), f"the Dockerfile copies {path}, which does not exist"
    users = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert users and users[-1] not in ("root", "0")
    health_port = re.search(r"OFFBOARD_HEALTH_PORT=(\d+)", dockerfile)
    assert health_port and f"http://127.0.0.1:{health_port[1]}/healthz" in dockerfile.split("HEALTHCHECK", 1)[1]
    assert dockerfile.rstrip().endswith('CMD ["offboard", "serve"]')


def test_compose_runs_offboard_on_postgres_with_the_env_file() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    offboard, db = compose["services"]["offboard"], compose["services"]["db"]
    assert offboard["env_file"] == ".env" and offboard["build"] == "."
    assert offboard["environment"]["DATABASE_URL"].startswith("postgresql+psycopg://")
    assert offboard["depends_on"]["db"]["condition"] == "service_healthy"
    assert db["image"].startswith("postgres:")
    assert any(volume.startswith("pgdata:") for volume in db["volumes"]) and "pgdata" in compose["volumes"]


def test_the_example_env_file_is_a_working_set(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the checkout's
    for name in Settings.model_fields:
        for alias in getattr(Settings.model_fields[name].validation_alias, "choices", []):
            monkeypatch.delenv(str(alias), raising=False)
    monkeypatch.delenv("OFFBOARD_SECRETS_DIR", raising=False)
    settings = Settings(_env_file=ROOT / ".env.example")  # type: ignore[call-arg]
    assert settings.problems() == []
    assert settings.socket_mode

