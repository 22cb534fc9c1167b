from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from core import limits


@pytest.mark.parametrize(
    "ref",
    ["telegram:123", "console:alice", "slack:U0123", "matrix:@alice:example.org", "x:" + "1" * 256],
)
def test_well_formed_user_refs(ref: str) -> None:
    assert limits.is_user_ref(ref)


@pytest.mark.parametrize(
    "ref",
    [
        "alice",
        "telegram:",
        ":123",
        "Telegram:123",
        "1telegram:123",
        "telegram:1 2",
        "telegram:1\x07",
        "telegram:1\u200b",  # a zero-width space is not printable
        "x:" + "1" * 257,
        "p" * 33 + ":1",
    ],
)
def test_malformed_user_refs(ref: str) -> None:
    assert not limits.is_user_ref(ref)


@pytest.mark.parametrize("name", ["sessionbot", "my_bot-2", "b" * 64, "B"])
def test_bot_names(name: str) -> None:
    assert limits.BOT_NAME.fullmatch(name)


@pytest.mark.parametrize("name", ["", "my bot", "@bot", "bot@x", "b" * 65, "bot\u0663", "bot.x"])
def test_not_bot_names(name: str) -> None:
    assert not limits.BOT_NAME.fullmatch(name)


def test_the_largest_durations_fit_datetime_arithmetic_for_centuries() -> None:
    # The bounds must leave every datetime ± timedelta the bot does valid, today and
    # for as long as anyone runs it.
    for now in (datetime(1970, 1, 1, tzinfo=UTC), datetime(9000, 1, 1, tzinfo=UTC)):
        assert now - timedelta(days=limits.MAX_RETENTION_DAYS) < now
        assert now + timedelta(minutes=2 * limits.MAX_RESET_MINUTES) > now
