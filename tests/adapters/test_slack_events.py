"""Slack payloads as core messages: ids, mentions, entities, targets."""

from __future__ import annotations

from adapters.slack_events import (
    SlackTarget,
    command_inbound,
    escape,
    escaped_length,
    message_inbound,
    strip_mention,
    target_of,
    unescape,
)


def test_the_bots_mention_is_removed_wherever_it_is() -> None:
    assert strip_mention("<@U0BOT> hello", "U0BOT") == "hello"
    assert strip_mention("hey <@U0BOT|sessionbot>, hi", "U0BOT") == "hey , hi"
    assert strip_mention("ask <@U0OTHER> too", "U0BOT") == "ask <@U0OTHER> too"
    assert strip_mention("<@U0BOT>", "U0BOT") == ""


def test_entities_round_trip_and_count_as_slack_counts_them() -> None:
    text = "a < b && c > d"
    assert unescape(escape(text)) == text
    assert sum(map(escaped_length, text)) == len(escape(text))


def test_a_message_keeps_its_workspace_in_its_ids() -> None:
    body = {
        "team_id": "T1",
        "event_id": "Ev1",
        "event": {
            "type": "message",
            "channel": "D1",
            "channel_type": "im",
            "user": "U1",
            "text": "1 &lt; 2",
            "ts": "1700000000.000200",
        },
    }
    found = message_inbound(body, "U0BOT", channel_messages=False)
    assert found is not None
    inbound, target = found
    assert (inbound.channel_id, inbound.user_id, inbound.text) == ("T1:D1", "T1:U1", "1 < 2")
    assert inbound.message_id == "1700000000.000200" and inbound.timestamp is not None
    assert target == SlackTarget("D1", None, None)  # in a DM nothing is ephemeral


def test_a_mention_with_nothing_else_is_not_a_message() -> None:
    body = {
        "team_id": "T1",
        "event": {
            "type": "app_mention",
            "channel": "C1",
            "user": "U1",
            "text": "<@U0BOT>",
            "ts": "1.2",
        },
    }
    assert message_inbound(body, "U0BOT", channel_messages=False) is None


def test_a_slash_command_becomes_the_routers_command() -> None:
    payload = {
        "team_id": "T1",
        "channel_id": "C1",
        "user_id": "U1",
        "text": " 5 ",
        "user_name": "alice",
    }
    inbound, target = command_inbound(payload, "history")
    assert (inbound.text, inbound.user_ref, inbound.is_direct) == (
        "/history 5",
        "slack:T1:U1",
        False,
    )
    assert target == SlackTarget("C1", None, "U1") and target.public().private_to is None


def test_targets_of_channel_ids() -> None:
    assert target_of("T1:C1", "9.9") == SlackTarget("C1", "9.9")
    assert target_of("C1", None) is None
