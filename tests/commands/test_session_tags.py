"""``/session tag|untag|meta`` and ``/session list tag:``."""

from __future__ import annotations

from datetime import timedelta

from core.sessions.imports import parse_export
from core.sessions.resets import ResetRules
from tests.commands.helpers import Chat


async def test_tags_are_added_shown_listed_and_removed(chat: Chat) -> None:
    await chat.say("hello")
    session = await chat.session()
    assert await chat.say("/session tag Travel #rome") == (
        f"{session.id} is tagged #travel, #rome."
    )
    assert "Tags: #travel #rome" in await chat.say("/session")
    assert await chat.say("/session untag rome") == f"{session.id} is tagged #travel."
    await chat.say("/new")
    listed = await chat.say("/session list tag:travel")
    assert listed.splitlines()[0] == "Your conversations tagged #travel (page 1):"
    assert session.id in listed and len(listed.splitlines()) == 2
    assert await chat.say("/session list tag:none") == "No conversations on page 1."
    await chat.say("/session tag solo")
    current = await chat.session()
    assert await chat.say("/session untag solo") == f"{current.id} is tagged with nothing any more."


async def test_untagging_a_missing_tag_and_bad_tags_get_one_line(chat: Chat) -> None:
    assert (await chat.say("/session untag nope")).startswith("This conversation has no tag nope.")
    assert (await chat.say("/session tag bad/tag")).startswith("'bad/tag' is not a tag")
    assert (await chat.say("/session list tag:")).startswith("'' is not a tag")


async def test_metadata_is_set_shown_and_removed(chat: Chat) -> None:
    assert await chat.say("/session meta project Apollo 11") == "Metadata project: Apollo 11"
    assert "Meta project: Apollo 11" in await chat.say("/session")
    assert await chat.say("/session meta project") == "Metadata project removed."
    assert "Meta project" not in await chat.say("/session")
    assert (await chat.say("/session meta project")).startswith("This conversation has no metadata")
    assert (await chat.say("/session meta no/key x")).startswith("'no/key' is not a metadata key")


async def test_tags_and_metadata_carry_over_as_configured() -> None:
    chat = Chat(reset_rules=ResetRules(idle_reset_minutes=30), carry_over=("tags", "metadata"))
    await chat.say("/session tag keep")
    await chat.say("/session meta k v")
    before = await chat.session()
    chat.clock.advance(timedelta(minutes=31))
    await chat.say("hello again")
    after = await chat.session()
    assert after.id != before.id
    assert after.tags == ("keep",) and dict(after.metadata) == {"k": "v"}


async def test_tags_and_metadata_survive_export_and_import(chat: Chat) -> None:
    await chat.say("/session tag trip")
    await chat.say("/session meta city Rome")
    replies = await chat.send("/history export json")
    assert replies[0].file is not None
    imported = parse_export(replies[0].file.content)
    assert imported.tags == ("trip",) and imported.metadata == {"city": "Rome"}
