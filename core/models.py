"""The domain's values: inbound messages, sessions, branches, messages, checkpoints, replies.

All are frozen dataclasses. Times are timezone-aware UTC datetimes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from core.text import clean_text


class Role(StrEnum):
    """Who wrote a message."""

    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"


class SessionStatus(StrEnum):
    """Whether a session is the active one of its scope key."""

    ACTIVE = "active"
    ARCHIVED = "archived"


class ArchiveReason(StrEnum):
    """Why a session stopped being active."""

    NEW = "new"
    RESET = "reset"
    DAILY = "daily"
    IDLE = "idle"
    RESUMED = "resumed"
    """Another session of the same scope key was resumed."""
    BRANCHED = "branched"
    """A checkpoint was branched into a new session."""
    IMPORTED = "imported"
    """The session came from an export and starts archived."""


@dataclass(frozen=True, slots=True)
class Inbound:
    """One message from a user, normalised by an adapter.

    Attributes:
        platform: adapter name, such as ``"telegram"`` or ``"console"``.
        channel_id: the chat, channel or DM the message was written in.
        user_id: the author's platform id.
        text: the message text.
        thread_id: a thread or forum topic inside the channel, if any.
        is_direct: whether the channel is a one-to-one chat with the bot.
        message_id: the platform's id of the message, if it has one.
        timestamp: when the platform says it was written.
        display_name: the author's name for display.
        metadata: free-form JSON-compatible data the platform attaches (the HTTP
            API's message metadata); stored with a plain message.
        redelivered: handled again after the worker handling it died: what that
            worker stored of it (found by ``message_id``) is not stored twice.
    """

    platform: str
    channel_id: str
    user_id: str
    text: str
    thread_id: str | None = None
    is_direct: bool = False
    message_id: str | None = None
    timestamp: datetime | None = None
    display_name: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)
    redelivered: bool = False

    def __post_init__(self) -> None:
        # Whatever an adapter hands in, what goes further can be stored.
        object.__setattr__(self, "text", clean_text(self.text))
        if self.display_name is not None:
            # A name is stored as it is, unlike message text: no U+0000 (PostgreSQL).
            name = clean_text(self.display_name).replace("\x00", "\ufffd")
            object.__setattr__(self, "display_name", name)

    @property
    def user_ref(self) -> str:
        """The author as ``platform:user_id``, the form used in ``[bot] admins``."""
        return f"{self.platform}:{self.user_id}"

    @property
    def author_name(self) -> str:
        """The display name, or the user id when there is none."""
        return self.display_name or self.user_id


@dataclass(frozen=True, slots=True)
class ReplyFile:
    """A file sent with a reply, such as an export."""

    name: str
    content: bytes
    mime_type: str = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class Reply:
    """One answer to send back to where the inbound message came from.

    Attributes:
        text: the text; adapters split it to the platform's size limit.
        file: an optional attachment.
        ephemeral: shown only to the caller where the platform supports it.
        streamed: the answer went through the adapter's
            :class:`core.streaming.ReplyStream` (a typing indicator, the text as it
            was written); the adapter finishes what it showed with :attr:`text`,
            or posts it as any reply if it showed nothing.
    """

    text: str
    file: ReplyFile | None = None
    ephemeral: bool = False
    streamed: bool = False


@dataclass(frozen=True, slots=True)
class Session:
    """A conversation: its identity, status, counters and head branch.

    Attributes:
        id: random short id shown to users.
        scope_key: the scope key the session belongs to (see :mod:`core.sessions.scope`).
        status: active or archived; one active session per scope key.
        owner: ``platform:user_id`` of the user whose message created it.
        platform: the platform it was created on.
        channel_id: the channel it was created in.
        head_branch_id: the branch new messages are appended to.
        message_count: number of messages in the visible history.
        title: optional title.
        tags: free-form tags.
        metadata: free-form JSON-compatible data.
        tokens_in: total prompt tokens reported by the responder.
        tokens_out: total completion tokens reported by the responder.
        created_at: creation time.
        updated_at: time of the last change of any kind.
        last_activity_at: time of the last *user* message (or creation).
        archived_at: when it was archived, if it is.
        archive_reason: why it was archived, if it is.
        channel_key: the channel (or thread) key whose settings apply to it.
        resumed_at: when it was last made active again after being archived.
        is_direct: whether it lives in a one-to-one chat with the bot.
    """

    id: str
    scope_key: str
    status: SessionStatus
    owner: str
    platform: str
    channel_id: str
    head_branch_id: str
    created_at: datetime
    updated_at: datetime
    last_activity_at: datetime
    message_count: int = 0
    title: str | None = None
    tags: tuple[str, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)
    tokens_in: int = 0
    tokens_out: int = 0
    archived_at: datetime | None = None
    archive_reason: ArchiveReason | None = None
    channel_key: str = ""
    resumed_at: datetime | None = None
    is_direct: bool = False

    @property
    def is_active(self) -> bool:
        """Whether this is the active session of its scope key."""
        return self.status is SessionStatus.ACTIVE

    def advanced_by(self, appended: Sequence[Message]) -> Session | None:
        """Return this session as it is after ``appended`` were stored on its head.

        Computed from the stored messages, as the store moved the counters: the
        message count and head are exact; token totals miss what another worker may
        have appended in between. ``None`` if they went to another branch (the head
        moved meanwhile): then the session must be read again.
        """
        if not appended or appended[-1].branch_id != self.head_branch_id:
            return None
        last = appended[-1]
        user_at = [m.created_at for m in appended if m.role is Role.USER]
        # Built directly: dataclasses.replace costs twice as much, on every message.
        # A test of the session manager checks that every other field is kept.
        return Session(
            id=self.id,
            scope_key=self.scope_key,
            status=self.status,
            owner=self.owner,
            platform=self.platform,
            channel_id=self.channel_id,
            head_branch_id=self.head_branch_id,
            created_at=self.created_at,
            updated_at=last.created_at,
            last_activity_at=user_at[-1] if user_at else self.last_activity_at,
            message_count=last.seq,
            title=self.title,
            tags=self.tags,
            metadata=self.metadata,
            tokens_in=self.tokens_in + sum(m.tokens_in for m in appended),
            tokens_out=self.tokens_out + sum(m.tokens_out for m in appended),
            archived_at=self.archived_at,
            archive_reason=self.archive_reason,
            channel_key=self.channel_key,
            resumed_at=self.resumed_at,
            is_direct=self.is_direct,
        )


@dataclass(frozen=True, slots=True)
class Branch:
    """A line of messages forked from a point of another branch.

    The visible history of a branch is its parent's visible history up to and
    including ``fork_seq``, followed by the branch's own messages, numbered from
    ``fork_seq + 1``. A root branch has no parent and ``fork_seq == 0``.

    Attributes:
        id: random id.
        session_id: the session the branch belongs to.
        parent_id: the branch it forks from (possibly of another session).
        fork_seq: the last message of the parent that is part of this branch.
        last_seq: the seq of the branch's newest message (``fork_seq`` if none).
        created_at: creation time.
    """

    id: str
    session_id: str
    parent_id: str | None
    fork_seq: int
    last_seq: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Message:
    """One immutable message of a session.

    Attributes:
        id: random id.
        session_id: the session it was written in.
        branch_id: the branch it belongs to.
        seq: its position in the visible history of its branch, from 1.
        role: user, assistant or system.
        author: display name or id of the author.
        content: the text.
        metadata: free-form JSON-compatible data.
        tokens_in: prompt tokens (assistant messages).
        tokens_out: completion tokens (assistant messages).
        created_at: when it was stored.
    """

    id: str
    session_id: str
    branch_id: str
    seq: int
    role: Role
    author: str
    content: str
    created_at: datetime
    metadata: Mapping[str, Any] = field(default_factory=dict)
    tokens_in: int = 0
    tokens_out: int = 0


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message to append; the store assigns id, branch, seq and time."""

    role: Role
    author: str
    content: str
    metadata: Mapping[str, Any] = field(default_factory=dict)
    tokens_in: int = 0
    tokens_out: int = 0


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A named pointer to a point of a session's history.

    Attributes:
        id: random short id shown to users.
        session_id: the session it was saved in.
        branch_id: the branch it points into.
        seq: the last message included; also the number of messages it holds.
        name: the name given by the user.
        description: optional description.
        auto: saved automatically (before a restore) rather than by a user.
        created_by: ``platform:user_id`` of who saved it.
        created_at: when it was saved.
    """

    id: str
    session_id: str
    branch_id: str
    seq: int
    name: str
    created_by: str
    created_at: datetime
    description: str = ""
    auto: bool = False

    @property
    def message_count(self) -> int:
        """Number of messages in the history the checkpoint points at."""
        return self.seq


@dataclass(frozen=True, slots=True)
class ChannelSettings:
    """Per-channel overrides stored by admin commands.

    Attributes:
        channel_key: the channel as built by :func:`core.sessions.scope.channel_key_for`.
        scope: scope name override (a :class:`core.sessions.scope.Scope` value), if any.
        daily_reset_time: ``HH:MM`` override, ``"off"``, or ``None`` for the default.
        idle_reset_minutes: minutes, ``0`` for off, or ``None`` for the default.
        timezone: IANA timezone name override, if any.
        context_strategy: the context strategy override (``recent``, ``smart``,
            ``summarize``), if any.
        updated_at: when it last changed.
    """

    channel_key: str
    updated_at: datetime
    scope: str | None = None
    daily_reset_time: str | None = None
    idle_reset_minutes: int | None = None
    timezone: str | None = None
    context_strategy: str | None = None


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """A slice of a session's visible history, oldest first."""

    messages: tuple[Message, ...]
    has_more: bool


@dataclass(frozen=True, slots=True)
class Worker:
    """A ``sessionbot run`` process serving the database, as its last heartbeat said.

    Attributes:
        id: random id the process picked at start.
        host: the machine's host name.
        pid: the process id on that machine.
        started_at: when the process started.
        seen_at: its last heartbeat.
        roles: the roles it held then (see :mod:`core.roles`).
    """

    id: str
    host: str
    pid: int
    started_at: datetime
    seen_at: datetime
    roles: tuple[str, ...] = ()
