"""The ``openai`` responder through the real ``openai`` SDK against a fake endpoint."""

from __future__ import annotations

import asyncio
import logging
import re
import tomllib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from bot.openai_responder import NO_KEY, api_key, build
from bot.openai_settings import OpenAISettings
from bot.platforms import close_responder
from bot.tokenizers import counter_for
from commands import RouterSettings
from core import ConfigError, Role
from core.sessions.conversation import APOLOGY, NOTHING_TO_RETRY, USAGE_ESTIMATED
from core.streaming import streaming_to
from core.tokens import ESTIMATE
from tests.commands.helpers import ADMIN, Chat
from tests.encodings import cache_encoding
from tests.fakes.openai_api import API_KEY, FakeOpenAI

KEY_ENV = "SESSIONBOT_TEST_OPENAI_KEY"


@pytest.fixture
async def api() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, API_KEY)


MakeChat = Callable[..., Chat]


@pytest.fixture
async def make_chat(api: FakeOpenAI, key: None) -> AsyncIterator[MakeChat]:
    chats: list[Chat] = []

    def make(**options: Any) -> Chat:
        table: dict[str, Any] = {
            "base_url": api.url,
            "api_key_env": KEY_ENV,
            "model": "test-model",
            "max_retries": 0,
            "stream": False,
        }
        context_max_tokens = options.pop("context_max_tokens", 2000)
        tokens = options.pop("tokens", ESTIMATE)
        table.update(options)
        responder = build(OpenAISettings.model_validate(table))
        settings = RouterSettings(
            admins=frozenset({f"console:{ADMIN}"}), context_max_tokens=context_max_tokens
        )
        chat = Chat(responder=responder, settings=settings, tokens=tokens)
        chats.append(chat)
        return chat

    yield make
    for chat in chats:
        await close_responder(chat.router.responder)


async def test_answers_with_the_history_as_the_context(
    api: FakeOpenAI, make_chat: MakeChat
) -> None:
    chat = make_chat(system_prompt="Be brief.")
    assert await chat.say("hello") == "re: hello"
    assert await chat.say("and again") == "re: and again"
    assert api.requests[-1]["model"] == "test-model"
    assert api.requests[-1]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": "re: hello"},
        {"role": "user", "content": "and again"},
    ]
    assert "stream" not in api.requests[-1]


async def test_the_context_respects_the_budget_and_keeps_the_newest(
    api: FakeOpenAI, make_chat: MakeChat
) -> None:
    api.usage_scale = 1.0  # the endpoint counts as the estimate does
    chat = make_chat(context_max_tokens=30)
    for n in range(6):
        await chat.say(f"message number {n} " + "x" * 20)
    sent = api.requests[-1]["messages"]
    assert sent[-1] == {"role": "user", "content": "message number 5 " + "x" * 20}
    assert len(sent) < 11
    assert sum((len(m["content"]) + 3) // 4 for m in sent) <= 30
    huge = "y" * 1000  # over the budget alone: still sent
    await chat.say(huge)
    assert api.requests[-1]["messages"] == [{"role": "user", "content": huge}]


@pytest.mark.parametrize(("scale", "budget"), [(2.0, 20), (0.5, 80), (1.3, 32)])
async def test_the_budget_is_calibrated_by_the_usage_reported(
    api: FakeOpenAI, make_chat: MakeChat, scale: float, budget: int
) -> None:
    api.usage_scale = scale  # the endpoint counts `scale` times the estimate
    chat = make_chat(context_max_tokens=40)
    for n in range(12):
        await chat.say(f"message number {n:02d} " + "x" * 20)
    sent = api.requests[-1]["messages"]
    spent = sum((len(m["content"]) + 3) // 4 for m in sent)
    # 40 of the endpoint's tokens are 40 / scale estimated ones (1.3 rounds to 1.25).
    assert budget - 11 < spent <= budget


async def test_an_estimated_usage_does_not_calibrate(api: FakeOpenAI, make_chat: MakeChat) -> None:
    api.usage = False
    chat = make_chat(context_max_tokens=40)
    for n in range(12):
        await chat.say(f"message number {n:02d} " + "x" * 20)
    spent = sum((len(m["content"]) + 3) // 4 for m in api.requests[-1]["messages"])
    assert 40 - 11 < spent <= 40


async def test_usage_is_recorded_and_summed(api: FakeOpenAI, make_chat: MakeChat) -> None:
    chat = make_chat()
    await chat.say("one two three")
    await chat.say("four")
    messages = await chat.manager.history.all_messages(await chat.session())
    answers = [m for m in messages if m.role is Role.ASSISTANT]
    # The fake counts a word a token and four tokens a message.
    assert [(m.tokens_in, m.tokens_out) for m in answers] == [(7, 4), (20, 2)]
    assert all(USAGE_ESTIMATED not in m.metadata for m in answers)
    session = await chat.session()
    assert (session.tokens_in, session.tokens_out) == (27, 6)
    assert "Tokens in/out: 27 / 6" in await chat.say("/session")


async def test_an_endpoint_without_usage_gets_an_estimate_marked_as_one(
    api: FakeOpenAI, make_chat: MakeChat
) -> None:
    api.usage = False
    chat = make_chat(system_prompt="abcdefgh")
    await chat.say("12345678")
    answer = (await chat.manager.history.all_messages(await chat.session()))[-1]
    assert answer.metadata[USAGE_ESTIMATED] is True
    assert (answer.tokens_in, answer.tokens_out) == (
        4,
        3,
    )  # 2 + 2 in; "re: 12345678" (12 characters) out


async def test_a_429_is_retried_after_retry_after(api: FakeOpenAI, make_chat: MakeChat) -> None:
    chat = make_chat(max_retries=2)
    api.refuse_next(429, retry_after=0.2)
    api.refuse_next(500)
    started = asyncio.get_running_loop().time()
    assert await chat.say("hello") == "re: hello"
    assert len(api.requests) == 3
    assert asyncio.get_running_loop().time() - started >= 0.2


async def test_a_failure_keeps_the_message_and_retry_answers_it(
    api: FakeOpenAI, make_chat: MakeChat, caplog: pytest.LogCaptureFixture
) -> None:
    chat = make_chat(max_retries=1)
    api.refuse_next(500, count=2)
    with caplog.at_level(logging.WARNING):
        assert await chat.say("the secret plan") == APOLOGY
    assert len(api.requests) == 2
    assert await chat.contents() == ["the secret plan"]
    assert "HTTP 500" in caplog.text
    assert "secret plan" not in caplog.text
    assert API_KEY not in caplog.text
    assert await chat.say("/retry") == "re: the secret plan"
    assert await chat.contents() == ["the secret plan", "re: the secret plan"]
    assert await chat.say("/retry") == NOTHING_TO_RETRY
    assert len(api.requests) == 3


async def test_retry_is_in_help(make_chat: MakeChat) -> None:
    chat = make_chat()
    assert "/retry" in await chat.say("/help")


async def test_a_timeout_gives_the_one_line(api: FakeOpenAI, make_chat: MakeChat) -> None:
    chat = make_chat(timeout_seconds=1)
    api.hang_on = "wait"
    assert await chat.say("please wait") == APOLOGY
    assert await chat.contents() == ["please wait"]


async def test_a_hung_endpoint_does_not_hold_up_another_conversation(
    api: FakeOpenAI, make_chat: MakeChat
) -> None:
    chat = make_chat(timeout_seconds=600)
    api.hang_on = "hang"
    hung = asyncio.create_task(chat.say("hang here", user="bob"))
    await api.wait_for_requests(1)
    assert await asyncio.wait_for(chat.say("hello", user="carol"), 10) == "re: hello"
    assert await asyncio.wait_for(chat.say("hello again", user="carol"), 10) == "re: hello again"
    assert not hung.done()
    await api.close()  # the hung request fails: bob is told, and keeps his message
    assert await asyncio.wait_for(hung, 20) == APOLOGY
    assert await chat.contents(user="bob") == ["hang here"]


class Recorder:
    def __init__(self) -> None:
        self.shown: list[str] = []

    async def update(self, text: str) -> None:
        self.shown.append(text)


async def test_streaming_shows_the_text_as_it_grows_and_stores_it_once(
    api: FakeOpenAI, make_chat: MakeChat
) -> None:
    chat = make_chat(stream=True)
    recorder = Recorder()
    with streaming_to(recorder):
        replies = await chat.send("one two three")
    assert [r.text for r in replies] == ["re: one two three"]
    assert replies[0].streamed
    assert recorder.shown == ["", "re:", "re: one", "re: one two", "re: one two three"]
    assert api.requests[-1]["stream"] is True
    messages = await chat.manager.history.all_messages(await chat.session())
    assert [m.content for m in messages] == ["one two three", "re: one two three"]
    assert (messages[-1].tokens_in, messages[-1].tokens_out) == (7, 4)


async def test_without_usage_the_models_tokenizer_counts_where_it_is_here(
    api: FakeOpenAI, make_chat: MakeChat, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache_encoding(tmp_path / "tiktoken", monkeypatch)
    api.usage = False
    chat = make_chat(system_prompt="Be brief.", tokens=counter_for("auto", "gpt-4"))
    await chat.say("1 2 3 4 5 6 7 8 9 10")
    answer = (await chat.manager.history.all_messages(await chat.session()))[-1]
    assert answer.metadata[USAGE_ESTIMATED] is True
    # By cl100k_base: "Be brief." is 3 tokens and the message 19 (the estimate: 3 and
    # 5); the answer "re: 1 2 … 10" is 22 (the estimate: 6).
    assert (answer.tokens_in, answer.tokens_out) == (3 + 19, 22)


async def test_a_stream_without_usage_is_estimated(api: FakeOpenAI, make_chat: MakeChat) -> None:
    api.usage = False
    chat = make_chat(stream=True)
    with streaming_to(Recorder()):
        await chat.send("hi")
    answer = (await chat.manager.history.all_messages(await chat.session()))[-1]
    assert answer.metadata[USAGE_ESTIMATED] is True


async def test_a_failed_stream_stores_nothing(api: FakeOpenAI, make_chat: MakeChat) -> None:
    chat = make_chat(stream=True)
    api.refuse_next(503)
    recorder = Recorder()
    with streaming_to(recorder):
        replies = await chat.send("hello")
    assert [(r.text, r.streamed) for r in replies] == [(APOLOGY, True)]
    assert recorder.shown == [""]
    assert await chat.contents() == ["hello"]


async def test_without_a_stream_a_streaming_responder_answers_whole(
    api: FakeOpenAI, make_chat: MakeChat
) -> None:
    chat = make_chat(stream=True)
    replies = await chat.send("hello")
    assert [(r.text, r.streamed) for r in replies] == [("re: hello", False)]
    assert "stream" not in api.requests[-1]


async def test_overrides_pick_another_model_and_prompt(
    api: FakeOpenAI, make_chat: MakeChat
) -> None:
    chat = make_chat(
        system_prompt="general",
        overrides=[
            {"platform": "console", "channel_id": "ops", "model": "big", "system_prompt": "ops"},
            {"is_direct": True, "temperature": 0.2},
        ],
    )
    await chat.say("hi", channel="ops")
    assert api.requests[-1]["model"] == "big"
    assert api.requests[-1]["messages"][0] == {"role": "system", "content": "ops"}
    assert "temperature" not in api.requests[-1]
    await chat.say("hi", channel="dm", is_direct=True)
    assert api.requests[-1]["model"] == "test-model"
    assert api.requests[-1]["temperature"] == 0.2
    await chat.say("hi", channel="other")
    assert api.requests[-1]["messages"][0] == {"role": "system", "content": "general"}


async def test_max_output_tokens_is_sent(api: FakeOpenAI, make_chat: MakeChat) -> None:
    chat = make_chat(max_output_tokens=64, temperature=0.5)
    await chat.say("hi")
    assert (api.requests[-1]["max_tokens"], api.requests[-1]["temperature"]) == (64, 0.5)


# -- settings -----------------------------------------------------------------------


def settings(**table: Any) -> OpenAISettings:
    return OpenAISettings.model_validate({"model": "m", **table})


@pytest.mark.parametrize(
    "table",
    [
        {"temperature": 2.5},
        {"temperature": True},
        {"temperature": "0.5"},
        {"max_output_tokens": 0},
        {"timeout_seconds": 0.5},
        {"timeout_seconds": 4000},
        {"max_retries": 11},
        {"max_retries": -1},
        {"base_url": "ftp://x"},
        {"api_key_env": "not a name"},
        {"model": ""},
        {"unknown": 1},
        {"overrides": [{"platform": "console"}]},
        {"overrides": [{"model": "x", "temperature": 9}]},
        {"system_prompt": "a", "system_prompt_file": "/nonexistent"},
        {"system_prompt_file": "/nonexistent/prompt.txt"},
    ],
)
def test_bad_settings_are_refused(table: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        settings(**table)


def test_a_model_is_required() -> None:
    with pytest.raises(ValidationError, match="model"):
        OpenAISettings.model_validate({})


def test_the_system_prompt_can_come_from_a_file(tmp_path: Path) -> None:
    prompt = tmp_path / "prompt.txt"
    prompt.write_text("You are terse.\n")
    assert settings(system_prompt_file=str(prompt)).system_prompt == "You are terse."


def test_openai_itself_needs_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    with pytest.raises(ConfigError, match=KEY_ENV):
        api_key(settings(api_key_env=KEY_ENV))
    assert api_key(settings(api_key_env=KEY_ENV, base_url="http://127.0.0.1:1/v1")) == NO_KEY
    monkeypatch.setenv(KEY_ENV, "sk-real")
    assert api_key(settings(api_key_env=KEY_ENV)) == "sk-real"


def test_the_example_config_shows_every_option_with_its_default() -> None:
    text = (Path(__file__).resolve().parents[2] / "config.example.toml").read_text()
    section = text[text.index('# With kind = "openai"') : text.index("[identity]")]
    shown_keys = re.compile(r"# (\w+ = |\[\[responder)")
    lines = [line[2:] for line in section.splitlines() if shown_keys.match(line)]
    table = tomllib.loads("\n".join(lines).replace("[[responder.overrides]]", "[[overrides]]"))
    del table["system_prompt_file"]  # the alternative to system_prompt, shown by name
    shown = OpenAISettings.model_validate({"kind": "openai", **table})
    assert set(table) | {"kind", "system_prompt_file"} == set(OpenAISettings.model_fields)
    defaults = OpenAISettings(model="m")
    for name in ("api_key_env", "system_prompt", "timeout_seconds", "max_retries", "stream"):
        assert getattr(shown, name) == getattr(defaults, name), name
