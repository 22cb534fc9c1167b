"""The Slack adapter in Socket Mode, with real slack-bolt and slack_sdk, against a fake Slack."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest

from adapters.base import FAILURE_REPLY, BaseAdapter
from adapters.slack_adapter import WORKING, SlackAdapter, SlackConnection
from core import FirstDelivery, InboundHandler
from core.backoff import Backoff
from core.models import Inbound, Reply, ReplyFile
from tests.adapters.contract import AdapterContract
from tests.adapters.recording import RecordingHandler
from tests.fakes.slack_api import APP_TOKEN, BOT_TOKEN, BOT_USER, TEAM, WAIT, FakeSlack, Json

FAST = Backoff(initial=0.05, factor=2.0, maximum=0.2)
COMMANDS = {"/new": "new", "/checkpoint": "checkpoint", "/sb-history": "history"}
DM = "D0DM"


def slack_adapter(
    slack: FakeSlack,
    handler: InboundHandler,
    *,
    channel_messages: bool = False,
    first_delivery: FirstDelivery | None = None,
) -> SlackAdapter:
    connection = SlackConnection(
        "socket", BOT_TOKEN, APP_TOKEN, api_url=slack.api_url, ping_interval=0.5
    )
    return SlackAdapter(
        handler,
        connection,
        commands=COMMANDS,
        listen_to_channel_messages=channel_messages,
        first_delivery=first_delivery,
        retry=FAST,
    )


async def connected(slack: FakeSlack, adapter: SlackAdapter) -> None:
    async with asyncio.timeout(WAIT):
        await adapter.wait_until_receiving()
    await slack.wait_until(lambda: slack.connected() == 1)


@asynccontextmanager
async def running(slack: FakeSlack, adapter: SlackAdapter) -> AsyncIterator[SlackAdapter]:
    await adapter.start()
    try:
        await connected(slack, adapter)
        yield adapter
    finally:
        async with asyncio.timeout(WAIT):
            await adapter.stop()
            await adapter.wait()


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake


# -- the contract --------------------------------------------------------------------


class SlackHarness:
    failure_reply = FAILURE_REPLY
    channel = (f"{TEAM}:{DM}", None)

    def __init__(self, slack: FakeSlack) -> None:
        self.slack = slack
        self._sending: list[asyncio.Task[str]] = []

    def adapter(self, handler: InboundHandler) -> BaseAdapter[Any]:
        return slack_adapter(self.slack, handler)

    async def ready(self, adapter: BaseAdapter[Any]) -> None:
        assert isinstance(adapter, SlackAdapter)
        await connected(self.slack, adapter)

    def say(self, text: str) -> None:
        envelope = self.slack.message_event(text, channel=DM)
        self._sending.append(
            asyncio.ensure_future(self.slack.send_envelope("events_api", envelope))
        )

    def messages(self) -> list[str]:
        return self.slack.texts(DM)

    def files(self) -> list[tuple[str, bytes]]:
        return [(upload.filename, upload.content) for upload in self.slack.uploads]

    async def until(self, condition: Callable[[], bool]) -> None:
        await self.slack.wait_until(condition)


class TestSlackContract(AdapterContract):
    @pytest.fixture
    def harness(self, slack: FakeSlack) -> SlackHarness:
        return SlackHarness(slack)


# -- messages ------------------------------------------------------------------------


async def say(slack: FakeSlack, payload: Json, *, retry_attempt: int = 0) -> str:
    envelope_id = await slack.send_envelope("events_api", payload, retry_attempt=retry_attempt)
    await slack.wait_for_ack(envelope_id)
    return envelope_id


async def test_a_direct_message_is_answered_in_the_dm(slack: FakeSlack) -> None:
    handler = RecordingHandler()
    async with running(slack, slack_adapter(slack, handler)):
        await say(slack, slack.message_event("hello <there> & you", channel=DM))
        await slack.wait_until(lambda: slack.texts(DM) == ["echo: hello <there> & you"])
    (inbound,) = handler.seen
    assert (inbound.platform, inbound.channel_id, inbound.user_id) == (
        "slack",
        f"{TEAM}:{DM}",
        f"{TEAM}:U0ALICE",
    )
    assert inbound.is_direct and inbound.thread_id is None and inbound.message_id
    assert inbound.user_ref == f"slack:{TEAM}:U0ALICE"
    # Sent escaped, so Slack shows the text as written rather than as markup.
    assert slack.posts(DM)[0].params["text"] == "echo: hello &lt;there&gt; &amp; you"
    assert slack.posts(DM)[0].token == BOT_TOKEN


async def test_a_mention_in_a_channel_is_answered_without_the_mention(slack: FakeSlack) -> None:
    handler = RecordingHandler()
    async with running(slack, slack_adapter(slack, handler)):
        # Slack sends both events for a mention; the plain message is not for the bot.
        await say(
            slack, slack.message_event(f"<@{BOT_USER}> hi", channel="C1", channel_type="channel")
        )
        await say(slack, slack.mention_event(f"<@{BOT_USER}> hi", channel="C1"))
        await slack.wait_until(lambda: slack.texts("C1") == ["echo: hi"])
    (inbound,) = handler.seen
    assert inbound.channel_id == f"{TEAM}:C1" and not inbound.is_direct


async def test_channel_messages_are_answered_when_configured(slack: FakeSlack) -> None:
    handler = RecordingHandler()
    adapter = slack_adapter(slack, handler, channel_messages=True)
    async with running(slack, adapter):
        await say(slack, slack.message_event("no mention", channel="C1", channel_type="channel"))
        text = f"<@{BOT_USER}> with mention"
        await say(slack, slack.message_event(text, channel="C1", channel_type="channel"))
        await say(slack, slack.mention_event(text, channel="C1"))  # the same message again
        await slack.wait_until(lambda: len(slack.texts("C1")) == 2)
    assert [i.text for i in handler.seen] == ["no mention", "with mention"]


async def test_a_reply_in_a_thread_stays_in_the_thread(slack: FakeSlack) -> None:
    handler = RecordingHandler()
    async with running(slack, slack_adapter(slack, handler)):
        await say(slack, slack.mention_event(f"<@{BOT_USER}> in a thread", thread_ts="111.222"))
        await slack.wait_until(lambda: slack.texts(thread_ts="111.222") == ["echo: in a thread"])
    assert handler.seen[0].thread_id == "111.222"


async def test_edits_bot_messages_and_joins_are_ignored(slack: FakeSlack) -> None:
    handler = RecordingHandler()
    async with running(slack, slack_adapter(slack, handler)):
        edited = {"type": "message", "text": "edited", "user": "U0ALICE", "ts": "1.1"}
        ignored = [
            slack.message_event("x", subtype="message_changed", message=edited),
            slack.message_event("x", subtype="message_deleted"),
            slack.message_event("joined", subtype="channel_join"),
            slack.message_event("from a bot", bot_id="B0OTHER", subtype="bot_message"),
            slack.message_event("from a bot user", bot_id="B0OTHER"),
            slack.message_event("myself", user=BOT_USER),
        ]
        for payload in ignored:
            await say(slack, payload)
        await say(slack, slack.message_event("real"))
        await slack.wait_until(lambda: slack.texts(DM) == ["echo: real"])
    assert [i.text for i in handler.seen] == ["real"]


async def test_an_event_delivered_again_is_handled_once(slack: FakeSlack) -> None:
    handler = RecordingHandler()
    async with running(slack, slack_adapter(slack, handler)):
        payload = slack.message_event("only once", event_id="Ev0ONCE")
        await say(slack, payload)
        await say(slack, payload, retry_attempt=1)
        await say(slack, slack.message_event("next"))
        await slack.wait_until(lambda: len(slack.texts(DM)) == 2)
    assert slack.texts(DM) == ["echo: only once", "echo: next"]
    assert [i.text for i in handler.seen] == ["only once", "next"]


async def test_a_redelivery_after_a_restart_is_dropped(slack: FakeSlack) -> None:
    seen: set[tuple[str, str]] = set()

    async def first_delivery(source: str, delivery_id: str) -> bool:  # the store's role
        new = (source, delivery_id) not in seen
        seen.add((source, delivery_id))
        return new

    payload = slack.message_event("before the restart", event_id="Ev0RESTART")
    handler = RecordingHandler()
    async with running(slack, slack_adapter(slack, handler, first_delivery=first_delivery)):
        await say(slack, payload)
        await slack.wait_until(lambda: len(slack.texts(DM)) == 1)
    again = slack_adapter(slack, handler, first_delivery=first_delivery)  # a new process
    async with running(slack, again):
        await say(slack, payload, retry_attempt=1)
        await say(slack, slack.message_event("after"))
        await slack.wait_until(lambda: len(slack.texts(DM)) == 2)
    assert [i.text for i in handler.seen] == ["before the restart", "after"]
    assert ("slack", "Ev0RESTART") in seen


async def test_messages_of_one_channel_are_answered_in_order(slack: FakeSlack) -> None:
    handler = RecordingHandler()
    async with running(slack, slack_adapter(slack, handler)):
        for n in range(8):
            await slack.send_envelope("events_api", slack.message_event(f"m{n}"))
        await slack.wait_until(lambda: len(slack.texts(DM)) == 8)
    assert slack.texts(DM) == [f"echo: m{n}" for n in range(8)]


# -- slash commands --------------------------------------------------------------------


async def command(slack: FakeSlack, name: str, text: str = "", **where: str) -> Json:
    envelope_id = await slack.send_envelope(
        "slash_commands", slack.slash_command(name, text, **where)
    )
    return await slack.wait_for_ack(envelope_id)


async def test_a_slash_command_is_acknowledged_then_answered_in_the_channel(
    slack: FakeSlack,
) -> None:
    handler = RecordingHandler()
    async with running(slack, slack_adapter(slack, handler)):
        ack = await command(slack, "/checkpoint", 'save "start"', channel="C1")
        await slack.wait_until(lambda: slack.texts("C1") == ['echo: /checkpoint save "start"'])
        await command(slack, "/sb-history", "5", channel="C1")  # a renamed command
        await slack.wait_until(lambda: len(slack.texts("C1")) == 2)
    assert ack.get("payload") in (None, {})  # nothing shown by the ack of a quick answer
    assert [i.text for i in handler.seen] == ['/checkpoint save "start"', "/history 5"]
    assert handler.seen[0].user_id == f"{TEAM}:U0ALICE"
    assert slack.calls_to("chat.postMessage")[0].params["channel"] == "C1"


async def test_errors_of_a_slash_command_are_ephemeral(slack: FakeSlack) -> None:
    def usage_error(inbound: Inbound) -> list[Reply]:
        return [Reply("Usage: /checkpoint restore <id>", ephemeral=True)]

    async with running(slack, slack_adapter(slack, RecordingHandler(usage_error))):
        await command(slack, "/checkpoint", "restore", channel="C1")
        await slack.wait_until(lambda: len(slack.calls_to("chat.postEphemeral")) == 1)
    (call,) = slack.calls_to("chat.postEphemeral")
    assert call.params["user"] == "U0ALICE" and call.params["channel"] == "C1"
    assert slack.calls_to("chat.postMessage") == []


async def test_a_slow_slash_command_shows_working_within_the_window(slack: FakeSlack) -> None:
    release = asyncio.Event()

    async def slow(inbound: Inbound) -> list[Reply]:
        await release.wait()
        return [Reply("done at last")]

    adapter = slack_adapter(slack, slow)
    adapter.ack_after = 0.2
    async with running(slack, adapter):
        ack = await command(slack, "/new", channel="C1")
        assert ack["payload"]["text"] == WORKING
        release.set()
        await slack.wait_until(lambda: slack.texts("C1") == ["done at last"])


# -- files, long replies, failures ---------------------------------------------------------


async def test_an_export_is_uploaded_into_the_thread(slack: FakeSlack) -> None:
    export = ReplyFile("../session-ab12.md", b"# Session ab12\n", "text/markdown")

    def exporter(inbound: Inbound) -> list[Reply]:
        return [Reply("Here is the export.", file=export)]

    async with running(slack, slack_adapter(slack, RecordingHandler(exporter))):
        await say(slack, slack.mention_event(f"<@{BOT_USER}> export", thread_ts="5.5"))
        await slack.wait_until(lambda: len(slack.uploads) == 1)
    (upload,) = slack.uploads
    assert (upload.filename, upload.content) == ("session-ab12.md", b"# Session ab12\n")
    assert (upload.channel, upload.thread_ts) == ("C0GENERAL", "5.5")


async def test_a_long_reply_with_entities_is_split_under_the_limit(slack: FakeSlack) -> None:
    text = "\n".join(f"{n:04d} <&> " + "y" * 60 for n in range(200))

    async with running(slack, slack_adapter(slack, RecordingHandler(lambda i: [Reply(text)]))):
        await say(slack, slack.message_event("long"))
        await slack.wait_until(lambda: "\n".join(slack.texts(DM)) == text)
    sent = [str(call.params["text"]) for call in slack.posts(DM)]
    assert len(sent) > 1 and all(len(chunk) <= 4000 for chunk in sent)


async def test_a_rate_limit_is_waited_out(slack: FakeSlack) -> None:
    slack.rate_limit("chat.postMessage", times=1)
    async with running(slack, slack_adapter(slack, RecordingHandler())):
        await say(slack, slack.message_event("patience"))
        await slack.wait_until(lambda: slack.texts(DM) == ["echo: patience"])
    assert len(slack.calls_to("chat.postMessage", ok=False)) == 1


async def test_a_channel_the_bot_left_is_logged_once_and_skipped(
    slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    slack.remove_bot_from("C9")
    handler = RecordingHandler(lambda i: [Reply("one"), Reply("two")])
    async with running(slack, slack_adapter(slack, handler)):
        for _ in range(2):
            await say(slack, slack.mention_event(f"<@{BOT_USER}> hi", channel="C9"))
        await say(slack, slack.message_event("still here"))
        await slack.wait_until(lambda: slack.texts(DM) == ["one", "two"])
    assert len(slack.calls_to("chat.postMessage", ok=False)) == 2  # one per message
    assert caplog.text.count("channel C9 cannot be reached") == 1


async def test_a_lost_connection_reconnects_by_itself(slack: FakeSlack) -> None:
    async with running(slack, slack_adapter(slack, RecordingHandler())):
        await slack.drop_connections()
        await slack.wait_until(lambda: slack.connected() == 1)
        await say(slack, slack.message_event("back"))
        await slack.wait_until(lambda: slack.texts(DM) == ["echo: back"])
    assert slack.connections_opened >= 2


async def test_a_refused_token_ends_the_adapter(slack: FakeSlack) -> None:
    connection = SlackConnection("socket", "xoxb-wrong", APP_TOKEN, api_url=slack.api_url)
    adapter = SlackAdapter(RecordingHandler(), connection, retry=FAST)
    await adapter.start()
    with pytest.raises(RuntimeError, match="invalid_auth"):
        async with asyncio.timeout(WAIT):
            await adapter.wait()


async def test_user_text_never_reaches_the_log(
    slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    async with running(slack, slack_adapter(slack, RecordingHandler())):
        await say(slack, slack.message_event("a very private sentence"))
        await slack.wait_until(lambda: len(slack.texts(DM)) == 1)
    assert "very private" not in caplog.text
    assert BOT_TOKEN not in caplog.text and APP_TOKEN not in caplog.text


async def test_an_unknown_slash_command_reaches_the_router_as_typed(slack: FakeSlack) -> None:
    handler = RecordingHandler()
    async with running(slack, slack_adapter(slack, handler)):
        await command(slack, "/nwe", "title", channel="C1")
        await slack.wait_until(lambda: len(slack.texts("C1")) == 1)
    assert handler.seen[0].text == "/nwe title"  # the router answers with the nearest name


async def test_other_events_are_acknowledged_and_dropped(slack: FakeSlack) -> None:
    handler = RecordingHandler()
    async with running(slack, slack_adapter(slack, handler)):
        reaction = {"type": "reaction_added", "user": "U0ALICE", "reaction": "tada"}
        envelope = await slack.send_envelope("events_api", slack.event_callback(reaction))
        assert (await slack.wait_for_ack(envelope))["envelope_id"] == envelope
        await say(slack, slack.message_event("after"))
        await slack.wait_until(lambda: slack.texts(DM) == ["echo: after"])
    assert [i.text for i in handler.seen] == ["after"]


async def test_a_reset_notice_reaches_a_thread(slack: FakeSlack) -> None:
    adapter = slack_adapter(slack, RecordingHandler())
    async with running(slack, adapter):
        await adapter.send(f"{TEAM}:C1", "Your session was reset.", "123.456")
        await adapter.send("no-team-here", "not ours")  # not a Slack channel id: nothing
        await slack.wait_until(lambda: slack.texts("C1", "123.456") == ["Your session was reset."])
    assert len(slack.posts()) == 1


async def test_a_stop_lets_the_message_in_progress_finish(slack: FakeSlack) -> None:
    started, release = asyncio.Event(), asyncio.Event()

    async def slow(inbound: Inbound) -> list[Reply]:
        started.set()
        await release.wait()
        return [Reply("finished")]

    adapter = slack_adapter(slack, slow)
    await adapter.start()
    await connected(slack, adapter)
    await say(slack, slack.message_event("take your time"))
    async with asyncio.timeout(WAIT):
        await started.wait()
        stopping = asyncio.ensure_future(adapter.stop())
        await slack.wait_until(lambda: slack.connected() == 0)  # no new events now
        release.set()
        await stopping
    assert slack.texts(DM) == ["finished"]


class Logged(logging.Handler):
    """Sets :attr:`seen` once a record containing ``text`` is logged."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.seen.set()


async def test_slack_out_of_reach_at_start_is_retried_until_it_answers() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    connection = SlackConnection(
        "socket",
        BOT_TOKEN,
        APP_TOKEN,
        api_url=f"http://127.0.0.1:{port}/api/",
        ping_interval=0.5,
        retries=0,
    )
    adapter = SlackAdapter(RecordingHandler(), connection, retry=FAST)
    unreachable = Logged("cannot reach Slack")
    logging.getLogger("adapters.slack_adapter").addHandler(unreachable)
    await adapter.start()
    try:
        async with asyncio.timeout(WAIT):
            await unreachable.seen.wait()
        async with FakeSlack(port) as slack:
            await connected(slack, adapter)
            await say(slack, slack.message_event("finally"))
            await slack.wait_until(lambda: slack.texts(DM) == ["echo: finally"])
    finally:
        logging.getLogger("adapters.slack_adapter").removeHandler(unreachable)
        await adapter.stop()


async def test_a_proxy_error_page_at_start_is_retried(slack: FakeSlack) -> None:
    slack.break_down("auth.test", times=2)
    connection = SlackConnection(
        "socket", BOT_TOKEN, APP_TOKEN, api_url=slack.api_url, ping_interval=0.5, retries=0
    )
    async with running(slack, SlackAdapter(RecordingHandler(), connection, retry=FAST)):
        await say(slack, slack.message_event("up"))
        await slack.wait_until(lambda: slack.texts(DM) == ["echo: up"])
    assert len(slack.calls_to("auth.test", ok=False)) == 2
