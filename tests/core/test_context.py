from __future__ import annotations

from core.clock import ManualClock
from core.models import Inbound, NewMessage, Role
from core.sessions.context_window import context_history
from core.sessions.manager import SessionManager
from core.sessions.responders import EchoResponder
from core.storage.memory import MemoryStore
from core.tokens import Context, estimate_tokens


def test_estimate_is_about_four_characters_a_token() -> None:
    assert estimate_tokens("") == 1
    assert estimate_tokens("abcd") == 1
    assert estimate_tokens("abcde") == 2


async def test_context_keeps_the_newest_messages_that_fit() -> None:
    manager = SessionManager(MemoryStore(), clock=ManualClock())
    session = (await manager.resolve(Inbound("console", "c", "u", "x"))).session
    for i in range(120):
        await manager.history.append(
            session, NewMessage(Role.USER, "u", f"{i:04d}")
        )  # one token each
    session = await manager.sessions.get(session.id)
    chosen = await context_history(manager, session, max_tokens=75)
    assert [m.content for m in chosen] == [f"{i:04d}" for i in range(45, 120)]
    huge = await manager.history.append(session, NewMessage(Role.USER, "u", "x" * 4000))
    session = await manager.sessions.get(session.id)
    assert await context_history(manager, session, max_tokens=10) == huge


async def test_echo_answers_the_last_user_message() -> None:
    manager = SessionManager(MemoryStore(), clock=ManualClock())
    session = (await manager.resolve(Inbound("console", "c", "u", "x"))).session
    await manager.history.append(session, NewMessage(Role.USER, "u", "ping"))
    session = await manager.sessions.get(session.id)
    answer = await EchoResponder().respond(session, await manager.history.all_messages(session))
    assert answer.text == "echo: ping"
    assert answer.tokens_in == 1 and answer.tokens_out == estimate_tokens("echo: ping")


async def test_context_after_restores_reads_through_every_fork() -> None:
    manager = SessionManager(MemoryStore(), clock=ManualClock())
    session = (await manager.resolve(Inbound("console", "c", "u", "x"))).session
    for i in range(60):
        await manager.history.append(session, NewMessage(Role.USER, "u", f"a{i:03d}"))
    session = await manager.sessions.get(session.id)
    mark = await manager.checkpoints.save(session, "mark", by="console:u")
    for i in range(5):
        await manager.history.append(session, NewMessage(Role.USER, "u", f"lost{i}"))
    session, _, _ = await manager.checkpoints.restore(
        await manager.sessions.get(session.id), mark.id, by="u"
    )
    for i in range(70):
        await manager.history.append(session, NewMessage(Role.USER, "u", f"b{i:03d}"))
    session = await manager.sessions.get(session.id)
    chosen = await context_history(manager, session, max_tokens=100)
    expected = [f"a{i:03d}" for i in range(30, 60)] + [f"b{i:03d}" for i in range(70)]
    assert [m.content for m in chosen] == expected
    full = await context_history(manager, session, max_tokens=10_000)
    assert [m.content for m in full] == [f"a{i:03d}" for i in range(60)] + expected[30:]


async def test_a_refreshed_session_is_the_session_read_again() -> None:
    manager = SessionManager(MemoryStore(), clock=ManualClock())
    session = (await manager.resolve(Inbound("console", "c", "u", "x"))).session
    stored = await manager.history.append(
        session,
        NewMessage(Role.USER, "u", "hi"),
        NewMessage(Role.ASSISTANT, "bot", "hello", tokens_in=3, tokens_out=2),
    )
    assert await manager.history.refreshed(session, stored) == await manager.sessions.get(
        session.id
    )


async def test_a_context_carries_its_tokens_read_or_remembered() -> None:
    """The responder is told the context's tokens; the echo reports them as its input."""
    manager = SessionManager(MemoryStore(), clock=ManualClock())
    session = (await manager.resolve(Inbound("console", "c", "u", "x"))).session
    for i in range(30):
        session, _ = await manager.history.record(session, NewMessage(Role.USER, "u", "word " * i))
    read = await context_history(manager, session, max_tokens=200)
    assert isinstance(read, Context)
    assert read.tokens == sum(estimate_tokens(m.content) for m in read) <= 200
    for i in range(5):
        session, _ = await manager.history.record(session, NewMessage(Role.USER, "u", "more " * i))
        remembered = await context_history(manager, session, max_tokens=200)
        assert remembered.tokens == sum(estimate_tokens(m.content) for m in remembered)
        answer = await EchoResponder().respond(session, remembered)
        assert answer.tokens_in == remembered.tokens
    assert Context([read[0]]).tokens == estimate_tokens(read[0].content)
