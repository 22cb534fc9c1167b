"""The composition root: configuration, the CLI, wiring and lifecycle.

Operators use it through ``sessionbot`` (:mod:`bot.cli`); embedding code builds an
:class:`Application` from :func:`load_config`'s settings. ``bot`` is the only package
that knows every other one: it hands adapters the router's ``handle`` as a
:data:`core.types.InboundHandler`.
"""

from typing import TYPE_CHECKING

from bot.config import Settings, load_config, secret_from_env
from bot.logs import configure_logging
from bot.platforms import ADAPTERS, Adapter, AdapterContext, AdapterFactory, build_adapters
from bot.supervisor import AdapterSupervisor, Backoff

__all__ = [
    "ADAPTERS",
    "Adapter",
    "AdapterContext",
    "AdapterFactory",
    "AdapterSupervisor",
    "Application",
    "Backoff",
    "Settings",
    "build_adapters",
    "configure_logging",
    "load_config",
    "secret_from_env",
]

if TYPE_CHECKING:
    from bot.app import Application


def __getattr__(name: str) -> object:
    # bot.app pulls in SQLAlchemy, Alembic and the commands package; importing it
    # on first use keeps ``sessionbot --help`` and ``config check`` quick.
    if name == "Application":
        from bot.app import Application

        return Application
    raise AttributeError(f"module 'bot' has no attribute {name!r}")
