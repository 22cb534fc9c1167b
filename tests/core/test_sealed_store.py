from __future__ import annotations

import dataclasses

import pytest

from core.clock import ManualClock
from core.crypto.data_keys import data_key_name
from core.crypto.envelope import KeyEncryptionKey, decode_master_key, generate_master_key, is_sealed
from core.crypto.sealing import UNREADABLE_MESSAGE, SealedStore
from core.errors import ConfigError
from core.models import Inbound, NewMessage, Role, Session
from core.sessions.manager import SessionManager
from core.storage.memory import MemoryStore

MARKER = "zebra-marker-7731"


def new_kek() -> KeyEncryptionKey:
    return KeyEncryptionKey(decode_master_key(generate_master_key(), source="test"))


async def sealed_manager(inner: MemoryStore, kek: KeyEncryptionKey | None) -> SessionManager:
    store = SealedStore(inner, kek)
    await store.open()
    return SessionManager(store, clock=ManualClock())


async def conversation(manager: SessionManager) -> Session:
    session = (await manager.resolve(Inbound("console", "c", "u", "x"))).session
    session = await manager.sessions.update(
        session, title=f"title {MARKER}", tags=[f"tag {MARKER}"]
    )
    for i in range(3):
        await manager.history.append(
            session, NewMessage(Role.USER, "u", f"{MARKER} {i}", metadata={"note": MARKER})
        )
    session = await manager.sessions.get(session.id)
    await manager.checkpoints.save(session, f"name {MARKER}", f"about {MARKER}", by="u")
    return await manager.sessions.get(session.id)


def raw_values(inner: MemoryStore) -> str:
    """Everything the backend holds, as text."""
    return repr(vars(inner))


async def test_user_text_is_sealed_in_the_backend_and_readable_through_it() -> None:
    inner = MemoryStore()
    manager = await sealed_manager(inner, new_kek())
    session = await conversation(manager)
    assert MARKER not in raw_values(inner)
    assert session.title == f"title {MARKER}" and session.tags == (f"tag {MARKER}",)
    messages = await manager.history.all_messages(session)
    assert [m.content for m in messages] == [f"{MARKER} {i}" for i in range(3)]
    assert dict(messages[0].metadata) == {"note": MARKER}
    [checkpoint] = await manager.checkpoints.list(session)
    assert (checkpoint.name, checkpoint.description) == (f"name {MARKER}", f"about {MARKER}")


async def test_without_encryption_text_is_stored_plain() -> None:
    inner = MemoryStore()
    await conversation(await sealed_manager(inner, None))
    assert MARKER in raw_values(inner)


async def test_wrong_key_and_missing_key_are_refused_before_anything_else() -> None:
    inner = MemoryStore()
    await conversation(await sealed_manager(inner, new_kek()))
    with pytest.raises(ConfigError, match="master key does not match this database"):
        await SealedStore(inner, new_kek()).open()
    with pytest.raises(ConfigError, match="this database is encrypted"):
        await SealedStore(inner, None).open()


async def test_a_ciphertext_moved_to_another_message_does_not_open() -> None:
    inner = MemoryStore()
    manager = await sealed_manager(inner, new_kek())
    session = await conversation(manager)
    raw = [m for branch in inner._messages.values() for m in branch]
    await inner.rewrite_messages([dataclasses.replace(raw[1], content=raw[0].content)])
    contents = [m.content for m in await manager.history.all_messages(session)]
    assert contents == [f"{MARKER} 0", UNREADABLE_MESSAGE, f"{MARKER} 2"]


async def test_a_flipped_byte_is_unreadable_and_the_rest_loads(
    caplog: pytest.LogCaptureFixture,
) -> None:
    inner = MemoryStore()
    manager = await sealed_manager(inner, new_kek())
    session = await conversation(manager)
    raw = [m for branch in inner._messages.values() for m in branch]
    flipped = (
        raw[2].content[:-3] + ("A" if raw[2].content[-3] != "A" else "B") + raw[2].content[-2:]
    )
    await inner.rewrite_messages([dataclasses.replace(raw[2], content=flipped)])
    for _ in range(2):
        contents = [m.content for m in await manager.history.all_messages(session)]
        assert contents == [f"{MARKER} 0", f"{MARKER} 1", UNREADABLE_MESSAGE]
    reports = [r for r in caplog.records if "unreadable" in r.getMessage()]
    assert len(reports) == 1 and raw[2].id in reports[0].getMessage()


async def test_deleting_a_session_shreds_its_key_first() -> None:
    inner = MemoryStore()
    kek = new_kek()
    manager = await sealed_manager(inner, kek)
    session = await conversation(manager)
    backup = [m for branch in inner._messages.values() for m in branch]
    assert await inner.keyring_get(data_key_name(session.id)) is not None
    await manager.sessions.delete(session.id)
    assert await inner.keyring_get(data_key_name(session.id)) is None
    # The messages of an old backup cannot be opened by anyone holding the master key.
    restored = MemoryStore()
    await restored.copy_messages(backup)
    reader = SealedStore(restored, kek)
    await reader.open()
    [message] = await reader.read_messages(backup[0].branch_id, limit=1, newest_first=False)
    assert message.content == UNREADABLE_MESSAGE and is_sealed(backup[0].content)


async def test_appending_to_a_missing_session_leaves_no_orphan_key() -> None:
    inner = MemoryStore()
    store = SealedStore(inner, new_kek())
    await store.open()
    at = ManualClock().now()
    message = NewMessage(Role.USER, "u", "hello")
    assert await store.append_messages("nosuchsess", [message], ["m1"], at) == []
    assert await inner.keyring_get(data_key_name("nosuchsess")) is None


@pytest.mark.parametrize("damage", ["sb:aes256gcn:", "sb:", "sb:plain"])
async def test_a_damaged_format_tag_reads_as_unreadable_and_is_logged_once(
    damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    inner = MemoryStore()
    manager = await sealed_manager(inner, new_kek())
    session = await conversation(manager)
    raw = await inner.read_messages(session.head_branch_id, limit=10, newest_first=False)
    tampered = damage + raw[1].content.removeprefix("sb:aes256gcm:")
    await inner.rewrite_messages([dataclasses.replace(raw[1], content=tampered)])
    for _ in range(2):
        contents = [m.content for m in await manager.history.all_messages(session)]
        assert contents == [f"{MARKER} 0", UNREADABLE_MESSAGE, f"{MARKER} 2"]
    reports = [r.getMessage() for r in caplog.records if "unreadable" in r.getMessage()]
    assert len(reports) == 1 and raw[1].id in reports[0] and "format tag" in reports[0]
    assert not any(tampered in r.getMessage() for r in caplog.records)


async def test_a_damaged_data_key_is_reported_as_such(caplog: pytest.LogCaptureFixture) -> None:
    inner = MemoryStore()
    kek = new_kek()
    session = await conversation(await sealed_manager(inner, kek))
    entry = await inner.keyring_get(data_key_name(session.id))
    assert entry is not None
    damaged = bytes([entry.value[0] ^ 1]) + entry.value[1:]
    await inner.keyring_delete(entry.name)
    await inner.keyring_add(dataclasses.replace(entry, value=damaged))
    manager = await sealed_manager(inner, kek)  # a fresh process: nothing cached
    contents = [m.content for m in await manager.history.all_messages(session)]
    assert contents == [UNREADABLE_MESSAGE] * 3
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "does not unwrap" in text
    assert "encryption is not enabled" not in text
