"""Responders answer plain messages: an LLM, or the built-in echo."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from core.models import Message, Role, Session
from core.tokens import Context, estimate_tokens


@dataclass(frozen=True, slots=True)
class Answer:
    """A responder's answer with the token usage it reports."""

    text: str
    tokens_in: int = 0
    tokens_out: int = 0


class Responder(Protocol):
    """Produces the assistant's answer to the newest user message."""

    name: str

    async def respond(self, session: Session, context: Sequence[Message]) -> Answer:
        """Answer the conversation.

        Args:
            session: the session being answered.
            context: the messages the responder may see, oldest first; the last one
                is the user's new message. From the router it is a
                :class:`core.sessions.context_window.Context`, which also carries their estimated
                tokens.

        Raises:
            ResponderError: no answer could be produced.
        """
        ...


class EchoResponder:
    """Repeats the user's message; needs no network. The default responder."""

    name = "echo"

    async def respond(self, session: Session, context: Sequence[Message]) -> Answer:
        """Echo the newest user message, with token counts estimated."""
        last = next((m for m in reversed(context) if m.role is Role.USER), None)
        text = f"echo: {last.content}" if last else "echo: (nothing to echo)"
        if isinstance(context, Context):
            tokens_in = context.tokens
        else:
            tokens_in = sum(estimate_tokens(m.content) for m in context)
        return Answer(text=text, tokens_in=tokens_in, tokens_out=estimate_tokens(text))
