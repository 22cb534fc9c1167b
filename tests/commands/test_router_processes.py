"""Three bot processes on one database, one conversation, ``/new`` mixed in.

Every head switch by one process races the others' appends. Each plain message must
land in whatever session is active when it is stored, with no generic error and no
traceback, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from core.crypto.envelope import decode_master_key, generate_master_key
from core.crypto.opening import open_store
from core.ids import new_id
from core.models import Role
from core.storage.backends import database_url
from core.storage.protocols import SessionFilter
from tests.core.conftest import postgres_url

ROOT = Path(__file__).resolve().parents[2]
MESSAGES_PER_WORKER = 700
NEW_EVERY = (9, 13, 0)  # two workers switch the head, at different rhythms

CONFIG = """
[bot]
rate_limit_per_minute = 0
[storage]
url = "{url}"
[encryption]
enabled = true
key_env = "RACE_MASTER_KEY"
[sessions]
scope = "per-channel"
idle_reset_minutes = 0
daily_reset_time = "off"
"""


@asynccontextmanager
async def postgres_database() -> AsyncIterator[str]:
    """Create a database of its own for the worker processes; drop it afterwards."""
    base = database_url(postgres_url())
    name = f"race_{new_id(10).lower()}"
    admin = create_async_engine(base, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def run_workers(
    url: str, tmp_path: Path, module: str, arguments: list[tuple[object, ...]]
) -> tuple[str, list[Any]]:
    """Run ``python -m module CONFIG *args`` once per ``arguments`` entry, all at once.

    The database is migrated first. Each process must exit 0 without a traceback.
    Returns the master key and what each printed, as JSON.
    """
    config = tmp_path / "config.toml"
    config.write_text(CONFIG.format(url=url))
    key = generate_master_key()
    environ = {**os.environ, "RACE_MASTER_KEY": key}
    store = await open_store(url, master_key=decode_master_key(key, source="test"))
    await store.close()  # migrated before the race
    workers = [
        await asyncio.create_subprocess_exec(
            *(sys.executable, "-m", module, str(config), *map(str, args)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=ROOT,
            env=environ,
        )
        for args in arguments
    ]
    finished = [await worker.communicate() for worker in workers]
    outcomes = []
    for worker, (out, err) in zip(workers, finished, strict=True):
        assert worker.returncode == 0, err.decode()
        assert "Traceback" not in err.decode(), err.decode()
        outcomes.append(json.loads(out))
    return key, outcomes


async def race(url: str, tmp_path: Path) -> None:
    key, outcomes = await run_workers(
        url,
        tmp_path,
        "tests.commands.race_worker",
        [(worker, MESSAGES_PER_WORKER, every) for worker, every in enumerate(NEW_EVERY)],
    )
    assert [o["generic"] for o in outcomes] == [0, 0, 0]
    assert sum(o["commands"] for o in outcomes) > 100
    sent = {text for outcome in outcomes for text in outcome["plain"]}
    assert len(sent) >= 0.99 * (3 * MESSAGES_PER_WORKER - sum(o["commands"] for o in outcomes))
    assert await stored_user_texts(url, key) == sent


async def stored_user_texts(url: str, key: str) -> set[str]:
    store = await open_store(url, master_key=decode_master_key(key, source="test"))
    try:
        sessions = await store.list_sessions(SessionFilter(), limit=10_000)
        assert sum(s.is_active for s in sessions) == 1
        texts: list[str] = []
        for session in sessions:
            messages = await store.read_messages(
                session.head_branch_id, limit=10_000, newest_first=False
            )
            texts += [m.content for m in messages if m.role is Role.USER]
        assert len(texts) == len(set(texts))  # each stored once
        return set(texts)
    finally:
        await store.close()


async def test_three_processes_on_one_sqlite_file(tmp_path: Path) -> None:
    await race(f"sqlite:///{tmp_path / 'bot.db'}", tmp_path)


@pytest.mark.postgres
async def test_three_processes_on_one_postgresql_database(tmp_path: Path) -> None:
    async with postgres_database() as url:
        await race(url, tmp_path)
