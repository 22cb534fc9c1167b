"""What the benchmarks share: figures, medians, the machine, a bot on a SQLite file."""

from __future__ import annotations

import gc
import os
import platform
import sqlite3
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from commands import Router, RouterSettings, default_registry
from core.crypto.data_keys import data_key_name
from core.crypto.envelope import KeyEncryptionKey, Sealer, decode_master_key, generate_master_key
from core.crypto.opening import open_store
from core.crypto.sealing import SealedStore
from core.models import Session
from core.sessions.manager import SessionManager
from core.sessions.resets import ResetRules
from core.sessions.responders import EchoResponder
from core.storage.sql.store import SqlStore

# As config.example.toml: daily reset at 04:00, idle reset after 30 minutes, so that
# every resolve evaluates both rules. The rate limit is off: it is a policy, not a
# cost, and one benchmark conversation sends far more than 30 messages a minute.
RESET_RULES = ResetRules(daily_reset_time="04:00", idle_reset_minutes=30)
CONTEXT_MAX_TOKENS = 2000
"""``[context] max_tokens`` of config.example.toml: what a reply's context may hold."""


@dataclass
class Figure:
    """One measured quantity: the median of its samples.

    Attributes:
        label: what was measured, for the table.
        unit: ``rows/s``, ``ms``, ``MB``, ``s``...
        samples: one value per repetition.
        note: how it was measured, in a few words.
    """

    label: str
    unit: str
    samples: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.samples) if self.samples else float("nan")

    def spread(self) -> str:
        if len(self.samples) < 2:
            return ""
        return f"{fmt(min(self.samples))} to {fmt(max(self.samples))}"


Figures = dict[str, Figure]


def table(figures: Figures) -> list[str]:
    """A markdown table of ``figures``: each one's median and spread."""
    lines = ["| measurement | median | min to max |", "| --- | ---: | ---: |"]
    lines += [f"| {f.label} | {fmt(f.median)} {f.unit} | {f.spread()} |" for f in figures.values()]
    return lines


def fmt(value: float) -> str:
    """Format a figure with sensible precision."""
    if value != value:  # NaN
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def machine() -> str:
    """The machine, in one line, for the README."""
    system = f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPUs"
    try:
        load = f", load average {os.getloadavg()[0]:.1f}"
    except OSError:
        load = ""
    return f"{system}{load}, Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}"


def settle() -> None:
    """Collect garbage before a timed region, so that none left by earlier work lands in it.

    A full collection of what an earlier variant left (LangChain builds a mapped class
    per history: thousands of reference cycles) took 0.7 s here, and fell on whichever
    measurement ran next.
    """
    gc.collect()


def new_master_key() -> bytes:
    return decode_master_key(generate_master_key(), source="bench")


class Bot:
    """A router with the echo responder on an encrypted SQLite file, as `sessionbot run`.

    Everything but the adapter: SealedStore over SqlStore (WAL, synchronous=NORMAL),
    the reset rules of config.example.toml, the built-in commands.
    """

    def __init__(
        self, store: SealedStore, master_key: bytes, *, live_conversations: int = 1000
    ) -> None:
        self.store = store
        self.master_key = master_key
        self.manager = SessionManager(
            store,
            reset_rules=RESET_RULES,
            encrypted=True,
            live_conversations=live_conversations,
        )
        self.router = _router(self.manager)

    @classmethod
    async def open(cls, path: Path, *, live_conversations: int = 1000) -> Bot:
        """Open a bot on ``path``; ``live_conversations=0`` remembers nothing between messages."""
        key = new_master_key()
        store = await open_store(f"sqlite:///{path}", master_key=key)
        return cls(store, key, live_conversations=live_conversations)

    def forgetful_router(self) -> Router:
        """A router on :meth:`forgetful`: its commands read everything from the file."""
        return _router(self.forgetful())

    def forgetful(self) -> SessionManager:
        """A second manager on the same store that remembers nothing between messages."""
        return SessionManager(
            self.store, reset_rules=RESET_RULES, encrypted=True, live_conversations=0
        )

    async def close(self) -> None:
        await self.store.close()

    async def sealer(self, session_id: str) -> Sealer:
        """The data key of a session, as the store uses it (for bulk fills)."""
        entry = await self.store.backend.keyring_get(data_key_name(session_id))
        assert entry is not None, session_id
        return Sealer(KeyEncryptionKey(self.master_key).unwrap(entry.value, session_id))

    @property
    def path(self) -> Path:
        inner = self.store.inner
        assert isinstance(inner, SqlStore) and inner.url.database
        return Path(inner.url.database)

    async def fill(
        self, sessions: Sequence[Session], size: int, text: Callable[[int], str]
    ) -> None:
        """Give each session ``size`` messages sealed under its key, in bulk, counters set.

        Through the standard library's ``sqlite3`` with the store's row format: a
        million rows take seconds rather than minutes. Odd seqs are the user's.
        """
        sealers = {s.id: await self.sealer(s.id) for s in sessions}
        start = datetime.now(UTC) - timedelta(hours=1)
        db = sqlite3.connect(self.path, isolation_level=None)
        try:
            rows: list[tuple[object, ...]] = []
            for session in sessions:
                for seq in range(1, size + 1):
                    message_id = f"{session.id}{seq:08d}"
                    content = text(seq)
                    rows.append(
                        (
                            message_id,
                            session.id,
                            session.head_branch_id,
                            seq,
                            "user" if seq % 2 else "assistant",
                            session.owner if seq % 2 else "sessionbot",
                            sealers[session.id].seal(content, f"message:{session.id}:{message_id}"),
                            "{}",
                            0,
                            0,
                            sqlite_time(start + timedelta(microseconds=seq)),
                        )
                    )
                    if len(rows) >= FILL_CHUNK:
                        _insert_messages(db, rows)
            _insert_messages(db, rows)
            db.execute("BEGIN")
            for session in sessions:
                db.execute(
                    "UPDATE branches SET last_seq = ? WHERE id = ?", (size, session.head_branch_id)
                )
                db.execute("UPDATE sessions SET message_count = ? WHERE id = ?", (size, session.id))
            db.execute("COMMIT")
            # Fold the bulk load into the file, so that no timed commit pays for it.
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            db.close()


FILL_CHUNK = 20_000


def _router(manager: SessionManager) -> Router:
    """The router of :class:`Bot`: echo, built-in commands, no rate limit."""
    return Router(
        manager,
        EchoResponder(),
        default_registry(load_plugins=False),
        RouterSettings(context_max_tokens=CONTEXT_MAX_TOKENS, rate_limit_per_minute=0),
    )


def _insert_messages(db: sqlite3.Connection, rows: list[tuple[object, ...]]) -> None:
    if rows:
        db.execute("BEGIN")
        db.executemany("INSERT INTO messages VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
        db.execute("COMMIT")
        rows.clear()


def sqlite_time(when: datetime) -> str:
    """How the store writes a time on SQLite (naive UTC, microseconds)."""
    return when.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
