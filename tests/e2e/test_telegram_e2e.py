"""``sessionbot run`` with the Telegram adapter, as a subprocess, against the fake Bot API.

The fake server (:mod:`tests.fakes.telegram_api`) runs in the test's event loop and
the bot in a child process started as an operator would, with its token in the
environment. A test pushes updates, reads what the bot sent from the fake's recorded
calls, and can write to the bot's console while it runs. Every wait polls the fake
(or the bot's log and output) with a generous timeout, and fails at once if the bot
exits; nothing sleeps a fixed time. Each bot is stopped with SIGTERM, killed if it
hangs, whatever the test's outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from commands import default_registry
from tests.e2e.child import BotChild, child_environment
from tests.fakes.telegram_api import (
    BOT_USERNAME,
    TOKEN,
    WAIT,
    FakeTelegramAPI,
    Json,
    group_chat,
    private_chat,
    user,
)

pytestmark = pytest.mark.e2e

STARTUP = 90.0
"""Seconds a bot gets to start receiving: a loaded machine imports slowly."""

ID = r"\b([23456789a-z]{10})\b"
SECRET = "webhook-Secret_42"
ALICE = user(501, "Alice", username="alice")
BOB = user(502, "Bob")
CAROL = user(503, "Carol")
GROUP = group_chat(-100200, "Friends")
FORUM = group_chat(-100300, "Forum", forum=True)
RECEIVING = "telegram: receiving updates"


class BotProcess(BotChild):
    """One ``sessionbot run`` child process with its config, log and database.

    Args:
        directory: where the config, the database and the log go.
        api: the fake Bot API server the bot talks to.
        console: enable the console adapter too, fed through a pipe.
        telegram: more ``[adapters.telegram]`` options.
        bot: more ``[bot]`` options.
        environ: more environment variables for the child.
    """

    def __init__(
        self,
        directory: Path,
        api: FakeTelegramAPI,
        *,
        console: bool = False,
        telegram: dict[str, Any] | None = None,
        bot: dict[str, Any] | None = None,
        environ: dict[str, str] | None = None,
    ) -> None:
        self.api = api
        self.console = console
        bot_options = {"rate_limit_per_minute": 0, **(bot or {})}
        telegram_options = {"enabled": True, "base_url": api.url, **(telegram or {})}
        config = [
            "[bot]",
            *toml_lines(bot_options),
            "[storage]",
            f'url = "sqlite:///{directory / "bot.db"}"',
            "[adapters.console]",
            f"enabled = {'true' if console else 'false'}",
            f'export_dir = "{directory}"',
            "[adapters.telegram]",
            *toml_lines(telegram_options),
        ]
        environ_all = child_environment({"TELEGRAM_BOT_TOKEN": TOKEN, **(environ or {})})
        super().__init__(directory, "\n".join(config) + "\n", environ_all)

    async def start(self) -> None:
        """Start the bot (its log started afresh); see :meth:`until_receiving`."""
        await self.spawn(piped=self.console, fresh_log=True)

    async def until_receiving(self) -> None:
        """Return once the adapter has connected and receives updates."""
        await self.until_logged(RECEIVING, within=STARTUP)

    async def until_logged(self, text: str, within: float = WAIT) -> None:
        """Return once the bot's log contains ``text``."""
        with self._explained_timeout(f"{text!r} in the log"):
            async with asyncio.timeout(within):
                while text not in self.log:
                    self.check_running()
                    await asyncio.sleep(0.05)

    async def until(self, condition: Callable[[], bool], within: float = WAIT) -> None:
        """Return once ``condition()`` holds, checked after each call to the fake."""
        assert self.process is not None
        waiting = asyncio.ensure_future(self.api.wait_until(condition, within))
        exited = asyncio.ensure_future(self.process.wait())
        try:
            await asyncio.wait({waiting, exited}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            exited.cancel()
        if not waiting.done():
            waiting.cancel()
            self.check_running()
        with self._explained_timeout("a condition on the fake's calls"):
            waiting.result()

    async def write(self, line: str) -> None:
        """Write one line to the bot's console."""
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(f"{line}\n".encode())
        await self.process.stdin.drain()

    async def read(self, within: float = WAIT) -> str:
        """Return the next line the console printed."""
        assert self.process is not None and self.process.stdout is not None
        with self._explained_timeout("a line from the console"):
            async with asyncio.timeout(within):
                line = await self.process.stdout.readline()
        assert line, f"the console closed its output; log:\n{self.log}"
        return line.decode().rstrip("\n")

    async def stop_cleanly(self) -> None:
        """Stop the bot and check it stopped well and logged nothing it should not."""
        assert await self.stop() == 0, self.log
        log = self.log
        assert "Traceback" not in log, log
        assert TOKEN not in log  # httpx would log it in request URLs
        assert "PTBDeprecationWarning" not in log, log

    @contextlib.contextmanager
    def _explained_timeout(self, what: str) -> Iterator[None]:
        try:
            yield
        except TimeoutError:
            log = self.log
            raise AssertionError(f"timed out waiting for {what}; the bot's log:\n{log}") from None


class Chat:
    """One Telegram user in one chat (and forum topic), talking to a running bot."""

    def __init__(
        self, bot: BotProcess, chat: Json, sender: Json, *, thread_id: int | None = None
    ) -> None:
        self.bot = bot
        self.api = bot.api
        self.chat = chat
        self.sender = sender
        self.thread_id = thread_id

    def texts(self) -> list[str]:
        """What the bot sent to this chat (and topic) so far."""
        return self.api.texts(self.chat["id"], self.thread_id)

    def send(self, text: str) -> None:
        """Send ``text`` without waiting for an answer."""
        self.api.push_message(self.chat, self.sender, text, thread_id=self.thread_id)

    async def say(self, text: str, *, messages: int = 1) -> list[str]:
        """Send ``text`` and return the new messages once ``messages`` of them arrived.

        Updates of one chat are handled in order, so they answer this one.
        """
        before = len(self.texts())
        self.send(text)
        await self.bot.until(lambda: len(self.texts()) >= before + messages)
        return self.texts()[before:]

    async def ask(self, text: str) -> str:
        """Send ``text`` and return the one message that answers it."""
        (reply,) = await self.say(text)
        return reply


def toml_lines(options: dict[str, Any]) -> list[str]:
    def value(item: Any) -> str:
        if isinstance(item, bool):
            return "true" if item else "false"
        return str(item) if isinstance(item, int) else f'"{item}"'

    return [f"{key} = {value(item)}" for key, item in options.items()]


def find(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not in {text!r}"
    return match[1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


StartBot = Callable[..., Awaitable[BotProcess]]


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramAPI]:
    async with FakeTelegramAPI() as server:
        yield server


@pytest.fixture
async def start_bot(tmp_path: Path, api: FakeTelegramAPI) -> AsyncIterator[StartBot]:
    """Start bots (see :class:`BotProcess`); each is stopped after the test, come what may."""
    started: list[BotProcess] = []

    async def start(*, receiving: bool = True, **options: Any) -> BotProcess:
        bot = BotProcess(tmp_path, api, **options)
        started.append(bot)
        await bot.start()
        if receiving:
            await bot.until_receiving()
        return bot

    try:
        yield start
    finally:
        for bot in started:
            await bot.stop()


# -- conversations ------------------------------------------------------------------


async def test_a_private_chat_with_sessions_checkpoints_history_and_export(
    start_bot: StartBot,
) -> None:
    bot = await start_bot()
    alice = Chat(bot, private_chat(ALICE), ALICE)

    assert (await alice.ask("/start")).startswith("Commands:\n/new — ")
    new = await alice.ask("/new Trip plans")
    # /start began an empty conversation: /new names it instead of archiving it.
    session = find(rf'^This conversation is still empty, so it stays: {ID} "Trip plans"', new)
    assert await alice.ask("hello") == "echo: hello"
    saved = await alice.ask('/checkpoint save "x"')
    checkpoint = find(rf'^Saved checkpoint "x" \({ID}, 2 messages\)\.', saved)
    assert await alice.ask("a detour") == "echo: a detour"
    restored = await alice.ask(f"/checkpoint restore {checkpoint}")
    assert restored.startswith('Restored "x": back to 2 messages. To undo: /checkpoint restore ')

    history = (await alice.ask("/history")).splitlines()
    assert history[0] == "All 2 messages (times in UTC):"
    assert history[1].endswith("] Alice: hello")
    assert history[2].endswith("] sessionbot: echo: hello")

    export = await alice.ask("/history export")
    assert export == "Here is this conversation as markdown (2 messages)."
    (document,) = await bot.api.wait_for_calls("sendDocument")
    assert document.chat_id == ALICE["id"]
    upload = document.files["document"]
    assert upload.filename == f"session-{session}.md"
    assert "hello" in upload.content.decode()
    assert "a detour" not in upload.content.decode()

    # Plain text, no parse_mode: nothing a user writes can break the formatting.
    assert all("parse_mode" not in call.params for call in bot.api.calls_to("sendMessage"))
    await bot.stop_cleanly()


async def test_the_command_menu_lists_every_registered_command(start_bot: StartBot) -> None:
    bot = await start_bot()
    registry = default_registry(load_plugins=True)
    assert [c["command"] for c in bot.api.commands] == [c.name for c in registry.commands()]
    assert [c["description"] for c in bot.api.commands] == [c.summary for c in registry.commands()]
    await bot.stop_cleanly()


async def test_group_members_and_forum_topics_are_kept_apart(start_bot: StartBot) -> None:
    bot = await start_bot()
    alice, bob = Chat(bot, GROUP, ALICE), Chat(bot, GROUP, BOB)
    assert await alice.ask("alice secret") == "echo: alice secret"
    assert await bob.ask("bob secret") == "echo: bob secret"
    alice_history, bob_history = await alice.ask("/history"), await bob.ask("/history")
    assert "alice secret" in alice_history and "bob secret" not in alice_history
    assert "bob secret" in bob_history and "alice secret" not in bob_history
    alice_session = find(rf"^Session {ID}\n", await alice.ask("/session"))
    assert find(rf"^Session {ID}\n", await bob.ask("/session")) != alice_session

    topic7 = Chat(bot, FORUM, ALICE, thread_id=7)
    topic9 = Chat(bot, FORUM, ALICE, thread_id=9)
    assert await topic7.ask("about topic seven") == "echo: about topic seven"
    assert await topic9.ask("about topic nine") == "echo: about topic nine"
    seven, nine = await topic7.ask("/history"), await topic9.ask("/history")
    assert "topic seven" in seven and "topic nine" not in seven
    assert "topic nine" in nine and "topic seven" not in nine
    # Every reply went to the topic its message came from.
    in_forum = [c for c in bot.api.calls_to("sendMessage") if c.chat_id == FORUM["id"]]
    assert [c.thread_id for c in in_forum] == [7, 9, 7, 9]
    await bot.stop_cleanly()


async def test_a_command_for_another_bot_is_ignored(start_bot: StartBot) -> None:
    bot = await start_bot()
    alice = Chat(bot, GROUP, ALICE)
    assert await alice.ask("before") == "echo: before"
    before = await alice.ask("/session")
    session = find(rf"^Session {ID}\n", before)

    alice.send("/new@otherbot")
    alice.send("/history@otherbot")
    # One chat's updates are handled in order: had the commands above been answered,
    # their replies would come first.
    after = await alice.ask("/session")
    assert after.startswith(f"Session {session}\n")
    assert "Messages: 2" in before and "Messages: 2" in after

    ours = await alice.ask(f"/new@{BOT_USERNAME} Fresh")
    assert find(rf'^Started a new conversation, {ID} "Fresh"', ours) != session
    await bot.stop_cleanly()


async def test_a_10000_character_reply_arrives_whole_in_three_messages(
    start_bot: StartBot,
) -> None:
    bot = await start_bot(bot={"max_message_chars": 10_000})
    carol = Chat(bot, private_chat(CAROL), CAROL)
    lines = [f"line {n:04d} " + "x" * 89 for n in range(100)]  # 99 characters each
    text = "\n".join(lines) + "."
    assert len(text) == 10_000

    replies = await carol.say(text, messages=3)
    assert await carol.ask("done?") == "echo: done?"  # nothing more came for the long one
    assert len(replies) == 3
    assert all(len(reply) <= 4096 for reply in replies)
    assert "\n".join(replies) == f"echo: {text}"  # each break at a line end, nothing lost
    await bot.stop_cleanly()


# -- webhook ----------------------------------------------------------------------


async def test_webhook_updates_need_the_secret_token(start_bot: StartBot) -> None:
    bot = await start_bot(
        telegram={"mode": "webhook", "port": free_port(), "url_path": "hooks/telegram"},
        environ={"TELEGRAM_WEBHOOK_SECRET": SECRET},
    )
    api = bot.api
    assert api.webhook_url.endswith("/hooks/telegram")
    assert api.webhook_secret == SECRET
    chat = private_chat(ALICE)

    def update(text: str) -> Json:
        return api.update(api.message(chat, ALICE, text))

    assert await api.post_to_webhook(update("wrong secret"), secret_token="guess") == 403
    assert await api.post_to_webhook(update("no secret"), secret_token=None) == 403
    assert await api.post_to_webhook(update("right secret")) == 200
    await bot.until(lambda: len(api.texts()) >= 1)
    assert await api.post_to_webhook(update("/history")) == 200
    await bot.until(lambda: len(api.texts()) >= 2)

    answer, history = api.texts()
    assert answer == "echo: right secret"
    said = [line.split("] ", 1)[1] for line in history.splitlines()[1:]]
    assert said == ["Alice: right secret", "sessionbot: echo: right secret"]
    assert api.calls_to("getUpdates", ok=None) == []
    await bot.stop_cleanly()


async def test_a_lone_surrogate_posted_to_the_webhook_is_answered_and_stored_replaced(
    start_bot: StartBot,
) -> None:
    bot = await start_bot(
        telegram={"mode": "webhook", "port": free_port()},
        environ={"TELEGRAM_WEBHOOK_SECRET": SECRET},
    )
    api = bot.api
    chat = private_chat(ALICE)
    # json.dumps writes the lone surrogate as the escape \ud800, as a JSON sender would.
    lone = api.update(api.message(chat, ALICE, "half \ud800 a pair"))
    assert b"\\ud800" in json.dumps(lone).encode()
    assert await api.post_to_webhook(lone) == 200
    await bot.until(lambda: len(api.texts()) >= 1)
    assert await api.post_to_webhook(api.update(api.message(chat, ALICE, "/history"))) == 200
    await bot.until(lambda: len(api.texts()) >= 2)

    answer, history = api.texts()
    assert answer == "echo: half \ufffd a pair"
    said = [line.split("] ", 1)[1] for line in history.splitlines()[1:]]
    assert said == ["Alice: half \ufffd a pair", "sessionbot: echo: half \ufffd a pair"]
    assert "Traceback" not in bot.log
    await bot.stop_cleanly()


# -- faults -------------------------------------------------------------------------


async def test_an_outage_of_bad_gateways_loses_no_message_and_repeats_none(
    start_bot: StartBot,
) -> None:
    bot = await start_bot()
    api = bot.api
    alice = Chat(bot, private_chat(ALICE), ALICE)
    assert await alice.ask("before") == "echo: before"

    # Replies fail first: "down 1" is received, and its answer refused.
    api.fail_all(methods={"sendMessage"})
    alice.send("down 1")
    await bot.until(lambda: len(api.calls_to("sendMessage", ok=False)) >= 1)
    # Then polls fail too: "down 2" is received by a poll already waiting, or
    # after the outage; either way exactly once.
    api.fail_all(methods={"getUpdates"})
    alice.send("down 2")
    await bot.until(lambda: len(api.calls_to("getUpdates", ok=False)) >= 2)
    api.recover()
    await bot.until(lambda: len(alice.texts()) >= 3)
    assert await alice.ask("after") == "echo: after"

    history = await alice.ask("/history")
    assert alice.texts() == [
        "echo: before",
        "echo: down 1",
        "echo: down 2",
        "echo: after",
        history,
    ]
    assert history.splitlines()[0] == "All 8 messages (times in UTC):"
    said = [line.split("] ", 1)[1] for line in history.splitlines()[1:]]
    assert said == [
        line
        for text in ("before", "down 1", "down 2", "after")
        for line in (f"Alice: {text}", f"sessionbot: echo: {text}")
    ]
    await bot.stop_cleanly()


async def test_flood_control_retry_after_is_honoured(start_bot: StartBot) -> None:
    bot = await start_bot()
    api = bot.api
    alice = Chat(bot, private_chat(ALICE), ALICE)

    api.flood(2, methods={"sendMessage"})
    assert await alice.ask("hello") == "echo: hello"
    refused, sent = api.calls_to("sendMessage", ok=None)
    assert refused.status == 429
    assert sent.at - refused.at >= 2.0

    # The next poll is refused (the one waiting already may bring "and polls?").
    api.flood(1, methods={"getUpdates"})
    assert await alice.ask("and polls?") == "echo: and polls?"
    await bot.until(lambda: len(api.calls_to("getUpdates", ok=False)) == 1)
    (flooded,) = api.calls_to("getUpdates", ok=False)
    assert await alice.ask("still here") == "echo: still here"
    next_poll = min(c.at for c in api.calls_to("getUpdates") if c.at > flooded.at)
    assert next_poll - flooded.at >= 1.0
    await bot.stop_cleanly()


async def test_the_console_keeps_answering_while_telegram_is_down(
    api: FakeTelegramAPI, start_bot: StartBot
) -> None:
    api.fail_all()
    bot = await start_bot(console=True, receiving=False)
    await bot.until(lambda: len(api.calls_to("getMe", ok=False)) >= 1, within=STARTUP)

    await bot.write("one")
    assert await bot.read() == "echo: one"
    await bot.until(lambda: len(api.calls_to("getMe", ok=False)) >= 2)
    await bot.write("two")
    assert await bot.read() == "echo: two"
    assert RECEIVING not in bot.log

    alice = Chat(bot, private_chat(ALICE), ALICE)
    alice.send("sent while down")
    api.recover()
    await bot.until_receiving()
    await bot.until(lambda: alice.texts() == ["echo: sent while down"])
    await bot.write("three")
    assert await bot.read() == "echo: three"
    await bot.stop_cleanly()


# -- refusing to start --------------------------------------------------------------


def run_refused(tmp_path: Path, telegram: str, environ: dict[str, str]) -> str:
    """Run a bot whose config should be refused; return its one line of error."""
    config = tmp_path / "config.toml"
    config.write_text(
        f'[storage]\nurl = "sqlite:///{tmp_path / "bot.db"}"\n'
        f"[adapters.telegram]\nenabled = true\n{telegram}"
    )
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--config", str(config)],
        input="",
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=tmp_path,
        env=child_environment(environ),
    )
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    assert not (tmp_path / "bot.db").exists()  # stopped before opening the database
    (line,) = result.stderr.strip().splitlines()
    return line


def test_a_missing_token_stops_start_up_with_one_line(tmp_path: Path) -> None:
    line = run_refused(tmp_path, "", {})
    assert line == (
        "Error: adapters.telegram.token_env: environment variable TELEGRAM_BOT_TOKEN is not set"
    )


def test_webhook_mode_without_its_secret_token_refuses_to_start(tmp_path: Path) -> None:
    line = run_refused(tmp_path, 'mode = "webhook"\n', {"TELEGRAM_BOT_TOKEN": TOKEN})
    assert line == (
        "Error: adapters.telegram.secret_token_env: environment variable "
        "TELEGRAM_WEBHOOK_SECRET is not set; webhook mode needs a secret token"
    )

    line = run_refused(
        tmp_path,
        'mode = "webhook"\n',
        {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_WEBHOOK_SECRET": "has spaces in it"},
    )
    assert "must be 1-256 characters" in line
    assert "has spaces" not in line
