"""``/session reset-time`` and ``/session idle-reset``: per-channel reset overrides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core.sessions.resets import ResetRules
from tests.commands.helpers import ADMIN, Chat

START = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


@pytest.fixture
def chat() -> Chat:
    chat = Chat(reset_rules=ResetRules())
    chat.clock.set(START)
    return chat


async def test_idle_reset_is_stored_per_channel_and_resets_lazily(chat: Chat) -> None:
    reply = await chat.say("/session idle-reset 5", user=ADMIN)
    assert (
        reply == "Conversations in this channel now start over after 5 minutes without a message."
    )
    await chat.say("hello")
    first = await chat.session()
    chat.clock.advance(timedelta(minutes=5))
    answer = await chat.say("are you there?")
    assert answer.startswith(
        f"Started a new session: the last one was idle for 5 min. /session resume {first.id} "
        "to go back.\n"
    )
    assert answer.endswith("echo: are you there?")
    assert (await chat.session()).id != first.id
    other = await chat.session(channel="elsewhere")
    chat.clock.advance(timedelta(minutes=10))
    assert (await chat.session(channel="elsewhere")).id == other.id


async def test_idle_reset_off_and_bad_values(chat: Chat) -> None:
    assert await chat.say("/session idle-reset OFF", user=ADMIN) == (
        "Idle reset is off for this channel."
    )
    bad_values = ("0", "-3", "soon", "1.5", "525601", "5000000000", "9" * 3000, "\u0663\u0660")
    for bad in bad_values:
        text = await chat.say(f"/session idle-reset {bad}", user=ADMIN)
        assert text == (
            "Give minutes from 1 to 525600, or off. Usage: /session idle-reset MINUTES | off"
        )
    settings = await chat.manager.store.get_channel_settings("console:c:c1")
    assert settings is not None and settings.idle_reset_minutes == 0


async def test_the_longest_idle_reset_is_honoured(chat: Chat) -> None:
    reply = await chat.say("/session idle-reset 525600", user=ADMIN)
    assert reply.endswith("after 525600 minutes without a message.")
    assert "Next resets: idle 2027-05-01 10:00 UTC" in await chat.say("/session")


async def test_reset_time_with_a_timezone_shows_the_next_reset(chat: Chat) -> None:
    await chat.say("hello")
    reply = await chat.say("/session reset-time 4:00 Asia/Tokyo", user=ADMIN)
    # 04:00 in Tokyo is 19:00 UTC.
    assert reply == (
        "Daily reset for this channel: 04:00 Asia/Tokyo. Next: 2026-05-02 04:00 JST (in 9 h)."
    )
    info = await chat.say("/session")
    assert "Next resets: daily 2026-05-02 04:00 JST (in 9 h)" in info
    first = await chat.session()
    chat.clock.set(datetime(2026, 5, 1, 19, 0, tzinfo=UTC))
    answer = await chat.say("morning")
    assert answer.startswith(
        f"Started a new session: the daily reset time passed. /session resume {first.id}"
    )


async def test_reset_time_off_and_bad_values(chat: Chat) -> None:
    assert await chat.say("/session reset-time off", user=ADMIN) == (
        "Daily reset is off for this channel."
    )
    usage = " Usage: /session reset-time HH:MM [TIMEZONE] | off"
    cases = {
        "/session reset-time 25:00": "Expected HH:MM (24-hour) or off, not '25:00'.",
        "/session reset-time \u0660\u0664:\u0660\u0660": (
            "Expected HH:MM (24-hour) or off, not '\u0660\u0664:\u0660\u0660'."
        ),
        "/session reset-time 04:00 Mars/Base": (
            "Unknown timezone 'Mars/Base'; try one like Europe/Berlin."
        ),
        "/session reset-time off UTC": "A timezone goes with a time, not with off.",
    }
    for command, words in cases.items():
        assert await chat.say(command, user=ADMIN) == words + usage
    settings = await chat.manager.store.get_channel_settings("console:c:c1")
    assert settings is not None and (settings.daily_reset_time, settings.timezone) == ("off", None)


async def test_non_admins_are_refused_and_nothing_changes(chat: Chat) -> None:
    for command in ("/session idle-reset 1", "/session reset-time 04:00"):
        reply = await chat.say(command)
        assert "admin" in reply.lower()
    assert await chat.manager.store.get_channel_settings("console:c:c1") is None


async def test_overrides_survive_a_reset(chat: Chat) -> None:
    await chat.say("/session idle-reset 5", user=ADMIN)
    await chat.say("/reset")
    settings = await chat.manager.store.get_channel_settings("console:c:c1")
    assert settings is not None and settings.idle_reset_minutes == 5
