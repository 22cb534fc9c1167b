"""``sessionbot run`` with the console off and the HTTP API on, as a subprocess.

Keys are made and revoked with ``sessionbot api-keys`` the way an operator would;
a client talks to the bot over HTTP through httpx, and SIGTERM stops it cleanly.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.e2e

STARTUP = 90.0
"""Seconds the bot gets to start serving: a loaded machine imports slowly."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def environment() -> dict[str, str]:
    dropped = ("SESSIONBOT_", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
    return {k: v for k, v in os.environ.items() if not k.upper().startswith(dropped)}


def sessionbot(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        env=environment(),
        cwd=config.parent,
        timeout=120,
    )


def write_config(directory: Path, port: int) -> Path:
    config = directory / "config.toml"
    config.write_text(
        f"""
[storage]
url = "sqlite:///{directory / "bot.db"}"

[adapters.console]
enabled = false

[api]
enabled = true
listen = "127.0.0.1"
port = {port}
"""
    )
    return config


async def until_serving(client: httpx.AsyncClient, process: asyncio.subprocess.Process) -> None:
    async with asyncio.timeout(STARTUP):
        while True:
            assert process.returncode is None, "the bot exited"
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)


async def test_the_bot_serves_the_api_with_the_console_off(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, port)
    made = sessionbot(config, "api-keys", "create", "--user", "alice", "--name", "web")
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    assert key.startswith("sbk_") and key not in made.stderr
    admin = sessionbot(config, "api-keys", "create", "--user", "ops", "--admin").stdout.strip()
    listed = sessionbot(config, "api-keys", "list")
    assert "alice" in listed.stdout and "admin" in listed.stdout and key not in listed.stdout
    bad = sessionbot(config, "api-keys", "create", "--user", "a b")
    assert bad.returncode == 2 and "--user" in bad.stderr

    log = (tmp_path / "bot.log").open("wb")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", "--config", str(config),
        stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=log,
        cwd=tmp_path, env=environment(),
    )  # fmt: skip
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            await until_serving(client, process)
            alice = {"Authorization": f"Bearer {key}"}
            created = await client.post("/api/sessions", json={"userId": "alice"}, headers=alice)
            session_id = created.json()["sessionId"]
            sent = await client.post(
                f"/api/sessions/{session_id}/messages",
                json={"content": "top secret"},
                headers=alice,
            )
            assert sent.status_code == 200 and "top secret" in sent.json()["reply"]["content"]
            page = (await client.get(f"/api/sessions/{session_id}/messages", headers=alice)).json()
            assert len(page["messages"]) == 2
            ready = await client.get("/readyz")
            assert ready.json() == {"status": "ready", "problems": []}
            metrics = await client.get("/metrics", headers={"Authorization": f"Bearer {admin}"})
            assert 'sessionbot_messages_received_total{platform="api"} 1.0' in metrics.text

            key_id = key.split("_")[1]
            revoked = sessionbot(config, "api-keys", "revoke", key_id)
            assert revoked.returncode == 0, revoked.stderr
            assert (await client.get("/api/sessions", headers=alice)).status_code == 401
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            status = await process.wait()
        log.close()
    text = (tmp_path / "bot.log").read_text()
    assert status == 0, text
    assert "api: listening on 127.0.0.1" in text
    assert "Traceback" not in text and "top secret" not in text and key not in text
