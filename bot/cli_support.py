"""What every ``sessionbot`` subcommand shares: ``--config``, settings, error mapping."""

from __future__ import annotations

import asyncio
import functools
import os
from collections.abc import Callable, Coroutine
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click

from bot.config import DEFAULTS_LABEL, Settings, load_config
from core.errors import ConfigError, SessionbotError
from core.sessions.notices import format_time

CONFIG_ENV = "SESSIONBOT_CONFIG"
LOCAL_CONFIG = Path("config.toml")

P = ParamSpec("P")
T = TypeVar("T")


class Failure(click.ClickException):
    """A user-facing error: one line on stderr, exit status 1, no traceback."""

    exit_code = 1


class ConfigFailure(Failure):
    """A configuration error: one line on stderr, exit status 2."""

    exit_code = 2


class UsageFailure(Failure):
    """A bad command-line value: one line on stderr naming the option, exit status 2."""

    exit_code = 2


class WholeNumber(click.IntRange):
    """An option that takes a whole number within bounds, in ASCII digits.

    click's ``IntRange`` reads its value with ``int()``, which also takes ``1_000`` and
    other scripts' digits (Arabic-Indic U+0663), and its error comes with the usage
    text; this one refuses those and says what is wrong in one line.

    Args:
        minimum: the smallest value accepted.
        maximum: the largest value accepted; a bound from :mod:`core.limits`.
    """

    def __init__(self, minimum: int, maximum: int) -> None:
        super().__init__(minimum, maximum)
        self.minimum = minimum
        self.maximum = maximum

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        """Return the value as an int, or raise UsageFailure naming the option."""
        text = str(value).strip()
        # The length check keeps int() away from huge digit strings.
        digits = text.isascii() and text.isdigit() and len(text) <= len(str(self.maximum))
        if digits and self.minimum <= int(text) <= self.maximum:
            return int(text)
        name = param.opts[0] if param is not None and param.opts else "value"
        raise UsageFailure(
            f"{name}: expected a whole number from {self.minimum} to {self.maximum}, "
            f"got {text[:40]!r}"
        )


class Group(click.Group):
    """A click group that turns sessionbot's own errors into :class:`Failure`."""

    def invoke(self, ctx: click.Context) -> Any:
        """Run the subcommand; ConfigError exits 2, other SessionbotErrors exit 1."""
        try:
            return super().invoke(ctx)
        except ConfigError as error:
            raise ConfigFailure(str(error)) from error
        except SessionbotError as error:
            raise Failure(str(error)) from error


config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"TOML config file [default: ${CONFIG_ENV}, else ./{LOCAL_CONFIG} if present, "
    "else built-in defaults]",
)


def config_path_from(option: Path | None) -> Path | None:
    """Return the config file to load: the option, ``$SESSIONBOT_CONFIG``, ``./config.toml``."""
    if option is not None:
        return option
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    return LOCAL_CONFIG if LOCAL_CONFIG.is_file() else None


def load_settings(option: Path | None) -> tuple[Settings, str]:
    """Load the settings ``--config`` points at; returns them and their source's label."""
    path = config_path_from(option)
    return load_config(path), str(path) if path is not None else DEFAULTS_LABEL


def run_async(function: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, T]:
    """Let a click command be written as a coroutine function."""

    @functools.wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        return asyncio.run(function(*args, **kwargs))

    return wrapper


def local_time(when: datetime | None, zone: tzinfo) -> str:
    """Format a time in ``zone`` (a session's channel's, else the bot's), ``-`` for none."""
    if when is None:
        return "-"
    return format_time(when, zone)
