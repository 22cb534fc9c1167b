"""Alembic environment of sessionbot's schema.

sessionbot runs it programmatically (:func:`core.storage.sql.store.alembic_config`), with the
connection to migrate in ``config.attributes["connection"]``; users need no
``alembic.ini``. To write a new revision from a checkout, against a scratch database:

    from alembic import command
    from core.storage.sql.store import alembic_config

    config = alembic_config()
    config.set_main_option("sqlalchemy.url", "sqlite+aiosqlite:///scratch.db")
    command.upgrade(config, "head")
    command.revision(config, "what changes", autogenerate=True, rev_id="0002")

then edit the generated file into explicit operations.
"""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from alembic import context
from sqlalchemy.ext.asyncio import create_async_engine

from core.storage.sql.schema import metadata

config = context.config


def run_migrations(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        # SQLite alters most tables only by copying them; batch mode does that.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_on_url(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run_migrations)
    finally:
        await engine.dispose()


given = config.attributes.get("connection")
if given is not None:
    run_migrations(given)
else:
    asyncio.run(run_on_url(config.get_main_option("sqlalchemy.url") or ""))
