"""Search cost at 100 and at 1,000,000 messages in the database, plain and encrypted.

One user ("alice") has the same data at every size: five sessions, 60 messages in
the one searched alone and 10 in each other (100 in all: the whole database at the
small size), every message holding the word "report". The rest of the database is
other people's messages (1,000 sessions), every one of them holding "report" too:
the worst case for an index that would look at the whole database. Timed through
the session manager, as ``/history search`` runs it (the listing of alice's sessions
included for "all"):

* one session: ``report`` in alice's current session (page 1: ten hits);
* all of hers: ``quarterly report`` in every session she started.

Plain databases answer through SQLite FTS5, encrypted ones (SealedStore under a
master key) through the blind index. Other people's rows are written in bulk through
the standard library's ``sqlite3`` (sealed and blind-indexed in the encrypted file, and
indexed by the FTS5 triggers in the plain one), as the bot would have stored them.

Run from the repository root::

    python -m bench.bench_search                      # 100 and 1,000,000
    python -m bench.bench_search --messages 100000    # quicker

Results are recorded in bench/README.md. Tests never assert on these timings.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import machine, new_master_key, sqlite_time
from core.crypto.blind_index import BlindIndex
from core.crypto.envelope import KeyEncryptionKey, Sealer
from core.crypto.sealing import SealedStore
from core.ids import new_id
from core.models import Inbound, NewMessage, Role, Session
from core.sessions.manager import SessionManager
from core.storage.sql.store import SqlStore
from core.words import TextQuery

OTHER_SESSIONS = 1000
CHUNK = 20_000
ALICE = "bench:alice"


async def build(path: Path, size: int, master: bytes | None) -> tuple[SessionManager, Session]:
    """Make a database of ``size`` messages; return a manager and alice's current session."""
    kek = KeyEncryptionKey(master) if master else None
    store = SealedStore(SqlStore(f"sqlite:///{path}"), kek)
    await store.open()
    manager = SessionManager(store, live_conversations=0)
    current = None
    for channel, count in (("c1", 10), ("c2", 10), ("c3", 10), ("c4", 10), ("c0", 60)):
        current = await _talk(manager, channel, count)
    assert current is not None
    others = size - 100
    if others > 0:
        sessions = [
            (await manager.resolve(Inbound("bench", "c1", f"u{n}", "hi"))).session
            for n in range(OTHER_SESSIONS)
        ]
        await _fill(store, path, sessions, others // OTHER_SESSIONS, kek)
    return manager, current


async def _talk(manager: SessionManager, channel: str, count: int) -> Session:
    session = (await manager.resolve(Inbound("bench", channel, "alice", "hi"))).session
    texts = [f"note {n} on the quarterly report, {channel}" for n in range(count)]
    messages = [NewMessage(Role.USER, ALICE, text) for text in texts]
    await manager.store.append_messages(
        session.id, messages, [new_id(16) for _ in texts], datetime.now(UTC)
    )
    return session


async def _fill(
    store: SealedStore,
    path: Path,
    sessions: list[Session],
    each: int,
    kek: KeyEncryptionKey | None,
) -> None:
    index = BlindIndex(kek) if kek else None
    start = datetime.now(UTC) - timedelta(days=1)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        rows: list[tuple[object, ...]] = []
        terms: list[tuple[object, ...]] = []
        for session in sessions:
            sealer = await _sealer(store, kek, session.id)
            for seq in range(1, each + 1):
                message_id = f"{session.id}{seq:08d}"
                text = f"the report {seq}"
                content = (
                    sealer.seal(text, f"message:{session.id}:{message_id}") if sealer else text
                )
                when = sqlite_time(start + timedelta(microseconds=seq))
                rows.append(
                    (message_id, session.id, session.head_branch_id, seq, "user",
                     session.owner, content, "{}", 0, 0, when)
                )  # fmt: skip
                if index is not None:
                    for term in index.terms_of(text):
                        terms.append((session.id, index.version, term, message_id))
                if len(rows) >= CHUNK:
                    _insert(db, rows, terms)
            db.execute(
                "UPDATE branches SET last_seq = ? WHERE id = ?", (each, session.head_branch_id)
            )
        _insert(db, rows, terms)
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        db.close()


async def _sealer(
    store: SealedStore, kek: KeyEncryptionKey | None, session_id: str
) -> Sealer | None:
    if kek is None:
        return None
    entry = await store.backend.keyring_get(f"session:{session_id}")
    assert entry is not None
    return Sealer(kek.unwrap(entry.value, session_id))


def _insert(
    db: sqlite3.Connection, rows: list[tuple[object, ...]], terms: list[tuple[object, ...]]
) -> None:
    db.execute("BEGIN")
    db.executemany("INSERT INTO messages VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
    db.executemany("INSERT INTO blind_index VALUES (?,?,?,?)", terms)
    db.execute("COMMIT")
    rows.clear()
    terms.clear()


async def time_searches(manager: SessionManager, current: Session, rounds: int) -> dict[str, float]:
    """Median milliseconds of each search over ``rounds`` runs."""
    one, every = TextQuery.parse("report"), TextQuery.parse("quarterly report")
    times: dict[str, list[float]] = {"one session": [], "all of hers": []}
    for _ in range(rounds):
        began = time.perf_counter()
        page = await manager.search.find(one, [current], limit=10)
        times["one session"].append(time.perf_counter() - began)
        assert len(page.hits) == 10 and page.has_more
        began = time.perf_counter()
        mine = await manager.search.sessions_of("bench:alice")
        page = await manager.search.find(every, mine, limit=10)
        times["all of hers"].append(time.perf_counter() - began)
        assert len(mine) == 5 and len(page.hits) == 10
    return {name: statistics.median(values) * 1000 for name, values in times.items()}


async def collect(sizes: tuple[int, ...], rounds: int) -> list[str]:
    """Build each database in turn, time it, and return the table's lines."""
    lines = ["| database | messages | search | median ms |", "| --- | ---: | --- | ---: |"]
    with tempfile.TemporaryDirectory() as tmp:
        for mode in ("plain", "encrypted"):
            for size in sizes:
                path = Path(tmp) / f"{mode}-{size}.db"
                began = time.perf_counter()
                manager, current = await build(
                    path, size, new_master_key() if mode == "encrypted" else None
                )
                built = time.perf_counter() - began
                print(f"built {mode} {size:,} in {built:.0f} s", file=sys.stderr)
                figures = await time_searches(manager, current, rounds)
                await manager.store.close()
                for name, ms in figures.items():
                    lines.append(f"| {mode} | {size:,} | {name} | {ms:.2f} |")
                path.unlink()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000, help="the large size")
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    lines = asyncio.run(collect((100, args.messages), args.rounds))
    print(machine())
    print("\n".join(lines))


if __name__ == "__main__":
    main()
