"""Property test: the branch/checkpoint model behaves like copying lists."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from core.clock import ManualClock
from core.models import Inbound, NewMessage, Role
from core.sessions.manager import SessionManager
from core.storage.memory import MemoryStore

Op = tuple[str, int]

ops = st.lists(
    st.tuples(st.sampled_from(["append", "save", "restore", "clear", "page"]), st.integers(0, 50)),
    max_size=40,
)


@dataclass
class Model:
    """The obvious implementation: every checkpoint is a copy of the list."""

    messages: list[str] = field(default_factory=list)
    checkpoints: list[tuple[str, list[str]]] = field(default_factory=list)


async def run(operations: list[Op]) -> None:
    manager = SessionManager(MemoryStore(), clock=ManualClock())
    inbound = Inbound(platform="console", channel_id="c", user_id="u", text="")
    session = (await manager.resolve(inbound)).session
    model = Model()
    counter = 0
    for name, number in operations:
        if name == "append":
            counter += 1
            await manager.history.append(session, NewMessage(Role.USER, "u", f"m{counter}"))
            model.messages.append(f"m{counter}")
        elif name == "save":
            saved = await manager.checkpoints.save(session, f"c{number}", by="u")
            model.checkpoints.append((saved.id, list(model.messages)))
        elif name == "restore" and model.checkpoints:
            target_id, target = model.checkpoints[number % len(model.checkpoints)]
            session, _, undo = await manager.checkpoints.restore(session, target_id, by="u")
            model.checkpoints.append((undo.id, list(model.messages)))
            model.messages = list(target)
        elif name == "clear":
            session, undo = await manager.checkpoints.clear(session, by="u")
            if undo is not None:
                model.checkpoints.append((undo.id, list(model.messages)))
            model.messages = []
        elif name == "page":
            limit = number % 7 + 1
            page = await manager.history.page(session, limit=limit)
            assert [m.content for m in page.messages] == model.messages[-limit:]
            assert page.has_more == (len(model.messages) > limit)
        session = await manager.sessions.get(session.id)
        assert session.message_count == len(model.messages)
    visible = await manager.history.all_messages(session)
    assert [m.content for m in visible] == model.messages
    assert [m.seq for m in visible] == list(range(1, len(model.messages) + 1))


@settings(max_examples=150, deadline=None)
@given(ops)
def test_history_matches_a_list_model(operations: list[Op]) -> None:
    asyncio.run(run(operations))
