"""The API's request and response bodies: pydantic models with camelCase fields.

The handlers take and return these very models, so the OpenAPI page at ``/docs``
shows what the routes really accept and answer. Requests refuse unknown fields
(a typo fails loudly) and text holding U+0000 or a lone surrogate: neither can be
stored faithfully everywhere, so the client is told rather than given back
something else than it sent.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, PlainSerializer
from pydantic.alias_generators import to_camel

from adapters.http.settings import PLATFORM
from core import Checkpoint, Message, Role, Session

MAX_METADATA_BYTES = 16 * 1024
"""The largest metadata object accepted, as compact JSON."""

MAX_CONTENT_CHARS = 100_000
"""The longest message content the schema accepts; ``[bot] max_message_chars`` applies too."""


def _plain_text(text: str) -> str:
    if "\x00" in text:
        raise ValueError("must not contain U+0000")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must not contain a lone UTF-16 surrogate") from None
    return text


def _plain_json(value: Any) -> Any:
    if isinstance(value, str):
        return _plain_text(value)
    if isinstance(value, list):
        return [_plain_json(item) for item in value]
    if isinstance(value, dict):
        return {_plain_text(key): _plain_json(item) for key, item in value.items()}
    return value


def _small_metadata(value: dict[str, Any]) -> dict[str, Any]:
    value = _plain_json(value)
    if len(json.dumps(value, ensure_ascii=False).encode("utf-8")) > MAX_METADATA_BYTES:
        raise ValueError(f"is larger than {MAX_METADATA_BYTES} bytes as JSON")
    return value


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


Text = Annotated[str, AfterValidator(_plain_text)]
"""Text without U+0000 or lone surrogates."""

Metadata = Annotated[dict[str, Any], AfterValidator(_small_metadata)]
"""A JSON object of at most :data:`MAX_METADATA_BYTES`, its text plain."""

UserId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.@-]{1,128}$")]
"""A user id of the API: 1-128 letters, digits, ``_ . @ -`` (no colon)."""

Timestamp = Annotated[datetime, PlainSerializer(_utc_text, return_type=str)]
"""A time, written as ISO 8601 UTC to the microsecond (``2026-01-02T03:04:05.123456Z``)."""


class ApiModel(BaseModel):
    """Fields in camelCase on the wire; unknown fields refused."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


# -- requests ---------------------------------------------------------------------


class CreateSession(ApiModel):
    """``POST /api/sessions``: the session of a user (and channel), created if needed."""

    user_id: UserId
    channel_id: Annotated[Text, Field(min_length=1, max_length=256)] | None = None
    metadata: Metadata | None = None


class PostMessage(ApiModel):
    """``POST /api/sessions/{id}/messages``: a user's message; commands work too."""

    content: Annotated[Text, Field(min_length=1, max_length=MAX_CONTENT_CHARS)]
    metadata: Metadata | None = None


class ChangeSession(ApiModel):
    """``PATCH /api/sessions/{id}``: fields left out stay as they are."""

    title: Annotated[Text, Field(max_length=200)] | None = None
    tags: (
        Annotated[list[Annotated[Text, Field(min_length=1, max_length=64)]], Field(max_length=50)]
        | None
    ) = None
    metadata: Metadata | None = None


class SaveCheckpoint(ApiModel):
    """``POST /api/sessions/{id}/checkpoints``."""

    name: Annotated[Text, Field(min_length=1, max_length=100)]
    description: Annotated[Text, Field(max_length=500)] = ""


class BranchCheckpoint(ApiModel):
    """``POST /api/sessions/{id}/checkpoints/{cid}/branch``."""

    title: Annotated[Text, Field(max_length=200)] | None = None


# -- responses --------------------------------------------------------------------


class SimplifiedMessage(ApiModel):
    """One message of a history."""

    id: str
    content: str
    author_id: str
    is_agent: bool
    role: Literal["user", "assistant", "system"]
    created_at: Timestamp
    metadata: dict[str, Any]

    @classmethod
    def of(cls, message: Message) -> SimplifiedMessage:
        """Return the API's view of a stored message."""
        return cls(
            id=message.id,
            content=message.content,
            author_id=message.author,
            is_agent=message.role is Role.ASSISTANT,
            role=message.role.value,
            created_at=message.created_at,
            metadata=dict(message.metadata),
        )


class Usage(ApiModel):
    """Tokens the responder reported for a session."""

    tokens_in: int
    tokens_out: int
    total_tokens: int


class CheckpointView(ApiModel):
    """A checkpoint of a session."""

    checkpoint_id: str
    name: str
    description: str
    message_count: int
    auto: bool
    created_by: str
    created_at: Timestamp

    @classmethod
    def of(cls, checkpoint: Checkpoint) -> CheckpointView:
        """Return the API's view of a checkpoint."""
        return cls(
            checkpoint_id=checkpoint.id,
            name=checkpoint.name,
            description=checkpoint.description,
            message_count=checkpoint.message_count,
            auto=checkpoint.auto,
            created_by=checkpoint.created_by,
            created_at=checkpoint.created_at,
        )


class NextResets(ApiModel):
    """When the session ends by itself if nothing changes; ``null``: never."""

    daily: Timestamp | None
    idle: Timestamp | None


class SessionSummary(ApiModel):
    """A session, as listed."""

    session_id: str
    user_id: str
    channel_id: str
    platform: str
    status: Literal["active", "archived"]
    title: str | None
    tags: list[str]
    metadata: dict[str, Any]
    created_at: Timestamp
    last_activity: Timestamp
    message_count: int
    archived_at: Timestamp | None
    archive_reason: str | None

    @classmethod
    def fields_of(cls, session: Session) -> dict[str, Any]:
        """Return the summary's fields of ``session``."""
        return {
            "session_id": session.id,
            "user_id": user_id_of(session.owner),
            "channel_id": session.channel_id,
            "platform": session.platform,
            "status": session.status.value,
            "title": session.title,
            "tags": list(session.tags),
            "metadata": dict(session.metadata),
            "created_at": session.created_at,
            "last_activity": session.last_activity_at,
            "message_count": session.message_count,
            "archived_at": session.archived_at,
            "archive_reason": None
            if session.archive_reason is None
            else session.archive_reason.value,
        }

    @classmethod
    def of(cls, session: Session) -> SessionSummary:
        """Return the API's listing of a session."""
        return cls(**cls.fields_of(session))


class SessionDetail(SessionSummary):
    """A session with its usage, checkpoints and next resets."""

    usage: Usage
    checkpoints: list[CheckpointView]
    next_resets: NextResets


class SessionsPage(ApiModel):
    """``GET /api/sessions``: newest first."""

    sessions: list[SessionSummary]
    total: int
    has_more: bool
    next_cursor: str | None


class SearchHitView(ApiModel):
    """One message found, with its session and a snippet around the match."""

    session_id: str
    title: str | None
    message: SimplifiedMessage
    snippet: str

    @classmethod
    def of(cls, session: Session, message: Message, snippet: str) -> SearchHitView:
        """Return the API's view of a hit."""
        return cls(
            session_id=session.id,
            title=session.title,
            message=SimplifiedMessage.of(message),
            snippet=snippet,
        )


class SearchResults(ApiModel):
    """``GET /api/sessions/search``: message hits (with ``q``) or tagged sessions."""

    hits: list[SearchHitView]
    sessions: list[SessionSummary]
    has_more: bool
    next_cursor: str | None


class MessagesPage(ApiModel):
    """``GET /api/sessions/{id}/messages``: newest first."""

    messages: list[SimplifiedMessage]
    has_more: bool
    next_cursor: str | None


class PostedMessage(ApiModel):
    """What sending a message did.

    ``message`` is the stored user message and ``reply`` the agent's stored answer;
    a command stores neither and answers in ``replies``, which holds every text
    the bot answered (a reset notice, a command's output, an apology).
    """

    session_id: str
    message: SimplifiedMessage | None
    reply: SimplifiedMessage | None
    replies: list[str]


class RestoredCheckpoint(ApiModel):
    """A restore: the session after it and the checkpoint that undoes it."""

    session: SessionDetail
    undo_checkpoint: CheckpointView


class Health(ApiModel):
    """``GET /api/sessions/health``."""

    status: Literal["ok"]
    active_sessions: int
    timestamp: Timestamp


class Readiness(ApiModel):
    """``GET /readyz``: ``ready``, or what is not."""

    status: Literal["ready", "unready"]
    problems: list[str]


class ErrorBody(ApiModel):
    """An error: a stable code and one line for people."""

    code: str
    message: str


class ErrorResponse(ApiModel):
    """Every error answer: ``{"error": {"code": ..., "message": ...}}``."""

    error: ErrorBody


def user_id_of(owner: str) -> str:
    """Return the API's user id of a session owner: ``alice`` for ``api:alice``.

    Sessions of other platforms keep the whole ``platform:user_id``.
    """
    platform, _, user = owner.partition(":")
    return user if platform == PLATFORM else owner
