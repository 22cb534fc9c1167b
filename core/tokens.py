"""Tokens: the estimate every budget uses, and the context a responder sees."""

from __future__ import annotations

from collections.abc import Iterable

from core.models import Message


def estimate_tokens(text: str) -> int:
    """Estimate the tokens of ``text``: about four characters a token, at least one."""
    return (len(text) + 3) // 4 or 1


class Context(list[Message]):
    """The messages a responder sees, oldest first, and their estimated tokens.

    A plain list to anything that takes a ``Sequence[Message]``; ``tokens`` spares a
    responder counting them again (the window in memory keeps a running total).

    Args:
        messages: the messages, oldest first.
        tokens: their estimated tokens, if known; else counted here.
    """

    __slots__ = ("tokens",)

    def __init__(self, messages: Iterable[Message] = (), tokens: int | None = None) -> None:
        super().__init__(messages)
        self.tokens = sum(estimate_tokens(m.content) for m in self) if tokens is None else tokens
