from __future__ import annotations

import logging
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from commands import ENTRY_POINT_GROUP, Registry, default_registry, discover_plugins
from tests.commands.helpers import Chat

PLUGIN = '''
from commands import CommandContext, Registry
from core.models import Reply


def register(registry: Registry) -> None:
    @registry.command("ping", usage="/ping [text]", max_args=None)
    async def ping(ctx: CommandContext) -> Reply:
        """Answer pong, with the words you give."""
        return Reply(" ".join(("pong", *ctx.args)))

    @registry.subcommand("session", "ping")
    async def session_ping(ctx: CommandContext) -> Reply:
        """Answer with the session id."""
        return Reply(f"pong from {ctx.session.id}")
'''

HALF_BROKEN = '''
from commands import CommandContext, Registry
from core.models import Reply


def register(registry: Registry) -> None:
    @registry.command("fresh")
    async def fresh(ctx: CommandContext) -> Reply:
        """A new command."""
        return Reply("fresh")

    @registry.command("help")
    async def clash(ctx: CommandContext) -> Reply:
        """Clashes with /help."""
        return Reply("clash")
'''


def install(root: Path, name: str, modules: dict[str, str], entry_points: dict[str, str]) -> None:
    """Write a distribution that importlib.metadata finds on sys.path (under ``root``)."""
    dist_info = root / f"{name}-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    lines = [f"{key} = {value}" for key, value in entry_points.items()]
    (dist_info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n" + "\n".join(lines))
    for module, source in modules.items():
        (root / f"{module}.py").write_text(textwrap.dedent(source))


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A directory on sys.path for this test only; its modules are forgotten after."""
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name, module in list(sys.modules.items()):
        if str(getattr(module, "__file__", "") or "").startswith(str(tmp_path)):
            del sys.modules[name]


async def test_a_plugin_found_through_its_entry_point_runs_through_the_router(
    site: Path,
) -> None:
    install(
        site, "sessionbot_ping", {"sessionbot_ping": PLUGIN}, {"ping": "sessionbot_ping:register"}
    )
    registry = default_registry(load_plugins=False)
    assert discover_plugins(registry) == ["ping"]

    chat = Chat(registry=registry)
    assert await chat.say("/ping a b") == "pong a b"
    assert await chat.say("/session ping") == f"pong from {(await chat.session()).id}"
    assert "/ping — Answer pong, with the words you give." in await chat.say("/help")
    assert "/session ping — Answer with the session id." in await chat.say("/help session")


async def test_default_registry_loads_plugins_by_default(site: Path) -> None:
    install(
        site, "sessionbot_ping", {"sessionbot_ping": PLUGIN}, {"ping": "sessionbot_ping:register"}
    )
    assert default_registry().get("ping") is not None
    assert default_registry(load_plugins=False).get("ping") is None


def test_failing_plugins_are_logged_skipped_and_leave_nothing_behind(
    site: Path, caplog: pytest.LogCaptureFixture
) -> None:
    install(
        site,
        "sessionbot_mixed",
        {
            "sessionbot_ping": PLUGIN,
            "sessionbot_half": HALF_BROKEN,
            "sessionbot_raises": "def register(registry):\n    raise RuntimeError('no')\n",
            "sessionbot_value": "register = 42\n",
            "sessionbot_async": "async def register(registry):\n    pass\n",
        },
        {
            "half": "sessionbot_half:register",
            "missing": "sessionbot_missing:register",
            "raises": "sessionbot_raises:register",
            "value": "sessionbot_value:register",
            "async": "sessionbot_async:register",
            "ping": "sessionbot_ping:register",
        },
    )
    registry = default_registry(load_plugins=False)
    with caplog.at_level(logging.INFO, logger="commands.plugins"):
        loaded = discover_plugins(registry)
    assert loaded == ["ping"]
    assert registry.get("fresh") is None  # the half-broken plugin was undone entirely
    assert registry.get("ping") is not None
    failed = {r.args[0] for r in caplog.records if r.levelno == logging.ERROR}  # type: ignore[index]
    assert failed == {"half", "missing", "raises", "value", "async"}
    assert all(r.exc_info for r in caplog.records if r.levelno == logging.ERROR)


def test_no_plugins_installed_loads_nothing() -> None:
    registry = Registry()
    assert discover_plugins(registry) == []
    assert registry.commands() == []
