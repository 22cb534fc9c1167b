"""Plugin tables in the configuration: found through entry points, validated by plugins.

The test plugin package (``tests/plugins``) is put on ``sys.path`` where a test asks
for it, and the plugins are looked up again before and after.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import load_config, validate_settings
from bot.platforms import build_responder
from bot.plugins import adapter_plugins, forget_plugins, responder_plugins
from commands import default_registry, discover_plugins
from core.errors import ConfigError
from tests.commands.helpers import Chat

PLUGINS = Path(__file__).resolve().parent.parent / "plugins"


@pytest.fixture
def test_plugin(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Install ``sessionbot_testplugin`` for one test."""
    monkeypatch.syspath_prepend(str(PLUGINS))
    forget_plugins()
    yield
    forget_plugins()
    sys.modules.pop("sessionbot_testplugin", None)


def error_for(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> str:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ=environ or {})
    message = str(caught.value)
    assert "\n" not in message
    return message.replace(str(path), "FILE")


@pytest.mark.usefixtures("test_plugin")
def test_a_plugin_package_adds_an_adapter_a_responder_and_a_command() -> None:
    assert "script" in adapter_plugins().plugins
    assert "shout" in responder_plugins().plugins
    assert "ping" in discover_plugins(default_registry(load_plugins=False))


@pytest.mark.usefixtures("test_plugin")
async def test_responder_kind_is_honoured_with_the_plugins_own_options() -> None:
    settings = validate_settings({"responder": {"kind": "shout", "suffix": "?"}}, label="test")
    assert settings.responder.kind == "shout"
    chat = Chat(responder=build_responder(settings))
    assert await chat.say("are you there") == "ARE YOU THERE?"


@pytest.mark.usefixtures("test_plugin")
def test_an_adapter_whose_options_have_no_defaults_is_off_until_configured(
    tmp_path: Path,
) -> None:
    assert "script" not in validate_settings({}, label="test").adapters
    table = {"enabled": True, "input": str(tmp_path / "in"), "output": str(tmp_path / "out")}
    settings = validate_settings({"adapters": {"script": table}}, label="test")
    assert settings.enabled_adapters() == ["console", "script"]
    message = error_for(tmp_path, "[adapters.script]\nenabled = true\n")
    assert message == (
        "FILE: adapters.script.input: field required; FILE: adapters.script.output: field required"
    )


def test_an_unknown_responder_kind_names_the_key_and_the_known_kinds(tmp_path: Path) -> None:
    message = error_for(tmp_path, '[responder]\nkind = "claude"\n')
    assert message == (
        "FILE: responder.kind: no responder plugin 'claude' is installed"
        " (installed: 'echo', 'openai')"
    )


def test_openai_needs_a_model(tmp_path: Path) -> None:
    message = error_for(tmp_path, '[responder]\nkind = "openai"\n')
    assert message == "FILE: responder.model: field required"


def test_openai_bounds_are_one_line(tmp_path: Path) -> None:
    message = error_for(tmp_path, '[responder]\nkind = "openai"\nmodel = "m"\nmax_retries = 99\n')
    assert (
        message == "FILE: responder.max_retries: input should be less than or equal to 10, got 99"
    )


def test_echo_takes_no_options(tmp_path: Path) -> None:
    message = error_for(tmp_path, '[responder]\nmodel = "gpt"\n')
    assert message == "FILE: responder.model: unknown key"


def test_a_table_no_plugin_owns_is_named(tmp_path: Path) -> None:
    message = error_for(tmp_path, "[adapters.matrix]\nenabled = true\n")
    assert message == (
        "FILE: adapters.matrix: no adapter plugin 'matrix' is installed "
        "(installed: 'api', 'console', 'discord', 'slack', 'telegram')"
    )


def test_an_environment_override_is_named_as_the_source(tmp_path: Path) -> None:
    variable = "SESSIONBOT_ADAPTERS__TELEGRAM__MODE"
    message = error_for(tmp_path, "", {variable: "push"})
    assert message.startswith(f"${variable}: adapters.telegram.mode: input should be")
    message = error_for(tmp_path, "", {"SESSIONBOT_ADAPTERS__MATRIX__ENABLED": "true"})
    assert message.startswith("$SESSIONBOT_ADAPTERS__MATRIX__ENABLED: adapters.matrix: no ")


def test_a_plugin_that_fails_to_load_is_named_when_its_table_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dist_info = tmp_path / "site" / "sessionbot_broken-1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: sessionbot-broken\n")
    (dist_info / "entry_points.txt").write_text(
        "[sessionbot.adapters]\nbroken = sessionbot_no_such_module:plugin\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    forget_plugins()
    try:
        assert validate_settings({}, label="test").enabled_adapters() == ["console"]
        message = error_for(tmp_path, "[adapters.broken]\nenabled = true\n")
    finally:
        forget_plugins()
    assert message == (
        "FILE: adapters.broken: the adapter plugin 'broken' failed to load: "
        "ModuleNotFoundError: No module named 'sessionbot_no_such_module'"
    )
