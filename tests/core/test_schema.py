"""The schema's revision constant and the migrations agree; opening skips Alembic when current."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

from alembic.script import ScriptDirectory

from core.storage.backends import upgrade_database
from core.storage.sql.schema import SCHEMA_REVISION
from core.storage.sql.store import alembic_config

ROOT = Path(__file__).resolve().parents[2]


def test_schema_revision_is_the_newest_migration() -> None:
    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == SCHEMA_REVISION


def test_opening_a_current_sqlite_database_loads_neither_alembic_nor_asyncio(
    tmp_path: Path,
) -> None:
    """Start-up loads no Alembic with nothing to migrate, and no asyncio extension.

    SQLAlchemy's asyncio extension (and the ORM it loads) serves PostgreSQL only.
    """
    path = tmp_path / "bot.db"
    asyncio.run(upgrade_database(f"sqlite:///{path}"))
    script = textwrap.dedent(
        f"""
        import asyncio, sys
        from core.crypto.opening import open_store

        async def main():
            store = await open_store("sqlite:///{path}")
            await store.close()

        asyncio.run(main())
        print(sorted(name for name in sys.modules if name.split(".")[0] == "alembic"))
        heavy = ("sqlalchemy.ext.asyncio", "sqlalchemy.orm")
        print(sorted(name for name in sys.modules if name.startswith(heavy)))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["[]", "[]"]
