from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest

from core.errors import UsageError
from core.export import ExportFormat, export_session, parse_export, render_export
from core.models import Message, Role, Session, SessionStatus

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


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"not json", "Expecting value"),
        (b"[]", "not a sessionbot JSON export"),
        (json.dumps({"format": "sessionbot-export", "version": 9}).encode(), "version 9"),
        (json.dumps({"format": "sessionbot-export", "version": 1}).encode(), "session"),
    ],
)
def test_bad_imports_say_why(data: bytes, why: str) -> None:
    with pytest.raises(UsageError, match=why):
        parse_export(data)


@pytest.mark.parametrize("fmt", list(ExportFormat))
async def test_rendering_on_the_loop_gives_the_same_file(fmt: ExportFormat) -> None:
    many = [
        Message(f"m{i}", "s1", "b", i, Role.USER, "alice", f"line {i}\nmore", WHEN)
        for i in range(1, 3_001)
    ]
    assert await render_export(session(), many, [], fmt) == export_session(session(), many, [], fmt)


async def test_rendering_a_long_history_lets_other_conversations_run() -> None:
    many = [
        Message(f"m{i}", "s1", "b", i, Role.USER, "alice", f"message {i}", WHEN)
        for i in range(1, 10_001)
    ]
    turns = 0
    done = asyncio.Event()

    async def other_conversation() -> None:
        nonlocal turns
        while not done.is_set():
            turns += 1
            await asyncio.sleep(0)

    other = asyncio.create_task(other_conversation())
    await asyncio.sleep(0)
    await render_export(session(), many, [], ExportFormat.MARKDOWN)
    done.set()
    await other
    # 10,000 messages are 50,000 lines: the other task ran many times meanwhile.
    assert turns > 10
