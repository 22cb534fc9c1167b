"""The context strategies: ``recent``, ``smart`` and ``summarize``.

* ``recent``: the newest messages that fit the budget
  (:func:`core.sessions.context_window.context_history`).
* ``smart``: the pinned messages first (:mod:`core.sessions.notes`), then the
  newest messages that fit what is left.
* ``summarize``: the newest summary that covers a point of the history, then the
  newest messages after it that fit what is left. When messages fall out of the
  window between the summary and the window, the context is still built at once
  (those messages are missing from it), and a new summary is made in the
  background by the responder itself: the previous summary folded with the messages
  since, up to the older half of the window, so the next one is needed only when
  the window has filled again.

Every strategy starts from the ``recent`` window, remembered between messages for
conversations in progress, and reads nothing more per message than the chain of
branches: cost follows the budget, never the history's length.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Sequence
from datetime import UTC, datetime
from enum import StrEnum

from core.errors import ResponderError
from core.models import Message, Role, Session
from core.sessions.context_window import context_history
from core.sessions.manager import SessionManager
from core.sessions.notes import Summary
from core.sessions.responders import Responder
from core.tokens import ESTIMATE, Context, TokenCounter

logger = logging.getLogger(__name__)


class Strategy(StrEnum):
    """Which part of the history the responder sees."""

    RECENT = "recent"
    SMART = "smart"
    SUMMARIZE = "summarize"


DEFAULT_SUMMARY_PROMPT = (
    "You keep a running summary of a conversation. Write an updated summary: the "
    "previous summary, if any, with what the messages below add. Keep names, facts, "
    "decisions and open questions; leave out small talk. Answer with the summary only."
)
"""``[context] summary_prompt`` when not configured."""

SUMMARY_HEADER = "Summary of the conversation so far:"
"""How the summary is introduced to the responder."""

MAX_FOLDED_MESSAGES = 200
"""Messages one summary folds at most; a longer backlog is folded over several."""

CALIBRATED_SESSIONS = 10_000
"""Sessions whose calibration is remembered; past it, the least recently used goes."""

CALIBRATION_STEPS = 8
"""A ratio is rounded to eighths, so the budget (and the window kept for it) changes
only when the endpoint's counts really move."""

MIN_RATIO, MAX_RATIO = 0.5, 4.0
"""The bounds of a calibration ratio: one odd report cannot empty or flood a context."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def summary_message(session: Session, summary: Summary) -> Message:
    """Return the summary as the system message that stands for the messages it covers."""
    return Message(
        id=f"summary-{summary.upto}",
        session_id=session.id,
        branch_id=summary.branch_id,
        seq=0,
        role=Role.SYSTEM,
        author="summary",
        content=f"{SUMMARY_HEADER}\n{summary.text}",
        created_at=_EPOCH,
    )


def fit(
    messages: Sequence[Message], budget: int, counter: TokenCounter = ESTIMATE
) -> list[Message]:
    """Return the newest of ``messages`` (oldest first) whose tokens fit ``budget``.

    The newest one is always kept, even when it alone is over the budget.
    """
    kept: list[Message] = []
    for message in reversed(messages):
        cost = counter.count(message.content)
        if kept and cost > budget:
            break
        kept.append(message)
        budget -= cost
    kept.reverse()
    return kept


class ContextBuilder:
    """Builds the context a responder sees, by the strategy in force.

    Args:
        manager: the session manager.
        responder: writes the summaries of ``summarize``.
        summary_prompt: the instruction a summary is written with.
    """

    def __init__(
        self,
        manager: SessionManager,
        responder: Responder,
        *,
        summary_prompt: str = DEFAULT_SUMMARY_PROMPT,
    ) -> None:
        self._manager = manager
        self._responder = responder
        self._summary_prompt = summary_prompt
        self._summarising: dict[str, asyncio.Task[None]] = {}
        self._ratios: OrderedDict[str, float] = OrderedDict()

    async def build(self, session: Session, strategy: Strategy, max_tokens: int) -> Context:
        """Return the context of ``session`` for ``max_tokens`` by ``strategy``, oldest first.

        ``max_tokens`` counts the endpoint's tokens once :meth:`calibrate` has learnt
        how they compare with the estimate in this session.
        """
        max_tokens = self.budget_for(session.id, max_tokens)
        window = await context_history(self._manager, session, max_tokens)
        if strategy is Strategy.SMART:
            return await self._smart(session, window, max_tokens)
        if strategy is Strategy.SUMMARIZE:
            return await self._summarized(session, window, max_tokens)
        return window

    def calibrate(self, session_id: str, estimated: int, reported: int) -> None:
        """Learn how the endpoint counts this session's prompts against the estimate.

        Args:
            session_id: the session answered.
            estimated: the estimated tokens of the context sent.
            reported: the prompt tokens the endpoint reported for it (its system
                prompt and message framing included, so the budget errs on the
                small side).
        """
        if estimated <= 0 or reported <= 0:
            return
        ratio = reported / estimated
        previous = self._ratios.pop(session_id, None)
        if previous is not None:
            ratio = (3 * previous + ratio) / 4  # one odd report moves it a quarter
        self._ratios[session_id] = min(MAX_RATIO, max(MIN_RATIO, ratio))
        if len(self._ratios) > CALIBRATED_SESSIONS:
            self._ratios.popitem(last=False)

    def budget_for(self, session_id: str, max_tokens: int) -> int:
        """Return ``max_tokens`` of the endpoint's tokens in estimated tokens."""
        ratio = self._ratios.get(session_id)
        if ratio is None:
            return max_tokens
        self._ratios.move_to_end(session_id)
        step = round(ratio * CALIBRATION_STEPS) / CALIBRATION_STEPS
        return max(1, int(max_tokens / step))

    async def _smart(self, session: Session, window: Context, max_tokens: int) -> Context:
        pins = await self._manager.notes.pins(session)
        if not pins or not window:
            return window
        newest = window[-1]
        in_window = {message.id: message for message in window}
        # Pins come first, oldest first, as many as fit beside the newest message
        # (which stays last, pinned or not); those outside the window are read by
        # id (at most MAX_PINS of them).
        count = self._manager.tokens.count
        budget = max_tokens - count(newest.content)
        pinned: list[Message] = []
        for pin in pins:
            if pin.message_id == newest.id:
                continue
            message = in_window.get(pin.message_id)
            if message is None:
                message = await self._manager.history.message(session, pin.message_id)
            cost = count(message.content)
            if cost <= budget:
                pinned.append(message)
                budget -= cost
        chosen = {message.id for message in pinned}
        counter = self._manager.tokens
        spent = counter.total(pinned)
        rest = fit([m for m in window if m.id not in chosen], max_tokens - spent, counter)
        return Context([*pinned, *rest], counter=counter)

    async def _summarized(self, session: Session, window: Context, max_tokens: int) -> Context:
        summary = await self._manager.notes.summary(session)
        upto = summary.upto if summary is not None else 0
        # The newest message is always sent, even one the summary covers (a /retry
        # right after restoring to the summary's point).
        after = [message for message in window if message.seq > upto] or window[-1:]
        if summary is None:
            head: list[Message] = []
            spent = 0
        else:
            head = [summary_message(session, summary)]
            spent = self._manager.tokens.count(head[0].content)
        shown = fit(after, max_tokens - spent, self._manager.tokens)
        if shown and shown[0].seq > upto + 1:
            # Messages between the summary and the window are left out: fold them,
            # and the older half of the window, into the next summary.
            half = shown[: len(shown) // 2]
            fold_to = half[-1].seq if half else shown[0].seq - 1
            self._summarise_later(session, summary, fold_to)
        return Context([*head, *shown], counter=self._manager.tokens)

    # -- summaries ------------------------------------------------------------------

    def _summarise_later(self, session: Session, previous: Summary | None, fold_to: int) -> None:
        if session.id in self._summarising:
            return  # one at a time per session; the next overflow asks again
        task = asyncio.create_task(
            self._summarise(session, previous, fold_to), name=f"summary-{session.id}"
        )
        self._summarising[session.id] = task
        task.add_done_callback(lambda _: self._summarising.pop(session.id, None))

    async def _summarise(self, session: Session, previous: Summary | None, fold_to: int) -> None:
        start = previous.upto + 1 if previous is not None else 1
        try:
            folded = await self._manager.history.between(
                session, start, fold_to, limit=MAX_FOLDED_MESSAGES
            )
            if not folded:
                return
            answer = await self._responder.respond(
                session, self._summary_request(session, previous, folded)
            )
            text = answer.text.strip()
            if not text:
                logger.warning("the summary of session %s came back empty", session.id)
                return
            summary = Summary(session.head_branch_id, folded[-1].seq, text)
            await self._manager.notes.save_summary(session.id, summary)
        except ResponderError as error:
            # Off the reply's path: the conversation goes on with what fits, and the
            # next overflow asks again.
            logger.warning("summarising session %s failed: %s", session.id, error)
        except Exception:
            logger.exception("summarising session %s failed", session.id)

    def _summary_request(
        self, session: Session, previous: Summary | None, folded: list[Message]
    ) -> Context:
        instruction = Message(
            id="summary-prompt",
            session_id=session.id,
            branch_id=session.head_branch_id,
            seq=0,
            role=Role.SYSTEM,
            author="summary",
            content=self._summary_prompt,
            created_at=_EPOCH,
        )
        request = [instruction]
        if previous is not None:
            request.append(summary_message(session, previous))
        request += folded
        request.append(
            Message(
                id="summary-ask",
                session_id=session.id,
                branch_id=session.head_branch_id,
                seq=0,
                role=Role.USER,
                author="summary",
                content="Write the updated summary now.",
                created_at=_EPOCH,
            )
        )
        return Context(request, counter=self._manager.tokens)

    async def drain(self) -> None:
        """Wait for the summaries being written."""
        while self._summarising:
            await asyncio.gather(*self._summarising.values(), return_exceptions=True)

    async def close(self) -> None:
        """Stop the summaries being written (at shutdown); the next overflow asks again."""
        for task in list(self._summarising.values()):
            task.cancel()
        await asyncio.gather(*self._summarising.values(), return_exceptions=True)
