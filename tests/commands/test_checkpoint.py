from __future__ import annotations

from datetime import timedelta

import pytest

from core.models import ArchiveReason
from tests.commands.helpers import Chat, id_after


async def save(chat: Chat, text: str, **where: str) -> str:
    """Save a checkpoint and return its id."""
    return id_after("/checkpoint restore", await chat.say(text, **where))


async def test_save_replies_with_the_id_and_message_count(chat: Chat) -> None:
    await chat.say("hello")
    text = await chat.say('/checkpoint save "first point" before the big question')
    [checkpoint] = await chat.manager.checkpoints.list(await chat.session())
    assert text == (
        f'Saved checkpoint "first point" ({checkpoint.id}, 2 messages). '
        f"To come back here: /checkpoint restore {checkpoint.id}"
    )
    assert (checkpoint.name, checkpoint.description) == ("first point", "before the big question")
    assert checkpoint.created_by == "console:alice"


async def test_list_shows_the_checkpoints_oldest_first(chat: Chat) -> None:
    assert await chat.say("/checkpoint list") == (
        'No checkpoints yet. Save one with /checkpoint save "name".'
    )
    first = await save(chat, "/checkpoint save one")
    chat.clock.advance(timedelta(minutes=1))
    await chat.say("hello")
    second = await save(chat, "/checkpoint save two with a note")
    assert await chat.say("/checkpoint list") == "\n".join(
        [
            "Checkpoints:",
            f'• {first} "one" · 0 messages · 2026-01-01 00:00 UTC',
            f'• {second} "two" · 2 messages · 2026-01-01 00:01 UTC · with a note',
        ]
    )


async def test_list_shows_only_the_newest_twenty(chat: Chat) -> None:
    for number in range(23):
        chat.clock.advance(timedelta(seconds=1))
        await chat.say(f"/checkpoint save cp{number}")
    lines = (await chat.say("/checkpoint list")).splitlines()
    assert lines[:2] == ["Checkpoints:", "(3 older not shown)"]
    assert len(lines) == 22
    assert '"cp22"' in lines[-1]


async def test_restore_then_undo_gives_back_the_exact_history(chat: Chat) -> None:
    await chat.say("one")
    checkpoint = await save(chat, "/checkpoint save start")
    await chat.say("two")
    await chat.say("three")
    before = await chat.manager.history.all_messages(await chat.session())

    text = await chat.say(f"/checkpoint restore {checkpoint}")
    undo = id_after("To undo: /checkpoint restore", text)
    assert text == f'Restored "start": back to 2 messages. To undo: /checkpoint restore {undo}'
    assert await chat.contents() == ["one", "echo: one"]

    await chat.say(f"/checkpoint restore {undo}")
    assert await chat.manager.history.all_messages(await chat.session()) == before


async def test_delete_removes_only_that_checkpoint(chat: Chat) -> None:
    keep = await save(chat, "/checkpoint save keep")
    gone = await save(chat, "/checkpoint save gone")
    assert await chat.say(f"/checkpoint delete {gone}") == f'Deleted checkpoint "gone" ({gone}).'
    remaining = await chat.manager.checkpoints.list(await chat.session())
    assert [c.id for c in remaining] == [keep]


async def test_branch_starts_a_new_session_from_the_checkpoint(chat: Chat) -> None:
    await chat.say("one")
    checkpoint = await save(chat, "/checkpoint save fork")
    await chat.say("two")
    old = await chat.session()
    text = await chat.say(f"/checkpoint branch {checkpoint} Other path")
    new = await chat.session()
    assert text == (
        f'Started {new.id} "Other path" from checkpoint "fork" (2 messages). The previous '
        f"conversation is archived; /session resume {old.id} brings it back."
    )
    assert await chat.contents() == ["one", "echo: one"]
    assert (await chat.manager.sessions.get(old.id)).archive_reason is ArchiveReason.BRANCHED
    await chat.say(f"/session resume {old.id}")
    assert await chat.contents() == ["one", "echo: one", "two", "echo: two"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/checkpoint", "/checkpoint needs a subcommand: save, list, restore, delete, branch."),
        ("/checkpoint undo", "Unknown subcommand 'undo' for /checkpoint; try save, list,"),
        ("/checkpoint save", "/checkpoint save needs more arguments."),
        ('/checkpoint save ""', "The name cannot be empty."),
        ('/checkpoint save "unclosed', 'A " quote is never closed.'),
        ("/checkpoint save " + "n" * 65, "The name is too long (65 characters; at most 64)."),
        ("/checkpoint list all", "/checkpoint list takes no arguments."),
        ("/checkpoint restore", "/checkpoint restore needs more arguments."),
        ("/checkpoint restore a b", "Too many arguments for /checkpoint restore."),
        ("/checkpoint restore ???", "'???' is not a checkpoint id."),
        ("/checkpoint restore zzzzzzzzzz", "No checkpoint 'zzzzzzzzzz' in this session."),
        ("/checkpoint delete zzzzzzzzzz", "No checkpoint 'zzzzzzzzzz' in this session."),
        ("/checkpoint branch zzzzzzzzzz", "No checkpoint 'zzzzzzzzzz' in this session."),
    ],
)
async def test_bad_input_gets_one_line_and_changes_nothing(
    chat: Chat, text: str, expected: str
) -> None:
    await chat.say("hello")
    await chat.say("/checkpoint save existing")
    key = await chat.key()
    before = await chat.snapshot(key)
    reply = await chat.say(text)
    assert reply.startswith(expected)
    assert "Usage: /checkpoint" in reply
    assert "\n" not in reply
    assert await chat.snapshot(key) == before


@pytest.mark.parametrize("action", ["restore", "delete", "branch"])
async def test_another_users_checkpoint_is_out_of_reach(chat: Chat, action: str) -> None:
    await chat.say("bob's secret", user="bob")
    bobs = await save(chat, "/checkpoint save mine", user="bob")
    bob_key, alice_key = await chat.key(user="bob"), await chat.key()
    await chat.say("hello")
    bob_before, alice_before = await chat.snapshot(bob_key), await chat.snapshot(alice_key)

    text = await chat.say(f"/checkpoint {action} {bobs}")
    unknown = await chat.say(f"/checkpoint {action} zzzzzzzzzz")
    assert text.startswith(f"No checkpoint '{bobs}' in this session.")
    assert unknown == text.replace(bobs, "zzzzzzzzzz")
    assert await chat.snapshot(bob_key) == bob_before
    assert await chat.snapshot(alice_key) == alice_before


async def test_checkpoints_of_an_archived_session_are_not_listed(chat: Chat) -> None:
    old = await save(chat, "/checkpoint save old")
    await chat.say("/new")
    assert old not in await chat.say("/checkpoint list")
    assert (await chat.say(f"/checkpoint restore {old}")).startswith("No checkpoint")


async def test_automatic_checkpoint_names_say_the_state_they_keep_and_never_nest(
    chat: Chat,
) -> None:
    await chat.say("one")
    first = await save(chat, "/checkpoint save two")
    await chat.say("three")
    target = first
    for _ in range(3):
        chat.clock.advance(timedelta(seconds=1))  # listed oldest first
        reply = await chat.say(f"/checkpoint restore {target}")
        target = id_after("To undo: /checkpoint restore", reply)
    autos = [c for c in await chat.manager.checkpoints.list(await chat.session()) if c.auto]
    assert [(c.name, c.description) for c in autos] == [
        ("before restore (4 messages)", 'saved before restoring "two"'),
        ("before restore (2 messages)", 'saved before restoring "before restore (4 messages)"'),
        ("before restore (4 messages)", 'saved before restoring "before restore (2 messages)"'),
    ]
