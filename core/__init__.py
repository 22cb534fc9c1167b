"""The session core: models, scopes, the session manager, storage and responders.

``core`` imports no platform library and nothing from ``bot``, ``adapters`` or
``commands``.
"""

from core.api_keys import ApiKey, new_api_key, parse_api_key, secret_matches
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
from core.limits import MAX_RESET_MINUTES
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
from core.sessions.edits import SessionEdit
from core.sessions.export import (
    ExportFormat,
    render_export,
    stream_export,
)
from core.sessions.imports import ImportedSession, parse_export
from core.sessions.manager import SessionManager
from core.sessions.notices import zone_name
from core.sessions.resets import next_resets, parse_reset_time
from core.sessions.resolution import Resolution
from core.sessions.responders import Answer, EchoResponder, Responder, StreamingResponder
from core.sessions.scope import DEFAULT_SCOPE, Scope, ScopeKey, channel_key_for, scope_key_for
from core.sessions.strategies import Strategy
from core.sessions.tags import MAX_TAGS, tag_of
from core.storage.deliveries import Deliveries
from core.storage.filters import SessionOrder
from core.storage.live import LiveSessions
from core.storage.protocols import SessionFilter, Store
from core.storage.records import DeliveryAnswer
from core.streaming import ReplyStream, current_stream, streaming_to
from core.tokens import Context
from core.types import FirstDelivery, InboundHandler, ProactiveSender
from core.words import TextQuery

__all__ = [
    "DEFAULT_SCOPE",
    "MAX_RESET_MINUTES",
    "MAX_TAGS",
    "Answer",
    "ApiKey",
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
    "DeliveryAnswer",
    "EchoResponder",
    "ExportFormat",
    "FirstDelivery",
    "HistoryPage",
    "ImportedSession",
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
    "ReplyStream",
    "Resolution",
    "Responder",
    "ResponderError",
    "Role",
    "Roles",
    "Scope",
    "ScopeKey",
    "Session",
    "SessionEdit",
    "SessionFilter",
    "SessionManager",
    "SessionOrder",
    "SessionStatus",
    "SessionbotError",
    "StaleSessionError",
    "StorageError",
    "Store",
    "Strategy",
    "StreamingResponder",
    "Suggest",
    "Suggestion",
    "SystemClock",
    "TextQuery",
    "UsageError",
    "channel_key_for",
    "current_stream",
    "new_api_key",
    "next_resets",
    "parse_api_key",
    "parse_export",
    "parse_reset_time",
    "render_export",
    "scope_key_for",
    "secret_matches",
    "stream_export",
    "streaming_to",
    "tag_of",
    "zone_name",
]
