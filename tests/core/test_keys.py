from __future__ import annotations

import base64

import pytest

from core.clock import ManualClock
from core.crypto.envelope import KeyEncryptionKey, generate_master_key, is_sealed
from core.crypto.rotation import encrypt_existing, rotate_master_key
from core.crypto.sealing import SealedStore
from core.errors import ConfigError
from core.models import Inbound, NewMessage, Role
from core.sessions.manager import SessionManager
from core.storage.keyring import KeyringEntry
from core.storage.memory import MemoryStore

MARKER = "okapi-marker-5150"


def master() -> bytes:
    return base64.b64decode(generate_master_key())


async def fill(inner: MemoryStore, key: bytes | None, sessions: int = 3) -> None:
    store = SealedStore(inner, KeyEncryptionKey(key) if key else None)
    await store.open()
    manager = SessionManager(store, clock=ManualClock())
    for n in range(sessions):
        session = (await manager.resolve(Inbound("console", "c", f"u{n}", "x"))).session
        session = await manager.sessions.update(session, title=f"{MARKER} title")
        await manager.history.append(session, NewMessage(Role.USER, "u", f"{MARKER} {n}"))
        await manager.checkpoints.save(
            await manager.sessions.get(session.id), f"{MARKER} cp", by="u"
        )


async def readable(inner: MemoryStore, key: bytes) -> list[str]:
    store = SealedStore(inner, KeyEncryptionKey(key))
    await store.open()
    manager = SessionManager(store, clock=ManualClock())
    found = []
    for n in range(3):
        session = (await manager.resolve(Inbound("console", "c", f"u{n}", "x"))).session
        found += [m.content for m in await manager.history.all_messages(session)]
        found += [c.name for c in await manager.checkpoints.list(session)]
        found.append(session.title or "")
    return found


EXPECTED = sorted(
    [f"{MARKER} {n}" for n in range(3)] + [f"{MARKER} cp"] * 3 + [f"{MARKER} title"] * 3
)


async def test_rotation_moves_the_database_to_the_new_key() -> None:
    inner, old, new = MemoryStore(), master(), master()
    await fill(inner, old)
    report = await rotate_master_key(inner, old, new)
    assert (report.staged, report.swapped, report.version) == (3, 3, 2)
    assert sorted(await readable(inner, new)) == EXPECTED
    with pytest.raises(ConfigError, match="does not match"):
        await readable(inner, old)
    # Running it again with the same keys is harmless.
    assert (await rotate_master_key(inner, old, new)).swapped == 0


class CrashBeforeCommit(MemoryStore):
    async def keyring_commit(self, check: KeyringEntry, *, require_prefix: str) -> int:
        raise KeyboardInterrupt("power cut")


async def test_an_interrupted_rotation_leaves_the_old_key_valid_and_resumes() -> None:
    crashing, old, new = CrashBeforeCommit(), master(), master()
    await fill(crashing, old)
    with pytest.raises(KeyboardInterrupt):
        await rotate_master_key(crashing, old, new)
    assert sorted(await readable(crashing, old)) == EXPECTED
    with pytest.raises(ConfigError, match="does not match"):
        await readable(crashing, new)
    # Resume on the same data with a store that does not crash.
    resumed = MemoryStore()
    vars(resumed).update(vars(crashing))
    report = await rotate_master_key(resumed, old, new)
    assert report.staged == 0 and report.swapped == 3
    assert sorted(await readable(resumed, new)) == EXPECTED


async def test_rotation_needs_the_current_key() -> None:
    inner = MemoryStore()
    await fill(inner, master())
    with pytest.raises(ConfigError, match="current master key does not match"):
        await rotate_master_key(inner, master(), master())
    with pytest.raises(ConfigError, match="not encrypted"):
        await rotate_master_key(MemoryStore(), master(), master())


async def test_encrypt_existing_seals_a_plaintext_database_and_is_resumable() -> None:
    inner, key = MemoryStore(), master()
    await fill(inner, None)
    assert MARKER in repr(vars(inner))
    report = await encrypt_existing(inner, key)
    assert (report.sessions, report.messages, report.checkpoints) == (3, 3, 3)
    assert MARKER not in repr(vars(inner))
    assert sorted(await readable(inner, key)) == EXPECTED
    again = await encrypt_existing(inner, key)
    assert (again.sessions, again.messages, again.checkpoints) == (0, 0, 0)
    with pytest.raises(ConfigError, match="does not match"):
        await encrypt_existing(inner, master())
    assert all(is_sealed(m.content) for branch in inner._messages.values() for m in branch)
