"""The composition root: configuration, the CLI, wiring and lifecycle.

Operators use it through ``sessionbot`` (:mod:`bot.cli`); embedding code builds an
:class:`Application` from :func:`load_config`'s settings. ``bot`` is the only package
that knows every other one: it hands adapters the router's ``handle`` as a
:data:`core.InboundHandler`. It knows no platform by name: adapters and responders
are plugins found through entry points (:mod:`bot.plugins`).
"""

from typing import TYPE_CHECKING

from bot.config import Settings, load_config, secret_from_env
from bot.logs import configure_logging
from bot.platforms import build_adapters, build_responder, check_secrets
from bot.plugins import adapter_plugins, responder_plugins
from bot.supervisor import AdapterSupervisor

__all__ = [
    "AdapterSupervisor",
    "Application",
    "Settings",
    "adapter_plugins",
    "build_adapters",
    "build_responder",
    "check_secrets",
    "configure_logging",
    "load_config",
    "responder_plugins",
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
