from __future__ import annotations

from core.clock import ManualClock
from core.context import context_history, estimate_tokens
from core.manager import SessionManager
from core.memory_store import MemoryStore
from core.models import Inbound, NewMessage, Role
from core.responder import EchoResponder


def test_estimate_is_about_four_characters_a_token() -> None:
    assert estimate_tokens("") == 1
    assert estimate_tokens("abcd") == 1
    assert estimate_tokens("abcde") == 2


async def test_context_keeps_the_newest_messages_that_fit() -> None:
    manager = SessionManager(MemoryStore(), clock=ManualClock())
    session = (await manager.resolve(Inbound("console", "c", "u", "x"))).session
    for i in range(120):
        await manager.append(session, NewMessage(Role.USER, "u", f"{i:04d}"))  # one token each
    session = await manager.get(session.id)
    chosen = await context_history(manager, session, max_tokens=75)
    assert [m.content for m in chosen] == [f"{i:04d}" for i in range(45, 120)]
    huge = await manager.append(session, NewMessage(Role.USER, "u", "x" * 4000))
    session = await manager.get(session.id)
    assert await context_history(manager, session, max_tokens=10) == huge


async def test_echo_answers_the_last_user_message() -> None:
    manager = SessionManager(MemoryStore(), clock=ManualClock())
    session = (await manager.resolve(Inbound("console", "c", "u", "x"))).session
    await manager.append(session, NewMessage(Role.USER, "u", "ping"))
    session = await manager.get(session.id)
    answer = await EchoResponder().respond(session, await manager.all_messages(session))
    assert answer.text == "echo: ping"
    assert answer.tokens_in == 1 and answer.tokens_out == estimate_tokens("echo: ping")
