"""Scopes and scope keys: which conversations share a session.

Every scope key is built by :func:`scope_key_for`; nothing else formats one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from core.models import Inbound


class Scope(StrEnum):
    """How sessions are shared. Values are the names used in config."""

    MAIN = "main"
    CHANNEL = "per-channel"
    PEER = "per-peer"
    CHANNEL_PEER = "per-channel-peer"

    @property
    def chat_name(self) -> str:
        """The short name users type in ``/session scope``."""
        return _CHAT_NAMES[self]

    @classmethod
    def parse(cls, text: str) -> Scope:
        """Parse a config name (``per-channel``) or a chat name (``channel``).

        Raises:
            ValueError: if ``text`` names no scope.
        """
        lowered = text.strip().lower()
        for scope in cls:
            if lowered in (scope.value, scope.chat_name):
                return scope
        names = ", ".join(scope.chat_name for scope in cls)
        raise ValueError(f"unknown scope {text!r}; expected one of {names}")


_CHAT_NAMES = {
    Scope.MAIN: "main",
    Scope.CHANNEL: "channel",
    Scope.PEER: "peer",
    Scope.CHANNEL_PEER: "channel-peer",
}

DEFAULT_SCOPE = Scope.CHANNEL_PEER


@dataclass(frozen=True, slots=True)
class ScopeKey:
    """The key of the one active session a message belongs to.

    Attributes:
        scope: the scope the key was built under.
        value: the formatted key, as stored.
    """

    scope: Scope
    value: str

    def __str__(self) -> str:
        return self.value


def channel_key_for(inbound: Inbound, *, threads_are_channels: bool = True) -> str:
    """Return the key of the channel (or thread) ``inbound`` was written in."""
    channel = inbound.channel_id
    if threads_are_channels and inbound.thread_id:
        channel = f"{channel}/{inbound.thread_id}"
    return f"{inbound.platform}:c:{channel}"


def split_channel_key(channel_key: str) -> tuple[str, str, str | None]:
    """Return the platform, channel id and thread id of a key from :func:`channel_key_for`.

    Raises:
        ValueError: ``channel_key`` was not made by :func:`channel_key_for`.
    """
    platform, marker, channel = channel_key.partition(":c:")
    if not marker or not platform or not channel:
        raise ValueError(f"not a channel key: {channel_key!r}")
    channel_id, _, thread_id = channel.partition("/")
    return platform, channel_id, thread_id or None


def scope_key_for(
    inbound: Inbound,
    scope: Scope,
    *,
    identities: Mapping[str, str] | None = None,
    threads_are_channels: bool = True,
) -> ScopeKey:
    """Build the scope key for ``inbound`` under ``scope``.

    Args:
        inbound: the message.
        scope: the scope in force for its channel.
        identities: maps ``platform:user_id`` to a linked identity name; a linked
            user shares ``per-peer`` sessions across platforms.
        threads_are_channels: whether a thread counts as its own channel.

    Returns:
        ``main``, ``{platform}:c:{channel}``, ``{platform}:u:{user}`` or
        ``{platform}:c:{channel}:u:{user}``.
    """
    if scope is Scope.MAIN:
        return ScopeKey(scope, "main")
    channel = channel_key_for(inbound, threads_are_channels=threads_are_channels)
    if scope is Scope.CHANNEL:
        return ScopeKey(scope, channel)
    user = f"{inbound.platform}:u:{inbound.user_id}"
    if scope is Scope.PEER:
        identity = (identities or {}).get(inbound.user_ref)
        return ScopeKey(scope, f"identity:u:{identity}" if identity else user)
    return ScopeKey(scope, f"{channel}:u:{inbound.user_id}")
