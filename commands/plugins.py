"""Where commands come from: the built-in families and third-party plugins.

A plugin is a distribution that declares an entry point in the ``sessionbot.commands``
group, pointing at a callable ``register(registry: Registry) -> None``::

    [project.entry-points."sessionbot.commands"]
    weather = "sessionbot_weather:register"

``register`` adds commands with the registry's decorators (or with
:meth:`Registry.include`). A plugin that fails to load or register is logged and
skipped, and leaves nothing half-registered.
"""

from __future__ import annotations

import inspect
import logging
from importlib.metadata import EntryPoint, entry_points

# Importing these registers their subcommands in the families above them.
import commands.history_search
import commands.session_tags  # noqa: F401
from commands.checkpoint import registry as checkpoint_commands
from commands.help import registry as help_commands
from commands.history import registry as history_commands
from commands.registry import Registry
from commands.retry import registry as retry_commands
from commands.session import registry as session_commands

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "sessionbot.commands"

BUILTIN_FAMILIES = (
    session_commands,
    checkpoint_commands,
    history_commands,
    retry_commands,
    help_commands,
)
"""The built-in command families, in the order ``/help`` lists them."""


def default_registry(*, load_plugins: bool = True) -> Registry:
    """Return a new registry with every built-in command and, optionally, the plugins.

    Args:
        load_plugins: also run :func:`discover_plugins`.
    """
    registry = Registry()
    for family in BUILTIN_FAMILIES:
        registry.include(family)
    if load_plugins:
        discover_plugins(registry)
    return registry


def discover_plugins(registry: Registry) -> list[str]:
    """Load every ``sessionbot.commands`` entry point into ``registry``.

    Returns:
        The names of the entry points that registered successfully.
    """
    loaded = []
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        if _load(entry_point, registry):
            loaded.append(entry_point.name)
    return loaded


def _load(entry_point: EntryPoint, registry: Registry) -> bool:
    try:
        register = entry_point.load()
        if not callable(register) or inspect.iscoroutinefunction(register):
            raise TypeError(f"{entry_point.value} is not a plain function register(registry)")
        with registry.atomic():
            register(registry)
    except Exception:
        # A broken plugin must not keep the bot from starting: log and go on.
        logger.exception(
            "command plugin %r (%s) failed; skipped", entry_point.name, entry_point.value
        )
        return False
    logger.info("loaded command plugin %r", entry_point.name)
    return True
