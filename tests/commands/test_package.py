from __future__ import annotations

import ast
from pathlib import Path

import commands

PACKAGE = Path(commands.__file__).parent
FORBIDDEN = {"adapters", "bot", "telegram", "discord", "slack_bolt", "slack_sdk", "fastapi"}


def isort_order(name: str) -> tuple[int, str]:
    """Constants, then classes, then functions: the order ruff's RUF022 keeps."""
    kind = 0 if name.isupper() else 1 if name[0].isupper() else 2
    return kind, name


def test_all_is_sorted_and_every_name_exists() -> None:
    assert commands.__all__ == sorted(commands.__all__, key=isort_order)
    for name in commands.__all__:
        assert hasattr(commands, name), name


def test_the_public_surface_the_bot_layer_builds_on() -> None:
    expected = {
        "CommandContext",
        "Registry",
        "Router",
        "RouterSettings",
        "default_registry",
        "discover_plugins",
        "parse_command",
    }
    assert expected <= set(commands.__all__)


def imported_packages(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


def test_commands_imports_only_core_and_the_standard_library() -> None:
    for path in sorted(PACKAGE.glob("*.py")):
        assert not imported_packages(path) & FORBIDDEN, path.name
