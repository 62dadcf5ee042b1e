"""The product's layout: the demo, the stand-ins and the vendor sandboxes stay out of its import path, and bot/
keeps its modules in feature packages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# What only the demo and the tests use: importing the product must never load them.
OUTSIDE_THE_PRODUCT = ("bot.demo", "vendors.sandbox", "websockets", "tests")


def product_modules() -> list[str]:
    found = []
    for package in ("bot", "vendors", "storage"):
        for path in sorted((ROOT / package).rglob("*.py")):
            dotted = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            if not dotted.startswith(("bot.demo", "vendors.sandbox", "storage.migrations")):
                found.append(dotted)
    return found


def test_importing_every_product_module_loads_no_demo_stand_in_or_sandbox() -> None:
    modules = product_modules()
    probe = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.startswith({OUTSIDE_THE_PRODUCT!r}))))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert len(modules) > 100  # the whole product, not an empty walk
    assert json.loads(done.stdout) == []


def test_bot_keeps_its_modules_in_feature_packages() -> None:
    top = sorted(p.name for p in (ROOT / "bot").glob("*.py"))
    assert top == ["__init__.py", "spreadsheet.py"]
    packages = sorted(p.name for p in (ROOT / "bot").iterdir() if (p / "__init__.py").exists())
    assert packages == ["audit", "cli", "demo", "engine", "offboarding", "onboarding", "reviews", "runtime", "slack",
                        "triggers"]
