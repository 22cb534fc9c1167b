"""Validating the tables plugins own: ``[adapters.<name>]`` and ``[responder]``.

Each installed adapter plugin validates its own table with its settings model, and
the responder plugin that ``[responder] kind`` names validates ``[responder]``. The
functions here run inside :class:`bot.settings.Settings`' validation, and raise
pydantic's ``ValidationError`` with each problem located under its table, so
:func:`bot.config.validate_settings` reports them in the same one-line form as any
other key ("FILE: adapters.<name>.<key>: …").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from adapters.base import AdapterPlugin, AdapterSettings
from bot.plugins import adapter_plugins, responder_plugins
from bot.responders import DEFAULT_KIND, ResponderSettings


def adapter_tables(tables: object) -> object:
    """Validate ``[adapters.*]``: every installed adapter's table.

    A table left out means the plugin's defaults; a plugin whose settings have no
    defaults (a path to give, say) is left out until its table gives them.

    Returns:
        Adapter name to its validated settings; anything but a table is returned
        as it is, for pydantic to refuse.

    Raises:
        ValidationError: a table holds a bad value, or no plugin owns a table.
    """
    if not isinstance(tables, Mapping):
        return tables
    installed = adapter_plugins()
    errors = [
        _error(_not_here(name, installed.plugins.get(name), installed.describe), (name,), table)
        for name, table in tables.items()
        if name not in installed.plugins or installed.plugins[name].table is not None
    ]
    sections: dict[str, AdapterSettings] = {}
    for name, plugin in installed.plugins.items():
        if plugin.table is not None:
            continue
        try:
            sections[name] = plugin.settings_model.model_validate(tables.get(name, {}))
        except ValidationError as error:
            if name in tables:
                errors += [_moved(item, name) for item in error.errors()]
    if errors:
        raise ValidationError.from_exception_data("adapters", errors)
    return sections


def _not_here(name: str, plugin: AdapterPlugin[Any] | None, describe: Any) -> str:
    if plugin is not None and plugin.table is not None:
        return f"the {name} adapter is configured in [{plugin.table}], not here"
    return str(describe(name, "adapter"))


def table_owner(table: str) -> AdapterPlugin[Any] | None:
    """Return the installed adapter plugin whose settings are the top-level ``table``."""
    return next((p for p in adapter_plugins().plugins.values() if p.table == table), None)


def own_table(table: str, value: object) -> object:
    """Validate a top-level adapter table (``[api]``) with its plugin's settings model.

    Without an installed plugin that owns it, the table may only say it is off.

    Raises:
        ValidationError: a bad value, or an enabled table no plugin owns.
    """
    if not isinstance(value, Mapping):
        return value
    plugin = table_owner(table)
    if plugin is not None:
        try:
            settings: AdapterSettings = plugin.settings_model.model_validate(value)
        except ValidationError as error:
            raise ValidationError.from_exception_data(
                table, [_moved_to(item, ()) for item in error.errors()]
            ) from None
        return settings
    if value.get("enabled"):
        problem = f"no installed adapter plugin provides [{table}]"
        raise ValidationError.from_exception_data(table, [_error(problem, ("enabled",), True)])
    return AdapterSettings()


def responder_table(table: object) -> object:
    """Validate ``[responder]`` with the settings model of the plugin ``kind`` names.

    Raises:
        ValidationError: ``kind`` names no installed responder, or a bad value.
    """
    if not isinstance(table, Mapping):
        return table
    kind = table.get("kind", DEFAULT_KIND)
    installed = responder_plugins()
    plugin = installed.plugins.get(kind) if isinstance(kind, str) else None
    if plugin is None:
        problem = installed.describe(str(kind), "responder")
        raise ValidationError.from_exception_data("responder", [_error(problem, ("kind",), kind)])
    settings: ResponderSettings = plugin.settings_model.model_validate(table)
    return settings


def _moved(item: Any, table: str) -> InitErrorDetails:
    """Return a plugin model's error as found under ``table``, its text unchanged."""
    return _moved_to(item, (table,))


def _moved_to(item: Any, prefix: tuple[str, ...]) -> InitErrorDetails:
    error = PydanticCustomError(item["type"], item["msg"])  # no context: used as it is
    return {"type": error, "loc": (*prefix, *item["loc"]), "input": item["input"]}


def _error(message: str, loc: tuple[int | str, ...], value: object) -> InitErrorDetails:
    # A value error: the message names the value itself.
    return {"type": PydanticCustomError("value_error", message), "loc": loc, "input": value}
