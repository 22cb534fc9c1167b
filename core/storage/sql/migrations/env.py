"""Alembic environment of sessionbot's schema.

sessionbot runs it programmatically (:func:`core.storage.sql.migrate.alembic_config`), with the
connection to migrate in ``config.attributes["connection"]``; users need no
``alembic.ini``. To write a new revision from a checkout, against a scratch database:

    from alembic import command
    from core.storage.sql.migrate import alembic_config

    config = alembic_config()
    config.set_main_option("sqlalchemy.url", "sqlite:///scratch.db")
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


def run_on_url(url: str) -> None:
    """Migrate the database of ``url``: SQLite through ``sqlite3``, PostgreSQL through asyncpg."""
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = sa.create_engine(parsed.set(drivername="sqlite+pysqlite"), hide_parameters=True)
        try:
            with engine.begin() as connection:
                run_migrations(connection)
        finally:
            engine.dispose()
        return
    asyncio.run(_run_on_async_url(parsed.set(drivername="postgresql+asyncpg")))


async def _run_on_async_url(url: sa.URL) -> None:
    engine = create_async_engine(url, hide_parameters=True)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run_migrations)
    finally:
        await engine.dispose()


given = config.attributes.get("connection")
if given is not None:
    run_migrations(given)
else:
    run_on_url(config.get_main_option("sqlalchemy.url") or "")
