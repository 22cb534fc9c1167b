"""The adapter's lifecycle: a port in use fails the start with one line; stop ends serving."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import httpx
import pytest

from adapters.base import AdapterContext
from adapters.http import ApiSettings, plugin
from adapters.http.server import HttpAdapter
from core import ConfigError, Reply, SessionManager
from core.storage.memory import MemoryStore


async def no_handler(inbound: object) -> list[Reply]:
    raise AssertionError("no message expected")


def build(port: int, manager: SessionManager | None = None) -> HttpAdapter:
    settings = ApiSettings(enabled=True, port=port)
    adapter = plugin.build(settings, AdapterContext(no_handler, manager=manager))
    assert isinstance(adapter, HttpAdapter)
    return adapter


async def test_a_port_in_use_fails_the_adapter_with_the_address() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        adapter = build(port, SessionManager(MemoryStore()))
        await adapter.start()
        with pytest.raises(OSError, match=f"api: cannot listen on 127.0.0.1:{port}"):
            await asyncio.wait_for(adapter.wait(), 10)


async def test_stop_ends_serving_and_a_restart_serves_again(tmp_path: Path) -> None:
    adapter = build(0, SessionManager(MemoryStore()))
    for _ in range(2):
        await adapter.start()
        await asyncio.wait_for(adapter.ready.wait(), 10)
        port = adapter.port
        async with httpx.AsyncClient() as client:
            assert (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200
            await adapter.stop()
            await asyncio.wait_for(adapter.wait(), 10)
            with pytest.raises(httpx.TransportError):
                await client.get(f"http://127.0.0.1:{port}/healthz")


def test_the_api_needs_the_session_manager() -> None:
    with pytest.raises(ConfigError, match="needs the session manager"):
        build(0)
