"""The adapter contract kit: what every adapter must do, run against each one.

An adapter's test module subclasses :class:`AdapterContract` (as ``Test…``) and
gives a ``harness`` fixture: a :class:`Harness` that builds the adapter, speaks as a
user through the platform (a pipe, a fake platform server) and reads what the
adapter posted back. Every test waits for events, never for a while.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, Protocol

import pytest

from adapters.base import BaseAdapter
from core import Inbound, InboundHandler, Reply, ReplyFile

WAIT = 20.0
"""Seconds a wait gives up after: generous, since a loaded machine can be slow."""


class Harness(Protocol):
    """One platform, as the contract drives it."""

    failure_reply: str
    """What the adapter tells a user when the handler failed."""

    channel: tuple[str, str | None]
    """The channel (and thread) the harness's user speaks in."""

    def adapter(self, handler: InboundHandler) -> BaseAdapter[Any]:
        """Build a new, unstarted adapter around ``handler``."""
        ...

    async def ready(self, adapter: BaseAdapter[Any]) -> None:
        """Return once a started adapter receives what :meth:`say` sends."""
        ...

    def say(self, text: str) -> None:
        """Send ``text`` to the adapter as the user, through the platform."""
        ...

    def messages(self) -> list[str]:
        """Return the texts the adapter posted so far, in order."""
        ...

    def files(self) -> list[tuple[str, bytes]]:
        """Return the files the adapter posted so far: name and content."""
        ...

    async def until(self, condition: Callable[[], bool]) -> None:
        """Return once ``condition()`` holds after something was posted."""
        ...


async def echo(inbound: Inbound) -> list[Reply]:
    return [Reply(f"echo: {inbound.text}")]


@asynccontextmanager
async def running(harness: Harness, adapter: BaseAdapter[Any]) -> AsyncIterator[None]:
    await adapter.start()
    try:
        async with asyncio.timeout(WAIT):
            await harness.ready(adapter)
        yield
    finally:
        async with asyncio.timeout(WAIT):
            await adapter.stop()
            await adapter.wait()


def inbound_for(adapter: BaseAdapter[Any], harness: Harness, text: str) -> Inbound:
    channel, thread = harness.channel
    return Inbound(adapter.name, channel, "contract-user", text, thread_id=thread)


class AdapterContract:
    """The tests every adapter passes; subclass it and provide a ``harness`` fixture."""

    async def test_it_answers_stops_and_wait_returns(self, harness: Harness) -> None:
        adapter = harness.adapter(echo)
        async with running(harness, adapter):
            harness.say("hello")
            await harness.until(lambda: harness.messages() == ["echo: hello"])
        async with asyncio.timeout(WAIT):
            await adapter.wait()  # returns again once stopped

    async def test_a_stop_right_after_start_ends_it_at_once(self, harness: Harness) -> None:
        adapter = harness.adapter(echo)
        await adapter.start()
        async with asyncio.timeout(WAIT):
            await adapter.stop()
            await adapter.wait()

    async def test_it_starts_again_after_stop(self, harness: Harness) -> None:
        adapter = harness.adapter(echo)
        async with running(harness, adapter):
            harness.say("one")
            await harness.until(lambda: harness.messages() == ["echo: one"])
        async with running(harness, adapter):
            harness.say("two")
            await harness.until(lambda: harness.messages() == ["echo: one", "echo: two"])

    async def test_a_failing_handler_gets_one_apology_and_it_goes_on(
        self, harness: Harness, caplog: pytest.LogCaptureFixture
    ) -> None:
        async def fragile(inbound: Inbound) -> list[Reply]:
            if inbound.text == "private words":
                raise RuntimeError("a bug in the handler")
            return await echo(inbound)

        async with running(harness, harness.adapter(fragile)):
            harness.say("private words")
            harness.say("still there?")
            expected = [harness.failure_reply, "echo: still there?"]
            await harness.until(lambda: harness.messages() == expected)
        assert "a bug in the handler" in caplog.text
        assert "private words" not in caplog.text  # what users write stays out of logs

    async def test_a_long_reply_is_split_without_losing_text(self, harness: Harness) -> None:
        adapter = harness.adapter(echo)
        limit = adapter.max_length or 1000
        lines = [f"line {n:05d} " + "x" * 40 for n in range(limit * 5 // 2 // 51 + 1)]
        long_text = "\n".join(lines)

        async def long_answer(inbound: Inbound) -> list[Reply]:
            return [Reply(long_text)]

        adapter = harness.adapter(long_answer)
        async with running(harness, adapter):
            harness.say("tell me everything")
            await harness.until(lambda: "\n".join(harness.messages()) == long_text)
        if adapter.max_length is not None:
            assert len(harness.messages()) == 3
            assert all(len(message) <= adapter.max_length for message in harness.messages())

    async def test_a_file_reply_is_delivered(self, harness: Harness) -> None:
        export = ReplyFile("session-ab12cd.md", b"# Session ab12cd\n", "text/markdown")

        async def exporter(inbound: Inbound) -> list[Reply]:
            return [Reply("Here is the export.", file=export)]

        async with running(harness, harness.adapter(exporter)):
            harness.say("/history export")
            await harness.until(lambda: harness.files() != [])
        assert harness.files() == [("session-ab12cd.md", b"# Session ab12cd\n")]
        assert harness.messages()[0] == "Here is the export."

    async def test_a_slow_answer_follows_an_immediate_acknowledgement(
        self, harness: Harness
    ) -> None:
        events: list[str] = []
        acknowledged = asyncio.Event()

        async def slow(inbound: Inbound) -> list[Reply]:
            await acknowledged.wait()  # answers only once the event was acknowledged
            events.append("answered")
            return [Reply("a slow answer")]

        async def acknowledge() -> None:
            events.append("acknowledged")
            acknowledged.set()

        adapter = harness.adapter(slow)
        adapter.ack_after = 0.0
        async with running(harness, adapter):
            destination = adapter.destination(*harness.channel)
            async with asyncio.timeout(WAIT):
                await adapter.handle(
                    inbound_for(adapter, harness, "think hard"),
                    destination,
                    acknowledge=acknowledge,
                )
            await harness.until(lambda: harness.messages() == ["a slow answer"])
        assert events == ["acknowledged", "answered"]

    async def test_a_quick_answer_is_acknowledged_once_before_it_is_posted(
        self, harness: Harness
    ) -> None:
        posted_at_ack: list[list[str]] = []

        async def acknowledge() -> None:
            posted_at_ack.append(harness.messages())

        adapter = harness.adapter(echo)
        adapter.ack_after = 60.0  # never reached: the answer comes at once
        async with running(harness, adapter):
            destination = adapter.destination(*harness.channel)
            async with asyncio.timeout(WAIT):
                await adapter.handle(
                    inbound_for(adapter, harness, "quick"), destination, acknowledge=acknowledge
                )
            await harness.until(lambda: harness.messages() == ["echo: quick"])
        assert posted_at_ack == [[]]

    async def test_send_posts_a_notice_unprompted(self, harness: Harness) -> None:
        adapter = harness.adapter(echo)
        async with running(harness, adapter):
            channel, thread = harness.channel
            await adapter.send(channel, "Your session was reset.", thread)
            await harness.until(lambda: harness.messages() == ["Your session was reset."])

    async def test_wait_before_start_is_an_error(self, harness: Harness) -> None:
        with pytest.raises(RuntimeError, match="not started"):
            await harness.adapter(echo).wait()
