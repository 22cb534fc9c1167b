"""Answers shown while they are written: how an adapter offers a live reply.

An adapter that can show text as it arrives (edit one message, print as it comes)
opens a :class:`ReplyStream` for the destination and handles the message inside
:func:`streaming_to`. A streaming responder called for that message then hands it
the whole answer so far, again and again; the router's reply says whether it was
streamed (:attr:`core.models.Reply.streamed`), and the adapter finishes the shown
message with the reply's final text instead of posting a new one.

The stream travels in a context variable, so the handler's signature
(:data:`core.types.InboundHandler`) stays the same for every adapter, and an
adapter that opens none simply gets the final text.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Protocol


class ReplyStream(Protocol):
    """Where an answer in progress is shown."""

    async def update(self, text: str) -> None:
        """Show ``text``, the whole answer so far (it only grows).

        An empty ``text`` comes first, when the responder is asked: the answer is
        being written, and a platform may show a typing indicator.

        A platform may show it later or not at all (edit limits); it must not raise
        for a failed display, which costs only the live view.
        """
        ...


_current: ContextVar[ReplyStream | None] = ContextVar("sessionbot_reply_stream", default=None)


@contextlib.contextmanager
def streaming_to(stream: ReplyStream | None) -> Iterator[None]:
    """Make ``stream`` where answers produced inside the block are shown."""
    token = _current.set(stream)
    try:
        yield
    finally:
        _current.reset(token)


def current_stream() -> ReplyStream | None:
    """Return the stream of the message being handled, if its adapter opened one."""
    return _current.get()
