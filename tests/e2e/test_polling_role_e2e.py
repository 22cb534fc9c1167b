"""Telegram polling with two workers on one PostgreSQL database: one polls at a time.

The worker holding the polling role is killed with SIGKILL; the other takes the role
over within seconds and answers what was sent meanwhile, once.
"""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import pytest

from tests.commands.test_router_processes import postgres_database
from tests.e2e.child import child_environment
from tests.fakes.telegram_api import TOKEN, FakeTelegramAPI, private_chat, user

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]
ROOT = Path(__file__).resolve().parents[2]
WAIT = 60.0
ALICE = user(501, "Alice")


async def status(config: Path) -> str:
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "bot", "status", "--config", str(config)),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
        env=child_environment({}),
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    return out.decode()


async def polling_holder(config: Path, pids: set[int]) -> int:
    """The pid of the worker `sessionbot status` says polls, once one does."""
    deadline = asyncio.get_running_loop().time() + WAIT
    while True:
        shown = await status(config)
        for line in shown.splitlines()[1:]:
            fields = line.split()
            if "telegram-polling" in line and len(fields) > 2 and fields[2].isdigit():
                pid = int(fields[2])
                if pid in pids:
                    return pid
        assert asyncio.get_running_loop().time() < deadline, shown
        await asyncio.sleep(0.5)


async def test_the_polling_role_moves_when_its_holder_is_killed(tmp_path: Path) -> None:
    async with postgres_database() as url, FakeTelegramAPI() as api:
        config = tmp_path / "config.toml"
        config.write_text(
            f'[bot]\nrate_limit_per_minute = 0\nheartbeat_seconds = 1\n[storage]\nurl = "{url}"\n'
            "[adapters.console]\nenabled = false\n"
            f'[adapters.telegram]\nenabled = true\nbase_url = "{api.url}"\n'
        )
        environ = child_environment({"TELEGRAM_BOT_TOKEN": TOKEN})
        workers = []
        for number in range(2):
            with (tmp_path / f"worker{number}.log").open("wb") as log:  # the child keeps it
                workers.append(
                    await asyncio.create_subprocess_exec(
                        *(sys.executable, "-m", "bot", "run", "--config", str(config)),
                        stdin=asyncio.subprocess.DEVNULL,
                        stdout=log,
                        stderr=log,
                        cwd=ROOT,
                        env=environ,
                    )
                )
            if number == 0:  # the first migrates the database before the second starts
                await polling_holder(config, {workers[0].pid})
        try:
            holder = await polling_holder(config, {w.pid for w in workers})
            api.push_message(private_chat(ALICE), ALICE, "before")
            await api.wait_until(lambda: "echo: before" in api.texts(), within=WAIT)
            victim = next(w for w in workers if w.pid == holder)
            survivor = next(w for w in workers if w.pid != holder)
            victim.kill()  # SIGKILL: its connection, and the polling role with it, just go
            await victim.wait()
            api.push_message(private_chat(ALICE), ALICE, "after")
            assert await polling_holder(config, {survivor.pid}) == survivor.pid
            await api.wait_until(lambda: "echo: after" in api.texts(), within=WAIT)
            await asyncio.sleep(1.0)  # a second answer, were there one, would be in by now
            assert api.texts().count("echo: before") == 1
            assert api.texts().count("echo: after") == 1
        finally:
            for worker in workers:
                if worker.returncode is None:
                    worker.terminate()
                    await worker.wait()
        log = (tmp_path / f"worker{workers.index(survivor)}.log").read_text(errors="replace")
        assert "Traceback" not in log
        assert not re.search(r"409|Conflict", log)  # never two pollers at once
