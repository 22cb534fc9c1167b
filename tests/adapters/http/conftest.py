"""An API served by real uvicorn on 127.0.0.1, over a real router and store.

``api`` runs once per backend (SQLite; PostgreSQL when configured, in a schema of
its own). The bot is assembled as ``bot.app`` assembles it: the metered store, the
router with the echo responder and its metrics, and the adapter built by its plugin.
Requests go through httpx.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.base import AdapterContext, AdapterStatus
from adapters.http import ApiSettings, plugin
from adapters.http.server import HttpAdapter
from bot.metrics import BotMetrics
from commands import Router, RouterSettings, default_registry
from core import EchoResponder, Responder, SessionManager, new_api_key
from core.storage.protocols import Store
from tests.core.conftest import opened

BACKENDS = ("sqlite", pytest.param("postgres", marks=pytest.mark.postgres))


@dataclass
class Status:
    """The bot's status as the adapter sees it: the adapters and the metrics."""

    bot_metrics: BotMetrics
    running: dict[str, bool] = field(default_factory=dict)

    def adapters(self) -> list[AdapterStatus]:
        return [AdapterStatus(name, up) for name, up in sorted(self.running.items())]

    async def metrics(self) -> tuple[bytes, str] | None:
        return await self.bot_metrics.exposition()


@dataclass
class Api:
    """A running API and what a test needs around it."""

    client: httpx.AsyncClient
    adapter: HttpAdapter
    manager: SessionManager
    router: Router
    status: Status
    store: Store

    async def key(self, user: str = "alice", *, admin: bool = False) -> dict[str, str]:
        """Make a key; return the header that carries it."""
        stored, text = new_api_key(user, admin=admin, name="test", at=datetime.now(UTC))
        await self.store.add_api_key(stored)
        return {"Authorization": f"Bearer {text}"}


@asynccontextmanager
async def running_api(
    store: Store,
    router_settings: RouterSettings | None = None,
    *,
    manager_options: dict[str, Any] | None = None,
    responder: Responder | None = None,
    **api: Any,
) -> AsyncIterator[Api]:
    """Serve the API on a free port of 127.0.0.1 until the block ends (echo by default)."""
    metrics = BotMetrics()
    metered = metrics.store(store)
    manager = SessionManager(metered, **(manager_options or {}))
    router = Router(
        manager,
        metrics.responder(responder or EchoResponder()),
        default_registry(),
        router_settings or RouterSettings(rate_limit_per_minute=0),
    )
    status = Status(metrics)
    metrics.watch(router, manager, status.adapters, manager.store)
    settings = ApiSettings.model_validate({"enabled": True, "port": 0, **api})
    context = AdapterContext(
        metrics.handler(router.handle), manager=manager, status=status, bot_name="testbot"
    )
    adapter = plugin.build(settings, context)
    assert isinstance(adapter, HttpAdapter)
    await adapter.start()
    await adapter.ready.wait()
    status.running["api"] = True
    base = f"http://127.0.0.1:{adapter.port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            yield Api(client, adapter, manager, router, status, store)
    finally:
        await adapter.stop()


@pytest.fixture(params=BACKENDS)
async def api(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Api]:
    """A running API over SQLite, then PostgreSQL."""
    async with opened(request.param, tmp_path) as store, running_api(store) as running:
        yield running
