"""Channels: their stored settings, and the scope key a message gets from them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from core.clock import Clock
from core.models import ChannelSettings, Inbound
from core.sessions.config import SessionConfig
from core.sessions.scope import Scope, ScopeKey, channel_key_for, scope_key_for
from core.storage.caching import CachingStore


@dataclass(frozen=True, slots=True)
class Placement:
    """Where an inbound message belongs, as read once for the whole message.

    Attributes:
        key: the message's scope key.
        channel_key: the key of its channel's settings.
        settings: the overrides stored for that channel, if any; the scope key was
            built from them, and resolution evaluates the reset policy with them
            instead of reading them again.
    """

    key: ScopeKey
    channel_key: str
    settings: ChannelSettings | None


class Channels:
    """Reads and changes channel settings; places messages under their scope key.

    Args:
        store: the caching store.
        clock: source of the current time.
        config: the operator's session settings.
    """

    def __init__(self, store: CachingStore, clock: Clock, config: SessionConfig) -> None:
        self._store = store
        self._clock = clock
        self._config = config

    def key(self, inbound: Inbound) -> str:
        """Return the key under which the channel's settings are stored."""
        return channel_key_for(inbound, threads_are_channels=self._config.threads_are_channels)

    async def settings(self, inbound: Inbound) -> ChannelSettings | None:
        """Return the overrides stored for the message's channel."""
        return await self._store.get_channel_settings(self.key(inbound))

    async def scope_for(self, inbound: Inbound) -> Scope:
        """Return the scope in force for the message's channel."""
        return self._scope_in(await self.settings(inbound))

    def _scope_in(self, settings: ChannelSettings | None) -> Scope:
        if settings is not None and settings.scope:
            return Scope(settings.scope)
        return self._config.default_scope

    async def place(self, inbound: Inbound, *, remembered: bool = False) -> Placement:
        """Return the message's scope key, reading its channel's settings once.

        Args:
            inbound: the message.
            remembered: use the channel's settings if read in the last few seconds
                (plain messages; see :mod:`core.storage.live`).
        """
        channel_key = self.key(inbound)
        known, settings = (
            self._store.remembered_settings(channel_key) if remembered else (False, None)
        )
        if not known:
            settings = await self._store.get_channel_settings(channel_key)
        key = scope_key_for(
            inbound,
            self._scope_in(settings),
            identities=self._config.identities,
            threads_are_channels=self._config.threads_are_channels,
        )
        return Placement(key, channel_key, settings)

    async def set_scope(self, inbound: Inbound, scope: Scope) -> ChannelSettings:
        """Store a scope override for the message's channel."""
        return await self.update(inbound, scope=scope.value)

    async def update(self, inbound: Inbound, **changes: Any) -> ChannelSettings:
        """Store overrides for the message's channel; unnamed fields keep their values.

        Args:
            inbound: a message of the channel.
            **changes: :class:`ChannelSettings` fields (``scope``,
                ``daily_reset_time``, ``idle_reset_minutes``, ``timezone``).
        """
        return await self.update_key(self.key(inbound), **changes)

    async def stored(self, channel_key: str) -> ChannelSettings | None:
        """Return the overrides stored under a channel key (a session's ``channel_key``)."""
        return await self._store.get_channel_settings(channel_key)

    async def update_key(self, key: str, **changes: Any) -> ChannelSettings:
        """Store overrides for the channel of ``key``, as :meth:`update` does."""
        current = await self._store.get_channel_settings(key)
        now = self._clock.now()
        settings = dataclasses.replace(
            current or ChannelSettings(channel_key=key, updated_at=now), updated_at=now, **changes
        )
        await self._store.put_channel_settings(settings)
        return settings
