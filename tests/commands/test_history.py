from __future__ import annotations

import json
from datetime import timedelta

import pytest

from core.models import Reply
from core.sessions.imports import parse_export
from tests.commands.helpers import Chat, id_after


async def talk(chat: Chat, count: int, **where: str) -> None:
    """Send ``count`` messages; each gets an echo, so 2 * count are stored."""
    for number in range(1, count + 1):
        await chat.say(f"m{number}", **where)


async def test_history_shows_the_last_twenty_by_default(chat: Chat) -> None:
    await talk(chat, 15)
    lines = (await chat.say("/history")).splitlines()
    assert lines[0] == "Last 20 of 30 (times in UTC):"
    assert lines[1] == "[2026-01-01 00:00] alice: m6"
    assert lines[-1] == "[2026-01-01 00:00] sessionbot: echo: m15"
    assert len(lines) == 21


async def test_history_n_shows_n_and_says_when_that_is_all(chat: Chat) -> None:
    chat.clock.advance(timedelta(hours=13, minutes=7))
    await talk(chat, 2)
    assert await chat.say("/history 2") == (
        "Last 2 of 4 (times in UTC):\n"
        "[2026-01-01 13:07] alice: m2\n"
        "[2026-01-01 13:07] sessionbot: echo: m2"
    )
    assert (await chat.say("/history 200")).startswith("All 4 messages (times in UTC):")


async def test_history_of_an_empty_conversation(chat: Chat) -> None:
    assert await chat.say("/history") == "No messages yet."


async def test_long_messages_are_shortened_in_the_listing(chat: Chat) -> None:
    await chat.say("word " * 200)
    line = (await chat.say("/history 1")).splitlines()[1]
    assert line.endswith("…")
    assert len(line) < 400


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/history 0", "The count must be a whole number from 1 to 200, not '0'."),
        ("/history 201", "The count must be a whole number from 1 to 200, not '201'."),
        ("/history -3", "The count must be a whole number from 1 to 200, not '-3'."),
        ("/history ten", "The count must be a whole number from 1 to 200, not 'ten'."),
        ("/history ²", "The count must be a whole number from 1 to 200, not '²'."),
        ("/history \u0663", "The count must be a whole number from 1 to 200, not '\u0663'."),
        (
            "/history 99999999999999999999",
            "The count must be a whole number from 1 to 200, not '99999999999999999999'.",
        ),
        (
            "/history 1 2",
            "Unknown subcommand '1' for /history; try export, clear, pin, unpin, pins, summary, "
            "search.",
        ),
        ("/history export pdf", "Unknown format 'pdf'; choose markdown, json or text."),
        ("/history export json now", "Too many arguments for /history export."),
        ("/history clear all", "/history clear takes no arguments."),
    ],
)
async def test_bad_input_gets_one_line_with_usage(chat: Chat, text: str, expected: str) -> None:
    await talk(chat, 1)
    key = await chat.key()
    before = await chat.snapshot(key)
    reply = await chat.say(text)
    assert reply.startswith(expected)
    assert "Usage: /history" in reply
    assert await chat.snapshot(key) == before


@pytest.mark.parametrize(
    ("fmt", "name", "mime"),
    [
        ("", "md", "text/markdown"),
        ("markdown", "md", "text/markdown"),
        ("MD", "md", "text/markdown"),
        ("json", "json", "application/json"),
        ("text", "txt", "text/plain"),
        ("txt", "txt", "text/plain"),
    ],
)
async def test_export_sends_a_file(chat: Chat, fmt: str, name: str, mime: str) -> None:
    await talk(chat, 1)
    session = await chat.session()
    [reply] = await chat.send(f"/history export {fmt}")
    assert reply.file is not None
    assert reply.file.name == f"session-{session.id}.{name}"
    assert reply.file.mime_type == mime
    assert "m1" in reply.file.content.decode()
    assert reply.text.endswith("(2 messages).")


async def test_a_json_export_imports_back(chat: Chat) -> None:
    await talk(chat, 2)
    await chat.say("/checkpoint save half")
    await chat.say("/session title Imported")
    original = await chat.session()
    [reply] = await chat.send("/history export json")
    assert reply.file is not None
    assert json.loads(reply.file.content)["format"] == "sessionbot-export"

    imported = await chat.manager.maintenance.import_export(
        parse_export(reply.file.content),
        scope_key=original.scope_key,
        owner="console:alice",
        platform="console",
        channel_id="c1",
    )
    assert imported.title == "Imported"
    await chat.say(f"/session resume {imported.id}")
    assert await chat.contents() == ["m1", "echo: m1", "m2", "echo: m2"]
    assert "half" in await chat.say("/checkpoint list")


async def test_clear_empties_the_history_and_can_be_undone(chat: Chat) -> None:
    await talk(chat, 2)
    await chat.say("/checkpoint save kept")
    session = await chat.session()
    text = await chat.say("/history clear")
    undo = id_after("To undo: /checkpoint restore", text)
    assert text == (
        "Cleared 4 messages; settings and checkpoints are kept. "
        f"To undo: /checkpoint restore {undo}"
    )
    assert (await chat.session()).id == session.id
    assert await chat.contents() == []
    assert "kept" in await chat.say("/checkpoint list")
    await chat.say(f"/checkpoint restore {undo}")
    assert await chat.contents() == ["m1", "echo: m1", "m2", "echo: m2"]


async def test_clearing_nothing_changes_nothing(chat: Chat) -> None:
    before = await chat.session()
    assert await chat.say("/history clear") == "There is nothing to clear."
    assert await chat.session() == before


async def test_users_never_see_each_others_history(chat: Chat) -> None:
    await chat.say("alice's secret")
    await chat.say("bob's secret", user="bob")
    assert "bob's secret" not in await chat.say("/history")
    assert "alice's secret" not in await chat.say("/history", user="bob")
    [reply] = await chat.send("/history export text", user="bob")
    assert isinstance(reply, Reply) and reply.file is not None
    assert b"alice" not in reply.file.content
