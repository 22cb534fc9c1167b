"""Building and running the Discord adapter against the fake Discord, for the tests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from adapters.discord import DiscordSettings
from adapters.discord_adapter import DiscordAdapter
from core import Completer, InboundHandler, MenuCommand
from tests.fakes.discord_api import TOKEN, WAIT, FakeDiscord


def discord_settings(fake: FakeDiscord, **options: Any) -> DiscordSettings:
    values: dict[str, Any] = {
        "enabled": True,
        "api_base_url": fake.api_url,
        "gateway_url": fake.gateway_url,
        "sync_commands": "off",
    }
    values.update(options)
    return DiscordSettings(**values)


def discord_adapter(
    fake: FakeDiscord,
    handler: InboundHandler,
    *,
    menu: tuple[MenuCommand, ...] = (),
    suggest: Completer | None = None,
    **options: Any,
) -> DiscordAdapter:
    return DiscordAdapter(
        handler,
        token=TOKEN,
        settings=discord_settings(fake, **options),
        menu=menu,
        suggest=suggest,
        guild_ready_timeout=0.1,  # the fake sends every guild at once
    )


@asynccontextmanager
async def running(adapter: DiscordAdapter) -> AsyncIterator[DiscordAdapter]:
    await adapter.start()
    try:
        async with asyncio.timeout(WAIT):
            await adapter.wait_until_ready()
        yield adapter
    finally:
        async with asyncio.timeout(WAIT):
            await adapter.stop()
