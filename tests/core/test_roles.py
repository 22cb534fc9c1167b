"""Roles one worker holds at a time: handed over when the holder leaves, dies or is cut off."""

from __future__ import annotations

import asyncio
import sys
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from core.storage.backends import database_url
from core.storage.roles import FileRoles
from core.storage.sql.roles import PostgresRoles
from tests.core.conftest import postgres_url

WAIT = 10.0
ROOT = Path(__file__).resolve().parents[2]


async def test_file_roles_hand_a_role_over_when_its_holder_leaves(tmp_path: Path) -> None:
    first, second = (
        FileRoles(tmp_path / "bot.db", poll_seconds=0.05),
        FileRoles(tmp_path / "bot.db", poll_seconds=0.05),
    )
    released = asyncio.Event()

    async def hold_then_release() -> None:
        async with first.held("scheduler"):
            await released.wait()

    holder = asyncio.create_task(hold_then_release())
    await asyncio.sleep(0.1)
    entered = asyncio.Event()

    async def take_over() -> None:
        async with second.held("scheduler"):
            entered.set()

    waiting = asyncio.create_task(take_over())
    await asyncio.sleep(0.3)
    assert not entered.is_set()  # held elsewhere
    async with second.held("another role"):  # roles are independent
        assert second.held_roles == {"another role"}
    released.set()
    await asyncio.wait_for(asyncio.gather(holder, waiting), WAIT)
    assert entered.is_set()


HOLD = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from core.storage.roles import FileRoles

    async def main() -> None:
        async with FileRoles(Path(sys.argv[1])).held("scheduler"):
            print("held", flush=True)
            await asyncio.sleep(3600)

    asyncio.run(main())
    """
)


async def test_a_file_role_is_free_again_when_its_holder_is_killed(tmp_path: Path) -> None:
    holder = await asyncio.create_subprocess_exec(
        *(sys.executable, "-c", HOLD, str(tmp_path / "bot.db")),
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        assert holder.stdout is not None
        assert await asyncio.wait_for(holder.stdout.readline(), WAIT) == b"held\n"
        roles = FileRoles(tmp_path / "bot.db", poll_seconds=0.05)
        entered = asyncio.Event()

        async def take_over() -> None:
            async with roles.held("scheduler"):
                entered.set()

        waiting = asyncio.create_task(take_over())
        await asyncio.sleep(0.3)
        assert not entered.is_set()
        holder.kill()  # SIGKILL: no clean-up of its own
        await asyncio.wait_for(waiting, WAIT)
    finally:
        if holder.returncode is None:
            holder.kill()
        await holder.wait()


@pytest.fixture
async def two_workers() -> AsyncIterator[tuple[PostgresRoles, PostgresRoles]]:
    url = database_url(postgres_url())
    first = PostgresRoles(url, poll_seconds=0.1)
    second = PostgresRoles(url, poll_seconds=0.1)
    await first.start()
    await second.start()
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


@pytest.mark.postgres
async def test_a_postgres_role_moves_when_its_holder_leaves_or_is_cut_off(
    two_workers: tuple[PostgresRoles, PostgresRoles],
) -> None:
    first, second = two_workers
    role = f"test-role-{id(first)}"  # a name no other test run uses
    async with first.held(role) as first_lost:
        assert first.held_roles == {role}
        entered = asyncio.Event()

        async def take_over() -> None:
            async with second.held(role) as lost:
                entered.set()
                await lost.wait()

        waiting = asyncio.create_task(take_over())
        await asyncio.sleep(0.4)
        assert not entered.is_set()
    # Left the block: given back, and the other worker has it within its poll.
    await asyncio.wait_for(entered.wait(), WAIT)
    assert second.held_roles == {role} and not first_lost.is_set()

    # Now the holder's connection is cut by the server: it is told the role is lost,
    # and the other worker takes it.
    again = asyncio.Event()

    async def wait_for_it() -> None:
        async with first.held(role):
            again.set()

    retaking = asyncio.create_task(wait_for_it())
    pid = await _listening_pid(second)
    admin = create_async_engine(database_url(postgres_url()))
    try:
        async with admin.connect() as conn:
            await conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await admin.dispose()
    await asyncio.wait_for(waiting, WAIT)  # second saw its role lost and left
    await asyncio.wait_for(retaking, WAIT)
    assert again.is_set()


async def _listening_pid(roles: PostgresRoles) -> int:
    pid = roles.backend_pid
    assert pid is not None
    return pid
