"""A fake adapter that drives the handler it is given, for lifecycle tests."""

from __future__ import annotations

import asyncio

from core.models import Inbound
from core.types import InboundHandler


class FakeAdapter:
    """Sends ``lines`` through the handler, then finishes or runs until stopped.

    Args:
        handler: the handler bot gave it.
        lines: texts to send as user ``alice`` once started.
        fail_starts: how many first calls to ``start`` raise.
        finish: end by itself after sending, like the console at end of input.
        name: the adapter's name.
    """

    def __init__(
        self,
        handler: InboundHandler | None = None,
        *,
        lines: tuple[str, ...] = (),
        fail_starts: int = 0,
        finish: bool = True,
        name: str = "fake",
    ) -> None:
        self.name = name
        self.handler = handler
        self.lines = lines
        self.fail_starts = fail_starts
        self.finish = finish
        self.starts = 0
        self.stops = 0
        self.replies: list[str] = []
        self.running = asyncio.Event()
        self._started = asyncio.Event()
        self._stopped = asyncio.Event()

    async def until_started(self, count: int) -> None:
        """Return once ``start`` was called ``count`` times, failed or not."""
        while self.starts < count:
            self._started.clear()
            await self._started.wait()

    async def start(self) -> None:
        self.starts += 1
        self._started.set()
        if self.starts <= self.fail_starts:
            raise ConnectionError(f"{self.name} cannot connect")
        self._stopped.clear()
        self.running.set()

    async def stop(self) -> None:
        self.stops += 1
        self._stopped.set()

    async def wait(self) -> None:
        if self.handler is not None:
            for line in self.lines:
                replies = await self.handler(Inbound("console", "console", "alice", line))
                self.replies.extend(reply.text for reply in replies)
        if not self.finish:
            await self._stopped.wait()
