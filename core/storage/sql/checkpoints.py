"""Folding SQLite's write-ahead log into the database file, off the event loop's thread."""

from __future__ import annotations

import logging
import sqlite3
import threading
from contextlib import AbstractContextManager, nullcontext

logger = logging.getLogger(__name__)

CHECKPOINT_INTERVAL = 0.1
"""The least time between two checkpoints, in seconds (see :class:`Checkpointer`)."""


RESTART_AFTER_FRAMES = 4000
"""Pages of log (4 KiB each) after which a checkpoint also starts the log over."""

CHECKPOINT_BUSY_TIMEOUT_MS = 100
"""How long a checkpoint waits for a writer or for readers before trying again later."""


class Checkpointer:
    """Folds SQLite's write-ahead log into the database file, on a thread of its own.

    SQLite's own automatic checkpoint runs inside the COMMIT that crosses 1,000 pages
    of log, on whatever thread committed: copying the pages and syncing the file took
    about 40 % of the time of each append, on the event loop's thread. Here a
    ``PASSIVE`` checkpoint (it never blocks a writer or a reader) runs after
    commits, at most once per ``interval`` seconds, on another core, since SQLite
    lets go of the GIL while it copies and syncs. The log grows by at most what is
    committed in one interval (a few MB under full load) before it is reused.

    Args:
        path: the database file.
        writers: held while the log is started over (this process's write lock).
        interval: the least time between two checkpoints (:data:`CHECKPOINT_INTERVAL`).
    """

    def __init__(
        self,
        path: str,
        writers: AbstractContextManager[object] | None = None,
        interval: float | None = None,
    ) -> None:
        self._path = path
        self._writers = writers or nullcontext()
        self._interval = CHECKPOINT_INTERVAL if interval is None else interval
        self._wanted = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.checkpoints = 0
        """How many checkpoints have run."""

    def wanted(self) -> None:
        """Note that a transaction committed: a checkpoint is due within ``interval``."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="sessionbot-sqlite-checkpoint", daemon=True
            )
            self._thread.start()
        if not self._wanted.is_set():
            self._wanted.set()

    def stop(self) -> None:
        """Run the checkpoint still due, then end the thread."""
        self._stopping.set()
        self._wanted.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _run(self) -> None:
        try:
            db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            # Commits go on; the log grows until the next store opens the file.
            logger.error("cannot open %s to checkpoint it: %s", self._path, exc)
            return
        try:
            # Waits for a writer to finish, and for readers to leave the log before a
            # restart, hold writers off meanwhile: never long.
            db.execute(f"PRAGMA busy_timeout={CHECKPOINT_BUSY_TIMEOUT_MS}")
            while True:
                self._wanted.wait()
                self._wanted.clear()
                self._checkpoint(db)
                if self._stopping.is_set():
                    return
                self._stopping.wait(self._interval)
        finally:
            db.close()

    def _checkpoint(self, db: sqlite3.Connection) -> None:
        try:
            [(_, frames, _)] = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self.checkpoints += 1
            if frames >= RESTART_AFTER_FRAMES:
                # Under steady writes the log is never wholly copied when a write
                # starts, so SQLite never starts it over: it would grow without end.
                # Holding writers off for the last frames lets the next one restart
                # it. This process's writers are held off by their own lock: SQLite's
                # busy handler, which polls, would lose every race to them.
                with self._writers:
                    db.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
        except sqlite3.Error as exc:
            # The next commit asks again; the log only grows meanwhile.
            logger.warning("checkpoint of %s failed: %s", self._path, exc)
