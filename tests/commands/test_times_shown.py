"""What users read about time: the zone in force, named, and one reset notice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from commands import RouterSettings
from core.sessions.resets import ResetRules
from tests.commands.helpers import ADMIN, Chat

START = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)  # 12:00 in Berlin (CEST), 19:00 in Tokyo


def berlin_chat(*, reset_notices: bool = False) -> Chat:
    chat = Chat(
        reset_rules=ResetRules(timezone="Europe/Berlin", idle_reset_minutes=30),
        settings=RouterSettings(
            admins=frozenset({f"console:{ADMIN}"}), reset_notices=reset_notices
        ),
    )
    chat.clock.set(START)
    return chat


async def test_every_time_a_command_shows_is_in_the_bots_zone_named() -> None:
    chat = berlin_chat()
    await chat.say("hello")
    await chat.say("/checkpoint save first")
    info = await chat.say("/session")
    assert "Created: 2026-05-01 12:00 CEST" in info
    assert "Last activity: 2026-05-01 12:00 CEST" in info
    assert "Next resets: idle 2026-05-01 12:30 CEST (in 30 min)" in info
    history = (await chat.say("/history")).splitlines()
    assert history[0].endswith("(times in Europe/Berlin):")
    assert history[1] == "[2026-05-01 12:00] alice: hello"
    assert "2026-05-01 12:00 CEST" in await chat.say("/checkpoint list")
    assert "started 2026-05-01 12:00 CEST" in await chat.say("/session list")
    assert "UTC" not in info + "\n".join(history)


async def test_a_channel_with_a_zone_of_its_own_shows_times_in_it() -> None:
    chat = berlin_chat()
    await chat.say("hello")
    await chat.say("/session reset-time 04:00 Asia/Tokyo", user=ADMIN)
    info = await chat.say("/session")
    assert "Created: 2026-05-01 19:00 JST" in info
    assert "daily 2026-05-02 04:00 JST (in 9 h)" in info
    elsewhere = await chat.say("/session", channel="other")
    assert "Created: 2026-05-01 12:00 CEST" in elsewhere


@pytest.mark.parametrize("notices", [True, False])
async def test_a_scheduled_reset_is_told_once(notices: bool) -> None:
    chat = berlin_chat(reset_notices=notices)
    first = (await chat.send("hello"))[0].text
    old = await chat.session()
    chat.clock.advance(timedelta(minutes=31))
    assert [s.id for s in await chat.manager.maintenance.archive_idle_sessions()] == [old.id]
    chat.clock.advance(timedelta(minutes=1, seconds=20))
    reply = await chat.say("back again")
    if notices:  # the scheduler posted its notice: the reply does not repeat it
        assert reply == "echo: back again"
    else:  # the reply is the only notice, and it says how long the session really was idle
        assert reply == (
            f"Started a new session: the last one was idle for 32 min 20 s. "
            f"/session resume {old.id} to go back.\n\necho: back again"
        )
    assert first == "echo: hello"


async def test_a_reset_found_by_the_message_itself_is_told_even_with_scheduled_notices() -> None:
    chat = berlin_chat(reset_notices=True)
    await chat.say("hello")
    old = await chat.session()
    chat.clock.advance(timedelta(minutes=42, seconds=5))
    reply = await chat.say("back again")  # before any sweep: nobody told the channel yet
    assert reply.startswith("Started a new session: the last one was idle for 42 min 5 s. ")
    assert old.id in reply
