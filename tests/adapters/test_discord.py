"""The Discord adapter, with real discord.py, against the fake Discord: messages."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.adapters.discord_helpers import RecordingHandler, discord_adapter, running
from tests.fakes.discord_api import (
    ALICE,
    BOT_ID,
    BOT_THREAD_ID,
    BOT_USER,
    CHANNEL_ID,
    DM_CHANNEL_ID,
    GUILD_ID,
    THREAD_ID,
    FakeDiscord,
)

MENU_NAMES = ("new", "checkpoint", "help")


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
