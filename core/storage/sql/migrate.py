"""Creating a SQLite file safely and migrating any database with the shipped Alembic scripts."""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from core.errors import StorageError
from core.files import PRIVATE_FILE, readable_by_others
from core.storage.sql.units import first_line

if TYPE_CHECKING:
    from alembic.config import Config

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
"""The Alembic script directory shipped with the package."""

_MIGRATION_LOCK_KEY = 0x5E55_10B0
"""Key of the advisory lock that keeps two PostgreSQL workers from migrating at once."""


def schema_revision(conn: sa.Connection) -> str | None:
    """Return the Alembic revision the database is at, or ``None`` if it has none."""
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def upgrade_to_head(connection: sa.Connection, where: str) -> None:
    """Apply every Alembic migration not yet applied, on ``connection``'s transaction."""
    from alembic import command  # heavy: only when a migration has to run
    from alembic.util import CommandError as AlembicError

    if connection.dialect.name == "postgresql":
        # Two workers starting at once would both see an empty database and both
        # create the tables; the lock ends with the transaction.
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_MIGRATION_LOCK_KEY)))
    config = alembic_config(connection)
    _refuse_a_newer_schema(connection, config, where)
    try:
        command.upgrade(config, "head")
    except AlembicError as exc:
        raise StorageError(f"cannot migrate {where}: {first_line(exc)}") from exc


def _refuse_a_newer_schema(connection: sa.Connection, config: Config, where: str) -> None:
    """Refuse a database a newer sessionbot migrated: this code does not know its tables."""
    from alembic.script import ScriptDirectory

    current = schema_revision(connection)
    scripts = ScriptDirectory.from_config(config)
    known = {script.revision for script in scripts.walk_revisions()}
    if current is not None and current not in known:
        raise StorageError(
            f"{where} is at schema revision {current!r}, newer than this sessionbot "
            f"knows (up to {scripts.get_current_head()!r}): upgrade sessionbot, or "
            "point it at another database"
        )


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """Return an Alembic configuration for the shipped migrations; no ``alembic.ini``.

    Args:
        connection: the connection ``env.py`` migrates on; without one, ``env.py``
            connects to the ``sqlalchemy.url`` main option, which the caller sets.
    """
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def prepare_sqlite_file(path: Path) -> None:
    """Create the database file readable by its owner only, then try opening it.

    SQLite would create a missing file with the process umask (often world-readable),
    hence the file is made here first. The trial open reports an unusable path in one
    line before any pool or thread is involved.

    Raises:
        StorageError: the file cannot be created or is not a database.
    """
    if not path.parent.is_dir():
        raise StorageError(f"cannot create SQLite database {path}: no directory {path.parent}")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        _tighten_existing(path)
    except OSError as exc:
        raise StorageError(f"cannot create SQLite database {path}: {exc.strerror}") from exc
    else:
        os.close(fd)
    try:
        trial = sqlite3.connect(path)
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open SQLite database {path}: {first_line(exc)}") from exc
    try:
        trial.execute("PRAGMA schema_version").fetchone()
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open SQLite database {path}: {first_line(exc)}") from exc
    finally:
        trial.close()


SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")
"""The database file and the files SQLite keeps beside it, which hold its pages too."""


def _tighten_existing(path: Path) -> None:
    """Make an existing database and its companion files private, with a warning.

    SQLite gives a new -wal or -shm file the database file's mode, so a database made
    readable by others before sessionbot opened it would leak through all three.

    Raises:
        StorageError: a file readable by others cannot be made private.
    """
    for suffix in SQLITE_COMPANIONS:
        member = path.with_name(path.name + suffix)
        try:
            if not readable_by_others(member):
                continue
            os.chmod(member, PRIVATE_FILE)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise StorageError(
                f"SQLite file {member} is readable by other users and cannot be made "
                f"private ({exc.strerror}): chmod 600 it"
            ) from exc
        logger.warning("SQLite file %s was readable by other users; made it private (0600)", member)
