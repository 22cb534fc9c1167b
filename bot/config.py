"""Configuration: one TOML file plus environment overrides, into :class:`Settings`.

Sources, later ones winning: the defaults in :mod:`bot.settings`, the TOML file,
then environment variables named ``SESSIONBOT_<SECTION>__<KEY>`` (``__`` separates
each level, so ``SESSIONBOT_ADAPTERS__CONSOLE__ENABLED=false`` works too). A value
that starts with ``[`` or ``{`` is read as JSON; anything else is left to pydantic
to coerce (``"42"`` to an int, ``"false"`` to a bool).

Whatever is wrong, :func:`load_config` raises one :class:`~core.errors.ConfigError`
whose message is one line naming the file (or environment variable), the dotted key
and the problem.

Secrets never live in the file: an option ending in ``_env`` names the environment
variable that holds the secret, read with :func:`secret_from_env`.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bot.settings import Settings
from core.errors import ConfigError

__all__ = [
    "DEFAULTS_LABEL",
    "ENV_PREFIX",
    "Settings",
    "apply_env_overrides",
    "load_config",
    "override",
    "secret_from_env",
    "validate_settings",
]

ENV_PREFIX = "SESSIONBOT_"
DEFAULTS_LABEL = "built-in defaults"

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def load_config(path: Path | None, *, environ: Mapping[str, str] | None = None) -> Settings:
    """Load the configuration.

    Args:
        path: the TOML file; ``None`` for the built-in defaults.
        environ: environment to read overrides from; ``os.environ`` by default.

    Raises:
        ConfigError: the file is missing or unreadable, is not valid TOML, or holds
            a bad value; the message is one line naming the file and the key.
    """
    label = str(path) if path is not None else DEFAULTS_LABEL
    raw = _read_toml(path) if path is not None else {}
    origins = apply_env_overrides(raw, os.environ if environ is None else environ)
    return validate_settings(raw, label=label, origins=origins)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML: {error}") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text: {error.reason}") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from None


def apply_env_overrides(raw: dict[str, Any], environ: Mapping[str, str]) -> dict[str, str]:
    """Merge ``SESSIONBOT_<SECTION>__<KEY>`` variables into ``raw``, in place.

    Returns:
        Dotted key to the name of the variable that set it, to name it in errors.
    """
    origins: dict[str, str] = {}
    for variable in sorted(environ):
        if not variable.startswith(ENV_PREFIX) or "__" not in variable:
            continue  # e.g. SESSIONBOT_CONFIG: a setting of the CLI, not an override
        keys = variable[len(ENV_PREFIX) :].lower().split("__")
        _set_dotted(raw, keys, _env_value(variable, environ[variable]), label=variable)
        origins[".".join(keys)] = variable
    return origins


def _env_value(variable: str, text: str) -> Any:
    if not text.lstrip().startswith(("[", "{")):
        return text
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"${variable}: invalid JSON: {error}") from None


def _set_dotted(raw: dict[str, Any], keys: list[str], value: Any, *, label: str) -> None:
    table = raw
    for depth, key in enumerate(keys[:-1]):
        table = table.setdefault(key, {})
        if not isinstance(table, dict):
            dotted = ".".join(keys[: depth + 1])
            raise ConfigError(f"${label}: {dotted} is a value, not a table")
    table[keys[-1]] = value


def validate_settings(
    raw: Mapping[str, Any], *, label: str, origins: Mapping[str, str] | None = None
) -> Settings:
    """Validate raw TOML-shaped data into :class:`Settings`.

    Args:
        raw: the data, tables as dicts.
        label: names where the data came from in error messages (usually the file).
        origins: dotted key to the environment variable that set it.

    Raises:
        ConfigError: one line naming the source, the key and what is wrong.
    """
    try:
        return Settings.model_validate(raw)
    except ValidationError as error:
        problems = [_describe(item, label, origins or {}) for item in error.errors()]
        raise ConfigError("; ".join(problems)) from None


def _describe(item: Mapping[str, Any], label: str, origins: Mapping[str, str]) -> str:
    dotted = _dotted(item["loc"])
    source = next(
        (f"${variable}" for key, variable in origins.items() if _covers(key, dotted)), label
    )
    if item["type"] == "extra_forbidden":
        return f"{source}: {dotted}: unknown key"
    if item["type"] == "model_type":
        return f"{source}: {dotted}: expected a table, got {item['input']!r}"
    message = str(item["msg"]).removeprefix("Value error, ")
    message = message[:1].lower() + message[1:]
    if item["type"] not in ("value_error", "missing") and _is_scalar(item.get("input")):
        message += f", got {item['input']!r}"
    return f"{source}: {dotted}: {message}"


def _dotted(loc: Sequence[int | str]) -> str:
    """Return ``("sessions", "overrides", 0, "timezone")`` as ``sessions.overrides[0].timezone``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
    return text


def _covers(key: str, dotted: str) -> bool:
    """Tell whether an override of ``key`` set the value an error at ``dotted`` is about."""
    inside = dotted.startswith((key + ".", key + "["))
    return dotted == key or inside or key.startswith(dotted + ".")


def _is_scalar(value: object) -> bool:
    return isinstance(value, str | int | float | bool)


def override(settings: Settings, values: Mapping[str, Any], *, label: str) -> Settings:
    """Return ``settings`` with dotted keys replaced, validated again.

    Used for command-line options such as ``sessionbot run --as bob``.

    Raises:
        ConfigError: a value is invalid; ``label`` names the option.
    """
    raw = settings.model_dump(mode="python")
    for dotted, value in values.items():
        _set_dotted(raw, dotted.split("."), value, label=label)
    return validate_settings(raw, label=label)


def secret_from_env(name: str, *, key: str) -> str:
    """Read a secret from the environment variable an ``*_env`` option names.

    Args:
        name: the variable's name, as written in the config.
        key: the dotted option that named it, for the error message.

    Raises:
        ConfigError: the name is not a valid variable name, or the variable is
            unset or empty.
    """
    if not _ENV_NAME.fullmatch(name):
        raise ConfigError(f"{key}: {name!r} is not an environment variable name")
    value = os.environ.get(name, "")
    if not value.strip():
        raise ConfigError(f"{key}: environment variable {name} is not set")
    return value
