"""A message redelivered after its worker died: stored once, answered once.

The worker that took it over finds what the dead one stored by the platform's
message id among the newest messages: an answered message gets its stored answer
again (the dead worker may not have sent it), an unanswered one is answered; the
question is never stored twice.
"""

from __future__ import annotations

import dataclasses

from core.crypto.sealing import SealedStore
from core.models import NewMessage, Role
from core.storage.memory import MemoryStore
from tests.builders import inbound
from tests.commands.helpers import Chat


async def contents(chat: Chat) -> list[str]:
    return [m.content for m in await chat.manager.history.all_messages(await chat.session())]


async def test_an_answered_message_gets_its_stored_answer_and_nothing_is_stored() -> None:
    chat = Chat()
    first = inbound("hello", message_id="41")
    assert [r.text for r in await chat.router.handle(first)] == ["echo: hello"]
    again = dataclasses.replace(first, redelivered=True)
    assert [r.text for r in await chat.router.handle(again)] == ["echo: hello"]
    assert await contents(chat) == ["hello", "echo: hello"]


async def test_a_stored_unanswered_message_is_answered_once() -> None:
    chat = Chat()
    await chat.say("before")
    session = await chat.session()
    # What a worker killed between storing the question and the answer left.
    asked = NewMessage(Role.USER, "alice", "are you there?", metadata={"platform_message_id": "42"})
    await chat.manager.history.record(session, asked)
    again = inbound("are you there?", message_id="42", redelivered=True)
    assert [r.text for r in await chat.router.handle(again)] == ["echo: are you there?"]
    assert await contents(chat) == [
        "before",
        "echo: before",
        "are you there?",
        "echo: are you there?",
    ]


async def test_a_message_the_dead_worker_never_stored_is_handled_as_new() -> None:
    chat = Chat()
    await chat.say("before", message_id="1")
    again = inbound("new to us", message_id="43", redelivered=True)
    assert [r.text for r in await chat.router.handle(again)] == ["echo: new to us"]
    same_id_elsewhere = inbound("other chat", message_id="43", channel="c2", redelivered=True)
    assert [r.text for r in await chat.router.handle(same_id_elsewhere)] == ["echo: other chat"]
    assert await contents(chat) == ["before", "echo: before", "new to us", "echo: new to us"]


async def test_the_worker_taking_over_reads_what_the_dead_one_stored() -> None:
    # Two workers on one store; this one remembers the conversation as it last saw it.
    shared = MemoryStore()
    taker, dead = Chat(store=SealedStore(shared, None)), Chat(store=SealedStore(shared, None))
    await taker.say("first", message_id="1")
    await taker.say("second", message_id="2")
    # The other worker stored the next message and died before answering it.
    session = await dead.session()
    asked = NewMessage(Role.USER, "alice", "third", metadata={"platform_message_id": "3"})
    await dead.manager.history.record(session, asked)
    again = inbound("third", message_id="3", redelivered=True)
    assert [r.text for r in await taker.router.handle(again)] == ["echo: third"]
    said = ["first", "second", "third"]
    assert await contents(taker) == [text for t in said for text in (t, f"echo: {t}")]
