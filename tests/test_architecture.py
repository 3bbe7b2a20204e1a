"""ARCHITECTURE.md stays true: every module of the package is in its map, and every module it names exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_module_is_mapped():
    text = (ROOT / "ARCHITECTURE.md").read_text()
    modules = [p.relative_to(ROOT).as_posix() for p in (ROOT / "simstats").rglob("*.py") if p.name != "__init__.py"]
    missing = [m for m in modules if m not in text]
    assert not missing, f"add these modules to ARCHITECTURE.md: {missing}"


def test_mapped_modules_exist():
    text = (ROOT / "ARCHITECTURE.md").read_text()
    named = set(re.findall(r"`(simstats/[\w/]+\.py)`", text))
    assert named, "ARCHITECTURE.md names no modules"
    gone = [m for m in named if not (ROOT / m).exists()]
    assert not gone, f"ARCHITECTURE.md names modules that do not exist: {gone}"
