"""Tokens: how text is counted, and the context a responder sees.

Every budget (the context window, the strategies, the window kept in memory) counts
with one :class:`TokenCounter`, chosen by the bot at start: the built-in
:data:`ESTIMATE` unless a tokenizer of the model is available locally (``bot``
decides which; ``core`` only counts with it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from core.models import Message


def estimate_tokens(text: str) -> int:
    """Estimate the tokens of ``text``: about four characters a token, at least one."""
    return (len(text) + 3) // 4 or 1


@dataclass(frozen=True)
class TokenCounter:
    """How text is counted in tokens.

    Attributes:
        name: what counts, as logged at start (``estimate``, ``tiktoken o200k_base``).
        count: the tokens of a text; at least one, so every message costs something.
    """

    name: str
    count: Callable[[str], int]

    def total(self, messages: Iterable[Message]) -> int:
        """Return the tokens of the messages' contents."""
        return sum(self.count(message.content) for message in messages)


ESTIMATE = TokenCounter("estimate", estimate_tokens)
"""The built-in counter: no tokenizer needed; the strategies calibrate it per session."""


class Context(list[Message]):
    """The messages a responder sees, oldest first, and their tokens.

    A plain list to anything that takes a ``Sequence[Message]``; ``tokens`` spares a
    responder counting them again (the window in memory keeps a running total), and
    ``counter`` lets it count what it adds (a system prompt, its answer) alike.

    Args:
        messages: the messages, oldest first.
        tokens: their tokens, if known; else counted here with ``counter``.
        counter: how they were (or are here) counted.
    """

    __slots__ = ("counter", "tokens")

    def __init__(
        self,
        messages: Iterable[Message] = (),
        tokens: int | None = None,
        counter: TokenCounter = ESTIMATE,
    ) -> None:
        super().__init__(messages)
        self.counter = counter
        self.tokens = counter.total(self) if tokens is None else tokens
