"""The context strategies, checked message by message on what the endpoint receives.

The real ``openai`` SDK talks to the fake OpenAI-compatible server; the router,
the session manager and the store are the real ones (an encrypted SQLite file
where encryption at rest is checked).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from bot.openai_responder import build
from bot.openai_settings import OpenAISettings
from bot.platforms import close_responder
from commands import RouterSettings
from core.crypto.envelope import decode_master_key, generate_master_key
from core.crypto.opening import open_store
from core.sessions.strategies import Strategy
from core.storage.protocols import Store
from tests.commands.helpers import ADMIN, Chat, id_after
from tests.fakes.openai_api import API_KEY, FakeOpenAI

KEY_ENV = "SESSIONBOT_TEST_OPENAI_KEY"
PAD = "x" * 36


def m(n: int) -> str:
    """A user message of 40 characters, 10 estimated tokens."""
    return f"m{n:02d} {PAD}"


def r(n: int) -> str:
    """The fake's answer to it: 44 characters, 11 tokens."""
    return f"re: {m(n)}"


@pytest.fixture
async def api(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeOpenAI]:
    monkeypatch.setenv(KEY_ENV, API_KEY)
    async with FakeOpenAI() as fake:
        fake.summary_marker = "running summary"
        fake.usage_scale = 1.0  # counts as the estimate does: budgets stay as set
        yield fake


MakeChat = Callable[..., Chat]


@pytest.fixture
async def make_chat(api: FakeOpenAI) -> AsyncIterator[MakeChat]:
    chats: list[Chat] = []

    def make(strategy: Strategy, max_tokens: int = 60, store: Store | None = None) -> Chat:
        settings = OpenAISettings.model_validate(
            {"base_url": api.url, "api_key_env": KEY_ENV, "model": "m", "max_retries": 0}
        )
        router_settings = RouterSettings(
            admins=frozenset({f"console:{ADMIN}"}),
            context_max_tokens=max_tokens,
            context_strategy=strategy,
        )
        chat = Chat(responder=build(settings), settings=router_settings, store=store)
        chats.append(chat)
        return chat

    yield make
    for chat in chats:
        await chat.router.contexts.drain()
        await close_responder(chat.router.responder)


def sent(api: FakeOpenAI) -> list[tuple[str, str]]:
    """The last answer request's messages, as (role, content)."""
    answers = [body for body in api.requests if body not in api.summary_requests]
    return [(message["role"], message["content"]) for message in answers[-1]["messages"]]


def tokens(messages: list[tuple[str, str]]) -> int:
    return sum((len(content) + 3) // 4 for _, content in messages)


# -- smart ----------------------------------------------------------------------------


async def test_smart_sends_pins_first_then_the_newest_that_fit(
    api: FakeOpenAI, make_chat: MakeChat
) -> None:
    chat = make_chat(Strategy.SMART, max_tokens=52)
    await chat.say(m(1))
    assert await chat.say("/history pin 1") == f"Pinned message #1: {m(1)}"
    for n in range(2, 6):
        await chat.say(m(n))
    # The pin (10 tokens), then the newest that fit the 42 left.
    assert sent(api) == [
        ("user", m(1)),
        ("assistant", r(3)),
        ("user", m(4)),
        ("assistant", r(4)),
        ("user", m(5)),
    ]
    assert tokens(sent(api)) == 52
    assert await chat.say("/history pins") == f"1 pinned message:\n#1 alice: {m(1)}"
    assert "smart, up to 52 tokens, 1 pinned message" in await chat.say("/session")
    assert await chat.say("/history unpin 1") == "Unpinned message #1."
    await chat.say(m(6))
    assert sent(api)[0] != ("user", m(1))
    assert sent(api)[-1] == ("user", m(6))


async def test_smart_keeps_the_newest_message_whatever_the_pins_cost(
    api: FakeOpenAI, make_chat: MakeChat
) -> None:
    chat = make_chat(Strategy.SMART, max_tokens=12)
    await chat.say(m(1))
    await chat.say("/history pin")  # the last message: the answer
    await chat.say(m(2))
    assert sent(api) == [("user", m(2))]  # the pin (11) and the message (10) exceed 12


async def test_a_pinned_newest_message_is_sent_once_and_last(
    api: FakeOpenAI, make_chat: MakeChat
) -> None:
    chat = make_chat(Strategy.SMART)
    await converse(chat, 1)
    api.refuse_next(500)
    assert (await chat.say(m(2))).startswith("The model did not answer")
    await chat.say("/history pin 1")
    await chat.say("/history pin")  # the unanswered message itself
    assert await chat.say("/retry") == r(2)
    assert sent(api) == [("user", m(1)), ("assistant", r(1)), ("user", m(2))]


async def test_pins_belong_to_the_branch(api: FakeOpenAI, make_chat: MakeChat) -> None:
    chat = make_chat(Strategy.SMART)
    await chat.say(m(1))
    await chat.say("/history pin 1")
    await chat.say(m(2))
    saved = id_after("restore", await chat.say('/checkpoint save "early"'))
    await chat.say(m(3))
    await chat.say("/history pin 5")
    assert (await chat.say("/history pins")).splitlines()[1:] == [
        f"#1 alice: {m(1)}",
        f"#5 alice: {m(3)}",
    ]
    await chat.say(f"/checkpoint restore {saved}")
    assert (await chat.say("/history pins")).splitlines()[1:] == [f"#1 alice: {m(1)}"]
    await chat.say(f"/checkpoint branch {saved}")
    assert (await chat.say("/history pins")).splitlines()[1:] == [f"#1 alice: {m(1)}"]


@pytest.mark.parametrize(
    ("command", "line"),
    [
        ("/history pin 99", "No message #99; this conversation has 2."),
        ("/history pin nothing!", "'nothing!' is not a message id."),
        ("/history unpin 1", "No pinned message '1'; /history pins lists them."),
    ],
)
async def test_bad_pins_get_one_line(make_chat: MakeChat, command: str, line: str) -> None:
    chat = make_chat(Strategy.SMART)
    await chat.say(m(1))
    assert (await chat.say(command)).startswith(line)


async def test_nothing_to_pin_yet(make_chat: MakeChat) -> None:
    chat = make_chat(Strategy.SMART)
    assert (await chat.say("/history pin")).startswith("There are no messages to pin yet.")


# -- summarize ------------------------------------------------------------------------


async def converse(chat: Chat, *numbers: int) -> None:
    for n in numbers:
        assert await chat.say(m(n)) == r(n)


async def test_summarize_folds_the_overflow_off_the_reply_path_incrementally(
    api: FakeOpenAI, make_chat: MakeChat
) -> None:
    chat = make_chat(Strategy.SUMMARIZE)
    await converse(chat, 1, 2, 3)
    assert api.summary_requests == []
    await converse(chat, 4)  # 73 tokens: m1 and r1 fall out of the window
    assert sent(api)[0] == ("user", m(2))
    await chat.router.contexts.drain()
    [first] = api.summary_requests
    assert [(x["role"], x["content"]) for x in first["messages"]][1:] == [
        ("user", m(1)),
        ("assistant", r(1)),
        ("user", m(2)),
        ("assistant", r(2)),
        ("user", "Write the updated summary now."),
    ]
    assert await chat.say("/history summary") == (
        "Summary of messages 1 to 4:\nS[; m01,re:m01,m02,re:m02]"
    )
    await converse(chat, 5)
    summary = "Summary of the conversation so far:\nS[; m01,re:m01,m02,re:m02]"
    assert sent(api) == [
        ("system", summary),
        ("assistant", r(3)),
        ("user", m(4)),
        ("assistant", r(4)),
        ("user", m(5)),
    ]
    assert tokens(sent(api)) <= 60
    await chat.router.contexts.drain()
    second = api.summary_requests[-1]["messages"]
    assert ("system", summary) in [(x["role"], x["content"]) for x in second]
    assert await chat.say("/history summary") == (
        "Summary of messages 1 to 7:\nS[S[; m01,re:m01,m02,re:m02]; m03,re:m03,m04]"
    )
    assert "summarize, up to 60 tokens, messages 1 to 7 summarized" in await chat.say("/session")


async def test_a_summary_follows_checkpoints_and_branches(
    api: FakeOpenAI, make_chat: MakeChat
) -> None:
    chat = make_chat(Strategy.SUMMARIZE)
    await converse(chat, 1)
    first = id_after("restore", await chat.say('/checkpoint save "first"'))
    await converse(chat, 2)
    early = id_after("restore", await chat.say('/checkpoint save "early"'))
    await converse(chat, 3, 4)
    await chat.router.contexts.drain()
    await converse(chat, 5)
    await chat.router.contexts.drain()
    late = id_after("restore", await chat.say('/checkpoint save "late"'))
    assert (await chat.say("/history summary")).startswith("Summary of messages 1 to 7:")
    await chat.say(f"/checkpoint restore {early}")
    assert (await chat.say("/history summary")).startswith("Summary of messages 1 to 4:")
    await chat.say(f"/checkpoint restore {first}")
    assert (await chat.say("/history summary")).startswith("No summary yet")
    await chat.say(f"/checkpoint branch {late}")
    assert (await chat.say("/history summary")).startswith("Summary of messages 1 to 7:")


async def test_a_failed_summary_leaves_the_conversation_going(
    api: FakeOpenAI, make_chat: MakeChat
) -> None:
    chat = make_chat(Strategy.SUMMARIZE)
    await converse(chat, 1, 2, 3)
    api.refuse_next(500, count=2)  # the answer is asked first, then the summary
    assert (await chat.say(m(4))).startswith("The model did not answer")
    await chat.router.contexts.drain()
    assert (await chat.say("/history summary")).startswith("No summary yet")
    assert await chat.say("/retry") == r(4)
    await chat.router.contexts.drain()
    assert (await chat.say("/history summary")).startswith("Summary of messages 1 to 4:")


async def test_summaries_are_encrypted_at_rest(
    api: FakeOpenAI, make_chat: MakeChat, tmp_path: Path
) -> None:
    master = decode_master_key(generate_master_key(), source="test")
    store = await open_store(f"sqlite:///{tmp_path / 'bot.db'}", master_key=master)
    try:
        chat = make_chat(Strategy.SUMMARIZE, store=store)
        await converse(chat, 1, 2, 3, 4)
        await chat.router.contexts.drain()
        assert "re:m01" in await chat.say("/history summary")
    finally:
        await store.close()
    raw = await asyncio.to_thread(read_database, tmp_path)
    assert b"re:m01" not in raw
    assert b"m01 xxxx" not in raw


def read_database(directory: Path) -> bytes:
    return b"".join(path.read_bytes() for path in directory.glob("bot.db*"))


# -- choosing a strategy ----------------------------------------------------------------


async def test_admins_choose_the_strategy_per_channel(api: FakeOpenAI, make_chat: MakeChat) -> None:
    chat = make_chat(Strategy.RECENT)
    assert (await chat.say("/session context smart")).startswith("Only admins")
    assert await chat.say("/session context smart", user=ADMIN) == (
        "This channel now uses the smart context strategy."
    )
    assert "Context: smart" in await chat.say("/session")
    assert "Context: recent" in await chat.say("/session", channel="elsewhere")
    assert (await chat.say("/session context clever", user=ADMIN)).startswith(
        "Unknown strategy 'clever'; choose recent, smart, summarize or default."
    )
    await chat.say(m(1))
    await chat.say("/history pin 1")
    await converse(chat, 2, 3, 4, 5, 6)
    assert sent(api)[0] == ("user", m(1))
    assert await chat.say("/session context default", user=ADMIN) == (
        "This channel now uses the configured context strategy (recent)."
    )
    await converse(chat, 7)
    assert sent(api)[0] != ("user", m(1))
