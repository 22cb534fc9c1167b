"""Imports point one way: bot -> adapters, commands -> core (DESIGN.md, Layout)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLATFORM_LIBRARIES = {"telegram", "discord", "slack_bolt", "slack_sdk", "fastapi", "aiohttp"}

FORBIDDEN = {
    "core": {"bot", "adapters", "commands", "sessionbot"} | PLATFORM_LIBRARIES,
    "commands": {"bot", "adapters", "sessionbot"} | PLATFORM_LIBRARIES,
    "adapters": {"bot", "commands", "sessionbot"},
}

# Adapters see core through its public root, plus the helpers written for them: keyed
# locks, backoff, text coming in and going to a terminal, private files.
ADAPTER_CORE_MODULES = {"core", "core.locks", "core.backoff", "core.text", "core.files"}

# bot/'s composition code: which adapters and responders exist is the plugins' business.
PLATFORM_NAMES = re.compile(r"console|telegram|discord|slack", re.IGNORECASE)
PLATFORM_FREE = (
    "settings",
    "platforms",
    "wiring",
    "plugins",
    "plugin_settings",
    "app",
    "cli_manifests",
)


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    modules: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def imported_roots(path: Path) -> set[str]:
    return {module.split(".")[0] for module in imported_modules(path)}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_point_one_way(package: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_roots(path) & FORBIDDEN[package])
        for path in (ROOT / package).rglob("*.py")
    }
    assert {name: bad for name, bad in offenders.items() if bad} == {}


def test_the_scan_sees_imports() -> None:
    assert "core" in imported_roots(ROOT / "core" / "sessions" / "manager.py")


def test_adapters_import_only_cores_public_root() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            module
            for module in imported_modules(path)
            if module.split(".")[0] == "core" and module not in ADAPTER_CORE_MODULES
        )
        for path in (ROOT / "adapters").rglob("*.py")
    }
    assert {name: bad for name, bad in offenders.items() if bad} == {}


def test_bot_imports_no_adapter_but_the_contract() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            module
            for module in imported_modules(path)
            if module.split(".")[0] == "adapters" and module != "adapters.base"
        )
        for path in (ROOT / "bot").rglob("*.py")
    }
    assert {name: bad for name, bad in offenders.items() if bad} == {}


@pytest.mark.parametrize("module", PLATFORM_FREE)
def test_bots_composition_names_no_platform(module: str) -> None:
    text = (ROOT / "bot" / f"{module}.py").read_text()
    assert PLATFORM_NAMES.findall(text) == []


def test_the_scans_see_what_they_look_for() -> None:
    assert "core.locks" in imported_modules(ROOT / "adapters" / "telegram_updates.py")
    assert "adapters.base" in imported_modules(ROOT / "bot" / "platforms.py")
    assert PLATFORM_NAMES.search((ROOT / "bot" / "cli.py").read_text())


# -- inside core (DESIGN.md, Layout: core/) --------------------------------------------


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def core_modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for path in (ROOT / "core").rglob("*.py")
        if "migrations" not in path.parts
    }


def core_imports(path: Path, known: set[str]) -> set[str]:
    """Every core module ``path`` imports, wherever the import stands (also TYPE_CHECKING)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        found.update(name for name in names if name in known)
    return found


def core_graph() -> dict[str, set[str]]:
    modules = core_modules()
    known = set(modules)
    return {name: core_imports(path, known) - {name} for name, path in modules.items()}


def test_nothing_inside_core_imports_the_core_package_itself() -> None:
    graph = core_graph()
    assert {name for name, imported in graph.items() if "core" in imported} == set()


def test_no_import_loop_inside_core() -> None:
    graph = core_graph()
    loops: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for target in sorted(graph.get(name, ())):
            if state.get(target) == 1:
                loops.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert loops == []


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("core.storage", ("core.sessions", "core.crypto")),
        ("core.crypto", ("core.sessions",)),
    ],
)
def test_core_layers_point_one_way(package: str, forbidden: tuple[str, ...]) -> None:
    graph = core_graph()
    offenders = {
        name: sorted(t for t in imported if t.startswith(forbidden))
        for name, imported in graph.items()
        if name == package or name.startswith(package + ".")
    }
    assert {name: bad for name, bad in offenders.items() if bad} == {}


def test_no_core_module_is_much_over_400_lines() -> None:
    sizes = {name: len(path.read_text().splitlines()) for name, path in core_modules().items()}
    assert {name: lines for name, lines in sizes.items() if lines > 430} == {}
