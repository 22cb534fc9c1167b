from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import (
    DEFAULTS_LABEL,
    Settings,
    load_config,
    override,
    secret_from_env,
)
from core.errors import ConfigError
from core.scope import Scope

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def error_for(path: Path | None, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ=environ or {})
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_defaults_without_a_file() -> None:
    settings = load_config(None, environ={})
    assert settings.storage.url == "sqlite:///./sessionbot.db"
    assert settings.sessions.scope is Scope.CHANNEL_PEER
    assert settings.sessions.threads_are_channels is True
    assert settings.bot.log_format == "text"
    assert settings.storage.retention_days == 0
    assert settings.enabled_adapters() == ["console"]


def test_the_example_config_loads_and_documents_the_defaults() -> None:
    example = load_config(ROOT / "config.example.toml", environ={})
    # The example shows resets at work; built in, they are off.
    assert (example.sessions.daily_reset_time, example.sessions.idle_reset_minutes) == ("04:00", 30)
    shown = {"sessions": {"daily_reset_time": "off", "idle_reset_minutes": 0}}
    assert (
        example.model_copy(
            update={"sessions": example.sessions.model_copy(update=shown["sessions"])}
        )
        == Settings()
    )


def test_file_values(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [bot]
        name = "helper"
        admins = ["console:alice", "telegram:123"]
        timezone = "Europe/Berlin"
        log_level = "DEBUG"
        log_format = "json"
        max_message_chars = 500
        rate_limit_per_minute = 0

        [storage]
        url = "memory://"
        retention_days = 30
        keep_checkpointed = false

        [sessions]
        scope = "per-channel"
        threads_are_channels = false

        [identity]
        links = { alice = ["telegram:123", "console:alice"] }

        [adapters.console]
        enabled = false
        user = "carol"
        """,
    )
    settings = load_config(path, environ={})
    assert settings.bot.name == "helper"
    assert settings.bot.admins == ("console:alice", "telegram:123")
    assert settings.bot.log_level == "debug"
    assert settings.storage.retention_days == 30
    assert settings.sessions.scope is Scope.CHANNEL
    assert settings.identity.by_user_ref() == {"telegram:123": "alice", "console:alice": "alice"}
    assert settings.enabled_adapters() == []
    assert settings.adapters["console"].user == "carol"


def test_environment_overrides_win_over_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[storage]\nurl = "sqlite:///x.db"\n[bot]\nname = "file"\n')
    settings = load_config(
        path,
        environ={
            "SESSIONBOT_STORAGE__URL": "memory://",
            "SESSIONBOT_BOT__LOG_LEVEL": "debug",
            "SESSIONBOT_BOT__ADMINS": '["console:alice"]',
            "SESSIONBOT_BOT__MAX_MESSAGE_CHARS": "12",
            "SESSIONBOT_ADAPTERS__CONSOLE__ENABLED": "false",
            "SESSIONBOT_CONFIG": "ignored.toml",
            "OTHER__THING": "ignored",
        },
    )
    assert settings.storage.url == "memory://"
    assert settings.bot.name == "file"
    assert settings.bot.log_level == "debug"
    assert settings.bot.admins == ("console:alice",)
    assert settings.bot.max_message_chars == 12
    assert settings.adapters["console"].enabled is False


def test_environment_overrides_apply_to_the_defaults() -> None:
    settings = load_config(None, environ={"SESSIONBOT_SESSIONS__SCOPE": "main"})
    assert settings.sessions.scope is Scope.MAIN


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ('[sessions]\nscope = "global"\n', "sessions.scope", "'per-channel-peer'"),
        ('[bot]\ntimezone = "Mars/Olympus"\n', "bot.timezone", "unknown timezone"),
        ('[bot]\nlog_format = "xml"\n', "bot.log_format", "'text' or 'json'"),
        ('[bot]\nlog_level = "loud"\n', "bot.log_level", "'debug'"),
        ('[bot]\nnmae = "typo"\n', "bot.nmae", "unknown key"),
        ('[bot]\nadmins = ["alice"]\n', "bot.admins", "platform:user_id"),
        ("[bot]\nmax_message_chars = 0\n", "bot.max_message_chars", "greater than or equal"),
        ('[bot]\nmax_message_chars = "many"\n', "bot.max_message_chars", "valid integer"),
        ("[storage]\nretention_days = -1\n", "storage.retention_days", "greater than"),
        ('[storage]\nurl = "mysql://db"\n', "storage.url", "unsupported storage URL"),
        ('[context]\nstrategy = "smart"\n', "context.strategy", "'recent'"),
        ('[responder]\nkind = "openai"\n', "responder.kind", "'echo'"),
        ('[encryption]\nkey_env = "1 bad"\n', "encryption.key_env", "environment variable"),
        ('[encryption]\nkey = "inline"\n', "encryption.key", "unknown key"),
        ('[adapters.telegram]\nmode = "push"\n', "adapters.telegram.mode", "'webhook'"),
        (
            '[adapters.telegram]\nmode = "webhook"\nsecret_token_env = ""\n',
            "adapters.telegram",
            "webhook mode needs secret_token_env",
        ),
        ('[adapters.telegram]\ntoken_env = "MY-TOKEN"\n', "adapters.telegram.token_env", "not an"),
        ('[adapters.telegram]\nbase_url = "api.example"\n', "adapters.telegram.base_url", "URL"),
        ("[adapters.telegram]\nport = 0\n", "adapters.telegram.port", "greater than"),
        ('[adapters.telegram]\ntoken = "123:abc"\n', "adapters.telegram.token", "unknown key"),
        ('[adapters.console]\nuser = "a b"\n', "adapters.console.user", "only letters"),
        (
            '[identity]\nlinks = { a = ["console:x"], b = ["console:x"] }\n',
            "identity.links",
            "linked to both",
        ),
        ('[identity]\nlinks = { "a b" = ["console:x"] }\n', "identity.links", "identity name"),
        ('bot = "x"\n', "bot", "expected a table, got 'x'"),
    ],
)
def test_a_bad_value_names_the_file_and_the_key(
    tmp_path: Path, text: str, key: str, problem: str
) -> None:
    path = write(tmp_path, text)
    message = error_for(path)
    assert message.startswith(f"{path}: {key}")
    assert problem in message


def test_every_problem_is_on_the_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[bot]\nlog_format = "xml"\n[sessions]\nscope = "x"\n')
    message = error_for(path)
    assert "bot.log_format" in message
    assert "sessions.scope" in message


def test_invalid_toml_gives_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[bot]\nname = "ok"\nadmins = [\n  "x",\n  =\n]\n')
    message = error_for(path)
    assert message.startswith(f"{path}: invalid TOML")
    assert "line 5" in message


def test_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    assert error_for(path) == f"{path}: no such file"


def test_a_directory_is_not_a_file(tmp_path: Path) -> None:
    assert error_for(tmp_path).startswith(f"{tmp_path}: cannot read")


def test_a_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b"name = '\xff'\n")
    assert error_for(path).startswith(f"{path}: not UTF-8")


def test_a_bad_environment_override_names_the_variable(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    message = error_for(path, {"SESSIONBOT_SESSIONS__SCOPE": "everyone"})
    assert message.startswith("$SESSIONBOT_SESSIONS__SCOPE: sessions.scope:")


def test_an_unknown_environment_override_is_caught() -> None:
    message = error_for(None, {"SESSIONBOT_STORAGE__URLL": "memory://"})
    assert message == "$SESSIONBOT_STORAGE__URLL: storage.urll: unknown key"


def test_bad_json_in_an_environment_override() -> None:
    message = error_for(None, {"SESSIONBOT_BOT__ADMINS": "[console:alice"})
    assert message.startswith("$SESSIONBOT_BOT__ADMINS: invalid JSON")


def test_an_override_below_a_value_is_caught() -> None:
    message = error_for(None, {"SESSIONBOT_BOT__NAME__FIRST": "x"})
    assert message.startswith("$SESSIONBOT_BOT__NAME__FIRST: bot.name")


def test_errors_without_a_file_name_the_defaults() -> None:
    assert DEFAULTS_LABEL == "built-in defaults"


def test_override_validates_again() -> None:
    settings = override(Settings(), {"adapters.console.user": "bob"}, label="--as")
    assert settings.adapters["console"].user == "bob"
    with pytest.raises(ConfigError, match=r"^--as: adapters\.console\.user: "):
        override(Settings(), {"adapters.console.user": "no spaces"}, label="--as")


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(ValueError, match="frozen"):
        settings.bot.name = "other"  # type: ignore[misc]


def test_secret_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SESSIONBOT_TEST_TOKEN", "s3cret")
    assert secret_from_env("SESSIONBOT_TEST_TOKEN", key="adapters.x.token_env") == "s3cret"


def test_secret_from_env_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SESSIONBOT_TEST_TOKEN", raising=False)
    with pytest.raises(ConfigError, match=r"adapters\.x\.token_env: .*SESSIONBOT_TEST_TOKEN"):
        secret_from_env("SESSIONBOT_TEST_TOKEN", key="adapters.x.token_env")


def test_secret_from_env_bad_name() -> None:
    with pytest.raises(ConfigError, match="not an environment variable name"):
        secret_from_env("not a name", key="adapters.x.token_env")


def test_reset_options_become_the_managers_rules(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [bot]
        timezone = "Europe/Berlin"

        [sessions]
        daily_reset_time = "04:30"
        idle_reset_minutes = 90
        daily_reset_grace_minutes = 15
        carry_over = ["title"]

        [[sessions.overrides]]
        platform = "telegram"
        is_direct = true
        idle_reset_minutes = 0

        [[sessions.overrides]]
        channel_id = "night-shift"
        daily_reset_time = "OFF"
        timezone = "America/New_York"
        """,
    )
    settings = load_config(path, environ={})
    rules = settings.sessions.reset_rules(settings.bot.timezone)
    assert (rules.daily_reset_time, rules.idle_reset_minutes) == ("04:30", 90)
    assert (rules.timezone, rules.grace_minutes) == ("Europe/Berlin", 15)
    direct, night = rules.overrides
    assert (direct.selector.platform, direct.selector.is_direct) == ("telegram", True)
    assert direct.idle_reset_minutes == 0
    assert (night.selector.channel_id, night.daily_reset_time) == ("night-shift", "off")
    assert night.timezone == "America/New_York"
    assert settings.sessions.carry_over == ("title",)


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ('[sessions]\ndaily_reset_time = "25:00"\n', "sessions.daily_reset_time", "HH:MM"),
        ("[sessions]\nidle_reset_minutes = -5\n", "sessions.idle_reset_minutes", "greater"),
        ('[sessions]\ncarry_over = ["title", "mood"]\n', "sessions.carry_over[1]", "'tags'"),
        (
            '[[sessions.overrides]]\nplatform = "telegram"\n',
            "sessions.overrides[0]",
            "sets none of",
        ),
        (
            '[[sessions.overrides]]\nidle_reset_minutes = 5\nzone = "UTC"\n',
            "sessions.overrides[0].zone",
            "unknown key",
        ),
        (
            '[[sessions.overrides]]\ntimezone = "Nowhere/Land"\n',
            "sessions.overrides[0].timezone",
            "unknown timezone",
        ),
    ],
)
def test_bad_reset_options(tmp_path: Path, text: str, key: str, problem: str) -> None:
    message = error_for(write(tmp_path, text))
    assert message.startswith(f"{tmp_path / 'config.toml'}: {key}: ")
    assert problem in message


def test_an_environment_override_of_a_list_of_tables_is_named() -> None:
    message = error_for(None, {"SESSIONBOT_SESSIONS__OVERRIDES": '[{"zone": "UTC"}]'})
    assert message.startswith("$SESSIONBOT_SESSIONS__OVERRIDES: sessions.overrides[0].zone:")
