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
from core.sessions.channels import Placement
from core.sessions.manager import SessionManager
from core.sessions.resolution import Resolution
from core.sessions.responders import Answer, EchoResponder, Responder, StreamingResponder
from core.sessions.scope import DEFAULT_SCOPE, Scope, ScopeKey, channel_key_for, scope_key_for
from core.storage.live import LiveSessions
from core.storage.protocols import SessionFilter, Store
from core.streaming import ReplyStream, current_stream, streaming_to
from core.tokens import Context
from core.types import InboundHandler, ProactiveSender

__all__ = [
    "DEFAULT_SCOPE",
    "Answer",
    "ArchiveReason",
    "Branch",
    "ChannelSettings",
    "Checkpoint",
    "Clock",
    "CommandError",
    "ConfigError",
    "ConflictError",
    "Context",
    "EchoResponder",
    "HistoryPage",
    "Inbound",
    "InboundHandler",
    "LiveSessions",
    "ManualClock",
    "Message",
    "NewMessage",
    "NotFoundError",
    "PermissionDenied",
    "Placement",
    "ProactiveSender",
    "Reply",
    "ReplyFile",
    "ReplyStream",
    "Resolution",
    "Responder",
    "ResponderError",
    "Role",
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
    "StreamingResponder",
    "SystemClock",
    "UsageError",
    "channel_key_for",
    "current_stream",
    "scope_key_for",
    "streaming_to",
]
