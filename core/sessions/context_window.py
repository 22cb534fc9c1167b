"""The context window: which part of a session's history a responder sees."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.models import Message, Session
from core.tokens import Context

if TYPE_CHECKING:
    from core.sessions.manager import SessionManager

_PAGE = 50
_MIN_PAGE = 10
_MAX_PAGE = 500


async def context_history(manager: SessionManager, session: Session, max_tokens: int) -> Context:
    """Return the newest messages whose tokens fit ``max_tokens``, oldest first.

    The newest message is always included, even if it alone exceeds the budget.
    A conversation in progress has its window in memory
    (:class:`core.storage.live.LiveSessions`); otherwise pages are read from the
    head, so the cost follows the budget, not the history length.
    """
    remembered = manager.store.remembered_window(session, max_tokens)
    if remembered is not None:
        return remembered
    chosen = await _read_context(manager, session, max_tokens)
    manager.store.remember_window(session, chosen, max_tokens)
    return chosen


async def _read_context(manager: SessionManager, session: Session, max_tokens: int) -> Context:
    count = manager.tokens.count
    chosen: list[Message] = []
    budget = max_tokens
    spent = 0

    def next_page() -> int:
        # After the first page, read about as many as the rest of the budget holds at
        # the average size so far (a fifth more, to save a read): no page of waste.
        if not chosen:
            return _PAGE
        return max(_MIN_PAGE, min(_MAX_PAGE, budget * len(chosen) * 6 // (5 * spent) + 1))

    async for page in manager.history.newest_pages(session, next_page):
        for message in page:
            cost = count(message.content)
            if chosen and cost > budget:
                return Context(reversed(chosen), spent, manager.tokens)
            chosen.append(message)
            budget -= cost
            spent += cost
    return Context(reversed(chosen), spent, manager.tokens)
