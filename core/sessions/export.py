"""Export a session as markdown, JSON or text (:mod:`core.sessions.imports` reads JSON back)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator, Iterator, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any

from core.models import Checkpoint, Message, ReplyFile, Session
from core.sessions.imports import EXPORT_FORMAT, EXPORT_VERSION


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
    body = list(_message_pieces(messages, fmt, first=True))
    return _file(session, _assemble(session, body, len(messages), checkpoints, fmt), fmt)


async def render_export(
    session: Session,
    chunks: AsyncIterable[Sequence[Message]],
    checkpoints: Sequence[Checkpoint],
    fmt: ExportFormat,
) -> tuple[ReplyFile, int]:
    """:func:`export_session` of a history read in chunks, rendered as they come.

    Returns the file and how many messages it holds.

    Only the text is kept, never every message at once: a long history's messages
    would take far more memory than their text, and each full garbage collection
    would walk them all (a pause of a tenth of a second for 100,000 messages, for
    every conversation the event loop serves). The chunks are what gives other
    conversations their turns (see :meth:`SessionManager.message_chunks`).
    """
    body: list[str] = []
    count = 0
    async for chunk in chunks:
        body.extend(_message_pieces(chunk, fmt, first=not count))
        count += len(chunk)
    return _file(session, _assemble(session, body, count, checkpoints, fmt), fmt), count


async def stream_export(
    session: Session,
    chunks: AsyncIterable[Sequence[Message]],
    checkpoints: Sequence[Checkpoint],
    fmt: ExportFormat,
) -> AsyncIterator[str]:
    """Yield :func:`render_export`'s text piece by piece, as the chunks are read.

    The text is the same, but only one chunk's is held at a time: an HTTP answer can
    stream a history of any length. The header counts ``session.message_count``
    messages, and no more are written even if more arrive meanwhile.
    """
    whole = _assemble(session, [_BODY], session.message_count, checkpoints, fmt)
    # The last one: a title in a text header may hold anything; JSON escapes U+0000.
    head, body, tail = whole.rpartition(_BODY)
    if not body:  # a JSON export without messages has no place for them
        yield tail
        return
    yield head
    left = session.message_count
    async for chunk in chunks:
        piece = "".join(_message_pieces(chunk[:left], fmt, first=left == session.message_count))
        left -= min(left, len(chunk))
        yield piece
        if not left:
            break
    yield tail


_BODY = "\x00body\x00"
"""Stands for the messages in an export's text while :func:`stream_export` splits it."""


def _file(session: Session, content: str, fmt: ExportFormat) -> ReplyFile:
    name = f"session-{session.id}.{fmt.extension}"
    return ReplyFile(name=name, content=content.encode("utf-8"), mime_type=fmt.mime_type)


def _assemble(
    session: Session,
    body: list[str],
    count: int,
    checkpoints: Sequence[Checkpoint],
    fmt: ExportFormat,
) -> str:
    """The whole export: its header, then ``body`` (``count`` messages' pieces)."""
    if fmt is ExportFormat.MARKDOWN:
        return "\n".join(_markdown_header(session, count)) + "".join(body)
    if fmt is ExportFormat.TEXT:
        header = f"Session {session.id}" + (f": {session.title}" if session.title else "")
        return header + "\n" + "".join(body) + "\n"
    document = _json_document(session, [_MESSAGES] if count else [], checkpoints, count)
    text = json.dumps(document, ensure_ascii=False, indent=2)
    if count:
        # The document's top-level keys alone are indented by two spaces.
        text = text.replace(
            f'\n  "messages": [\n{_JSON_ITEM_INDENT}{json.dumps(_MESSAGES)}\n  ]',
            f'\n  "messages": [\n{"".join(body)}\n  ]',
            1,
        )
    return text + "\n"


_MESSAGES = "\x00messages\x00"
"""Stands for the messages in the JSON document, until their text replaces it."""


def _message_pieces(
    messages: Sequence[Message], fmt: ExportFormat, *, first: bool
) -> Iterator[str]:
    """The text of ``messages`` in an export, ``first`` if no message comes before them."""
    if fmt is ExportFormat.MARKDOWN:
        for message in messages:
            yield f"\n**{message.author}** ({message.role.value}, {_stamp(message.created_at)}):"
            yield "\n"
            for line in message.content.splitlines() or [""]:
                yield f"\n> {line}" if line else "\n>"
            yield "\n"
    elif fmt is ExportFormat.TEXT:
        for message in messages:
            yield f"\n[{_stamp(message.created_at)}] {message.author}: {message.content}"
    else:
        for message in messages:
            encoded = json.dumps(_json_message(message), ensure_ascii=False, indent=2)
            yield (
                ("" if first else ",\n")
                + _JSON_ITEM_INDENT
                + encoded.replace("\n", "\n" + _JSON_ITEM_INDENT)
            )
            first = False


_JSON_ITEM_INDENT = " " * 4
"""A message's indent in the JSON export: an item of ``messages``, itself in the document."""


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M UTC")


def _markdown_header(session: Session, count: int) -> Iterator[str]:
    yield f"# {session.title or 'Session ' + session.id}"
    yield ""
    yield f"- id: `{session.id}`"
    yield f"- created: {_stamp(session.created_at)}"
    yield f"- messages: {count}"
    if session.tags:
        yield f"- tags: {', '.join(session.tags)}"
    yield ""


def _json_message(message: Message) -> dict[str, Any]:
    return {
        "seq": message.seq,
        "role": message.role.value,
        "author": message.author,
        "content": message.content,
        "metadata": dict(message.metadata),
        "tokens_in": message.tokens_in,
        "tokens_out": message.tokens_out,
        "created_at": message.created_at.isoformat(),
    }


def _json_document(
    session: Session, messages: list[Any], checkpoints: Sequence[Checkpoint], count: int
) -> dict[str, Any]:
    return {
        "format": EXPORT_FORMAT,
        "version": EXPORT_VERSION,
        "session": {
            "id": session.id,
            "title": session.title,
            "tags": list(session.tags),
            "metadata": dict(session.metadata),
            "created_at": session.created_at.isoformat(),
        },
        "messages": messages,
        "checkpoints": [
            {
                "name": checkpoint.name,
                "description": checkpoint.description,
                "seq": checkpoint.seq,
                "auto": checkpoint.auto,
                "created_at": checkpoint.created_at.isoformat(),
            }
            for checkpoint in checkpoints
            if checkpoint.seq <= count
        ],
    }
