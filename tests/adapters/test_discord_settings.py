"""``[adapters.discord]``: its options, their bounds, and the token from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from adapters.discord import DISCORD_API, DISCORD_GATEWAY, DiscordSettings
from bot.cli import cli
from bot.config import validate_settings
from bot.platforms import check_secrets
from bot.plugins import adapter_plugins
from core.errors import ConfigError


def discord(**options: object) -> DiscordSettings:
    raw = {"adapters": {"discord": {"enabled": True, **options}}}
    section = validate_settings(raw, label="test").adapters["discord"]
    assert isinstance(section, DiscordSettings)
    return section


def test_discord_is_installed_through_its_entry_point() -> None:
    assert "discord" in adapter_plugins().plugins


def test_the_defaults_point_at_discord() -> None:
    settings = discord()
    assert settings.token_env == "DISCORD_BOT_TOKEN"
    assert settings.command_prefix == "/"
    assert settings.sync_commands == "global"
    assert settings.respond_in_guilds == "mention"
    assert (settings.api_base_url, settings.gateway_url) == (DISCORD_API, DISCORD_GATEWAY)
    assert settings.shard_count is None and settings.shard_ids is None


@pytest.mark.parametrize(
    ("options", "why"),
    [
        ({"sync_commands": "guilds"}, "needs guild_ids"),
        ({"shard_ids": [0]}, "shard_ids needs shard_count"),
        ({"shard_count": 2, "shard_ids": [2]}, "from 0 to 1"),
        ({"shard_count": 0}, "greater than or equal to 1"),
        ({"command_prefix": "! "}, "whitespace"),
        ({"command_prefix": ""}, "at least 1"),
        ({"guild_ids": [-5]}, "positive"),
        ({"api_base_url": "discord.com"}, "http"),
        ({"gateway_url": "https://gateway.discord.gg"}, "ws"),
        ({"respond_in_guilds": "sometimes"}, "mention"),
        ({"token_env": "not a name"}, "environment variable name"),
        ({"tokn_env": "X"}, "tokn_env"),
    ],
)
def test_bad_options_are_one_clear_error(options: dict[str, object], why: str) -> None:
    with pytest.raises(ConfigError) as caught:
        discord(**options)
    message = str(caught.value)
    assert "\n" not in message
    assert "adapters.discord" in message
    assert why in message


def test_a_missing_token_is_one_line_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DISCORD_BOT_TOKEN", raising=False)
    settings = validate_settings({"adapters": {"discord": {"enabled": True}}}, label="test")
    with pytest.raises(ConfigError) as caught:
        check_secrets(settings)
    assert str(caught.value) == (
        "adapters.discord.token_env: environment variable DISCORD_BOT_TOKEN is not set"
    )


def test_run_without_the_token_exits_2_with_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DISCORD_BOT_TOKEN", raising=False)
    config = tmp_path / "config.toml"
    config.write_text(
        f'[storage]\nurl = "sqlite:///{tmp_path / "bot.db"}"\n'
        "[adapters.console]\nenabled = false\n[adapters.discord]\nenabled = true\n"
    )
    result = CliRunner(env={"SESSIONBOT_CONFIG": None}).invoke(
        cli, ["run", "--config", str(config)]
    )
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "DISCORD_BOT_TOKEN is not set" in lines[0]
    assert not (tmp_path / "bot.db").exists()  # stopped before the database was opened
