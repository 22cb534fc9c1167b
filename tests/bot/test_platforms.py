"""Adapters and responders as bot builds them: from the installed plugins."""

from __future__ import annotations

import os

import pytest

from adapters.base import AdapterContext
from adapters.telegram import TelegramSettings, telegram_secrets
from bot.config import validate_settings
from bot.platforms import build_adapters, build_responder, check_secrets
from bot.plugins import adapter_plugins, responder_plugins
from core import EchoResponder
from core.errors import ConfigError
from core.models import Inbound, Reply

TOKEN = "123456:secret-token"


async def handler(inbound: Inbound) -> list[Reply]:
    return []


CONTEXT = AdapterContext(handler, (("new", "Start"),), "sessionbot")


def telegram(**options: object) -> TelegramSettings:
    raw = {"adapters": {"telegram": {"enabled": True, **options}}}
    section = validate_settings(raw, label="test").adapters["telegram"]
    assert isinstance(section, TelegramSettings)
    return section


@pytest.fixture(autouse=True)
def telegram_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET", "MY_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def test_console_telegram_and_echo_are_installed_through_entry_points() -> None:
    assert set(adapter_plugins().plugins) >= {"console", "telegram"}
    assert "echo" in responder_plugins().plugins
    assert adapter_plugins().broken == {}


def test_the_token_comes_from_the_variable_token_env_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_TOKEN", TOKEN)
    assert telegram_secrets(telegram(token_env="MY_TOKEN")) == (TOKEN, None)


def test_a_missing_token_is_one_line_naming_the_variable() -> None:
    settings = validate_settings({"adapters": {"telegram": {"enabled": True}}}, label="test")
    with pytest.raises(ConfigError) as caught:
        check_secrets(settings)
    assert str(caught.value) == (
        "adapters.telegram.token_env: environment variable TELEGRAM_BOT_TOKEN is not set"
    )


def test_a_disabled_adapter_needs_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    settings = validate_settings({}, label="test")
    assert "telegram" not in settings.enabled_adapters()
    assert check_secrets(settings) is None  # nothing raised for the missing token


def test_webhook_mode_needs_its_secret_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    webhook = telegram(mode="webhook")
    with pytest.raises(ConfigError, match="TELEGRAM_WEBHOOK_SECRET is not set"):
        telegram_secrets(webhook)
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "not/allowed")
    with pytest.raises(ConfigError, match="1-256 characters") as caught:
        telegram_secrets(webhook)
    assert "not/allowed" not in str(caught.value)
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "s3cret_Token-1")
    assert telegram_secrets(webhook) == (TOKEN, "s3cret_Token-1")


def test_the_plugin_builds_the_adapter_from_its_section(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    # The plugin opts python-telegram-bot in to timedelta durations, without
    # overriding an operator's choice; monkeypatch restores the variable after.
    monkeypatch.setenv("PTB_TIMEDELTA", "unset")
    monkeypatch.delenv("PTB_TIMEDELTA")
    plugin = adapter_plugins().plugins["telegram"]
    adapter = plugin.build(telegram(base_url="http://127.0.0.1:9"), CONTEXT)
    assert adapter.name == "telegram"
    assert os.environ["PTB_TIMEDELTA"] == "1"
    monkeypatch.setenv("PTB_TIMEDELTA", "0")
    plugin.build(telegram(), CONTEXT)
    assert os.environ["PTB_TIMEDELTA"] == "0"


def test_the_plugin_refuses_webhook_mode_without_a_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    with pytest.raises(ConfigError, match="TELEGRAM_WEBHOOK_SECRET"):
        adapter_plugins().plugins["telegram"].build(telegram(mode="webhook"), CONTEXT)


def test_only_the_enabled_adapters_are_built(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    console_only = validate_settings({}, label="test")
    assert [a.name for a in build_adapters(console_only, CONTEXT)] == ["console"]
    both = validate_settings({"adapters": {"telegram": {"enabled": True}}}, label="test")
    assert [a.name for a in build_adapters(both, CONTEXT)] == ["console", "telegram"]


def test_the_responder_is_the_one_kind_names() -> None:
    settings = validate_settings({"responder": {"kind": "echo"}}, label="test")
    assert isinstance(build_responder(settings), EchoResponder)
    assert validate_settings({}, label="test").responder.kind == "echo"
