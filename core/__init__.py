"""The session core: models, scopes, the session manager, storage and responders.

``core`` imports no platform library and nothing from ``bot``, ``adapters`` or
``commands``.
"""

from core.clock import Clock, ManualClock, SystemClock
from core.errors import (
    CommandError,
    ConfigError,
    ConflictError,
    NotFoundError,
    PermissionDenied,
    ResponderError,
    SessionbotError,
    StaleSessionError,
    StorageError,
    UsageError,
)
from core.menu import Completer, MenuCommand, MenuOption, OptionKind, Suggest, Suggestion
from core.models import (
    ArchiveReason,
    Branch,
    ChannelSettings,
    Checkpoint,
    HistoryPage,
    Inbound,
    Message,
    NewMessage,
    Reply,
    ReplyFile,
    Role,
    Session,
    SessionStatus,
)
from core.roles import LocalRoles, Roles
from core.sessions.channels import Placement
from core.sessions.manager import SessionManager
from core.sessions.resolution import Resolution
from core.sessions.responders import Answer, EchoResponder, Responder
from core.sessions.scope import DEFAULT_SCOPE, Scope, ScopeKey, channel_key_for, scope_key_for
from core.storage.deliveries import Deliveries
from core.storage.live import LiveSessions
from core.storage.protocols import SessionFilter, Store
from core.tokens import Context
from core.types import FirstDelivery, InboundHandler, ProactiveSender

__all__ = [
    "DEFAULT_SCOPE",
    "Answer",
    "ArchiveReason",
    "Branch",
    "ChannelSettings",
    "Checkpoint",
    "Clock",
    "CommandError",
    "Completer",
    "ConfigError",
    "ConflictError",
    "Context",
    "Deliveries",
    "EchoResponder",
    "FirstDelivery",
    "HistoryPage",
    "Inbound",
    "InboundHandler",
    "LiveSessions",
    "LocalRoles",
    "ManualClock",
    "MenuCommand",
    "MenuOption",
    "Message",
    "NewMessage",
    "NotFoundError",
    "OptionKind",
    "PermissionDenied",
    "Placement",
    "ProactiveSender",
    "Reply",
    "ReplyFile",
    "Resolution",
    "Responder",
    "ResponderError",
    "Role",
    "Roles",
    "Scope",
    "ScopeKey",
    "Session",
    "SessionFilter",
    "SessionManager",
    "SessionStatus",
    "SessionbotError",
    "StaleSessionError",
    "StorageError",
    "Store",
    "Suggest",
    "Suggestion",
    "SystemClock",
    "UsageError",
    "channel_key_for",
    "scope_key_for",
]
