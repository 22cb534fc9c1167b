"""Commands: the router every message goes through, and the commands it runs.

``bot`` builds ``Router(manager, responder, default_registry(), RouterSettings(...))``
and hands ``router.handle`` to the adapters as a :data:`core.types.InboundHandler`.
This package imports ``core`` only: no adapter, no ``bot``, no platform library.
"""

from commands.context import CommandContext
from commands.parser import ParsedCommand, parse_command, split_args
from commands.plugins import ENTRY_POINT_GROUP, default_registry, discover_plugins
from commands.registry import Command, Handler, Invocation, Registry
from commands.router import Router
from commands.router_settings import RouterSettings
from core.menu import quote_arg

__all__ = [
    "ENTRY_POINT_GROUP",
    "Command",
    "CommandContext",
    "Handler",
    "Invocation",
    "ParsedCommand",
    "Registry",
    "Router",
    "RouterSettings",
    "default_registry",
    "discover_plugins",
    "parse_command",
    "quote_arg",
    "split_args",
]
