"""BaseAdapter's delivery rules, on an adapter that keeps what it posts in a list."""

from __future__ import annotations

import asyncio

import pytest

from adapters.base import BaseAdapter, Undeliverable
from core import Inbound, InboundHandler, Reply, ReplyFile

HELLO = Inbound("memory", "room", "alice", "hello", message_id="1")


class MemoryAdapter(BaseAdapter[str]):
    """Posts into ``posted``; a destination in ``unreachable`` refuses everything."""

    name = "memory"
    max_length = 10

    def __init__(self, handler: InboundHandler) -> None:
        super().__init__(handler)
        self.posted: list[tuple[str, str, bool]] = []
        self.unreachable: set[str] = set()

    async def receive(self) -> None:
        await self.stopping.wait()

    def destination(self, channel_id: str, thread_id: str | None) -> str:
        return channel_id

    async def post_text(self, destination: str, text: str, *, first: bool) -> None:
        if destination in self.unreachable:
            raise Undeliverable(f"{destination} is gone")
        self.posted.append((destination, text, first))

    async def post_file(self, destination: str, file: ReplyFile, *, first: bool) -> None:
        self.posted.append((destination, f"[{file.name}]", first))


def answering(*replies: Reply) -> InboundHandler:
    async def handler(inbound: Inbound) -> list[Reply]:
        return list(replies)

    return handler


async def test_each_reply_is_split_and_only_its_first_message_is_first() -> None:
    adapter = MemoryAdapter(answering(Reply("one two three"), Reply("", file=ReplyFile("f", b""))))
    await adapter.handle(HELLO, "room")
    assert adapter.posted == [
        ("room", "one two ", True),
        ("room", "three", False),
        ("room", "[f]", True),
    ]


async def test_an_unreachable_destination_drops_the_rest_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    adapter = MemoryAdapter(answering(Reply("first"), Reply("second")))
    adapter.unreachable.add("room")
    await adapter.handle(HELLO, "room")
    assert adapter.posted == []
    assert "room is gone; the rest of the replies are dropped" in caplog.text


async def test_a_failed_acknowledgement_is_logged_and_the_answer_still_posted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def acknowledge() -> None:
        raise ConnectionError("the interaction expired")

    adapter = MemoryAdapter(answering(Reply("answer")))
    await adapter.handle(HELLO, "room", acknowledge=acknowledge)
    assert adapter.posted == [("room", "answer", True)]
    assert "acknowledging message 1 failed" in caplog.text


async def test_cancelling_while_waiting_to_acknowledge_cancels_the_handler() -> None:
    entered, cancelled = asyncio.Event(), asyncio.Event()

    async def endless(inbound: Inbound) -> list[Reply]:
        entered.set()
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()
        return []

    async def acknowledge() -> None:
        raise AssertionError("never reached")

    adapter = MemoryAdapter(endless)
    adapter.ack_after = 3600.0
    handling = asyncio.create_task(adapter.handle(HELLO, "room", acknowledge=acknowledge))
    await asyncio.wait_for(entered.wait(), 5)
    handling.cancel()
    await asyncio.wait_for(cancelled.wait(), 5)
    with pytest.raises(asyncio.CancelledError):
        await handling


async def test_send_posts_a_notice_as_a_reply_of_its_own() -> None:
    adapter = MemoryAdapter(answering())
    await adapter.send("room", "a notice", None)
    assert adapter.posted == [("room", "a notice", True)]
