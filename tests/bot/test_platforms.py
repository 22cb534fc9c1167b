from __future__ import annotations

import os

import pytest

from bot.config import validate_settings
from bot.platforms import ADAPTERS, AdapterContext, check_secrets, telegram_secrets
from core.errors import ConfigError
from core.models import Inbound, Reply

TOKEN = "123456:secret-token"


async def handler(inbound: Inbound) -> list[Reply]:
    return []


def context(**telegram: object) -> AdapterContext:
    raw = {"adapters": {"telegram": {"enabled": True, **telegram}}}
    return AdapterContext(validate_settings(raw, label="test"), handler, (("new", "Start"),))


@pytest.fixture(autouse=True)
def telegram_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TELEGRAM_BOT_TOKEN", "TELEGRAM_WEBHOOK_SECRET", "MY_TOKEN"):
        monkeypatch.delenv(name, raising=False)


def test_the_token_comes_from_the_variable_token_env_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_TOKEN", TOKEN)
    assert telegram_secrets(context(token_env="MY_TOKEN").settings) == (TOKEN, None)


def test_a_missing_token_is_one_line_naming_the_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        check_secrets(context().settings)
    assert str(caught.value) == (
        "adapters.telegram.token_env: environment variable TELEGRAM_BOT_TOKEN is not set"
    )


def test_a_disabled_adapter_needs_no_secret() -> None:
    check_secrets(validate_settings({}, label="test"))


def test_webhook_mode_needs_its_secret_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    webhook = context(mode="webhook").settings
    with pytest.raises(ConfigError, match="TELEGRAM_WEBHOOK_SECRET is not set"):
        check_secrets(webhook)
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "not/allowed")
    with pytest.raises(ConfigError, match="1-256 characters") as caught:
        check_secrets(webhook)
    assert "not/allowed" not in str(caught.value)
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "s3cret_Token-1")
    assert telegram_secrets(webhook) == (TOKEN, "s3cret_Token-1")


def test_the_factory_builds_the_adapter_from_its_section(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    # The factory opts python-telegram-bot in to timedelta durations, without
    # overriding an operator's choice; monkeypatch restores the variable after.
    monkeypatch.setenv("PTB_TIMEDELTA", "unset")
    monkeypatch.delenv("PTB_TIMEDELTA")
    adapter = ADAPTERS["telegram"](context(base_url="http://127.0.0.1:9"))
    assert adapter.name == "telegram"
    assert os.environ["PTB_TIMEDELTA"] == "1"
    monkeypatch.setenv("PTB_TIMEDELTA", "0")
    ADAPTERS["telegram"](context())
    assert os.environ["PTB_TIMEDELTA"] == "0"


def test_the_factory_refuses_webhook_mode_without_a_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    with pytest.raises(ConfigError, match="TELEGRAM_WEBHOOK_SECRET"):
        ADAPTERS["telegram"](context(mode="webhook"))
