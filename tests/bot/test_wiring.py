from __future__ import annotations

from adapters.base import AdapterPlugin
from adapters.console import ConsoleSettings
from adapters.console import build as build_console
from bot.config import validate_settings
from bot.wiring import operator_platforms, router_settings
from core.models import Inbound


def test_only_enabled_platforms_of_operator_only_plugins_are_unlimited() -> None:
    settings = validate_settings(
        {"bot": {"rate_limit_per_minute": 5}, "adapters": {"telegram": {"enabled": False}}},
        label="test",
    )
    assert operator_platforms(settings) == {"console"}
    unlimited = router_settings(settings, operator_platforms(settings))
    assert not unlimited.is_rate_limited(Inbound("console", "console", "local", "x"))
    assert unlimited.is_rate_limited(Inbound("telegram", "1", "2", "x"))

    disabled = validate_settings({"adapters": {"console": {"enabled": False}}}, label="test")
    assert operator_platforms(disabled) == frozenset()


def test_a_plugin_that_does_not_say_so_is_rate_limited() -> None:
    settings = validate_settings({}, label="test")
    plain = {"console": AdapterPlugin("console", ConsoleSettings, build_console)}
    assert operator_platforms(settings, plain) == frozenset()
