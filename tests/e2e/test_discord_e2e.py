"""``sessionbot run`` with the Discord adapter, as a subprocess, against the fake Discord.

The fake (:mod:`tests.fakes.discord_api`) runs in the test's event loop and the bot
in a child process started as an operator would, with its token in the environment.
Every wait polls the fake or the bot's log with a generous timeout and fails at
once if the bot exits; each bot is stopped with SIGTERM, killed if it hangs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.child import BotChild, child_environment
from tests.e2e.test_telegram_e2e import toml_lines
from tests.fakes.discord_api import APP_ID, DM_CHANNEL_ID, TOKEN, FakeDiscord

pytestmark = pytest.mark.e2e

STARTUP = 90.0
WAIT = 30.0
CONNECTED = "connected to Discord"


class DiscordBot(BotChild):
    """One ``sessionbot run`` child with the Discord adapter pointed at the fake."""

    def __init__(self, directory: Path, fake: FakeDiscord, **discord: Any) -> None:
        self.fake = fake
        options = {
            "enabled": True,
            "api_base_url": fake.api_url,
            "gateway_url": fake.gateway_url,
            **discord,
        }
        config = [
            "[bot]",
            "rate_limit_per_minute = 0",
            "[storage]",
            f'url = "sqlite:///{directory / "bot.db"}"',
            "[adapters.console]",
            "enabled = false",
            "[adapters.discord]",
            *toml_lines(options),
        ]
        super().__init__(
            directory, "\n".join(config) + "\n", child_environment({"DISCORD_BOT_TOKEN": TOKEN})
        )

    async def start(self) -> None:
        """Start the bot; return once it is connected to the gateway."""
        connected = self.log.count(CONNECTED) + 1
        await self.spawn()
        await self.until(lambda: self.log.count(CONNECTED) >= connected, within=STARTUP)

    async def until(self, condition: Callable[[], bool], within: float = WAIT) -> None:
        """Return once ``condition()`` holds; fail at once if the bot exits."""
        await self.poll(condition, within, "a condition on the fake's calls")


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        yield server


def callbacks(fake: FakeDiscord, interaction_id: int) -> list[dict[str, Any]]:
    path = rf"/interactions/{interaction_id}/[^/]+/callback"
    return [call.body for call in fake.requests("POST", path)]


async def ask(bot: DiscordBot, text: str) -> str:
    """Write ``text`` in the DM and return the one message answering it."""
    before = len(bot.fake.texts(DM_CHANNEL_ID))
    await bot.fake.message(text, channel_id=DM_CHANNEL_ID, guild=False)
    await bot.until(lambda: len(bot.fake.texts(DM_CHANNEL_ID)) > before)
    return bot.fake.texts(DM_CHANNEL_ID)[before]


async def test_a_conversation_survives_a_gateway_fault_and_a_restart(
    tmp_path: Path, fake: FakeDiscord
) -> None:
    bot = DiscordBot(tmp_path, fake, sync_commands="global")
    try:
        await bot.start()
        put = rf"/applications/{APP_ID}/commands"
        await bot.until(lambda: bool(fake.requests("PUT", put)))
        assert {"checkpoint", "session", "history"} <= {
            c["name"] for c in fake.requests("PUT", put)[0].body
        }
        assert await ask(bot, "hello") == "echo: hello"

        # Slash commands reach the same conversation; suggestions come from the router.
        save = [
            {"name": "save", "type": 1, "options": [{"name": "name", "type": 3, "value": "hi"}]}
        ]
        saved, _ = await fake.interaction("checkpoint", save, channel_id=DM_CHANNEL_ID, guild=False)
        await bot.until(lambda: bool(callbacks(fake, saved)))
        saved_text = callbacks(fake, saved)[0]["data"]["content"]
        assert saved_text.startswith('Saved checkpoint "hi"') and "2 messages" in saved_text
        focused = [{"name": "id", "type": 3, "value": "", "focused": True}]
        restore = [{"name": "restore", "type": 1, "options": focused}]
        asking, _ = await fake.interaction(
            "checkpoint", restore, channel_id=DM_CHANNEL_ID, guild=False, autocomplete=True
        )
        await bot.until(lambda: bool(callbacks(fake, asking)))
        (choice,) = callbacks(fake, asking)[0]["data"]["choices"]
        assert choice["value"] in saved_text

        # The connection drops; what is written meanwhile arrives when the session resumes.
        await fake.drop_connection()
        await fake.message("while away", channel_id=DM_CHANNEL_ID, guild=False)
        await bot.until(lambda: fake.resumes == 1)
        await bot.until(lambda: len(fake.texts(DM_CHANNEL_ID)) == 2)
        assert await ask(bot, "after") == "echo: after"
        assert fake.texts(DM_CHANNEL_ID) == ["echo: hello", "echo: while away", "echo: after"]
        assert fake.identifies == 1  # resumed, not a new session

        assert await bot.stop() == 0
        await bot.start()
        history = await ask(bot, "/history")
        assert "hello" in history and "while away" in history and "after" in history
    finally:
        status = await bot.stop()
    assert status == 0
    assert "Traceback" not in bot.log, bot.log
    assert TOKEN not in bot.log
    assert "while away" not in bot.log
