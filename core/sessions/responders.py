"""Responders answer plain messages: an LLM, or the built-in echo."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from core.models import Message, Role, Session
from core.tokens import Context


@dataclass(frozen=True, slots=True)
class Answer:
    """A responder's answer with its token usage.

    Attributes:
        text: the answer.
        tokens_in: prompt tokens.
        tokens_out: completion tokens.
        estimated: the counts are estimates, not what the model's endpoint
            reported (it reported none); the stored message says so.
    """

    text: str
    tokens_in: int = 0
    tokens_out: int = 0
    estimated: bool = False


TextSink = Callable[[str], Awaitable[None]]
"""Takes the whole answer so far, each time it grows."""


class Responder(Protocol):
    """Produces the assistant's answer to the newest user message."""

    name: str

    async def respond(self, session: Session, context: Sequence[Message]) -> Answer:
        """Answer the conversation.

        Args:
            session: the session being answered.
            context: the messages the responder may see, oldest first; the last one
                is the user's new message. From the router it is a
                :class:`core.tokens.Context`, which also carries their tokens and
                how they were counted.

        Raises:
            ResponderError: no answer could be produced.
        """
        ...


@runtime_checkable
class StreamingResponder(Responder, Protocol):
    """A responder that can also hand over its answer while it is being written."""

    async def respond_streaming(
        self, session: Session, context: Sequence[Message], on_text: TextSink
    ) -> Answer:
        """Answer like :meth:`Responder.respond`, calling ``on_text`` as text arrives.

        ``on_text`` gets the whole answer so far; the returned answer is the final
        text, which is what is stored.

        Raises:
            ResponderError: no answer could be produced.
        """
        ...


class EchoResponder:
    """Repeats the user's message; needs no network. The default responder."""

    name = "echo"

    async def respond(self, session: Session, context: Sequence[Message]) -> Answer:
        """Echo the newest user message, with tokens counted as the context was."""
        last = next((m for m in reversed(context) if m.role is Role.USER), None)
        text = f"echo: {last.content}" if last else "echo: (nothing to echo)"
        counted = context if isinstance(context, Context) else Context(context)
        # Not marked as estimated: the mark says a model's endpoint reported no usage,
        # and it would cost every echoed message a sealed metadata value.
        return Answer(text=text, tokens_in=counted.tokens, tokens_out=counted.counter.count(text))
