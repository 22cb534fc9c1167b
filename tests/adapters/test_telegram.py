"""The Telegram adapter, with real python-telegram-bot, against the fake Bot API server."""

from __future__ import annotations

import asyncio
import io
import logging
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from telegram.error import InvalidToken

from adapters.base import FAILURE_REPLY, BaseAdapter
from adapters.console import ConsoleAdapter
from adapters.telegram_adapter import NOT_TEXT_REPLY, TelegramAdapter
from bot.supervisor import AdapterSupervisor
from core import InboundHandler
from core.backoff import Backoff
from core.models import Inbound, Reply, ReplyFile
from core.storage.roles import FileRoles
from tests.adapters.contract import AdapterContract
from tests.adapters.recording import RecordingHandler, echo
from tests.fakes.telegram_api import (
    BOT_USERNAME,
    TOKEN,
    WAIT,
    FakeTelegramAPI,
    group_chat,
    photo,
    private_chat,
    sticker,
    user,
)

ALICE = user(501, "Alice", username="alice")
BOB = user(502, "Bob")
GROUP = group_chat(-100200, "Friends")
FORUM = group_chat(-100300, "Forum", forum=True)
FAST = Backoff(initial=0.05, factor=2.0, maximum=0.2)
COMMANDS = [("new", "Start a new conversation"), ("history", "Show   the\nhistory")]


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # httpx honours proxy variables; nothing here may leave 127.0.0.1.
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    # PTB 22 warns whenever it builds a RetryAfter unless durations are opted in
    # to timedelta (the coming default); warnings are errors here.
    monkeypatch.setenv("PTB_TIMEDELTA", "1")


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramAPI]:
    async with FakeTelegramAPI() as server:
        yield server


def telegram_adapter(
    api: FakeTelegramAPI, handler: InboundHandler, **options: object
) -> TelegramAdapter:
    settings: dict[str, object] = {
        "token": TOKEN,
        "base_url": api.url,
        "commands": COMMANDS,
        "poll_timeout": 1.0,
        "retry": FAST,
        "send_attempts": 10,
    }
    settings.update(options)
    return TelegramAdapter(handler, **settings)  # type: ignore[arg-type]


@asynccontextmanager
async def running(adapter: TelegramAdapter) -> AsyncIterator[TelegramAdapter]:
    await adapter.start()
    try:
        async with asyncio.timeout(WAIT):
            await adapter.wait_until_receiving()
        yield adapter
    finally:
        async with asyncio.timeout(WAIT):
            await adapter.stop()


async def answered(api: FakeTelegramAPI, count: int) -> list[str]:
    """Wait until ``count`` messages were sent; return the texts sent."""
    await api.wait_for_calls("sendMessage", count)
    return api.texts()


class TelegramHarness:
    """Telegram for the contract: Alice's private chat on the fake Bot API server."""

    failure_reply = FAILURE_REPLY
    channel = (str(ALICE["id"]), None)

    def __init__(self, api: FakeTelegramAPI) -> None:
        self.api = api

    def adapter(self, handler: InboundHandler) -> BaseAdapter[Any]:
        return TelegramAdapter(
            handler, token=TOKEN, base_url=self.api.url, poll_timeout=1.0, retry=FAST
        )

    async def ready(self, adapter: BaseAdapter[Any]) -> None:
        assert isinstance(adapter, TelegramAdapter)
        await adapter.wait_until_receiving()

    def say(self, text: str) -> None:
        self.api.push_message(private_chat(ALICE), ALICE, text)

    def messages(self) -> list[str]:
        return self.api.texts()

    def files(self) -> list[tuple[str, bytes]]:
        uploads = [call.files["document"] for call in self.api.calls_to("sendDocument")]
        return [(upload.filename, upload.content) for upload in uploads]

    async def until(self, condition: Callable[[], bool]) -> None:
        await self.api.wait_until(condition)


class TestTelegramContract(AdapterContract):
    @pytest.fixture
    def harness(self, api: FakeTelegramAPI) -> TelegramHarness:
        return TelegramHarness(api)


# -- normalisation --------------------------------------------------------------


async def test_a_private_message_reaches_the_handler_and_is_answered(
    api: FakeTelegramAPI,
) -> None:
    handler = RecordingHandler()
    async with running(telegram_adapter(api, handler)) as adapter:
        sent = api.push_message(private_chat(ALICE), ALICE, "hello there")
        assert await answered(api, 1) == ["echo: hello there"]
        assert adapter.username == BOT_USERNAME
    (inbound,) = handler.seen
    assert inbound.platform == "telegram"
    assert inbound.channel_id == "501"
    assert inbound.user_id == "501"
    assert inbound.display_name == "Alice"
    assert inbound.is_direct is True
    assert inbound.thread_id is None
    assert inbound.message_id == str(sent["message_id"])
    assert inbound.timestamp is not None and inbound.timestamp.tzinfo == UTC
    (call,) = api.calls_to("sendMessage")
    assert call.chat_id == 501
    # Plain text: no parse_mode, so user content cannot break formatting.
    assert "parse_mode" not in call.params
    assert "reply_parameters" not in call.params  # no quoting in a private chat


async def test_two_users_in_a_group_are_told_apart_and_quoted(api: FakeTelegramAPI) -> None:
    handler = RecordingHandler()
    async with running(telegram_adapter(api, handler)):
        first = api.push_message(GROUP, ALICE, "from alice")
        second = api.push_message(GROUP, BOB, "from bob")
        await answered(api, 2)
    assert [(i.channel_id, i.user_id, i.is_direct) for i in handler.seen] == [
        ("-100200", "501", False),
        ("-100200", "502", False),
    ]
    assert [i.display_name for i in handler.seen] == ["Alice", "Bob"]
    quoted = [c.params["reply_parameters"]["message_id"] for c in api.calls_to("sendMessage")]
    assert quoted == [first["message_id"], second["message_id"]]


async def test_forum_topics_are_threads_and_replies_stay_in_their_topic(
    api: FakeTelegramAPI,
) -> None:
    handler = RecordingHandler()
    async with running(telegram_adapter(api, handler)):
        api.push_message(FORUM, ALICE, "in topic 7", thread_id=7)
        api.push_message(FORUM, ALICE, "in topic 9", thread_id=9)
        api.push_message(FORUM, ALICE, "in general")
        await answered(api, 3)
    assert [(i.text, i.thread_id) for i in handler.seen] == [
        ("in topic 7", "7"),
        ("in topic 9", "9"),
        ("in general", None),
    ]
    assert api.texts(FORUM["id"], thread_id=7) == ["echo: in topic 7"]
    assert api.texts(FORUM["id"], thread_id=9) == ["echo: in topic 9"]
    general = api.calls_to("sendMessage")[2]
    assert general.thread_id is None


async def test_commands_for_another_bot_are_dropped_and_ours_lose_the_name(
    api: FakeTelegramAPI,
) -> None:
    handler = RecordingHandler()
    async with running(telegram_adapter(api, handler)):
        api.push_message(GROUP, ALICE, "/new@otherbot")
        api.push_message(GROUP, ALICE, "/new@otherbot my title")
        api.push_message(GROUP, ALICE, f"/new@{BOT_USERNAME.upper()} my title")
        api.push_message(GROUP, ALICE, f"/history@{BOT_USERNAME}")
        api.push_message(GROUP, ALICE, "/checkpoint save x")
        api.push_message(GROUP, ALICE, "mail me at bob@example.org")
        await answered(api, 4)
    assert handler.texts() == [
        "/new my title",
        "/history",
        "/checkpoint save x",
        "mail me at bob@example.org",
    ]


async def test_a_caption_is_read_as_the_text(api: FakeTelegramAPI) -> None:
    handler = RecordingHandler()
    async with running(telegram_adapter(api, handler)):
        api.push_message(private_chat(ALICE), ALICE, photo=photo(), caption="look at this")
        await answered(api, 1)
    assert handler.texts() == ["look at this"]


async def test_messages_without_text_get_one_notice_per_chat(api: FakeTelegramAPI) -> None:
    handler = RecordingHandler()
    alice, bob = private_chat(ALICE), private_chat(BOB)
    async with running(telegram_adapter(api, handler)):
        api.push_message(alice, ALICE, sticker=sticker())
        api.push_message(alice, ALICE, photo=photo())
        api.push_message(bob, BOB, sticker=sticker())
        # A service message carries nothing to answer.
        api.push_message(GROUP, None, new_chat_members=[BOB])
        api.push_message(alice, ALICE, "and now text")
        await answered(api, 3)
    assert handler.texts() == ["and now text"]
    assert api.texts(alice["id"]) == [NOT_TEXT_REPLY, "echo: and now text"]
    assert api.texts(bob["id"]) == [NOT_TEXT_REPLY]
    assert api.texts(GROUP["id"]) == []


async def test_edited_messages_are_not_requested_and_ignored(api: FakeTelegramAPI) -> None:
    handler = RecordingHandler()
    chat = private_chat(ALICE)
    async with running(telegram_adapter(api, handler)):
        edited = api.message(chat, ALICE, "edited text")
        api.push(api.update(edited, kind="edited_message"))
        api.push_message(chat, ALICE, "new text")
        await answered(api, 1)
    assert handler.texts() == ["new text"]
    assert {tuple(c.params["allowed_updates"]) for c in api.calls_to("getUpdates")} == {
        ("message",)
    }


# -- replies ----------------------------------------------------------------------


async def test_a_10000_character_reply_arrives_whole_in_three_messages(
    api: FakeTelegramAPI,
) -> None:
    lines = [f"line {n:04d} " + "x" * 89 for n in range(100)]  # 99 characters each
    lines[-1] += "."
    long_text = "\n".join(lines)
    assert len(long_text) == 10_000
    handler = RecordingHandler(lambda inbound: [Reply(long_text)])
    async with running(telegram_adapter(api, handler)):
        api.push_message(private_chat(ALICE), ALICE, "tell me everything")
        await api.wait_until(lambda: any("line 0099" in t for t in api.texts()))
    texts = api.texts()
    assert len(texts) == 3
    assert all(len(text) <= 4096 for text in texts)
    assert "\n".join(texts) == long_text  # nothing lost, each break at a line end
    assert all(set(text.split("\n")) <= set(lines) for text in texts)


async def test_a_file_reply_is_sent_as_a_document_in_the_same_topic(
    api: FakeTelegramAPI,
) -> None:
    export = ReplyFile("exports/session-ab12cd.md", b"# Session ab12cd\n", "text/markdown")
    handler = RecordingHandler(lambda inbound: [Reply("Here is the export.", file=export)])
    async with running(telegram_adapter(api, handler)):
        api.push_message(FORUM, ALICE, "/history export", thread_id=7)
        (document,) = await api.wait_for_calls("sendDocument")
    assert api.texts(FORUM["id"], thread_id=7) == ["Here is the export."]
    upload = document.files["document"]
    assert upload.filename == "session-ab12cd.md"
    assert upload.content == b"# Session ab12cd\n"
    assert document.chat_id == FORUM["id"]
    assert document.thread_id == 7


async def test_commands_are_registered_at_start(api: FakeTelegramAPI) -> None:
    commands = [*COMMANDS, ("Bad-Name", "refused by Telegram"), ("help", "")]
    async with running(telegram_adapter(api, RecordingHandler(), commands=commands)):
        pass
    assert api.commands == [
        {"command": "new", "description": "Start a new conversation"},
        {"command": "history", "description": "Show the history"},
        {"command": "help", "description": "help"},
    ]


async def test_proactive_messages_go_to_the_chat_and_topic(api: FakeTelegramAPI) -> None:
    async with running(telegram_adapter(api, RecordingHandler())) as adapter:
        await adapter.send(str(FORUM["id"]), "Your session was reset.", thread_id="9")
    assert api.texts(FORUM["id"], thread_id=9) == ["Your session was reset."]


async def test_proactive_messages_need_a_connection(api: FakeTelegramAPI) -> None:
    adapter = telegram_adapter(api, RecordingHandler())
    with pytest.raises(RuntimeError, match="not connected"):
        await adapter.send("501", "hello")


async def test_chats_are_handled_concurrently_and_each_in_order(api: FakeTelegramAPI) -> None:
    handler = RecordingHandler()
    release = handler.gates["alice 1"] = asyncio.Event()
    async with running(telegram_adapter(api, handler)):
        api.push_message(private_chat(ALICE), ALICE, "alice 1")
        api.push_message(private_chat(ALICE), ALICE, "alice 2")
        api.push_message(private_chat(BOB), BOB, "bob 1")
        # Bob is answered while Alice's first message is still being handled.
        assert await answered(api, 1) == ["echo: bob 1"]
        assert handler.texts() == ["alice 1", "bob 1"]
        release.set()
        await answered(api, 3)
    assert api.texts(ALICE["id"]) == ["echo: alice 1", "echo: alice 2"]


# -- failures ---------------------------------------------------------------------


async def test_a_failing_update_is_answered_with_an_apology_and_polling_goes_on(
    api: FakeTelegramAPI,
) -> None:
    def explode_on_boom(inbound: Inbound) -> list[Reply]:
        if inbound.text == "boom":
            raise RuntimeError("a bug in the handler")
        return echo(inbound)

    handler = RecordingHandler(explode_on_boom)
    async with running(telegram_adapter(api, handler)):
        api.push_message(private_chat(ALICE), ALICE, "boom")
        api.push_message(private_chat(ALICE), ALICE, "still there?")
        assert await answered(api, 2) == [FAILURE_REPLY, "echo: still there?"]


async def test_502s_lose_no_update_and_answer_none_twice(api: FakeTelegramAPI) -> None:
    handler = RecordingHandler()
    release = handler.gates["during"] = asyncio.Event()
    chat = private_chat(ALICE)
    async with running(telegram_adapter(api, handler)):
        api.push_message(chat, ALICE, "before")
        await answered(api, 1)
        # "during" is received; then Telegram fails while it is being handled,
        # so its reply and the next polls all get 502.
        api.push_message(chat, ALICE, "during")
        await api.wait_until(lambda: "during" in handler.texts())
        api.fail_all()
        api.push_message(chat, ALICE, "while down 1")
        api.push_message(chat, ALICE, "while down 2")
        release.set()
        await api.wait_until(lambda: len(api.calls_to("getUpdates", ok=False)) >= 2)
        await api.wait_until(lambda: len(api.calls_to("sendMessage", ok=False)) >= 1)
        api.recover()
        await answered(api, 4)
        api.push_message(chat, ALICE, "after")
        await answered(api, 5)
    expected = ["before", "during", "while down 1", "while down 2", "after"]
    assert handler.texts() == expected
    assert api.texts() == [f"echo: {text}" for text in expected]
    assert api.pending_updates == 0


async def test_flood_control_is_waited_out(api: FakeTelegramAPI) -> None:
    async with running(telegram_adapter(api, RecordingHandler())):
        api.flood(1, methods={"sendMessage"})
        api.push_message(private_chat(ALICE), ALICE, "hello")
        await answered(api, 1)
    refused, sent = api.calls_to("sendMessage", ok=None)
    assert refused.status == 429
    assert sent.ok
    assert sent.at - refused.at >= 1.0
    assert api.texts() == ["echo: hello"]


async def test_a_blocked_chat_is_skipped_and_others_are_answered(
    api: FakeTelegramAPI, caplog: pytest.LogCaptureFixture
) -> None:
    api.block(ALICE["id"])
    async with running(telegram_adapter(api, RecordingHandler())):
        api.push_message(private_chat(ALICE), ALICE, "hello")
        api.push_message(private_chat(BOB), BOB, "hi")
        assert await answered(api, 1) == ["echo: hi"]
    assert len(api.calls_to("sendMessage", ok=False)) == 1  # not retried
    assert "blocked or removed" in caplog.text


async def test_a_migrated_group_is_followed_to_its_supergroup(api: FakeTelegramAPI) -> None:
    old_group = {"id": -4001, "type": "group", "title": "Old"}
    api.migrate(-4001, -1004001)
    async with running(telegram_adapter(api, RecordingHandler())):
        api.push_message(old_group, ALICE, "hello")
        await answered(api, 1)
    assert api.texts(-1004001) == ["echo: hello"]


async def test_unreachable_at_start_up_it_keeps_trying_then_connects() -> None:
    # A bound socket that does not listen refuses connections, until the fake
    # server takes it over: no other process can grab the port in between.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    handler = RecordingHandler()
    api = FakeTelegramAPI()
    adapter = TelegramAdapter(
        handler, token=TOKEN, base_url=f"http://127.0.0.1:{port}", poll_timeout=1.0, retry=FAST
    )
    try:
        with LogWatch("adapters.telegram_adapter", "connecting to Telegram failed") as failures:
            async with asyncio.timeout(1.0):
                await adapter.start()  # returns at once: other adapters are not held up
            await failures.wait_for(3)
        await api.start(sock)
        async with running(adapter):
            api.push_message(private_chat(ALICE), ALICE, "are you there?")
            assert await answered(api, 1) == ["echo: are you there?"]
    finally:
        await api.close()


async def test_stop_while_unreachable_returns_promptly() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    with sock:
        adapter = TelegramAdapter(
            RecordingHandler(),
            token=TOKEN,
            base_url=f"http://127.0.0.1:{sock.getsockname()[1]}",
            retry=Backoff(initial=30.0),
        )
        with LogWatch("adapters.telegram_adapter", "connecting to Telegram failed") as failures:
            await adapter.start()
            await failures.wait_for(1)  # it failed once and started its 30-second pause
        async with asyncio.timeout(5.0):
            await adapter.stop()
            await adapter.wait()
        assert failures.count == 1  # the pause was cut short, not waited out and retried


async def test_an_invalid_token_ends_the_adapter_with_the_error(api: FakeTelegramAPI) -> None:
    adapter = telegram_adapter(api, RecordingHandler(), token="999:wrong")
    await adapter.start()
    with pytest.raises(InvalidToken, match="rejected the bot token") as failure:
        async with asyncio.timeout(WAIT):
            await adapter.wait()
    assert "999:wrong" not in str(failure.value)


async def test_stopping_confirms_received_updates_so_a_restart_repeats_none(
    api: FakeTelegramAPI,
) -> None:
    handler = RecordingHandler()
    adapter = telegram_adapter(api, handler)
    async with running(adapter):
        api.push_message(private_chat(ALICE), ALICE, "one")
        await answered(api, 1)
    assert api.pending_updates == 0
    async with running(adapter):
        api.push_message(private_chat(ALICE), ALICE, "two")
        await answered(api, 2)
    assert handler.texts() == ["one", "two"]


# -- webhook ----------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_webhook_mode_refuses_to_start_without_a_secret_token() -> None:
    with pytest.raises(ValueError, match="secret token"):
        TelegramAdapter(RecordingHandler(), token=TOKEN, mode="webhook")
    with pytest.raises(ValueError, match="secret token"):
        TelegramAdapter(RecordingHandler(), token=TOKEN, mode="webhook", secret_token="no spaces")


async def test_webhook_answers_updates_with_the_right_secret_only(api: FakeTelegramAPI) -> None:
    handler = RecordingHandler()
    adapter = telegram_adapter(
        api,
        handler,
        mode="webhook",
        listen="127.0.0.1",
        port=free_port(),
        url_path="/hooks/telegram",
        secret_token="s3cret-Token_1",
    )
    chat = private_chat(ALICE)
    async with running(adapter):
        assert api.webhook_url.endswith("/hooks/telegram")
        assert api.webhook_secret == "s3cret-Token_1"
        wrong = api.update(api.message(chat, ALICE, "wrong secret"))
        missing = api.update(api.message(chat, ALICE, "no secret"))
        right = api.update(api.message(chat, ALICE, "right secret"))
        assert await api.post_to_webhook(wrong, secret_token="guess") == 403
        assert await api.post_to_webhook(missing, secret_token=None) == 403
        assert await api.post_to_webhook(right) == 200
        assert await answered(api, 1) == ["echo: right secret"]
    assert handler.texts() == ["right secret"]
    assert api.calls_to("getUpdates", ok=None) == []


class LogWatch(logging.Handler):
    """Counts log records of ``logger`` that contain ``text``."""

    def __init__(self, logger: str, text: str) -> None:
        super().__init__(logging.DEBUG)
        self.logger = logging.getLogger(logger)
        self.text = text
        self.count = 0
        self.changed = asyncio.Event()

    def __enter__(self) -> LogWatch:
        self.logger.addHandler(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.logger.removeHandler(self)

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.count += 1
            self.changed.set()

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(WAIT):
            while self.count < count:
                self.changed.clear()
                await self.changed.wait()


async def test_a_message_in_progress_is_answered_before_stop_returns(
    api: FakeTelegramAPI,
) -> None:
    handler = RecordingHandler()
    release = handler.gates["slow"] = asyncio.Event()
    adapter = telegram_adapter(api, handler)
    async with running(adapter):
        api.push_message(private_chat(ALICE), ALICE, "slow")
        api.push_message(private_chat(ALICE), ALICE, "queued behind it")
        await api.wait_until(lambda: handler.texts() == ["slow"] and api.pending_updates == 0)
        stopping = asyncio.create_task(adapter.stop())
        # The updater has stopped polling: its last call confirms what it received.
        await api.wait_until(lambda: api.calls_to("getUpdates")[-1].params["timeout"] == "0")
        assert not stopping.done()
        release.set()
        async with asyncio.timeout(WAIT):
            await stopping
    assert api.texts() == ["echo: slow", "echo: queued behind it"]


async def test_the_console_keeps_answering_while_telegram_is_unreachable() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    output = io.StringIO()
    console = ConsoleAdapter(RecordingHandler(), input=io.StringIO("one\ntwo\n"), output=output)
    telegram = TelegramAdapter(
        RecordingHandler(),
        token=TOKEN,
        base_url=f"http://127.0.0.1:{sock.getsockname()[1]}",
        retry=FAST,
    )
    supervisors = [AdapterSupervisor(console), AdapterSupervisor(telegram)]
    with sock, LogWatch("adapters.telegram_adapter", "connecting to Telegram failed") as failures:
        runs = [asyncio.create_task(s.run()) for s in supervisors]
        async with asyncio.timeout(WAIT):
            await runs[0]  # the console read all its input and finished
            await failures.wait_for(1)
        assert output.getvalue() == "echo: one\necho: two\n"
        assert not runs[1].done()  # Telegram is still being retried
        async with asyncio.timeout(WAIT):
            await supervisors[1].stop()
            await runs[1]


async def test_an_outage_while_replying_is_retried_until_the_reply_is_sent(
    api: FakeTelegramAPI,
) -> None:
    async with running(telegram_adapter(api, RecordingHandler())):
        api.fail_for(0.3, methods={"sendMessage"})
        api.push_message(private_chat(ALICE), ALICE, "hello")
        assert await answered(api, 1) == ["echo: hello"]
    assert api.calls_to("sendMessage", ok=False) != []


async def test_an_html_error_page_is_logged_as_one_warning_without_a_traceback(
    api: FakeTelegramAPI, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(telegram_adapter(api, RecordingHandler())):
        api.fail_next(1, methods={"sendMessage"})  # answered with an HTML 502 page
        api.push_message(private_chat(ALICE), ALICE, "hello")
        assert await answered(api, 1) == ["echo: hello"]
    failures = [r for r in caplog.records if "Bad Gateway" in r.getMessage()]
    assert [(r.name, r.levelno) for r in failures] == [
        ("adapters.telegram_sender", logging.WARNING)
    ]
    assert "invalid JSON" not in caplog.text
    assert all(r.exc_info is None for r in caplog.records)


async def test_one_worker_polls_at_a_time_and_another_takes_over(
    api: FakeTelegramAPI, tmp_path: Path
) -> None:
    # Two workers of one SQLite bot claim the polling role through lock files.
    first_handler, second_handler = RecordingHandler(), RecordingHandler()
    first = telegram_adapter(api, first_handler, roles=FileRoles(tmp_path / "bot.db"))
    second = telegram_adapter(
        api, second_handler, roles=FileRoles(tmp_path / "bot.db", poll_seconds=0.05)
    )
    async with running(first):
        await second.start()
        try:
            api.push_message(private_chat(ALICE), ALICE, "to the poller")
            assert await answered(api, 1) == ["echo: to the poller"]
            assert first_handler.texts() == ["to the poller"] and second_handler.seen == []
            polled_by_first = len(api.calls_to("getUpdates"))
            assert polled_by_first >= 1
            assert len(api.calls_to("getMe")) == 1  # the second has not even connected
        except BaseException:
            await second.stop()
            raise
    # The first stopped: the second takes the role over and polls.
    try:
        async with asyncio.timeout(WAIT):
            await second.wait_until_receiving()
        api.push_message(private_chat(ALICE), ALICE, "to whoever polls now")
        assert (await answered(api, 2))[-1] == "echo: to whoever polls now"
        assert second_handler.texts() == ["to whoever polls now"]
    finally:
        await second.stop()
