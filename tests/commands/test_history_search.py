"""``/history search``: matching, phrases, paging, and nobody finds anyone else's messages.

Every test runs on four stacks: sealed and plain, in memory and on a SQLite file, and
plain on PostgreSQL when ``SESSIONBOT_TEST_POSTGRES_URL`` is set (the blind index and
each database's own full-text search).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path

import pytest

from core.crypto.envelope import KeyEncryptionKey, decode_master_key, generate_master_key
from core.crypto.sealing import SealedStore
from core.sessions.scope import Scope
from core.storage.memory import MemoryStore
from core.storage.protocols import Backend
from tests.builders import inbound
from tests.commands.helpers import Chat
from tests.core.conftest import opened

STACKS = (
    "sealed-memory",
    "plain-memory",
    "sealed-sqlite",
    "plain-sqlite",
    pytest.param("plain-postgres", marks=pytest.mark.postgres),
    pytest.param("sealed-postgres", marks=pytest.mark.postgres),
)

MakeChat = Callable[..., Chat]


@pytest.fixture(params=STACKS)
async def make_chat(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MakeChat]:
    """Build a chat over one stack; extra keywords go to :class:`Chat`."""
    kind, backend_name = request.param.split("-")
    async with opened(backend_name, tmp_path) as backend:
        yield lambda **options: Chat(store=_sealed(backend, kind == "sealed"), **options)


def _sealed(backend: Backend, encrypted: bool) -> SealedStore:
    key = decode_master_key(generate_master_key(), source="test") if encrypted else None
    return SealedStore(backend, KeyEncryptionKey(key) if key else None)


async def say_slowly(chat: Chat, *texts: str, **where: str) -> None:
    """Send each text a minute after the one before, so "newest first" is clear."""
    for text in texts:
        chat.clock.advance(timedelta(minutes=1))
        await chat.say(text, **where)


async def test_finds_words_newest_first_with_the_match_marked(make_chat: MakeChat) -> None:
    chat = make_chat()
    await say_slowly(chat, "The blue whale sings", "nothing here", "A BLUE sky and a whale")
    session = await chat.session()
    lines = (await chat.say("/history search whale blue")).splitlines()
    assert lines[0] == "Found in this conversation (page 1, newest first):"
    assert lines[1:] == [
        f"• {session.id} [2026-01-01 00:03] sessionbot: echo: A «BLUE» sky and a «whale»",
        f"• {session.id} [2026-01-01 00:03] alice: A «BLUE» sky and a «whale»",
        f"• {session.id} [2026-01-01 00:01] sessionbot: echo: The «blue» «whale» sings",
        f"• {session.id} [2026-01-01 00:01] alice: The «blue» «whale» sings",
    ]


async def test_a_quoted_phrase_needs_its_words_together(make_chat: MakeChat) -> None:
    chat = make_chat()
    await say_slowly(chat, "blue whale", "whale, blue")
    text = await chat.say('/history search "blue whale"')
    assert "«blue» «whale»" in text
    assert "whale, blue" not in text
    assert await chat.say('/history search "whale blue" missing') == (
        "No messages in this conversation match on page 1."
    )


async def test_whole_words_only(make_chat: MakeChat) -> None:
    chat = make_chat()
    await say_slowly(chat, "lighthouses")
    assert "No messages" in await chat.say("/history search lighthouse")


async def test_pages_say_more_only_when_there_is_more(make_chat: MakeChat) -> None:
    chat = make_chat()
    await say_slowly(chat, *(f"tea {n}" for n in range(10)))  # 20 hits with the echoes
    first = (await chat.say("/history search tea")).splitlines()
    assert len(first) == 12
    assert first[-1] == "More: /history search tea page 2"
    second = (await chat.say("/history search tea page 2")).splitlines()
    assert len(second) == 11  # a header and ten hits: the last page, no "More"
    assert second[0] == "Found in this conversation (page 2, newest first):"
    assert second[-1].endswith("alice: «tea» 0")
    assert await chat.say("/history search tea page 3") == (
        "No messages in this conversation match on page 3."
    )


async def test_all_searches_every_own_conversation(make_chat: MakeChat) -> None:
    chat = make_chat()
    await say_slowly(chat, "about the harbour")
    old = await chat.session()
    await chat.say("/new")
    await say_slowly(chat, "harbour again", channel="c2")
    assert "No messages" in await chat.say("/history search harbour")
    text = await chat.say("/history search harbour all")
    assert old.id in text
    assert (await chat.session(channel="c2")).id in text


async def test_nobody_finds_another_users_messages(make_chat: MakeChat) -> None:
    chat = make_chat(identities={"console:alice": "al", "telegram:42": "al"})
    await say_slowly(chat, "zebra in the same channel", user="bob")
    await say_slowly(chat, "zebra elsewhere", user="bob", channel="c9")
    await say_slowly(chat, "zebra of carol", user="carol", platform="telegram")
    await say_slowly(chat, "zebra of the linked alice", user="42", platform="telegram")
    await say_slowly(chat, "no stripes")
    text = await chat.say("/history search zebra all")
    assert "linked alice" in text
    assert "same channel" not in text and "elsewhere" not in text and "carol" not in text
    # An unlinked identity of the same name on another platform is someone else.
    other = await chat.say("/history search zebra all", user="alice", platform="discord")
    assert "No messages" in other
    bob = await chat.say("/history search zebra all", user="bob")
    assert "same channel" in bob and "elsewhere" in bob and "linked" not in bob


async def test_a_deleted_conversation_is_not_found(make_chat: MakeChat) -> None:
    chat = make_chat()
    await say_slowly(chat, "ostrich")
    old = await chat.session()
    await chat.say("/new")
    assert old.id in await chat.say("/history search ostrich all")
    assert await chat.manager.sessions.delete(old.id)
    assert "No messages" in await chat.say("/history search ostrich all")


async def test_bad_searches_get_one_line(make_chat: MakeChat) -> None:
    chat = make_chat()
    assert (await chat.say("/history search ...")).startswith("Nothing to search for: give")
    assert (await chat.say("/history search all")).startswith("Nothing to search for")
    many = " ".join(f"w{n}" for n in range(17))
    assert "at most 16 words" in await chat.say(f"/history search {many}")
    assert "page must be a whole number" in await chat.say("/history search x page 0")


async def test_a_shared_conversation_is_searched_by_those_in_it() -> None:
    chat = Chat(store=SealedStore(MemoryStore(), None))
    await chat.manager.channels.set_scope(inbound(""), Scope.CHANNEL)
    await say_slowly(chat, "penguin party")
    assert "penguin" in await chat.say("/history search penguin", user="bob")
    assert "penguin" in await chat.say("/history search penguin all", user="bob")
    assert "No messages" in await chat.say("/history search penguin all", user="bob", channel="c2")


async def test_what_the_history_no_longer_shows_is_not_found(make_chat: MakeChat) -> None:
    chat = make_chat()
    await say_slowly(chat, "penguin one")
    saved = re.search(r"restore (\w+)", await chat.say("/checkpoint save before"))
    assert saved is not None
    await say_slowly(chat, "penguin two")
    await chat.say(f"/checkpoint restore {saved[1]}")  # "penguin two" is cut off
    found = await chat.say("/history search penguin")
    assert "«penguin» one" in found and "two" not in found
    await chat.say("/history clear")
    assert "No messages" in await chat.say("/history search penguin")
    assert "No messages" in await chat.say("/history search penguin all")
    # Kept for the checkpoints that reach it: restored, it is found again.
    await chat.say(f"/checkpoint restore {saved[1]}")
    assert "«penguin» one" in await chat.say("/history search penguin")
