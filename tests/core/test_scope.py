from __future__ import annotations

import pytest

from core.models import Inbound
from core.sessions.scope import Scope, channel_key_for, scope_key_for


def message(**overrides: object) -> Inbound:
    fields: dict[str, object] = {
        "platform": "telegram",
        "channel_id": "-100",
        "user_id": "42",
        "text": "hi",
    }
    fields.update(overrides)
    return Inbound(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        (Scope.MAIN, "main"),
        (Scope.CHANNEL, "telegram:c:-100"),
        (Scope.PEER, "telegram:u:42"),
        (Scope.CHANNEL_PEER, "telegram:c:-100:u:42"),
    ],
)
def test_keys_for_every_scope(scope: Scope, expected: str) -> None:
    key = scope_key_for(message(), scope)
    assert key.value == expected and key.scope is scope and str(key) == expected


def test_a_thread_is_its_own_channel_unless_configured_otherwise() -> None:
    threaded = message(thread_id="7")
    assert scope_key_for(threaded, Scope.CHANNEL).value == "telegram:c:-100/7"
    assert channel_key_for(threaded, threads_are_channels=False) == "telegram:c:-100"
    assert scope_key_for(threaded, Scope.PEER).value == "telegram:u:42"


def test_linked_identities_share_per_peer_sessions() -> None:
    links = {"telegram:42": "alice", "slack:U1": "alice"}
    on_telegram = scope_key_for(message(), Scope.PEER, identities=links)
    on_slack = scope_key_for(
        message(platform="slack", user_id="U1", channel_id="C9"), Scope.PEER, identities=links
    )
    assert on_telegram == on_slack and on_telegram.value == "identity:u:alice"
    # A link never merges per-channel-peer sessions across platforms.
    assert scope_key_for(message(), Scope.CHANNEL_PEER, identities=links).value.startswith(
        "telegram:"
    )


@pytest.mark.parametrize(
    ("text", "scope"),
    [
        ("main", Scope.MAIN),
        ("channel", Scope.CHANNEL),
        ("per-channel", Scope.CHANNEL),
        ("Peer", Scope.PEER),
        ("channel-peer", Scope.CHANNEL_PEER),
        ("per-channel-peer", Scope.CHANNEL_PEER),
    ],
)
def test_parse_accepts_config_and_chat_names(text: str, scope: Scope) -> None:
    assert Scope.parse(text) is scope


def test_parse_rejects_unknown_names() -> None:
    with pytest.raises(ValueError, match="expected one of main, channel, peer, channel-peer"):
        Scope.parse("everyone")
