"""Migrations with several workers: run at once from every worker, and a newer schema refused."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from core.storage.backends import database_url
from core.storage.sql.schema import SCHEMA_REVISION
from tests.commands.test_router_processes import postgres_database

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


async def sessionbot(config: Path, *args: str) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONBOT_")}
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "bot", *args, "--config", str(config)),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=config.parent,
        env=env,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, (out + err).decode()


@pytest.mark.postgres
async def test_three_workers_upgrading_at_once_migrate_once(tmp_path: Path) -> None:
    async with postgres_database() as url:
        config = tmp_path / "config.toml"
        config.write_text(f'[storage]\nurl = "{url}"\n')
        results = await asyncio.gather(*(sessionbot(config, "db", "upgrade") for _ in range(3)))
        assert [code for code, _ in results] == [0, 0, 0], results
        assert all("is up to date" in output for _, output in results)
        engine = create_async_engine(database_url(url))
        try:
            async with engine.connect() as conn:
                versions = (await conn.execute(sa.text("SELECT * FROM alembic_version"))).all()
        finally:
            await engine.dispose()
        assert versions == [(SCHEMA_REVISION,)]


async def test_a_database_a_newer_sessionbot_migrated_is_refused_in_one_line(
    tmp_path: Path,
) -> None:
    config = tmp_path / "config.toml"
    database = tmp_path / "bot.db"
    config.write_text(f'[storage]\nurl = "sqlite:///{database}"\n')
    assert (await sessionbot(config, "db", "upgrade"))[0] == 0
    with sqlite3.connect(database) as db:
        db.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    db.close()
    for args in (("db", "upgrade"), ("run",)):
        code, output = await sessionbot(config, *args)
        assert code == 1, output
        lines = [line for line in output.splitlines() if line.strip()]
        assert len(lines) == 1 and "Traceback" not in output, output
        assert "schema revision '9999_from_the_future', newer than this sessionbot" in lines[0]
