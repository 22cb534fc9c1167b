"""Three bot processes tag and annotate one conversation at once: nobody's change is lost.

Each ``/session tag`` and ``/session meta`` changes the session from what it holds
when written (compare-and-set), not from what the process read when the message
came in, which another process may have changed since. On SQLite and PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core.crypto.envelope import decode_master_key
from core.crypto.opening import open_store
from core.storage.protocols import SessionFilter
from tests.commands.test_router_processes import postgres_database, run_workers

WORKERS = 3
ROUNDS = 6  # 18 tags and 18 metadata keys: under the limits of 20 each


async def edit_race(url: str, tmp_path: Path) -> None:
    key, outcomes = await run_workers(
        url, tmp_path, "tests.commands.edit_worker", [(w, ROUNDS) for w in range(WORKERS)]
    )
    assert outcomes == [[]] * WORKERS  # every reply as expected
    store = await open_store(url, master_key=decode_master_key(key, source="test"))
    try:
        (session,) = await store.list_sessions(SessionFilter(), limit=10)
    finally:
        await store.close()
    wanted = [(w, n) for w in range(WORKERS) for n in range(ROUNDS)]
    assert sorted(session.tags) == sorted(f"w{w}-{n}" for w, n in wanted)
    assert session.metadata == {f"w{w}k{n}": str(n) for w, n in wanted}
    assert session.message_count == 2 * WORKERS * ROUNDS  # each said something, echoed


async def test_three_processes_edit_one_sqlite_session(tmp_path: Path) -> None:
    await edit_race(f"sqlite:///{tmp_path / 'bot.db'}", tmp_path)


@pytest.mark.postgres
async def test_three_processes_edit_one_postgresql_session(tmp_path: Path) -> None:
    async with postgres_database() as url:
        await edit_race(url, tmp_path)
