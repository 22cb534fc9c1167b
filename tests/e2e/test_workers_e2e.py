"""`sessionbot status` over real `sessionbot run` processes: who is alive, who holds what.

On PostgreSQL two workers share the database: exactly one holds the scheduler role,
and when it is killed (SIGKILL, no goodbye) the other takes the role over.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from tests.commands.test_router_processes import postgres_database

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
WAIT = 30.0


class Deployment:
    """A config file and the `sessionbot` processes started on it."""

    def __init__(self, tmp_path: Path, url: str) -> None:
        self.config = tmp_path / "config.toml"
        self.config.write_text(
            f'[bot]\nheartbeat_seconds = 1\n[storage]\nurl = "{url}"\n'
            f'[adapters.console]\nexport_dir = "{tmp_path}"\n'
        )
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONBOT_")}
        self.cwd = tmp_path

    @asynccontextmanager
    async def worker(self) -> AsyncIterator[asyncio.subprocess.Process]:
        """A running worker whose console reads a pipe that stays open."""
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "bot", "run", "--config", str(self.config)),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            cwd=self.cwd,
            env=self.env,
        )
        try:
            yield process
        finally:
            if process.returncode is None:
                process.kill()
            await process.wait()

    async def status(self) -> str:
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "bot", "status", "--config", str(self.config)),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=self.cwd,
            env=self.env,
        )
        out, err = await process.communicate()
        assert process.returncode == 0, err.decode()
        return out.decode()

    async def status_until(self, pattern: str) -> str:
        deadline = asyncio.get_running_loop().time() + WAIT
        while True:
            shown = await self.status()
            if re.search(pattern, shown, re.MULTILINE):
                return shown
            assert asyncio.get_running_loop().time() < deadline, shown
            await asyncio.sleep(0.5)


async def test_one_worker_on_sqlite_is_listed_with_its_roles_then_gone(tmp_path: Path) -> None:
    deployment = Deployment(tmp_path, f"sqlite:///{tmp_path / 'bot.db'}")
    async with deployment.worker() as worker:
        shown = await deployment.status_until(r"^scheduler: \w+$")
        assert re.search(rf"\b{worker.pid}\b", shown)
        assert shown.splitlines()[0].split() == [
            "WORKER",
            "HOST",
            "PID",
            "UP",
            "LAST",
            "BEAT",
            "ROLES",
        ]
        assert worker.stdin is not None
        worker.stdin.close()  # the console's input ends: a clean stop
        assert await asyncio.wait_for(worker.wait(), WAIT) == 0
    assert (await deployment.status()).startswith("no worker has been seen in the last 3 s")


@pytest.mark.postgres
async def test_two_workers_on_postgresql_share_the_scheduler_role_and_hand_it_over(
    tmp_path: Path,
) -> None:
    async with postgres_database() as url:
        deployment = Deployment(tmp_path, url)
        async with deployment.worker() as first, deployment.worker() as second:
            shown = await deployment.status_until(r"^scheduler: \w+$")
            rows = [line for line in shown.splitlines()[1:] if not line.startswith("scheduler")]
            assert len(rows) == 2  # both alive, one holds the role
            holder = re.search(r"^scheduler: (\w+)$", shown, re.MULTILINE)
            assert holder is not None
            row = next(line for line in rows if line.startswith(holder[1]))
            victim = first if f" {first.pid} " in f" {row} " else second
            survivor = second if victim is first else first
            victim.kill()  # SIGKILL: its connection, and the role with it, just goes
            await victim.wait()
            await deployment.status_until(rf"^\w+ .* {survivor.pid} .*scheduler")
