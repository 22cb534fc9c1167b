"""The Discord adapter, with real discord.py, against the fake Discord: messages."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import discord
import pytest

from adapters.base import FAILURE_REPLY, BaseAdapter
from adapters.discord_adapter import DiscordAdapter
from bot.app import reset_notifier
from core import Inbound, InboundHandler, MenuCommand
from core.clock import ManualClock
from core.sessions.manager import SessionManager
from core.storage.memory import MemoryStore
from tests.adapters.contract import AdapterContract
from tests.adapters.discord_helpers import discord_adapter, running
from tests.adapters.recording import RecordingHandler
from tests.fakes.discord_api import (
    ALICE,
    BOT_ID,
    BOT_THREAD_ID,
    BOT_USER,
    CHANNEL_ID,
    DM_CHANNEL_ID,
    GUILD_ID,
    THREAD_ID,
    WAIT,
    FakeDiscord,
)

MENU_NAMES = ("new", "checkpoint", "help")


def menu(*names: str) -> tuple[MenuCommand, ...]:
    aliases = {"help": ("start",)}
    return tuple(
        MenuCommand(name, f"/{name}", invokes=f"/{name}", aliases=aliases.get(name, ()))
        for name in names
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        yield server


async def test_a_dm_is_answered_in_the_dm(fake: FakeDiscord) -> None:
    handler = RecordingHandler()
    async with running(discord_adapter(fake, handler)):
        await fake.message("hello there", channel_id=DM_CHANNEL_ID, guild=False)
        await fake.until(lambda: fake.texts(DM_CHANNEL_ID) == ["echo: hello there"])
    inbound = handler.seen[0]
    assert inbound.platform == "discord"
    assert inbound.channel_id == f"dm:{DM_CHANNEL_ID}"
    assert inbound.user_id == ALICE["id"]
    assert inbound.is_direct
    assert inbound.thread_id is None
    assert inbound.display_name == "Alice"


def assert_pings_nobody(body: dict[str, object]) -> None:
    allowed = body["allowed_mentions"]
    assert isinstance(allowed, dict)
    assert allowed["parse"] == []  # no @everyone, @here, roles or users
    assert not allowed.get("roles") and not allowed.get("users")
    assert not allowed.get("replied_user")


def mention(user_id: int = BOT_ID) -> str:
    return f"<@{user_id}>"


async def test_in_a_guild_a_mention_is_answered_as_a_reply_and_other_talk_is_not(
    fake: FakeDiscord,
) -> None:
    handler = RecordingHandler()
    async with running(discord_adapter(fake, handler, command_prefix="!")):
        await fake.message("people talking among themselves")
        asked = await fake.message(f"{mention()} what is a session?", mentions=[BOT_USER])
        await fake.until(lambda: fake.texts(CHANNEL_ID) == ["echo: what is a session?"])
    assert handler.texts() == ["what is a session?"]
    inbound = handler.seen[0]
    assert inbound.channel_id == f"{GUILD_ID}:{CHANNEL_ID}"
    assert not inbound.is_direct
    body = fake.posted(CHANNEL_ID)[0].body
    assert body["message_reference"]["message_id"] == asked
    assert body["message_reference"]["fail_if_not_exists"] is False
    assert_pings_nobody(body)


async def test_respond_in_guilds_all_answers_every_message(fake: FakeDiscord) -> None:
    handler = RecordingHandler()
    async with running(discord_adapter(fake, handler, respond_in_guilds="all")):
        await fake.message("no mention needed")
        await fake.until(lambda: fake.texts(CHANNEL_ID) == ["echo: no mention needed"])


async def test_threads_are_their_own_channel_and_the_bots_own_thread_needs_no_mention(
    fake: FakeDiscord,
) -> None:
    handler = RecordingHandler()
    async with running(discord_adapter(fake, handler)):
        await fake.message("not for the bot", channel_id=THREAD_ID)
        await fake.message(f"{mention()} in a thread", channel_id=THREAD_ID, mentions=[BOT_USER])
        await fake.until(lambda: fake.texts(THREAD_ID) == ["echo: in a thread"])
        await fake.message("in the bot's thread", channel_id=BOT_THREAD_ID)
        await fake.until(lambda: fake.texts(BOT_THREAD_ID) == ["echo: in the bot's thread"])
    assert handler.texts() == ["in a thread", "in the bot's thread"]
    assert [(i.channel_id, i.thread_id) for i in handler.seen] == [
        (f"{GUILD_ID}:{CHANNEL_ID}", str(THREAD_ID)),
        (f"{GUILD_ID}:{CHANNEL_ID}", str(BOT_THREAD_ID)),
    ]


async def test_text_commands_with_the_prefix_or_the_mention(fake: FakeDiscord) -> None:
    handler = RecordingHandler()
    adapter = discord_adapter(fake, handler, command_prefix="!", menu=menu(*MENU_NAMES))
    async with running(adapter):
        await fake.message("!checkpoint list")
        await fake.message("!weather in Paris")  # not ours: another bot's command
        await fake.message(f"{mention()} new Trip plans", mentions=[BOT_USER])
        await fake.message("/help checkpoint")  # typed by a bridge without slash commands
        await fake.message("!start")  # an alias
        await fake.message("!anything", channel_id=DM_CHANNEL_ID, guild=False)
        await fake.until(lambda: len(handler.seen) == 5)
    # Different channels are answered concurrently: the DM may come first.
    assert sorted(handler.texts()) == [
        "/anything",  # in a DM every command reaches the router, which names the unknown
        "/checkpoint list",
        "/help checkpoint",
        "/new Trip plans",
        "/start",
    ]


async def test_bots_webhooks_system_messages_and_edits_are_ignored(fake: FakeDiscord) -> None:
    handler = RecordingHandler()
    async with running(discord_adapter(fake, handler, respond_in_guilds="all")):
        await fake.message("from the bot itself", author=BOT_USER)
        other_bot = dict(ALICE, id="940000000000000009", bot=True)
        await fake.message("from another bot", author=other_bot)
        await fake.message("from a webhook", webhook_id="960000000000000001")
        await fake.message("alice pinned a message", type=6)
        first = await fake.message("the real one")
        await fake.edit(first, "the real one, edited")
        await fake.message("the last one")
        await fake.until(lambda: len(fake.texts(CHANNEL_ID)) == 2)
    assert handler.texts() == ["the real one", "the last one"]


async def test_a_typing_indicator_shows_while_a_plain_message_is_answered(
    fake: FakeDiscord,
) -> None:
    handler = RecordingHandler()
    handler.gates["think"] = gate = asyncio.Event()
    async with running(discord_adapter(fake, handler)):
        await fake.message("think", channel_id=DM_CHANNEL_ID, guild=False)
        await fake.until(lambda: bool(fake.requests("POST", rf"/channels/{DM_CHANNEL_ID}/typing")))
        assert fake.texts(DM_CHANNEL_ID) == []
        gate.set()
        await fake.until(lambda: fake.texts(DM_CHANNEL_ID) == ["echo: think"])


async def test_everyone_in_echoed_text_pings_nobody(fake: FakeDiscord) -> None:
    handler = RecordingHandler()
    async with running(discord_adapter(fake, handler)):
        await fake.message(
            "@everyone look <@&970000000000000001>", channel_id=DM_CHANNEL_ID, guild=False
        )
        await fake.until(lambda: len(fake.texts(DM_CHANNEL_ID)) == 1)
    body = fake.posted(DM_CHANNEL_ID)[0].body
    assert body["content"] == "echo: @everyone look <@&970000000000000001>"
    assert_pings_nobody(body)


async def test_messages_of_one_channel_are_answered_in_order(fake: FakeDiscord) -> None:
    handler = RecordingHandler()
    handler.gates["first"] = gate = asyncio.Event()
    async with running(discord_adapter(fake, handler)):
        for text in ("first", "second", "third"):
            await fake.message(text, channel_id=DM_CHANNEL_ID, guild=False)
        await fake.message(f"{mention()} elsewhere", mentions=[BOT_USER])
        await fake.until(lambda: fake.texts(CHANNEL_ID) == ["echo: elsewhere"])
        gate.set()
        await fake.until(lambda: len(fake.texts(DM_CHANNEL_ID)) == 3)
    assert fake.texts(DM_CHANNEL_ID) == ["echo: first", "echo: second", "echo: third"]


async def test_a_channel_the_bot_lost_is_logged_once_and_skipped(
    fake: FakeDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    handler = RecordingHandler()
    fake.refuse[rf"/channels/{DM_CHANNEL_ID}/messages"] = 403
    async with running(discord_adapter(fake, handler)) as adapter:
        await adapter.send(f"dm:{DM_CHANNEL_ID}", "notice one")
        await adapter.send(f"dm:{DM_CHANNEL_ID}", "notice two")
        await adapter.send(f"{GUILD_ID}:{CHANNEL_ID}", "still reaches the rest")
        await fake.until(lambda: fake.texts(CHANNEL_ID) == ["still reaches the rest"])
    lost = [r for r in caplog.records if "lost access" in r.getMessage()]
    assert len(lost) == 1


async def test_reset_notices_reach_channels_and_threads(fake: FakeDiscord) -> None:
    async with running(discord_adapter(fake, RecordingHandler())) as adapter:
        await adapter.send(f"{GUILD_ID}:{CHANNEL_ID}", "Your session was reset.")
        await adapter.send(f"{GUILD_ID}:{CHANNEL_ID}", "In the thread too.", str(THREAD_ID))
        await fake.until(lambda: len(fake.texts()) == 2)
    assert fake.texts(CHANNEL_ID) == ["Your session was reset."]
    assert fake.texts(THREAD_ID) == ["In the thread too."]
    assert adapter.destination("telegram-chat", None) is None


class DiscordHarness:
    """The contract kit's view of Discord: a user writing to the bot in a DM."""

    failure_reply = FAILURE_REPLY
    channel = (f"dm:{DM_CHANNEL_ID}", None)

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self._saying: asyncio.Future[None] | None = None

    def adapter(self, handler: InboundHandler) -> BaseAdapter[Any]:
        return discord_adapter(self.fake, handler)

    async def ready(self, adapter: BaseAdapter[Any]) -> None:
        assert isinstance(adapter, DiscordAdapter)
        await adapter.wait_until_ready()

    def say(self, text: str) -> None:
        # Each message is dispatched after the one before, so they arrive in order.
        self._saying = asyncio.ensure_future(self._say_after(self._saying, text))

    async def _say_after(self, before: asyncio.Future[None] | None, text: str) -> None:
        if before is not None:
            await before
        await self.fake.message(text, channel_id=DM_CHANNEL_ID, guild=False)

    def messages(self) -> list[str]:
        return [text for text in self.fake.texts(DM_CHANNEL_ID) if text]

    def files(self) -> list[tuple[str, bytes]]:
        return [file for call in self.fake.posted(DM_CHANNEL_ID) for file in call.files]

    async def until(self, condition: Callable[[], bool]) -> None:
        await self.fake.until(condition)


class TestDiscordContract(AdapterContract):
    @pytest.fixture
    def harness(self, fake: FakeDiscord) -> DiscordHarness:
        return DiscordHarness(fake)


async def test_text_of_messages_stays_out_of_the_log_even_at_debug(
    fake: FakeDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with running(discord_adapter(fake, RecordingHandler())):
        await fake.message("my secret plans", channel_id=DM_CHANNEL_ID, guild=False)
        await fake.until(lambda: fake.texts(DM_CHANNEL_ID) == ["echo: my secret plans"])
    assert "secret plans" not in caplog.text
    assert "voice will NOT be supported" not in caplog.text


async def test_rate_limits_are_waited_out_by_discord_py(fake: FakeDiscord) -> None:
    fake.refuse_once[rf"/channels/{DM_CHANNEL_ID}/messages"] = 429
    async with running(discord_adapter(fake, RecordingHandler())):
        await fake.message("hi", channel_id=DM_CHANNEL_ID, guild=False)
        await fake.until(lambda: fake.texts(DM_CHANNEL_ID) == ["echo: hi", "echo: hi"])
    # The first attempt was refused with 429, the second, after the wait, went through.


async def test_an_invalid_token_ends_the_adapter_with_the_error(fake: FakeDiscord) -> None:
    fake.refuse["/users/@me"] = 401
    adapter = discord_adapter(fake, RecordingHandler())
    await adapter.start()
    with pytest.raises(discord.LoginFailure):
        async with asyncio.timeout(WAIT):
            await adapter.wait()


async def test_a_refused_message_content_intent_says_which_switch_to_flip(
    fake: FakeDiscord, caplog: pytest.LogCaptureFixture
) -> None:
    fake.privileged_intents = False
    adapter = discord_adapter(fake, RecordingHandler())
    await adapter.start()
    with pytest.raises(discord.PrivilegedIntentsRequired):
        async with asyncio.timeout(WAIT):
            await adapter.wait()
    assert "message_content = false" in caplog.text
    # Without the intent the bot connects, and still gets DMs.
    fake.refuse_once.clear()
    async with running(discord_adapter(fake, RecordingHandler(), message_content=False)):
        await fake.message("hi", channel_id=DM_CHANNEL_ID, guild=False)
        await fake.until(lambda: fake.texts(DM_CHANNEL_ID) == ["echo: hi"])


async def test_shards_identify_with_their_ids(fake: FakeDiscord) -> None:
    async with running(discord_adapter(fake, RecordingHandler(), shard_count=3, shard_ids=[0, 2])):
        await fake.until(lambda: fake.identifies == 2)
        await fake.message("hi", channel_id=DM_CHANNEL_ID, guild=False)
        await fake.until(lambda: fake.texts(DM_CHANNEL_ID) == ["echo: hi"])
    shards = sorted(frame["d"]["shard"] for frame in fake.gateway_frames if frame["op"] == 2)
    assert shards == [[0, 3], [2, 3]]
    assert not fake.requests("GET", "/gateway/bot")  # the count was given, not asked for


async def test_the_reset_notifier_posts_where_the_session_lived(fake: FakeDiscord) -> None:
    manager = SessionManager(MemoryStore(), clock=ManualClock())
    where = Inbound(
        "discord", f"{GUILD_ID}:{CHANNEL_ID}", ALICE["id"], "hi", thread_id=str(THREAD_ID)
    )
    session = (await manager.resolve(where)).session
    async with running(discord_adapter(fake, RecordingHandler())) as adapter:
        await reset_notifier([adapter])([session])
        await fake.until(lambda: len(fake.texts(THREAD_ID)) == 1)
    assert "/session resume" in fake.texts(THREAD_ID)[0]


async def test_a_stop_lets_the_message_in_progress_finish(fake: FakeDiscord) -> None:
    handler = RecordingHandler()
    handler.gates["slow"] = gate = asyncio.Event()
    adapter = discord_adapter(fake, handler)
    await adapter.start()
    async with asyncio.timeout(WAIT):
        await adapter.wait_until_ready()
    await fake.message("slow", channel_id=DM_CHANNEL_ID, guild=False)
    await fake.until(lambda: handler.texts() == ["slow"])
    stopping = asyncio.ensure_future(adapter.stop())
    await asyncio.sleep(0)
    assert not stopping.done()
    gate.set()
    async with asyncio.timeout(WAIT):
        await stopping
    assert fake.texts(DM_CHANNEL_ID) == ["echo: slow"]
