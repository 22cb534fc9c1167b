"""Plain (non-command) messages: store, ask the responder, store the answer."""

from __future__ import annotations

import logging
from collections.abc import Awaitable

from core.errors import CommandError, ResponderError
from core.models import Inbound, Message, NewMessage, Reply, Role, Session
from core.sessions.manager import SessionManager
from core.sessions.responders import Answer, Responder, StreamingResponder
from core.sessions.strategies import ContextBuilder, Strategy
from core.streaming import current_stream
from core.tokens import Context

logger = logging.getLogger(__name__)

APOLOGY = "The model did not answer. Your message is kept: send /retry to ask again."
"""The one line a user gets when the responder failed; nothing is stored for it."""

USAGE_ESTIMATED = "usage_estimated"
"""Metadata key of an assistant message whose token counts are estimates."""

NOTHING_TO_RETRY = "Nothing to retry: the last message already has an answer."

PLATFORM_MESSAGE_ID = "platform_message_id"
"""The metadata key of a user message's id on its platform."""


async def converse(
    manager: SessionManager,
    responder: Responder,
    inbound: Inbound,
    session: Session,
    *,
    bot_name: str,
    max_tokens: int,
    contexts: ContextBuilder | None = None,
    strategy: Strategy = Strategy.RECENT,
) -> Reply:
    """Append the user's message, get the responder's answer and append it too.

    The user's message is stored before the responder is called, so a failing
    responder costs an apology, never the message; and only if ``session`` is still
    active on the same head, so it never lands in a session that ended meanwhile.
    The answer follows its question into that session whatever happens in between.

    Args:
        manager: the session manager.
        responder: what answers.
        inbound: the user's message.
        session: the session it belongs to.
        bot_name: the author name of the stored answer.
        max_tokens: the token budget of the history the responder sees.
        contexts: builds the context by ``strategy``; ``recent`` without one.
        strategy: the context strategy in force.

    A redelivered message (its worker died handling it) is not stored twice: found
    among the newest messages by its platform id, it is answered if it was not, and
    its stored answer is sent again if it was (the dead worker may not have sent it:
    the answer may reach the user twice, never not at all).

    Returns:
        The answer, or :data:`APOLOGY` if the responder failed.

    Raises:
        StaleSessionError: ``session`` was archived or its head moved; nothing was
            stored.
    """

    async def answer(current: Session) -> Reply:
        return await answer_last(
            manager,
            responder,
            current,
            bot_name=bot_name,
            max_tokens=max_tokens,
            contexts=contexts,
            strategy=strategy,
        )

    if inbound.redelivered and inbound.message_id:
        stored, answered = await _stored_before(manager, session, inbound.message_id)
        if answered is not None:
            # The dead worker may have died before sending it: sent (again) here.
            return Reply(answered.content)
        if stored:
            return await answer(session)
    metadata = dict(inbound.metadata)
    if inbound.message_id:
        metadata[PLATFORM_MESSAGE_ID] = inbound.message_id
    # The context must include the message just appended: the session as it is after.
    session, _ = await manager.history.record(
        session,
        NewMessage(Role.USER, inbound.author_name, inbound.text, metadata=metadata),
        only_if_current=True,
    )
    return await answer(session)


REDELIVERY_LOOKBACK = 20
"""Newest messages searched for a redelivered message the dead worker stored."""


async def _stored_before(
    manager: SessionManager, session: Session, message_id: str
) -> tuple[bool, Message | None]:
    """Whether the message with this platform id is stored, and the answer stored after it."""
    newest = (await manager.history.page(session, limit=REDELIVERY_LOOKBACK)).messages
    for index, message in enumerate(newest):
        if message.role is Role.USER and message.metadata.get(PLATFORM_MESSAGE_ID) == message_id:
            after = newest[index + 1 : index + 2]
            return True, after[0] if after and after[0].role is Role.ASSISTANT else None
    return False, None


async def retry(
    manager: SessionManager,
    responder: Responder,
    session: Session,
    *,
    bot_name: str,
    max_tokens: int,
    contexts: ContextBuilder | None = None,
    strategy: Strategy = Strategy.RECENT,
) -> Reply:
    """Ask the responder again for the session's last message, if it is unanswered.

    Raises:
        CommandError: the last message is not a user's (or there is none); the
            message says so.
    """
    newest = await manager.history.page(session, limit=1)
    if not newest.messages or newest.messages[-1].role is not Role.USER:
        raise CommandError(NOTHING_TO_RETRY)
    return await answer_last(
        manager,
        responder,
        session,
        bot_name=bot_name,
        max_tokens=max_tokens,
        contexts=contexts,
        strategy=strategy,
    )


async def answer_last(
    manager: SessionManager,
    responder: Responder,
    session: Session,
    *,
    bot_name: str,
    max_tokens: int,
    contexts: ContextBuilder | None = None,
    strategy: Strategy = Strategy.RECENT,
) -> Reply:
    """Ask the responder to answer the session as it is, and store the answer.

    The answer is streamed to the adapter's :class:`core.streaming.ReplyStream`
    when there is one and the responder can; the stored message is the final text,
    stored once. A failed answer stores nothing.
    """
    # Answered through the stream in force (which shows a typing indicator, and the
    # text as it comes if the responder streams): the adapter finishes it.
    streams = current_stream() is not None
    if contexts is None:
        contexts = ContextBuilder(manager, responder)
    asked = await _ask(responder, session, contexts.build(session, strategy, max_tokens))
    if asked is None:
        return Reply(APOLOGY, streamed=streams)
    answer, context = asked
    if not answer.estimated:
        contexts.calibrate(session.id, context.tokens, answer.tokens_in)
    metadata = {USAGE_ESTIMATED: True} if answer.estimated else {}
    await manager.history.append(
        session,
        NewMessage(
            Role.ASSISTANT,
            bot_name,
            answer.text,
            metadata=metadata,
            tokens_in=answer.tokens_in,
            tokens_out=answer.tokens_out,
        ),
    )
    return Reply(answer.text, streamed=streams)


async def _ask(
    responder: Responder, session: Session, building: Awaitable[Context]
) -> tuple[Answer, Context] | None:
    stream = current_stream()
    try:
        context = await building
        if stream is not None:
            await stream.update("")  # the answer is being written
        if stream is not None and isinstance(responder, StreamingResponder):
            answer = await responder.respond_streaming(session, context, stream.update)
        else:
            answer = await responder.respond(session, context)
    except ResponderError as error:
        # Expected (a timeout, 429 or 5xx after the retries): one line, no traceback.
        logger.warning(
            "responder %r did not answer in session %s: %s", responder.name, session.id, error
        )
        return None
    except Exception:
        # Any failure, not only ResponderError: a responder is third-party code
        # (HTTP clients, SDKs) and the user must still get an answer.
        logger.exception("responder %r failed in session %s", responder.name, session.id)
        return None
    if not answer.text.strip():
        logger.error("responder %r gave an empty answer in session %s", responder.name, session.id)
        return None
    return answer, context
