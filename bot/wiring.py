"""Builds the parts of a running bot from settings: store, manager, responder, router.

The one place that knows which concrete class stands behind each protocol.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from adapters.base import AdapterPlugin
from bot.config import Settings
from bot.master_key import load_master_key
from bot.platforms import build_responder
from bot.plugins import adapter_plugins
from bot.tokenizers import counter_for
from commands import Router, RouterSettings, default_registry
from core.clock import Clock, SystemClock
from core.crypto.opening import open_store
from core.sessions.manager import SessionManager
from core.sessions.responders import Responder
from core.storage.backends import open_change_feed
from core.storage.changes import ChangeFeed
from core.storage.protocols import Store


def build_manager(
    store: Store,
    settings: Settings,
    *,
    clock: Clock | None = None,
    feed: ChangeFeed | None = None,
) -> SessionManager:
    """Return the session manager configured by ``[sessions]``, ``[identity]`` and ``[bot]``."""
    return SessionManager(
        store,
        clock=clock or SystemClock(),
        default_scope=settings.sessions.scope,
        identities=settings.identity.by_user_ref(),
        threads_are_channels=settings.sessions.threads_are_channels,
        reset_rules=settings.sessions.reset_rules(settings.bot.timezone),
        carry_over=settings.sessions.carry_over,
        encrypted=settings.encryption.enabled,
        live_conversations=settings.context.live_conversations,
        feed=feed,
        tokens=counter_for(settings.context.tokenizer, settings.responder.counted_model()),
    )


def router_settings(
    settings: Settings, unlimited_platforms: frozenset[str] = frozenset()
) -> RouterSettings:
    """Return the router's view of ``[bot]`` and ``[context]``.

    Args:
        settings: the configuration.
        unlimited_platforms: platforms the rate limit does not apply to.
    """
    return RouterSettings(
        bot_name=settings.bot.name,
        admins=frozenset(settings.bot.admins),
        max_message_chars=settings.bot.max_message_chars,
        context_max_tokens=settings.context.max_tokens,
        context_strategy=settings.context.strategy,
        summary_prompt=settings.context.summary_prompt,
        rate_limit_per_minute=settings.bot.rate_limit_per_minute,
        unlimited_platforms=unlimited_platforms,
        reset_notices=settings.sessions.notify_on_reset,
    )


def operator_platforms(
    settings: Settings, plugins: Mapping[str, AdapterPlugin[Any]] | None = None
) -> frozenset[str]:
    """Return the enabled platforms whose plugin says only the operator uses them."""
    plugins = adapter_plugins().plugins if plugins is None else plugins
    return frozenset(
        name
        for name in settings.enabled_adapters()
        if name in plugins and plugins[name].operator_only
    )


def build_router(
    manager: SessionManager,
    settings: Settings,
    plugins: Mapping[str, AdapterPlugin[Any]] | None = None,
    *,
    wrap_responder: Callable[[Responder], Responder] | None = None,
) -> Router:
    """Return the router with the built-in commands and installed plugins.

    Args:
        manager: the session manager.
        settings: the configuration.
        plugins: adapter name to plugin, which say which platforms are the
            operator's own; the installed ones by default.
        wrap_responder: wraps the configured responder (metrics).
    """
    responder = build_responder(settings)
    return Router(
        manager,
        wrap_responder(responder) if wrap_responder else responder,
        default_registry(load_plugins=True),
        router_settings(settings, operator_platforms(settings, plugins)),
    )


@asynccontextmanager
async def opened_manager(
    settings: Settings, *, wrap_store: Callable[[Store], Store] | None = None
) -> AsyncIterator[SessionManager]:
    """Open the configured store and yield a manager on it; the store is closed after.

    On PostgreSQL the manager hears, and tells, the other workers' changes.

    Args:
        settings: the configuration.
        wrap_store: wraps the opened store before the manager gets it (metrics).
    """
    store = await open_store(settings.storage.url, master_key=load_master_key(settings.encryption))
    try:
        feed = await open_change_feed(settings.storage.url)
        try:
            yield build_manager(wrap_store(store) if wrap_store else store, settings, feed=feed)
        finally:
            if feed is not None:
                await feed.close()  # after sending what this process changed
    finally:
        await store.close()
