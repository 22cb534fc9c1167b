"""Export a session as markdown, JSON or text, and import a JSON export back."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from core.errors import UsageError
from core.models import Checkpoint, Message, ReplyFile, Role, Session

EXPORT_VERSION = 1


class ExportFormat(StrEnum):
    """The formats ``/history export`` and ``sessionbot sessions export`` write."""

    MARKDOWN = "markdown"
    JSON = "json"
    TEXT = "text"

    @property
    def extension(self) -> str:
        """The file name extension."""
        return {"markdown": "md", "json": "json", "text": "txt"}[self.value]

    @property
    def mime_type(self) -> str:
        """The MIME type of the file."""
        return {"markdown": "text/markdown", "json": "application/json", "text": "text/plain"}[
            self.value
        ]


def export_session(
    session: Session,
    messages: Sequence[Message],
    checkpoints: Sequence[Checkpoint],
    fmt: ExportFormat,
) -> ReplyFile:
    """Render a session's visible history as a file."""
    content = "".join(_pieces(session, messages, checkpoints, fmt))
    return _file(session, content, fmt)


async def render_export(
    session: Session,
    messages: Sequence[Message],
    checkpoints: Sequence[Checkpoint],
    fmt: ExportFormat,
) -> ReplyFile:
    """:func:`export_session` on the event loop, giving other tasks a turn as it goes.

    A long history takes a while to render (about half a second for 100,000
    messages): in one go it would hold up every other conversation, and on a thread
    it would too, taking the interpreter's lock from the loop every time the loop
    waits for SQLite.
    """
    parts: list[str] = []
    for count, piece in enumerate(_pieces(session, messages, checkpoints, fmt), 1):
        parts.append(piece)
        if not count % PIECES_PER_TURN:
            await asyncio.sleep(0)
    return _file(session, "".join(parts), fmt)


PIECES_PER_TURN = 2_000
"""Pieces of an export rendered between two turns of the event loop: about 1 ms."""


def _file(session: Session, content: str, fmt: ExportFormat) -> ReplyFile:
    name = f"session-{session.id}.{fmt.extension}"
    return ReplyFile(name=name, content=content.encode("utf-8"), mime_type=fmt.mime_type)


def _pieces(
    session: Session,
    messages: Sequence[Message],
    checkpoints: Sequence[Checkpoint],
    fmt: ExportFormat,
) -> Iterator[str]:
    """The export's text, in pieces of a line or so."""
    if fmt is ExportFormat.JSON:
        encoder = json.JSONEncoder(ensure_ascii=False, indent=2)
        yield from encoder.iterencode(_json_document(session, messages, checkpoints))
        yield "\n"
        return
    render = _markdown if fmt is ExportFormat.MARKDOWN else _text
    for number, line in enumerate(render(session, messages)):
        if number:
            yield "\n"
        yield line
    if fmt is ExportFormat.TEXT:
        yield "\n"


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M UTC")


def _markdown(session: Session, messages: Sequence[Message]) -> Iterator[str]:
    yield f"# {session.title or 'Session ' + session.id}"
    yield ""
    yield f"- id: `{session.id}`"
    yield f"- created: {_stamp(session.created_at)}"
    yield f"- messages: {len(messages)}"
    if session.tags:
        yield f"- tags: {', '.join(session.tags)}"
    yield ""
    for message in messages:
        yield f"**{message.author}** ({message.role.value}, {_stamp(message.created_at)}):"
        yield ""
        for line in message.content.splitlines() or [""]:
            yield f"> {line}" if line else ">"
        yield ""


def _text(session: Session, messages: Sequence[Message]) -> Iterator[str]:
    yield f"Session {session.id}" + (f": {session.title}" if session.title else "")
    yield ""
    for message in messages:
        yield f"[{_stamp(message.created_at)}] {message.author}: {message.content}"


def _json_document(
    session: Session, messages: Sequence[Message], checkpoints: Sequence[Checkpoint]
) -> dict[str, Any]:
    return {
        "format": "sessionbot-export",
        "version": EXPORT_VERSION,
        "session": {
            "id": session.id,
            "title": session.title,
            "tags": list(session.tags),
            "metadata": dict(session.metadata),
            "created_at": session.created_at.isoformat(),
        },
        "messages": [
            {
                "seq": message.seq,
                "role": message.role.value,
                "author": message.author,
                "content": message.content,
                "metadata": dict(message.metadata),
                "tokens_in": message.tokens_in,
                "tokens_out": message.tokens_out,
                "created_at": message.created_at.isoformat(),
            }
            for message in messages
        ],
        "checkpoints": [
            {
                "name": checkpoint.name,
                "description": checkpoint.description,
                "seq": checkpoint.seq,
                "auto": checkpoint.auto,
                "created_at": checkpoint.created_at.isoformat(),
            }
            for checkpoint in checkpoints
            if checkpoint.seq <= len(messages)
        ],
    }


class ImportedSession:
    """A parsed JSON export, ready to be stored by :meth:`SessionManager.import_export`.

    Attributes:
        title: the session's title.
        tags: its tags.
        metadata: its metadata.
        created_at: when the original session was created.
        messages: ``(role, author, content, metadata, tokens_in, tokens_out, created_at)``.
        checkpoints: ``(name, description, seq, created_at)`` of user checkpoints.
    """

    def __init__(self, document: dict[str, Any]) -> None:
        session = document["session"]
        self.title: str | None = session.get("title")
        self.tags: tuple[str, ...] = tuple(str(tag) for tag in session.get("tags", []))
        self.metadata: dict[str, Any] = dict(session.get("metadata") or {})
        self.created_at = _parse_time(session["created_at"])
        self.messages = [
            (
                Role(item["role"]),
                str(item["author"]),
                str(item["content"]),
                dict(item.get("metadata") or {}),
                int(item.get("tokens_in", 0)),
                int(item.get("tokens_out", 0)),
                _parse_time(item["created_at"]),
            )
            for item in document["messages"]
        ]
        self.checkpoints = [
            (
                str(item["name"]),
                str(item.get("description", "")),
                int(item["seq"]),
                _parse_time(item["created_at"]),
            )
            for item in document.get("checkpoints", [])
            if not item.get("auto") and 0 <= int(item["seq"]) <= len(self.messages)
        ]


def _parse_time(text: str) -> datetime:
    when = datetime.fromisoformat(text)
    if when.tzinfo is None:
        raise ValueError(f"time without a timezone: {text!r}")
    return when


def parse_export(data: bytes | str) -> ImportedSession:
    """Parse a JSON export made by :func:`export_session`.

    Raises:
        UsageError: the data is not a sessionbot JSON export, with what is wrong.
    """
    try:
        document = json.loads(data)
        if not isinstance(document, dict) or document.get("format") != "sessionbot-export":
            raise ValueError("not a sessionbot JSON export")
        if document.get("version") != EXPORT_VERSION:
            raise ValueError(f"unsupported export version {document.get('version')!r}")
        return ImportedSession(document)
    except (ValueError, KeyError, TypeError) as error:
        raise UsageError(f"Cannot import: {error}.") from error
