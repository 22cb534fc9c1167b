from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from core.errors import UsageError
from core.models import Checkpoint, Message, Role, Session, SessionStatus
from core.sessions.export import ExportFormat, export_session, render_export, stream_export
from core.sessions.imports import parse_export

WHEN = datetime(2026, 3, 1, 12, 30, tzinfo=UTC)


def session() -> Session:
    return Session(
        id="s1",
        scope_key="k",
        status=SessionStatus.ACTIVE,
        owner="console:alice",
        platform="console",
        channel_id="c",
        head_branch_id="b",
        created_at=WHEN,
        updated_at=WHEN,
        last_activity_at=WHEN,
        title="Trip",
    )


def messages() -> list[Message]:
    return [
        Message("m1", "s1", "b", 1, Role.USER, "alice", "hello *world*", WHEN),
        Message("m2", "s1", "b", 2, Role.ASSISTANT, "bot", "line one\nline two", WHEN),
    ]


def test_markdown_quotes_every_line() -> None:
    file = export_session(session(), messages(), [], ExportFormat.MARKDOWN)
    text = file.content.decode()
    assert file.name == "session-s1.md" and file.mime_type == "text/markdown"
    assert text.startswith("# Trip\n")
    assert "> line one\n> line two" in text


def test_text_has_one_line_per_message() -> None:
    text = export_session(session(), messages(), [], ExportFormat.TEXT).content.decode()
    assert "[2026-03-01 12:30 UTC] alice: hello *world*" in text


def test_json_round_trips() -> None:
    file = export_session(session(), messages(), [], ExportFormat.JSON)
    parsed = parse_export(file.content)
    assert parsed.title == "Trip"
    assert [m[2] for m in parsed.messages] == ["hello *world*", "line one\nline two"]
    assert parsed.messages[0][6] == WHEN


def _export(**changes: object) -> bytes:
    """A valid one-message JSON export with ``changes`` applied (dotted paths)."""
    document: dict[str, Any] = {
        "format": "sessionbot-export",
        "version": 1,
        "session": {"id": "x", "title": "t", "created_at": "2026-05-01T10:00:00+00:00"},
        "messages": [
            {
                "role": "user",
                "author": "console:alice",
                "content": "hi",
                "created_at": "2026-05-01T10:00:00+00:00",
            }
        ],
        "checkpoints": [],
    }
    for path, value in changes.items():
        *parents, last = path.split("__")
        target: Any = document
        for part in parents:
            target = target[int(part)] if part.isdigit() else target[part]
        if value is _DROP:
            del target[last]
        else:
            target[last] = value
    return json.dumps(document).encode()


_DROP = object()


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"# Session abc\n\n**alice**: hi", "looks like a markdown or text export"),
        (
            b"{not json",
            "the file is not JSON (Expecting property name enclosed in double quotes at line 1, "
            "column 2)",
        ),
        (b"[]", 'JSON but not a sessionbot export (no "format": "sessionbot-export")'),
        (_export(version=9), "export version '9' is not one this sessionbot reads (version 1)"),
        (_export(session=_DROP), "session: Field required"),
        (_export(messages__0__role="wizard"), "messages[0].role: Input should be"),
        (
            _export(messages__0__created_at="2026-05-01T10:00:00"),
            "messages[0].created_at: Input should have timezone info",
        ),
        (
            _export(messages__0__tokens_in="12"),
            "messages[0].tokens_in: Input should be a valid integer",
        ),
        (
            _export(
                checkpoints=[{"name": "c", "seq": 5, "created_at": "2026-05-01T10:00:00+00:00"}]
            ),
            "checkpoints[0].seq: 5 is past the last message (1)",
        ),
        (_export(session__tags=["no/slash"]), "session.tags: Value error, 'no/slash' is not a tag"),
    ],
)
def test_bad_imports_say_what_is_wrong_where_and_what_was_expected(data: bytes, why: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_export(data)
    message = str(caught.value)
    assert why in message and "\n" not in message
    assert message.startswith("Cannot import: ")
    if "version" not in why:
        assert message.endswith("sessionbot sessions export ID --format json.")


def test_a_valid_export_imports() -> None:
    imported = parse_export(_export())
    assert imported.title == "t" and [m[2] for m in imported.messages] == ["hi"]


def test_imported_tags_are_stored_as_commands_store_them() -> None:
    imported = parse_export(_export(session__tags=["#Trip", "trip", "rome"]))
    assert imported.tags == ("trip", "rome")


async def _in_chunks(messages: list[Message], size: int) -> AsyncIterator[list[Message]]:
    for start in range(0, len(messages), size):
        yield messages[start : start + size]


@pytest.mark.parametrize("fmt", list(ExportFormat))
@pytest.mark.parametrize("size", [1, 7, 500])
async def test_rendering_chunks_as_they_come_gives_the_same_file(
    fmt: ExportFormat, size: int
) -> None:
    many = [
        Message(f"m{i}", "s1", "b", i, Role.USER, "alice", f"line {i}\nmore", WHEN, {"n": [i]})
        for i in range(1, 1_001)
    ]
    checkpoints = [
        Checkpoint("c1", "s1", "b", 10, "early", "alice", WHEN),
        Checkpoint("c2", "s1", "b", 2_000, "later", "alice", WHEN),
    ]
    file, count = await render_export(session(), _in_chunks(many, size), checkpoints, fmt)
    assert count == 1_000
    assert file == export_session(session(), many, checkpoints, fmt)


@pytest.mark.parametrize("fmt", list(ExportFormat))
async def test_an_empty_history_renders_as_before(fmt: ExportFormat) -> None:
    file, count = await render_export(session(), _in_chunks([], 1), [], fmt)
    assert count == 0
    assert file == export_session(session(), [], [], fmt)


def test_a_json_export_survives_text_that_looks_like_its_placeholder() -> None:
    sneaky = "\x00messages\x00"
    odd = dataclasses.replace(session(), title=sneaky, metadata={"list": [sneaky]})
    listed = [Message("m1", "s1", "b", 1, Role.USER, "alice", sneaky, WHEN, {"k": [sneaky]})]
    parsed = parse_export(export_session(odd, listed, [], ExportFormat.JSON).content)
    assert parsed.title == sneaky and parsed.metadata == {"list": [sneaky]}
    assert [m[2] for m in parsed.messages] == [sneaky]


@pytest.mark.parametrize("fmt", list(ExportFormat))
@pytest.mark.parametrize("size", [1, 7, 500])
async def test_streaming_gives_the_same_text_piece_by_piece(fmt: ExportFormat, size: int) -> None:
    many = [
        Message(f"m{i}", "s1", "b", i, Role.USER, "alice", f"line {i}\x00body\x00", WHEN)
        for i in range(1, 301)
    ]
    odd = dataclasses.replace(session(), title="\x00body\x00", message_count=300)
    checkpoints = [Checkpoint("c1", "s1", "b", 10, "early", "alice", WHEN)]
    pieces = [p async for p in stream_export(odd, _in_chunks(many, size), checkpoints, fmt)]
    assert len(pieces) >= 300 // size
    expected = export_session(odd, many, checkpoints, fmt).content.decode("utf-8")
    assert "".join(pieces) == expected
    # Messages appended while streaming are left out: the header said 300.
    more = [*many, Message("m301", "s1", "b", 301, Role.USER, "alice", "late", WHEN)]
    late = [p async for p in stream_export(odd, _in_chunks(more, size), checkpoints, fmt)]
    assert "".join(late) == expected


@pytest.mark.parametrize("fmt", list(ExportFormat))
async def test_streaming_an_empty_history(fmt: ExportFormat) -> None:
    pieces = [p async for p in stream_export(session(), _in_chunks([], 1), [], fmt)]
    assert "".join(pieces) == export_session(session(), [], [], fmt).content.decode("utf-8")
