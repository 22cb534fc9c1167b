"""Suggestions while typing an id: only the caller's own, and asking changes nothing."""

from __future__ import annotations

import re

from core.menu import Suggest
from core.storage.protocols import SessionFilter
from tests.builders import inbound
from tests.commands.helpers import Chat


async def saved_checkpoint(chat: Chat, name: str, **where: str) -> str:
    text = await chat.say(f'/checkpoint save "{name}"', **where)
    found = re.search(r"restore (\w+)", text)
    assert found is not None
    return found[1]


async def test_checkpoints_of_the_callers_session_only(chat: Chat) -> None:
    mine = await saved_checkpoint(chat, "my plan", user="alice")
    await saved_checkpoint(chat, "bob's plan", user="bob")
    found = await chat.router.suggest(inbound(user="alice"), Suggest.CHECKPOINT, "")
    assert [s.value for s in found] == [mine]
    assert "my plan" in found[0].label
    assert await chat.router.suggest(inbound(user="alice"), Suggest.CHECKPOINT, "bob") == []
    by_name = await chat.router.suggest(inbound(user="alice"), Suggest.CHECKPOINT, "PLAN")
    assert [s.value for s in by_name] == [mine]


async def test_sessions_of_the_callers_scope_only(chat: Chat) -> None:
    for user, title in (("alice", "first"), ("alice", "second"), ("bob", "other")):
        await chat.say("something to keep", user=user)  # /new keeps an empty conversation
        await chat.say(f"/new {title}", user=user)
    found = await chat.router.suggest(inbound(user="alice"), Suggest.SESSION, "")
    labels = " ".join(s.label for s in found)
    assert "first" in labels and "second" in labels and "other" not in labels
    assert len(found) == 3  # and the untitled one the first /new archived


async def test_asking_starts_no_session(chat: Chat) -> None:
    assert await chat.router.suggest(inbound(user="carol"), Suggest.CHECKPOINT, "") == []
    assert await chat.router.suggest(inbound(user="carol"), Suggest.SESSION, "") == []
    assert await chat.manager.sessions.list(SessionFilter()) == []
