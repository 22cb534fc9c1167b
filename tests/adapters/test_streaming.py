"""Answers shown as they are written: the live message, the console and Telegram.

The end-to-end cases run the real ``openai`` SDK against the fake OpenAI-compatible
server, streaming, through the router, into the console or the Telegram adapter
(real python-telegram-bot against the fake Bot API).
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from typing import Any

import pytest

import adapters.telegram_live
from adapters.console import ConsoleAdapter
from adapters.streaming import TYPING_DELAY, LiveMessage
from bot.openai_responder import build
from bot.openai_settings import OpenAISettings
from bot.platforms import close_responder
from core import current_stream
from core.models import Inbound, Reply, Role
from tests.adapters.test_telegram import ALICE, running, telegram_adapter
from tests.commands.helpers import Chat
from tests.fakes.openai_api import API_KEY, FakeOpenAI
from tests.fakes.telegram_api import WAIT, FakeTelegramAPI, private_chat

KEY_ENV = "SESSIONBOT_TEST_OPENAI_KEY"
FAILED = "The model did not answer. Your message is kept: send /retry to ask again."


class Recorded(LiveMessage[int]):
    def __init__(self, **options: Any) -> None:
        self.now = 0.0
        super().__init__(
            lambda text: [text[i : i + 10] for i in range(0, len(text), 10)],
            interval=1.0,
            clock=lambda: self.now,
            **options,
        )
        self.calls: list[tuple[str, str]] = []
        self.fail_edits = False

    async def typing(self) -> None:
        self.calls.append(("typing", ""))

    async def post(self, text: str) -> int | None:
        self.calls.append(("post", text))
        return 1

    async def edit(self, handle: int, text: str, *, final: bool) -> None:
        if self.fail_edits and not final:
            raise RuntimeError("edit refused")
        self.calls.append(("final" if final else "edit", text))


async def test_edits_are_throttled_and_the_final_text_always_shown() -> None:
    live = Recorded()
    await live.update("")  # a quick answer: no typing indicator
    await live.update("one")
    live.now = 0.5
    await live.update("one two")  # too soon: shown later
    live.now = 1.6
    await live.update("one two three")
    await live.update("one two three!")  # too soon again, and past the first part
    assert await live.finish("one two th")
    assert live.calls == [("post", "one"), ("edit", "one two th")]
    assert await live.finish("final")
    assert live.calls[-1] == ("final", "final")


async def test_a_slow_answer_shows_typing_until_text_comes() -> None:
    live = Recorded()
    await live.update("")
    await asyncio.sleep(TYPING_DELAY + 0.3)
    assert live.calls == [("typing", "")]
    await live.update("one")
    await asyncio.sleep(TYPING_DELAY)  # the indicator repeats only while nothing is shown
    assert live.calls == [("typing", ""), ("post", "one")]
    await live.close()


async def test_close_stops_a_pending_typing_indicator() -> None:
    live = Recorded()
    await live.update("")
    await live.close()
    await asyncio.sleep(TYPING_DELAY + 0.2)
    assert live.calls == []


async def test_a_failed_live_edit_stops_the_live_view_only() -> None:
    live = Recorded()
    live.fail_edits = True
    await live.update("one")
    live.now = 2.0
    await live.update("one two")
    live.now = 4.0
    await live.update("one two three")
    assert live.calls == [("post", "one")]
    assert await live.finish("one two")
    assert live.calls[-1] == ("final", "one two")


async def test_nothing_shown_means_the_reply_is_posted_as_usual() -> None:
    assert not await Recorded().finish("text")


@pytest.fixture
async def openai_api(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeOpenAI]:
    monkeypatch.setenv(KEY_ENV, API_KEY)
    async with FakeOpenAI() as fake:
        fake.chunk_delay = 0.05
        yield fake


@pytest.fixture
async def chat(openai_api: FakeOpenAI) -> AsyncIterator[Chat]:
    settings = OpenAISettings.model_validate(
        {"base_url": openai_api.url, "api_key_env": KEY_ENV, "model": "m", "max_retries": 0}
    )
    chat = Chat(responder=build(settings))
    yield chat
    await close_responder(chat.router.responder)


class Writes(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[str] = []

    def write(self, text: str) -> int:
        self.writes.append(text)
        return super().write(text)


async def test_the_console_prints_the_answer_as_it_comes(chat: Chat) -> None:
    output = Writes()
    console = ConsoleAdapter(
        chat.router.handle, input=io.StringIO("one two three\n/history\n"), output=output
    )
    await console.start()
    async with asyncio.timeout(WAIT):
        await console.wait()
    assert output.writes[:5] == ["re:", " one", " two", " three", "\n"]
    assert output.getvalue().count("re: one two three") == 2  # the answer, then /history
    assert await chat.contents(platform="console", user="local", channel="console") == [
        "one two three",
        "re: one two three",
    ]


async def test_the_console_ends_a_failed_answer_with_the_failure_line(
    chat: Chat, openai_api: FakeOpenAI
) -> None:
    openai_api.refuse_next(500)
    output = Writes()
    console = ConsoleAdapter(chat.router.handle, input=io.StringIO("hello\n"), output=output)
    await console.start()
    async with asyncio.timeout(WAIT):
        await console.wait()
    assert output.getvalue() == (
        "The model did not answer. Your message is kept: send /retry to ask again.\n"
    )


@pytest.fixture(autouse=True)
def no_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PTB_TIMEDELTA", "1")


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegramAPI]:
    async with FakeTelegramAPI() as server:
        yield server


async def test_telegram_edits_one_message_as_the_answer_grows(
    chat: Chat, openai_api: FakeOpenAI, telegram: FakeTelegramAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(adapters.telegram_live, "PRIVATE_INTERVAL", 0.1)
    openai_api.delay = TYPING_DELAY + 0.5  # long enough for "typing…"
    openai_api.chunk_delay = 0.15
    words = " ".join(f"w{n}" for n in range(8))
    adapter = telegram_adapter(telegram, chat.router.handle)  # the router, as bot wires it
    async with running(adapter):
        telegram.push_message(private_chat(ALICE), ALICE, words)
        await telegram.wait_until(lambda: telegram.shown(ALICE["id"]) == [f"re: {words}"])
    assert telegram.calls_to("sendChatAction")
    [sent] = telegram.calls_to("sendMessage")
    edits = [str(c.params["text"]) for c in telegram.calls_to("editMessageText")]
    assert len(edits) >= 2
    shown = [str(sent.params["text"]), *edits]
    assert all(f"re: {words}".startswith(text) for text in shown)
    assert shown == sorted(shown, key=len) and shown[-1] == f"re: {words}"
    session = await chat.session(
        platform="telegram", user=str(ALICE["id"]), channel=str(ALICE["id"]), is_direct=True
    )
    messages = await chat.manager.history.all_messages(session)
    assert [(m.role, m.content) for m in messages] == [
        (Role.USER, words),
        (Role.ASSISTANT, f"re: {words}"),
    ]


async def test_telegram_posts_a_long_answer_in_parts_after_the_live_one(
    telegram: FakeTelegramAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    long = "x" * 5000

    async def answer(inbound: Inbound) -> list[Reply]:
        stream = current_stream()
        assert stream is not None
        await stream.update("")
        await stream.update("x" * 100)
        await stream.update(long)
        return [Reply(long, streamed=True)]

    adapter = telegram_adapter(telegram, answer)
    async with running(adapter):
        telegram.push_message(private_chat(ALICE), ALICE, "go")
        await telegram.wait_until(lambda: len(telegram.shown(ALICE["id"])) == 2)
        await asyncio.sleep(0.2)
    assert "".join(telegram.shown(ALICE["id"])) == long
    assert len(telegram.calls_to("sendMessage")) == 2


async def test_a_reply_not_streamed_is_posted_as_usual(telegram: FakeTelegramAPI) -> None:
    async def answer(inbound: Inbound) -> list[Reply]:
        return [Reply("plain")]

    adapter = telegram_adapter(telegram, answer)
    async with running(adapter):
        telegram.push_message(private_chat(ALICE), ALICE, "go")
        await telegram.wait_for_calls("sendMessage")
    assert telegram.calls_to("editMessageText") == []
    assert telegram.shown(ALICE["id"]) == ["plain"]


async def test_telegram_replaces_an_answer_cut_short_with_the_failure_line(
    chat: Chat,
    openai_api: FakeOpenAI,
    telegram: FakeTelegramAPI,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(adapters.telegram_live, "PRIVATE_INTERVAL", 0.1)
    openai_api.chunk_delay = 0.1
    openai_api.cut_stream_after = 4  # the role, then three words
    adapter = telegram_adapter(telegram, chat.router.handle)
    async with running(adapter):
        telegram.push_message(private_chat(ALICE), ALICE, "one two three four five six")
        await telegram.wait_until(lambda: telegram.shown(ALICE["id"]) == [FAILED])
    [sent] = telegram.calls_to("sendMessage")
    assert str(sent.params["text"]).startswith("re:")  # the live text, then the line
    session = await chat.session(
        platform="telegram", user=str(ALICE["id"]), channel=str(ALICE["id"]), is_direct=True
    )
    messages = await chat.manager.history.all_messages(session)
    assert [m.content for m in messages] == ["one two three four five six"]
    [line] = [r for r in caplog.records if r.name == "core.sessions.conversation"]
    assert "the answer was cut short" in line.getMessage() and line.exc_info is None
