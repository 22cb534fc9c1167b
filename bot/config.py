"""Configuration: one TOML file plus environment variables, into :class:`Settings`.

Loading is pydantic-settings' work. :func:`load_config` hands the root model two of
its sources, highest priority first:

* an :class:`~pydantic_settings.EnvSettingsSource` reading ``SESSIONBOT_<SECTION>__<KEY>``
  variables (``env_prefix="SESSIONBOT_"``, ``env_nested_delimiter="__"``, names
  case-insensitive; ``SESSIONBOT_ADAPTERS__CONSOLE__ENABLED=false`` reaches a table
  inside a table). Only variables with a ``__`` after the prefix count, so the CLI's
  own ``SESSIONBOT_CONFIG`` is not an option. A value that starts with ``[`` or ``{``
  is JSON (``SESSIONBOT_BOT__ADMINS='["console:alice"]'``); anything else is text that
  options typed :data:`~bot.option_types.ConfigInt` or
  :data:`~bot.option_types.ConfigBool` read as a number (``"42"``) or a boolean
  (``"false"``), where the file must give them a TOML integer or boolean;
* a :class:`~pydantic_settings.TomlConfigSettingsSource` reading the file chosen at
  run time;

and pydantic-settings merges them over the model's defaults and validates the result.

Whatever is wrong raises one :class:`~core.errors.ConfigError` whose message is one line
naming the file (or the ``$SESSIONBOT_…`` variable that set the bad value), the dotted
key and the problem. :func:`validate_section` gives a plugin's own table the same
messages; :func:`env_origins` tells which variable set which key.

Secrets never live in the file: an option ending in ``_env`` names the environment
variable that holds the secret, read with :func:`secret_from_env`.
"""

from __future__ import annotations

import errno
import json
import os
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    TomlConfigSettingsSource,
)

from adapters.base import secret_from_env
from bot.option_types import as_env_text
from bot.settings import Settings
from core.errors import ConfigError

__all__ = [
    "DEFAULTS_LABEL",
    "ENV_NESTED_DELIMITER",
    "ENV_PREFIX",
    "Settings",
    "env_origins",
    "load_config",
    "load_settings_model",
    "override",
    "secret_from_env",
    "validate_section",
    "validate_settings",
]

ENV_PREFIX = "SESSIONBOT_"
ENV_NESTED_DELIMITER = "__"
DEFAULTS_LABEL = "built-in defaults"

# Errors pydantic reports on a table (a dict) about the table itself; any other error
# whose input is a dict says that the option wanted a value, not a table.
_TABLE_ERRORS = frozenset(
    {"value_error", "assertion_error", "missing", "extra_forbidden", "too_short", "too_long"}
)

ModelT = TypeVar("ModelT", bound=BaseModel)
SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def load_config(path: Path | None, *, environ: Mapping[str, str] | None = None) -> Settings:
    """Load the configuration: defaults, then the TOML file, then the environment.

    Args:
        path: the TOML file; ``None`` for the built-in defaults.
        environ: environment to read ``SESSIONBOT_<SECTION>__<KEY>`` variables from;
            ``os.environ`` by default.

    Raises:
        ConfigError: the file is missing or unreadable, is not valid TOML, or holds
            a bad value, or a variable does; the message is one line naming the file
            or the variable, and the key.
    """
    return load_settings_model(Settings, path, environ=environ)


def load_settings_model(
    model: type[SettingsT], path: Path | None, *, environ: Mapping[str, str] | None = None
) -> SettingsT:
    """Load any pydantic-settings root model the way :func:`load_config` loads Settings.

    Sections typed ``dict[str, Any]`` come back as read, for :func:`validate_section`.

    Args:
        model: the root model.
        path: the TOML file; ``None`` for the model's defaults.
        environ: environment to read ``SESSIONBOT_<SECTION>__<KEY>`` variables from;
            ``os.environ`` by default.

    Raises:
        ConfigError: as for :func:`load_config`.
    """
    file = [] if path is None else [_toml_source(model, path)]  # read first: its errors first
    variables = _overrides(os.environ if environ is None else environ)
    for name in sorted(variables):
        _check_json(name, variables[name])
    environment = _EnvironmentSource(model, variables)
    label = str(path) if path is not None else DEFAULTS_LABEL
    return _build(model, [environment, *file], label=label, origins=_origins(variables))


def env_origins(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Tell which environment variable sets which option.

    Args:
        environ: the environment; ``os.environ`` by default.

    Returns:
        Dotted key (``adapters.telegram.mode``) to the name of the variable that sets
        it (``SESSIONBOT_ADAPTERS__TELEGRAM__MODE``), for :func:`validate_section`.
    """
    return _origins(_overrides(os.environ if environ is None else environ))


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
    return validate_section(Settings, raw, label=label, prefix="", origins=origins)


def validate_section(
    model: type[ModelT],
    data: Mapping[str, Any],
    *,
    label: str,
    prefix: str,
    origins: Mapping[str, str] | None = None,
) -> ModelT:
    """Validate one table of the configuration, such as a plugin's own section.

    Args:
        model: the pydantic model of the table.
        data: the table as read, tables inside it as dicts.
        label: where the data came from (usually the file) for error messages.
        prefix: the table's dotted name (``adapters.telegram``), so that errors name
            the whole key (``adapters.telegram.mode``); empty for the root.
        origins: dotted key to the environment variable that set it, as
            :func:`env_origins` returns; an error about such a key names the variable.

    Raises:
        ConfigError: one line such as ``FILE: adapters.telegram.mode: …`` or
            ``$SESSIONBOT_ADAPTERS__TELEGRAM__MODE: adapters.telegram.mode: …``.
    """
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise _config_error(error, label, prefix, origins or {}) from None


def override(settings: Settings, values: Mapping[str, Any], *, label: str) -> Settings:
    """Return ``settings`` with dotted keys replaced, validated again.

    Used for command-line options such as ``sessionbot run --as bob``.

    Raises:
        ConfigError: a value is invalid; ``label`` names the option.
    """
    model = type(settings)
    sources = [InitSettingsSource(model, _table(key, value)) for key, value in values.items()]
    sources.append(InitSettingsSource(model, settings.model_dump(mode="python")))
    return _build(model, sources, label=label, origins={})


def _build(
    model: type[SettingsT],
    sources: Sequence[PydanticBaseSettingsSource],
    *,
    label: str,
    origins: Mapping[str, str],
) -> SettingsT:
    """Let pydantic-settings merge ``sources`` (first wins) over the defaults, and validate."""
    try:
        # ``_build_sources`` is BaseSettings' documented way to pass sources built at run
        # time; its leading underscore only keeps it apart from field names.
        return model(_build_sources=(tuple(sources), {}))
    except ValidationError as error:
        raise _config_error(error, label, "", origins) from None


def _table(dotted: str, value: Any) -> dict[str, Any]:
    """Return ``("a.b", 1)`` as ``{"a": {"b": 1}}``."""
    *tables, key = dotted.split(".")
    table = {key: value}
    for name in reversed(tables):
        table = {name: table}
    return table


# The file ---------------------------------------------------------------------------


def _toml_source(model: type[BaseSettings], path: Path) -> TomlConfigSettingsSource:
    try:
        _require_a_file(path)
        return TomlConfigSettingsSource(model, toml_file=path)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: invalid TOML: {error}") from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path}: not UTF-8 text: {error.reason}") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from None


def _require_a_file(path: Path) -> None:
    """Raise the error reading ``path`` would, where the TOML source would skip it."""
    path.stat()  # FileNotFoundError, or PermissionError on the way to it
    if path.is_dir():
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
    if not path.is_file():
        raise OSError(errno.EINVAL, "not a regular file", str(path))


# The environment ----------------------------------------------------------------------


class _EnvironmentSource(EnvSettingsSource):
    """pydantic-settings' environment source, reading the given variables only.

    Args:
        model: the settings model.
        variables: the ``SESSIONBOT_<SECTION>__<KEY>`` variables, as :func:`_overrides`
            picks them, their JSON checked.
    """

    def __init__(self, model: type[BaseSettings], variables: Mapping[str, str]) -> None:
        super().__init__(
            model,
            case_sensitive=False,
            env_prefix=ENV_PREFIX,
            env_nested_delimiter=ENV_NESTED_DELIMITER,
        )
        # load_config takes the environment as an argument (tests inject one): this
        # replaces what the source read from os.environ. EnvText marks the values as
        # text to read, where the file's values must have their type (bot.option_types).
        self.env_vars = as_env_text(variables)

    def decode_complex_value(self, field_name: str, field: FieldInfo, value: Any) -> Any:
        """Read JSON only from text that looks like it; pydantic coerces the rest.

        pydantic-settings would also decode ``false`` or ``42`` meant for a table typed
        ``dict[str, Any]``, and a plugin's model would then see a bool where it wants
        the string ``"false"``.
        """
        if not _looks_like_json(value):
            return value
        return super().decode_complex_value(field_name, field, value)

    def __call__(self) -> dict[str, Any]:
        """Return the options the variables set, unknown sections included.

        pydantic-settings reads variables for the model's fields only; a variable
        for a section the model lacks is kept too, so that validation calls it an
        unknown key instead of ignoring a typo.
        """
        data = super().__call__()
        table = FieldInfo.from_annotation(dict[str, Any])
        for section in self._unknown_sections():
            data[section] = self.explode_env_vars(section, table, self.env_vars)
        return data

    def _unknown_sections(self) -> set[str]:
        known = {name.lower() for name in self.settings_cls.model_fields}
        named = {name[len(ENV_PREFIX) :].split(ENV_NESTED_DELIMITER)[0] for name in self.env_vars}
        return named - known


def _overrides(environ: Mapping[str, str]) -> dict[str, str]:
    """Return the ``SESSIONBOT_<SECTION>__<KEY>`` variables of ``environ``."""
    return {
        name: value
        for name, value in environ.items()
        if name.startswith(ENV_PREFIX) and ENV_NESTED_DELIMITER in name[len(ENV_PREFIX) :]
    }


def _origins(variables: Mapping[str, str]) -> dict[str, str]:
    return {_dotted_key(name): name for name in sorted(variables)}


def _check_json(name: str, value: str) -> None:
    """Raise ConfigError if ``value`` starts with ``[`` or ``{`` but is not valid JSON."""
    if not _looks_like_json(value):
        return
    try:
        json.loads(value)
    except json.JSONDecodeError as error:
        raise ConfigError(f"${name}: invalid JSON: {error}") from None


def _looks_like_json(value: object) -> bool:
    return isinstance(value, str) and value.lstrip().startswith(("[", "{"))


def _dotted_key(variable: str) -> str:
    """Return ``SESSIONBOT_BOT__ADMINS`` as ``bot.admins``."""
    return variable[len(ENV_PREFIX) :].lower().replace(ENV_NESTED_DELIMITER, ".")


# Error messages ---------------------------------------------------------------------


def _config_error(
    error: ValidationError, label: str, prefix: str, origins: Mapping[str, str]
) -> ConfigError:
    problems = [_describe(item, label, prefix, origins) for item in error.errors()]
    return ConfigError("; ".join(problems))


def _describe(item: Mapping[str, Any], label: str, prefix: str, origins: Mapping[str, str]) -> str:
    dotted = _dotted(item["loc"], prefix)
    key, variable = next(((k, v) for k, v in origins.items() if _covers(k, dotted)), ("", ""))
    source = f"${variable}" if variable else label
    if item["type"] == "extra_forbidden":
        return f"{source}: {dotted}: unknown key"
    if item["type"] == "model_type":
        return f"{source}: {dotted}: expected a table, got {item['input']!r}"
    if key.startswith(dotted + ".") and _not_a_table(item):
        return f"{source}: {dotted} is a value, not a table"
    message = str(item["msg"]).removeprefix("Value error, ")
    message = message[:1].lower() + message[1:]
    if item["type"] not in ("value_error", "missing") and _is_scalar(item.get("input")):
        message += f", got {item['input']!r}"
    return f"{source}: {dotted}: {message}"


def _dotted(loc: Sequence[int | str], prefix: str = "") -> str:
    """Return ``("sessions", "overrides", 0, "timezone")`` as ``sessions.overrides[0].timezone``."""
    text = prefix
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else part
    return text


def _covers(key: str, dotted: str) -> bool:
    """Tell whether an override of ``key`` set the value an error at ``dotted`` is about."""
    inside = dotted.startswith((key + ".", key + "["))
    return dotted == key or inside or key.startswith(dotted + ".")


def _not_a_table(item: Mapping[str, Any]) -> bool:
    """Tell whether the error is that a table was given where a value belongs."""
    return isinstance(item.get("input"), dict) and item["type"] not in _TABLE_ERRORS


def _is_scalar(value: object) -> bool:
    return isinstance(value, str | int | float | bool)
