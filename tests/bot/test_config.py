from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

import pytest
from pydantic_settings import BaseSettings, SettingsConfigDict

from adapters.console import ConsoleSettings
from adapters.telegram import TelegramSettings
from bot.config import (
    DEFAULTS_LABEL,
    ENV_NESTED_DELIMITER,
    ENV_PREFIX,
    Settings,
    env_origins,
    load_config,
    load_settings_model,
    override,
    secret_from_env,
    validate_section,
)
from bot.settings import BotSettings
from core.errors import ConfigError
from core.sessions.scope import Scope

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
        ('[bot]\nmax_message_chars = "many"\n', "bot.max_message_chars", "an integer"),
        ("[storage]\nretention_days = -1\n", "storage.retention_days", "greater than"),
        ('[storage]\nurl = "mysql://db"\n', "storage.url", "unsupported storage URL"),
        (
            '[context]\nstrategy = "clever"\n',
            "context.strategy",
            "'recent', 'smart' or 'summarize'",
        ),
        ('[responder]\nkind = "claude"\n', "responder.kind", "'echo', 'openai'"),
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


def test_invalid_toml_is_reported_as_tomllib_words_it(tmp_path: Path) -> None:
    text = '[bot]\nname = "unterminated\n'
    with pytest.raises(tomllib.TOMLDecodeError) as parsed:
        tomllib.loads(text)
    assert (
        error_for(write(tmp_path, text))
        == f"{tmp_path / 'config.toml'}: invalid TOML: {parsed.value}"
    )


def test_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    assert error_for(path) == f"{path}: no such file"


def test_a_missing_file_is_an_error_even_with_overrides(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    assert error_for(path, {"SESSIONBOT_BOT__NAME": "x"}) == f"{path}: no such file"


def test_a_directory_is_not_a_file(tmp_path: Path) -> None:
    assert error_for(tmp_path) == f"{tmp_path}: cannot read: Is a directory"


def test_a_fifo_is_not_a_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    os.mkfifo(path)
    assert error_for(path) == f"{path}: cannot read: not a regular file"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_file(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    path.chmod(0)
    assert error_for(path) == f"{path}: cannot read: Permission denied"


def test_a_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(b"name = '\xff'\n")
    assert error_for(path) == f"{path}: not UTF-8 text: invalid start byte"


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
    with pytest.raises(ValueError, match="frozen"):
        settings.bot = BotSettings()  # type: ignore[misc]


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


# One exact line per kind of problem -------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[bot]\nnmae = "typo"\n', "bot.nmae: unknown key"),
        ('[stroage]\nurl = "memory://"\n', "stroage: unknown key"),
        (
            '[bot]\nmax_message_chars = "many"\n',
            "bot.max_message_chars: input should be an integer (not text, a boolean or a "
            "float), got 'many'",
        ),
        ("[bot]\nadmins = 3\n", "bot.admins: input should be a valid tuple, got 3"),
        (
            "[adapters.telegram]\nport = 70000\n",
            "adapters.telegram.port: input should be less than or equal to 65535, got 70000",
        ),
        (
            '[[sessions.overrides]]\ntimezone = "Nowhere/Land"\n',
            "sessions.overrides[0].timezone: unknown timezone 'Nowhere/Land'; "
            "use an IANA name such as 'Europe/Berlin'",
        ),
        ('storage = "memory://"\n', "storage: expected a table, got 'memory://'"),
    ],
)
def test_a_bad_value_in_the_file_gives_one_exact_line(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = write(tmp_path, text)
    assert error_for(path) == f"{path}: {expected}"


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("SESSIONBOT_STORAGE__URLL", "memory://", "storage.urll: unknown key"),
        ("SESSIONBOT_STORGE__URL", "memory://", "storge: unknown key"),
        (
            "SESSIONBOT_BOT__MAX_MESSAGE_CHARS",
            "many",
            "bot.max_message_chars: input should be a valid integer, unable to parse string "
            "as an integer, got 'many'",
        ),
        (
            "SESSIONBOT_BOT__MAX_MESSAGE_CHARS",
            "0",
            "bot.max_message_chars: input should be greater than or equal to 1, got '0'",
        ),
        (
            "SESSIONBOT_BOT__ADMINS",
            "console:alice",
            "bot.admins: input should be a valid tuple, got 'console:alice'",
        ),
        (
            "SESSIONBOT_SESSIONS__OVERRIDES",
            '[{"timezone": "Nowhere/Land"}]',
            "sessions.overrides[0].timezone: unknown timezone 'Nowhere/Land'; "
            "use an IANA name such as 'Europe/Berlin'",
        ),
        (
            "SESSIONBOT_BOT__ADMINS",
            "[console:alice",
            "invalid JSON: Expecting value: line 1 column 2 (char 1)",
        ),
        (
            "SESSIONBOT_BOT__NAME",
            '{"first": ',
            "invalid JSON: Expecting value: line 1 column 11 (char 10)",
        ),
        ("SESSIONBOT_BOT__NAME__FIRST", "x", "bot.name is a value, not a table"),
        ("SESSIONBOT_BOT__LOG_LEVEL__MIN", "debug", "bot.log_level is a value, not a table"),
    ],
)
def test_a_bad_variable_gives_one_exact_line_naming_it(
    tmp_path: Path, variable: str, value: str, expected: str
) -> None:
    path = write(tmp_path, '[bot]\nname = "file"\n')
    assert error_for(path, {variable: value}) == f"${variable}: {expected}"
    assert error_for(None, {variable: value}) == f"${variable}: {expected}"


def test_a_variable_below_a_table_in_the_file_replaces_nothing_silently(tmp_path: Path) -> None:
    path = write(tmp_path, '[adapters.console]\nuser = "a b"\n')
    message = error_for(path, {"SESSIONBOT_ADAPTERS__CONSOLE__ENABLED": "false"})
    # The bad value came from the file, so the file is named, not the variable.
    assert message == f"{path}: adapters.console.user: 'a b' may hold only letters, digits, _ . -"


def test_problems_from_the_file_and_the_environment_share_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[bot]\nlog_format = "xml"\n')
    message = error_for(path, {"SESSIONBOT_STORAGE__RETENTION_DAYS": "-1"})
    assert message == (
        f"{path}: bot.log_format: input should be 'text' or 'json', got 'xml'; "
        "$SESSIONBOT_STORAGE__RETENTION_DAYS: storage.retention_days: "
        "input should be greater than or equal to 0, got '-1'"
    )


# Sources and their priority ----------------------------------------------------------


def test_the_environment_beats_the_file_which_beats_the_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, '[bot]\nname = "file"\ntimezone = "Europe/Berlin"\n')
    settings = load_config(path, environ={"SESSIONBOT_BOT__NAME": "environment"})
    assert settings.bot.name == "environment"
    assert settings.bot.timezone == "Europe/Berlin"
    assert settings.bot.log_level == "info"


def test_a_variable_merges_into_a_table_of_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[adapters.telegram]\nmode = "webhook"\nport = 9000\n')
    settings = load_config(path, environ={"SESSIONBOT_ADAPTERS__TELEGRAM__PORT": "8000"})
    telegram = settings.adapters["telegram"]
    assert isinstance(telegram, TelegramSettings)
    assert (telegram.mode, telegram.port) == ("webhook", 8000)


def test_variable_names_are_case_insensitive_after_the_prefix() -> None:
    settings = load_config(None, environ={"SESSIONBOT_Bot__Name": "mixed"})
    assert settings.bot.name == "mixed"


@pytest.mark.parametrize(
    "variable", ["SESSIONBOT_CONFIG", "SESSIONBOT_BOT", "sessionbot_bot__name", "BOT__NAME"]
)
def test_only_prefixed_variables_with_a_delimiter_are_options(variable: str) -> None:
    assert load_config(None, environ={variable: '{"name": "x"}'}) == load_config(None, environ={})


def test_the_process_environment_is_read_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SESSIONBOT_BOT__NAME", "from-os-environ")
    assert load_config(None).bot.name == "from-os-environ"


def test_settings_name_the_variables_the_loader_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    # Settings is a pydantic-settings model: on its own it reads the same variables.
    assert issubclass(Settings, BaseSettings)
    assert Settings.model_config.get("env_prefix") == ENV_PREFIX
    assert Settings.model_config.get("env_nested_delimiter") == ENV_NESTED_DELIMITER
    monkeypatch.setenv("SESSIONBOT_STORAGE__URL", "memory://")
    assert Settings() == load_config(None)


def test_env_origins() -> None:
    environ = {
        "SESSIONBOT_ADAPTERS__TELEGRAM__MODE": "webhook",
        "SESSIONBOT_BOT__ADMINS": "[not json",
        "SESSIONBOT_CONFIG": "config.toml",
        "HOME": "/root",
    }
    assert env_origins(environ) == {
        "adapters.telegram.mode": "SESSIONBOT_ADAPTERS__TELEGRAM__MODE",
        "bot.admins": "SESSIONBOT_BOT__ADMINS",
    }


def test_override_sets_several_keys_and_keeps_the_rest() -> None:
    base = load_config(None, environ={"SESSIONBOT_BOT__NAME": "kept"})
    values = {"adapters.console.user": "bob", "adapters.console.channel": "ops"}
    settings = override(base, values, label="--as")
    console = settings.adapters["console"]
    assert isinstance(console, ConsoleSettings)
    assert (console.user, console.channel) == ("bob", "ops")
    assert settings.bot.name == "kept"
    assert console.enabled is True


# A plugin's own section ---------------------------------------------------------------


class PluginRoot(BaseSettings):
    """A root model whose adapter tables are left for each plugin to validate."""

    model_config = SettingsConfigDict(
        extra="forbid", frozen=True, env_prefix="SESSIONBOT_", env_nested_delimiter="__"
    )

    bot: BotSettings = BotSettings()
    adapters: dict[str, Any] = {}


def test_a_dict_section_comes_back_as_read(tmp_path: Path) -> None:
    path = write(tmp_path, '[adapters.telegram]\nmode = "webhook"\nport = 9000\n')
    environ = {
        "SESSIONBOT_ADAPTERS__TELEGRAM__PORT": "8000",
        "SESSIONBOT_ADAPTERS__TELEGRAM__ENABLED": "true",
        "SESSIONBOT_ADAPTERS__CONSOLE__ENABLED": "false",
        "SESSIONBOT_ADAPTERS__DISCORD__GUILD_IDS": "[1, 2]",
    }
    root = load_settings_model(PluginRoot, path, environ=environ)
    # Text stays text, for the plugin's model to coerce; JSON-looking text is JSON.
    assert root.adapters == {
        "telegram": {"mode": "webhook", "port": "8000", "enabled": "true"},
        "console": {"enabled": "false"},
        "discord": {"guild_ids": [1, 2]},
    }
    telegram = validate_section(
        TelegramSettings,
        root.adapters["telegram"],
        label=str(path),
        prefix="adapters.telegram",
        origins=env_origins(environ),
    )
    assert (telegram.enabled, telegram.mode, telegram.port) == (True, "webhook", 8000)


def test_a_dict_section_keeps_the_one_line_errors(tmp_path: Path) -> None:
    path = write(tmp_path, "[bot]\nnmae = 1\n")
    message = error_for_model(path, {"SESSIONBOT_ADAPTERS__X": "[oops"})
    assert (
        message
        == "$SESSIONBOT_ADAPTERS__X: invalid JSON: Expecting value: line 1 column 2 (char 1)"
    )
    assert error_for_model(path, {}) == f"{path}: bot.nmae: unknown key"


def error_for_model(path: Path, environ: dict[str, str]) -> str:
    with pytest.raises(ConfigError) as caught:
        load_settings_model(PluginRoot, path, environ=environ)
    return str(caught.value)


def test_validate_section_names_the_file_and_the_whole_key() -> None:
    with pytest.raises(ConfigError) as caught:
        validate_section(
            TelegramSettings,
            {"mode": "push", "tokn_env": "X"},
            label="config.toml",
            prefix="adapters.telegram",
        )
    assert str(caught.value) == (
        "config.toml: adapters.telegram.mode: input should be 'polling' or 'webhook', "
        "got 'push'; config.toml: adapters.telegram.tokn_env: unknown key"
    )


def test_validate_section_names_the_variable_that_set_the_value() -> None:
    environ = {"SESSIONBOT_ADAPTERS__TELEGRAM__MODE": "push"}
    with pytest.raises(ConfigError) as caught:
        validate_section(
            TelegramSettings,
            {"mode": "push", "port": 8443},
            label="config.toml",
            prefix="adapters.telegram",
            origins=env_origins(environ),
        )
    assert str(caught.value) == (
        "$SESSIONBOT_ADAPTERS__TELEGRAM__MODE: adapters.telegram.mode: "
        "input should be 'polling' or 'webhook', got 'push'"
    )


def test_validate_section_of_a_value_that_is_not_a_table() -> None:
    with pytest.raises(ConfigError) as caught:
        validate_section(
            TelegramSettings,
            "on",  # type: ignore[arg-type]
            label="config.toml",
            prefix="adapters.telegram",
        )
    assert str(caught.value) == "config.toml: adapters.telegram: expected a table, got 'on'"


def test_validate_section_model_validators_name_the_table() -> None:
    with pytest.raises(ConfigError) as caught:
        validate_section(
            TelegramSettings,
            {"mode": "webhook", "secret_token_env": ""},
            label="config.toml",
            prefix="adapters.telegram",
        )
    assert str(caught.value) == (
        "config.toml: adapters.telegram: webhook mode needs secret_token_env, "
        "the environment variable holding the webhook's secret token"
    )


# Typed in the file, text in the environment ------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "key", "expected"),
    [
        ("SESSIONBOT_SESSIONS__IDLE_RESET_MINUTES", "30", ("sessions", "idle_reset_minutes"), 30),
        (
            "SESSIONBOT_SESSIONS__DAILY_RESET_GRACE_MINUTES",
            " 525600 ",
            ("sessions", "daily_reset_grace_minutes"),
            525600,
        ),
        ("SESSIONBOT_STORAGE__RETENTION_DAYS", "36500", ("storage", "retention_days"), 36500),
        ("SESSIONBOT_STORAGE__KEEP_CHECKPOINTED", "false", ("storage", "keep_checkpointed"), False),
        ("SESSIONBOT_SESSIONS__NOTIFY_ON_RESET", "yes", ("sessions", "notify_on_reset"), True),
        ("SESSIONBOT_ENCRYPTION__ENABLED", "0", ("encryption", "enabled"), False),
        ("SESSIONBOT_CONTEXT__LIVE_CONVERSATIONS", "0", ("context", "live_conversations"), 0),
        ("SESSIONBOT_BOT__RATE_LIMIT_PER_MINUTE", "6000", ("bot", "rate_limit_per_minute"), 6000),
    ],
)
def test_the_environments_text_is_read_as_the_options_type(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, key: tuple[str, str], expected: Any
) -> None:
    section, option = key
    loaded = getattr(load_config(None, environ={variable: value}), section)
    assert getattr(loaded, option) == expected
    assert type(getattr(loaded, option)) is type(expected)
    monkeypatch.setenv(variable, value)  # Settings() on its own reads them the same way
    assert getattr(getattr(Settings(), section), option) == expected


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        (
            "SESSIONBOT_STORAGE__RETENTION_DAYS",
            "3000000",
            "storage.retention_days: input should be less than or equal to 36500, got '3000000'",
        ),
        (
            "SESSIONBOT_SESSIONS__IDLE_RESET_MINUTES",
            "\u0663\u0660",
            "sessions.idle_reset_minutes: input should be a valid integer, unable to parse "
            "string as an integer, got '\u0663\u0660'",
        ),
        (
            "SESSIONBOT_STORAGE__KEEP_CHECKPOINTED",
            "maybe",
            "storage.keep_checkpointed: input should be a valid boolean, unable to interpret "
            "input, got 'maybe'",
        ),
        (
            "SESSIONBOT_SESSIONS__DAILY_RESET_TIME",
            "\u0660\u0664:\u0660\u0660",
            "sessions.daily_reset_time: expected HH:MM (24-hour) or off, "
            "not '\u0660\u0664:\u0660\u0660'",
        ),
        (
            "SESSIONBOT_BOT__NAME",
            "my bot",
            "bot.name: 'my bot' is not a bot username: 1 to 64 letters, digits, _ or -, "
            "without spaces or @",
        ),
        # JSON is typed, as TOML is: a quoted number in it is text, not a number.
        (
            "SESSIONBOT_SESSIONS__OVERRIDES",
            '[{"idle_reset_minutes": "5"}]',
            "sessions.overrides[0].idle_reset_minutes: input should be an integer (not text, "
            "a boolean or a float), got '5'",
        ),
    ],
)
def test_the_environment_keeps_the_bounds(variable: str, value: str, expected: str) -> None:
    assert error_for(None, {variable: value}) == f"${variable}: {expected}"


def test_typed_json_in_the_environment_is_accepted() -> None:
    variable = "SESSIONBOT_SESSIONS__OVERRIDES"
    settings = load_config(
        None, environ={variable: '[{"is_direct": true, "idle_reset_minutes": 5}]'}
    )
    (override_,) = settings.sessions.overrides
    assert (override_.is_direct, override_.idle_reset_minutes) == (True, 5)


def test_override_keeps_typed_values(tmp_path: Path) -> None:
    base = load_config(write(tmp_path, "[storage]\nretention_days = 30\n"), environ={})
    changed = override(base, {"sessions.idle_reset_minutes": 15}, label="--idle")
    assert (changed.storage.retention_days, changed.sessions.idle_reset_minutes) == (30, 15)
    with pytest.raises(ConfigError, match=r"^--idle: sessions.idle_reset_minutes: .*got True$"):
        override(base, {"sessions.idle_reset_minutes": True}, label="--idle")
