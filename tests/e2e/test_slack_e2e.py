"""``sessionbot run`` with the Slack adapter in Socket Mode, as a subprocess, against a fake Slack.

The fake (:mod:`tests.fakes.slack_api`) runs in the test's event loop; the bot runs
in a child process started as an operator would, tokens in the environment. Every
wait polls the fake or the bot's log with a generous timeout and fails at once if
the bot exits. Each bot is stopped with SIGTERM (killed if it hangs).
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from tests.e2e.child import BotChild, child_environment
from tests.fakes.slack_api import APP_TOKEN, BOT_TOKEN, WAIT, FakeSlack, Json

pytestmark = pytest.mark.e2e

STARTUP = 90.0
"""Seconds a bot gets to start receiving: a loaded machine imports slowly."""

RECEIVING = "slack: receiving (socket mode)"
DM = "D0DM"
ID = r"\(([23456789a-z]{10}),"


class SlackBot(BotChild):
    """One ``sessionbot run`` child process with the Slack adapter, its log and database."""

    def __init__(self, directory: Path, slack: FakeSlack) -> None:
        self.slack = slack
        super().__init__(
            directory,
            "[bot]\nrate_limit_per_minute = 0\n"
            f'[storage]\nurl = "sqlite:///{directory / "bot.db"}"\n'
            "[adapters.console]\nenabled = false\n"
            f'[adapters.slack]\nenabled = true\napi_url = "{slack.api_url}"\n',
            child_environment({"SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN}),
        )

    async def start(self) -> None:
        """Start the bot and return once it receives events."""
        logged = self.log.count(RECEIVING) + 1
        await self.spawn()
        await self.poll(
            lambda: self.log.count(RECEIVING) >= logged and self.slack.connected() == 1,
            STARTUP,
            "the Socket Mode connection",
        )

    async def until(self, condition: Callable[[], bool]) -> None:
        """Return once ``condition()`` holds; fail at once if the bot exited."""
        await self.poll(condition, WAIT, "a condition on the fake's calls")

    async def stop(self) -> int | None:
        """Stop the bot (see :meth:`BotChild.stop`) and wait for its socket to close."""
        status = await super().stop()
        if status is not None:
            await self.slack.wait_until(lambda: self.slack.connected() == 0)
        return status

    # -- talking to it -------------------------------------------------------------------

    def texts(self) -> list[str]:
        return self.slack.texts(DM)

    async def send(self, payload: Json, *, kind: str = "events_api", retry: int = 0) -> None:
        envelope = await self.slack.send_envelope(kind, payload, retry_attempt=retry)
        await self.slack.wait_for_ack(envelope)

    async def say(self, payload: Json, *, kind: str = "events_api") -> str:
        """Send ``payload`` and return the one message that answers it."""
        before = len(self.texts())
        await self.send(payload, kind=kind)
        await self.until(lambda: len(self.texts()) > before)
        (reply,) = self.texts()[before:]
        return reply

    async def command(self, name: str, text: str = "") -> str:
        return await self.say(
            self.slack.slash_command(name, text, channel=DM), kind="slash_commands"
        )


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


@contextlib.asynccontextmanager
async def running(bot: SlackBot) -> AsyncIterator[SlackBot]:
    await bot.start()
    try:
        yield bot
    finally:
        status = await bot.stop()
    assert status == 0, bot.log


async def test_a_conversation_goes_on_across_a_restart_and_events_count_once(
    slack: FakeSlack, tmp_path: Path
) -> None:
    bot = SlackBot(tmp_path, slack)
    second = slack.message_event("second", channel=DM, event_id="Ev0SECOND")
    async with running(bot):
        assert await bot.say(slack.message_event("hello", channel=DM)) == "echo: hello"
        saved = await bot.command("/checkpoint", 'save "start"')
        assert saved.startswith('Saved checkpoint "start"'), saved
        checkpoint = re.findall(ID, saved)[0]
        assert await bot.say(second) == "echo: second"
    async with running(bot):
        # Slack retries an event the old process took but may not have answered.
        await bot.send(second, retry=1)
        history = await bot.command("/history")
        assert history.count("second") == 2 and history.startswith("All 4 messages"), history
        restored = await bot.command("/checkpoint", f"restore {checkpoint}")
        assert restored.startswith('Restored "start": back to 2 messages'), restored
        after = await bot.command("/history")
        assert after.startswith("All 2 messages"), (restored, after)
        before = len(slack.uploads)
        await bot.send(
            slack.slash_command("/history", "export text", channel=DM), kind="slash_commands"
        )
        await bot.until(lambda: len(slack.uploads) > before)
    assert "echo: hello" in slack.uploads[-1].content.decode()
    log = bot.log
    assert "Traceback" not in log and "WARNING" not in log, log
    assert BOT_TOKEN not in log and APP_TOKEN not in log
    assert "delivered again" in log
    assert bot.texts().count("echo: second") == 1


def test_a_missing_app_token_is_one_line_and_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[adapters.console]\nenabled = false\n[adapters.slack]\nenabled = true\n")
    done = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=tmp_path,
        env=child_environment({"SLACK_BOT_TOKEN": BOT_TOKEN}),
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "Error: adapters.slack.app_token_env: environment variable SLACK_APP_TOKEN is not set"
    ]
    assert not (tmp_path / "sessionbot.db").exists()  # stopped before opening the database
