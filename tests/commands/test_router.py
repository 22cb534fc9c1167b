from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from commands import CommandContext, Registry, RouterSettings, default_registry
from commands.router import GENERIC_ERROR, RATE_LIMITED, TOO_LONG
from core.errors import ResponderError, StorageError
from core.models import Message, Reply, Role, Session
from core.sessions.conversation import APOLOGY
from core.sessions.resets import ResetRules
from core.sessions.responders import Answer
from core.storage.memory import MemoryStore
from core.storage.protocols import SessionFilter
from tests.builders import inbound
from tests.commands.helpers import ADMIN, Chat


class FailingResponder:
    name = "failing"

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def respond(self, session: Session, context: Sequence[Message]) -> Answer:
        raise self.error


class ScriptedResponder:
    name = "scripted"

    def __init__(self, text: str) -> None:
        self.text = text
        self.contexts: list[list[str]] = []

    async def respond(self, session: Session, context: Sequence[Message]) -> Answer:
        self.contexts.append([message.content for message in context])
        return Answer(self.text, tokens_in=7, tokens_out=3)


class GatedResponder:
    """Answers a message only once its gate is opened."""

    name = "gated"

    def __init__(self) -> None:
        self.gates: dict[str, asyncio.Event] = {}
        self.started: list[str] = []

    def gate(self, text: str) -> asyncio.Event:
        return self.gates.setdefault(text, asyncio.Event())

    async def respond(self, session: Session, context: Sequence[Message]) -> Answer:
        text = context[-1].content
        self.started.append(text)
        await self.gate(text).wait()
        return Answer(f"re: {text}")


class BrokenStore(MemoryStore):
    async def get_active_session(self, scope_key: str) -> Session | None:
        raise StorageError("database is on fire")


# -- plain messages -----------------------------------------------------------


async def test_a_plain_message_is_stored_answered_and_the_answer_stored() -> None:
    responder = ScriptedResponder("Hi Alice!")
    chat = Chat(responder=responder)
    replies = await chat.send("hello", message_id="m1", display_name="Alice")
    assert replies == [Reply("Hi Alice!")]
    session = await chat.session()
    user, answer = await chat.manager.history.all_messages(session)
    assert (user.role, user.author, user.content) == (Role.USER, "Alice", "hello")
    assert user.metadata == {"platform_message_id": "m1"}
    assert (answer.role, answer.author, answer.content) == (
        Role.ASSISTANT,
        "sessionbot",
        "Hi Alice!",
    )
    assert (answer.tokens_in, answer.tokens_out) == (7, 3)
    assert (session.tokens_in, session.tokens_out) == (7, 3)
    assert responder.contexts == [["hello"]]


async def test_the_responder_sees_the_history_within_the_token_budget() -> None:
    responder = ScriptedResponder("ok")
    chat = Chat(responder=responder, settings=RouterSettings(context_max_tokens=3))
    await chat.send("first message, long enough to fall out of the budget")
    await chat.send("short")
    assert responder.contexts[-1] == ["ok", "short"]


async def test_a_message_without_platform_id_has_no_metadata(chat: Chat) -> None:
    await chat.send("hello")
    [user, _] = await chat.manager.history.all_messages(await chat.session())
    assert user.metadata == {}


@pytest.mark.parametrize(
    "error", [ResponderError("rate limited"), RuntimeError("bug"), TimeoutError()]
)
async def test_a_failing_responder_gets_an_apology_and_keeps_the_message(
    error: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    chat = Chat(responder=FailingResponder(error))
    assert await chat.say("hello") == APOLOGY
    assert await chat.contents() == ["hello"]
    [record] = [r for r in caplog.records if r.levelno >= logging.WARNING]
    if isinstance(error, ResponderError):
        # Expected (the model's endpoint failed after its retries): one line.
        assert (record.levelno, record.exc_info) == (logging.WARNING, None)
        assert str(error) in record.getMessage()
    else:
        assert (record.levelno, record.exc_info is not None) == (logging.ERROR, True)


async def test_an_empty_answer_counts_as_a_failure() -> None:
    chat = Chat(responder=ScriptedResponder("  "))
    assert await chat.say("hello") == APOLOGY
    assert await chat.contents() == ["hello"]


# -- guards -------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
async def test_an_empty_message_gets_nothing_and_stores_nothing(chat: Chat, text: str) -> None:
    assert await chat.send(text) == []
    assert await chat.manager.sessions.list(SessionFilter(), limit=10) == []


async def test_a_message_over_the_limit_gets_one_line_and_stores_nothing() -> None:
    chat = Chat(settings=RouterSettings(max_message_chars=10))
    [reply] = await chat.send("x" * 11)
    assert reply.text == (
        "That message is too long (11 characters); the limit is 10. Nothing was saved."
    )
    assert await chat.manager.sessions.list(SessionFilter(), limit=10) == []
    assert await chat.say("x" * 10) == "echo: " + "x" * 10


async def test_the_rate_limit_tells_once_then_stays_quiet_until_the_minute_is_over() -> None:
    chat = Chat(settings=RouterSettings(rate_limit_per_minute=2))
    assert await chat.say("one") == "echo: one"
    assert await chat.say("/help") != ""
    assert await chat.say("three") == (
        "Slow down a little: up to 2 messages a minute. Try again shortly."
    )
    assert await chat.send("four") == []
    assert await chat.say("other user", user="bob") == "echo: other user"
    chat.clock.advance(timedelta(minutes=1))
    assert await chat.say("five") == "echo: five"
    assert await chat.contents() == ["one", "echo: one", "five", "echo: five"]


async def test_every_refusal_is_counted_and_logged_without_its_text(
    caplog: pytest.LogCaptureFixture,
) -> None:
    chat = Chat(settings=RouterSettings(rate_limit_per_minute=1, max_message_chars=20))
    caplog.set_level(logging.WARNING, logger="commands.router")
    assert await chat.say("first", platform="telegram") == "echo: first"
    assert (await chat.say("secret two", platform="telegram")).startswith("Slow down")
    assert await chat.send("secret three", platform="telegram") == []
    too_long = await chat.say("secret " * 5, platform="slack")
    assert too_long.startswith("That message is too long")
    assert chat.router.refused == {(RATE_LIMITED, "telegram"): 2, (TOO_LONG, "slack"): 1}
    refusals = [r.getMessage() for r in caplog.records if r.name == "commands.router"]
    assert len(refusals) == 3
    assert all("refused a message" in line and "secret" not in line for line in refusals)
    assert refusals[1] == "refused a message from telegram:alice in c1: rate_limit"


async def test_an_operator_platform_is_not_rate_limited() -> None:
    settings = RouterSettings(rate_limit_per_minute=1, unlimited_platforms=frozenset({"console"}))
    chat = Chat(settings=settings)
    for number in range(50):
        assert await chat.say(f"line {number}") == f"echo: line {number}"
    assert await chat.say("one", platform="telegram") == "echo: one"
    assert (await chat.say("two", platform="telegram")).startswith("Slow down")
    assert chat.router.refused == {(RATE_LIMITED, "telegram"): 1}


@pytest.mark.parametrize("text", ["/help@otherbot", "/HELP@OtherBot now", "/new@other_bot x"])
async def test_a_command_for_another_bot_is_ignored(chat: Chat, text: str) -> None:
    assert await chat.send(text) == []
    assert await chat.manager.sessions.list(SessionFilter(), limit=10) == []


@pytest.mark.parametrize("bot_name", ["SessionBot", "@sessionbot"])
async def test_a_command_for_this_bot_runs_in_any_case(bot_name: str) -> None:
    chat = Chat(settings=RouterSettings(bot_name=bot_name))
    assert (await chat.say("/help@SESSIONBOT")).startswith("Commands:")


def test_settings_reject_impossible_limits() -> None:
    with pytest.raises(ValueError, match="max_message_chars"):
        RouterSettings(max_message_chars=0)
    with pytest.raises(ValueError, match="context_max_tokens"):
        RouterSettings(context_max_tokens=0)
    with pytest.raises(ValueError, match="rate_limit_per_minute"):
        RouterSettings(rate_limit_per_minute=-1)


# -- commands -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/hlep", "Unknown command /hlep. Did you mean /help?"),
        ("/sesion list", "Unknown command /sesion. Did you mean /session?"),
        ("/xyzzy", "Unknown command /xyzzy. Try /help."),
    ],
)
async def test_an_unknown_command_suggests_the_nearest(
    chat: Chat, text: str, expected: str
) -> None:
    [reply] = await chat.send(text)
    assert reply.text == expected
    assert reply.ephemeral
    assert await chat.contents() == []


async def test_a_non_admin_is_refused_an_admin_command_and_nothing_changes(chat: Chat) -> None:
    assert await chat.say("/session scope channel") == "Only admins can use /session scope."
    assert await chat.manager.channels.settings(inbound()) is None


def broken_registry() -> Registry:
    registry = default_registry(load_plugins=False)

    @registry.command("boom")
    async def boom(ctx: CommandContext) -> Reply:
        """Fail."""
        raise KeyError("bug")

    @registry.command("wrong")
    async def wrong(ctx: CommandContext) -> Reply:
        """Return the wrong type."""
        return "not a reply"  # type: ignore[return-value]

    return registry


@pytest.mark.parametrize("text", ["/boom", "/wrong"])
async def test_a_failing_handler_gets_a_generic_line_and_a_logged_traceback(
    text: str, caplog: pytest.LogCaptureFixture
) -> None:
    chat = Chat(registry=broken_registry())
    await chat.say("keep me")
    [reply] = await chat.send(text)
    assert reply.text == GENERIC_ERROR
    assert any(r.levelno == logging.ERROR for r in caplog.records)
    assert await chat.contents() == ["keep me", "echo: keep me"]


async def test_a_failing_store_gets_a_generic_line(caplog: pytest.LogCaptureFixture) -> None:
    chat = Chat(store=BrokenStore())
    assert await chat.send("hello") == [Reply(GENERIC_ERROR, ephemeral=True)]
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert record.exc_info is not None


async def test_an_automatic_reset_is_announced_on_the_first_reply() -> None:
    chat = Chat(reset_rules=ResetRules(idle_reset_minutes=30))
    await chat.say("before")
    old = await chat.session()
    chat.clock.advance(timedelta(minutes=31))
    assert await chat.say("after") == (
        f"Started a new session: the last one was idle for 31 min. "
        f"/session resume {old.id} to go back.\n\necho: after"
    )
    assert await chat.say("again") == "echo: again"
    await chat.say(f"/session resume {old.id}")
    assert await chat.contents() == ["before", "echo: before"]


async def test_a_command_after_an_automatic_reset_gets_the_notice_too() -> None:
    chat = Chat(reset_rules=ResetRules(idle_reset_minutes=30))
    await chat.say("before")
    chat.clock.advance(timedelta(hours=2))
    lines = (await chat.say("/history")).splitlines()
    assert lines[0].startswith("Started a new session: the last one was idle for 2 h.")
    assert lines[1:] == ["", "No messages yet."]


async def test_messages_of_one_conversation_are_handled_in_order() -> None:
    responder = GatedResponder()
    chat = Chat(responder=responder)
    first = asyncio.create_task(chat.send("one"))
    second = asyncio.create_task(chat.send("two"))
    for _ in range(10):
        await asyncio.sleep(0)
    assert responder.started == ["one"]
    responder.gate("two").set()
    responder.gate("one").set()
    assert await asyncio.gather(first, second) == [[Reply("re: one")], [Reply("re: two")]]
    assert await chat.contents() == ["one", "re: one", "two", "re: two"]


async def test_another_conversation_does_not_wait(chat: Chat) -> None:
    responder = GatedResponder()
    chat = Chat(responder=responder)
    blocked = asyncio.create_task(chat.send("one"))
    responder.gate("two").set()
    assert await asyncio.wait_for(chat.send("two", user="bob"), 1) == [Reply("re: two")]
    assert not blocked.done()
    responder.gate("one").set()
    assert await blocked == [Reply("re: one")]


async def test_a_slow_answer_holds_up_no_other_conversation() -> None:
    # An LLM can take many seconds: every other user must get on meanwhile.
    responder = GatedResponder()
    chat = Chat(responder=responder)
    blocked = asyncio.create_task(chat.send("slow"))
    await asyncio.sleep(0)
    for i in range(1_000):
        responder.gate(f"m{i}").set()
        async with asyncio.timeout(1):
            assert await chat.send(f"m{i}", user=f"user{i}") == [Reply(f"re: m{i}")]
    assert not blocked.done()
    responder.gate("slow").set()
    assert await blocked == [Reply("re: slow")]


# -- properties ---------------------------------------------------------------

COMMANDS = [
    "new",
    "reset",
    "session",
    "session list",
    "session list all",
    "session resume",
    "session scope",
    "session title",
    "checkpoint",
    "checkpoint save",
    "checkpoint list",
    "checkpoint restore",
    "checkpoint delete",
    "checkpoint branch",
    "history",
    "history export",
    "history clear",
    "help",
    "HELP@sessionbot",
]
WORDS = ["all", "2", "0", "-1", "channel", "main", "peer", "json", "md", '"', "'", "\\", '"a b']


ID_COMMANDS = ["session resume", "checkpoint restore", "checkpoint delete", "checkpoint branch"]


def messages(ids: list[str]) -> st.SearchStrategy[str]:
    """Messages of every kind, and many that aim at someone else's ids."""
    word = st.one_of(st.text(max_size=12), st.sampled_from(WORDS + ids))
    target = st.sampled_from(ids).flatmap(lambda i: st.sampled_from([i, i.upper(), f'"{i}"']))
    command = st.builds(
        lambda name, args: " ".join(["/" + name, *args]),
        st.sampled_from(COMMANDS),
        st.lists(word, max_size=4),
    )
    aimed = st.builds(
        lambda name, target, args: " ".join(["/" + name, target, *args]),
        st.sampled_from(ID_COMMANDS),
        target,
        st.one_of(st.just([]), st.lists(word, max_size=1)),
    )
    slashed = st.text().map(lambda text: "/" + text)
    return st.one_of(command, aimed, aimed, aimed, st.text(), slashed)


async def alice_state(chat: Chat) -> list[str]:
    """Give alice archived and active sessions with checkpoints; return all their ids."""
    await chat.say("remember the milk")
    await chat.say('/checkpoint save "milk"')
    await chat.say("/new errands")
    await chat.say("buy bread")
    await chat.say("/checkpoint save bread")
    sessions = await chat.manager.sessions.list(SessionFilter(), limit=10)
    ids = [session.id for session in sessions]
    for session in sessions:
        ids.extend(c.id for c in await chat.manager.checkpoints.list(session))
    return ids


async def mischief(data: st.DataObject, user: str) -> None:
    chat = Chat()
    ids = await alice_state(chat)
    alice = await chat.key()
    before = await chat.snapshot(alice)
    for _ in range(data.draw(st.integers(1, 6), label="messages")):
        text = data.draw(messages(ids), label="text")
        chat.clock.advance(timedelta(seconds=1))
        replies = await chat.send(text, user=user)
        assert all(isinstance(reply, Reply) for reply in replies)
        assert GENERIC_ERROR not in [reply.text for reply in replies]
    assert await chat.snapshot(alice) == before


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_anything_bob_sends_never_raises_nor_touches_alice(data: st.DataObject) -> None:
    asyncio.run(mischief(data, user="bob"))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_anything_an_admin_sends_never_touches_alice_s_stored_sessions(
    data: st.DataObject,
) -> None:
    asyncio.run(mischief(data, user=ADMIN))
