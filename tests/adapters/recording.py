"""A handler for adapter tests: answers with an echo and records what it was given."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from core import Inbound, Reply

Answer = Callable[[Inbound], list[Reply]]


def echo(inbound: Inbound) -> list[Reply]:
    return [Reply(f"echo: {inbound.text}")]


class RecordingHandler:
    """Answers with ``answer`` and records every inbound message it was given.

    A message whose text is in ``gates`` is answered once its event is set.
    """

    def __init__(self, answer: Answer = echo) -> None:
        self.seen: list[Inbound] = []
        self.answer = answer
        self.gates: dict[str, asyncio.Event] = {}

    async def __call__(self, inbound: Inbound) -> list[Reply]:
        self.seen.append(inbound)
        if gate := self.gates.get(inbound.text):
            await gate.wait()
        return self.answer(inbound)

    def texts(self) -> list[str]:
        return [inbound.text for inbound in self.seen]
