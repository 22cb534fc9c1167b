"""The context window: which part of a session's history a responder sees."""

from __future__ import annotations

from core.manager import SessionManager
from core.models import Message, Session

_PAGE = 50


def estimate_tokens(text: str) -> int:
    """Estimate the tokens of ``text``: about four characters a token, at least one."""
    return max(1, (len(text) + 3) // 4)


async def context_history(
    manager: SessionManager, session: Session, max_tokens: int
) -> list[Message]:
    """Return the newest messages whose estimated tokens fit ``max_tokens``, oldest first.

    The newest message is always included, even if it alone exceeds the budget.
    Reads pages from the head, so the cost follows the budget, not the history length.
    """
    chosen: list[Message] = []
    budget = max_tokens
    before: str | None = None
    while True:
        page = await manager.history(session, limit=_PAGE, before=before)
        for message in reversed(page.messages):
            cost = estimate_tokens(message.content)
            if chosen and cost > budget:
                chosen.reverse()
                return chosen
            chosen.append(message)
            budget -= cost
        if not page.has_more or not page.messages:
            chosen.reverse()
            return chosen
        before = page.messages[0].id
