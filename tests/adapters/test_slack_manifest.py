"""Slack's settings, secrets and app manifest (``sessionbot slack manifest``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from adapters.base import CommandSpec
from adapters.slack import SlackSettings, check_secrets, manifest, plugin
from adapters.slack_manifest import usage_hint
from bot.plugins import adapter_plugins
from commands import default_registry
from core import ConfigError

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = ROOT / "tests" / "plugins"


def specs() -> list[CommandSpec]:
    registry = default_registry(load_plugins=False)
    return [CommandSpec(c.name, c.summary, registry.usage_of(c)) for c in registry.commands()]


def parsed(settings: SlackSettings, commands: list[CommandSpec] | None = None) -> Any:
    return yaml.safe_load(manifest(settings, commands or specs(), "sessionbot"))


def test_the_manifest_lists_every_registered_command_for_socket_mode() -> None:
    document = parsed(SlackSettings())
    commands = document["features"]["slash_commands"]
    assert [c["command"] for c in commands] == [f"/{s.name}" for s in specs()]
    assert all(c["description"] and "url" not in c for c in commands)
    new = next(c for c in commands if c["command"] == "/new")
    assert new["usage_hint"] == "[title]"
    settings = document["settings"]
    assert settings["socket_mode_enabled"] is True
    assert "request_url" not in settings["event_subscriptions"]
    assert settings["event_subscriptions"]["bot_events"] == ["app_mention", "message.im"]
    scopes = document["oauth_config"]["scopes"]["bot"]
    assert {"commands", "chat:write", "files:write", "im:history", "app_mentions:read"} <= set(
        scopes
    )
    assert "channels:history" not in scopes  # only what the settings need


def test_http_mode_names_the_request_url_everywhere() -> None:
    settings = SlackSettings(mode="http", request_url="https://bot.example.org/slack/events")
    document = parsed(settings)
    assert document["settings"]["socket_mode_enabled"] is False
    url = "https://bot.example.org/slack/events"
    assert document["settings"]["event_subscriptions"]["request_url"] == url
    assert {c["url"] for c in document["features"]["slash_commands"]} == {url}


def test_renamed_commands_and_channel_messages_show_in_the_manifest() -> None:
    settings = SlackSettings(command_names={"new": "/sb-new"}, listen_to_channel_messages=True)
    document = parsed(settings)
    names = [c["command"] for c in document["features"]["slash_commands"]]
    assert "/sb-new" in names and "/new" not in names
    assert "message.channels" in document["settings"]["event_subscriptions"]["bot_events"]
    assert "channels:history" in document["oauth_config"]["scopes"]["bot"]


def test_the_deployed_manifest_is_the_output_for_the_defaults() -> None:
    deployed = yaml.safe_load((ROOT / "deploy" / "slack-manifest.yaml").read_text())
    assert deployed == parsed(SlackSettings())


def test_usage_hints_keep_alternatives_without_the_command_name() -> None:
    assert usage_hint(CommandSpec("reset", "", "/reset")) == ""
    assert usage_hint(CommandSpec("history", "", "/history [N] or /history export|clear …")) == (
        "[N] | export|clear …"
    )
    assert usage_hint(CommandSpec("session", "", "/session or /session list|scope …")) == (
        "[list|scope …]"
    )


def test_a_plugins_command_appears_in_the_printed_manifest(tmp_path: Path) -> None:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONBOT_")}
    environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PLUGINS), environ.get("PYTHONPATH")]))
    done = subprocess.run(
        [sys.executable, "-m", "bot", "slack", "manifest"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=tmp_path,
        env=environ,
    )
    assert done.returncode == 0, done.stderr
    commands = yaml.safe_load(done.stdout)["features"]["slash_commands"]
    assert "/ping" in [c["command"] for c in commands]


# -- settings and secrets ---------------------------------------------------------------


def test_the_plugin_is_installed_under_its_name() -> None:
    assert adapter_plugins().plugins["slack"] is plugin


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"mode": "websocket"}, "mode"),
        ({"command_names": {"new": "new"}}, "not a Slack command name"),
        ({"command_names": {"new": "/x", "reset": "/x"}}, "same Slack name"),
        ({"bot_token_env": "NOT A NAME"}, "not an environment variable name"),
        ({"port": 70000}, "port"),
        ({"request_url": "https://bot.example.org/slack"}, "mode = 'http'"),
        ({"api_url": "slack.com"}, "http"),
    ],
)
def test_bad_settings_are_refused(table: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SlackSettings(**table)


def test_a_missing_secret_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    monkeypatch.delenv("SLACK_APP_TOKEN", raising=False)
    monkeypatch.delenv("SLACK_SIGNING_SECRET", raising=False)
    with pytest.raises(ConfigError, match="SLACK_APP_TOKEN is not set"):
        check_secrets(SlackSettings(enabled=True))
    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET is not set"):
        check_secrets(SlackSettings(enabled=True, mode="http"))
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1")
    check_secrets(SlackSettings(enabled=True))
    monkeypatch.delenv("SLACK_BOT_TOKEN")
    with pytest.raises(ConfigError, match=r"adapters\.slack\.bot_token_env: .*SLACK_BOT_TOKEN"):
        check_secrets(SlackSettings(enabled=True))


def test_the_manifest_command_follows_the_config(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from bot.cli import cli

    config = tmp_path / "config.toml"
    config.write_text(
        '[bot]\nname = "helper"\n[adapters.slack]\nmode = "http"\n'
        'request_url = "https://bot.example.org/slack/events"\n'
        'command_names = { new = "/helper-new" }\n'
    )
    runner = CliRunner(env={"SESSIONBOT_CONFIG": None})
    result = runner.invoke(cli, ["slack", "manifest", "--config", str(config)])
    assert result.exit_code == 0, result.output
    document = yaml.safe_load(result.stdout)
    assert document["display_information"]["name"] == "helper"
    assert document["settings"]["socket_mode_enabled"] is False
    assert "/helper-new" in [c["command"] for c in document["features"]["slash_commands"]]

    config.write_text('[adapters.slack]\nmode = "carrier-pigeon"\n')
    bad = runner.invoke(cli, ["slack", "manifest", "--config", str(config)])
    assert bad.exit_code == 2
    assert len(bad.stderr.strip().splitlines()) == 1 and "adapters.slack.mode" in bad.stderr
