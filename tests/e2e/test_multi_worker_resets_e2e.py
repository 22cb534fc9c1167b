"""Scheduled resets with three `sessionbot run` workers on one PostgreSQL database.

Conversations go quiet, their clocks are moved back past the idle reset, and the
worker holding the scheduler role is killed with SIGKILL: another takes the role over
within seconds and sweeps at once. Each due session is archived exactly once, and
with ``notify_on_reset`` each conversation gets exactly one notice, from one worker.
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections import Counter
from pathlib import Path

import aiohttp
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from core.storage.backends import database_url
from tests.commands.test_router_processes import postgres_database
from tests.e2e.child import child_environment
from tests.e2e.test_multi_worker_e2e import ROOT, Balancer, Worker
from tests.fakes.telegram_api import FakeTelegramAPI, private_chat, user

pytestmark = [pytest.mark.e2e, pytest.mark.postgres]
CONVERSATIONS = 30
WAIT = 60.0
RESETS = [
    "[sessions]",
    "idle_reset_minutes = 5",
    'daily_reset_time = "off"',
    "notify_on_reset = true",
]


async def scheduler_pid(worker: Worker, *, other_than: int = 0) -> int:
    """The pid of the worker holding the scheduler role, as `sessionbot status` shows it.

    Waits until one holds it, and until it is not ``other_than``.
    """
    deadline = asyncio.get_running_loop().time() + WAIT
    while True:
        process = await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", "bot", "status", "--config", str(worker.config)),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=ROOT,
            env=child_environment({}),
        )
        out, err = await process.communicate()
        assert process.returncode == 0, err.decode()
        shown = out.decode()
        holder = re.search(r"^scheduler: (\w+)$", shown, re.MULTILINE)
        if holder is not None:
            row = next(line for line in shown.splitlines() if line.startswith(holder[1] + " "))
            if int(row.split()[2]) != other_than:
                return int(row.split()[2])
        assert asyncio.get_running_loop().time() < deadline, shown
        await asyncio.sleep(0.5)


async def go_quiet(url: str, minutes: int) -> None:
    """Move every session's clocks back, as if nobody had written for ``minutes``."""
    engine = create_async_engine(database_url(url))
    try:
        async with engine.begin() as conn:
            await conn.execute(
                sa.text(
                    "UPDATE sessions SET created_at = created_at - make_interval(mins => :m), "
                    "last_activity_at = last_activity_at - make_interval(mins => :m)"
                ),
                {"m": minutes},
            )
    finally:
        await engine.dispose()


async def archived_count(url: str) -> tuple[int, int]:
    """How many sessions are archived as idle, and how many are still active."""
    engine = create_async_engine(database_url(url))
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(sa.text("SELECT status, archive_reason FROM sessions"))
            counted = Counter((status, reason) for status, reason in rows.all())
    finally:
        await engine.dispose()
    return counted[("archived", "idle")], counted[("active", None)]


async def test_three_workers_archive_each_due_session_once_with_one_notice(
    tmp_path: Path,
) -> None:
    async with (
        postgres_database() as url,
        FakeTelegramAPI() as api,
        aiohttp.ClientSession() as session,
    ):
        workers = [Worker(tmp_path, url, api, number, RESETS) for number in range(3)]
        try:
            await workers[0].start()
            await workers[0].ready(session)
            for worker in workers[1:]:
                await worker.start()
            await asyncio.gather(*(worker.ready(session) for worker in workers[1:]))
            balancer = Balancer(workers, session)
            people = [user(20_000 + number, f"User{number}") for number in range(CONVERSATIONS)]
            for person in people:
                update = api.update(api.message(private_chat(person), person, "hello"))
                assert await balancer.post(update)
            assert await archived_count(url) == (0, CONVERSATIONS)
            await go_quiet(url, 10)
            leader = await scheduler_pid(workers[0])
            victim = next(w for w in workers if w.process and w.process.pid == leader)
            assert victim.process is not None
            victim.process.kill()  # SIGKILL: the role goes with its connection
            deadline = asyncio.get_running_loop().time() + WAIT
            while await archived_count(url) != (CONVERSATIONS, 0):
                assert asyncio.get_running_loop().time() < deadline, await archived_count(url)
                await asyncio.sleep(0.5)
            await scheduler_pid(workers[2 if victim is workers[0] else 0], other_than=leader)
            await asyncio.sleep(3.0)  # a second notice, were there one, would be in by now
        finally:
            for worker in workers:
                await worker.stop()
        for person in people:
            notices = [t for t in api.texts(person["id"]) if t.startswith("This session ended")]
            assert len(notices) == 1, api.texts(person["id"])
        assert await archived_count(url) == (CONVERSATIONS, 0)
