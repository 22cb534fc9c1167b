"""sessionbot's public names for plugin authors: ``from sessionbot import Reply, ...``.

Three kinds of plugin, each found through an entry-point group:

* a **command** plugin (``sessionbot.commands``) names ``register(registry)``, which
  adds commands to the :class:`CommandRegistry`; each handler gets a
  :class:`CommandContext` and returns a :class:`Reply`;
* an **adapter** plugin (``sessionbot.adapters``) names an :class:`AdapterPlugin`:
  an :class:`AdapterSettings` model for its ``[adapters.<name>]`` table and a
  ``build(settings, context)`` returning an :class:`Adapter`, usually a
  :class:`BaseAdapter` subclass;
* a **responder** plugin (``sessionbot.responders``) names a
  :class:`ResponderPlugin`: a :class:`ResponderSettings` model for the
  ``[responder]`` table and a ``build(settings)`` returning a :class:`Responder`.

Nothing else lives in this package; the names stay here when modules move.
"""

from adapters.base import (
    Acknowledge,
    Adapter,
    AdapterContext,
    AdapterPlugin,
    AdapterSettings,
    BaseAdapter,
    CommandSpec,
    Undeliverable,
    secret_from_env,
)
from adapters.streaming import LiveMessage, LiveReply
from bot.responders import ResponderPlugin, ResponderSettings
from commands import CommandContext
from commands import Registry as CommandRegistry
from core import (
    Answer,
    CommandError,
    ConfigError,
    EchoResponder,
    FirstDelivery,
    Inbound,
    InboundHandler,
    MenuOption,
    Message,
    OptionKind,
    Reply,
    ReplyFile,
    ReplyStream,
    Responder,
    ResponderError,
    Role,
    Session,
    StreamingResponder,
    Suggest,
    UsageError,
)

__all__ = [
    "Acknowledge",
    "Adapter",
    "AdapterContext",
    "AdapterPlugin",
    "AdapterSettings",
    "Answer",
    "BaseAdapter",
    "CommandContext",
    "CommandError",
    "CommandRegistry",
    "CommandSpec",
    "ConfigError",
    "EchoResponder",
    "FirstDelivery",
    "Inbound",
    "InboundHandler",
    "LiveMessage",
    "LiveReply",
    "MenuOption",
    "Message",
    "OptionKind",
    "Reply",
    "ReplyFile",
    "ReplyStream",
    "Responder",
    "ResponderError",
    "ResponderPlugin",
    "ResponderSettings",
    "Role",
    "Session",
    "StreamingResponder",
    "Suggest",
    "Undeliverable",
    "UsageError",
    "secret_from_env",
]
