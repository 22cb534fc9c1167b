"""Imports point one way: bot -> adapters, commands -> core (DESIGN.md, Layout)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLATFORM_LIBRARIES = {"telegram", "discord", "slack_bolt", "slack_sdk", "fastapi", "aiohttp"}

FORBIDDEN = {
    "core": {"bot", "adapters", "commands"} | PLATFORM_LIBRARIES,
    "commands": {"bot", "adapters"} | PLATFORM_LIBRARIES,
    "adapters": {"bot", "commands"},
}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_point_one_way(package: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_roots(path) & FORBIDDEN[package])
        for path in (ROOT / package).rglob("*.py")
    }
    assert {name: bad for name, bad in offenders.items() if bad} == {}


def test_the_scan_sees_imports() -> None:
    assert "core" in imported_roots(ROOT / "core" / "sessions" / "manager.py")
