from __future__ import annotations

from datetime import timedelta

import pytest

from core.models import ArchiveReason, SessionStatus
from core.sessions.resets import ResetRules
from core.sessions.scope import Scope
from core.storage.memory import MemoryStore
from core.storage.protocols import SessionFilter
from tests.builders import inbound
from tests.commands.helpers import ADMIN, Chat

# -- /new and /reset ------------------------------------------------------------


async def test_new_archives_the_current_conversation_and_names_the_new_one(chat: Chat) -> None:
    await chat.say("hello")
    old = await chat.session()
    text = await chat.say('/new "Trip plans"')
    new = await chat.session()
    assert new.id != old.id
    assert new.title == "Trip plans"
    assert text == (
        f'Started a new conversation, {new.id} "Trip plans". The previous one ({old.id}, '
        f"2 messages) is archived; /session resume {old.id} brings it back."
    )
    archived = await chat.manager.sessions.get(old.id)
    assert (archived.status, archived.archive_reason) == (
        SessionStatus.ARCHIVED,
        ArchiveReason.NEW,
    )
    assert await chat.contents() == []


async def test_new_joins_unquoted_words_into_the_title(chat: Chat) -> None:
    await chat.say("/new trip  plans")
    assert (await chat.session()).title == "trip plans"


async def test_new_on_an_empty_conversation_keeps_it_and_says_so(chat: Chat) -> None:
    first = await chat.session()
    assert await chat.say("/new") == f"This conversation is still empty, so it stays: {first.id}."
    named = await chat.say("/new Trip plans")
    assert named == f'This conversation is still empty, so it stays: {first.id} "Trip plans".'
    assert await chat.say("/reset") == f'Nothing to reset: {first.id} "Trip plans" is still empty.'
    assert [s.id for s in await chat.manager.sessions.list(SessionFilter(), limit=10)] == [first.id]


async def test_new_after_a_cleared_history_archives_it_for_its_checkpoint(chat: Chat) -> None:
    await chat.say("hello")
    await chat.say("/history clear")
    cleared = await chat.session()
    assert (await chat.say("/new")).startswith("Started a new conversation")
    assert (await chat.session()).id != cleared.id  # the clear can still be undone there


async def test_reset_starts_over_and_archives_with_reason_reset(chat: Chat) -> None:
    await chat.say("hello")
    old = await chat.session()
    text = await chat.say("/reset")
    new = await chat.session()
    assert text == (
        f"Starting over in {new.id}. The previous one ({old.id}, 2 messages) is archived; "
        f"/session resume {old.id} brings it back."
    )
    assert (await chat.manager.sessions.get(old.id)).archive_reason is ArchiveReason.RESET


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/reset now", "/reset takes no arguments. Usage: /reset"),
        ("/new " + "x" * 101, "The title is too long (101 characters; at most 100). Usage:"),
        ('/new "unclosed', 'A " quote is never closed. Usage: /new [title]'),
    ],
)
async def test_bad_input_to_new_or_reset_changes_nothing(
    chat: Chat, text: str, expected: str
) -> None:
    await chat.say("hello")
    before = await chat.session()
    assert (await chat.say(text)).startswith(expected)
    assert await chat.session() == before


# -- /session -----------------------------------------------------------------


async def test_session_says_when_nothing_is_encrypted() -> None:
    plain = Chat(store=MemoryStore())
    await plain.say("hello")
    assert "\nEncryption: off\n" in await plain.say("/session")


async def test_session_shows_the_conversation(chat: Chat) -> None:
    await chat.say("/new Plans")
    chat.clock.advance(timedelta(minutes=5))
    await chat.say("hello")
    await chat.say("/checkpoint save first")
    session = await chat.session()
    assert await chat.say("/session") == "\n".join(
        [
            f'Session {session.id} "Plans"',
            "Scope: channel-peer (each person has their own conversation in this channel)",
            "Created: 2026-01-01 00:00 UTC",
            "Last activity: 2026-01-01 00:05 UTC",
            "Messages: 2",
            f"Tokens in/out: {session.tokens_in} / {session.tokens_out}",
            "Checkpoints: 1",
            "Context: recent, up to 2000 tokens",
            "Encryption: on (AES-256-GCM, this session has a key of its own)",
            "Next resets: off",
        ]
    )
    assert session.tokens_in > 0


async def test_session_shows_when_the_next_resets_are_due() -> None:
    chat = Chat(reset_rules=ResetRules(daily_reset_time="04:00", idle_reset_minutes=30))
    await chat.say("hello")
    info = (await chat.say("/session")).splitlines()
    assert info[-1] == (
        "Next resets: daily 2026-01-01 04:00 UTC (in 4 h) · idle 2026-01-01 00:30 UTC (in 30 min)"
    )


async def test_session_takes_no_stray_arguments(chat: Chat) -> None:
    assert await chat.say("/session what") == (
        "Unknown subcommand 'what' for /session; try list, resume, scope, context, title, "
        "reset-time, idle-reset, tag, untag, meta. Usage: /session or "
        "/session list|resume|scope|context|title|reset-time|idle-reset|tag|untag|meta …"
    )


async def test_session_list_shows_the_callers_sessions_newest_first(chat: Chat) -> None:
    await chat.say("hello")
    first = await chat.session()
    chat.clock.advance(timedelta(minutes=1))
    await chat.say("/new Second")
    second = await chat.session()
    await chat.say("not mine", user="bob")
    assert await chat.say("/session list") == "\n".join(
        [
            "Your conversations (page 1):",
            f'▶ {second.id} "Second" · 0 messages · started 2026-01-01 00:01 UTC (active)',
            f"• {first.id} · 2 messages · started 2026-01-01 00:00 UTC",
        ]
    )


async def test_session_list_pages_by_ten(chat: Chat) -> None:
    for _ in range(11):
        chat.clock.advance(timedelta(minutes=1))
        await chat.say("something to keep")
        await chat.say("/new")
    page_one = (await chat.say("/session list")).splitlines()
    assert len(page_one) == 12
    assert page_one[-1] == "More: /session list 2"
    page_two = (await chat.say("/session list 2")).splitlines()
    assert page_two[0] == "Your conversations (page 2):"
    assert len(page_two) == 3
    assert await chat.say("/session list 9") == "No conversations on page 9."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/session list nope", "Expected 'all', tag:<tag> or a page number, not 'nope'."),
        ("/session list 0", "The page must be a whole number from 1 to 10000, not '0'."),
        ("/session list 2 3", "Expected 'all', tag:<tag> or a page number, not '3'."),
        ("/session list all all", "Expected 'all', tag:<tag> or a page number, not 'all'."),
        ("/session list 1 2 3 4", "Too many arguments for /session list."),
    ],
)
async def test_session_list_rejects_bad_options(chat: Chat, text: str, expected: str) -> None:
    reply = await chat.say(text)
    assert reply.startswith(expected)
    assert reply.endswith("Usage: /session list [all] [tag:<tag>] [page]")


async def test_session_list_all_is_for_admins(chat: Chat) -> None:
    assert await chat.say("/session list all") == (
        "Only admins can list every conversation of this channel."
    )


async def test_session_list_all_shows_every_session_of_the_channel(chat: Chat) -> None:
    await chat.say("hello")
    await chat.say("hi", user="bob")
    await chat.say("elsewhere", user="bob", channel="c2")
    text = await chat.say("/session list all", user=ADMIN)
    assert text.splitlines()[0] == "Conversations in this channel (page 1):"
    assert "by console:alice" in text
    assert "by console:bob" in text
    assert len(text.splitlines()) == 4  # alice, bob and the admin's own, not c2


async def test_resume_brings_back_an_archived_session(chat: Chat) -> None:
    await chat.say("hello")
    old = await chat.session()
    await chat.say("/new")
    await chat.say("other topic")
    current = await chat.session()
    text = await chat.say(f"/session resume {old.id.upper()}")
    assert text == (
        f"Resumed {old.id} (2 messages). {current.id} is archived; "
        f"/session resume {current.id} goes back."
    )
    assert await chat.contents() == ["hello", "echo: hello"]
    assert (await chat.manager.sessions.get(current.id)).archive_reason is ArchiveReason.RESUMED


async def test_resuming_the_current_session_says_so(chat: Chat) -> None:
    session = await chat.session()
    assert await chat.say(f"/session resume {session.id}") == (
        f"{session.id} is already the current conversation."
    )


async def test_resume_cannot_reach_another_users_session(chat: Chat) -> None:
    await chat.say("bob's secret", user="bob")
    bobs = await chat.session(user="bob")
    await chat.say("/new", user="bob")
    before = await chat.snapshot(await chat.key(user="bob"))
    text = await chat.say(f"/session resume {bobs.id}")
    unknown = await chat.say("/session resume zzzzzzzzzz")
    assert text == (f"No session '{bobs.id}' in this conversation. Usage: /session resume <id>")
    assert unknown == text.replace(bobs.id, "zzzzzzzzzz")
    assert await chat.snapshot(await chat.key(user="bob")) == before
    assert "bob's secret" not in await chat.contents()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/session resume", "/session resume needs more arguments."),
        ("/session resume a b", "Too many arguments for /session resume."),
        ("/session resume not-an-id!", "'not-an-id!' is not a session id."),
    ],
)
async def test_resume_rejects_bad_input(chat: Chat, text: str, expected: str) -> None:
    before = await chat.session()
    assert await chat.say(text) == f"{expected} Usage: /session resume <id>"
    assert await chat.session() == before


async def test_admin_sets_channel_scope_and_users_share_one_session(chat: Chat) -> None:
    await chat.say("private", user="bob")
    text = await chat.say("/session scope channel", user=ADMIN)
    assert text == (
        "This channel now uses the channel scope: everyone in this channel shares one conversation."
    )
    assert await chat.manager.channels.scope_for(inbound()) is Scope.CHANNEL
    await chat.say("from alice")
    await chat.say("from bob", user="bob")
    assert await chat.session() == await chat.session(user="bob")
    assert await chat.contents() == ["from alice", "echo: from alice", "from bob", "echo: from bob"]
    assert "private" not in await chat.say("/history", user="bob")
    assert (await chat.session(channel="c2")).scope_key == "console:c:c2:u:alice"


async def test_scope_accepts_config_names_too(chat: Chat) -> None:
    await chat.say("/session scope PER-PEER", user=ADMIN)
    assert await chat.manager.channels.scope_for(inbound()) is Scope.PEER


async def test_non_admins_cannot_change_the_scope(chat: Chat) -> None:
    assert await chat.say("/session scope main") == "Only admins can use /session scope."
    assert await chat.manager.channels.settings(inbound()) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/session scope", "/session scope needs more arguments."),
        (
            "/session scope everyone",
            "Unknown scope 'everyone'; choose main, channel, peer, channel-peer.",
        ),
    ],
)
async def test_scope_rejects_bad_input(chat: Chat, text: str, expected: str) -> None:
    reply = await chat.say(text, user=ADMIN)
    assert reply == f"{expected} Usage: /session scope main|channel|peer|channel-peer"
    assert await chat.manager.channels.settings(inbound()) is None


async def test_title_renames_the_current_session(chat: Chat) -> None:
    session = await chat.session()
    assert await chat.say("/session title Weekend  trip") == (
        f'This conversation is now called {session.id} "Weekend trip".'
    )
    assert (await chat.session()).title == "Weekend trip"
    assert (await chat.say("/session title")).startswith("/session title needs more arguments.")


async def test_listing_never_shows_other_users_sessions(chat: Chat) -> None:
    await chat.say("hi", user="bob")
    bobs = await chat.session(user="bob")
    assert bobs.id not in await chat.say("/session list")
    assert await chat.manager.sessions.list(SessionFilter(scope_key=bobs.scope_key), limit=5)


@pytest.mark.parametrize(
    ("typed", "title"),
    [
        ('/session title Hist "quoted" title', 'Hist "quoted" title'),
        ('/session title "My trip"', "My trip"),
        ("/session title it's   late", "it's late"),
        ("/session title 'single'  and more", "'single' and more"),
    ],
)
async def test_a_title_keeps_its_quotes_as_typed(chat: Chat, typed: str, title: str) -> None:
    await chat.say("hello")
    await chat.say(typed)
    assert (await chat.session()).title == title


async def test_checkpoint_descriptions_and_branch_titles_keep_their_quotes(chat: Chat) -> None:
    await chat.say("hello")
    saved = await chat.say('/checkpoint save start the "real" beginning')
    checkpoint = (await chat.manager.checkpoints.list(await chat.session()))[0]
    assert (checkpoint.name, checkpoint.description) == ("start", 'the "real" beginning'), saved
    await chat.say(f'/checkpoint branch {checkpoint.id} a "side" road')
    assert (await chat.session()).title == 'a "side" road'
