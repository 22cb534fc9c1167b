"""Plain (non-command) messages: store, ask the responder, store the answer."""

from __future__ import annotations

import logging

from core.models import Inbound, NewMessage, Reply, Role, Session
from core.sessions.context_window import context_history
from core.sessions.manager import SessionManager
from core.sessions.responders import Answer, Responder

logger = logging.getLogger(__name__)

APOLOGY = "Sorry, I couldn't answer that just now. Your message is saved; please try again."


async def converse(
    manager: SessionManager,
    responder: Responder,
    inbound: Inbound,
    session: Session,
    *,
    bot_name: str,
    max_tokens: int,
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

    Returns:
        The answer, or an apology if the responder failed.

    Raises:
        StaleSessionError: ``session`` was archived or its head moved; nothing was
            stored.
    """
    metadata = dict(inbound.metadata)
    if inbound.message_id:
        metadata["platform_message_id"] = inbound.message_id
    # The context must include the message just appended: the session as it is after.
    session, _ = await manager.history.record(
        session,
        NewMessage(Role.USER, inbound.author_name, inbound.text, metadata=metadata),
        only_if_current=True,
    )
    answer = await _ask(manager, responder, session, max_tokens)
    if answer is None:
        return Reply(APOLOGY)
    await manager.history.append(
        session,
        NewMessage(
            Role.ASSISTANT,
            bot_name,
            answer.text,
            tokens_in=answer.tokens_in,
            tokens_out=answer.tokens_out,
        ),
    )
    return Reply(answer.text)


async def _ask(
    manager: SessionManager, responder: Responder, session: Session, max_tokens: int
) -> Answer | None:
    try:
        context = await context_history(manager, session, max_tokens)
        answer = await responder.respond(session, context)
    except Exception:
        # Any failure, not only ResponderError: a responder is third-party code
        # (HTTP clients, SDKs) and the user must still get an answer.
        logger.exception("responder %r failed in session %s", responder.name, session.id)
        return None
    if not answer.text.strip():
        logger.error("responder %r gave an empty answer in session %s", responder.name, session.id)
        return None
    return answer
